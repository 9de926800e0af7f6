/*
 * advisor_pool: feeds the pure advisor (advisor.h) from the pool's events
 * and asks PostgreSQL, asynchronously through libpq, for max_connections
 * and the connections in use (for SHOW POOL_ADVICE; doc/advisor.md).
 *
 * Each pool gets its state (struct advisor, ~25 KB) at its first event;
 * when that allocation fails the pool is simply not measured. The hooks are
 * one-line calls from pool.c, server.c and objects.c; none can fail.
 */
#ifndef PGSIFT_ADVISOR_POOL_H
#define PGSIFT_ADVISOR_POOL_H

#include <stdint.h>

#include "analyzer/advisor.h"
#include "pooler/sift.h"

/* A client asks for a server (a transaction, or a session, starts). */
void advisor_on_request(struct pool *p);
/* A server was linked to a client that waited wait_us (0: at once). */
void advisor_on_link(struct pool *p, int64_t wait_us);
/* The server's transaction is over (released or closed while linked);
 * idempotent: only the first call after a link counts. */
void advisor_on_unlink(struct server *sv);
/* A client starts to wait for a server. */
void advisor_on_wait(struct pool *p);
/* A connection was opened from the reserve pool. */
void advisor_on_reserve(struct pool *p);
/* A server finished its login. */
void advisor_on_login(struct server *sv);
/* The pool is going away: frees its state, closes a probe in flight. */
void advisor_pool_free(struct pool *p);

/* One row of SHOW POOL_ADVICE. */
struct advisor_row {
	int size, reserve, servers;
	struct adv_measure win, all;
	double all_utilization;
	struct adv_advice advice;
	int pg_max, pg_used;		/* -1: unknown */
	const char *pg_status;		/* "ok", "pending", or why it failed */
	const char *confidence;		/* none, low, medium, high */
};

/* Fills r for p at the current time. Starts a probe of the server when
 * there was none or the last is older than a minute: the server sees no
 * connection of the advisor until SHOW POOL_ADVICE is used. */
void advisor_report(struct pool *p, struct advisor_row *r);

#endif
