/*
 * Differential test of the fingerprint module against another revision of
 * it (test/fuzz/diff_revision.sh builds that revision's src/analyzer/fingerprint.c
 * and src/analyzer/fp_lex.c with every global symbol renamed old_*): a change made
 * for speed must give the same results. For every input, fp_compute() with
 * opts 0, FP_OPT_NO_TEXT and FP_OPT_NO_TEXT|FP_OPT_NO_TAG must give the same
 * hash, kind, flags, nparams, text, tag and pair count, and
 * fp_next_statement() the same statements.
 *
 * Inputs: every statement of the corpus and prefixes of it; splices of
 * corpus fragments, dictionary tokens and stray bytes, some with random
 * bytes overwritten; concatenations of the fragments that matter to the
 * splitter (quotes, escapes, comments, $, BEGIN ATOMIC bodies). Each is an
 * exactly sized heap copy (build with AddressSanitizer).
 *
 *   diff_revision CORPUS DICT ITERATIONS
 */
#include "analyzer/fingerprint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void old_fp_compute(const char *sql, size_t len, unsigned opts, struct fp_result *out);
bool old_fp_next_statement(const char *text, size_t len, size_t *pos, size_t *off, size_t *stmt_len);

#define MAXSTMT 20000
#define MAXDICT 400

static const char *sq[MAXSTMT];
static size_t sl[MAXSTMT];
static int n;
static char *dict[MAXDICT];
static int nd;
static unsigned long long rs = 88172645463325252ULL;
static struct fp_result a, b;
static long ncases, nbad;

static unsigned rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (unsigned)rs;
}

static bool same(const struct fp_result *x, const struct fp_result *y)
{
	return x->hash == y->hash && x->kind == y->kind && x->flags == y->flags && x->nparams == y->nparams &&
	       x->text_len == y->text_len && memcmp(x->text, y->text, x->text_len) == 0 &&
	       x->tag_len == y->tag_len && memcmp(x->tag, y->tag, x->tag_len) == 0 && x->nkv == y->nkv;
}

static void check(const char *in, size_t len)
{
	static const unsigned optv[] = {0, FP_OPT_NO_TEXT, FP_OPT_NO_TEXT | FP_OPT_NO_TAG};
	char *p = malloc(len ? len : 1);
	if (!p)
		abort();
	memcpy(p, in, len);
	for (int o = 0; o < 3; o++) {
		fp_compute(p, len, optv[o], &a);
		old_fp_compute(p, len, optv[o], &b);
		if (!same(&a, &b)) {
			if (nbad++ < 10)
				fprintf(stderr, "DIFF opts %u: [%.*s]\n new %016llx %s\n old %016llx %s\n", optv[o],
					(int)len, p, (unsigned long long)a.hash, a.text, (unsigned long long)b.hash,
					b.text);
			break;
		}
	}
	size_t p1 = 0, p2 = 0, o1 = 0, o2 = 0, l1 = 0, l2 = 0;
	for (;;) {
		bool r1 = fp_next_statement(p, len, &p1, &o1, &l1);
		bool r2 = old_fp_next_statement(p, len, &p2, &o2, &l2);
		if (r1 != r2 || p1 != p2 || (r1 && (o1 != o2 || l1 != l2))) {
			if (nbad++ < 10)
				fprintf(stderr, "SPLIT DIFF [%.*s]\n", (int)len, p);
			break;
		}
		if (!r1)
			break;
	}
	free(p);
	ncases++;
}

/* the "..." tokens of a libFuzzer dictionary, \xNN and \c unescaped */
static void load_dict(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	if (!f)
		return;
	while (nd < MAXDICT && fgets(line, sizeof line, f)) {
		char *q = strchr(line, '"'), *e = strrchr(line, '"');
		if (line[0] == '#' || !q || e <= q)
			continue;
		*e = 0;
		char *d = malloc(strlen(q) + 1);
		size_t k = 0;
		if (!d)
			abort();
		for (char *c = q + 1; *c; c++) {
			unsigned v;
			if (c[0] == '\\' && c[1] == 'x' && sscanf(c + 2, "%2x", &v) == 1) {
				d[k++] = (char)v;
				c += 3;
			} else if (c[0] == '\\' && c[1]) {
				d[k++] = *++c;
			} else {
				d[k++] = *c;
			}
		}
		d[k] = 0;
		dict[nd++] = d;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	static char buf[8 << 20], tmp[8192];
	if (argc != 4) {
		fprintf(stderr, "usage: diff_revision CORPUS DICT ITERATIONS\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return 2;
	size_t len = fread(buf, 1, sizeof buf, f), pos = 0, off, l;
	fclose(f);
	while (n < MAXSTMT && fp_next_statement(buf, len, &pos, &off, &l)) {
		sq[n] = buf + off;
		sl[n++] = l;
	}
	load_dict(argv[2]);
	long iters = atol(argv[3]);

	for (int i = 0; i < n; i++) {
		check(sq[i], sl[i]);
		for (size_t t = 0; t < sl[i]; t += 1 + rnd() % 7)
			check(sq[i], t);
	}
	static const char stray[] = " \t\n(),;.:'\"$-/*[]=<>+!@#&|^~`?%\\{}0123456789eExXbBuUnN&_aZ\x80\xc3\xa9";
	for (long it = 0; it < iters; it++) {
		size_t k = 0;
		for (int j = 1 + (int)(rnd() % 12); j > 0 && k < 4000; j--) {
			unsigned c = rnd() % 10;
			if (c < 4 && n) {
				int s = (int)(rnd() % (unsigned)n);
				size_t a0 = rnd() % (sl[s] + 1), l0 = rnd() % (sl[s] - a0 + 1);
				if (rnd() % 3 == 0) {
					a0 = 0;
					l0 = sl[s];
				}
				memcpy(tmp + k, sq[s] + a0, l0);
				k += l0;
			} else if (c < 8 && nd) {
				const char *d = dict[rnd() % (unsigned)nd];
				memcpy(tmp + k, d, strlen(d));
				k += strlen(d);
			} else {
				for (int m = 1 + (int)(rnd() % 4); m > 0; m--)
					tmp[k++] = stray[rnd() % (sizeof stray - 1)];
			}
			if (rnd() % 3)
				tmp[k++] = ' ';
		}
		if (rnd() % 8 == 0 && k)
			for (int m = (int)(rnd() % 4); m >= 0; m--)
				tmp[rnd() % k] = (char)rnd();
		check(tmp, k);
	}
	static const char *const frag[] = {
		";", "'", "''", "\"", "\"\"", "E'", "e'", "\\'", "\\", "$1", "$$", "$a$", "$1$", "a$", "--", "\n",
		"\r", "/*", "*/", "begin", "BEGIN ATOMIC ", "CREATE FUNCTION f() ", "create or replace procedure p() ",
		"end", "END;", "case", "x", " ", "(", ")", "1e", "U&'", "N'", "b'", "X", "select 1", "abegin", "E",
		"-", "/", "*", "\t", "uescape '!'", "1", "e",
	};
	for (long it = 0; it < 2 * iters; it++) {
		size_t k = 0;
		for (int j = 1 + (int)(rnd() % 30); j > 0; j--) {
			const char *d = frag[rnd() % (sizeof frag / sizeof frag[0])];
			memcpy(tmp + k, d, strlen(d));
			k += strlen(d);
		}
		check(tmp, k);
	}
	printf("%ld cases, %ld differences\n", ncases, nbad);
	return nbad != 0;
}
