/*
 * Unit tests for src/analyzer/fingerprint.c and src/analyzer/fp_lex.c, TAP output. Exit 0
 * only if all pass.
 *
 *   test_fingerprint               run the tests
 *   test_fingerprint --bench FILE  print ns/statement over FILE's statements
 *                                  (a measurement, not a test; the
 *                                  comparison with libpg_query is
 *                                  test/oracle/run.sh --bench)
 *
 * Run it under ASan: every statement is fingerprinted from an exactly sized
 * heap block, and the partial-input tests copy every prefix of a set of
 * statements, so any read past the end is caught.
 *
 * Standalone: cc -std=gnu11 -Isrc test/unit/test_fingerprint.c
 *   src/analyzer/fingerprint.c src/analyzer/fp_lex.c -fsanitize=address,undefined
 */
#include "analyzer/fingerprint.h"
#include "analyzer/fp_lex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int ntest, nfail;
static struct fp_result R, R2;
static struct fp_result R3; /* for the invariants checked on every statement */
static int ninvariant, invariant_bad;

static void ok(int cond, const char *fmt, const char *name)
{
	ntest++;
	if (!cond)
		nfail++;
	printf("%sok %d - %s", cond ? "" : "not ", ntest, fmt);
	for (const char *c = name; *c; c++) /* one line per test, whatever the SQL */
		fputs(*c == '\n' ? "\\n" : *c == '\r' ? "\\r" : *c == '\t' ? "\\t" : (char[2]){*c, 0}, stdout);
	putchar('\n');
}

/* The invariants of every fingerprint: the hash-only path gives the same
 * hash, and so does the normalized text (unless it was cut). */
static void invariants(const char *copy, size_t n, const struct fp_result *r)
{
	ninvariant++;
	fp_compute(copy, n, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, &R3);
	int bad = R3.hash != r->hash || R3.nparams != r->nparams || R3.kind != r->kind;
	if (!(r->flags & (FP_TRUNCATED | FP_PARTIAL))) {
		fp_compute(r->text, r->text_len, FP_OPT_NO_TAG, &R3);
		bad |= R3.hash != r->hash;
	}
	if (bad && invariant_bad++ < 5)
		printf("# invariant broken for: %.*s\n#   text: %s\n", (int)n, copy, r->text);
}

/* Fingerprints a heap copy of exactly strlen(sql) bytes, no NUL after it. */
static void fpr(const char *sql, struct fp_result *r)
{
	size_t n = strlen(sql);
	char *copy = malloc(n ? n : 1);
	memcpy(copy, sql, n);
	fp_compute(copy, n, 0, r);
	invariants(copy, n, r);
	free(copy);
}

static void text_is(const char *sql, const char *want)
{
	fpr(sql, &R);
	int good = strcmp(R.text, want) == 0 && R.text_len == strlen(want);
	ok(good, "text: ", sql);
	if (!good)
		printf("#   got:  %s\n#   want: %s\n", R.text, want);
}

static void same(const char *a, const char *b)
{
	fpr(a, &R);
	fpr(b, &R2);
	ok(R.hash == R2.hash, "same: ", a);
	if (R.hash != R2.hash)
		printf("#   %s\n#   %s\n", R.text, R2.text);
}

static void differ(const char *a, const char *b)
{
	fpr(a, &R);
	fpr(b, &R2);
	ok(R.hash != R2.hash, "differ: ", a);
	if (R.hash == R2.hash)
		printf("#   vs %s\n", b);
}

static void lexical(void)
{
	/* whitespace, comments, case */
	same("SELECT a FROM t", "  select\n\tA\r\n  from   T  ");
	same("SELECT a FROM t", "SELECT -- c1\n a /* c2 */ FROM t -- end");
	same("SELECT a FROM t", "SELECT /* outer /* nested */ still comment */ a FROM t");
	text_is("SELECT a/*x*/FROM t", "select a from t");
	text_is("SELECT  Name , \"Name\" FROM \"My\"\"Table\"",
		"select name, \"Name\" from \"My\"\"Table\"");
	differ("SELECT name FROM t", "SELECT \"Name\" FROM t");
	same("SELECT \"users\".\"id\" FROM \"users\"", "SELECT users.id FROM users");
	differ("SELECT \"user\" FROM t", "SELECT user FROM t"); /* reserved stays apart */
	/* numbers */
	text_is("SELECT 1, 1.5, .5, 5., 1e10, 1.5E-3, 0x1F, 0o17, 0b101, 1_000_000",
		"select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10");
	text_is("SELECT 1..2", "select $1 .. $2");
	text_is("SELECT 123abc", "select $1 abc");
	/* strings of every form */
	text_is("SELECT 'it''s', E'a\\'b', B'101', X'ff', N'nat', U&'d\\0061t' UESCAPE '!'",
		"select $1, $2, $3, $4, $5, $6");
	text_is("SELECT 'a'\n  'b', 'c'", "select $1, $2");
	text_is("SELECT 'a' 'b'", "select $1 $2");
	text_is("SELECT E'\\\\', 'x'", "select $1, $2");
	text_is("SELECT U&\"d\\0061t\" FROM t", "select U&\"d\\0061t\" from t");
	/* dollar quotes and parameters */
	text_is("SELECT $$a;b$$, $fn$ $$ ; $fn$, $1, $23", "select $1, $2, $3, $4");
	same("SELECT $$x$$", "SELECT 'y'");
	same("SELECT a FROM t WHERE b = $1", "SELECT a FROM t WHERE b = 42");
	text_is("SELECT a$b FROM t$1", "select a$b from t$1");
	/* operators, punctuation, casts */
	text_is("SELECT a<>b, a!=b, a>=b, a->>'k', a#>>'{x}', a@>b, a||b FROM t",
		"select a <> b, a <> b, a >= b, a ->> $1, a #>> $2, a @> b, a || b from t");
	same("SELECT a FROM t WHERE a != 1", "SELECT a FROM t WHERE a <> 1");
	text_is("SELECT x::int, CAST(y AS text), z::timestamp with time zone FROM t",
		"select x::int, cast(y as text), z::timestamp with time zone from t");
	text_is("SELECT '{}'::jsonb, 1::int[]", "select $1::jsonb, $2::int[]");
	differ("SELECT 1::int", "SELECT 1::bigint");
	text_is("SELECT a[1], (b).c, f(x := 1, y => 2) FROM t",
		"select a[$1], (b).c, f(x := $2, y => $3) from t");
	/* unary minus belongs to the number; binary minus does not */
	text_is("SELECT -1, - 2.5, a-1, a - -1, (-3) FROM t",
		"select $1, $2, a - $3, a - $4, ($5) from t");
	text_is("SELECT CASE WHEN x THEN -1 ELSE -2 END, a=-1 FROM t",
		"select case when x then $1 else $2 end, a = $3 from t");
	text_is("SELECT -a, +1 FROM t", "select - a, + $1 from t");
	/* TRUE/FALSE are literals; NULL stays */
	same("SELECT * FROM t WHERE a = true", "SELECT * FROM t WHERE a = FALSE");
	same("SELECT * FROM t WHERE a = true", "SELECT * FROM t WHERE a = 5");
	differ("SELECT * FROM t WHERE a = NULL", "SELECT * FROM t WHERE a = 1");
	text_is("SELECT * FROM t WHERE a IS NULL AND b = true",
		"select * from t where a is null and b = $1");
	/* non-ASCII */
	text_is("SELECT 'héllo', ünïcode FROM tàble", "select $1, ünïcode from tàble");
	same("SELECT * FROM t WHERE name = '日本語'", "SELECT * FROM t WHERE name = 'x'");
}

static void collapse(void)
{
	same("SELECT * FROM t WHERE id IN (1)", "SELECT * FROM t WHERE id IN (1, 2, 3, 4, 5)");
	text_is("SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in ($1)");
	text_is("SELECT * FROM t WHERE id NOT IN ('a','b')", "select * from t where id not in ($1)");
	same("SELECT * FROM t WHERE id IN ($1, $2)", "SELECT * FROM t WHERE id IN (7)");
	same("SELECT * FROM t WHERE id IN ($1::int, $2::int)", "SELECT * FROM t WHERE id IN (1)");
	same("SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN ((5, 6))");
	text_is("SELECT * FROM t WHERE id IN (1, a)", "select * from t where id in ($1, a)");
	text_is("SELECT * FROM t WHERE id IN (1, 2+3)", "select * from t where id in ($1, $2 + $3)");
	text_is("SELECT * FROM t WHERE id IN (SELECT 1)", "select * from t where id in (select $1)");
	differ("SELECT * FROM t WHERE id IN (1, f(2))", "SELECT * FROM t WHERE id IN (1, f(2), f(3))");
	text_is("SELECT ARRAY[1, 2, 3], ARRAY[[1, 2], [3, 4]]", "select $1, $2");
	same("SELECT * FROM t WHERE a = ANY(ARRAY[1, 2])", "SELECT * FROM t WHERE a = ANY(ARRAY[9, 8, 7, 6])");
	same("SELECT * FROM t WHERE a = ANY(ARRAY[1, 2])", "SELECT * FROM t WHERE a = ANY($1)");
	text_is("SELECT ARRAY[a, 1], ARRAY(SELECT 1)", "select array[a, $1], array(select $2)");
	/* VALUES rows */
	text_is("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, NULL)", "insert into t(a, b) values ($1)");
	same("INSERT INTO t (a, b) VALUES (1, 2)", "INSERT INTO t (a, b) VALUES (1, 2), (3, 4), (5, 6)");
	same("INSERT INTO t (a, b) VALUES ($1, $2)", "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
	text_is("INSERT INTO t VALUES (1, now()), (2, now()), (3, 4)",
		"insert into t values ($1, now()), ($2)");
	same("INSERT INTO t VALUES (1, now())", "INSERT INTO t VALUES (1, now()), (2, now())");
	differ("INSERT INTO t VALUES (1, now())", "INSERT INTO t VALUES (1, now()), (2, 3)");
	text_is("INSERT INTO t VALUES (1), (2) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING id",
		"insert into t values ($1) on conflict (a) do update set b = excluded.b returning id");
	text_is("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s)",
		"select * from (values ($1)) as v(n, s)");
	text_is("INSERT INTO t VALUES (DEFAULT, 1)", "insert into t values ($1)");
	fpr("INSERT INTO t VALUES (1), (2)", &R);
	ok((R.flags & FP_COLLAPSED) && R.nparams == 1, "", "FP_COLLAPSED and one placeholder");
	/* EXECUTE arguments */
	same("EXECUTE p(1, 2, 3)", "EXECUTE q('x')");
}

static void names(void)
{
	same("SAVEPOINT sp_1", "SAVEPOINT \"sp 2\"");
	text_is("SAVEPOINT active_record_1", "savepoint _");
	same("RELEASE SAVEPOINT a", "RELEASE b");
	text_is("RELEASE a", "release savepoint _");
	same("ROLLBACK TO SAVEPOINT a", "ROLLBACK TO b");
	text_is("ROLLBACK WORK TO SAVEPOINT s1", "rollback to savepoint _");
	text_is("PREPARE stmt_17 (int, text) AS SELECT * FROM t WHERE a = $1",
		"prepare _(int, text) as select * from t where a = $1");
	text_is("PREPARE TRANSACTION 'gid-1'", "prepare transaction $1");
	same("EXECUTE s1", "EXECUTE s2");
	text_is("EXECUTE s1(1, 'a')", "execute _($1)");
	same("DEALLOCATE s1", "DEALLOCATE PREPARE s2");
	text_is("DEALLOCATE ALL", "deallocate all");
	text_is("DECLARE c_42 SCROLL CURSOR WITH HOLD FOR SELECT 1",
		"declare _ scroll cursor with hold for select $1");
	same("FETCH 10 FROM c1", "FETCH 500 FROM c2");
	text_is("FETCH FORWARD 5 IN \"Cur\"", "fetch forward $1 in _");
	text_is("FETCH NEXT c", "fetch next _");
	text_is("MOVE ABSOLUTE -1 IN c", "move absolute $1 in _");
	text_is("CLOSE c", "close _");
	text_is("CLOSE ALL", "close all");
	fpr("SAVEPOINT x", &R);
	ok(R.flags & FP_NAME_STRIPPED, "", "FP_NAME_STRIPPED set");
	/* synonyms and noise words the parser drops */
	same("COMMIT", "END");
	same("COMMIT WORK", "commit transaction");
	same("ROLLBACK", "ABORT");
	same("BEGIN", "BEGIN TRANSACTION");
	differ("BEGIN", "BEGIN ISOLATION LEVEL SERIALIZABLE");
	/* SET values */
	same("SET search_path = public", "SET search_path TO app, \"$user\", public");
	same("SET statement_timeout = 0", "SET statement_timeout TO '5s'");
	text_is("SET LOCAL lock_timeout = '1s'", "set local lock_timeout = $1");
	text_is("SET search_path = DEFAULT", "set search_path = default");
	same("SET SESSION statement_timeout = 5", "SET statement_timeout = 5");
	text_is("SET SESSION x = 1", "set session x = $1"); /* shown, not hashed */
	fpr("SET SESSION SESSION time x", &R); /* the text fingerprints alike (invariants) */
	text_is("SET SESSION TIME ZONE 'UTC'", "set session timezone = $1");
	same("SET SESSION TIME ZONE 'UTC'", "SET timezone TO 'Europe/Paris'");
	text_is("SELECT \x01, a \x02 b", "select ?, a ? b"); /* stray control bytes */
	differ("SET search_path = a", "SET statement_timeout = a");
	text_is("UPDATE t SET a = b", "update t set a = b");
	/* names that do not change per call stay */
	differ("LISTEN a", "LISTEN b");
	differ("SELECT * FROM a", "SELECT * FROM b");
}

static void kinds(void)
{
	static const struct {
		const char *sql;
		enum fp_kind kind;
	} k[] = {
		{"select 1", FP_KIND_SELECT}, {"(SELECT 1) UNION (SELECT 2)", FP_KIND_SELECT},
		{"VALUES (1)", FP_KIND_SELECT}, {"TABLE t", FP_KIND_SELECT},
		{"INSERT INTO t VALUES (1)", FP_KIND_INSERT}, {"update t set a=1", FP_KIND_UPDATE},
		{"DELETE FROM t", FP_KIND_DELETE}, {"MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", FP_KIND_MERGE},
		{"WITH x AS (SELECT 1) SELECT * FROM x", FP_KIND_WITH}, {"COPY t FROM STDIN", FP_KIND_COPY},
		{"CREATE TABLE t (a int)", FP_KIND_DDL}, {"DROP INDEX i", FP_KIND_DDL},
		{"BEGIN", FP_KIND_TXN}, {"END", FP_KIND_TXN}, {"SAVEPOINT a", FP_KIND_TXN},
		{"PREPARE TRANSACTION 'x'", FP_KIND_TXN}, {"SET x = 1", FP_KIND_SET},
		{"RESET ALL", FP_KIND_SET}, {"DISCARD ALL", FP_KIND_SET},
		{"PREPARE p AS SELECT 1", FP_KIND_PREPARED}, {"FETCH 1 FROM c", FP_KIND_CURSOR},
		{"LISTEN ch", FP_KIND_LISTEN}, {"EXPLAIN SELECT 1", FP_KIND_OTHER},
		{"/* only a comment */", FP_KIND_EMPTY}, {"", FP_KIND_EMPTY},
	};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
		fpr(k[i].sql, &R);
		ok(R.kind == k[i].kind, "kind: ", k[i].sql);
		if (R.kind != k[i].kind)
			printf("#   got %s\n", fp_kind_name(R.kind));
	}
}

static void tags(void)
{
	fpr("SELECT 1 /*controller='users',action='show%20all',route='%5Eapi%2Fv1%24',"
	    "framework='rails%3A7.1',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',"
	    "application='it\\'s'*/",
	    &R);
	ok(R.nkv == 6, "", "sqlcommenter: six pairs");
	const char *v = fp_tag_get(&R, "controller");
	ok(v && strcmp(v, "users") == 0, "", "sqlcommenter: controller");
	v = fp_tag_get(&R, "action");
	ok(v && strcmp(v, "show all") == 0, "", "sqlcommenter: URL-decoded value");
	v = fp_tag_get(&R, "route");
	ok(v && strcmp(v, "^api/v1$") == 0, "", "sqlcommenter: route");
	v = fp_tag_get(&R, "framework");
	ok(v && strcmp(v, "rails:7.1") == 0, "", "sqlcommenter: framework");
	v = fp_tag_get(&R, "traceparent");
	ok(v && strcmp(v, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == 0, "",
	   "sqlcommenter: traceparent");
	v = fp_tag_get(&R, "application");
	ok(v && strcmp(v, "it's") == 0, "", "sqlcommenter: \\' escape");
	ok(strncmp(R.tag, "controller='users'", 18) == 0, "", "tag keeps the raw comment text");
	same("SELECT 1 /*controller='users'*/", "SELECT 1");
	fpr("/* application:Shop,controller:orders,action:index */ SELECT * FROM orders", &R);
	v = fp_tag_get(&R, "action");
	ok(R.nkv == 3 && v && strcmp(v, "index") == 0, "", "marginalia key:value pairs");
	ok(strcmp(R.tag, "application:Shop,controller:orders,action:index") == 0, "", "tag trimmed");
	fpr("SELECT /* first */ 1 /* controller='x' */", &R);
	ok(strcmp(R.tag, "first") == 0 && R.nkv == 0, "", "only the first comment is the tag");
	fpr("SELECT 1 /*+ SeqScan(t) */", &R);
	ok(R.nkv == 0 && strcmp(R.tag, "+ SeqScan(t)") == 0, "", "a hint is a tag without pairs");
	fpr("SELECT 1 -- controller='x'", &R);
	ok(R.tag_len == 0, "", "a line comment is not a tag");
	char big[2048];
	strcpy(big, "SELECT 1 /* k='");
	memset(big + strlen(big), 'v', 600);
	strcpy(big + 15 + 600, "' */");
	fpr(big, &R);
	ok((R.flags & FP_TAG_TRUNCATED) && R.tag_len == FP_TAG_MAX - 1 &&
	       strlen(R.kv[0].value) == FP_VALUE_MAX - 1, "", "long tag and value are cut and flagged");
	fpr("SELECT 1 /*a='1',b='2',c='3',d='4',e='5',f='6',g='7',h='8',i='9'*/", &R);
	ok(R.nkv == FP_KV_MAX && (R.flags & FP_TAG_TRUNCATED), "", "at most FP_KV_MAX pairs");
}

static void partial_one(const char *sql)
{
	size_t n = strlen(sql);
	int good = 1;
	for (size_t k = 0; k <= n; k++) {
		char *copy = malloc(k ? k : 1);
		memcpy(copy, sql, k);
		fp_compute(copy, k, 0, &R);
		size_t pos = 0, off, len;
		while (fp_next_statement(copy, k, &pos, &off, &len))
			good &= off + len <= k;
		good &= R.text_len < FP_TEXT_MAX && R.text[R.text_len] == 0;
		free(copy);
	}
	ok(good, "every prefix: ", sql);
}

static void partial(void)
{
	static const char *const p[] = {
		"SELECT 'unterminated",  "SELECT E'esc\\", "SELECT \"ident", "SELECT /* open /* nested */",
		"SELECT $tag$ body $ta", "SELECT $1, $", "SELECT U&'x' UESCAPE '", "SELECT 0x", "SELECT 1e+",
		"INSERT INTO t VALUES (1, 2), (3", "SELECT ARRAY[1, [2", "SELECT a::int[",
		"SELECT * FROM t WHERE a IN (1, 2", "SELECT -- line", "SELECT a -", "SELECT 1.5e-3 FROM x",
		"SET x TO a, b", "FETCH NEXT FROM c", "EXECUTE p(1,",
	};
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
		partial_one(p[i]);
	fpr("SELECT 'abc", &R);
	ok((R.flags & FP_PARTIAL) && strcmp(R.text, "select $1") == 0, "", "unterminated string: partial");
	fpr("SELECT 1 /* x", &R);
	ok((R.flags & FP_PARTIAL) && strcmp(R.tag, "x") == 0, "", "unterminated comment: partial, tag kept");
	fpr("SELECT $a$ x", &R);
	ok(R.flags & FP_PARTIAL, "", "unterminated dollar quote: partial");
	fpr("SELECT \"x", &R);
	ok(R.flags & FP_PARTIAL, "", "unterminated identifier: partial");
	fpr("SELECT ((((1", &R);
	ok(!(R.flags & FP_PARTIAL) && strcmp(R.text, "select (((($1") == 0, "", "open parens: not partial");
	same("SELECT 1;", "SELECT 1");
	/* deep nesting beyond FP_DEPTH_MAX */
	char deep[1024];
	size_t k = 0;
	k += (size_t)sprintf(deep, "SELECT ");
	for (int i = 0; i < 200; i++)
		deep[k++] = '(';
	deep[k++] = '1';
	for (int i = 0; i < 200; i++)
		deep[k++] = ')';
	deep[k] = 0;
	partial_one(deep);
	fpr(deep, &R);
	uint64_t h = R.hash;
	deep[207] = '2';
	fpr(deep, &R);
	ok(R.hash == h, "", "deep nesting: literals still ignored, bounded scratch");
}

static void splitting(void)
{
	static const char *const text =
		"SELECT 1; ;  select 'a;b' ; /* c; */ SELECT $$;$$;\n"
		"-- trailing; comment\n"
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;"
		"SELECT \"x;\" /*tag*/ ;  ;";
	static const char *const want[] = {
		"SELECT 1", "select 'a;b'", "/* c; */ SELECT $$;$$",
		"-- trailing; comment\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
		"SELECT \"x;\" /*tag*/",
	};
	size_t pos = 0, off, len, i = 0, n = strlen(text);
	int good = 1;
	while (fp_next_statement(text, n, &pos, &off, &len)) {
		good &= i < 5 && len == strlen(want[i]) && memcmp(text + off, want[i], len) == 0;
		if (!good) {
			printf("#   statement %zu: %.*s\n", i, (int)len, text + off);
			break;
		}
		i++;
	}
	ok(good && i == 5 && pos == n, "", "split at top-level ';' only, empty statements skipped");
	pos = 0;
	ok(!fp_next_statement(" ; -- x\n ;", 10, &pos, &off, &len) && pos == 10, "",
	   "only empty statements: nothing");
	pos = 0;
	ok(fp_next_statement("SELECT 'a;", 10, &pos, &off, &len) && len == 10 && pos == 10, "",
	   "unterminated quote: rest is one statement");
	pos = 0;
	ok(fp_next_statement("SELECT (1; 2)", 13, &pos, &off, &len) && len == 9, "",
	   "parentheses do not hold ';'");
	static const char atomic[] =
		"CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END; SELECT 1";
	pos = 0;
	ok(fp_next_statement(atomic, strlen(atomic), &pos, &off, &len) &&
		   len == strlen(atomic) - strlen("; SELECT 1"), "",
	   "BEGIN ATOMIC ... CASE ... END ... END");
}

/* The statements fp_next_statement() finds in text, joined by "|" */
static const char *split_all(const char *text, size_t n)
{
	static char out[1024];
	size_t pos = 0, off, len, k = 0;
	out[0] = 0;
	while (fp_next_statement(text, n, &pos, &off, &len) && k + len + 2 < sizeof out) {
		k += (size_t)sprintf(out + k, "%s%.*s", k ? "|" : "", (int)len, text + off);
	}
	return pos == n ? out : "(did not end at len)";
}

/* What can hide a ';' from the splitter's fast path, and what it leaves to
 * the token lexer (E'' strings, dollar quotes, BEGIN), splits the same. */
static void splitting_quotes_and_comments(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"SELECT 'it''s;'; SELECT 2", "SELECT 'it''s;'|SELECT 2"},
		{"SELECT E'\\';' ; SELECT 2", "SELECT E'\\';'|SELECT 2"},
		{"SELECT e'a\\\\'; SELECT 2", "SELECT e'a\\\\'|SELECT 2"},
		{"SELECT \"a\"\";\" FROM t;SELECT 2", "SELECT \"a\"\";\" FROM t|SELECT 2"},
		{"SELECT 1 /* it's; /* nested; */ still; */ ; SELECT 2", "SELECT 1 /* it's; /* nested; */ still; */|SELECT 2"},
		{"SELECT 1 -- it's; \"x\nFROM t; SELECT 2", "SELECT 1 -- it's; \"x\nFROM t|SELECT 2"},
		{"SELECT 'a'\n';' ; SELECT 2", "SELECT 'a'\n';'|SELECT 2"},
		{"SELECT $1; SELECT a$2 FROM t; SELECT 3", "SELECT $1|SELECT a$2 FROM t|SELECT 3"},
		{"SELECT $x$ ; $y$ ; $x$; SELECT 2", "SELECT $x$ ; $y$ ; $x$|SELECT 2"},
		{"BEGIN; SELECT 1; COMMIT;", "BEGIN|SELECT 1|COMMIT"},
		{"/* lead; */ SELECT 1 ; /* alone; */ ; -- end;", "/* lead; */ SELECT 1"},
		{"SELECT 1 - -2 / 3; SELECT U&'d;' UESCAPE '!';", "SELECT 1 - -2 / 3|SELECT U&'d;' UESCAPE '!'"},
		{"SELECT 1; /* unterminated; ", "SELECT 1"},
		{"SELECT 1; 'unterminated; ", "SELECT 1|'unterminated;"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = split_all(cases[i].text, strlen(cases[i].text));
		ok(strcmp(got, cases[i].want) == 0, "split: ", cases[i].want);
		if (strcmp(got, cases[i].want) != 0)
			printf("#   got: %s\n", got);
	}
}

static void numbering_and_cap(void)
{
	fpr("SELECT $2, $1, 'a', 5 FROM t WHERE x IN (1, 2) AND y = ANY(ARRAY[3])", &R);
	ok(R.nparams == 6 && strcmp(R.text, "select $1, $2, $3, $4 from t where x in ($5) and y = any($6)") == 0,
	   "", "placeholders numbered $1..$n left to right");
	char buf[8192];
	size_t k = (size_t)sprintf(buf, "SELECT ");
	for (int i = 0; i < 600; i++)
		k += (size_t)sprintf(buf + k, "col_%d, ", i);
	strcpy(buf + k, "last_a FROM t");
	fpr(buf, &R);
	int good = (R.flags & FP_TRUNCATED) && R.text_len <= FP_TEXT_MAX - 1 && R.text_len > 900 &&
		   strlen(R.text) == R.text_len && R.text[R.text_len - 1] != ' ';
	ok(good, "", "display text capped at FP_TEXT_MAX - 1 at a token boundary, flagged");
	uint64_t h = R.hash;
	strcpy(buf + k, "last_b FROM t");
	fpr(buf, &R);
	ok(R.hash != h, "", "hash covers the statement past the display cap");
	fp_compute(buf, strlen(buf), FP_OPT_NO_TEXT, &R2);
	ok(R2.hash == R.hash && R2.text_len == 0 && !(R2.flags & FP_TRUNCATED), "",
	   "FP_OPT_NO_TEXT: same hash, no text");
	fpr("SELECT \"a\nb\" FROM t", &R);
	ok(strchr(R.text, '\n') == NULL, "", "text is one line");
	char hex[17];
	fp_hex(0x0123456789abcdefULL, hex);
	ok(strcmp(hex, "0123456789abcdef") == 0, "", "fp_hex");
}

static void aliases(void)
{
	/* a column alias (AS name in a select or RETURNING list) is not part
	 * of the shape, as in pg_stat_statements and libpg_query */
	same("SELECT a AS x, b AS \"Y\" FROM t", "SELECT a, b FROM t");
	same("SELECT count(*) AS n FROM t", "SELECT count(*) AS total FROM t");
	text_is("SELECT a AS X FROM t", "select a as x from t"); /* shown as written */
	same("INSERT INTO t VALUES (1) RETURNING id AS new_id", "INSERT INTO t VALUES (1) RETURNING id");
	same("UPDATE t SET a = 1 RETURNING a AS b, c", "UPDATE t SET a = 1 RETURNING a, c");
	same("SELECT 1 AS from", "SELECT 1"); /* any word is a label after AS */
	same("WITH q AS (SELECT a AS b FROM t) SELECT b AS c FROM q", "WITH q AS (SELECT a FROM t) SELECT b FROM q");
	same("SELECT (SELECT 1 AS one) AS sub", "SELECT (SELECT 1)");
	same("SELECT DISTINCT ON (a) a AS b FROM t", "SELECT DISTINCT ON (a) a FROM t");
	same("SELECT a AS b FROM t UNION ALL SELECT c AS d FROM u", "SELECT a FROM t UNION ALL SELECT c FROM u");
	same("CREATE TABLE t2 AS SELECT a AS b FROM t", "CREATE TABLE t2 AS SELECT a FROM t");
	/* what stays */
	differ("SELECT 1 AS", "SELECT 1");
	differ("SELECT a x FROM t", "SELECT a FROM t"); /* no AS: a lexer cannot tell */
	differ("SELECT CAST(a AS int) FROM t", "SELECT CAST(a AS bigint) FROM t");
	differ("SELECT * FROM t AS x", "SELECT * FROM t"); /* table aliases are used */
	differ("WITH q AS (SELECT 1) SELECT * FROM q", "WITH r AS (SELECT 1) SELECT * FROM r");
	differ("SELECT 1 FROM t WINDOW w AS (ORDER BY a)", "SELECT 1 FROM t WINDOW v AS (ORDER BY a)");
	differ("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY b");
}

static void temp_tables(void)
{
	same("CREATE TEMP TABLE tmp_ids_8731 (id bigint) ON COMMIT DROP",
	     "CREATE TEMP TABLE \"tmp 2\" (id bigint) ON COMMIT DROP");
	text_is("CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS x (id int)",
		"create local temporary table if not exists _(id int)");
	differ("CREATE TABLE a (id int)", "CREATE TABLE b (id int)");
	differ("CREATE UNLOGGED TABLE a (id int)", "CREATE UNLOGGED TABLE b (id int)");
	differ("CREATE TEMP VIEW a AS SELECT 1", "CREATE TEMP VIEW b AS SELECT 1");
}

/* The keyword table (generated, a perfect hash): every keyword is found in
 * any case, and near misses are not. */
static void keywords(void)
{
	int good = 1;
	for (unsigned i = 1; i <= KW_COUNT; i++) {
		const struct fp_kw *k = &fp_kw_ents[i];
		size_t n = strlen(k->word);
		char up[32];
		for (size_t j = 0; j <= n; j++)
			up[j] = (char)(k->word[j] >= 'a' && k->word[j] <= 'z' ? k->word[j] - 32 : k->word[j]);
		uint64_t first;
		fp_word_hash(up, n, up + n, &first);
		int found = n == k->n && fp_kw_lookup(up, n, first) == k->val && k->val != 0;
		if (n <= 7)
			found &= fp_kw_short(first) == k->val;
		if (!found)
			printf("#   keyword not found: %s\n", k->word);
		good &= found;
	}
	ok(good, "", "every keyword is found, in upper case too");
	static const char *const no[] = {"selects", "selec", "current_", "current_dat", "current_timestampz",
					 "current_timestamq", "currant_timestamp", "localtimestamps", "returnin",
					 "returningg", "a", "x", "tablesampl", "users", "pgbench_accounts"};
	good = 1;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		size_t n = strlen(no[i]);
		uint64_t first;
		fp_word_hash(no[i], n, no[i] + n, &first);
		good &= fp_kw_lookup(no[i], n, first) == 0 && (n > 7 || fp_kw_short(first) == 0);
	}
	ok(good, "", "words that are not keywords are not found");
}

/* Words and quoted identifiers of every length, where the lexer reads 8
 * or 16 bytes at a time: at the end of the input, a few bytes before it,
 * 16 bytes or more before it; in upper case; quoted. */
static void lengths(void)
{
	static const char *const tails[] = {"", "   ", "                    "};
	int good = 1;
	for (int n = 1; n <= 70 && good; n++) {
		char w[80], up[80], sql[200];
		for (int i = 0; i < n; i++) {
			w[i] = (char)('a' + (i * 7 + n) % 26);
			up[i] = (char)(w[i] - 32);
		}
		w[n] = up[n] = 0;
		uint64_t bare = 0, quoted = 0;
		for (int t = 0; t < 3; t++) {
			snprintf(sql, sizeof sql, "SELECT %s%s", t == 1 ? up : w, tails[t]);
			fpr(sql, &R);
			good &= t == 0 ? (bare = R.hash, 1) : R.hash == bare;
			snprintf(sql, sizeof sql, "SELECT \"%s\"%s", w, tails[t]);
			fpr(sql, &R);
			good &= t == 0 ? (quoted = R.hash, 1) : R.hash == quoted;
		}
		good &= (n <= 63) == (bare == quoted);
		if (!good)
			printf("#   length %d\n", n);
	}
	ok(good, "", "words and \"words\" of 1..70 bytes: case, position and quotes");
	same("SELECT \"Users\"", "SELECT \"Users\"                    ");
	differ("SELECT \"Users\"", "SELECT users");
	differ("SELECT \"select\"", "SELECT select");
	differ("SELECT \"select\" FROM a_long_table_name", "SELECT select FROM a_long_table_name");
	differ("SELECT \"a$b\"", "SELECT a$b");
	differ("SELECT \"current_timestamp\"", "SELECT current_timestamp"); /* reserved, 17 bytes */
	differ("SELECT \"current_user\" FROM a_long_table_name", "SELECT current_user FROM a_long_table_name");
	same("SELECT \"current_timestampx\"", "SELECT current_timestampx");
	same("SELECT \"naïve_col\"", "SELECT naïve_col");
	same("SELECT \"a\"\"b\" FROM a_long_table_name", "SELECT \"a\"\"b\" FROM a_long_table_name ");
	differ("SELECT \"a\"\"b\" FROM t", "SELECT \"ab\" FROM t");
	same("SELECT CURRENT_DATE FROM a_long_table_name", "SELECT current_date FROM a_long_table_name");
	fpr("SELECT \"unterminated FROM a_long_table_name", &R);
	ok(R.flags & FP_PARTIAL, "", "unterminated quoted identifier with a long tail: partial");
}

/* Fingerprints are stored and compared across releases: they must not
 * change unless the format version in V_SEED changes. One statement per
 * lexical form and per normalizer rule. */
static void stability(void)
{
	static const struct {
		const char *sql, *hex;
	} t[] = {
		{"SELECT 1", "51a90cd99403067f"},
		{"select abalance from pgbench_accounts where aid = $1", "bf51423ca6a0a69b"},
		{"UPDATE pgbench_accounts SET abalance = abalance + -7 WHERE aid = 42",
		 "0aec3973ccb24cea"},
		{"SELECT \"users\".* FROM \"users\" WHERE \"users\".\"id\" = $1 LIMIT $2",
		 "2d2219c0df7160a9"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3) AND tags @> ARRAY['a'] ORDER BY created_at DESC LIMIT 10",
		 "5fbd17c518b3adf5"},
		{"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b RETURNING id",
		 "b53163684ab0ebb5"},
		{"INSERT INTO t VALUES (1, now()), (2, now()), (3, 4)", "c2bb2a2a6a97a9f1"},
		{"WITH x AS (SELECT id, row_number() OVER (PARTITION BY k ORDER BY v) AS rn FROM t) SELECT * FROM x WHERE rn = 1",
		 "9caf0f4df1b6fbaa"},
		{"SELECT * FROM t WHERE a = ANY(ARRAY[1, 2, 3]) AND (b, c) IN ((1, 2), (3, 4))",
		 "c1104889bdeb340a"},
		{"SELECT payload->>'k', '{}'::jsonb, E'\\n', $$body$$, 0x1F, 1.5e3 FROM events WHERE x IS NULL",
		 "2310d6abead4a092"},
		{"SELECT 'it''s', B'101', X'ff', N'nat', U&'d\\0061t' UESCAPE '!', 'a'\n'b', $tag$ $$ $tag$",
		 "a45c11cdbbc49fed"},
		{"SELECT 1, 1.5, .5, 5., 1e10, 1.5E-3, 0o17, 0b101, 1_000_000, - 2, TRUE, false, NULL",
		 "0a01fd02b3dcbc75"},
		{"/* controller='users' */ SELECT -- line\n a /* b /* nested */ */ FROM t",
		 "e3a0b0fa98dfcdc1"},
		{"SELECT \"Name\", \"select\", \"a\"\"b\", U&\"d\\0061t\", naïve FROM \"My Table\"",
		 "7744218789fca15a"},
		{"SELECT a <> b, a != c, a >= b, a #>> '{x}', a @> b, a || b, a::int[], f(x => 1, y := 2) FROM t",
		 "bc041a3c029a36ca"},
		{"SELECT CAST(y AS text), z::timestamp with time zone, interval '1 day', t.a[1:2], 1..2 FROM t",
		 "669d7f0b7992b38e"},
		{"SELECT current_timestamp, a_very_long_column_name_here FROM pgbench_accounts",
		 "648b3ee98a1d651d"},
		{"SELECT a AS x, count(*) AS n FROM t GROUP BY a HAVING count(*) > 1",
		 "7e14821d1014d20e"},
		{"SAVEPOINT active_record_1", "2ec7bd260aeaa4ae"},
		{"RELEASE SAVEPOINT s1", "fe57dd5a5cbe86ce"},
		{"ROLLBACK TO SAVEPOINT s1", "cd47d4eb7b8f3868"},
		{"PREPARE q1 (int) AS SELECT * FROM t WHERE a = $1", "de1d0163c1ec6ff0"},
		{"EXECUTE q1(42, 'x')", "fdd81b14a152337c"},
		{"DEALLOCATE q1", "2f81ff972bf83a2a"},
		{"DECLARE c1 CURSOR WITH HOLD FOR SELECT * FROM t", "e5859c701225adc3"},
		{"FETCH FORWARD 100 FROM c1", "999ceb7635d5f547"},
		{"SET search_path TO app, public", "4cd79545e3ab007f"},
		{"SET TIME ZONE 'UTC'", "7dc04d7af05a22d1"},
		{"BEGIN ISOLATION LEVEL SERIALIZABLE", "48414897b1a4cedf"},
		{"END", "36eb301290c23405"},
		{"CREATE INDEX CONCURRENTLY i ON t USING btree (lower(email))", "a20bb970df86853e"},
		{"CREATE TEMP TABLE tmp_ids_1 (id bigint) ON COMMIT DROP", "96566e342e3a4137"},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$ SELECT 1 $fn$",
		 "df7a70816695ef3e"},
		{"NOTIFY ch, 'payload'", "419317a434e81576"},
		{"SELECT 'héllo', ünïcode FROM tàble WHERE x = U&'\\00e9'", "f99a70594a9b3db0"},
		{"SELECT 1; SELECT 2;", "7984ed189babf643"},
		{"SELECT 'unterminated", "51a90cd99403067f"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char hex[17];
		fpr(t[i].sql, &R);
		fp_hex(R.hash, hex);
		ok(strcmp(hex, t[i].hex) == 0, "stable: ", t[i].sql);
		if (strcmp(hex, t[i].hex) != 0)
			printf("#   got %s want %s\n", hex, t[i].hex);
	}
}

static int bench(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	static char buf[16 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	static size_t offs[100000], lens[100000];
	size_t pos = 0, cnt = 0, bytes = 0;
	while (cnt < 100000 && fp_next_statement(buf, n, &pos, &offs[cnt], &lens[cnt]))
		bytes += lens[cnt++];
	uint64_t sink = 0;
	int rounds = 100;
	for (int opt = 0; opt < 2; opt++) {
		unsigned o = opt ? FP_OPT_NO_TEXT | FP_OPT_NO_TAG : 0;
		double best = 1e18;
		for (int trial = 0; trial < 7; trial++) { /* the best of 7: the machine is shared */
			struct timespec a, b;
			clock_gettime(CLOCK_MONOTONIC, &a);
			for (int r = 0; r < rounds; r++)
				for (size_t i = 0; i < cnt; i++) {
					fp_compute(buf + offs[i], lens[i], o, &R);
					sink += R.hash;
				}
			clock_gettime(CLOCK_MONOTONIC, &b);
			double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
				    ((double)rounds * (double)cnt);
			best = ns < best ? ns : best;
		}
		printf("%s: %zu statements, mean %.0f bytes: %.1f ns/statement, %.0f MB/s (sink %llx)\n",
		       opt ? "hash only (FP_OPT_NO_TEXT|FP_OPT_NO_TAG)" : "full (text + tag)", cnt,
		       (double)bytes / (double)cnt, best, (double)bytes / (double)cnt / best * 1e3,
		       (unsigned long long)(sink & 0xf));
	}
	return 0;
}

/* ---- fp_skel_key() ---- */

/* fp_skel_key() of a heap copy of exactly strlen(sql) bytes */
static bool skel(const char *sql, uint64_t *key, uint64_t *lits)
{
	size_t n = strlen(sql);
	char *copy = malloc(n ? n : 1);
	memcpy(copy, sql, n);
	bool took = fp_skel_key(copy, n, key, lits, NULL);
	free(copy);
	return took;
}

static void skel_same(const char *a, const char *b)
{
	uint64_t ka, kb, la, lb;
	bool ta = skel(a, &ka, &la), tb = skel(b, &kb, &lb);
	ok(ta && tb && ka == kb && la != lb, "skeleton: same key, other values: ", a);
	fpr(a, &R);
	fpr(b, &R2);
	ok(R.hash == R2.hash, "skeleton: and the same fingerprint: ", b);
}

static void skel_differ(const char *a, const char *b)
{
	uint64_t ka, kb, la, lb;
	bool ta = skel(a, &ka, &la), tb = skel(b, &kb, &lb);
	ok(ta && tb && ka != kb, "skeleton: other keys: ", b);
}

/* fp_skel_same() on a few pairs, both ways round */
static void skel_same_exact(void)
{
	static const struct {
		const char *a, *b;
		bool same;
	} t[] = {
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = 12345", true},
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = 1", true},
		{"SELECT * FROM t WHERE a = 'x' AND b = 2", "SELECT * FROM t WHERE a = 'it''s' AND b = 30", true},
		{"SELECT 'a'5", "SELECT 'bb'77", true},
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = 1 ", false},
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = 1x", false},
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = 1.5", false},
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = '1'", false},
		{"SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = ", false},
		{"SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x", false},
		{"SELECT 1", "SELECT", false},
	};
	static struct fp_lits at;
	uint64_t k, l, l2;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool took = fp_skel_key(t[i].a, strlen(t[i].a), &k, &l, &at);
		ok(took && fp_skel_same(t[i].a, strlen(t[i].a), &at, t[i].b, strlen(t[i].b), &l2) == t[i].same,
		   t[i].same ? "fp_skel_same(): the same: " : "fp_skel_same(): not the same: ", t[i].b);
	}
}

/* fp_skel_same() on every gap length 1..80 before a literal and 0..80
 * after it, equal and with one byte changed at each position, in memory
 * that ends with the text (heap, so ASan sees a read past it) */
static void skel_same_gaps(void)
{
	static struct fp_lits at;
	int bad = 0, checked = 0;

	for (size_t g1 = 0; g1 <= 80; g1++)
		for (size_t g2 = 0; g2 <= 80; g2 += g1 % 7 + 1) {
			size_t n = g1 + 2 + 1 + g2;
			char *a = malloc(n), *b = malloc(n);
			uint64_t k, l, l2;
			for (size_t i = 0; i < n; i++)
				a[i] = (char)('a' + i % 26);
			/* " 7 " (a literal between blanks) after g1 bytes */
			a[g1] = ' ';
			a[g1 + 1] = '7';
			a[g1 + 2] = ' ';
			if (g1 == 0 || !fp_skel_key(a, n, &k, &l, &at)) {
				free(a);
				free(b);
				continue;
			}
			memcpy(b, a, n);
			b[g1 + 1] = '9';
			checked++;
			if (!fp_skel_same(a, n, &at, b, n, &l2) && bad++ < 3)
				printf("# gaps %zu, %zu: not the same\n", g1, g2);
			for (size_t i = 0; i < n; i++) {
				if (i == g1 + 1)
					continue;
				memcpy(b, a, n);
				b[i] = '#';
				if (fp_skel_same(a, n, &at, b, n, &l2) && bad++ < 3)
					printf("# gaps %zu, %zu: byte %zu differs, found the same\n", g1, g2, i);
			}
			free(a);
			free(b);
		}
	ok(bad == 0 && checked > 1000, "fp_skel_same(): gap lengths 1..80 and 0..80, every byte changed in turn",
	   "");
}

static void skel_refused(const char *sql)
{
	uint64_t k, l;
	ok(!skel(sql, &k, &l), "skeleton: not taken: ", sql);
}

/* A reproducible generator for the property test */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Texts that share a key fingerprint the same: every statement of the
 * file, mutated at random (a byte replaced, inserted or deleted, mostly
 * digits), compared with the original whenever the two keys are equal. */
static void skel_property(const char *path)
{
	static const char bytes[] = "0123456789012345678901234567890123456789 'x_$.e\"-/*";
	FILE *f = fopen(path, "rb");
	char line[4096], mut[4200];
	uint64_t k0, l0, k1, l1, l2;
	int pairs = 0, bad = 0, stmts = 0, same_bad = 0;
	static struct fp_lits at;

	if (!f) {
		ok(0, "skeleton: property test reads ", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n");
		line[n] = 0;
		if (n == 0 || !skel(line, &k0, &l0) || !fp_skel_key(line, n, &k0, &l0, &at))
			continue;
		stmts++;
		fp_compute(line, n, FP_OPT_NO_TEXT, &R);
		for (int t = 0; t < 60; t++) {
			size_t m = n, p = rnd((uint32_t)n);
			memcpy(mut, line, n + 1);
			switch (rnd(3)) {
			case 0:
				mut[p] = bytes[rnd(sizeof(bytes) - 1)];
				break;
			case 1:
				memmove(mut + p + 1, mut + p, n - p + 1);
				mut[p] = bytes[rnd(sizeof(bytes) - 1)];
				m++;
				break;
			default:
				memmove(mut + p, mut + p + 1, n - p);
				m--;
				break;
			}
			/* fp_skel_same(): exactly the texts with the key of line,
			 * the same literal hash as fp_skel_key(), the same prefix */
			bool took = skel(mut, &k1, &l1), same = fp_skel_same(line, n, &at, mut, m, &l2);
			if (same != (took && k1 == k0) || (same && (l2 != l1 || fp_skel_prefix(mut, m) != fp_skel_prefix(line, n)))) {
				if (same_bad++ < 5)
					printf("# fp_skel_same() says %d for:\n#   %s\n#   %s\n", same, line, mut);
			}
			if (!took || k1 != k0)
				continue;
			pairs++;
			fp_compute(mut, m, FP_OPT_NO_TEXT, &R2);
			if (R2.hash != R.hash || R2.kind != R.kind || R2.nparams != R.nparams || R2.flags != R.flags) {
				if (bad++ < 5)
					printf("# same key, other fingerprint:\n#   %s\n#   %s\n", line, mut);
			}
		}
	}
	fclose(f);
	printf("# skeleton property: %d statements taken, %d mutations with the same key\n", stmts, pairs);
	ok(bad == 0 && pairs > 1000, "skeleton: the same key is the same fingerprint, over ", path);
	ok(same_bad == 0, "skeleton: fp_skel_same() is fp_skel_key() without hashing, over ", path);
}

static void skeleton(void)
{
	const char *srcdir = getenv("srcdir");
	char path[1024];

	skel_same("SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
		  "SELECT abalance FROM pgbench_accounts WHERE aid = 9876543;");
	skel_same("UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 17",
		  "UPDATE pgbench_accounts SET abalance = abalance + -7 WHERE aid = 100000");
	skel_same("SELECT * FROM t WHERE name = 'bob' AND x IN (1, 2, 3)",
		  "SELECT * FROM t WHERE name = 'it''s /* no comment */ -- $$' AND x IN (40, 5, 600)");
	skel_same("INSERT INTO t (a, b) VALUES (1, ''), (2, 'y')", "INSERT INTO t (a, b) VALUES (3, 'zz'), (44, 'y\ny')");
	skel_same("SELECT \"col 1\", t2.a, $1 FROM t2 WHERE a = 'x'\n'y'",
		  "SELECT \"col 1\", t2.a, $1 FROM t2 WHERE a = ''\n'yy'");
	skel_same("SELECT \"it's\" FROM t LIMIT 5", "SELECT \"it's\" FROM t LIMIT 50");
	skel_same("SELECT a$1, 7 FROM t", "SELECT a$1, 8 FROM t");
	skel_same_exact();
	skel_same_gaps();
	skel_differ("SELECT * FROM t1 WHERE a = 1", "SELECT * FROM t2 WHERE a = 1");
	skel_differ("SELECT \"col 1\" FROM t", "SELECT \"col 2\" FROM t");
	skel_differ("SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a = '1'");
	skel_differ("SELECT * FROM t WHERE a = $1", "SELECT * FROM t WHERE a = $2");
	skel_differ("SELECT * FROM t WHERE a = 5", "SELECT * FROM t WHERE a = -5");
	skel_differ("SELECT * FROM t WHERE a = 5", "SELECT * FROM t WHERE a =  5");
	skel_differ("SELECT 12 FROM t", "SELECT 1 FROM t2");
	skel_differ("SELECT '' FROM t", "SELECT ''''");
	skel_refused("SELECT 1 -- a comment");
	skel_refused("/* controller='users' */ SELECT 1");
	skel_refused("SELECT $$body$$");
	skel_refused("SELECT $tag$ x $tag$");
	skel_refused("SELECT E'\\n'");
	skel_refused("SELECT B'101', 1");
	skel_refused("SELECT x'ff'");
	skel_refused("SELECT U&'d\\0061t'");
	skel_refused("SELECT U&\"x\"\nUESCAPE '!'");
	skel_refused("SELECT 1.5");
	skel_refused("SELECT 1e5");
	skel_refused("SELECT 0x1F");
	skel_refused("SELECT 1_000");
	skel_refused("SELECT 5abc");
	skel_refused("SELECT 'open");
	skel_refused("SELECT \"open");
	snprintf(path, sizeof(path), "%s/test/corpus/corpus.sql", srcdir ? srcdir : ".");
	skel_property(path);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--bench") == 0)
		return bench(argv[2]);
	lexical();
	collapse();
	names();
	kinds();
	tags();
	partial();
	splitting();
	splitting_quotes_and_comments();
	numbering_and_cap();
	aliases();
	temp_tables();
	keywords();
	lengths();
	stability();
	skeleton();
	ok(invariant_bad == 0, "", "every statement above: FP_OPT_NO_TEXT gives the same hash, and so does its text");
	printf("# invariants checked on %d statements\n", ninvariant);
	printf("1..%d\n", ntest);
	printf("# %d passed, %d failed\n", ntest - nfail, nfail);
	return nfail ? 1 : 0;
}
