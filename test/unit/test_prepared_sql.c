/*
 * Unit tests for prepared_sql: how pgsift reads SQL-level PREPARE,
 * EXECUTE, DEALLOCATE and DISCARD ALL, and texts naming its internal
 * statements. Each text is an exactly sized heap copy without a NUL, so a
 * read past its end is caught under AddressSanitizer.
 */
#include "pooler/prepared_sql.h"

#include <stdio.h>
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

static enum ps_sql_cmd cmd_of(const char *s, char *name, size_t namelen)
{
	size_t n;
	char *p = copy(s, &n);
	enum ps_sql_cmd c = ps_sql_first_cmd(p, n, name, namelen);
	free(p);
	return c;
}

static void is_cmd(const char *s, enum ps_sql_cmd want, const char *want_name)
{
	char name[64] = "", shown[128];
	enum ps_sql_cmd got = cmd_of(s, name, sizeof(name));
	size_t k = 0;
	for (; s[k] && k + 1 < sizeof(shown); k++)
		shown[k] = (unsigned char)s[k] < 0x20 ? ' ' : s[k]; /* one TAP line */
	shown[k] = 0;
	if (want_name)
		ok(got == want && strcmp(name, want_name) == 0, "%s -> %d (%s)", shown, (int)want, want_name);
	else
		ok(got == want, "%s -> %d", shown, (int)want);
	if (got != want)
		tap_diag("got %d, name \"%s\"", (int)got, name);
}

static bool has_prepare(const char *s)
{
	size_t n;
	char *p = copy(s, &n);
	bool r = ps_sql_has_prepare(p, n);
	free(p);
	return r;
}

/* fn on an exactly sized copy of s */
static bool on_copy(bool (*fn)(const uint8_t *, size_t), const char *s)
{
	size_t n;
	char *p = copy(s, &n);
	bool r = fn((const uint8_t *)p, n);
	free(p);
	return r;
}

#define refused(s) on_copy(ps_sql_internal_refused, (s))
#define mentions(s) on_copy(ps_sql_mentions_internal, (s))

static void first_command(void)
{
	is_cmd("PREPARE q AS SELECT 1", PS_SQL_PREPARE, NULL);
	is_cmd("  prepare q(int) as select $1", PS_SQL_PREPARE, NULL);
	is_cmd("EXECUTE q(1)", PS_SQL_PREPARE, NULL);
	is_cmd("/* app */ -- note\n execute q", PS_SQL_PREPARE, NULL);
	is_cmd("\v\f\r\tDEALLOCATE\vq", PS_SQL_DEALLOCATE, "q"); /* every blank PostgreSQL knows */
	is_cmd("/* outer /* nested */ still */ PREPARE q AS SELECT 1", PS_SQL_PREPARE, NULL);
	is_cmd("PREPARE TRANSACTION 'gid'", PS_SQL_OTHER, NULL);
	is_cmd("prepare  transaction 'gid'", PS_SQL_OTHER, NULL);
	is_cmd("EXECUTE", PS_SQL_PREPARE, NULL); /* PostgreSQL reports the syntax error */
	is_cmd("EXPLAIN EXECUTE q", PS_SQL_OTHER, NULL);
	is_cmd("preparex q", PS_SQL_OTHER, NULL);
	is_cmd("DEALLOCATE q", PS_SQL_DEALLOCATE, "q");
	is_cmd("deallocate Q;", PS_SQL_DEALLOCATE, "q");
	is_cmd("DEALLOCATE PREPARE q ; ", PS_SQL_DEALLOCATE, "q");
	is_cmd("DEALLOCATE \"Mixed\"\"Q\"", PS_SQL_DEALLOCATE, "Mixed\"Q");
	is_cmd("DEALLOCATE \"all\"", PS_SQL_DEALLOCATE, "all");
	is_cmd("DEALLOCATE ALL", PS_SQL_DEALLOCATE_ALL, NULL);
	is_cmd("deallocate prepare all;", PS_SQL_DEALLOCATE_ALL, NULL);
	is_cmd("DEALLOCATE q; SELECT 1", PS_SQL_OTHER, NULL);
	is_cmd("DEALLOCATE", PS_SQL_OTHER, NULL);
	is_cmd("DEALLOCATE \"unterminated", PS_SQL_OTHER, NULL);
	is_cmd("DISCARD ALL", PS_SQL_DISCARD_ALL, NULL);
	is_cmd("discard all ;", PS_SQL_DISCARD_ALL, NULL);
	is_cmd("DISCARD PLANS", PS_SQL_OTHER, NULL);
	is_cmd("DISCARD ALL; SELECT 1", PS_SQL_OTHER, NULL);
	is_cmd("SELECT 1", PS_SQL_OTHER, NULL);
	is_cmd("", PS_SQL_OTHER, NULL);
	is_cmd("   ", PS_SQL_OTHER, NULL);
	is_cmd("/* never closed", PS_SQL_OTHER, NULL);
	is_cmd("-- only a comment", PS_SQL_OTHER, NULL);

	/* a name longer than the caller's buffer is not taken over */
	char small[4];
	ok(cmd_of("DEALLOCATE abcdef", small, sizeof(small)) == PS_SQL_OTHER, "a name longer than the buffer: other");
	ok(cmd_of("DEALLOCATE abc", small, sizeof(small)) == PS_SQL_DEALLOCATE && strcmp(small, "abc") == 0,
	   "a name that fits the buffer exactly");
}

static void later_statements(void)
{
	ok(!has_prepare("SELECT 1"), "one statement: no later PREPARE");
	ok(!has_prepare("PREPARE q AS SELECT 1;"), "one statement and a ';': first_cmd's business");
	ok(has_prepare("SELECT 1; PREPARE q AS SELECT 2"), "PREPARE after another statement");
	ok(has_prepare("BEGIN; execute q(1); COMMIT"), "EXECUTE in the middle");
	ok(!has_prepare("SELECT 'a;b'; SELECT 2"), "a ';' inside a string does not start a statement");
	ok(!has_prepare("SELECT 1; SELECT 'PREPARE q'"), "PREPARE inside a string is not a statement");
	ok(!has_prepare("SELECT 1; PREPARE TRANSACTION 'g'"), "PREPARE TRANSACTION later is not SQL PREPARE");
	ok(!has_prepare("SELECT 1; /* PREPARE */ SELECT 2"), "PREPARE inside a comment is not a statement");
}

static void internal_names(void)
{
	ok(mentions("EXECUTE pgsift_1"), "pgsift_ mentioned");
	ok(mentions("execute PGSIFT_12(1)"), "any case");
	ok(mentions("select 1 -- pgsift_"), "even in a comment (the check is deliberately coarse)");
	ok(!mentions("select pgsift"), "no underscore: not the prefix");
	ok(!mentions("select _x from t"), "an underscore at the start");
	ok(!mentions("select sift_1"), "a shorter prefix");
	ok(mentions("pgsift_1"), "at the very start");
	ok(mentions("select a_b, c_d, PgSiFt_7 from t_u"), "among other underscores, mixed case");
	ok(!mentions("select pgsifu_1, pgsjft_2, pgsift"), "one letter off, or no underscore");
	ok(!mentions("select \x50\x47\x53\x49\x46\x54x_"), "the letters must come right before '_'");
	ok(!mentions("pgsif_"), "shorter than the prefix");
	ok(refused("EXECUTE pgsift_1"), "EXECUTE of an internal statement refused");
	ok(refused("deallocate PGSIFT_3"), "DEALLOCATE of one refused");
	ok(refused("CREATE TABLE t AS EXECUTE pgsift_2"), "inside CREATE TABLE AS");
	ok(refused("EXPLAIN EXECUTE pgsift_2"), "inside EXPLAIN");
	ok(!refused("SELECT * FROM pgsift_stats"), "a table named pgsift_*: allowed");
	ok(!refused("EXECUTE my_stmt"), "EXECUTE of another name: not refused here");
}

/* ps_sql_plain() on an exactly sized copy of s[0..n) (NULs allowed) */
static bool plain_of(const char *s, size_t n, size_t *len)
{
	char *p = malloc(n ? n : 1);
	if (!p)
		exit(2);
	memcpy(p, s, n);
	bool r = ps_sql_plain(p, n, len);
	free(p);
	return r;
}

/* The one-pass check never says plain where the three checks it stands for
 * say anything, and measures the text as strnlen() does: over the corpus,
 * each statement also with a ';' and more, "pgsift_", a NUL and PREPARE
 * put in at every place. */
static void plain_property(void)
{
	static const char *ins[] = { ";", "; ", ";select 1", "pgsift_", "PgSift_", "\0", "prepare ", "execute ",
				     " ;", "a_", "_", "--", "/*x*/", "Deallocate ", "discard all;", "pr", "ex", "dea" };
	const char *srcdir = getenv("srcdir");
	char path[1024], line[2048], buf[4200];
	FILE *f;
	int checked = 0, bad = 0, plain = 0;

	snprintf(path, sizeof(path), "%s/test/corpus/corpus.sql", srcdir ? srcdir : ".");
	if (!(f = fopen(path, "rb"))) {
		ok(0, "plain: reads %s", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n");
		for (size_t at = 0; at <= n; at += 1 + at / 4) {
			for (size_t k = 0; k < sizeof(ins) / sizeof(ins[0]); k++) {
				size_t il = k == 5 ? 1 : strlen(ins[k]), m = n + il, len, real;
				char name[64];
				memcpy(buf, line, at);
				memcpy(buf + at, ins[k], il);
				memcpy(buf + at + il, line + at, n - at);
				checked++;
				real = strnlen(buf, m);
				if (!plain_of(buf, m, &len)) {
					bad += len != real;
					continue;
				}
				plain++;
				if (len != real || ps_sql_first_cmd(buf, len, name, sizeof(name)) != PS_SQL_OTHER ||
				    ps_sql_has_prepare(buf, len) || ps_sql_internal_refused((const uint8_t *)buf, len) ||
				    ps_sql_mentions_internal((const uint8_t *)buf, len)) {
					if (bad++ < 5)
						tap_diag("plain but not: %.*s", (int)m, buf);
				}
			}
		}
	}
	fclose(f);
	ok(bad == 0 && plain > 1000, "plain: never where PREPARE, DEALLOCATE, DISCARD, a second statement or "
				    "pgsift_ is (%d texts, %d plain)", checked, plain);
	size_t len;
	ok(plain_of("SELECT 1;  \n", 12, &len) && len == 12, "plain: a trailing ';' and blanks");
	ok(!plain_of("SELECT 1; SELECT 2", 18, &len) && len == 18, "plain: not two statements");
	ok(!plain_of("SELECT a_b, pgsift_1 FROM t", 27, &len), "plain: not with pgsift_");
	ok(plain_of("SELECT 1\0;garbage", 17, &len) && len == 8, "plain: the text ends at a NUL");
	ok(!plain_of("  execute q", 11, &len) && !plain_of("Deallocate all", 14, &len) &&
	   !plain_of("DISCARD ALL", 11, &len) && !plain_of("Prepare q as select 1", 21, &len) &&
	   !plain_of("/* c */ select 1", 16, &len), "plain: not past a comment, nor what may be PREPARE, EXECUTE, DEALLOCATE, DISCARD");
	ok(plain_of("END;", 4, &len) && plain_of("delete from t", 13, &len) && plain_of("DROP TABLE t", 12, &len),
	   "plain: END, DELETE, DROP are");
}

int main(void)
{
	tap_begin();
	first_command();
	later_statements();
	internal_names();
	plain_property();
	return tap_end();
}
