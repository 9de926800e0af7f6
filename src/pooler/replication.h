/*
 * replication: clients whose startup packet asks for a walsender session
 * (`replication=database` for logical, `true`/`on`/`yes`/`1` for
 * physical), as PgBouncer 1.23+ serves them.
 *
 * Such a client authenticates like any other, then gets a server
 * connection of its own, opened with the same replication parameter and
 * the client's startup parameters (physical walsenders take no SET), and
 * its welcome is that server's: nothing is pooled. The pair is relayed as
 * in session mode whatever pool_mode says (CopyBoth included), the server
 * counts against the pool's pool_size (an idle server of the pool is
 * evicted to make room) and closes when the client leaves. The analyzer
 * never sees their statements.
 */
#ifndef PGSIFT_REPLICATION_H
#define PGSIFT_REPLICATION_H

#include <stdbool.h>
#include <stdint.h>

#include "util/proto.h"

struct sift;
struct pool;
struct client;
struct server;
struct istr;
struct msg_reader;

/* The replication mode a startup packet asks for (its parameters at r,
 * which is not moved): REPL_NONE without the parameter or with a false
 * value; -1 for a value PostgreSQL would refuse. *value gets the value. */
int repl_scan_startup(const struct msg_reader *r, const char **value);

/* "none", "logical" or "physical" (SHOW CLIENTS, SERVERS, SOCKETS). */
const char *repl_mode_name(int mode);

/* Keeps a startup parameter of a replication client for its server's
 * startup packet. false: out of memory (or more than the packet held). */
bool repl_keep_param(struct client *cl, const char *name, const char *value, uint32_t cap)
	__attribute__((warn_unused_result));

/* A replication client authenticated (cl->pool is set): it waits in its
 * pool's login_clients until its own server has logged in. */
void repl_client_start(struct client *cl);

/* Appends to a server's startup packet what its replication client asked
 * for: the client's parameters and the replication parameter. */
void repl_startup_params(const struct server *sv, struct pktbuf *pb);

/* The replication server logged in: its ParameterStatus set (names, vals)
 * is the client's welcome, and the two are linked until either closes. */
void repl_server_ready(struct server *sv, struct istr **names, struct istr **vals, int n);

/* The server refused the replication login (ErrorResponse ef): the client
 * is closed with "login failed" and the server's words as DETAIL; the
 * pool's other clients are not told (a missing REPLICATION role or
 * pg_hba.conf line concerns this kind of connection only). */
void repl_login_refused(struct server *sv, const struct proto_err_fields *ef);

/* client_close() of a replication client: its server closes too. */
void repl_client_gone(struct client *cl);

/* server_close() of a replication server: a client still waiting for it
 * is closed with reason. */
void repl_server_gone(struct server *sv, const char *reason);

/* After connections closed (the reaper): pools whose replication clients
 * wait for room try again. */
void repl_retry_waiting(struct sift *s);

#endif
