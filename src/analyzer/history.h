/*
 * history: statistics per time bucket, so that "what changed ten minutes
 * ago" can be asked (views query_history and pool_history).
 *
 * Pure module (no sockets, no libevent). Time is cut into buckets of
 * stats_bucket_seconds, aligned on the wall clock (a 60 s bucket starts on
 * the minute). While a bucket is current, its numbers accumulate beside the
 * live objects (struct hs_qcur in each qstats entry, struct hs_pcur in each
 * pool); when the bucket ends they are closed into rows here: one per
 * (bucket, fingerprint, database, user) that ran in it and one per (bucket,
 * pool) that had traffic, so a bucket holds only what was active in it.
 * Percentiles are computed when a bucket closes, from that bucket's own
 * histogram (exact for up to HIST_FEW samples, never outside [min, max]).
 * A statement's bucket histogram is not kept as it goes (that would cost a
 * second insert per execution): the entry's histogram is copied when the
 * bucket's first execution comes, and the bucket's is the difference
 * (hist_delta) when it is read.
 *
 * At most `max_buckets` closed buckets are kept, and at most `max_bytes` of
 * rows: when a new row would go over, the oldest buckets go first (counted
 * in `dropped_buckets`); the current bucket's rows are never dropped (one
 * bucket holds at most max_fingerprints query rows).
 */
#ifndef PGSIFT_HISTORY_H
#define PGSIFT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer/histogram.h"

/* One statement shape's numbers in the current bucket (inside a qentry). */
struct hs_qcur {
	uint64_t calls, errors, rows, total_us, wait_us;
	struct hist_exact exact;	/* min, max, the first samples */
	struct histogram before;	/* the entry's histogram before the bucket's first call */
};

/* One pool's numbers in the current bucket. */
struct hs_pcur {
	int64_t bucket;			/* the bucket these numbers belong to (wall usec) */
	uint64_t xacts;			/* transactions ended */
	uint64_t waits;			/* clients given a server (wait 0 included) */
	int waiting_peak;		/* most clients waiting at once */
	int active_peak;		/* most servers linked at once */
	struct hist_exact wait_exact;
	struct histogram wait;		/* client wait for a server, usec */
};

struct hs_qrow {
	uint64_t fp;
	const void *db, *user;		/* identity, as in qstats */
	uint8_t kind;			/* enum fp_kind */
	uint64_t calls, errors, rows, total_us, wait_us, min_us, max_us;
	double p50_us, p95_us, p99_us;
};

struct hs_prow {
	const void *pool;		/* identity; pools live until exit */
	uint64_t xacts, waits;
	double wait_p50_us, wait_p99_us, wait_max_us;
	int waiting_peak, active_peak;
};

struct hs_bucket {
	int64_t start;			/* wall usec */
	struct hs_qrow *q;
	uint32_t nq, capq;
	struct hs_prow *p;
	uint32_t np, capp;
};

struct history {
	struct hs_bucket *ring;		/* max_buckets + 1: the closed ones and the one being closed */
	uint32_t head, n;		/* oldest, count */
	uint32_t max_buckets;
	int64_t len_us;			/* bucket length */
	size_t bytes, max_bytes;	/* rows kept, and the bound */
	uint64_t dropped_buckets;	/* closed buckets dropped for the memory bound */
	uint64_t dropped_rows;		/* rows not kept: out of memory */
};

/* Sets up an empty history. false when out of memory (then unusable, and
 * every add is dropped). */
bool hs_init(struct history *h, int64_t len_us, uint32_t max_buckets, size_t max_bytes)
	__attribute__((warn_unused_result));
void hs_free(struct history *h);
/* Forgets every bucket (RESET QUERIES); keeps the settings. */
void hs_reset(struct history *h);
/* New settings: keeps what fits (a new bucket length drops everything). */
bool hs_configure(struct history *h, int64_t len_us, uint32_t max_buckets, size_t max_bytes)
	__attribute__((warn_unused_result));

/* The start of the bucket that wall-clock time t falls in. */
int64_t hs_bucket_of(const struct history *h, int64_t t);

/* Closes cur into a query row of the bucket that starts at start, and
 * empties cur; all is the entry's histogram now (cur->before is what it was
 * when the bucket began). Rows of one bucket must be added before any later
 * bucket's. */
void hs_close_query(struct history *h, int64_t start, uint64_t fp, const void *db, const void *user, uint8_t kind,
		    struct hs_qcur *cur, const struct histogram *all);
/* The same for a pool's numbers. */
void hs_close_pool(struct history *h, int64_t start, const void *pool, struct hs_pcur *cur);

/* Fills a row from cur without closing it (the current bucket, as views show it). */
void hs_peek_query(const struct hs_qcur *cur, const struct histogram *all, struct hs_qrow *out);
void hs_peek_pool(const struct hs_pcur *cur, struct hs_prow *out);

/* Counts one execution into cur; all is the entry's histogram before this
 * execution is added to it. */
static inline void hs_qcur_add(struct hs_qcur *cur, const struct histogram *all, uint64_t dur_us, uint64_t rows,
			       bool error, uint64_t wait_us)
{
	if (!cur->calls)
		cur->before = *all; /* once per bucket */
	cur->calls++;
	cur->errors += error;
	cur->rows += rows;
	cur->total_us += dur_us;
	cur->wait_us += wait_us;
	hist_exact_add(&cur->exact, dur_us);
}

/* Closed bucket i (0 = oldest), or NULL. */
const struct hs_bucket *hs_get(const struct history *h, uint32_t i);

#endif
