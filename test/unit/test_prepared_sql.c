/*
 * Unit tests for prepared_sql: how pgsift reads SQL-level PREPARE,
 * EXECUTE, DEALLOCATE and DISCARD ALL, and texts naming its internal
 * statements. Each text is an exactly sized heap copy without a NUL, so a
 * read past its end is caught under AddressSanitizer.
 */
#include "pooler/prepared_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	is_cmd("-- a comment ends at a carriage return\rPREPARE q AS SELECT 1", PS_SQL_PREPARE, NULL);

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
	ok(has_prepare("SELECT ';/*'; EXECUTE q"), "a ';' and a comment start inside a string hide nothing");
	ok(has_prepare("SELECT \"a;--\"; EXECUTE q"), "nor inside a quoted name");
}

static void internal_names(void)
{
	ok(mentions("EXECUTE pgsift_1"), "pgsift_ mentioned");
	ok(mentions("execute PGSIFT_12(1)"), "any case");
	ok(mentions("select 1 -- pgsift_"), "even in a comment (the check is deliberately coarse)");
	ok(!mentions("select pgsift"), "no underscore: not the prefix");
	ok(!mentions("select _x from t"), "an underscore at the start");
	ok(!mentions("select sift_1"), "a shorter prefix");
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
	/* the 16-byte steps of the scan: a ';', a '_' or a NUL at each place
	 * around the block edges, on exactly sized copies */
	int edges_bad = 0;
	for (size_t n = 8; n <= 40; n++) {
		char t[48];
		memset(t, 'x', sizeof(t));
		memcpy(t, "select ", 7);
		for (size_t at = 7; at < n; at++) {
			size_t l;
			t[at] = ';';
			edges_bad += plain_of(t, n, &l) != (at == n - 1) || l != n;
			t[at] = 0;
			edges_bad += !plain_of(t, n, &l) || l != at;
			memcpy(t + (at >= 13 ? at - 6 : 7), "pgsift", 6);
			t[at] = '_';
			edges_bad += plain_of(t, n, &l) == (at >= 13) || l != n;
			memset(t + 7, 'x', sizeof(t) - 7);
		}
	}
	ok(edges_bad == 0, "plain: ';', '_' and NUL found at every place around the scan's 16-byte steps");
}

/* ---- the same checks on a text in pieces (ps_scan) ---- */

/* What prepared.c decides on a whole text. */
static enum ps_scan_result whole_verdict(const char *p, size_t n)
{
	char name[64];
	enum ps_sql_cmd c;

	n = strnlen(p, n);
	if (ps_sql_internal_refused((const uint8_t *)p, n))
		return PS_SCAN_INTERNAL;
	c = ps_sql_first_cmd(p, n, name, sizeof(name));
	if (c == PS_SQL_PREPARE || (c == PS_SQL_OTHER && ps_sql_has_prepare(p, n)))
		return PS_SCAN_PREPARE;
	return PS_SCAN_OK;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* The text fed in pieces (step 0: random sizes), each piece an exactly
 * sized heap copy. */
static enum ps_scan_result pieces_verdict(const char *s, size_t n, size_t step)
{
	struct ps_scan sc;
	size_t i = 0;

	ps_scan_init(&sc);
	while (i < n) {
		size_t k = step ? step : 1 + rnd(n - i < 40 ? (uint32_t)(n - i) : 40);
		if (k > n - i)
			k = n - i;
		uint8_t *piece = malloc(k);
		if (!piece)
			exit(2);
		memcpy(piece, s + i, k);
		ps_scan_feed(&sc, piece, k);
		free(piece);
		i += k;
	}
	return ps_scan_result(&sc);
}

static void is_scan(const char *s, enum ps_scan_result want, const char *what)
{
	size_t n = strlen(s);
	enum ps_scan_result a = pieces_verdict(s, n, n ? n : 1), b = pieces_verdict(s, n, 1);

	ok(a == want && b == want && whole_verdict(s, n) == want, "in pieces: %s", what);
	if (a != want || b != want)
		tap_diag("whole piece %d, bytes %d, want %d", (int)a, (int)b, (int)want);
}

static void scan_cases(void)
{
	is_scan("SELECT 1", PS_SCAN_OK, "a plain query");
	is_scan("", PS_SCAN_OK, "nothing");
	is_scan("PREPARE q AS SELECT 1", PS_SCAN_PREPARE, "PREPARE first");
	is_scan("/* a */ -- b\n execute q", PS_SCAN_PREPARE, "EXECUTE after comments");
	is_scan("prepare", PS_SCAN_PREPARE, "PREPARE at the very end");
	is_scan("prepare transaction 'g'", PS_SCAN_OK, "PREPARE TRANSACTION");
	is_scan("select 1; prepare \"q\" as select 2", PS_SCAN_PREPARE, "PREPARE of a quoted name later");
	is_scan("select 1;execute q", PS_SCAN_PREPARE, "EXECUTE right after ';'");
	is_scan("select 'a;execute q'", PS_SCAN_OK, "';' inside a string");
	is_scan("select E'\\';execute q'", PS_SCAN_OK, "an escaped quote in an E'' string");
	is_scan("select 'it''s;' ; select 2", PS_SCAN_OK, "a doubled quote");
	is_scan("select $$;execute q$$", PS_SCAN_OK, "';' inside a dollar quote");
	is_scan("select $tag$ $x$ ; execute $tag$; select 1", PS_SCAN_OK, "another tag inside a dollar quote");
	is_scan("select $tag$ x $tag$; execute q", PS_SCAN_PREPARE, "after a dollar quote closes");
	is_scan("select $1; execute q", PS_SCAN_PREPARE, "a parameter is no dollar quote");
	is_scan("select a$b; execute q", PS_SCAN_PREPARE, "a name with $ is no dollar quote");
	is_scan("select \"x;execute\"", PS_SCAN_OK, "';' inside a quoted name");
	is_scan("select 1 /* ; execute /* nested */ ; */ ; select 2", PS_SCAN_OK, "';' in nested comments");
	is_scan("select 1 -- ; execute q\n", PS_SCAN_OK, "';' in a line comment");
	is_scan("select 1 - 2; select 3 / 4; executed", PS_SCAN_OK, "operators, a longer word");
	is_scan("EXECUTE pgsift_1", PS_SCAN_INTERNAL, "an internal name");
	is_scan("select 1; /* pgsift_3 */ select 'DeAlLoCaTe'", PS_SCAN_INTERNAL, "coarse, as on a whole text");
	is_scan("select pgsift_stats from t", PS_SCAN_OK, "a name that only starts like one");
	is_scan("select 1\0; execute q", PS_SCAN_OK, "the text ends at its NUL");
}

/* A random text from pieces that matter to the scanner. */
static size_t random_text(char *out, size_t cap)
{
	static const char *const tok[] = {
		"prepare", "PREPARE", "execute", "Execute", "transaction", "select", "e", "E", "x", "q", "1", "$1",
		";", ";", " ", "  ", "\n", "\t", "'", "''", "\\", "\"", "\"\"", "$$", "$a$", "$b$", "$", "a$",
		"--", "\r", "/*", "*/", "/", "*", "-", "pgsift_", "PGSIFT", "_", "deallocate", "(", ")", ",", "&", "U&",
	};
	size_t n = 0, k = 1 + rnd(24);

	for (size_t i = 0; i < k; i++) {
		const char *t = tok[rnd(sizeof(tok) / sizeof(tok[0]))];
		size_t l = strlen(t);
		if (n + l >= cap)
			break;
		memcpy(out + n, t, l);
		n += l;
	}
	out[n] = 0;
	return n;
}

static bool mentions_begin(const char *s)
{
	for (; *s; s++)
		if (strncasecmp(s, "begin", 5) == 0)
			return true;
	return false;
}

/* The scanner against the functions on the whole text: equal, except that
 * a BEGIN ATOMIC body may give more statements (never fewer). */
static int compare(const char *s, size_t n, const char **bad)
{
	enum ps_scan_result whole = whole_verdict(s, n);
	enum ps_scan_result got[3] = { pieces_verdict(s, n, n ? n : 1), pieces_verdict(s, n, 1),
				       pieces_verdict(s, n, 0) };
	for (int i = 0; i < 3; i++)
		if (got[i] != whole && !(mentions_begin(s) && whole == PS_SCAN_OK && got[i] == PS_SCAN_PREPARE)) {
			*bad = s;
			return 1;
		}
	return 0;
}

static void scan_random(void)
{
	char text[256], first[256] = "";
	const char *bad = NULL;
	int differ = 0, prepare = 0, internal = 0;

	for (int i = 0; i < 20000; i++) {
		size_t n = random_text(text, sizeof(text));
		if (compare(text, n, &bad) && !first[0])
			snprintf(first, sizeof(first), "%s", bad);
		differ += bad != NULL;
		bad = NULL;
		enum ps_scan_result w = whole_verdict(text, n);
		prepare += w == PS_SCAN_PREPARE;
		internal += w == PS_SCAN_INTERNAL;
	}
	ok(differ == 0, "20000 random texts: the scanner in pieces agrees with the whole-text checks (%d differ)",
	   differ);
	if (differ) {
		for (char *c = first; *c; c++)
			*c = *c == '\n' ? '~' : *c == '\r' ? '^' : *c == '\t' ? '`' : *c;
		tap_diag("first (newline ~, return ^, tab `): [%s]", first);
	}
	ok(prepare > 1000 && internal > 100, "the random texts cover both refusals (%d PREPARE, %d internal)",
	   prepare, internal);
}

/* Runs of consecutive lines of the fingerprint corpus, in random pieces. */
static void scan_corpus(void)
{
	const char *dir = getenv("srcdir");
	char path[512];
	FILE *f;
	static char buf[1 << 20];
	size_t len, lines[8192], nlines = 0;
	int runs = 0, differ = 0;
	const char *bad = NULL;

	snprintf(path, sizeof(path), "%s/test/corpus/corpus.sql", dir && *dir ? dir : ".");
	f = fopen(path, "rb");
	if (!f) {
		ok(false, "the corpus %s can be read", path);
		return;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	lines[nlines++] = 0;
	for (size_t i = 0; i < len && nlines < 8192; i++)
		if (buf[i] == '\n')
			lines[nlines++] = i + 1;
	for (size_t l = 0; l + 1 < nlines; l += 1 + rnd(3)) {
		size_t e = l + 1 + rnd(6);
		if (e > nlines - 1)
			e = nlines - 1;
		size_t n = lines[e] - lines[l];
		char *copy_ = malloc(n + 1);
		if (!copy_)
			exit(2);
		memcpy(copy_, buf + lines[l], n);
		copy_[n] = 0;
		if (compare(copy_, n, &bad) && differ++ == 0)
			tap_diag("first difference: [%.200s]", copy_);
		free(copy_);
		runs++;
	}
	ok(differ == 0 && runs > 500, "%d runs of corpus lines: the scanner agrees (%d differ)", runs, differ);
}

int main(void)
{
	tap_begin();
	first_command();
	later_statements();
	internal_names();
	plain_property();
	scan_cases();
	scan_random();
	scan_corpus();
	return tap_end();
}
