/*
 * history: see history.h.
 */
#include "analyzer/history.h"

#include <stdlib.h>
#include <string.h>

static size_t bucket_bytes(const struct hs_bucket *b)
{
	return (size_t)b->capq * sizeof(*b->q) + (size_t)b->capp * sizeof(*b->p);
}

static void bucket_free(struct history *h, struct hs_bucket *b)
{
	h->bytes -= bucket_bytes(b);
	free(b->q);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static struct hs_bucket *slot(const struct history *h, uint32_t i)
{
	return &h->ring[(h->head + i) % h->max_buckets];
}

static void drop_oldest(struct history *h)
{
	bucket_free(h, slot(h, 0));
	h->head = (h->head + 1) % h->max_buckets;
	h->n--;
}

bool hs_init(struct history *h, int64_t len_us, uint32_t max_buckets, size_t max_bytes)
{
	memset(h, 0, sizeof(*h));
	h->len_us = len_us > 0 ? len_us : 1;
	h->max_buckets = max_buckets ? max_buckets : 1;
	h->max_bytes = max_bytes;
	h->ring = calloc(h->max_buckets, sizeof(*h->ring));
	return h->ring != NULL;
}

void hs_free(struct history *h)
{
	while (h->n)
		drop_oldest(h);
	free(h->ring);
	memset(h, 0, sizeof(*h));
}

void hs_reset(struct history *h)
{
	while (h->n)
		drop_oldest(h);
	h->head = 0;
	h->dropped_buckets = h->dropped_rows = 0;
}

bool hs_configure(struct history *h, int64_t len_us, uint32_t max_buckets, size_t max_bytes)
{
	struct history nh;

	if (len_us == h->len_us && max_buckets == h->max_buckets) {
		h->max_bytes = max_bytes;
		return true;
	}
	if (!hs_init(&nh, len_us, max_buckets, max_bytes))
		return false;
	if (len_us == h->len_us) { /* keep the newest buckets that fit */
		while (h->n > nh.max_buckets)
			drop_oldest(h);
		for (uint32_t i = 0; i < h->n; i++)
			nh.ring[i] = *slot(h, i);
		nh.n = h->n;
		nh.bytes = h->bytes;
		h->n = 0;
		h->bytes = 0;
	}
	nh.dropped_buckets = h->dropped_buckets;
	nh.dropped_rows = h->dropped_rows;
	hs_free(h);
	*h = nh;
	return true;
}

int64_t hs_bucket_of(const struct history *h, int64_t t)
{
	int64_t b = t / h->len_us * h->len_us;

	return b > t ? b - h->len_us : b; /* negative t rounds down too */
}

/* The bucket that starts at start, made when it is newer than every kept
 * one; NULL when it is older than the newest and not kept. */
static struct hs_bucket *bucket_for(struct history *h, int64_t start)
{
	struct hs_bucket *b;

	for (uint32_t i = h->n; i-- > 0;) {
		b = slot(h, i);
		if (b->start == start)
			return b;
		if (b->start < start) {
			if (i != h->n - 1)
				return NULL; /* between two kept buckets */
			break;
		}
		if (i == 0)
			return NULL; /* older than every kept bucket */
	}
	if (!h->ring)
		return NULL;
	if (h->n == h->max_buckets)
		drop_oldest(h);
	b = slot(h, h->n++);
	memset(b, 0, sizeof(*b));
	b->start = start;
	return b;
}

/* Room for one more row in *arr (count n, capacity cap) of size sz,
 * within the memory bound (older buckets go first). */
static bool grow(struct history *h, struct hs_bucket *b, void **arr, uint32_t n, uint32_t *cap, size_t sz)
{
	uint32_t ncap;
	void *p;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 16;
	while (h->bytes + (size_t)(ncap - *cap) * sz > h->max_bytes && h->n > 1 && slot(h, 0) != b) {
		drop_oldest(h);
		h->dropped_buckets++;
	}
	if (!(p = realloc(*arr, (size_t)ncap * sz)))
		return false;
	h->bytes += (size_t)(ncap - *cap) * sz;
	*arr = p;
	*cap = ncap;
	return true;
}

void hs_peek_query(const struct hs_qcur *cur, const struct histogram *all, struct hs_qrow *out)
{
	static const double q[3] = { 0.50, 0.95, 0.99 };
	struct histogram bucket;
	double v[3];

	memset(out, 0, sizeof(*out));
	out->calls = cur->calls;
	out->errors = cur->errors;
	out->rows = cur->rows;
	out->total_us = cur->total_us;
	out->wait_us = cur->wait_us;
	out->min_us = cur->exact.n ? cur->exact.min : 0;
	out->max_us = cur->exact.max;
	if (cur->exact.n > HIST_FEW) /* else the exact samples answer */
		hist_delta(&bucket, all, &cur->before);
	else
		hist_init(&bucket);
	hist_quantiles_exact(&bucket, &cur->exact, q, 3, v);
	out->p50_us = v[0];
	out->p95_us = v[1];
	out->p99_us = v[2];
}

void hs_close_query(struct history *h, int64_t start, uint64_t fp, const void *db, const void *user, uint8_t kind,
		    struct hs_qcur *cur, const struct histogram *all)
{
	struct hs_bucket *b = bucket_for(h, start);
	struct hs_qrow *r;

	if (!b || !grow(h, b, (void **)&b->q, b->nq, &b->capq, sizeof(*b->q))) {
		h->dropped_rows++;
	} else {
		r = &b->q[b->nq++];
		hs_peek_query(cur, all, r);
		r->fp = fp;
		r->db = db;
		r->user = user;
		r->kind = kind;
	}
	memset(cur, 0, sizeof(*cur)); /* an all-zero histogram is empty */
}

void hs_peek_pool(const struct hs_pcur *cur, struct hs_prow *out)
{
	memset(out, 0, sizeof(*out));
	out->xacts = cur->xacts;
	out->waits = cur->waits;
	out->wait_p50_us = hist_quantile_exact(&cur->wait, &cur->wait_exact, 0.50);
	out->wait_p99_us = hist_quantile_exact(&cur->wait, &cur->wait_exact, 0.99);
	out->wait_max_us = (double)cur->wait_exact.max;
	out->waiting_peak = cur->waiting_peak;
	out->active_peak = cur->active_peak;
}

void hs_close_pool(struct history *h, int64_t start, const void *pool, struct hs_pcur *cur)
{
	struct hs_bucket *b = bucket_for(h, start);
	struct hs_prow *r;

	if (!b || !grow(h, b, (void **)&b->p, b->np, &b->capp, sizeof(*b->p))) {
		h->dropped_rows++;
	} else {
		r = &b->p[b->np++];
		hs_peek_pool(cur, r);
		r->pool = pool;
	}
	memset(cur, 0, sizeof(*cur));
}

const struct hs_bucket *hs_get(const struct history *h, uint32_t i)
{
	return i < h->n ? slot(h, i) : NULL;
}
