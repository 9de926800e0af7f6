/*
 * Unit tests for session_sql: which statements change session state that
 * transaction pooling carries (SET, RESET, set_config, DISCARD ALL), which
 * leave state pgsift does not replay, and the statement splitter. Each text
 * is an exactly sized heap copy without a NUL, so a read past its end is
 * caught under AddressSanitizer.
 */
#include "pooler/session_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static char *copy(const char *s, size_t *n)
{
	*n = strlen(s);
	char *p = malloc(*n ? *n : 1);
	if (!p)
		exit(2);
	memcpy(p, s, *n);
	return p;
}

static void is_stmt(const char *s, enum ss_kind kind, const char *name, const char *value)
{
	size_t n;
	char *p = copy(s, &n);
	struct ss_stmt st;

	ss_sql_classify(p, n, &st);
	tap_ok(st.kind == kind && (!name || !strcmp(st.name, name)) && (!value || !strcmp(st.value, value)),
	       "%s -> kind %d name '%s' value '%s'", s, st.kind, st.name, st.value);
	free(p);
}

static void is_maybe(const char *s, bool want)
{
	size_t n;
	char *p = copy(s, &n);

	tap_ok(ss_sql_maybe(p, n) == want, "maybe(%s) is %d", s, want);
	free(p);
}

static void is_split(const char *s, int want)
{
	size_t n, pos = 0, off, len;
	char *p = copy(s, &n);
	int k = 0;

	while (ss_sql_next(p, n, &pos, &off, &len))
		k++;
	tap_ok(k == want, "%s splits into %d (got %d)", s, want, k);
	free(p);
}

int main(void)
{
	tap_begin();
	is_stmt("SET search_path = a, public", SS_SET, "search_path", "Sa, public");
	is_stmt("set Search_Path to \"$user\", public;", SS_SET, "search_path", "S\"$user\", public");
	is_stmt("SET SESSION myapp.tenant_id = 't1' ", SS_SET, "myapp.tenant_id", "S't1'");
	is_stmt("SET \"MyApp\".x = 1", SS_SET, "myapp.x", "S1");
	is_stmt("SET statement_timeout TO DEFAULT", SS_RESET, "statement_timeout", NULL);
	is_stmt("SET LOCAL work_mem = '8MB'", SS_NONE, NULL, NULL);
	is_stmt("SET TIME ZONE 'UTC'", SS_NONE, NULL, NULL);
	is_stmt("SET SCHEMA 'x'", SS_SET, "search_path", "S'x'");
	is_stmt("SET ROLE other", SS_DIRTY, NULL, NULL);
	is_stmt("SET SESSION AUTHORIZATION other", SS_DIRTY, NULL, NULL);
	is_stmt("SET work_mem = 1 -- comment", SS_DIRTY, NULL, NULL);
	is_stmt("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", SS_NONE, NULL, NULL);
	is_stmt("RESET work_mem", SS_RESET, "work_mem", NULL);
	is_stmt("reset all;", SS_RESET_ALL, NULL, NULL);
	is_stmt("RESET ROLE", SS_NONE, NULL, NULL);
	is_stmt("DISCARD ALL", SS_RESET_ALL, NULL, NULL);
	is_stmt("SELECT set_config('myapp.t', 'it''s', false)", SS_SET, "myapp.t", "Lit's");
	is_stmt("select pg_catalog.set_config('search_path', 'a, b', false) as sp;", SS_SET, "search_path", "La, b");
	is_stmt("SELECT set_config('myapp.t', 'x', true)", SS_NONE, NULL, NULL);
	is_stmt("SELECT set_config('myapp.t', $1, false)", SS_SET, "myapp.t", "P1");
	is_stmt("SELECT set_config('myapp.t', $12::text, false)", SS_SET, "myapp.t", "P12");
	is_stmt("SELECT set_config('myapp.t', $1::int, false)", SS_DIRTY, NULL, NULL);
	is_stmt("SELECT set_config($1, 'x', false)", SS_DIRTY, NULL, NULL);
	is_stmt("DO $$BEGIN SET search_path = a; END$$", SS_DIRTY, NULL, NULL);
	is_stmt("do language plpgsql $b$ begin execute 'set work_mem = 1'; end $b$", SS_DIRTY, NULL, NULL);
	is_stmt("DO $$BEGIN PERFORM 1; END$$", SS_NONE, NULL, NULL);
	is_stmt("SELECT pg_advisory_lock(1)", SS_DIRTY, NULL, NULL);
	is_stmt("SELECT pg_advisory_xact_lock(1)", SS_NONE, NULL, NULL);
	is_stmt("CREATE TEMP TABLE t (x int)", SS_DIRTY, NULL, NULL);
	is_stmt("CREATE TEMP TABLE t (x int) ON COMMIT DROP", SS_NONE, NULL, NULL);
	is_stmt("DECLARE c CURSOR WITH HOLD FOR SELECT 1", SS_DIRTY, NULL, NULL);
	is_stmt("LISTEN ch", SS_LISTEN, "ch", NULL);
	is_stmt("listen Chan_A;", SS_LISTEN, "chan_a", NULL);
	is_stmt("LISTEN \"Mixed \"\"Q\"\"\" -- c", SS_LISTEN, "Mixed \"Q\"", NULL);
	is_stmt("UNLISTEN Foo", SS_UNLISTEN, "foo", NULL);
	is_stmt("UNLISTEN *", SS_UNLISTEN_ALL, NULL, NULL);
	is_stmt("LISTEN a b", SS_DIRTY, NULL, NULL);
	is_stmt("LISTEN U&\"x\"", SS_DIRTY, NULL, NULL);
	is_stmt("UNLISTEN 1x", SS_NONE, NULL, NULL);
	is_stmt("LISTEN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", SS_LISTEN,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL);
	/* cut at 63 bytes, not inside a UTF-8 character (62 'a' then a 2-byte one) */
	is_stmt("LISTEN \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9" "b\"", SS_LISTEN,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL);
	is_stmt("PREPARE TRANSACTION 'x'", SS_NONE, NULL, NULL);
	is_stmt("PREPARE Q1(int) AS SELECT $1;", SS_PREPARE, "#q1", "RPREPARE Q1(int) AS SELECT $1");
	is_stmt("prepare \"Mixed \"\"x\"\"\" as select 1", SS_PREPARE, "#Mixed \"x\"", NULL);
	is_stmt("DEALLOCATE PREPARE q1", SS_DEALLOCATE, "#q1", NULL);
	is_stmt("deallocate \"Q1\"", SS_DEALLOCATE, "#Q1", NULL);
	is_stmt("DEALLOCATE ALL", SS_DEALLOCATE_ALL, NULL, NULL);
	is_stmt("SELECT 1", SS_NONE, NULL, NULL);

	is_maybe("SELECT abalance FROM pgbench_accounts WHERE aid = $1", false);
	is_maybe("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;", false);
	is_maybe("select set_config('a.b', 'c', false)", true);
	is_maybe("SET x = 1", true);
	is_maybe("UNLISTEN *", true);
	is_maybe("  listen x", true);
	is_maybe("UPDATE t SET x = 1", false);
	is_maybe("SETTINGS", false);
	is_maybe("select 1; select 2", true);
	is_maybe("select 1;  ", false);

	is_split("select 1; select ';'; select $$;$$; -- ;\n select 2 /* ; */", 4);
	is_split(" ; ;", 0);
	is_split("select E'\\';'; select 2", 2);
	return tap_end();
}
