/*
 * slowlog: the ring of slow statements and the plans captured for them.
 *
 * Pure module (the capture itself is explain.c). The ring holds the last
 * `size` statements slower than slow_query_ms, each with its fixed-size
 * strings (no allocation per entry, except the optional literal sample).
 * The plan table keeps one plan (or the error or reason it has none) per
 * (fingerprint, database, user), at most SL_PLANS_MAX, replacing the
 * oldest; a slot's id changes when it is reused, so an asynchronous
 * capture holding (slot, id) finds out that its row is gone.
 */
#ifndef PGSIFT_SLOWLOG_H
#define PGSIFT_SLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer/fingerprint.h"

#define SL_NAME_LEN 64
#define SL_PLANS_MAX 1000

struct sl_entry {
	int64_t when;			/* wall usec when it ended */
	uint64_t dur_us, wait_us, rows;
	uint64_t fp;
	uint8_t kind;			/* enum fp_kind */
	char sqlstate[6];		/* "" when it succeeded */
	char db[SL_NAME_LEN], user[SL_NAME_LEN], app[SL_NAME_LEN], client[SL_NAME_LEN];
	char tag[FP_TAG_MAX];
	char text[FP_TEXT_MAX];		/* normalized */
	char *sample;			/* literal text (log_query_samples), owned */
};

enum sl_plan_status { SL_PLAN_PENDING, SL_PLAN_OK, SL_PLAN_ERROR, SL_PLAN_SKIPPED };

struct sl_plan {
	uint64_t id;			/* 0: free */
	uint64_t fp;
	char db[SL_NAME_LEN], user[SL_NAME_LEN];
	int64_t tried_mono;		/* monotonic usec of the last attempt */
	int64_t captured;		/* wall usec when the result came */
	uint64_t dur_us;		/* the statement's duration that asked for it */
	enum sl_plan_status status;
	char *plan;			/* plan text, error text or reason (owned) */
	char *text;			/* normalized text (owned) */
};

struct slowlog {
	struct sl_entry *ring;
	uint32_t size, head, n;		/* head: next slot to write */
	uint64_t total;			/* slow statements ever seen */
	struct sl_plan plans[SL_PLANS_MAX];
	uint32_t nplans;
	uint64_t next_id;
};

bool sl_init(struct slowlog *sl, uint32_t size) __attribute__((warn_unused_result));
void sl_free(struct slowlog *sl);
/* Empties the ring and the plans. */
void sl_reset(struct slowlog *sl);
/* Frees the literal samples of the ring's entries; the entries stay. */
void sl_drop_samples(struct slowlog *sl);

/* The next ring entry to fill (the oldest is overwritten), cleared. */
struct sl_entry *sl_push(struct slowlog *sl);

/* The i-th newest entry (0 = newest), or NULL. */
const struct sl_entry *sl_get(const struct slowlog *sl, uint32_t i);

/* The plan row of a key, or NULL. */
struct sl_plan *sl_plan_find(struct slowlog *sl, uint64_t fp, const char *db, const char *user);

/* The row to try a capture for now: NULL when one was tried less than
 * interval_us ago. Creates the row (replacing the oldest) when needed and
 * marks it pending. */
struct sl_plan *sl_plan_claim(struct slowlog *sl, uint64_t fp, const char *db, const char *user, const char *text,
			      int64_t now_mono, int64_t interval_us);

/* Row slot with this id, or NULL when it was replaced since. */
struct sl_plan *sl_plan_get(struct slowlog *sl, uint32_t slot, uint64_t id);

/* Stores a result: status and text (copied). */
void sl_plan_set(struct sl_plan *p, enum sl_plan_status st, const char *text, int64_t now_wall);

const char *sl_plan_status_name(enum sl_plan_status st);

#endif
