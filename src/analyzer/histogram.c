/*
 * histogram: see histogram.h for the model and its accuracy contract.
 *
 * Keys. A sample v > 0 maps to a key: v itself for v < HIST_EXACT, else
 * log_index(v) - KEY_SHIFT, where log_index(v) = ceil(ln v / ln gamma) is the
 * DDSketch bucket. Below 25 us a log bucket holds at most one integer (most
 * hold none), so giving each integer its own key saves 56 keys of the window
 * without changing any bucket above. Keys run 1 .. 1053 (UINT64_MAX).
 *
 * Window. bucket[i] counts key base + i. The canonical content is "every key
 * below top - HIST_BUCKETS + 1 is counted at that key": it depends only on
 * the multiset of keys added, not on their order, which is what makes merge
 * equal to add-all. Invariants: count == zero + sum(bucket);
 * top - base < HIST_BUCKETS when top != 0; no sample below base except the
 * collapsed ones in bucket[0], which exist only when base == top - WIDTH + 1.
 */
#include "analyzer/histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH HIST_BUCKETS
#define HIST_EXACT 25     /* values below have a key of their own */
#define KEY_SHIFT 56      /* log_index(HIST_EXACT) - HIST_EXACT */
#define LN_GAMMA 0.040005334613699161434   /* ln(1.02 / 0.98) */
#define INV_LN_GAMMA 24.996666311036594427 /* 1 / LN_GAMMA */
#define LOG2_TO_INDEX 17.326368776892784356 /* ln 2 / LN_GAMMA */
/* The polynomial below is within 2.9e-4 buckets of ln v / ln gamma; an
 * index this close to an edge is recomputed with libm. */
#define EDGE_GUARD 1e-3

/* The reference definition of a log bucket, used near edges and by tests
 * of the fast path. */
static unsigned log_index_libm(double x)
{
	return (unsigned)ceil(log(x) * INV_LN_GAMMA);
}

/* log_index(v) for v >= HIST_EXACT, equal to log_index_libm (the key table
 * below is built from it; samples past the table use it): log2 from the
 * double's exponent plus a degree-5 Chebyshev fit of log2(1 + f) on [0, 1)
 * (max error 1.65e-5 in log2, 2.9e-4 in buckets), evaluated by Estrin's
 * scheme for a short dependency chain. Measured: hist_add takes 4.5 ns with
 * it, 7.2 ns with log() + ceil() (gcc -O2, glibc 2.36, AMD EPYC). Checked
 * equal to log_index_libm for every v in 25 .. 2e9 and 5e8 random values. */
static unsigned log_index(uint64_t v)
{
	double x = (double)v, m, f, f2, p, y, frac;
	uint64_t bits;
	int e;
	unsigned t;

	memcpy(&bits, &x, sizeof(bits));
	e = (int)(bits >> 52) - 1023; /* x >= 25: normal, positive */
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	memcpy(&m, &bits, sizeof(m));
	f = m - 1.0;
	f2 = f * f;
	p = (1.651467088327994e-05 + 1.4414924117615555 * f) +
	    f2 * ((-0.7064864491338226 + 0.409470298697992 * f) +
		  f2 * (-0.1874886045897716 + 0.04300495779190201 * f));
	y = ((double)e + p) * LOG2_TO_INDEX;
	t = (unsigned)y; /* y > 0: truncation is floor */
	frac = y - (double)t;
	if (frac < EDGE_GUARD || frac > 1.0 - EDGE_GUARD)
		return log_index_libm(x);
	return t + 1; /* y is not an integer here, so ceil(y) == floor(y) + 1 */
}

/* Keys from a table (histogram.h), for every sample below 2^HIST_KT_OCTAVES
 * us. An octave [2^e, 2^(e+1)) is cut into 32 equal parts by the 5 bits
 * after v's leading one; a part spans at most log2(33/32) = 0.044 of an
 * octave and a log bucket 0.058, so at most one bucket edge falls inside
 * it: the key of v is the part's first key, plus one when v is past the
 * part's edge. Built at start from log_index() itself (a binary search per
 * part, keys growing with v), so the two agree by construction. */
#define KT_OCTAVES HIST_KT_OCTAVES
#define KT_FIRST HIST_KT_FIRST	/* octaves below: the 32 values of kt_small */
struct hist_kt_part hist_kt_parts[KT_OCTAVES - KT_FIRST][32];
static uint16_t kt_small[1u << KT_FIRST];

static unsigned key_of_ref(uint64_t v)
{
	return v < HIST_EXACT ? (unsigned)v : log_index(v) - KEY_SHIFT;
}

static void __attribute__((constructor)) kt_init(void)
{
	for (unsigned v = 1; v < 1u << KT_FIRST; v++)
		kt_small[v] = (uint16_t)key_of_ref(v);
	for (unsigned e = KT_FIRST; e < KT_OCTAVES; e++) {
		for (unsigned j = 0; j < 32; j++) {
			uint64_t lo = (1ull << e) + ((uint64_t)j << (e - 5)), hi = lo + (1ull << (e - 5)) - 1;
			struct hist_kt_part *t = &hist_kt_parts[e - KT_FIRST][j];
			t->key = key_of_ref(lo);
			/* the last v in [lo, hi] whose key is the part's first */
			while (lo < hi) {
				uint64_t mid = lo + (hi - lo + 1) / 2;
				if (key_of_ref(mid) == t->key)
					lo = mid;
				else
					hi = mid - 1;
			}
			t->edge = lo;
		}
	}
}

/* The store key of a sample; v >= 1. */
static inline unsigned key_of(uint64_t v)
{
	if (v < 1u << KT_FIRST)
		return kt_small[v];
	if (v < 1ull << KT_OCTAVES) {
		unsigned e = 63 - (unsigned)__builtin_clzll(v);
		const struct hist_kt_part *t = &hist_kt_parts[e - KT_FIRST][(v >> (e - 5)) & 31];
		return t->key + (v > t->edge);
	}
	return log_index(v) - KEY_SHIFT;
}

/* The next and previous value a sample can have as a double: integers
 * below 2^53, every double above. */
static double next_up(double x)
{
	return x < 0x1p53 ? x + 1.0 : nextafter(x, INFINITY);
}

static double next_down(double x)
{
	return x <= 0x1p53 ? x - 1.0 : nextafter(x, 0.0);
}

/* The largest sample (as a double) in log bucket j or below, as the
 * classifier sees it: floor(gamma^j), moved by a step where the two
 * disagree within rounding error (an integer within ~1e-15 of an edge). */
static double bucket_top(unsigned j)
{
	double h = floor(exp((double)j * LN_GAMMA));

	if (h >= 0x1p64) /* (double)UINT64_MAX == 2^64 */
		return 0x1p64;
	while (h < 0x1p64 && log_index_libm(next_up(h)) <= j)
		h = next_up(h);
	while (log_index_libm(h) > j)
		h = next_down(h);
	return h;
}

/* The value reported for key k: k itself for exact keys, else the harmonic
 * midpoint 2LH / (L + H) of the lowest and highest samples L..H its log
 * bucket can hold, which is within (H - L) / (H + L) < a of each of them. */
static double key_value(unsigned k)
{
	unsigned j = k + KEY_SHIFT;
	double lo, hi;

	if (k < HIST_EXACT)
		return (double)k;
	lo = next_up(bucket_top(j - 1));
	hi = bucket_top(j);
	return 2.0 * lo * hi / (lo + hi);
}

/* *c += n, saturating at UINT32_MAX; returns how many did not fit. */
static uint64_t sat_add(uint32_t *c, uint64_t n)
{
	uint64_t s = (uint64_t)*c + n;

	if (s > UINT32_MAX) {
		*c = UINT32_MAX;
		return s - UINT32_MAX;
	}
	*c = (uint32_t)s;
	return 0;
}

/* Moves the window up so that key k (>= base + WIDTH) is its top bucket; keys
 * that fall below the new base are collapsed into its first bucket. */
static void slide_up(struct histogram *h, unsigned k)
{
	unsigned nbase = k - WIDTH + 1, shift = nbase - h->base;
	uint64_t low = 0;
	unsigned keep = shift < WIDTH ? WIDTH - shift : 0;

	for (unsigned i = 0; i <= shift && i < WIDTH; i++)
		low += h->bucket[i];
	if (keep)
		memmove(h->bucket, h->bucket + shift, keep * sizeof(h->bucket[0]));
	memset(h->bucket + keep, 0, (WIDTH - keep) * sizeof(h->bucket[0]));
	h->bucket[0] = 0;
	h->count -= sat_add(&h->bucket[0], low);
	h->base = (uint16_t)nbase;
}

/* Key k is below base: moves the window down as far as k if top stays in
 * it, else as far as top allows (k is then collapsed by the caller). */
static void slide_down(struct histogram *h, unsigned k)
{
	int lowest = (int)h->top - WIDTH + 1;
	unsigned nbase = (int)k > lowest ? k : (unsigned)lowest, shift;

	if (nbase >= h->base)
		return;
	shift = h->base - nbase; /* buckets pushed off the top are empty */
	memmove(h->bucket + shift, h->bucket, (WIDTH - shift) * sizeof(h->bucket[0]));
	memset(h->bucket, 0, shift * sizeof(h->bucket[0]));
	h->base = (uint16_t)nbase;
}

/* Adds n samples of key k, moving the window when k is outside it. */
static void store_add(struct histogram *h, unsigned k, uint64_t n)
{
	if (k >= (unsigned)h->base + WIDTH)
		slide_up(h, k);
	else if (k < h->base)
		slide_down(h, k);
	h->count += n - sat_add(&h->bucket[(k > h->base ? k : h->base) - h->base], n);
	if (k > h->top)
		h->top = (uint16_t)k;
}

void hist_init(struct histogram *h)
{
	memset(h, 0, sizeof(*h)); /* base 0 is a valid window: keys start at 1 */
}

void hist_reset(struct histogram *h)
{
	hist_init(h);
}

void hist_add_slow(struct histogram *h, uint64_t usec)
{
	unsigned k, i;

	if (usec == 0) {
		h->count += 1 - sat_add(&h->zero, 1);
		return;
	}
	k = key_of(usec);
	i = k - h->base; /* wraps to a huge value when k < base */
	if (i >= WIDTH) {
		store_add(h, k, 1);
		return;
	}
	if (h->bucket[i] != UINT32_MAX) {
		h->bucket[i]++;
		h->count++;
	}
	if (k > h->top)
		h->top = (uint16_t)k;
}

void hist_merge(struct histogram *dst, const struct histogram *src)
{
	struct histogram copy;

	if (dst == src) {
		copy = *src;
		src = &copy;
	}
	dst->count += src->zero - sat_add(&dst->zero, src->zero);
	/* Highest key first: the window moves up at most once. */
	for (unsigned i = WIDTH; i-- > 0;)
		if (src->bucket[i])
			store_add(dst, src->base + i, src->bucket[i]);
}

/* 0-based index of the nearest-rank q-quantile of n > 0 samples:
 * ceil(q * n) - 1, clamped to [0, n - 1] (q in [0, 1]). */
static uint64_t nearest_rank(double q, uint64_t n)
{
	double r = ceil(q * (double)n);
	uint64_t rank = r >= 1.0 ? (uint64_t)r - 1 : 0;

	return rank >= n ? n - 1 : rank; /* rounding of huge counts */
}

double hist_quantile(const struct histogram *h, double q)
{
	uint64_t rank, seen;

	if (h->count == 0)
		return 0.0;
	if (!(q > 0.0)) /* also NaN */
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	rank = nearest_rank(q, h->count);
	seen = h->zero;
	if (rank < seen)
		return 0.0;
	for (unsigned i = 0; i < WIDTH; i++) {
		seen += h->bucket[i];
		if (rank < seen)
			return key_value(h->base + i);
	}
	return key_value(h->top); /* not reached while count is consistent */
}

void hist_delta(struct histogram *d, const struct histogram *now, const struct histogram *then)
{
	*d = *now;
	d->count -= then->count < d->count ? then->count : d->count;
	d->zero -= then->zero < d->zero ? then->zero : d->zero;
	for (unsigned i = 0; i < WIDTH; i++) {
		unsigned key = then->base + i, j;
		uint32_t c = then->bucket[i];
		if (!c)
			continue;
		/* the window only moves up: a key below it was collapsed into bucket[0] */
		j = key >= d->base ? key - d->base : 0;
		if (j < WIDTH)
			d->bucket[j] -= c < d->bucket[j] ? c : d->bucket[j];
	}
}

uint64_t hist_count(const struct histogram *h)
{
	return h->count;
}

void hist_exact_merge(struct hist_exact *dst, const struct hist_exact *src)
{
	if (!src->n)
		return;
	for (uint64_t i = 0; i < src->n && dst->n + i < HIST_FEW; i++)
		dst->v[dst->n + i] = src->v[i];
	if (!dst->n || src->min < dst->min)
		dst->min = src->min;
	if (!dst->n || src->max > dst->max)
		dst->max = src->max;
	dst->n += src->n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void hist_quantiles_exact(const struct histogram *h, const struct hist_exact *x, const double *q, int n, double *out)
{
	uint64_t seen = h->zero;
	int i = -1; /* the bucket seen last; -1: the zeros */

	if (x->n <= HIST_FEW || h->count == 0) { /* exact, or empty */
		for (int k = 0; k < n; k++)
			out[k] = hist_quantile_exact(h, x, q[k]);
		return;
	}
	for (int k = 0; k < n; k++) {
		double qk = q[k] > 0.0 ? (q[k] < 1.0 ? q[k] : 1.0) : 0.0; /* NaN reads as 0 */
		uint64_t rank = nearest_rank(qk, h->count);
		double v;
		while (rank >= seen && i + 1 < (int)WIDTH)
			seen += h->bucket[++i];
		v = rank >= seen ? key_value(h->top) : i < 0 ? 0.0 : key_value(h->base + (unsigned)i);
		out[k] = v < (double)x->min ? (double)x->min : v > (double)x->max ? (double)x->max : v;
	}
}

double hist_quantile_exact(const struct histogram *h, const struct hist_exact *x, double q)
{
	uint64_t v[HIST_FEW];
	double est;

	if (!x->n)
		return 0.0;
	if (!(q > 0.0)) /* also NaN */
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	if (x->n <= HIST_FEW) {
		memcpy(v, x->v, x->n * sizeof(v[0]));
		qsort(v, x->n, sizeof(v[0]), cmp_u64);
		return (double)v[nearest_rank(q, x->n)];
	}
	est = hist_quantile(h, q);
	if (est < (double)x->min)
		return (double)x->min;
	return est > (double)x->max ? (double)x->max : est;
}
