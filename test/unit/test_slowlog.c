/*
 * Unit tests of the slow ring and the plan table (src/analyzer/slowlog.c).
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/slowlog.h"
#include "tap.h"

static void test_ring(void)
{
	struct slowlog sl;
	const struct sl_entry *e;

	tap_ok(sl_init(&sl, 3), "ring of 3");
	tap_ok(sl_get(&sl, 0) == NULL, "empty ring");
	for (int i = 0; i < 5; i++) {
		struct sl_entry *w = sl_push(&sl);
		w->dur_us = (uint64_t)i;
		if (i == 1)
			w->sample = strdup("literal"); /* overwritten later: freed */
	}
	tap_ok(sl.n == 3 && sl.total == 5, "bounded, total counted");
	e = sl_get(&sl, 0);
	tap_ok(e && e->dur_us == 4, "newest first");
	tap_ok(sl_get(&sl, 2)->dur_us == 2 && sl_get(&sl, 3) == NULL, "oldest kept is the third newest");
	sl_reset(&sl);
	tap_ok(sl.n == 0 && sl_get(&sl, 0) == NULL, "reset empties");
	sl_free(&sl);
}

static void test_plans(void)
{
	static struct slowlog sl;
	struct sl_plan *p, *q;
	char db[16];
	uint64_t id;

	tap_ok(sl_init(&sl, 1), "init");
	p = sl_plan_claim(&sl, 42, "db", "u", "select $1", 1000, 60000000);
	tap_ok(p && p->status == SL_PLAN_PENDING && strcmp(p->text, "select $1") == 0, "first claim: pending row");
	tap_ok(!sl_plan_claim(&sl, 42, "db", "u", NULL, 2000, 0), "no second capture while one is pending");
	sl_plan_set(p, SL_PLAN_OK, "Result", 5);
	tap_ok(!sl_plan_claim(&sl, 42, "db", "u", NULL, 2000, 60000000), "not again within the interval");
	tap_ok(sl_plan_claim(&sl, 42, "other", "u", NULL, 2000, 60000000) != NULL, "another database is another row");
	id = p->id;
	q = sl_plan_claim(&sl, 42, "db", "u", NULL, 60001000, 60000000);
	tap_ok(q == p && q->id != id, "again after the interval, with a new id");
	tap_ok(sl_plan_get(&sl, (uint32_t)(p - sl.plans), id) == NULL, "a capture holding the old id finds its row gone");
	tap_ok(sl_plan_get(&sl, (uint32_t)(q - sl.plans), q->id) == q, "the current id finds it");
	tap_ok(strcmp(q->plan, "Result") == 0, "the old plan stays shown until the new result");
	for (int i = 0; i < SL_PLANS_MAX; i++) {
		snprintf(db, sizeof(db), "d%d", i);
		sl_plan_claim(&sl, 7, db, "u", NULL, 70000000 + i, 0);
	}
	tap_ok(sl.nplans == SL_PLANS_MAX && !sl_plan_find(&sl, 42, "db", "u") && sl_plan_find(&sl, 7, "d999", "u"),
	       "full: the row tried longest ago is replaced");
	sl_free(&sl);
}

int main(void)
{
	tap_begin();
	test_ring();
	test_plans();
	return tap_end();
}
