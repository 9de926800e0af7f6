/*
 * lbuckets: latency counted in fixed buckets, as a Prometheus histogram
 * exports them (pgsift_query_duration_seconds, the pools' wait and
 * transaction histograms; doc/metrics.md).
 *
 * The per-query sketch (histogram.h) answers percentiles within 2% but
 * moves its buckets with the data, so its counts below a fixed bound can
 * shrink; a Prometheus bucket is a counter and must only grow. These
 * counters never shrink: each sample adds one to the first bucket whose
 * upper bound (le) is at or above it.
 *
 * Bounds: 1-2.5-5 per decade from 25 us to 10 s, then +Inf (LB_N buckets),
 * so histogram_quantile() lands in the bucket that holds the true quantile:
 * within one bucket of SHOW QUERIES' p95 (which is within 2% of it).
 *
 * Pure, header-only: plain memory, no allocation; the caller serializes.
 */
#ifndef PGSIFT_LBUCKETS_H
#define PGSIFT_LBUCKETS_H

#include <stdint.h>

#define LB_N 20	/* 19 finite bounds and +Inf */

/* Upper bounds in microseconds; the last bucket (index LB_N - 1) is +Inf. */
static const uint64_t lb_bounds_us[LB_N - 1] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};

struct lbuckets {
	uint64_t n[LB_N];	/* samples per bucket (not cumulative) */
	uint64_t sum_us;	/* sum of the samples */
};

/* For each power of two 2^k, the first bucket whose bound is at least 2^k:
 * a sample in [2^k, 2^(k+1)) starts its search there and moves a step or
 * two at most (test_qstats checks it against a plain search). */
static const uint8_t lb_start[64] = {
	0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 16, 17, 18, 19, 19, 19, 19, 19, 19, 19,
	19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19,
	19, 19, 19, 19,
};

/* The bucket of a sample: the first whose bound is at or above it. */
static inline unsigned lb_index(uint64_t us)
{
	unsigned i;

	if (us <= 25)
		return 0;
	i = lb_start[63 - __builtin_clzll(us)];
	while (i < LB_N - 1 && us > lb_bounds_us[i])
		i++;
	return i;
}

/* Counts one sample: on the hot path (each statement, each assignment,
 * each transaction), a table lookup and a compare or two. */
static inline void lb_add(struct lbuckets *b, uint64_t us)
{
	b->n[lb_index(us)]++;
	b->sum_us += us;
}

/* Samples counted. */
static inline uint64_t lb_count(const struct lbuckets *b)
{
	uint64_t c = 0;

	for (unsigned i = 0; i < LB_N; i++)
		c += b->n[i];
	return c;
}

#endif
