/*
 * Unit tests of the N+1 rules (src/analyzer/nplusone.c): statement sequences in,
 * hits out.
 */
#include <string.h>

#include "analyzer/nplusone.h"
#include "tap.h"

#define P 0x1001	/* the parent query */
#define C 0x2002	/* the per-row child lookup */
#define D 0x3003
#define TXN 0x4004	/* BEGIN / SAVEPOINT / SET */
#define INS 0x5005

static struct np_hit hits[64];
static int nhits;

static void emit(void *arg, const struct np_hit *h)
{
	(void)arg;
	if (nhits < 64)
		hits[nhits++] = *h;
}

static struct np_state st;
static struct np_conf cf = { .min_repeats = 5, .think_us = 10000 };
static int64_t now;
static uint64_t trace;
static const char *app = "app";
static uint64_t app_id; /* 0: the names are compared */

static void reset(void)
{
	np_init(&st);
	nhits = 0;
	now = 1000000;
	trace = 0;
	app = "app";
	app_id = 0;
}

/* One statement: sent gap_us after the last one ended, 100 us long. */
static void stmt(uint64_t fp, uint64_t phash, int64_t gap_us)
{
	struct np_stmt s = { .fp = fp, .phash = phash, .trace = trace, .app = app, .app_id = app_id,
			   .dur_us = 100 };

	s.select = fp == P || fp == C || fp == D;
	s.params = s.select;
	s.neutral = fp == TXN;
	now += gap_us;
	s.sent = now;
	now += 100;
	s.end = now;
	np_statement(&st, &cf, &s, emit, NULL);
}

static void ready(char status)
{
	np_ready(&st, &cf, status, now, emit, NULL);
}

static int count_kind(enum np_kind k)
{
	int n = 0;

	for (int i = 0; i < nhits; i++)
		n += hits[i].kind == k;
	return n;
}

static void test_orm_loop(void)
{
	reset();
	stmt(P, 1, 0);
	for (int i = 0; i < 20; i++)
		stmt(C, 100 + (uint64_t)i, 200);
	tap_ok(nhits == 0, "a run is reported when it ends, not before");
	np_idle(&st, &cf, now + 20000, emit, NULL);
	tap_ok(nhits == 1 && hits[0].kind == NP_RUN, "ORM loop: one N+1 hit");
	tap_ok(hits[0].source_fp == P && hits[0].fp == C && hits[0].count == 20, "source, shape and count");
	tap_ok(hits[0].rep_us == 2000 && hits[0].wall_us == 20 * 300 - 200, "repeated time and wall time");
	tap_ok(strcmp(hits[0].app, "app") == 0, "the unit's application_name");
}

static void test_short_run_and_no_source(void)
{
	reset();
	stmt(P, 1, 0);
	for (int i = 0; i < 4; i++)
		stmt(C, 100 + (uint64_t)i, 200);
	stmt(INS, 0, 200);
	tap_ok(nhits == 0, "a run of 4 < min_repeats is not reported");

	reset();
	for (int i = 0; i < 30; i++)
		stmt(C, 100 + (uint64_t)i, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "a run with no SELECT before it (pgbench -S) is not reported");

	reset();
	stmt(INS, 0, 0);
	for (int i = 0; i < 30; i++)
		stmt(C, 100 + (uint64_t)i, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "a run after an INSERT has no source");
}

static void test_neutral_statements(void)
{
	reset();
	stmt(TXN, 0, 0);
	ready('T');
	stmt(P, 1, 100);
	for (int i = 0; i < 6; i++) {
		stmt(C, 100 + (uint64_t)i, 100);
		stmt(TXN, 0, 50); /* SAVEPOINT / SET between rows */
	}
	ready('I');
	tap_ok(nhits == 1 && hits[0].kind == NP_RUN && hits[0].count == 6,
	       "transaction control and SET do not break a run; commit ends the unit");
}

static void test_unit_boundaries(void)
{
	reset();
	stmt(P, 1, 0);
	for (int i = 0; i < 3; i++)
		stmt(C, 100 + (uint64_t)i, 200);
	for (int i = 0; i < 3; i++)
		stmt(C, 200 + (uint64_t)i, i == 0 ? 50000 : 200); /* a long pause first */
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "think time longer than the setting ends the unit (and the run)");

	reset();
	stmt(TXN, 0, 0);
	ready('T');
	stmt(P, 1, 0);
	for (int i = 0; i < 5; i++)
		stmt(C, 100 + (uint64_t)i, 50000);
	ready('I');
	tap_ok(nhits == 1 && hits[0].count == 5, "inside a transaction think time does not end the unit");

	reset();
	trace = 7;
	stmt(P, 1, 0);
	stmt(C, 100, 200);
	stmt(C, 101, 200);
	trace = 8;
	for (int i = 0; i < 4; i++)
		stmt(C, 102 + (uint64_t)i, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "a new trace id ends the unit");

	reset();
	stmt(P, 1, 0);
	stmt(C, 100, 200);
	stmt(C, 101, 200);
	app = "other";
	for (int i = 0; i < 4; i++)
		stmt(C, 102 + (uint64_t)i, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "a new application_name ends the unit");

	/* pgsift passes the id of its interned name: a name's new id is the
	 * same application, another name's id another one */
	reset();
	app_id = 1;
	stmt(P, 1, 0);
	stmt(C, 100, 200);
	app_id = 2;
	stmt(C, 101, 200);
	stmt(C, 102, 200);
	app = "other";
	app_id = 3;
	for (int i = 0; i < 4; i++)
		stmt(C, 103 + (uint64_t)i, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "with ids: a new application_name ends the unit");
	reset();
	app_id = 1;
	stmt(P, 1, 0);
	for (int i = 0; i < 6; i++) {
		app_id = 2 + (uint64_t)i;
		stmt(C, 100 + (uint64_t)i, 200);
	}
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 1 && hits[0].kind == NP_RUN && hits[0].count == 6,
	       "with ids: the same name under new ids stays one unit");
}

static void test_web_requests_glued(void)
{
	reset();
	for (int i = 0; i < 40; i++) { /* request i: parent i, child of i, 3 ms apart */
		stmt(P, 1000 + (uint64_t)i, 3000);
		stmt(C, 2000 + (uint64_t)i, 200);
	}
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "parent+child requests glued into one unit: nothing");

	reset();
	for (int i = 0; i < 40; i++) { /* the same request again and again */
		stmt(P, 1000, 3000);
		stmt(C, 2000, 200);
	}
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "identical requests glued together are no duplicates (anchor repeats)");
}

static void test_repeat_and_duplicate(void)
{
	reset();
	stmt(P, 1, 0);
	for (int i = 0; i < 6; i++) {
		stmt(C, 100 + (uint64_t)i, 200);
		stmt(D, 42, 200); /* always the same parameters */
	}
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(count_kind(NP_RUN) == 0, "alternating lookups are no run");
	tap_ok(count_kind(NP_REPEAT) == 2, "both shapes repeated in the unit");
	tap_ok(count_kind(NP_DUP) == 1, "one exact duplicate");
	for (int i = 0; i < nhits; i++) {
		if (hits[i].kind == NP_DUP)
			tap_ok(hits[i].fp == D && hits[i].count == 6 && hits[i].source_fp == P, "duplicate: shape, count, anchor");
		if (hits[i].kind == NP_REPEAT)
			tap_ok(hits[i].source_fp == P && hits[i].count == 6, "repeat: anchor and count");
	}

	reset();
	stmt(P, 1, 0);
	for (int i = 0; i < 6; i++)
		stmt(C, 100, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 2 && count_kind(NP_RUN) == 1 && count_kind(NP_DUP) == 1 && count_kind(NP_REPEAT) == 0,
	       "a run is not also reported as repeated; its duplicates are");

	reset();
	cf.min_repeats = 0;
	stmt(P, 1, 0);
	for (int i = 0; i < 20; i++)
		stmt(C, 100, 200);
	np_end_unit(&st, &cf, emit, NULL);
	tap_ok(nhits == 0, "min_repeats 0 switches the rules off");
	cf.min_repeats = 5;
}

/* More (shape, parameters) pairs than a unit follows: the first
 * NP_UNIT_DUPS are counted wherever they come back, later ones not; two
 * units in a row start from nothing. */
static void test_many_parameters(void)
{
	for (int unit = 0; unit < 2; unit++) {
		int dup_of_first = 0, dup_of_late = 0;
		reset();
		stmt(P, 1, 0);
		for (int i = 0; i < 3 * NP_UNIT_DUPS; i++) /* every other one a different shape */
			stmt(i % 2 ? D : C, 1000 + (uint64_t)i, 200);
		stmt(C, 1000, 200);			/* the first pair, again */
		stmt(C, 1000 + 2 * NP_UNIT_DUPS, 200); /* one that came after the table filled */
		np_end_unit(&st, &cf, emit, NULL);
		for (int i = 0; i < nhits; i++) {
			dup_of_first += hits[i].kind == NP_DUP && hits[i].fp == C && hits[i].count == 2;
			dup_of_late += hits[i].kind == NP_DUP && hits[i].count == 2 && hits[i].fp != C;
		}
		tap_ok(count_kind(NP_DUP) == 1 && dup_of_first == 1 && dup_of_late == 0,
		       "unit %d: the first of %d parameter sets is found again, one past NP_UNIT_DUPS is not", unit,
		       3 * NP_UNIT_DUPS);
	}
}

static void test_table(void)
{
	struct np_table t;
	struct np_hit h = { .kind = NP_RUN, .source_fp = P, .fp = C, .count = 20, .rep_us = 500, .wall_us = 900,
			    .app = "a" };
	const struct np_finding **v;
	bool is_new;
	struct np_finding *f;

	tap_ok(np_table_init(&t, 2), "table");
	f = np_record(&t, &h, "db", "1.2.3.4:5", "route='/x'", "select p", "select c", 10, &is_new);
	tap_ok(f && is_new && f->occurrences == 1, "new finding");
	h.count = 7;
	h.wall_us = 100;
	f = np_record(&t, &h, "db", "1.2.3.4:6", NULL, "select p", "select c", 20, &is_new);
	tap_ok(f && !is_new && f->occurrences == 2 && f->max_count == 20 && f->last_count == 7 && f->rep_calls == 27,
	       "occurrences, largest and last count");
	tap_ok(f->wall_us == 1000 && f->first_seen == 10 && f->last_seen == 20 && strcmp(f->client, "1.2.3.4:6") == 0 &&
		       strcmp(f->tag, "route='/x'") == 0,
	       "times, last client, tag kept");
	h.fp = D;
	h.wall_us = 5000;
	np_record(&t, &h, "db", "c", NULL, NULL, NULL, 30, &is_new);
	tap_ok(np_sorted(&t, &v) == 2 && v[0]->fp == D, "worst (most wall time) first");
	free(v);
	h.fp = INS;
	tap_ok(!np_record(&t, &h, "db", "c", NULL, NULL, NULL, 30, &is_new) && t.dropped == 1, "bounded");
	np_table_free(&t);
}

int main(void)
{
	tap_begin();
	test_orm_loop();
	test_short_run_and_no_source();
	test_neutral_statements();
	test_unit_boundaries();
	test_web_requests_glued();
	test_repeat_and_duplicate();
	test_many_parameters();
	test_table();
	return tap_end();
}
