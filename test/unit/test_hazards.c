/*
 * Unit tests of the hazard classifier (src/analyzer/hazards.c) over normalized texts
 * made by the real fingerprint module.
 */
#include <string.h>
#include <strings.h>

#include "analyzer/fingerprint.h"
#include "analyzer/hazards.h"
#include "tap.h"

static const char *const tracked_names[] = { "client_encoding", "DateStyle", "TimeZone", "standard_conforming_strings",
					     "application_name", "IntervalStyle" };

static bool tracked(void *arg, const char *name, size_t len)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(tracked_names) / sizeof(tracked_names[0]); i++)
		if (strlen(tracked_names[i]) == len && strncasecmp(tracked_names[i], name, len) == 0)
			return true;
	return false;
}

static enum hz_kind classify(const char *sql)
{
	static struct fp_result r;

	fp_compute(sql, strlen(sql), 0, &r);
	return hz_classify(r.kind, r.text, tracked, NULL);
}

int main(void)
{
	static const struct {
		const char *sql;
		enum hz_kind want;
	} cases[] = {
		{ "SET search_path TO app, public", HZ_SET },
		{ "set statement_timeout = 5000", HZ_SET },
		{ "SET SESSION work_mem = '64MB'", HZ_SET },
		{ "RESET search_path", HZ_SET },
		{ "SET LOCAL statement_timeout = 5", HZ_NONE },
		{ "RESET ALL", HZ_NONE },
		{ "DISCARD ALL", HZ_NONE },
		{ "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", HZ_NONE },
		{ "SET application_name = 'x'", HZ_NONE },
		{ "SET TIME ZONE 'UTC'", HZ_NONE },
		{ "SET \"TimeZone\" = 'UTC'", HZ_NONE },
		{ "SET NAMES 'UTF8'", HZ_NONE },
		{ "SET datestyle = ISO", HZ_NONE },
		{ "SET ROLE admin", HZ_SET_ROLE },
		{ "RESET ROLE", HZ_SET_ROLE },
		{ "SET SESSION AUTHORIZATION bob", HZ_SET_ROLE },
		{ "LISTEN jobs", HZ_LISTEN },
		{ "UNLISTEN *", HZ_NONE },
		{ "NOTIFY jobs", HZ_NONE },
		{ "SELECT pg_advisory_lock(1)", HZ_ADVISORY_LOCK },
		{ "select pg_try_advisory_lock(1, 2)", HZ_ADVISORY_LOCK },
		{ "SELECT pg_advisory_lock_shared($1)", HZ_ADVISORY_LOCK },
		{ "SELECT pg_advisory_xact_lock(1)", HZ_NONE },
		{ "SELECT pg_try_advisory_xact_lock(1)", HZ_NONE },
		{ "SELECT pg_advisory_unlock(1)", HZ_NONE },
		{ "PREPARE q (int) AS SELECT $1", HZ_PREPARE },
		{ "EXECUTE q (1)", HZ_NONE },
		{ "PREPARE TRANSACTION 'x'", HZ_NONE },
		{ "CREATE TEMP TABLE t (x int)", HZ_TEMP_TABLE },
		{ "CREATE TEMPORARY TABLE t AS SELECT 1", HZ_TEMP_TABLE },
		{ "create local temp table t (x int)", HZ_TEMP_TABLE },
		{ "CREATE TEMP TABLE t (x int) ON COMMIT DROP", HZ_NONE },
		{ "CREATE TABLE t (x int)", HZ_NONE },
		{ "DECLARE c CURSOR WITH HOLD FOR SELECT 1", HZ_HOLD_CURSOR },
		{ "DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT 1", HZ_HOLD_CURSOR },
		{ "DECLARE c CURSOR FOR SELECT 1", HZ_NONE },
		{ "DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", HZ_NONE },
		{ "SELECT * FROM t WHERE x = 1", HZ_NONE },
	};
	struct hz_table t;
	const struct hz_entry **v;
	bool is_new;

	tap_begin();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum hz_kind k = classify(cases[i].sql);
		tap_ok(k == cases[i].want, "%s -> %s (got %s)", cases[i].sql, hz_kind_name(cases[i].want), hz_kind_name(k));
	}
	tap_ok(hz_table_init(&t, 2), "table");
	tap_ok(hz_record(&t, HZ_SET, 1, "db", "app", "set x = $1", 10, &is_new) && is_new, "new row");
	tap_ok(hz_record(&t, HZ_SET, 1, "db", "app", "set x = $1", 20, &is_new) && !is_new && t.e[0].count == 2 &&
		       t.e[0].first_seen == 10 && t.e[0].last_seen == 20,
	       "counted per (kind, db, app, fingerprint)");
	tap_ok(hz_record(&t, HZ_SET, 1, "db", "other", NULL, 30, &is_new) && is_new, "another application: another row");
	tap_ok(!hz_record(&t, HZ_LISTEN, 2, "db", "app", NULL, 40, &is_new) && t.dropped == 1, "bounded");
	tap_ok(hz_sorted(&t, &v) == 2 && strcmp(v[0]->app, "other") == 0, "newest first");
	free(v);
	hz_table_free(&t);
	return tap_end();
}
