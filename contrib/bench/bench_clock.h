/*
 * bench_clock: what the fingerprint benchmarks (fp_ab.c, fp_floor.c) time
 * with: the CPU time of the calling thread, so that waiting for a core on a
 * shared machine counts against no side, and the comparison for qsort()ing
 * the trials to take their best and median.
 */
#ifndef PGSIFT_BENCH_CLOCK_H
#define PGSIFT_BENCH_CLOCK_H

#include <time.h>

static inline double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static inline int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

#endif
