/*
 * qstats: bounded statistics per (fingerprint, database, user).
 *
 * Pure module (no sockets, no libevent). At most `max` entries; when full,
 * a new shape evicts the least used of a random sample of entries (an
 * approximate LFU, as Redis does) whose use counts are halved periodically
 * (qstats_decay), so a stream of one-off shapes evicts other one-offs and
 * not the hot entries. Entries live in slots that are never freed while the
 * table exists; a slot's id changes when it is reused, so a (slot, id) pair
 * held across an eviction is detected as stale by qstats_get().
 */
#ifndef PGSIFT_QSTATS_H
#define PGSIFT_QSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer/histogram.h"
#include "analyzer/history.h"
#include "analyzer/lbuckets.h"

#define QSTATS_ERR_SLOTS 4	/* SQLSTATEs counted one by one; the rest as "other" */
#define QSTATS_APP_SLOTS 2	/* application_name heavy-hitter candidates */
#define QSTATS_APP_LEN 64
#define QSTATS_SAMPLE_MAX 1024	/* bytes of a literal sample kept (log_query_samples) */

struct qerr_count {
	char sqlstate[6];
	uint64_t count;
};

struct qapp_count {
	char name[QSTATS_APP_LEN];
	uint64_t count;
	uint64_t id;	/* the app_id it was last matched by (0: none) */
};

struct qentry {
	uint64_t id;			/* 0: free slot */
	uint32_t slot;			/* where it lives in qstats.slots */
	uint64_t fp;
	const void *db, *user;		/* identity only, never dereferenced here */
	uint64_t usage;			/* decayed use count (eviction) */
	uint64_t calls;
	uint64_t errors;
	uint64_t rows;
	uint64_t total_us;		/* min and max: exact.min, exact.max */
	uint64_t wait_us;		/* time clients waited for a server before it */
	double sq_dev;			/* sum of (duration - the first one)^2: the variance */
	int64_t first_seen, last_seen;	/* wall clock, microseconds */
	uint8_t kind;			/* enum fp_kind */
	bool partial;			/* text came from an incomplete statement */
	uint8_t hazard;			/* enum hz_kind + 1 once classified (findings.c); 0: not yet */
	struct qerr_count err[QSTATS_ERR_SLOTS];
	uint64_t err_other;
	struct qapp_count app[QSTATS_APP_SLOTS];
	char *text;			/* normalized text (owned) */
	char *tag;			/* last first-comment tag seen, or NULL (owned) */
	char *sample;			/* last literal text, only with samples on (owned) */
	struct histogram hist;
	struct hist_exact exact;	/* min, max and the first samples: percentiles of few calls are exact */
	struct hs_qcur cur;		/* this time bucket's numbers (history.h) */
	struct lbuckets lb;		/* durations in fixed buckets (/metrics) */
	bool exported;			/* /metrics shows it on its own; else its calls also count in qstats.other */
};

struct qstats {
	struct qentry **slots;		/* max pointers; entries allocated on first use */
	uint32_t max, used;
	uint32_t free_hint;		/* no free slot below this one */
	uint32_t *index;		/* open addressing: slot + 1, 0 = empty */
	uint32_t mask;
	uint64_t next_id;
	uint64_t evictions;
	uint64_t rng;
	struct history *hist;		/* where time buckets are closed into; NULL: no history */
	int64_t bucket;			/* start of the current bucket, wall usec */
	uint32_t *touched;		/* slots with numbers in the current bucket */
	uint32_t ntouched, captouched;
	bool touched_all;		/* touched overflowed: every slot is checked at the roll */
	/* /metrics: the top export_max entries by total time have series of
	 * their own, the rest are summed in `other` as they are recorded, so
	 * that every exported counter only grows (an entry that joins or
	 * leaves the top set starts or ends a series; `other` never drops) */
	uint32_t export_max, nexported;
	struct lbuckets other;
};

/* Sets up an empty table of at most max entries. false when out of memory
 * (the table is then empty and unusable: every add returns NULL). */
bool qstats_init(struct qstats *qs, uint32_t max) __attribute__((warn_unused_result));
void qstats_free(struct qstats *qs);

/* Forgets every entry (RESET QUERIES); keeps the allocations. */
void qstats_reset(struct qstats *qs);
/* Frees every entry's literal sample (log_query_samples turned off). */
void qstats_drop_samples(struct qstats *qs);

/* The entry for a key, or NULL. */
struct qentry *qstats_find(struct qstats *qs, uint64_t fp, const void *db, const void *user);

/* Creates the entry for a key that is not in the table (evicting one when
 * full); text is copied. Returns NULL when out of memory. */
struct qentry *qstats_add(struct qstats *qs, uint64_t fp, const void *db, const void *user, const char *text,
			  uint8_t kind, bool partial, int64_t now);

/* The entry in slot (e->slot of an entry seen earlier) when it still has id; NULL when it was evicted. */
static inline struct qentry *qstats_get(struct qstats *qs, uint32_t slot, uint64_t id)
{
	if (slot >= qs->max || !qs->slots[slot] || qs->slots[slot]->id != id || id == 0)
		return NULL;
	return qs->slots[slot];
}

/* qstats_get() of a slot and id taken from a live entry (e->slot, e->id):
 * its slot exists (entries are never freed while the table lives), so
 * only the id is compared. */
static inline struct qentry *qstats_get_seen(struct qstats *qs, uint32_t slot, uint64_t id)
{
	struct qentry *e = qs->slots[slot];

	return e->id == id ? e : NULL;
}

/* Keeps per-bucket history in h from now on (NULL: none); the current
 * bucket is the one now falls in. false when out of memory. */
bool qstats_set_history(struct qstats *qs, struct history *h, int64_t now) __attribute__((warn_unused_result));
/* Closes the current bucket into the history when now is past it (the
 * janitor calls it, so that quiet times close buckets too). */
void qstats_roll(struct qstats *qs, int64_t now);

/* qstats_record()'s less usual steps: a new bucket or the entry's first
 * execution in it, an error, an application name not the one last seen */
void qstats_touch(struct qstats *qs, struct qentry *e, int64_t now);
void qstats_count_error(struct qentry *e, const char *sqlstate);
void qstats_count_app(struct qentry *e, const char *app, uint64_t app_id);

/* One execution: duration, rows, SQLSTATE (NULL when it succeeded), the
 * time the client waited for a server, its application_name ("" if none)
 * and an id of that text (equal ids, equal texts; 0: none, the text is
 * compared), now in wall-clock usec (a time past the current bucket closes
 * it first). Inline: once per statement. */
static inline __attribute__((always_inline)) void
qstats_record(struct qstats *qs, struct qentry *e, uint64_t dur_us, uint64_t rows, const char *sqlstate,
	      uint64_t wait_us, const char *app, uint64_t app_id, int64_t now)
{
	/* the spread around the first sample (exact.v[0]): no division per
	 * statement, and no cancellation of large squares */
	double dev = e->exact.n ? (double)(int64_t)(dur_us - e->exact.v[0]) : 0.0;
	bool error = sqlstate && *sqlstate;

	if (qs->hist) {
		if (now >= qs->bucket + qs->hist->len_us || !e->cur.calls)
			qstats_touch(qs, e, now);
		hs_qcur_add(&e->cur, &e->hist, dur_us, rows, error, wait_us);
	}
	e->calls++;
	e->usage++;
	e->rows += rows;
	e->total_us += dur_us;
	e->wait_us += wait_us;
	e->sq_dev += dev * dev;
	e->last_seen = now;
	hist_add(&e->hist, dur_us);
	hist_exact_add(&e->exact, dur_us);
	lb_add(&e->lb, dur_us);
	if (!e->exported)
		lb_add(&qs->other, dur_us);
	if (error)
		qstats_count_error(e, sqlstate);
	/* the application of the last execution, by its id: counted inline */
	if (app_id && e->app[0].count && e->app[0].id == app_id)
		e->app[0].count++;
	else
		qstats_count_app(e, app, app_id);
}
/* The q-quantile of e's durations, usec: exact for a few calls, never
 * outside [min, max] (hist_quantile_exact). */
double qstats_quantile_us(const struct qentry *e, double q);
/* p50, p95 and p99 of e's durations at once, usec. */
void qstats_p50_p95_p99_us(const struct qentry *e, double out[3]);

/* Notes the first comment of the last call (NULL or "": keeps the old one). */
void qstats_set_tag(struct qentry *e, const char *tag, size_t len);
/* Keeps a literal sample of the statement (log_query_samples). */
void qstats_set_sample(struct qentry *e, const char *sql, size_t len);

/* The application_name that calls e most (approximately), or "". */
const char *qstats_top_app(const struct qentry *e);
double qstats_stddev_us(const struct qentry *e);

/* Halves every use count, so old popularity fades. */
void qstats_decay(struct qstats *qs);

/* Makes the first n of list (every live entry, as qstats_sorted gives
 * them) the exported ones and the rest not; new entries are exported
 * while fewer than n are. */
void qstats_export_top(struct qstats *qs, uint32_t n, struct qentry **list, size_t count);

/* Fills *out with the live entries sorted by total time, largest first.
 * Returns the count; the caller frees *out (not the entries). */
size_t qstats_sorted(struct qstats *qs, struct qentry ***out);

#endif
