/*
 * advisor: see advisor.h.
 */
#include "analyzer/advisor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ADV_MAX_SIZE 100000 /* as default_pool_size's bound */

static void slot_clear(struct adv_slot *sl, int64_t start, int busy)
{
	memset(sl, 0, sizeof(*sl)); /* an all-zero histogram is empty */
	sl->start = start;
	sl->busy_peak = busy;
}

void adv_init(struct adv_pool *a, int64_t window_us)
{
	memset(a, 0, sizeof(*a));
	a->slot_len = window_us / ADV_SLOTS > 0 ? window_us / ADV_SLOTS : 1;
}

static void slot_merge(struct adv_slot *dst, const struct adv_slot *src);

/* The since-start totals take a slot's counters when it is cleared (and
 * adv_since_start() the live slots'): an event counts in its slot only,
 * not twice. A merge is exact (histogram.h); sums of doubles may differ
 * from per-event sums in their last bits. */
static void slot_retire_into(struct adv_slot *total, const struct adv_slot *sl)
{
	slot_merge(total, sl);
}

static void slot_retire(struct adv_pool *a, const struct adv_slot *sl)
{
	slot_retire_into(&a->total, sl);
}

void adv_set_window(struct adv_pool *a, int64_t window_us)
{
	int64_t len = window_us / ADV_SLOTS > 0 ? window_us / ADV_SLOTS : 1;

	if (len == a->slot_len)
		return;
	a->slot_len = len;
	if (!a->started)
		return;
	for (int i = 0; i < ADV_SLOTS; i++) {
		slot_retire(a, &a->slots[i]);
		slot_clear(&a->slots[i], 0, 0);
	}
	a->cur = 0;
	slot_clear(&a->slots[0], a->last, a->busy);
}

/* Runs the busy and size integrals of the current slot up to the time to. */
static void integrate(struct adv_pool *a, int64_t to)
{
	double dt;

	if (to <= a->last)
		return;
	dt = (double)(to - a->last);
	a->slots[a->cur].busy_us += a->busy * dt;
	a->slots[a->cur].size_us += a->size * dt;
	a->last = to;
}

void adv_tick_slow(struct adv_pool *a, int64_t now, int size)
{
	const int64_t len = a->slot_len;

	if (now == a->last && a->started) {
		/* another event at the same time (a request and its link, in one
		 * callback): nothing to integrate, no slot to start */
		a->size = size;
		return;
	}
	if (!a->started) {
		a->started = a->last = now;
		a->size = size;
		slot_clear(&a->slots[0], now, 0);
		slot_clear(&a->total, now, 0);
		return;
	}
	while (now >= a->slots[a->cur].start + len) {
		int64_t edge = a->slots[a->cur].start + len;
		int64_t skip = (now - edge) / len - ADV_SLOTS;
		if (skip > 0) { /* a long quiet spell: every slot will be new anyway */
			integrate(a, edge + skip * len);
			a->slots[a->cur].start += skip * len;
			continue;
		}
		integrate(a, edge);
		a->cur = (a->cur + 1) % ADV_SLOTS;
		slot_retire(a, &a->slots[a->cur]);
		slot_clear(&a->slots[a->cur], edge, a->busy);
	}
	integrate(a, now);
	a->size = size;
}

static void peak(struct adv_pool *a)
{
	if (a->busy > a->slots[a->cur].busy_peak)
		a->slots[a->cur].busy_peak = a->busy;
}

void adv_assign(struct adv_pool *a, int64_t now, int size, uint64_t wait_us)
{
	struct adv_slot *sl;

	adv_tick(a, now, size);
	sl = &a->slots[a->cur];
	a->busy++;
	peak(a);
	sl->wait_sum_us += wait_us;
	hist_add(&sl->wait, wait_us);
	hist_exact_add(&sl->wait_x, wait_us);
}

void adv_arrival(struct adv_pool *a, int64_t now, int size)
{
	struct adv_slot *sl;
	int64_t gap = now - a->last_arrival;

	adv_tick(a, now, size);
	sl = &a->slots[a->cur];
	sl->arrivals++;
	if (a->last_arrival && gap >= 0) {
		if (gap > a->slot_len) /* a quiet spell is not one huge gap */
			gap = a->slot_len;
		sl->gaps++;
		sl->gap_sum += (double)gap;
		sl->gap_sq_sum += (double)gap * (double)gap;
	}
	a->last_arrival = now;
}

void adv_release(struct adv_pool *a, int64_t now, int size, uint64_t hold_us)
{
	struct adv_slot *sl;

	adv_tick(a, now, size);
	if (a->busy > 0)
		a->busy--;
	sl = &a->slots[a->cur];
	sl->xacts++;
	sl->hold_sum_us += hold_us;
	sl->hold_sq_sum += (double)hold_us * (double)hold_us;
	hist_add(&sl->hold, hold_us);
	hist_exact_add(&sl->hold_x, hold_us);
}

void adv_queued(struct adv_pool *a, int64_t now, int size)
{
	adv_tick(a, now, size);
	a->slots[a->cur].queued++;
}

void adv_reserve(struct adv_pool *a, int64_t now, int size)
{
	adv_tick(a, now, size);
	a->slots[a->cur].reserve_used++;
}

void adv_connect(struct adv_pool *a, int64_t now, int size, uint64_t login_us)
{
	adv_tick(a, now, size);
	a->slots[a->cur].connects++;
	a->slots[a->cur].login_sum_us += login_us;
}

/* Adds the counters of src to dst (dst->start is the older one). */
static void slot_merge(struct adv_slot *dst, const struct adv_slot *src)
{
	if (!dst->start || (src->start && src->start < dst->start))
		dst->start = src->start;
	dst->arrivals += src->arrivals;
	dst->gaps += src->gaps;
	dst->gap_sum += src->gap_sum;
	dst->gap_sq_sum += src->gap_sq_sum;
	dst->xacts += src->xacts;
	dst->hold_sum_us += src->hold_sum_us;
	dst->hold_sq_sum += src->hold_sq_sum;
	dst->queued += src->queued;
	dst->wait_sum_us += src->wait_sum_us;
	dst->reserve_used += src->reserve_used;
	dst->connects += src->connects;
	dst->login_sum_us += src->login_sum_us;
	dst->busy_us += src->busy_us;
	dst->size_us += src->size_us;
	if (src->busy_peak > dst->busy_peak)
		dst->busy_peak = src->busy_peak;
	hist_merge(&dst->hold, &src->hold);
	hist_merge(&dst->wait, &src->wait);
	hist_exact_merge(&dst->hold_x, &src->hold_x);
	hist_exact_merge(&dst->wait_x, &src->wait_x);
}

int64_t adv_window(const struct adv_pool *a, int64_t now, struct adv_slot *out)
{
	memset(out, 0, sizeof(*out));
	if (!a->started)
		return 0;
	for (int i = 0; i < ADV_SLOTS; i++) {
		const struct adv_slot *sl = &a->slots[i];
		if (sl->start && now - sl->start < (int64_t)ADV_SLOTS * a->slot_len)
			slot_merge(out, sl);
	}
	return out->start && now > out->start ? now - out->start : 0;
}

int64_t adv_since_start(const struct adv_pool *a, int64_t now, struct adv_slot *out)
{
	*out = a->total;
	for (int i = 0; i < ADV_SLOTS; i++) /* the slots not retired yet */
		slot_retire_into(out, &a->slots[i]);
	return a->started && now > a->started ? now - a->started : 0;
}

void adv_measure(const struct adv_slot *sl, int64_t covered_us, struct adv_measure *m)
{
	memset(m, 0, sizeof(*m));
	m->seconds = (double)covered_us / 1e6;
	m->xacts = sl->xacts;
	if (m->seconds > 0) {
		m->arrival_rate = (double)sl->arrivals / m->seconds;
		m->busy_mean = sl->busy_us / (double)covered_us;
		m->connects_per_min = (double)sl->connects * 60.0 / m->seconds;
	}
	m->arrival_cv2 = 1.0; /* Poisson until there are gaps to measure */
	if (sl->gaps >= 10) {
		double mean = sl->gap_sum / (double)sl->gaps;
		double var = sl->gap_sq_sum / (double)sl->gaps - mean * mean;
		m->arrival_cv2 = mean > 0 && var > 0 ? var / (mean * mean) : 0;
	}
	if (sl->xacts) {
		double mean = (double)sl->hold_sum_us / (double)sl->xacts;
		double var = sl->hold_sq_sum / (double)sl->xacts - mean * mean;
		m->hold_mean_ms = mean / 1e3;
		m->hold_cv2 = mean > 0 && var > 0 ? var / (mean * mean) : 0;
	}
	m->hold_p50_ms = hist_quantile_exact(&sl->hold, &sl->hold_x, 0.50) / 1e3;
	m->hold_p95_ms = hist_quantile_exact(&sl->hold, &sl->hold_x, 0.95) / 1e3;
	m->hold_p99_ms = hist_quantile_exact(&sl->hold, &sl->hold_x, 0.99) / 1e3;
	m->wait_p50_ms = hist_quantile_exact(&sl->wait, &sl->wait_x, 0.50) / 1e3;
	m->wait_p95_ms = hist_quantile_exact(&sl->wait, &sl->wait_x, 0.95) / 1e3;
	m->wait_p99_ms = hist_quantile_exact(&sl->wait, &sl->wait_x, 0.99) / 1e3;
	m->busy_peak = sl->busy_peak;
	m->utilization = sl->size_us > 0 ? sl->busy_us / sl->size_us : 0;
	m->queued = sl->queued;
	m->queued_ms = (double)sl->wait_sum_us / 1e3;
	m->reserve_used = sl->reserve_used;
	m->login_mean_ms = sl->connects ? (double)sl->login_sum_us / (double)sl->connects / 1e3 : 0;
}

/* ---- the model ---- */

double adv_erlang_c(int c, double a)
{
	double b = 1.0;

	if (a <= 0 || c <= 0)
		return a <= 0 ? 0.0 : 1.0;
	if (a >= c)
		return 1.0;
	/* Erlang B by its stable recursion, then C from B */
	for (int k = 1; k <= c; k++)
		b = a * b / (k + a * b);
	return c * b / (c - a * (1.0 - b));
}

double adv_wait_quantile(int c, double lambda, double mean_s, double ca2, double cs2, double q)
{
	double a = lambda * mean_s, pw, tail = 1.0 - q;

	if (lambda <= 0 || mean_s <= 0)
		return 0.0;
	if (c <= 0 || a >= c)
		return INFINITY;
	pw = adv_erlang_c(c, a);
	if (pw <= tail || tail <= 0)
		return tail <= 0 ? INFINITY : 0.0;
	return (ca2 + cs2) / 2.0 * log(pw / tail) / (c / mean_s - lambda);
}

double adv_wait_mean(int c, double lambda, double mean_s, double ca2, double cs2)
{
	double a = lambda * mean_s;

	if (lambda <= 0 || mean_s <= 0)
		return 0.0;
	if (c <= 0 || a >= c)
		return INFINITY;
	return (ca2 + cs2) / 2.0 * adv_erlang_c(c, a) / (c / mean_s - lambda);
}

/* The smallest size in [1, max] whose predicted wait p99 is within target
 * (ms); max + 1 when none is. */
static int smallest_size(const struct adv_measure *m, double target_ms, int max)
{
	double lambda = m->arrival_rate, mean_s = m->hold_mean_ms / 1e3;
	int c = (int)floor(lambda * mean_s) + 1;

	for (; c <= max; c++)
		if (adv_wait_quantile(c, lambda, mean_s, m->arrival_cv2, m->hold_cv2, 0.99) * 1e3 <= target_ms)
			return c;
	return max + 1;
}

/* The predicted wait p99 in ms at size c for the measurements m. */
static double p99_at(const struct adv_measure *m, int c)
{
	return adv_wait_quantile(c, m->arrival_rate, m->hold_mean_ms / 1e3, m->arrival_cv2, m->hold_cv2, 0.99) * 1e3;
}

void adv_advise(const struct adv_input *in, struct adv_advice *out)
{
	const struct adv_measure *m = &in->m;
	double lambda = m->arrival_rate, mean_s = m->hold_mean_ms / 1e3, load = lambda * mean_s;
	int max = in->cap > 0 ? in->cap : ADV_MAX_SIZE, need;
	struct adv_measure grown;

	memset(out, 0, sizeof(*out));
	out->recommended = in->size;
	if (m->xacts < in->min_xacts || m->xacts == 0 || mean_s <= 0) {
		snprintf(out->reason, sizeof(out->reason),
			 "too little data: %llu transactions in the window, need at least %llu",
			 (unsigned long long)m->xacts, (unsigned long long)in->min_xacts);
		return;
	}
	out->advised = true;
	out->current_p99_ms = p99_at(m, in->size);
	/* size for the measured load plus headroom: near the target the wait
	 * p99 is steep in the load, and the load is only measured */
	grown = *m;
	grown.arrival_rate *= 1.0 + (in->headroom > 0 ? in->headroom : 0);
	need = smallest_size(&grown, in->target_wait_ms, max);
	if (need > max) {
		out->recommended = max;
		out->predicted_p99_ms = p99_at(m, max);
		snprintf(out->reason, sizeof(out->reason),
			 "undersized but capped: offered load %.1f erlangs; PostgreSQL has room for only %d servers here",
			 load, max);
		return;
	}
	if (need <= in->size && m->wait_p99_ms > in->target_wait_ms) {
		/* the model says this size is enough but clients did wait: bursts
		 * the Poisson model does not see, or slow server logins */
		out->recommended = in->size;
		out->predicted_p99_ms = out->current_p99_ms;
		snprintf(out->reason, sizeof(out->reason),
			 "keep: measured wait p99 %.1f ms is above target %g ms although the model predicts %.1f ms "
			 "(bursty arrivals or slow logins?); not shrinking",
			 m->wait_p99_ms, in->target_wait_ms, out->current_p99_ms);
		return;
	}
	out->recommended = need;
	out->predicted_p99_ms = p99_at(m, need);
	if (need > in->size && !isfinite(out->current_p99_ms))
		snprintf(out->reason, sizeof(out->reason),
			 "undersized: offered load %.1f erlangs >= %d servers, the queue grows without bound; "
			 "%d servers predict wait p99 %.1f ms", load, in->size, need, out->predicted_p99_ms);
	else if (need > in->size && out->current_p99_ms <= in->target_wait_ms)
		snprintf(out->reason, sizeof(out->reason),
			 "tight: %d servers predict wait p99 %.1f ms at the measured load but miss %g ms with "
			 "%.0f%% more; %d servers predict %.1f ms", in->size, out->current_p99_ms, in->target_wait_ms,
			 in->headroom * 100, need, out->predicted_p99_ms);
	else if (need > in->size)
		snprintf(out->reason, sizeof(out->reason),
			 "undersized: offered load %.1f erlangs, measured wait p99 %.1f ms (target %g ms); "
			 "%d servers predict %.1f ms", load, m->wait_p99_ms, in->target_wait_ms, need,
			 out->predicted_p99_ms);
	else if (need < in->size)
		snprintf(out->reason, sizeof(out->reason),
			 "oversized: utilization %.0f%%, peak %d busy of %d; %d servers predict wait p99 %.1f ms",
			 m->utilization * 100, m->busy_peak, in->size, need, out->predicted_p99_ms);
	else
		snprintf(out->reason, sizeof(out->reason), "right-sized: %d servers predict wait p99 %.1f ms (target %g ms)",
			 need, out->predicted_p99_ms, in->target_wait_ms);
}
