/*
 * Unit tests for histogram.c: size, the 2% bound against exact quantiles
 * (sorted samples) for several distributions, every single value 0..200,000
 * and both sides of every bucket edge up to UINT64_MAX, collapsing of the
 * lowest buckets when the samples span more than the window, merge equal to
 * add-all in any order and split, saturation, reset, empty, monotonic
 * quantiles and q clamping.
 *
 * TAP output: the plan comes first, so results are collected in memory and
 * printed at the end. `test_histogram --bench` instead times hist_add (not a
 * test: it prints ns per add and always exits 0).
 */
#include "analyzer/histogram.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include <time.h>

#define REL_ERR 0.02
#define FULL_RANGE_MAX 224502.0 /* largest value with no collapsing at all */
#define WINDOW_RATIO 22956.0    /* kept at 2%: samples >= max / WINDOW_RATIO */
#define COLLAPSE_RATIO 22056.0  /* a collapsed quantile reads <= max / this */

/* ---- TAP ---- */


static void is_u(unsigned long long got, unsigned long long want, const char *name)
{
	if (!tap_ok(got == want, "%s", name))
		tap_diag("got %llu, want %llu", got, want);
}

/* ---- samples ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform01(void) /* (0, 1) */
{
	return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

static uint64_t lognormal(double median, double sigma)
{
	return (uint64_t)llround(median * exp(sigma * gauss()));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t *xmalloc_u64(size_t n)
{
	uint64_t *p = malloc((n ? n : 1) * sizeof(*p));

	if (!p)
		abort();
	return p;
}

/* The exact quantile with the histogram's rank rule (nearest rank). */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
	double r = ceil(q * (double)n);
	size_t i = r >= 1.0 ? (size_t)r - 1 : 0;

	return sorted[i >= n ? n - 1 : i];
}

static bool within(double est, uint64_t exact, double rel)
{
	if (exact == 0)
		return est == 0.0;
	return fabs(est - (double)exact) <= rel * (double)exact;
}

/* ---- the accuracy contract ---- */

/* Checks one quantile against the contract in histogram.h: within 2% when
 * the exact sample is kept at full resolution, else over-estimated only up
 * to the collapsed bucket. Returns true when it holds; *collapsed tells
 * which case applied. */
static bool contract_holds(double est, uint64_t exact, uint64_t max, bool *collapsed)
{
	*collapsed = (double)max > FULL_RANGE_MAX && exact != 0 &&
		     (double)exact < (double)max / WINDOW_RATIO;
	if (!*collapsed)
		return within(est, exact, REL_ERR);
	return est >= (double)exact * (1.0 - REL_ERR) && est <= (double)max / COLLAPSE_RATIO + 1.0;
}

/* Adds samples[0..n) to a fresh histogram and checks p0 p50 p95 p99 p100
 * one by one (one test each), then 1001 quantiles against the contract and
 * that the named quantiles must not be collapsed when want_full. */
static void check_distribution(const char *name, const uint64_t *samples, size_t n, bool want_full)
{
	static const double qs[] = {0.0, 0.5, 0.95, 0.99, 1.0};
	struct histogram h;
	uint64_t *sorted = xmalloc_u64(n);
	int bad = 0, collapsed_n = 0;

	hist_init(&h);
	for (size_t i = 0; i < n; i++)
		hist_add(&h, samples[i]);
	memcpy(sorted, samples, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	is_u(hist_count(&h), n, name);

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t want = exact_quantile(sorted, n, qs[i]);
		double got = hist_quantile(&h, qs[i]);
		bool collapsed;
		bool held = contract_holds(got, want, sorted[n - 1], &collapsed);

		if (want_full || !collapsed) {
			if (!tap_ok(within(got, want, REL_ERR), "%s: p%g within 2%%", name, qs[i] * 100))
				tap_diag("got %.3f want %llu", got, (unsigned long long)want);
		} else if (!tap_ok(held, "%s: p%g collapsed, over-estimated only up to max/%.0f",
				   name, qs[i] * 100, COLLAPSE_RATIO)) {
			tap_diag("got %.3f want %llu", got, (unsigned long long)want);
		}
	}
	for (int i = 0; i <= 1000; i++) {
		double q = i / 1000.0;
		uint64_t want = exact_quantile(sorted, n, q);
		double got = hist_quantile(&h, q);
		bool collapsed;

		if (!contract_holds(got, want, sorted[n - 1], &collapsed) && bad++ < 3)
			tap_diag("q=%g got %.3f want %llu", q, got, (unsigned long long)want);
		collapsed_n += collapsed;
	}
	ok(bad == 0, "%s: 1001 quantiles keep the contract (%d collapsed)", name, collapsed_n);
	free(sorted);
}

static void test_distributions(void)
{
	enum { NS = 200000 };
	uint64_t *s = xmalloc_u64(NS);

	for (size_t i = 0; i < NS; i++)
		s[i] = 1 + rng() % 1000000;
	check_distribution("uniform 1..1e6 us", s, NS, false);

	for (size_t i = 0; i < NS; i++)
		s[i] = 1 + rng() % 200000;
	check_distribution("uniform 1..2e5 us (no collapsing)", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = lognormal(1000, 1.0);
	check_distribution("lognormal median 1 ms sigma 1", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = lognormal(1000, 2.0);
	check_distribution("lognormal median 1 ms sigma 2", s, NS, false);

	for (size_t i = 0; i < NS; i++)
		s[i] = lognormal(2000, 3.0);
	check_distribution("lognormal median 2 ms sigma 3 (wider than the window)", s, NS, false);

	for (size_t i = 0; i < NS; i++)
		s[i] = rng() % 10 < 7 ? lognormal(100, 0.1) : lognormal(50000, 0.1);
	check_distribution("bimodal 100 us / 50 ms", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = 12345;
	check_distribution("constant 12345 us", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = 0;
	check_distribution("all zeros", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = rng() % 4 == 0 ? 0 : lognormal(300, 0.5);
	check_distribution("25% zeros, lognormal 300 us", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = lognormal(1e11, 0.5);
	check_distribution("huge: lognormal median 1e11 us", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = UINT64_MAX - rng() % 1000000;
	check_distribution("near UINT64_MAX", s, NS, true);

	for (size_t i = 0; i < NS; i++)
		s[i] = 1 + rng() % 24;
	check_distribution("exact keys 1..24 us", s, NS, true);

	s[0] = 777;
	check_distribution("single value 777 us", s, 1, true);
	s[0] = 0;
	check_distribution("single value 0", s, 1, true);
	s[0] = 100000000000ULL;
	check_distribution("single value 1e11 us", s, 1, true);
	free(s);
}

/* ---- every value as a single sample ---- */

/* The estimate for a histogram holding only v (what any q reports). */
static double single(uint64_t v)
{
	struct histogram h;

	hist_init(&h);
	hist_add(&h, v);
	return hist_quantile(&h, 0.5);
}

static void test_single_values(void)
{
	const double g = 1.02 / 0.98;
	int bad = 0, nonmono = 0, checked = 0;
	double prev = -1.0;

	for (uint64_t v = 0; v <= 200000; v++) {
		double est = single(v);

		if (!within(est, v, REL_ERR) && bad++ < 3)
			tap_diag("v=%llu est %.4f", (unsigned long long)v, est);
		if (est < prev && nonmono++ < 3)
			tap_diag("v=%llu est %.4f below %.4f", (unsigned long long)v, est, prev);
		prev = est;
	}
	ok(bad == 0, "every value 0..200000 reads within 2%%");
	ok(nonmono == 0, "reported value is non-decreasing over 0..200000");

	/* Both sides of every bucket edge: where the fast index falls back to
	 * libm and where floating point could disagree with the bucket's bounds. */
	bad = 0;
	for (int j = 1; j < 1110; j++) {
		double edge = pow(g, j);

		for (int d = -3; d <= 3; d++) {
			double x = floor(edge) + d;
			uint64_t v;

			if (x < 1.0 || x >= 18446744073709551615.0)
				continue;
			v = (uint64_t)x;
			checked++;
			if (!within(single(v), v, REL_ERR) && bad++ < 3)
				tap_diag("edge %d: v=%llu est %.4f", j, (unsigned long long)v, single(v));
		}
	}
	ok(bad == 0 && checked > 7000, "%d values around every bucket edge read within 2%%", checked);

	bad = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t v = rng() >> (rng() % 64);
		if (!within(single(v), v, REL_ERR) && bad++ < 3)
			tap_diag("v=%llu est %.4f", (unsigned long long)v, single(v));
	}
	ok(bad == 0, "100000 random values of every magnitude read within 2%%");
	ok(within(single(UINT64_MAX), UINT64_MAX, REL_ERR), "UINT64_MAX reads within 2%%");
}

/* ---- collapsing ---- */

static void test_collapsing(void)
{
	struct histogram h;
	double p50, p100;

	hist_init(&h);
	for (int i = 0; i < 1000; i++)
		hist_add(&h, 10);
	hist_add(&h, 224502);
	ok(hist_quantile(&h, 0.5) == 10.0 && within(hist_quantile(&h, 1.0), 224502, REL_ERR),
	   "10 us and 224502 us fit the window together: p50 exact, p100 within 2%%");

	hist_add(&h, 100000000); /* 100 s: the window moves up */
	p50 = hist_quantile(&h, 0.5);
	p100 = hist_quantile(&h, 1.0);
	is_u(hist_count(&h), 1002, "collapsing keeps every count");
	ok(within(p100, 100000000, REL_ERR), "after a 100 s outlier p100 is within 2%% (%.0f)", p100);
	ok(p50 >= 10.0 && p50 <= 1e8 / COLLAPSE_RATIO,
	   "after a 100 s outlier p50 of 10 us samples collapses up to at most max/%.0f (%.1f)",
	   COLLAPSE_RATIO, p50);
	ok(within(hist_quantile(&h, 0.999), 224502, REL_ERR), /* rank 1001 of 1002 */
	   "a sample inside the window (224502 us) stays within 2%%");

	/* Low values arriving after the window moved up are collapsed too,
	 * and values above max / WINDOW_RATIO are not. */
	hist_add(&h, 5000);
	hist_add(&h, 3);
	ok(within(hist_quantile(&h, 1001.0 / 1003), 5000, REL_ERR),
	   "5000 us added after the 100 s outlier reads within 2%%");
	ok(hist_quantile(&h, 0.0) >= 3.0 && hist_quantile(&h, 0.0) <= 1e8 / COLLAPSE_RATIO,
	   "3 us added after the outlier collapses into the lowest bucket");

	hist_init(&h);
	hist_add(&h, 0);
	hist_add(&h, UINT64_MAX);
	ok(hist_quantile(&h, 0.0) == 0.0 && within(hist_quantile(&h, 1.0), UINT64_MAX, REL_ERR),
	   "zero stays exact below a UINT64_MAX sample");
}

/* ---- merge ---- */

/* a and b report the same value at every rank (their observable state). */
static bool same_quantiles(const struct histogram *a, const struct histogram *b)
{
	uint64_t n = hist_count(a);

	if (n != hist_count(b))
		return false;
	for (uint64_t r = 0; r < n; r++) {
		double q = ((double)r + 0.5) / (double)n; /* nearest rank r + 1 */
		if (hist_quantile(a, q) != hist_quantile(b, q))
			return false;
	}
	return hist_quantile(a, 1.0) == hist_quantile(b, 1.0);
}

static void fill(uint64_t *s, size_t n, double median, double sigma)
{
	for (size_t i = 0; i < n; i++)
		s[i] = rng() % 20 == 0 ? 0 : lognormal(median, sigma);
}

static void merge_case(const char *name, const uint64_t *s, size_t n, int parts)
{
	struct histogram all, part[8], merged;

	hist_init(&all);
	hist_init(&merged);
	for (int p = 0; p < parts; p++)
		hist_init(&part[p]);
	for (size_t i = 0; i < n; i++) {
		hist_add(&all, s[i]);
		hist_add(&part[rng() % (uint64_t)parts], s[i]);
	}
	for (int p = 0; p < parts; p++)
		hist_merge(&merged, &part[p]);
	ok(same_quantiles(&all, &merged), "merge of %d parts equals add-all: %s", parts, name);
}

static void test_merge(void)
{
	enum { NM = 3000 };
	uint64_t *s = xmalloc_u64(NM);
	struct histogram a, b, c;

	fill(s, NM, 800, 1.0);
	merge_case("lognormal sigma 1", s, NM, 2);
	merge_case("lognormal sigma 1", s, NM, 8);
	fill(s, NM, 2000, 3.5);
	merge_case("lognormal sigma 3.5 (collapsing)", s, NM, 2);
	merge_case("lognormal sigma 3.5 (collapsing)", s, NM, 8);

	/* Order of adds does not matter, even with collapsing. */
	hist_init(&a);
	hist_init(&b);
	hist_init(&c);
	for (size_t i = 0; i < NM; i++)
		hist_add(&a, s[i]);
	qsort(s, NM, sizeof(*s), cmp_u64);
	for (size_t i = 0; i < NM; i++) {
		hist_add(&b, s[i]);
		hist_add(&c, s[NM - 1 - i]);
	}
	ok(same_quantiles(&a, &b) && same_quantiles(&a, &c),
	   "random, ascending and descending adds give the same histogram");

	/* Disjoint ranges far apart: src entirely above, then below, dst. */
	hist_init(&a);
	hist_init(&b);
	hist_init(&c);
	for (int i = 1; i <= 500; i++) {
		hist_add(&a, (uint64_t)i * 7);
		hist_add(&b, (uint64_t)i * 70000000);
		hist_add(&c, (uint64_t)i * 7);
		hist_add(&c, (uint64_t)i * 70000000);
	}
	{
		struct histogram ab = a, ba = b;

		hist_merge(&ab, &b);
		hist_merge(&ba, &a);
		ok(same_quantiles(&ab, &c) && same_quantiles(&ba, &c),
		   "merge of far-apart ranges equals add-all, both directions");
	}

	/* Empty on either side, and self-merge. */
	hist_init(&b);
	c = a;
	hist_merge(&a, &b);
	ok(same_quantiles(&a, &c), "merging an empty histogram changes nothing");
	hist_merge(&b, &a);
	ok(same_quantiles(&b, &a), "merging into an empty histogram copies");
	hist_init(&c);
	for (int i = 1; i <= 500; i++) {
		hist_add(&c, (uint64_t)i * 7);
		hist_add(&c, (uint64_t)i * 7);
	}
	hist_merge(&a, &a);
	ok(same_quantiles(&a, &c), "self-merge doubles every count");
	free(s);
}

/* ---- limits, reset, empty, monotonic ---- */

static void test_saturation(void)
{
	struct histogram h, one;

	hist_init(&h);
	hist_add(&h, 1000);
	for (int i = 0; i < 33; i++)
		hist_merge(&h, &h); /* 2^33 samples of 1000 */
	is_u(hist_count(&h), UINT32_MAX, "a bucket saturates at UINT32_MAX and count follows");
	hist_add(&h, 1000);
	is_u(hist_count(&h), UINT32_MAX, "a sample in a full bucket is dropped");
	hist_add(&h, 5000);
	is_u(hist_count(&h), (uint64_t)UINT32_MAX + 1, "other buckets still count");
	ok(within(hist_quantile(&h, 1.0), 5000, REL_ERR) && within(hist_quantile(&h, 0.5), 1000, REL_ERR),
	   "quantiles of a saturated histogram");

	hist_init(&one);
	hist_add(&one, 0);
	for (int i = 0; i < 33; i++)
		hist_merge(&one, &one);
	is_u(hist_count(&one), UINT32_MAX, "the zero count saturates too");

	/* Collapsing two full buckets into one saturates, and count follows. */
	hist_init(&h);
	hist_add(&h, 100);
	hist_add(&h, 110);
	for (int i = 0; i < 32; i++)
		hist_merge(&h, &h); /* 2^32 each: both buckets full */
	hist_add(&h, 100000000000ULL);
	is_u(hist_count(&h), (uint64_t)UINT32_MAX + 1, "collapsing full buckets saturates and count follows");
}

static void test_reset_empty(void)
{
	static const double qs[] = {0.0, 0.5, 0.99, 1.0, -1.0, 2.0};
	struct histogram h, fresh;
	bool zero = true;

	hist_init(&h);
	is_u(hist_count(&h), 0, "empty: count 0");
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		zero = zero && hist_quantile(&h, qs[i]) == 0.0;
	ok(zero && hist_quantile(&h, NAN) == 0.0, "empty: every quantile is 0");

	memset(&h, 0, sizeof(h));
	hist_add(&h, 42);
	ok(hist_quantile(&h, 0.5) == 42.0, "an all-zero struct is an empty histogram");

	for (int i = 0; i < 10000; i++)
		hist_add(&h, lognormal(1e9, 2.0));
	hist_reset(&h);
	is_u(hist_count(&h), 0, "reset: count 0");
	ok(hist_quantile(&h, 0.5) == 0.0 && hist_quantile(&h, 1.0) == 0.0, "reset: quantiles 0");
	hist_init(&fresh);
	for (int i = 0; i < 1000; i++) {
		uint64_t v = lognormal(500, 1.0);
		hist_add(&h, v);
		hist_add(&fresh, v);
	}
	ok(same_quantiles(&h, &fresh), "after reset a histogram behaves like a fresh one");
}

static void test_monotonic(void)
{
	struct histogram h;
	int bad = 0;

	for (int r = 0; r < 4; r++) {
		double prev = -1.0;

		hist_init(&h);
		for (int i = 0; i < 20000; i++)
			hist_add(&h, rng() % 10 == 0 ? 0 : lognormal(1000, 1.0 + r));
		for (int i = 0; i <= 10000; i++) {
			double v = hist_quantile(&h, i / 10000.0);
			if (v < prev)
				bad++;
			prev = v;
		}
	}
	ok(bad == 0, "quantiles are non-decreasing in q (4 histograms, 10001 q each)");

	hist_init(&h);
	for (uint64_t v = 1; v <= 100; v++)
		hist_add(&h, v * 1000);
	ok(hist_quantile(&h, -0.5) == hist_quantile(&h, 0.0) &&
		   hist_quantile(&h, 7.0) == hist_quantile(&h, 1.0) &&
		   hist_quantile(&h, NAN) == hist_quantile(&h, 0.0),
	   "q below 0 or NaN reads p0, q above 1 reads p100");
}

/* ---- benchmark (not a test) ---- */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench(void)
{
	enum { NV = 1 << 16, ADDS = 10000000 };
	uint64_t *v = xmalloc_u64(NV), sink = 0;
	struct histogram h;
	double t0, base_ns, add_ns;

	for (size_t i = 0; i < NV; i++)
		v[i] = lognormal(1000, 1.5); /* 1 ms median, 10 us .. 100 ms */
	hist_init(&h);
	t0 = now_ns();
	for (int i = 0; i < ADDS; i++)
		sink += v[i & (NV - 1)];
	base_ns = (now_ns() - t0) / ADDS;
	t0 = now_ns();
	for (int i = 0; i < ADDS; i++)
		hist_add(&h, v[i & (NV - 1)]);
	add_ns = (now_ns() - t0) / ADDS;
	printf("hist_add: %.2f ns per add over %d adds (loop overhead %.2f ns), "
	       "p50 %.0f p99 %.0f us, sizeof %zu, sink %llu\n",
	       add_ns, ADDS, base_ns, hist_quantile(&h, 0.5), hist_quantile(&h, 0.99),
	       sizeof(h), (unsigned long long)(sink & 1));
	free(v);
	return 0;
}

/* ---- percentiles that make sense at any sample count ---- */

/* Feeds both halves, as qstats and the advisor do. */
static void add_both(struct histogram *h, struct hist_exact *x, uint64_t v)
{
	hist_add(h, v);
	hist_exact_add(x, v);
}

static void test_exact(void)
{
	struct histogram h, h2;
	struct hist_exact x = { 0 }, x2 = { 0 };
	/* 9 transactions, one of which held 1.5 s (the advisor's case) */
	static const uint64_t hold[] = { 4027, 3100, 2900, 3500, 1500000, 3300, 3900, 2700, 3800 };
	bool never_out = true;

	hist_init(&h);
	hist_init(&h2);
	ok(hist_quantile_exact(&h, &x, 0.99) == 0.0, "empty: p99 is 0");
	for (size_t i = 0; i < sizeof(hold) / sizeof(hold[0]); i++)
		add_both(&h, &x, hold[i]);
	ok(hist_quantile(&h, 0.99) >= 1500000 * (1 - REL_ERR), "nearest rank: p99 of 9 samples is the largest (%.0f)",
	   hist_quantile(&h, 0.99));
	ok(hist_quantile_exact(&h, &x, 0.99) == 1500000.0, "p99 of 9 is exactly the 1.5 s sample (%.1f)",
	   hist_quantile_exact(&h, &x, 0.99));
	ok(hist_quantile_exact(&h, &x, 0.5) == 3500.0, "p50 of 9 is the 5th smallest, exactly (%.1f)",
	   hist_quantile_exact(&h, &x, 0.5));
	ok(hist_quantile_exact(&h, &x, 0.0) == 2700.0, "p0 is the smallest");
	/* few samples: exact values, not bucket midpoints */
	add_both(&h2, &x2, 1206200);
	add_both(&h2, &x2, 1000);
	ok(hist_quantile_exact(&h2, &x2, 0.99) == 1206200.0, "2 samples: p99 is the max exactly (%.1f)",
	   hist_quantile_exact(&h2, &x2, 0.99));
	/* many samples: never above the max nor below the min */
	for (int i = 0; i < 5000; i++)
		add_both(&h2, &x2, 1000 + rng() % 1205200);
	for (double q = 0; q <= 1.0; q += 0.01) {
		double v = hist_quantile_exact(&h2, &x2, q);
		if (v > (double)x2.max || v < (double)x2.min)
			never_out = false;
	}
	ok(never_out && hist_quantile_exact(&h2, &x2, 1.0) == (double)x2.max,
	   "5002 samples: every percentile within [min, max], p100 is the max");
	/* merging keeps samples exact while they fit */
	x = (struct hist_exact){ 0 };
	x2 = (struct hist_exact){ 0 };
	hist_init(&h);
	for (int i = 0; i < 3; i++)
		add_both(&h, &x, 100 + (uint64_t)i);
	hist_exact_add(&x2, 7);
	hist_exact_merge(&x, &x2);
	ok(x.n == 4 && x.min == 7 && x.max == 102 && hist_quantile_exact(&h, &x, 0.0) == 7.0,
	   "merged exact sides stay exact (n %llu, min %llu)", (unsigned long long)x.n, (unsigned long long)x.min);
	/* several quantiles in one walk give what one call each gives */
	{
		static const double qs[] = { 0.0, 0.1, 0.5, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0 };
		double many[9];
		bool same = true;
		for (int round = 0; round < 3; round++) {
			hist_init(&h);
			x = (struct hist_exact){ 0 };
			for (int i = 0; i < (round == 0 ? 10 : round == 1 ? 1000 : 50000); i++) {
				uint64_t v = rng() % 17 == 0 ? 0 : lognormal(2000, 1.5);
				hist_add(&h, v);
				hist_exact_add(&x, v);
			}
			hist_quantiles_exact(&h, &x, qs, 9, many);
			for (int k = 0; k < 9; k++)
				same = same && many[k] == hist_quantile_exact(&h, &x, qs[k]);
		}
		ok(same, "hist_quantiles_exact() equals hist_quantile_exact() at every q, for 10, 1000 and 50000 samples");
	}
	/* the samples added since a copy, as their own histogram */
	{
		struct histogram then, since, d;
		bool same = true;
		hist_init(&h);
		hist_init(&since);
		for (int i = 0; i < 3000; i++)
			hist_add(&h, lognormal(500, 1.0));
		then = h;
		for (int i = 0; i < 2000; i++) {
			uint64_t v = rng() % 11 == 0 ? 0 : lognormal(5000, 0.5);
			hist_add(&h, v);
			hist_add(&since, v);
		}
		hist_delta(&d, &h, &then);
		ok(hist_count(&d) == 2000 && same_quantiles(&d, &since), "hist_delta: the 2,000 samples added since the copy");
		then = h;
		hist_add(&h, 100000000); /* the window moves up: low keys collapse */
		hist_delta(&d, &h, &then);
		same = hist_count(&d) == 1 && hist_quantile(&d, 0.5) >= 1e8 * (1 - REL_ERR);
		ok(same, "hist_delta after a collapse: one sample, the new one (%.0f)", hist_quantile(&d, 0.5));
	}
}

/* The key DDSketch defines, from libm: v itself below 25, else
 * ceil(ln v / ln gamma) - 56 (histogram.c's model) */
static unsigned ref_key(uint64_t v)
{
	return v < 25 ? (unsigned)v : (unsigned)ceil(log((double)v) * 24.996666311036594427 /* 1 / ln gamma */) - 56;
}

/* A histogram's top is the largest key added: fed ascending values, it is
 * the key of each, so the keys the store uses are compared with the
 * reference at every value up to 3,000,000, on both sides of every bucket
 * edge up to 2^62 and at random values. */
static void test_keys_exact(void)
{
	static struct histogram h;
	enum { NV = 3000000, NEDGE = 1100 * 9, NRAND = 200000 };
	uint64_t *v = malloc(sizeof(*v) * (NEDGE + NRAND));
	size_t n = 0, bad = 0;
	double g = (1 + REL_ERR) / (1 - REL_ERR);

	hist_init(&h);
	for (uint64_t x = 1; x <= NV; x++) {
		hist_add(&h, x);
		if (h.top != ref_key(x) && bad++ < 3)
			tap_diag("v=%llu key %u, reference %u", (unsigned long long)x, h.top, ref_key(x));
	}
	ok(bad == 0, "every value 1..%d has the reference key", NV);
	for (int j = 300; j < 1100; j++) {
		double edge = floor(pow(g, j));
		for (int d = -4; d <= 4; d++)
			if (edge + d > NV && edge + d < 0x1p62)
				v[n++] = (uint64_t)(edge + d);
	}
	for (int i = 0; i < NRAND; i++)
		v[n++] = NV + (rng() >> (rng() % 62 + 2));
	qsort(v, n, sizeof(*v), cmp_u64);
	bad = 0;
	for (size_t i = 0; i < n; i++) {
		hist_add(&h, v[i]);
		if (h.top != ref_key(v[i]) && bad++ < 3)
			tap_diag("v=%llu key %u, reference %u", (unsigned long long)v[i], h.top, ref_key(v[i]));
	}
	ok(bad == 0 && n > 200000, "%zu values around bucket edges and at random up to 2^62 have the reference key", n);
	free(v);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
		return bench();

	tap_begin();

	ok(sizeof(struct histogram) <= 1024, "sizeof(struct histogram) = %zu <= 1024",
	   sizeof(struct histogram));
	test_distributions();
	test_single_values();
	test_collapsing();
	test_merge();
	test_saturation();
	test_reset_empty();
	test_monotonic();
	test_exact();
	test_keys_exact();

	return tap_end();
}
