/*
 * analyzer: turns the relay's query events into per-query statistics.
 *
 * The relay calls an_client_message() for each message it passes from a
 * client to its server and an_server_message() for each reply, at message
 * boundaries, with whatever part of the message body is in the buffer. The
 * analyzer never touches a socket and never blocks: it keeps, per server,
 * the queue of statements sent and not yet answered (their fingerprint
 * entry and start time), and pairs each CommandComplete, ErrorResponse,
 * EmptyQueryResponse or PortalSuspended with the head of that queue; a
 * ReadyForQuery drops what its Sync or Query left unanswered (statements
 * skipped after an error).
 *
 * Timing: a statement starts when pgsift forwards it (or when the statement
 * before it on the same server ends, if later) and ends at its reply. The
 * time the client waited for a server is kept apart and charged to the
 * first statement it sends on that server.
 */
#ifndef PGSIFT_ANALYZER_H
#define PGSIFT_ANALYZER_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/fingerprint.h"
#include "analyzer/nplusone.h"
#include "analyzer/qstats.h"
#include "pooler/trace.h"

#define AN_PENDING_MAX 64
#define AN_STMT 1		/* an_pending.type: a statement */
#define AN_MARK 2		/* what a ReadyForQuery ends (a Query's end, a Sync) */

struct sift;
struct client;
struct server;

/* What a prepared statement or a portal refers to. */
struct an_ref {
	uint64_t fp;		/* 0: untracked */
	uint64_t id;		/* qstats entry id */
	uint64_t trace;		/* hash of the sqlcommenter trace id; 0: none */
	uint64_t phash;		/* a portal's parameter values, hashed (N+1 duplicates) */
	uint32_t slot;
	uint8_t kind;
	bool params;		/* has constants or $n parameters */
	bool select;		/* kind is FP_KIND_SELECT */
	bool neutral;		/* transaction control or SET (the N+1 rules' np_stmt) */
};

/* A statement sent and not yet answered, or a mark. */
struct an_pending {
	/* what the N+1 rules read when it completes (nplusone.h): fp, phash,
	 * trace, select, params, neutral and sent are set when it is sent;
	 * the application, end and duration at its reply */
	struct np_stmt np;
	uint64_t id;		/* qstats entry id (np.fp 0: untracked) */
	uint32_t slot;
	uint8_t kind;
	uint8_t type;		/* AN_STMT or AN_MARK */
	uint8_t src;		/* 'Q' simple query, 'E' unnamed portal, 'e' named portal */
	bool reprepared;	/* a named statement pgsift prepared again on this server
				 * for it; set only when ctx.on */
	bool last;		/* an AN_STMT that is its own mark too (a Query of one
				 * statement): it becomes the mark when it completes */
	int64_t start;		/* monotonic usec */
	uint64_t wait_us;
	struct tr_ctx ctx;	/* its traceparent, when ctx.on (trace.h) */
};

/* Per server: what was sent and not yet answered. */
struct an_server {
	uint16_t head, n;
	bool lost;		/* overflowed: ignore replies until it drains */
	uint32_t reprepares_seen;	/* server->ps_reprepares at its last Execute */
	struct an_pending q[AN_PENDING_MAX];
};

struct an_client;		/* per-client statement/portal names and findings state, made on first use */
struct findings;
struct fd_client;

#define AN_CACHE_SETS 256	/* recent statement texts and their entries: */
#define AN_CACHE_WAYS 2		/* sets of two, the older one replaced */
#define AN_CACHE_TEXT 480	/* longer texts are not kept */

/* A statement text seen recently: drivers send the same Parse text, and
 * many clients the same queries with other constants, again and again. A
 * text that differs from the kept one only inside its literals
 * (fp_skel_same()), or is the same (a text without literals, or one
 * fp_skel_key() does not take), has its fingerprint and entry without the
 * lexer. */
struct an_cache_ent {
	uint64_t prefix;	/* fp_skel_prefix() of text */
	const void *db, *user;
	uint64_t skel;		/* fp_skel_key() of text, or when exact the hash fingerprint() gives */
	struct an_ref ref;
	uint16_t len;		/* of text; 0: an empty slot */
	bool exact;		/* compared byte for byte: fp_skel_key() did not take the
				 * text, or it has no literals */
	bool recent;		/* the way of its set used last */
	uint16_t succ;		/* the entry that followed it last time + 1; 0: none */
	uint16_t succ2;		/* the one that followed it before (a text that comes in two
				 * skeletons, "+ 5" and "+ -5", alternates) */
	uint32_t gen;		/* counts the texts it has held: a client keeping the text
				 * for EXPLAIN by reference checks it (findings.h) */
	struct fp_lits lits;	/* where its literals are */
	char text[AN_CACHE_TEXT];
};

struct analyzer {
	struct qstats qs;
	struct an_cache_ent *cache;	/* AN_CACHE_SETS * AN_CACHE_WAYS of them */
	struct fp_lits lits;	/* scratch */
	struct an_ref ref;	/* fingerprint()'s answer when it is no cache entry's */
	struct fp_result fr;	/* scratch, reused for every statement */
	int64_t last_decay;
	uint64_t statements;	/* recorded executions */
	uint64_t untracked;	/* replies that could not be matched to a statement */
	struct findings *fd;	/* N+1, slow statements, hazards (findings.h); made on first use */
	struct history hist;	/* closed time buckets (query_history, pool_history) */
	int64_t pool_bucket;	/* the bucket pools' numbers are collected for */
	struct tracer *tr;	/* spans (trace.h); made on first use */
};

/* Sets up the statistics table. false when out of memory. */
bool an_init(struct analyzer *an, uint32_t max_fingerprints) __attribute__((warn_unused_result));
void an_free(struct analyzer *an);
/* Forgets every literal sample (SHOW QUERIES, SHOW SLOW): log_query_samples
 * was turned off, or RESET QUERIES. */
void an_drop_samples(struct analyzer *an);

/* A message the relay is passing from cl to sv: type, the part of the body
 * that is in the buffer (avail bytes) and the whole body length. Query,
 * Parse, Bind, Execute, Close (names), Sync and FunctionCall (the marks
 * replies are counted to) are looked at; not Describe, Flush or COPY data.
 * Inline: each type goes to a function of its own (several messages a
 * statement). */
void an_client_query(struct sift *s, struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail,
		     uint32_t len);
void an_client_parse(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail, uint32_t len);
void an_client_bind(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail, uint32_t len);
void an_client_execute(struct sift *s, struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail);

/* Sync and FunctionCall: a mark (a replication client's are no
 * application's) */
void an_client_sync(struct sift *s, struct client *cl, struct server *sv);
void an_client_close(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail);
static inline void an_client_message(struct sift *s, struct client *cl, struct server *sv, uint8_t type,
				     const uint8_t *body, uint32_t avail, uint32_t len)
{
	switch (type) {
	case 'Q':
		an_client_query(s, cl, sv, body, avail, len);
		break;
	case 'P':
		an_client_parse(s, cl, body, avail, len);
		break;
	case 'B':
		an_client_bind(s, cl, body, avail, len);
		break;
	case 'E':
		an_client_execute(s, cl, sv, body, avail);
		break;
	case 'S':
	case 'F':
		an_client_sync(s, cl, sv);
		break;
	case 'C':
		an_client_close(s, cl, body, avail);
		break;
	default:
		break;
	}
}

/* A reply the relay is passing from sv to its client (not our own queries'
 * replies). body is whole for 'C', 'E' and 'Z' when they fit the buffer.
 * Inline: CommandComplete and ReadyForQuery, a statement's usual replies,
 * go to a function each. */
void an_reply_complete(struct sift *s, struct server *sv, const uint8_t *body, uint32_t avail, uint32_t len);
void an_reply_ready(struct sift *s, struct server *sv, const uint8_t *body, uint32_t avail);
void an_reply_other(struct sift *s, struct server *sv, uint8_t type, const uint8_t *body, uint32_t avail);
static inline void an_server_message(struct sift *s, struct server *sv, uint8_t type, const uint8_t *body,
				     uint32_t avail, uint32_t len)
{
	if (type == 'C')
		an_reply_complete(s, sv, body, avail, len);
	else if (type == 'Z')
		an_reply_ready(s, sv, body, avail);
	else
		an_reply_other(s, sv, type, body, avail);
}

/* The server is released, closed or unlinked: forget what is pending. */
void an_server_reset(struct an_server *as);

/* Frees a client's statement names (its open unit of work ends first). */
void an_client_free(struct client *cl);

/* The index + 1 of the span trace.c holds back for cl; NULL when cl has
 * no analyzer state. */
uint16_t *an_client_held(struct client *cl);

/* The findings state of a client that has analyzer state (cl->an). */
struct fd_client *an_client_findings(struct client *cl);

/* The analyzer was switched on: statements already in flight are unknown,
 * so every server ignores replies until its client's work drains. */
void an_resync_all(struct sift *s);

/* Periodic work (decay of use counts, closing time buckets). */
void an_janitor(struct sift *s);

/* Pool events for pool_history (called from advisor_pool.c's hooks): a
 * client got a server after waiting wait_us; a client starts to wait. */
struct pool;
void an_pool_link(struct pool *p, int64_t wait_us);
void an_pool_wait(struct pool *p);
/* A transaction ended after us microseconds (its time on the server, as
 * stats.xact_time counts it): the pool's histogram for /metrics, and its
 * exemplar when cl's transaction was traced. Out of line, so the relay's
 * loop stays as it was. */
void an_pool_xact(struct pool *p, struct client *cl, uint64_t us);

/* Applies stats_bucket_seconds, stats_buckets and stats_history_memory
 * (start, RELOAD, SET). false when out of memory: history stays as it was. */
bool an_history_setup(struct sift *s) __attribute__((warn_unused_result));

#endif
