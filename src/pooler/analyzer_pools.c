/*
 * analyzer_pools: the analyzer's pool numbers per time bucket (waits,
 * transactions, peaks of active servers and waiting clients) and its
 * janitor's work; see analyzer.h. Split from analyzer.c, which keeps the
 * statements.
 */
#include "pooler/analyzer.h"
#include "pooler/analyzer_int.h"

#include "pooler/findings.h"
#include "pooler/sift.h"

#define DECAY_USEC (60 * 1000000LL)

/* ---- history: pools' numbers per time bucket ---- */

#define WAITING_COUNTED 64	/* a longer queue's peak is sampled once a second */

/* Up to limit + 1 entries of l. */
static int count_upto(const struct list *l, int limit)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, l)
		if (++n > limit)
			break;
	return n;
}

/* Closes every pool's numbers into the bucket they were collected for
 * when the wall clock has moved past it. */
static void pools_roll_now(struct sift *s)
{
	struct analyzer *an = &s->an;
	int64_t now = wall_now(s);
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (p->hist.xacts || p->stats.xact_count != p->hist_xact_base || p->hist.waits || p->hist.waiting_peak ||
		    p->hist.active_peak) {
			p->hist.xacts = p->stats.xact_count - p->hist_xact_base;
			hs_close_pool(&an->hist, an->pool_bucket, p, &p->hist);
		}
		p->hist_xact_base = p->stats.xact_count;
	}
	an->pool_bucket = hs_bucket_of(&an->hist, now);
}

/* Inline: the usual call (once a transaction) finds the bucket current */
static inline void pools_roll(struct sift *s)
{
	struct analyzer *an = &s->an;

	if (an->hist.ring && wall_now(s) >= an->pool_bucket + an->hist.len_us)
		pools_roll_now(s);
}

void an_pool_link(struct pool *p, int64_t wait_us)
{
	uint64_t w = (uint64_t)(wait_us > 0 ? wait_us : 0);
	int active;

	pools_roll(p->sift);
	p->hist.waits++;
	lb_add(&p->wait_lb, w);
	hist_add(&p->hist.wait, w);
	hist_exact_add(&p->hist.wait_exact, w);
	/* no more are active than the pool has: a peak there is not walked for */
	if (p->hist.active_peak < p->nservers) {
		active = count_upto(&p->active_servers, INT32_MAX - 1);
		if (active > p->hist.active_peak)
			p->hist.active_peak = active;
	}
}

void an_pool_wait(struct pool *p)
{
	int n;

	pools_roll(p->sift);
	if (p->hist.waiting_peak >= WAITING_COUNTED)
		return;
	n = count_upto(&p->waiting_clients, WAITING_COUNTED);
	if (n > p->hist.waiting_peak)
		p->hist.waiting_peak = n;
}

/* The janitor's once-a-second look at queues too long to count per event. */
static void pools_sample(struct sift *s)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		int n;
		if (p->hist.waiting_peak < WAITING_COUNTED)
			continue;
		n = (int)list_count(&p->waiting_clients);
		if (n > p->hist.waiting_peak)
			p->hist.waiting_peak = n;
	}
}

bool an_history_setup(struct sift *s)
{
	const struct config *c = &s->cfg;
	int64_t len = (int64_t)c->stats_bucket_seconds * 1000000;
	size_t bytes = (size_t)c->stats_history_memory << 20;
	bool fresh = !s->an.hist.ring;
	struct list *it;

	if (fresh ? !hs_init(&s->an.hist, len, (uint32_t)c->stats_buckets, bytes)
		  : !hs_configure(&s->an.hist, len, (uint32_t)c->stats_buckets, bytes))
		return false;
	if (!qstats_set_history(&s->an.qs, &s->an.hist, wall_now(s)))
		return false;
	if (fresh || s->an.pool_bucket != hs_bucket_of(&s->an.hist, s->an.pool_bucket)) {
		s->an.pool_bucket = hs_bucket_of(&s->an.hist, wall_now(s));
		list_for_each(it, &s->pools) {
			struct pool *p = list_entry(it, struct pool, node);
			memset(&p->hist, 0, sizeof(p->hist));
			p->hist_xact_base = p->stats.xact_count;
		}
	}
	return true;
}

void an_janitor(struct sift *s)
{
	if (s->now - s->an.last_decay >= DECAY_USEC) {
		s->an.last_decay = s->now;
		qstats_decay(&s->an.qs);
	}
	qstats_roll(&s->an.qs, wall_now(s));
	pools_sample(s);
	pools_roll(s);
	fd_janitor(s);
	tr_janitor(s); /* after the findings: an N+1 ended by time reaches its held span first */
}
