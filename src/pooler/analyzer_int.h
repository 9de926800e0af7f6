/*
 * analyzer_int: the analyzer's per-client state, shared by analyzer.c (the
 * client's messages: statement names, the statement cache) and
 * analyzer_reply.c (the server's replies: statements completed); not for
 * the rest of pgsift, which sees analyzer.h.
 */
#ifndef PGSIFT_ANALYZER_INT_H
#define PGSIFT_ANALYZER_INT_H

#include "pooler/analyzer.h"
#include "pooler/findings.h"
#include "pooler/sift.h"

#define AN_PORTALS 8		/* named portals tracked per client */

struct an_name {
	uint64_t h;		/* 0: empty */
	struct an_ref ref;
};

struct an_client {
	struct an_ref unnamed_stmt, unnamed_portal;
	bool unnamed_kept;		/* the Parse text kept for EXPLAIN (fd_parse_kept()) is unnamed_stmt's */
	uint16_t last;			/* cache entry of its last statement + 1; 0: none */
	uint32_t nnames, cap;
	struct an_name *names;	/* open addressing by name hash */
	struct an_name portals[AN_PORTALS];
	struct fd_client fd;		/* N+1 unit of work, idle transaction, texts kept for EXPLAIN */
	struct tr_ctx stmt_ctx, portal_ctx;	/* traceparents of the unnamed statement and portal */
	uint16_t tr_held;		/* its span trace.c holds back, + 1 */
	bool xact_traced;		/* xact_trace: its transaction's last sampled trace */
	uint8_t xact_trace[16];
};

/* Now on the wall clock, microseconds */
static inline int64_t wall_now(const struct sift *s)
{
	return s->wall_offset + s->now;
}

#endif
