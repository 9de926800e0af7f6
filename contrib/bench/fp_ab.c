/*
 * A/B timing of the fingerprint module: the working tree's fp_compute()
 * against another revision's (old_fp_compute(), built by fp_ab.sh with its
 * symbols renamed), hash only (FP_OPT_NO_TEXT | FP_OPT_NO_TAG), over every
 * statement of a corpus. Not a test: it refuses to time two versions that
 * disagree on a hash, then runs TRIALS interleaved trials of PASSES passes
 * over the corpus each and prints the best and the median of each side in
 * thread CPU time, and their ratios. On a shared machine the absolute
 * times move a lot from run to run; the ratio of the best trials is what
 * to read.
 *
 *   fp_ab CORPUS [TRIALS] [PASSES]
 */
#include "analyzer/fingerprint.h"

#include "bench_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void old_fp_compute(const char *sql, size_t len, unsigned opts, struct fp_result *out);

#define MAXSTMT 20000
#define MAXTRIALS 201
#define OPTS (FP_OPT_NO_TEXT | FP_OPT_NO_TAG)

static const char *sq[MAXSTMT];
static size_t sl[MAXSTMT];
static size_t n;
static unsigned long long sink;

/* ns per statement of passes passes over the corpus */
static double one_trial(void (*fp)(const char *, size_t, unsigned, struct fp_result *), int passes)
{
	static struct fp_result r;
	double t0 = now_ns();
	for (int k = 0; k < passes; k++)
		for (size_t i = 0; i < n; i++) {
			fp(sq[i], sl[i], OPTS, &r);
			sink += r.hash;
		}
	return (now_ns() - t0) / ((double)passes * (double)n);
}

static char *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0)
		return NULL;
	long sz = ftell(f);
	char *buf = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
	if (!buf || fseek(f, 0, SEEK_SET) != 0 || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = (size_t)sz;
	return buf;
}

int main(int argc, char **argv)
{
	size_t len = 0, pos = 0, off, slen;
	char *buf = argc >= 2 ? load(argv[1], &len) : NULL;
	int trials = argc >= 3 ? atoi(argv[2]) : 41, passes = argc >= 4 ? atoi(argv[3]) : 5;
	static double a[MAXTRIALS], b[MAXTRIALS];
	static struct fp_result ra, rb;

	if (!buf || trials < 1 || trials > MAXTRIALS || passes < 1) {
		fprintf(stderr, "usage: fp_ab CORPUS [TRIALS (1-%d)] [PASSES]\n", MAXTRIALS);
		return 2;
	}
	while (n < MAXSTMT && fp_next_statement(buf, len, &pos, &off, &slen)) {
		sq[n] = buf + off;
		sl[n++] = slen;
	}
	for (size_t i = 0; i < n; i++) {
		fp_compute(sq[i], sl[i], OPTS, &ra);
		old_fp_compute(sq[i], sl[i], OPTS, &rb);
		if (ra.hash != rb.hash) {
			printf("the two versions differ on statement %zu: %.100s\n", i + 1, sq[i]);
			return 1;
		}
	}
	for (int t = 0; t < trials; t++) {
		b[t] = one_trial(old_fp_compute, passes);
		a[t] = one_trial(fp_compute, passes);
	}
	qsort(a, (size_t)trials, sizeof a[0], cmp_double);
	qsort(b, (size_t)trials, sizeof b[0], cmp_double);
	printf("%zu statements, %d interleaved trials of %d passes, thread CPU time, ns/statement\n", n, trials,
	       passes);
	printf("  other revision   best %7.1f  median %7.1f\n", b[0], b[trials / 2]);
	printf("  working tree     best %7.1f  median %7.1f\n", a[0], a[trials / 2]);
	printf("  working tree / other revision: best %.3f, median %.3f  (sink %llx)\n", a[0] / b[0],
	       a[trials / 2] / b[trials / 2], sink & 0xf);
	free(buf);
	return 0;
}
