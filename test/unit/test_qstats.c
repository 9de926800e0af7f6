/*
 * Unit tests of qstats: the bounded per-fingerprint table. TAP output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/qstats.h"
#include "tap.h"

static char db1, db2, user1; /* identities only */

static void test_basic(void)
{
	struct qstats qs;
	struct qentry *e, *f;

	ok(qstats_init(&qs, 10), "init");
	ok(qstats_find(&qs, 1, &db1, &user1) == NULL, "empty table finds nothing");
	e = qstats_add(&qs, 1, &db1, &user1, "select $1", 1, false, 1000);
	ok(e && strcmp(e->text, "select $1") == 0 && e->first_seen == 1000, "add copies the text and first_seen");
	ok(qstats_find(&qs, 1, &db1, &user1) == e, "find returns it");
	ok(qstats_find(&qs, 1, &db2, &user1) == NULL, "another database is another key");
	f = qstats_add(&qs, 1, &db2, &user1, "select $1", 1, false, 1000);
	ok(f && f != e && qstats_find(&qs, 1, &db2, &user1) == f, "same fingerprint, other database: own entry");
	qstats_record(&qs, e, 100, 1, NULL, 5, "app", 0, 2000);
	qstats_record(&qs, e, 300, 2, NULL, 0, "app", 0, 3000);
	qstats_record(&qs, e, 200, 0, "23505", 0, "other", 0, 4000);
	ok(e->calls == 3 && e->total_us == 600 && e->exact.min == 100 && e->exact.max == 300, "calls, total, min, max");
	ok(e->rows == 3 && e->wait_us == 5 && e->last_seen == 4000, "rows, wait, last_seen");
	ok(fabs(qstats_stddev_us(e) - sqrt((100.0 * 100 + 0 + 100.0 * 100) / 3)) < 1e-6, "population stddev");
	ok(e->errors == 1 && strcmp(e->err[0].sqlstate, "23505") == 0 && e->err[0].count == 1, "error by SQLSTATE");
	ok(strcmp(qstats_top_app(e), "app") == 0, "most frequent application_name");
	ok(hist_count(&e->hist) == 3, "histogram counted every call");
	qstats_free(&qs);
}

/* The standard deviation of durations far from zero and close together,
 * and of a first sample far from the rest, against the two-pass formula */
static void test_stddev(void)
{
	static const uint64_t base[] = { 1000000000ull, 50 };
	struct qstats qs;

	ok(qstats_init(&qs, 4), "init");
	for (int k = 0; k < 2; k++) {
		struct qentry *e = qstats_add(&qs, 10 + (uint64_t)k, &db1, &user1, "select 1", 1, false, 0);
		uint64_t v[3001];
		double mean = 0, var = 0;
		int n = 0;
		if (!e)
			continue;
		v[n++] = k ? 900000 : base[k]; /* the first: an outlier in the second entry */
		for (int i = 0; i < 3000; i++)
			v[n++] = base[k] + (uint64_t)(i % 3);
		for (int i = 0; i < n; i++)
			qstats_record(&qs, e, v[i], 0, NULL, 0, "", 0, 0);
		for (int i = 0; i < n; i++)
			mean += (double)v[i] / n;
		for (int i = 0; i < n; i++)
			var += ((double)v[i] - mean) * ((double)v[i] - mean) / n;
		ok(fabs(qstats_stddev_us(e) - sqrt(var)) <= 1e-6 * sqrt(var),
		   "stddev of %s: %.9f, two-pass %.9f", k ? "a first outlier" : "1e9 us +- 1", qstats_stddev_us(e), sqrt(var));
	}
	qstats_free(&qs);
}

static void test_errors_and_apps(void)
{
	struct qstats qs;
	struct qentry *e;
	const char *codes[] = { "23505", "40001", "22012", "42P01", "57014", "23505" };

	ok(qstats_init(&qs, 4), "init 4");
	e = qstats_add(&qs, 7, &db1, &user1, "x", 1, false, 0);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		qstats_record(&qs, e, 1, 0, codes[i], 0, "", 0, 0);
	ok(e->errors == 6 && e->err[0].count == 2, "repeated SQLSTATE counted in its slot");
	ok(e->err_other == 1, "a fifth distinct SQLSTATE goes to other");
	for (int i = 0; i < 50; i++)
		qstats_record(&qs, e, 1, 0, NULL, 0, i % 5 == 0 ? "rare" : "web", 0, 0);
	ok(strcmp(qstats_top_app(e), "web") == 0, "heavy hitter survives interleaved others");
	qstats_free(&qs);

	/* ids (pgsift passes its interned names' ids) only save comparisons:
	 * a new id of a counted name counts there, an id seen with a name
	 * counts that name */
	ok(qstats_init(&qs, 4), "init 4");
	e = qstats_add(&qs, 7, &db1, &user1, "x", 1, false, 0);
	for (int i = 0; i < 5; i++)
		qstats_record(&qs, e, 1, 0, NULL, 0, "web", 11, 0);
	qstats_record(&qs, e, 1, 0, NULL, 0, "web", 12, 0);
	qstats_record(&qs, e, 1, 0, NULL, 0, "batch", 13, 0);
	qstats_record(&qs, e, 1, 0, NULL, 0, "web", 11, 0);
	ok(e->app[0].count == 7 && strcmp(e->app[0].name, "web") == 0, "one name under two ids: one count (%llu)",
	   (unsigned long long)e->app[0].count);
	ok(e->app[1].count == 1 && strcmp(e->app[1].name, "batch") == 0, "another name: its own count");
	qstats_free(&qs);
}

static void test_eviction(void)
{
	struct qstats qs;
	struct qentry *hot[8];
	int survived = 0;
	uint64_t id0;
	uint32_t slot0;

	ok(qstats_init(&qs, 16), "init 16");
	for (int i = 0; i < 8; i++) {
		hot[i] = qstats_add(&qs, 100 + (uint64_t)i, &db1, &user1, "hot", 1, false, 0);
		for (int k = 0; k < 1000; k++)
			qstats_record(&qs, hot[i], 10, 0, NULL, 0, "", 0, 0);
	}
	id0 = hot[0]->id;
	slot0 = hot[0]->slot;
	/* a long stream of one-off shapes */
	for (uint64_t i = 0; i < 5000; i++) {
		struct qentry *e = qstats_add(&qs, 1000000 + i, &db1, &user1, "one-off", 1, false, 0);
		if (e)
			qstats_record(&qs, e, 1, 0, NULL, 0, "", 0, 0);
	}
	for (int i = 0; i < 8; i++)
		survived += qstats_find(&qs, 100 + (uint64_t)i, &db1, &user1) != NULL;
	ok(survived == 8, "one-off shapes never evicted a hot entry");
	ok(qs.used == 16 && qs.evictions > 4000, "table stayed full and counted evictions");
	ok(qstats_get(&qs, slot0, id0) != NULL, "(slot, id) of a surviving entry still resolves");
	/* lookups still work for every live key after many backward shifts */
	{
		int found = 0;
		for (uint32_t i = 0; i < qs.max; i++)
			if (qs.slots[i] && qs.slots[i]->id)
				found += qstats_find(&qs, qs.slots[i]->fp, &db1, &user1) == qs.slots[i];
		ok(found == 16, "every live entry is findable after churn");
	}
	qstats_free(&qs);
}

static void test_stale_and_reset(void)
{
	struct qstats qs;
	struct qentry *e, **list;
	uint64_t id;
	uint32_t slot;
	size_t n;

	ok(qstats_init(&qs, 1), "init 1");
	e = qstats_add(&qs, 1, &db1, &user1, "a", 1, false, 0);
	id = e->id;
	slot = e->slot;
	e = qstats_add(&qs, 2, &db1, &user1, "b", 1, false, 0);
	ok(e && qstats_get(&qs, slot, id) == NULL, "an evicted entry's (slot, id) no longer resolves");
	ok(qstats_find(&qs, 1, &db1, &user1) == NULL && qstats_find(&qs, 2, &db1, &user1) == e, "only the new key is found");
	qstats_free(&qs);

	ok(qstats_init(&qs, 8), "init 8");
	for (uint64_t i = 1; i <= 5; i++) {
		e = qstats_add(&qs, i, &db1, &user1, "q", 1, false, 0);
		qstats_record(&qs, e, i * 100, 0, NULL, 0, "", 0, 0);
	}
	n = qstats_sorted(&qs, &list);
	ok(n == 5 && list[0]->fp == 5 && list[4]->fp == 1, "sorted by total time, largest first");
	free(list);
	qstats_set_tag(e, "route='/x'", 10);
	ok(e->tag && strcmp(e->tag, "route='/x'") == 0, "tag kept");
	qstats_set_sample(e, "select 42", 9);
	ok(e->sample && strcmp(e->sample, "select 42") == 0, "sample kept");
	qstats_reset(&qs);
	ok(qs.used == 0 && qstats_find(&qs, 5, &db1, &user1) == NULL, "reset empties the table");
	n = qstats_sorted(&qs, &list);
	ok(n == 0, "nothing listed after reset");
	free(list);
	e = qstats_add(&qs, 9, &db1, &user1, "again", 1, false, 0);
	ok(e && qstats_find(&qs, 9, &db1, &user1) == e, "table usable after reset");
	qstats_free(&qs);
}

static void test_decay(void)
{
	struct qstats qs;
	struct qentry *old, *fresh;
	int old_survived = 0;

	/* an entry hot long ago decays and yields to one that is hot now */
	ok(qstats_init(&qs, 2), "init 2");
	old = qstats_add(&qs, 1, &db1, &user1, "old", 1, false, 0);
	for (int k = 0; k < 64; k++)
		qstats_record(&qs, old, 1, 0, NULL, 0, "", 0, 0);
	fresh = qstats_add(&qs, 2, &db1, &user1, "fresh", 1, false, 0);
	for (int round = 0; round < 8; round++) {
		qstats_decay(&qs);
		for (int k = 0; k < 4; k++)
			qstats_record(&qs, fresh, 1, 0, NULL, 0, "", 0, 0);
	}
	ok(old->usage < fresh->usage, "decay lets current use outweigh old use");
	(void)qstats_add(&qs, 3, &db1, &user1, "new", 1, false, 0);
	old_survived = qstats_find(&qs, 1, &db1, &user1) != NULL;
	ok(!old_survived && qstats_find(&qs, 2, &db1, &user1) != NULL, "the stale entry is the one evicted");
	qstats_free(&qs);
}

/* Time buckets: each closed row holds its own bucket's calls and
 * percentiles, and an evicted entry's numbers reach the history first. */
static void test_history(void)
{
	struct qstats qs;
	struct history h;
	const struct hs_bucket *b = NULL;
	struct qentry *e, *f;
	int64_t t0 = 60000000; /* buckets of 1 s from here */

	ok(qstats_init(&qs, 2) && hs_init(&h, 1000000, 10, 1 << 20) && qstats_set_history(&qs, &h, t0), "history on");
	e = qstats_add(&qs, 7, &db1, &user1, "select $1", 1, false, t0);
	for (int i = 0; i < 40; i++)
		qstats_record(&qs, e, 100 + (uint64_t)i % 3, 1, NULL, 0, "", 0, t0 + 1000 * i);
	for (int i = 0; i < 25; i++) /* next bucket: 100 times slower */
		qstats_record(&qs, e, 10000 + (uint64_t)i, 0, i == 3 ? "23505" : NULL, 2, "", 0, t0 + 1000000 + 1000 * i);
	ok(h.n == 1 && (b = hs_get(&h, 0)) && b->start == t0 && b->nq == 1 && b->q[0].calls == 40 &&
	   b->q[0].rows == 40 && b->q[0].max_us == 102, "the first bucket closed with its 40 calls");
	ok(fabs(b->q[0].p99_us - 102) <= 2.04 && b->q[0].p50_us >= 100 && b->q[0].p50_us <= 102,
	   "its percentiles are its own (p50 %.1f, p99 %.1f)", b->q[0].p50_us, b->q[0].p99_us);
	qstats_roll(&qs, t0 + 2000000);
	ok(h.n == 2 && (b = hs_get(&h, 1)) && b->q[0].calls == 25 && b->q[0].errors == 1 && b->q[0].wait_us == 50,
	   "the second bucket holds the 25 slow calls, their error and wait");
	ok(b->q[0].p50_us >= 10000 && b->q[0].p50_us <= 10024 && b->q[0].min_us == 10000,
	   "percentiles of the second bucket leave the first bucket's samples out (p50 %.1f)", b->q[0].p50_us);
	/* an entry evicted mid-bucket: its numbers are closed first */
	f = qstats_add(&qs, 8, &db2, &user1, "select 2", 1, false, t0 + 2000000);
	qstats_record(&qs, f, 5, 0, NULL, 0, "", 0, t0 + 2000001);
	qstats_record(&qs, e, 6, 0, NULL, 0, "", 0, t0 + 2000002);
	f->usage = 0;
	e->usage = 1000;
	(void)qstats_add(&qs, 9, &db2, &user1, "select 3", 1, false, t0 + 2000003); /* evicts f */
	qstats_roll(&qs, t0 + 3000000);
	ok(h.n == 3 && (b = hs_get(&h, 2)) && b->nq == 2, "the evicted entry's bucket row is kept (%u rows)",
	   (b = hs_get(&h, 2)) ? b->nq : 0);
	qstats_free(&qs);
	hs_free(&h);
}

static unsigned plain_index(uint64_t us)
{
	unsigned i = 0;

	while (i < LB_N - 1 && us > lb_bounds_us[i])
		i++;
	return i;
}

/* The fixed buckets: le is inclusive, +Inf takes the rest. */
static void test_lbuckets(void)
{
	struct lbuckets b = { { 0 }, 0 };

	lb_add(&b, 0);
	lb_add(&b, 25);
	lb_add(&b, 26);
	lb_add(&b, 30000000);
	lb_add(&b, 30000001);
	lb_add(&b, UINT64_MAX / 4);
	ok(b.n[0] == 2 && b.n[1] == 1, "0 and 25 us in le=25us, 26 us in le=50us");
	ok(b.n[LB_N - 2] == 1 && b.n[LB_N - 1] == 2, "30 s in le=30s, above it +Inf");
	ok(lb_count(&b) == 6 && b.sum_us == 0 + 25 + 26 + 30000000 + 30000001 + UINT64_MAX / 4, "count and sum");
	for (int i = 1; i < LB_N - 1; i++)
		if (!tap_ok(lb_bounds_us[i] > lb_bounds_us[i - 1], "bounds ascend at %d", i))
			break;
	/* the table-started search equals a plain one: every value up to 2^20,
	 * and around every power of two and every bound */
	int bad = 0;
	for (uint64_t v = 0; v < (1u << 20); v++)
		bad += lb_index(v) != plain_index(v);
	for (int k = 0; k < 64; k++)
		for (int d = -1; d <= 1; d++)
			bad += lb_index((1ull << k) + (uint64_t)d) != plain_index((1ull << k) + (uint64_t)d);
	for (int i = 0; i < LB_N - 1; i++)
		for (int d = -1; d <= 1; d++)
			bad += lb_index(lb_bounds_us[i] + (uint64_t)d) != plain_index(lb_bounds_us[i] + (uint64_t)d);
	ok(bad == 0, "lb_index equals a plain search (%d differ)", bad);
}

/* /metrics' top set: entries exported while there is room, the rest
 * counted in `other` as recorded, so no exported counter ever drops. */
static void test_export_and_other(void)
{
	struct qstats qs;
	struct qentry *a, *b, *c, **list;
	size_t n;

	ok(qstats_init(&qs, 10), "init 10");
	qs.export_max = 2;
	a = qstats_add(&qs, 1, &db1, &user1, "a", 1, false, 0);
	b = qstats_add(&qs, 2, &db1, &user1, "b", 1, false, 0);
	c = qstats_add(&qs, 3, &db1, &user1, "c", 1, false, 0);
	ok(a->exported && b->exported && !c->exported && qs.nexported == 2, "the first two are exported, the third not");
	qstats_record(&qs, a, 100, 0, NULL, 0, "", 0, 0);
	qstats_record(&qs, b, 100, 0, NULL, 0, "", 0, 0);
	for (int i = 0; i < 5; i++)
		qstats_record(&qs, c, 1000, 0, NULL, 0, "", 0, 0);
	ok(lb_count(&qs.other) == 5 && qs.other.sum_us == 5000 && lb_count(&c->lb) == 5, "c counts in other and in itself");
	n = qstats_sorted(&qs, &list);
	qstats_export_top(&qs, 2, list, n);
	free(list);
	ok(c->exported && a->exported != b->exported && qs.nexported == 2, "the heaviest two are exported after a ranking");
	qstats_record(&qs, c, 1000, 0, NULL, 0, "", 0, 0);
	qstats_record(&qs, a->exported ? b : a, 100, 0, NULL, 0, "", 0, 0);
	ok(lb_count(&qs.other) == 6 && lb_count(&c->lb) == 6, "other keeps what it counted and goes on with the demoted one");
	qstats_reset(&qs);
	ok(lb_count(&qs.other) == 0 && qs.nexported == 0, "RESET QUERIES empties other");
	qstats_free(&qs);
}

int main(void)
{
	tap_begin();
	test_lbuckets();
	test_export_and_other();
	test_basic();
	test_stddev();
	test_errors_and_apps();
	test_eviction();
	test_stale_and_reset();
	test_decay();
	test_history();
	return tap_end();
}
