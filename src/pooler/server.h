/*
 * server: a connection to PostgreSQL: connect, login, our own queries
 * (check, reset, parameter sync) and the server-to-client half of the relay.
 */
#ifndef PGSIFT_SERVER_H
#define PGSIFT_SERVER_H

#include "util/log.h"
#include "pooler/sift.h"

/* Looks up host h of db's list, once per (re)configuration; false with
 * the reason in err. */
bool server_resolve_host(struct sift *s, struct db *db, int h, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Starts a new server connection for p (asynchronous). */
bool server_launch(struct pool *p);
/* The same for one replication client of p, with its replication and
 * startup parameters; linked to it once logged in (replication.h). */
bool server_launch_replication(struct pool *p, struct client *owner);

/* Starts p's listener connection for LISTEN (notify.h): in none of p's
 * lists, not counted against any limit; notify.c gets its login, input
 * and close. NULL when it cannot be started. */
struct server *server_launch_listener(struct pool *p);

/* The one way a server connection ends; reason is logged. A linked client
 * gets an error and is closed too. Freed after the current callbacks. */
void server_close(struct server *sv, const char *reason);

/* Runs one of our own queries on an unlinked server; its replies are
 * swallowed and the server becomes ready when it finishes. */
bool server_run_query(struct server *sv, const char *sql) __attribute__((warn_unused_result));

/* Before the client's first bytes: queues SETs for tracked parameters whose
 * values differ between sv and cl. */
bool server_sync_params(struct server *sv, struct client *cl) __attribute__((warn_unused_result));

/* Sends a CancelRequest for what sv is running (on its own connection). */
void server_cancel(struct server *sv);
/* Sends a CancelRequest for pid/key to addr (another pooler: [peers]),
 * without waiting for it. false when it cannot be started. */
bool server_cancel_to(struct sift *s, const struct sockaddr_storage *addr, socklen_t len, uint32_t pid, uint32_t key);

/* May sv be handed out again (age, reload, close_needed)? */
bool server_expired(const struct server *sv);
/* Why an expired sv closes, in PgBouncer's words. */
const char *server_expiry_reason(const struct server *sv);

/* Called when the client's queue has room again: relays the rest of
 * what the server sent. */
void server_resume(struct server *sv);

void server_log(const struct server *sv, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void server_free(struct server *sv);
void cancel_req_free(struct cancel_req *cr);

const char *server_state_name(const struct server *sv);
/* The host of sv's connection (an entry of its database's host list). */
const char *server_host_name(const struct server *sv);

#endif
