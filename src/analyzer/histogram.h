/*
 * histogram: a compact, mergeable latency sketch (DDSketch-style) for the
 * per-query p50/p95/p99 columns. One struct histogram per qstats entry,
 * exactly 1024 bytes, no allocation, no global state; the caller owns the
 * struct and serializes access to it (it is plain memory: copy it with =,
 * clear it with hist_reset).
 *
 * Values are durations in microseconds (uint64_t). 0 is counted in its own
 * exact bucket. Values 1..24 each have their own exact bucket. Larger values
 * fall in logarithmic buckets (gamma^(j-1), gamma^j] with
 * gamma = (1 + a) / (1 - a), a = 0.02 (so j = ceil(ln v / ln gamma)), and a
 * bucket is reported as the harmonic midpoint of the integers it holds, which
 * is within a = 2% of every one of them (DDSketch, Masson et al., VLDB 2019).
 *
 * Accuracy. hist_quantile(h, q) estimates the sample of nearest rank
 * ceil(q * n) (1-based, in sorted order; the smallest for q = 0), so the p99
 * of fewer than 100 samples is the largest one, as users read it. The estimate is within 2% of
 * that sample whenever the sample is kept at full resolution, which holds:
 *   - for every sample, as long as the largest sample is <= 224,502 us
 *     (0.22 s): the whole range 0 .. 224,502 us fits the store at once;
 *   - otherwise for every sample >= max / 22,956, where max is the largest
 *     sample ever added (about 4.3 decades below the maximum: with a maximum
 *     of 100 s, everything from 4.4 ms up).
 * The store is a window of HIST_BUCKETS consecutive buckets that follows the
 * largest sample ("collapsing lowest"): smaller samples that do not fit are
 * counted in the window's lowest bucket, so only the LOWEST quantiles lose
 * accuracy, and they can only be over-estimated (never reported below the
 * window). Counts and ranks are never lost; zeros always stay exact. Beware
 * the outlier case: one 30 s query in a stream of 100 us queries pushes the
 * window up to ~1.3 ms and p50 then reads ~1.3 ms. Covering 1 us .. 100 s at
 * once needs 405 buckets (1.6 KB); HIST_BUCKETS is the knob.
 *
 * Merging is exact: hist_merge(a, b) leaves a in the same state (up to the
 * window's placement, which no query can observe) as adding every sample of
 * b to a, in any order, including when collapsing happened.
 *
 * Limits: a bucket (and the zero count) holds at most UINT32_MAX
 * (4,294,967,295) samples; further samples in a full bucket are dropped and
 * not counted by hist_count, so a caller that also counts calls can tell.
 */
#ifndef PGSIFT_HISTOGRAM_H
#define PGSIFT_HISTOGRAM_H

#include <stdint.h>

#define HIST_BUCKETS 252 /* window width: sizeof(struct histogram) == 1024 */

struct histogram {
	uint64_t count;  /* samples counted: zero + the sum of bucket[] */
	uint32_t zero;   /* samples equal to 0 */
	uint16_t base;   /* key of bucket[0] (keys: 1..24 exact, then log) */
	uint16_t top;    /* largest key ever added, 0 when none above 0 */
	uint32_t bucket[HIST_BUCKETS]; /* bucket[i] counts key base + i;
					  bucket[0] also holds collapsed keys */
};

_Static_assert(sizeof(struct histogram) <= 1024, "struct histogram must stay within 1 KB");

/* Makes h an empty histogram. h is caller-owned memory of any content;
 * cannot fail. An all-zero struct (static or calloc'ed) is already empty. */
void hist_init(struct histogram *h);

/* Empties h (same as hist_init): for RESET QUERIES. */
void hist_reset(struct histogram *h);

/* Counts one sample of usec microseconds (0 allowed). Hot path: no
 * allocation; below 2^40 us a key from a table, inline when it falls in
 * the window; above, no libm call except for about 0.2% of values that sit
 * within 1e-3 of a bucket edge. Cannot fail; a sample landing in a bucket
 * that already holds UINT32_MAX samples is dropped (see Limits above). */
void hist_add_slow(struct histogram *h, uint64_t usec);

/* The keys of samples from 2^HIST_KT_FIRST to 2^HIST_KT_OCTAVES us (12.7
 * days), from a table histogram.c builds at start: octave e's 32 parts,
 * each the key of its first value, plus one past its edge. */
#define HIST_KT_FIRST 5
#define HIST_KT_OCTAVES 40
struct hist_kt_part {
	uint64_t edge;		/* the last value of the part with key; past it key + 1 */
	uint32_t key;
};
extern struct hist_kt_part hist_kt_parts[HIST_KT_OCTAVES - HIST_KT_FIRST][32];

static inline void hist_add(struct histogram *h, uint64_t usec)
{
	/* 0 (a client served at once) is the usual wait, and a sample from
	 * 32 us up whose key is in the window the usual duration: counted
	 * inline; hist_add_slow() takes the rest (and saturated counts) */
	if (usec == 0 && h->zero != UINT32_MAX) {
		h->zero++;
		h->count++;
		return;
	}
	if (usec >= 1u << HIST_KT_FIRST && usec < 1ull << HIST_KT_OCTAVES) {
		unsigned e = 63 - (unsigned)__builtin_clzll(usec);
		const struct hist_kt_part *t = &hist_kt_parts[e - HIST_KT_FIRST][(usec >> (e - 5)) & 31];
		unsigned k = t->key + (usec > t->edge), i = k - h->base; /* wraps when k < base */
		if (i < HIST_BUCKETS && h->bucket[i] != UINT32_MAX) {
			h->bucket[i]++;
			h->count++;
			if (k > h->top)
				h->top = (uint16_t)k;
			return;
		}
	}
	hist_add_slow(h, usec);
}

/* Adds every sample of src to dst; src is not changed. dst == src is
 * allowed (doubles every count). Cannot fail; counts saturate as in
 * hist_add, and the dropped samples leave hist_count. */
void hist_merge(struct histogram *dst, const struct histogram *src);

/* The estimated q-quantile in microseconds: the sample of nearest rank
 * ceil(q * hist_count(h)) (1-based), within 2% when kept at full resolution
 * (see Accuracy above). q is clamped to [0, 1] (NaN reads as 0); returns 0
 * for an empty histogram. Not for the hot path: a walk over the buckets and
 * a few exp/log calls (well under a microsecond). A double, not an integer: rounding a bucket's
 * midpoint to whole microseconds would break the 2% bound (no integer is
 * within 2% of both 85 and 88, which share a bucket). Non-decreasing in q. */
double hist_quantile(const struct histogram *h, double q) __attribute__((warn_unused_result));

/* d = now - then, where then is an earlier state of now (a copy taken
 * before more samples were added): the samples added since, as a histogram
 * of their own. Exact, but for keys collapsed into now's lowest bucket
 * since then, which stay there. Cannot fail. */
void hist_delta(struct histogram *d, const struct histogram *now, const struct histogram *then);

/* Samples counted in h (every hist_add and merged sample, minus any dropped
 * by saturation). */
uint64_t hist_count(const struct histogram *h) __attribute__((warn_unused_result));

/*
 * The exact side of a distribution, kept beside a histogram: the smallest
 * and largest sample and, while there are at most HIST_FEW samples, the
 * samples themselves. hist_quantile_exact() then answers exactly for few
 * samples and never outside [min, max] for many (a bucket's midpoint can lie
 * up to 2% beyond the largest sample). An all-zero struct is empty.
 */
#define HIST_FEW 16
struct hist_exact {
	uint64_t n;		/* samples added */
	uint64_t min, max;	/* valid when n > 0 */
	uint64_t v[HIST_FEW];	/* the first HIST_FEW samples, in arrival order */
};

/* Counts one sample (the histogram is fed separately). Cannot fail. */
static inline void hist_exact_add(struct hist_exact *x, uint64_t v)
{
	if (x->n < HIST_FEW)
		x->v[x->n] = v;
	if (!x->n || v < x->min)
		x->min = v;
	if (!x->n || v > x->max)
		x->max = v;
	x->n++;
}

/* Adds src's samples to dst (the samples stay exact while both together
 * hold at most HIST_FEW). Cannot fail. */
void hist_exact_merge(struct hist_exact *dst, const struct hist_exact *src);

/* The q-quantile (nearest rank, as hist_quantile) in microseconds: exact
 * when x holds every sample, else h's estimate clamped to [min, max].
 * 0 when empty. */
double hist_quantile_exact(const struct histogram *h, const struct hist_exact *x, double q)
	__attribute__((warn_unused_result));

/* n quantiles at once (q ascending, each in [0, 1]), as n calls of
 * hist_quantile_exact() would give them, in one walk over the buckets. */
void hist_quantiles_exact(const struct histogram *h, const struct hist_exact *x, const double *q, int n, double *out);

#endif
