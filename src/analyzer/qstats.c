/*
 * qstats: see qstats.h.
 */
#include "analyzer/qstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVICT_SAMPLE 16

static uint64_t key_hash(uint64_t fp, const void *db, const void *user)
{
	uint64_t h = fp ^ ((uint64_t)(uintptr_t)db * 0x9E3779B97F4A7C15ull) ^
		     ((uint64_t)(uintptr_t)user * 0xC2B2AE3D27D4EB4Full);
	h ^= h >> 31;
	h *= 0x94D049BB133111EBull;
	return h ^ (h >> 29);
}

bool qstats_init(struct qstats *qs, uint32_t max)
{
	uint32_t n = 16;

	memset(qs, 0, sizeof(*qs));
	while (n < max * 2)
		n *= 2;
	qs->slots = calloc(max ? max : 1, sizeof(*qs->slots));
	qs->index = calloc(n, sizeof(*qs->index));
	if (!qs->slots || !qs->index) {
		free(qs->slots);
		free(qs->index);
		qs->slots = NULL;
		qs->index = NULL;
		return false;
	}
	qs->max = max;
	qs->mask = n - 1;
	qs->next_id = 1;
	qs->rng = 0x2545F4914F6CDD1Dull;
	return true;
}

static void entry_clear(struct qentry *e)
{
	free(e->text);
	free(e->tag);
	free(e->sample);
	memset(e, 0, sizeof(*e));
}

void qstats_free(struct qstats *qs)
{
	for (uint32_t i = 0; qs->slots && i < qs->max; i++)
		if (qs->slots[i]) {
			entry_clear(qs->slots[i]);
			free(qs->slots[i]);
		}
	free(qs->slots);
	free(qs->index);
	free(qs->touched);
	memset(qs, 0, sizeof(*qs));
}

void qstats_reset(struct qstats *qs)
{
	for (uint32_t i = 0; i < qs->max; i++)
		if (qs->slots[i])
			entry_clear(qs->slots[i]);
	if (qs->index)
		memset(qs->index, 0, sizeof(*qs->index) * (qs->mask + 1));
	qs->used = 0;
	qs->free_hint = 0;
	qs->evictions = 0;
	qs->nexported = 0;
	memset(&qs->other, 0, sizeof(qs->other));
	qs->ntouched = 0;
	qs->touched_all = false;
	if (qs->hist)
		hs_reset(qs->hist);
}

bool qstats_set_history(struct qstats *qs, struct history *h, int64_t now)
{
	if (h && !qs->touched) {
		qs->captouched = qs->max * 2 + 1;
		if (!(qs->touched = calloc(qs->captouched, sizeof(*qs->touched))))
			return false;
	}
	qs->hist = h;
	if (h)
		qs->bucket = hs_bucket_of(h, now);
	return true;
}

/* Closes e's numbers of the current bucket into the history. */
static void close_entry(struct qstats *qs, struct qentry *e)
{
	if (e->cur.calls && qs->hist)
		hs_close_query(qs->hist, qs->bucket, e->fp, e->db, e->user, e->kind, &e->cur, &e->hist);
}

void qstats_roll(struct qstats *qs, int64_t now)
{
	if (!qs->hist || now < qs->bucket + qs->hist->len_us)
		return;
	if (qs->touched_all) {
		for (uint32_t i = 0; i < qs->max; i++)
			if (qs->slots[i] && qs->slots[i]->id)
				close_entry(qs, qs->slots[i]);
	} else {
		for (uint32_t i = 0; i < qs->ntouched; i++)
			if (qs->slots[qs->touched[i]]->id)
				close_entry(qs, qs->slots[qs->touched[i]]);
	}
	qs->ntouched = 0;
	qs->touched_all = false;
	qs->bucket = hs_bucket_of(qs->hist, now);
}

double qstats_quantile_us(const struct qentry *e, double q)
{
	return hist_quantile_exact(&e->hist, &e->exact, q);
}

void qstats_p50_p95_p99_us(const struct qentry *e, double out[3])
{
	static const double q[3] = { 0.50, 0.95, 0.99 };

	hist_quantiles_exact(&e->hist, &e->exact, q, 3, out);
}

void qstats_drop_samples(struct qstats *qs)
{
	for (uint32_t i = 0; qs->slots && i < qs->max; i++)
		if (qs->slots[i]) {
			free(qs->slots[i]->sample);
			qs->slots[i]->sample = NULL;
		}
}

struct qentry *qstats_find(struct qstats *qs, uint64_t fp, const void *db, const void *user)
{
	uint32_t i;

	if (!qs->index)
		return NULL;
	for (i = (uint32_t)key_hash(fp, db, user) & qs->mask; qs->index[i]; i = (i + 1) & qs->mask) {
		struct qentry *e = qs->slots[qs->index[i] - 1];
		if (e->fp == fp && e->db == db && e->user == user)
			return e;
	}
	return NULL;
}

/* Removes slot's key from the index (linear probing: shift back the
 * entries after it so no tombstone is needed). */
static void index_remove(struct qstats *qs, uint32_t slot)
{
	const struct qentry *e = qs->slots[slot];
	uint32_t i = (uint32_t)key_hash(e->fp, e->db, e->user) & qs->mask, j;

	while (qs->index[i] != slot + 1)
		i = (i + 1) & qs->mask;
	for (j = i;;) {
		const struct qentry *o;
		uint32_t home;
		qs->index[i] = 0;
		for (;;) {
			j = (j + 1) & qs->mask;
			if (!qs->index[j])
				return;
			o = qs->slots[qs->index[j] - 1];
			home = (uint32_t)key_hash(o->fp, o->db, o->user) & qs->mask;
			/* move j back to i unless its home lies cyclically in (i, j] */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		qs->index[i] = qs->index[j];
		i = j;
	}
}

static uint64_t next_rand(struct qstats *qs)
{
	uint64_t x = qs->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return qs->rng = x;
}

/* Picks the slot to reuse: a free one, else the least used of a sample. */
static uint32_t pick_slot(struct qstats *qs)
{
	uint32_t best = 0;
	uint64_t best_usage = UINT64_MAX;

	if (qs->used < qs->max) {
		for (uint32_t i = qs->free_hint; i < qs->max; i++)
			if (!qs->slots[i] || !qs->slots[i]->id) {
				qs->free_hint = i + 1;
				return i;
			}
	}
	for (int k = 0; k < EVICT_SAMPLE; k++) {
		uint32_t i = (uint32_t)(next_rand(qs) % qs->max);
		if (qs->slots[i]->usage < best_usage) {
			best_usage = qs->slots[i]->usage;
			best = i;
		}
	}
	index_remove(qs, best);
	close_entry(qs, qs->slots[best]);
	if (qs->slots[best]->exported)
		qs->nexported--;
	entry_clear(qs->slots[best]);
	qs->used--;
	qs->evictions++;
	return best;
}

struct qentry *qstats_add(struct qstats *qs, uint64_t fp, const void *db, const void *user, const char *text,
			  uint8_t kind, bool partial, int64_t now)
{
	uint32_t slot, i;
	struct qentry *e;

	if (!qs->index || qs->max == 0)
		return NULL;
	slot = pick_slot(qs);
	if (!qs->slots[slot] && !(qs->slots[slot] = calloc(1, sizeof(struct qentry))))
		return NULL;
	e = qs->slots[slot];
	e->text = strdup(text ? text : "");
	if (!e->text)
		return NULL;
	e->id = qs->next_id++;
	e->slot = slot;
	e->fp = fp;
	e->db = db;
	e->user = user;
	e->kind = kind;
	e->partial = partial;
	e->first_seen = e->last_seen = now;
	e->exported = qs->nexported < qs->export_max;
	qs->nexported += e->exported;
	hist_init(&e->hist);
	for (i = (uint32_t)key_hash(fp, db, user) & qs->mask; qs->index[i]; i = (i + 1) & qs->mask)
		;
	qs->index[i] = slot + 1;
	qs->used++;
	return e;
}

void qstats_count_error(struct qentry *e, const char *sqlstate)
{
	int free_slot = -1;

	e->errors++;
	for (int i = 0; i < QSTATS_ERR_SLOTS; i++) {
		if (e->err[i].count && strncmp(e->err[i].sqlstate, sqlstate, 5) == 0) {
			e->err[i].count++;
			return;
		}
		if (!e->err[i].count && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0) {
		e->err_other++;
		return;
	}
	memcpy(e->err[free_slot].sqlstate, sqlstate, 5);
	e->err[free_slot].sqlstate[5] = 0;
	e->err[free_slot].count = 1;
}

/* Misra-Gries with two counters: the most frequent caller survives. The
 * text is compared only when the id is not the one a slot last matched
 * (the usual statement comes from an application seen just before). */
void qstats_count_app(struct qentry *e, const char *app, uint64_t id)
{
	struct qapp_count *a = e->app;

	if (!app)
		app = "";
	for (int i = 0; i < QSTATS_APP_SLOTS; i++)
		if (a[i].count && ((id && a[i].id == id) || strncmp(a[i].name, app, QSTATS_APP_LEN - 1) == 0)) {
			a[i].count++;
			a[i].id = id;
			return;
		}
	for (int i = 0; i < QSTATS_APP_SLOTS; i++)
		if (!a[i].count) {
			strncpy(a[i].name, app, QSTATS_APP_LEN - 1);
			a[i].name[QSTATS_APP_LEN - 1] = 0;
			a[i].count = 1;
			a[i].id = id;
			return;
		}
	for (int i = 0; i < QSTATS_APP_SLOTS; i++)
		a[i].count--;
}

void qstats_touch(struct qstats *qs, struct qentry *e, int64_t now)
{
	if (now >= qs->bucket + qs->hist->len_us)
		qstats_roll(qs, now);
	if (!e->cur.calls) {
		if (qs->ntouched < qs->captouched)
			qs->touched[qs->ntouched++] = e->slot;
		else
			qs->touched_all = true;
	}
}


void qstats_set_tag(struct qentry *e, const char *tag, size_t len)
{
	char *t;

	if (!tag || !len || (e->tag && strlen(e->tag) == len && memcmp(e->tag, tag, len) == 0))
		return;
	if (!(t = strndup(tag, len)))
		return;
	free(e->tag);
	e->tag = t;
}

void qstats_set_sample(struct qentry *e, const char *sql, size_t len)
{
	char *t = strndup(sql, len > QSTATS_SAMPLE_MAX ? QSTATS_SAMPLE_MAX : len);

	if (!t)
		return;
	free(e->sample);
	e->sample = t;
}

const char *qstats_top_app(const struct qentry *e)
{
	const struct qapp_count *a = e->app;
	int best = a[1].count > a[0].count ? 1 : 0;

	return a[best].count ? a[best].name : "";
}

double qstats_stddev_us(const struct qentry *e)
{
	double n = (double)e->calls, mean_dev, var;

	if (e->calls < 2)
		return 0;
	/* the variance of the deviations from the first sample is the
	 * variance of the durations */
	mean_dev = ((double)e->total_us - n * (double)e->exact.v[0]) / n;
	var = e->sq_dev / n - mean_dev * mean_dev;
	return var > 0 ? sqrt(var) : 0;
}

void qstats_decay(struct qstats *qs)
{
	for (uint32_t i = 0; i < qs->max; i++)
		if (qs->slots[i] && qs->slots[i]->id)
			qs->slots[i]->usage >>= 1;
}

static int by_total_desc(const void *a, const void *b)
{
	const struct qentry *x = *(const struct qentry *const *)a, *y = *(const struct qentry *const *)b;

	if (x->total_us != y->total_us)
		return x->total_us < y->total_us ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id; /* ties: the older first, so the order is stable */
}

size_t qstats_sorted(struct qstats *qs, struct qentry ***out)
{
	size_t n = 0;

	*out = calloc(qs->used ? qs->used : 1, sizeof(**out));
	if (!*out)
		return 0;
	for (uint32_t i = 0; i < qs->max && n < qs->used; i++)
		if (qs->slots[i] && qs->slots[i]->id)
			(*out)[n++] = qs->slots[i];
	qsort(*out, n, sizeof(**out), by_total_desc);
	return n;
}

void qstats_export_top(struct qstats *qs, uint32_t n, struct qentry **list, size_t count)
{
	qs->export_max = n;
	qs->nexported = 0;
	for (size_t i = 0; i < count; i++) {
		list[i]->exported = i < n;
		qs->nexported += list[i]->exported;
	}
}
