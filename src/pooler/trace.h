/*
 * trace: pgsift's spans in the application's OpenTelemetry traces
 * (doc/tracing.md).
 *
 * A statement whose sqlcommenter comment carries a W3C traceparent gets a
 * span, child of that traceparent's span, from when pgsift received the
 * statement (its wait for a server included) to when its result was
 * relayed. The analyzer glue (analyzer.c) keeps the traceparent with the
 * statement while it is on the server and hands the finished statement to
 * tr_statement_end(); findings.c tells of N+1 loops (tr_nplusone).
 *
 * Nothing here writes to a socket: finished spans go into a bounded queue
 * (otlp_queue_spans) that the OTLP exporter (surfaces/otlp.c) drains with
 * tr_encode(); when it is full, spans are dropped and counted. The span of
 * a SELECT with parameters is held back until the client's next statement
 * ends (or its unit of work does), so that the N+1 finding its loop makes
 * is carried by the loop's last statement.
 */
#ifndef PGSIFT_TRACE_H
#define PGSIFT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer/lbuckets.h"

#define TR_HELD_MAX 1024	/* spans held back for an N+1 event, at most */
#define TR_NAME_LEN 64

struct sift;
struct client;
struct server;
struct strbuf;
struct np_hit;
struct event;

/* A W3C trace context (traceparent "00-<trace id>-<span id>-<flags>"). */
struct tr_ctx {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;		/* bit 0: sampled */
	bool on;		/* parsed, or made for an untraced statement */
	bool root;		/* made by pgsift (trace_untraced_ratio): no parent */
};

/* A finished statement's span, as queued. */
struct tr_span {
	struct tr_ctx parent;		/* the application's span */
	uint8_t trace_id[16];		/* the parent's, or a new one when as_root */
	uint8_t span_id[8];
	bool export_it;			/* sampled (or upgraded by trace_always_slow) */
	bool as_root;			/* exported as a root span with a link to parent */
	bool has_np;			/* carries an N+1 event */
	bool reprepared;		/* its prepared statement was prepared again on this server */
	bool extended;			/* extended protocol (reprepared is meaningful) */
	bool slow;			/* slower than slow_query_ms */
	uint8_t kind;			/* enum fp_kind */
	uint8_t hazard;			/* enum hz_kind + 1; 0 or 1: none */
	int64_t start, end;		/* wall usec: received, result relayed */
	uint64_t wait_us;		/* waiting for a server */
	uint64_t rows;
	uint64_t fp;
	uint32_t q_slot;		/* its statistics entry (the normalized text) */
	uint64_t q_id;
	uint32_t backend_pid;
	int server_port;
	char sqlstate[6];		/* "" when it succeeded */
	char db[TR_NAME_LEN];		/* PostgreSQL's database name (db.namespace) */
	char dbname[TR_NAME_LEN];	/* pgsift's [databases] entry */
	char user[TR_NAME_LEN], pool[2 * TR_NAME_LEN], server[TR_NAME_LEN];
	/* the N+1 finding, when has_np */
	uint8_t np_kind;
	uint32_t np_count;
	uint64_t np_fp, np_rep_us, np_wall_us;
	int64_t np_time;
};

struct tr_held {
	struct tr_span sp;
	struct client *cl;		/* NULL: free */
	int64_t since;			/* monotonic usec */
};

/* A recent traced observation of a histogram bucket: /metrics' OpenMetrics
 * exemplar, so that a latency spike leads to a trace. */
struct tr_exemplar {
	uint8_t trace_id[16];
	uint64_t key;			/* the statement entry's id, or the pool; 0: none */
	uint64_t us;			/* the observed value */
	int64_t when;			/* wall usec */
};

#define TR_POOLS_EX 64			/* pools with transaction exemplars, at most */

struct tr_pool_ex {
	const void *pool;		/* identity only, never dereferenced */
	struct tr_exemplar b[LB_N];
};

struct tracer {
	struct tr_span *q;		/* ring of finished spans to export */
	uint32_t cap, head, n;
	struct tr_held *held;		/* TR_HELD_MAX of them, made on first use */
	uint32_t nheld;
	uint64_t rng;
	uint64_t made;			/* spans made (exported or not) */
	uint64_t queued;		/* spans put in the queue */
	uint64_t dropped;		/* spans lost: queue full, or a batch given up */
	uint64_t exported;		/* spans the collector accepted */
	uint64_t export_errors;		/* export requests that failed */
	uint64_t unsampled;		/* spans made and not exported (sampling) */
	struct event *kick;		/* the exporter's: made active when a batch is full */
	struct tr_exemplar **qex;	/* per statistics slot: LB_N exemplars, made on first use */
	uint32_t nqex;
	struct tr_pool_ex *pex;		/* TR_POOLS_EX of them, made on first use */
	char host[TR_NAME_LEN];
	char instance[40];
};

/* The tracer of s when spans are configured (otlp_endpoint set, trace_sample
 * not off), created on first use; NULL otherwise or when out of memory. */
struct tracer *tr_get(struct sift *s);
/* Is tracing configured? Cheap: the relay asks it per traced statement. */
bool tr_on(const struct sift *s);
void tr_free(struct tracer *t);

/* Finds the sqlcommenter traceparent in a statement text; false when there
 * is none or it is malformed (all-zero ids included). Pure. */
bool tr_ctx_parse(const char *text, size_t len, struct tr_ctx *out) __attribute__((warn_unused_result));

/* A context for a statement without one, when trace_untraced_ratio draws
 * it; false otherwise. */
bool tr_ctx_untraced(struct sift *s, struct tr_ctx *out) __attribute__((warn_unused_result));

/* What the analyzer knows of a finished traced statement. */
struct tr_stmt {
	const struct tr_ctx *ctx;
	int64_t sent;			/* monotonic usec it was forwarded */
	uint64_t wait_us, rows;
	uint64_t dur_us;		/* as the statistics count it (the histogram's bucket) */
	uint64_t fp, q_id;
	uint32_t q_slot;
	uint8_t kind, hazard;
	const char *sqlstate;		/* NULL: it succeeded */
	bool extended, reprepared;
	bool candidate;			/* a SELECT with parameters: may end an N+1 loop */
};

/* The statement of cl on sv ended: its span is made (and queued or held). */
void tr_statement_end(struct sift *s, struct client *cl, struct server *sv, const struct tr_stmt *st);
/* An N+1 finding of cl's unit: the held span of its last statement of
 * the repeated shape carries it. */
void tr_nplusone(struct sift *s, struct client *cl, const struct np_hit *h);
/* cl's held span goes to the queue (the client leaves, or its unit ended).
 * *held is the client's held index + 1, reset to 0. */
void tr_release(struct sift *s, uint16_t *held);
/* Releases held spans older than the N+1 think time; adopts a changed
 * otlp_queue_spans once the queue is empty. */
void tr_janitor(struct sift *s);

/* Takes up to max spans off the queue and writes them as one OTLP/JSON
 * ExportTraceServiceRequest into out (trace_json.c); *n gets how many.
 * false when the queue is empty. */
bool tr_encode(struct sift *s, struct strbuf *out, uint32_t max, uint32_t *n) __attribute__((warn_unused_result));

/* Is a statement of this context's trace sampled (exported in it)? */
bool tr_sampled(const struct sift *s, const struct tr_ctx *c);

/* A transaction of pool p took us; trace: the trace of its last sampled
 * statement. */
void tr_pool_xact(struct sift *s, const void *p, uint64_t us, const uint8_t *trace);

/* The exemplar of a statement entry's (slot, id) bucket, or of a pool's
 * transaction bucket; NULL when there is none. */
const struct tr_exemplar *tr_query_exemplar(const struct sift *s, uint32_t slot, uint64_t id, unsigned bucket);
const struct tr_exemplar *tr_pool_exemplar(const struct sift *s, const void *p, unsigned bucket);

/* Spans waiting in the queue. */
uint32_t tr_queued(const struct sift *s);
/* Takes the oldest queued span into out; false when there is none. */
bool tr_pop(struct tracer *t, struct tr_span *out) __attribute__((warn_unused_result));

#endif
