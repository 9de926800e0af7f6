/*
 * session: a client's session settings carried across the servers
 * transaction pooling gives it (doc/session-state.md).
 *
 * A set of settings is one interned string (struct istr) of sorted
 * "name\0value\0" entries, NULL when empty: "does this server have what
 * this client wants" is a pointer compare, and a client that never SETs
 * anything and a server nobody SET anything on both hold NULL.
 *
 * The client's SET / RESET / RESET ALL / set_config(..., false) /
 * DISCARD ALL statements are read as they go to the server (session_sql.h)
 * and take effect on both sides when their CommandComplete comes back;
 * at the transaction's end they are kept (COMMIT) or dropped (ROLLBACK,
 * or an error in an implicit transaction). When a server is linked to a
 * client whose set differs, the parameter sync (server.c) sends the
 * RESETs and SETs that bring it in line. State pgsift does not replay
 * (SET ROLE, temp tables, WITH HOLD cursors, session advisory locks,
 * SQL PREPARE; LISTEN, which notify.h fans out) marks the server dirty:
 * it runs DISCARD ALL before anyone else gets it.
 */
#ifndef PGSIFT_SESSION_H
#define PGSIFT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/sift.h"

struct sift;
struct client;
struct server;
struct istr;

/* Is name one of the startup parameters pgsift takes and replays (beyond
 * those reported with ParameterStatus, tracked in the parameter array)? */
bool ss_startup_tracked(const char *name);

/* A startup packet's name = value other than user, database and the
 * protocol's: a reported parameter goes to startup (tracked values), one
 * of ss_startup_tracked() to *set, and options' "-c name=value" pairs are
 * taken the same way. 1 taken; 0 not supported (refused unless
 * ignore_startup_parameters names it); -1 error, reason in err. */
struct params;
int ss_startup_param(struct sift *s, struct params *startup, struct istr **set, const char *name, const char *value,
		     char *err, size_t errlen) __attribute__((warn_unused_result));

/* Adds name = value (a startup packet's, or an options -c pair's) to *set,
 * replacing an earlier value. false: out of memory or too long. */
bool ss_set_put(struct sift *s, struct istr **set, const char *name, const char *value)
	__attribute__((warn_unused_result));

/* The client logged in: its startup set becomes its settings; tracking of
 * SET statements is on in transaction and statement mode. */
void ss_client_start(struct client *cl, struct istr *startup);

/* Does the relay pass the client's next message to ss_client_message()?
 * Always when the link does not track prepared statements; else only when
 * the client has changed session state (Bind, Execute) or prepared.c's
 * pass over a Query's or Parse's text set cl->ss_watch because the text
 * may change it: a client that never SETs costs one byte's test. */
static inline void ss_watch_reset(struct client *cl, const struct server *sv)
{
	cl->ss_watch = cl->ss_on && (!sv->ps_on || cl->ss != NULL);
}

/* The message types ss_client_message() reads. */
static inline bool ss_type(uint8_t type)
{
	return type == 'Q' || type == 'P' || type == 'B' || type == 'E';
}

/* A message the client sent to sv (body: avail bytes; len its body's
 * length). Cheap for the usual statement (ss_sql_maybe()). */
void ss_client_message(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body, uint32_t avail,
		       uint32_t len);

/* A reply relayed to the client (CommandComplete, ErrorResponse,
 * ReadyForQuery); called only when cl->ss_busy. */
void ss_server_reply(struct server *sv, struct client *cl, uint8_t type, const uint8_t *body, uint32_t avail);

/* A ReadyForQuery with status is about to be relayed to cl, which has
 * LISTEN/UNLISTEN in its transaction (cl->nf_pend): notify_ready() with
 * whether the transaction failed. true: hold it. */
bool ss_notify_ready(struct server *sv, struct client *cl, char status) __attribute__((warn_unused_result));

/* Appends to sql (NUL-terminated, *len bytes of cap used) what brings the
 * server's settings to the client's; false when it does not fit. Sets
 * *any when something was appended. */
bool ss_sync_sql(struct server *sv, struct client *cl, char **sql, size_t *len, size_t *cap, bool *any)
	__attribute__((warn_unused_result));

/* The parameter sync that ss_sync_sql() fed is done: the server has the
 * client's settings (ok), or its state is unknown (closed on release). */
void ss_sync_done(struct server *sv, struct client *cl, bool ok);

/* The server goes back to the pool: true when it must run DISCARD ALL
 * first (a client left state on it that pgsift does not replay). */
bool ss_server_released(struct server *sv);

/* A reset query (server_reset_query, DISCARD ALL) ran: no settings left. */
void ss_server_reset(struct server *sv);

void ss_client_free(struct client *cl);
void ss_server_free(struct server *sv);

#endif
