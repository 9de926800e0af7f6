/*
 * pool: handing server connections to clients and taking them back.
 *
 * A client that needs a server either gets an idle one at once or waits in
 * its pool's FIFO. A released server goes to the longest-waiting client, or
 * to the front of the idle list (most recently used first, so the oldest
 * idle servers age out under server_idle_timeout).
 */
#ifndef PGSIFT_POOL_H
#define PGSIFT_POOL_H

#include "pooler/sift.h"

/* The client wants a server. Returns true when one is linked now; false
 * when the client now waits (or was closed: check cl->state). */
bool pool_request_server(struct client *cl);

/* The transaction (transaction mode) or session (client gone) is over:
 * unlinks sv from its client and reuses, resets or closes it. */
void pool_release_server(struct server *sv);

/* sv is logged in and clean: give it to a waiting client or keep it idle. */
void pool_server_ready(struct server *sv);

/* A replication client and the server opened for it, from now until one
 * of them closes (replication.h): linked as in session mode. */
void pool_link_replication(struct client *cl, struct server *sv);

/* Removes a waiting client from its queue (it is closing or cancelled). */
void pool_forget_client(struct client *cl);

/* Opens server connections while clients wait and limits allow; first
 * those of replication clients without one (within pool_size, evicting
 * the longest idle server when the pool is full). */
void pool_launch(struct pool *p);

/* The first server of p logged in: clients waiting to finish their login
 * get their welcome; a failed login hands them the error. A transient
 * failure (the server cannot be reached, is starting up or shutting down,
 * or has no connection slot) leaves the clients that wait for a server
 * queued (until query_wait_timeout) and is retried after at most
 * POOL_RETRY_TRANSIENT; any other failure reaches them at once and is
 * retried after server_login_retry. */
void pool_login_done(struct pool *p);
void pool_login_failed(struct pool *p, const char *sqlstate, const char *msg, bool transient);

/* Is a server's login error one that goes away by itself (57P01/02/03
 * shutting down, starting up, in recovery; 53300 no connection slot)? */
bool pool_error_transient(const char *sqlstate);

/* When the pool may try its server again after its last failed login. */
int64_t pool_retry_delay(const struct sift *s, const struct pool *p);

#define POOL_RETRY_TRANSIENT 500000	/* usec; see server_login_retry in doc/config.md */

/* Periodic work: timeouts, idle and lifetime closes, min_pool_size. */
void pool_janitor(struct sift *s);

/* Closes servers of db (all, or only idle ones) and marks busy ones to be
 * closed on release. */
void pool_close_db_servers(struct sift *s, struct db *db, bool idle_only);

/* Applies changed pool sizes live to the pools of db (NULL: every pool):
 * opens servers for waiting clients up to the new size and closes idle
 * servers above size + reserve; busy ones close as they are released
 * (pool_server_ready). No client is dropped. */
void pool_resize(struct sift *s, struct db *db);
/* The way pgsift logs in to servers changed (server TLS settings): every
 * server connection is replaced as it becomes idle ("database configuration
 * changed"), and a login failure seen before no longer holds back a new
 * attempt. */
void pool_server_config_changed(struct sift *s);

/* Number of server connections of db that are linked to a client and may
 * be running a transaction (a pinned client between transactions is not). */
int pool_db_active_servers(struct sift *s, struct db *db);

/* Sums the counters of db's pools into out (SHOW STATS, the stats period). */
void pool_db_totals(const struct sift *s, const struct db *db, struct stats *out);

/* PAUSE of d: new transactions wait, idle servers close, busy ones as
 * they are released. false: it was paused already. */
bool pool_pause_db(struct sift *s, struct db *d);
/* Ends a PAUSE or a KILL of d. false: it was neither. */
bool pool_resume_db(struct sift *s, struct db *d);
/* PAUSE / RESUME of every database (SIGUSR1, SIGUSR2). */
void pool_pause_all(struct sift *s);
void pool_resume_all(struct sift *s);
/* SHUTDOWN WAIT_FOR_SERVERS: clients waiting for a server are closed. */
void pool_shutdown_waiting(struct sift *s);

/* Does the client wait because of PAUSE/KILL/shutdown? */
bool pool_db_blocked(const struct sift *s, const struct db *db);

#endif
