/*
 * history views: per-query and per-pool statistics by time bucket
 * (analyzer/history.h), the current bucket first, then older ones.
 */
#include "views/families.h"
#include "pooler/objects.h"
#include "pooler/sift.h"

static double ms(double us)
{
	return us / 1e3;
}

static const struct view_col query_history_cols[] = {
	{ "bucket_start", 'T', "time", "Start of the time bucket (UTC); buckets are `stats_bucket_seconds` long and aligned on the clock." },
	{ "bucket_seconds", 'i', "s", "Length of the bucket, seconds." },
	{ "in_progress", 'b', "", "`true` for the bucket in progress (its numbers still grow)." },
	{ "fingerprint", 's', "", "The statement's shape, as in `queries`." },
	{ "database", 's', "", "Database entry the clients used." },
	{ "user", 's', "", "User the clients logged in as." },
	{ "kind", 's', "", "First keyword class, as in `queries`." },
	{ "calls", 'q', "count", "Executions that ended in this bucket." },
	{ "total_ms", 'D', "ms", "Sum of their execution times." },
	{ "mean_ms", 'D', "ms", "Mean execution time." },
	{ "min_ms", 'D', "ms", "Fastest execution in the bucket." },
	{ "max_ms", 'D', "ms", "Slowest execution in the bucket." },
	{ "p50_ms", 'D', "ms", "Median, from the bucket's own histogram (exact up to 16 calls; never outside min..max)." },
	{ "p95_ms", 'D', "ms", "95th percentile (nearest rank), as p50_ms." },
	{ "p99_ms", 'D', "ms", "99th percentile (nearest rank), as p50_ms." },
	{ "rows", 'q', "count", "Rows reported by their CommandComplete tags." },
	{ "errors", 'q', "count", "Executions that ended in an error." },
	{ "wait_ms", 'D', "ms", "Time clients waited for a server before these statements." },
};

static void query_row(struct view_sink *sink, int64_t start, int secs, bool current, uint64_t fp, const void *db,
		      const void *user, uint8_t kind, const struct hs_qrow *r)
{
	char hex[17];

	fp_hex(fp, hex);
	view_row(sink, start, secs, current, hex, ((const struct db *)db)->name, ((const struct user *)user)->name,
		 fp_kind_name((enum fp_kind)kind), (int64_t)r->calls, ms((double)r->total_us),
		 r->calls ? ms((double)r->total_us / (double)r->calls) : 0.0, ms((double)r->min_us),
		 ms((double)r->max_us), ms(r->p50_us), ms(r->p95_us), ms(r->p99_us), (int64_t)r->rows,
		 (int64_t)r->errors, ms((double)r->wait_us));
}

static void query_history_rows(struct sift *s, struct view_sink *sink)
{
	const struct qstats *qs = &s->an.qs;
	const struct history *h = &s->an.hist;
	int secs = (int)(h->len_us / 1000000);
	const struct hs_bucket *b;
	struct hs_qrow r;

	if (!h->ring)
		return;
	for (uint32_t i = 0; i < qs->max; i++) {
		const struct qentry *e = qs->slots[i];
		if (!e || !e->id || !e->cur.calls)
			continue;
		hs_peek_query(&e->cur, &e->hist, &r);
		query_row(sink, qs->bucket, secs, true, e->fp, e->db, e->user, e->kind, &r);
	}
	for (uint32_t i = h->n; i-- > 0 && (b = hs_get(h, i));)
		for (uint32_t j = 0; j < b->nq; j++)
			query_row(sink, b->start, secs, false, b->q[j].fp, b->q[j].db, b->q[j].user, b->q[j].kind,
				  &b->q[j]);
}

const struct view view_query_history = {
	"query_history", "One row per (time bucket, fingerprint, database, user) that ran in the bucket.",
	query_history_cols, VIEW_NCOLS(query_history_cols), query_history_rows
};

static const struct view_col pool_history_cols[] = {
	{ "bucket_start", 'T', "time", "Start of the time bucket (UTC)." },
	{ "bucket_seconds", 'i', "s", "Length of the bucket, seconds." },
	{ "in_progress", 'b', "", "`true` for the bucket in progress." },
	{ "database", 's', "", "Database entry of the pool." },
	{ "user", 's', "", "User the pool's servers log in as." },
	{ "xacts", 'q', "count", "Transactions pooled in the bucket (as `stats`' xact_count)." },
	{ "xacts_per_s", 'D', "1/s", "Transactions per second over the bucket (so far, for the current one)." },
	{ "assignments", 'q', "count", "Times a client was given a server." },
	{ "wait_p50_ms", 'D', "ms", "Median wait for a server per assignment (0 when one was free)." },
	{ "wait_p99_ms", 'D', "ms", "99th percentile of that wait (nearest rank; exact up to 16 assignments)." },
	{ "wait_max_ms", 'D', "ms", "Longest wait for a server." },
	{ "clients_waiting_peak", 'i', "count", "Most clients waiting for a server at once (counted at each wait up to 64, sampled every second above)." },
	{ "servers_active_peak", 'i', "count", "Most server connections linked to clients at once." },
};

static void pool_row(struct view_sink *sink, const struct sift *s, int64_t start, bool current,
		     const struct pool *p, const struct hs_prow *r)
{
	int secs = (int)(s->an.hist.len_us / 1000000);
	double span = current ? (double)(s->wall_offset + s->now - start) / 1e6 : secs;

	view_row(sink, start, secs, current, p->db->name, p->user->name, (int64_t)r->xacts,
		 span > 0 ? (double)r->xacts / span : 0.0, (int64_t)r->waits, ms(r->wait_p50_us), ms(r->wait_p99_us),
		 ms(r->wait_max_us), r->waiting_peak, r->active_peak);
}

static void pool_history_rows(struct sift *s, struct view_sink *sink)
{
	const struct history *h = &s->an.hist;
	const struct hs_bucket *b;
	struct list *it;
	struct hs_prow r;

	if (!h->ring)
		return;
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		hs_peek_pool(&p->hist, &r);
		r.xacts = p->stats.xact_count - p->hist_xact_base;
		if (r.xacts || r.waits || r.waiting_peak || r.active_peak)
			pool_row(sink, s, s->an.pool_bucket, true, p, &r);
	}
	for (uint32_t i = h->n; i-- > 0 && (b = hs_get(h, i));)
		for (uint32_t j = 0; j < b->np; j++)
			pool_row(sink, s, b->start, false, b->p[j].pool, &b->p[j]);
}

const struct view view_pool_history = {
	"pool_history", "One row per (time bucket, pool) with traffic in the bucket.", pool_history_cols,
	VIEW_NCOLS(pool_history_cols), pool_history_rows
};
