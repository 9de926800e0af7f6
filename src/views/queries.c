/*
 * query views: the analyzer's per-query statistics (QUERIES, ANALYZER),
 * the shared prepared statements (PREPARED_STATEMENTS) and the pool sizing
 * advisor (POOL_ADVICE). Meanings in doc/analyzer.md and doc/advisor.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views/families.h"
#include "pooler/advisor_pool.h"
#include "pooler/findings.h"
#include "pooler/objects.h"
#include "pooler/sift.h"

/* ---- QUERIES, ANALYZER ---- */

static void error_codes(const struct qentry *e, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < QSTATS_ERR_SLOTS && n < outlen; i++)
		if (e->err[i].count)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s:%llu", n ? " " : "", e->err[i].sqlstate,
					      (unsigned long long)e->err[i].count);
	if (e->err_other && n < outlen)
		snprintf(out + n, outlen - n, "%sother:%llu", n ? " " : "", (unsigned long long)e->err_other);
}

static const struct view_col queries_cols[] = {
	{ "fingerprint", 's', "",
	  "16 hex digits: the statement's shape, as `pgsift --fingerprint` prints it." },
	{ "database", 's', "",
	  "Database entry the clients used." },
	{ "user", 's', "",
	  "User the clients logged in as." },
	{ "kind", 's', "",
	  "First keyword class: select, insert, update, delete, merge, with, copy, ddl, txn, set, prepared, cursor, listen, other." },
	{ "calls", 'q', "count",
	  "Executions counted (completed or failed)." },
	{ "total_ms", 'D', "ms",
	  "Sum of execution times, milliseconds." },
	{ "mean_ms", 'D', "ms",
	  "Mean execution time." },
	{ "min_ms", 'D', "ms",
	  "Fastest execution." },
	{ "max_ms", 'D', "ms",
	  "Slowest execution." },
	{ "stddev_ms", 'D', "ms",
	  "Population standard deviation of the execution times." },
	{ "p50_ms", 'D', "ms",
	  "Median execution time, from a histogram with at most 2% relative error (for times within about 4 decades of the slowest one; see fingerprint.md)." },
	{ "p95_ms", 'D', "ms",
	  "95th percentile." },
	{ "p99_ms", 'D', "ms",
	  "99th percentile." },
	{ "rows", 'q', "count",
	  "Rows reported by CommandComplete tags (SELECT, INSERT, UPDATE, DELETE, MERGE, FETCH, MOVE, COPY)." },
	{ "errors", 'q', "count",
	  "Executions that ended in an ErrorResponse." },
	{ "error_codes", 's', "",
	  "SQLSTATE:count pairs, the first four distinct codes, then `other:n`." },
	{ "wait_ms", 'D', "ms",
	  "Total time clients waited for a server connection before these statements." },
	{ "first_seen", 'T', "time",
	  "When the shape was first seen (UTC)." },
	{ "last_seen", 'T', "time",
	  "When it was last executed (UTC)." },
	{ "application_name", 's', "",
	  "The application_name that runs it most (approximate when many do)." },
	{ "tag", 's', "",
	  "The first `/* ... */` comment of the last execution (sqlcommenter tags such as `route='/orders'`), or NULL." },
	{ "query", 's', "",
	  "Normalized text: constants as `$1`, `$2`..., lists collapsed, one space between tokens." },
	{ "sample", 's', "",
	  "The last statement as sent, literals included; NULL unless `log_query_samples` is on." },
	{ "partial", 's', "",
	  "`yes` when the text was cut (a statement larger than the buffer, or unterminated)." },
};
static void query_row(struct view_sink *sink, const struct qentry *e)
{
	char hex[17], codes[160];
	double p[3];

	fp_hex(e->fp, hex);
	error_codes(e, codes, sizeof(codes));
	qstats_p50_p95_p99_us(e, p);
	view_row(sink, hex, ((const struct db *)e->db)->name, ((const struct user *)e->user)->name,
		 fp_kind_name((enum fp_kind)e->kind), (int64_t)e->calls, e->total_us / 1e3,
		 e->calls ? (double)e->total_us / (double)e->calls / 1e3 : 0.0, e->exact.n ? e->exact.min / 1e3 : 0.0,
		 e->exact.max / 1e3, qstats_stddev_us(e) / 1e3, p[0] / 1e3, p[1] / 1e3, p[2] / 1e3, (int64_t)e->rows,
		 (int64_t)e->errors, codes, e->wait_us / 1e3, e->first_seen, e->last_seen, qstats_top_app(e), e->tag,
		 e->text, e->sample, e->partial ? "yes" : "no");
}

static void queries_rows(struct sift *s, struct view_sink *sink)
{
	const struct qstats *qs = &s->an.qs;
	struct qentry **list;
	size_t n;

	if (sink->unordered) { /* SQL sorts for itself: no list, no sort */
		for (uint32_t i = 0; i < qs->max; i++)
			if (qs->slots[i] && qs->slots[i]->id)
				query_row(sink, qs->slots[i]);
		return;
	}
	n = qstats_sorted(&s->an.qs, &list);
	for (size_t i = 0; i < n; i++)
		query_row(sink, list[i]);
	free(list);
}

const struct view view_queries = { "queries", "One row per (fingerprint, database, user): calls, time, percentiles, rows, errors.",
				   queries_cols, VIEW_NCOLS(queries_cols), queries_rows };

static const struct view_col analyzer_cols[] = {
	{ "analyzer", 's', "",
	  "`on` or `off` (setting `analyzer`)." },
	{ "fingerprints", 'i', "count",
	  "Entries in the table now." },
	{ "max_fingerprints", 'i', "count",
	  "Most entries kept." },
	{ "evictions", 'q', "count",
	  "Entries evicted to make room for new shapes since the start (or the last `RESET QUERIES`)." },
	{ "statements", 'q', "count",
	  "Executions recorded." },
	{ "untracked", 'q', "count",
	  "Replies that could not be matched to a statement pgsift saw (for example after the analyzer was switched on mid-flight)." },
	{ "history_buckets", 'i', "count",
	  "Closed time buckets kept (`stats_buckets` at most)." },
	{ "history_bytes", 'q', "bytes",
	  "Memory the closed buckets' rows take (`stats_history_memory` at most, beyond the bucket being closed)." },
	{ "history_dropped_buckets", 'q', "count",
	  "Buckets dropped before their time to stay within `stats_history_memory`." },
	{ "slow_statements", 'q', "count",
	  "Statements slower than `slow_query_ms` since the start (`slow` keeps the last `slow_query_log_size`)." },
	{ "total_ms", 'D', "ms",
	  "Execution time of every statement in the table (the sum of `queries`' total_ms): what a shape's share is a share of." },
	{ "exported_fingerprints", 'i', "count",
	  "Entries /metrics shows on their own (the top `metrics_top_fingerprints` by total time, as of the last scrape or `query_histogram` read; new entries join while there is room)." },
	{ "spans_made", 'q', "count",
	  "Spans made for traced statements (doc/tracing.md), exported or not." },
	{ "spans_exported", 'q', "count",
	  "Spans the OTLP collector (`otlp_endpoint`) accepted." },
	{ "spans_dropped", 'q', "count",
	  "Spans lost: the queue (`otlp_queue_spans`) was full, or a batch failed for good." },
	{ "span_export_errors", 'q', "count",
	  "Export requests that failed (each retry counts)." },
	{ "spans_queued", 'i', "count",
	  "Spans waiting in the queue now." },
};
static void analyzer_rows(struct sift *s, struct view_sink *sink)
{
	const struct findings *fd = s->an.fd;
	const struct qstats *qs = &s->an.qs;
	const struct tracer *t = s->an.tr;
	uint64_t total = 0;

	for (uint32_t i = 0; i < qs->max; i++)
		if (qs->slots[i] && qs->slots[i]->id)
			total += qs->slots[i]->total_us;
	view_row(sink, s->cfg.analyzer ? "on" : "off", (int)qs->used, (int)qs->max, (int64_t)qs->evictions,
		 (int64_t)s->an.statements, (int64_t)s->an.untracked, (int)s->an.hist.n, (int64_t)s->an.hist.bytes,
		 (int64_t)s->an.hist.dropped_buckets, (int64_t)(fd ? fd->sl.total : 0), total / 1e3, (int)qs->nexported,
		 (int64_t)(t ? t->made : 0), (int64_t)(t ? t->exported : 0), (int64_t)(t ? t->dropped : 0),
		 (int64_t)(t ? t->export_errors : 0), (int)(t ? t->n : 0));
}

const struct view view_analyzer = { "analyzer", "One row about the analyzer's table.", analyzer_cols,
				    VIEW_NCOLS(analyzer_cols), analyzer_rows };

/* ---- PREPARED_STATEMENTS ---- */

struct ps_rows_arg {
	struct view_sink *sink;
	struct fp_result *fr;
};

static void prepared_row(void *arg, const struct ps_stmt *st)
{
	struct ps_rows_arg *a = arg;
	const char *query = (const char *)st->body;
	size_t qlen = strnlen(query, st->body_len);
	int nparams = 0;
	char hex[17];

	if (qlen + 3 <= st->body_len)
		nparams = st->body[qlen + 1] << 8 | st->body[qlen + 2];
	fp_compute(query, qlen, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, a->fr);
	fp_hex(a->fr->hash, hex);
	view_row(a->sink, st->name, query, nparams, (int)st->nclients, (int)st->nservers, (int64_t)st->client_parses,
		 (int64_t)st->server_parses, (int64_t)st->binds, hex);
}

static const struct view_col prepared_statements_cols[] = {
	{ "name", 's', "",
	  "Internal name the servers know it by (`pgsift_<n>`)." },
	{ "query", 's', "",
	  "The statement text, as the first client sent it." },
	{ "params", 'i', "",
	  "Parameter types the Parse gave (0 when the server infers them all)." },
	{ "clients", 'i', "count",
	  "Client names that refer to it now." },
	{ "servers", 'i', "count",
	  "Server connections that have it prepared now." },
	{ "client_parses", 'q', "count",
	  "Parse messages from clients for it (named statements only)." },
	{ "server_parses", 'q', "count",
	  "Parse messages pgsift sent to servers for it." },
	{ "binds", 'q', "count",
	  "Bind messages that used it." },
	{ "fingerprint", 's', "",
	  "Its fingerprint, as in `SHOW QUERIES`." },
};
static void prepared_statements_rows(struct sift *s, struct view_sink *sink)
{
	struct ps_rows_arg a = { sink, &s->an.fr };

	ps_foreach(s, prepared_row, &a);
}

const struct view view_prepared_statements = {
	"prepared_statements", "One row per prepared statement shared by clients in transaction mode.",
	prepared_statements_cols, VIEW_NCOLS(prepared_statements_cols), prepared_statements_rows
};

/* ---- POOL_ADVICE ---- */

static const struct view_col pool_advice_cols[] = {
	{ "database", 's', "",
	  "Database entry of the pool." },
	{ "user", 's', "",
	  "User the pool's servers log in as." },
	{ "pool_mode", 's', "",
	  "Effective pool mode. In session mode a \"transaction\" is a whole client session." },
	{ "pool_size", 'i', "",
	  "Current pool size (the database's `pool_size`, else `default_pool_size`)." },
	{ "reserve_pool_size", 'i', "",
	  "Effective `reserve_pool_size`." },
	{ "servers", 'i', "count",
	  "Server connections the pool has now (any state)." },
	{ "window_s", 'D', "s",
	  "Seconds the sliding window covers: `advisor_window` once the pool is that old, less before. The columns from `xacts` to `login_ms` cover this window." },
	{ "xacts", 'q', "count",
	  "Transactions (server assignments) that ended in the window: the data the advice is based on." },
	{ "arrival_rate", 'D', "",
	  "Transactions offered per second over the window: clients asking for a server (a client that waits counts once)." },
	{ "arrival_cv2", 'D', "",
	  "Squared coefficient of variation of the gaps between those requests (variance / mean²; gaps longer than a tenth of the window count as a tenth): 1 for Poisson arrivals, above 1 for bursts, below 1 for regular ones; 1 until 10 gaps were seen." },
	{ "hold_mean_ms", 'D', "ms",
	  "Mean server hold time per transaction: from linking a server to a client to releasing it, milliseconds." },
	{ "hold_p50_ms", 'D', "ms",
	  "Median hold time (2% histogram)." },
	{ "hold_p95_ms", 'D', "ms",
	  "95th percentile of the hold time." },
	{ "hold_p99_ms", 'D', "ms",
	  "99th percentile of the hold time." },
	{ "hold_cv2", 'D', "",
	  "Squared coefficient of variation of the hold time: 1 for exponential holds, 0 for constant ones." },
	{ "wait_p50_ms", 'D', "ms",
	  "Median client wait for a server, over every assignment (0 when a server was free)." },
	{ "wait_p95_ms", 'D', "ms",
	  "95th percentile of the wait." },
	{ "wait_p99_ms", 'D', "ms",
	  "99th percentile of the wait." },
	{ "busy_mean", 'D', "",
	  "Mean number of servers linked to a client (busy-server-seconds / seconds)." },
	{ "busy_peak", 'i', "count",
	  "Most servers linked to clients at once." },
	{ "utilization", 'D', "",
	  "Busy server-seconds over pool-size-seconds, 0 to 1 (above 1 when the reserve pool is used)." },
	{ "queued", 'q', "count",
	  "Times a client had to wait for a server." },
	{ "queued_ms", 'D', "ms",
	  "Total time clients waited, milliseconds." },
	{ "reserve_used", 'q', "count",
	  "Connections opened from the reserve pool." },
	{ "connects_per_min", 'D', "",
	  "Server logins finished per minute (connection churn)." },
	{ "login_ms", 'D', "ms",
	  "Mean time from opening a server connection to its finished login, milliseconds." },
	{ "total_s", 'D', "s",
	  "Seconds since the pool's first event; the `total_` columns cover this time." },
	{ "total_xacts", 'q', "count",
	  "Transactions since start." },
	{ "total_arrival_rate", 'D', "",
	  "Transactions per second since start." },
	{ "total_hold_p50_ms", 'D', "ms",
	  "Median hold time since start." },
	{ "total_hold_p99_ms", 'D', "ms",
	  "99th percentile hold time since start." },
	{ "total_wait_p99_ms", 'D', "ms",
	  "99th percentile wait since start." },
	{ "total_busy_peak", 'i', "count",
	  "Peak busy servers since start." },
	{ "total_utilization", 'D', "",
	  "Utilization since start." },
	{ "total_queued", 'q', "count",
	  "Times clients waited since start." },
	{ "total_reserve_used", 'q', "count",
	  "Reserve-pool connections since start." },
	{ "total_connects", 'q', "count",
	  "Server logins since start." },
	{ "pg_max_connections", 'I', "count",
	  "PostgreSQL's `max_connections`, read through libpq in the background (first when `SHOW POOL_ADVICE` is run, then every 60 s while the pool is used or shown; until then PostgreSQL sees no connection of the advisor). NULL when unknown." },
	{ "pg_connections", 'I', "count",
	  "Client backends connected to PostgreSQL at that time (pg_stat_activity, every database and pool, pgsift's own probe excluded). NULL when unknown." },
	{ "pg_status", 's', "",
	  "`ok`, `pending` (no answer yet), or why the probe failed (`connect: ...`, `query: ...`); the advice is then not capped by the server." },
	{ "recommended_size", 'I', "count",
	  "The advised pool size; NULL when there is too little data." },
	{ "predicted_wait_p99_ms", 'D', "ms",
	  "Wait p99 the model predicts at `recommended_size`; NULL with no advice." },
	{ "current_predicted_wait_p99_ms", 'D', "ms",
	  "Wait p99 the model predicts at the current size; NULL when the offered load is at or above the pool size (the queue has no steady state) or with no advice." },
	{ "confidence", 's', "",
	  "`none` (fewer than `advisor_min_transactions` transactions in the window: no advice), `low` (< 10x that), `medium` (< 100x), `high`." },
	{ "reason", 's', "",
	  "One line: `too little data`, `undersized`, `tight` (meets the target only without `advisor_headroom`), `undersized but capped`, `oversized`, `right-sized` or `keep` (measured waits above target although the model is content), with the figures behind it." },
};
static void pool_advice_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct advisor_row r;
		const struct adv_measure *w = &r.win, *a = &r.all;
		advisor_report(p, &r);
		view_row(sink, p->db->name, p->user->name, config_pool_mode_name(pool_mode_of(s, p)), r.size, r.reserve,
			 r.servers, w->seconds, (int64_t)w->xacts, w->arrival_rate, w->arrival_cv2, w->hold_mean_ms,
			 w->hold_p50_ms, w->hold_p95_ms, w->hold_p99_ms, w->hold_cv2, w->wait_p50_ms, w->wait_p95_ms,
			 w->wait_p99_ms, w->busy_mean, w->busy_peak, w->utilization, (int64_t)w->queued, w->queued_ms,
			 (int64_t)w->reserve_used, w->connects_per_min, w->login_mean_ms, a->seconds, (int64_t)a->xacts,
			 a->arrival_rate, a->hold_p50_ms, a->hold_p99_ms, a->wait_p99_ms, a->busy_peak, a->utilization,
			 (int64_t)a->queued, (int64_t)a->reserve_used, (int64_t)(a->connects_per_min * a->seconds / 60 + 0.5),
			 r.pg_max, r.pg_used, r.pg_status, r.advice.advised ? r.advice.recommended : -1,
			 r.advice.predicted_p99_ms, r.advice.current_p99_ms, r.confidence, r.advice.reason);
	}
}

const struct view view_pool_advice = { "pool_advice", "One row per pool: what the advisor measured and the size it advises.",
				       pool_advice_cols, VIEW_NCOLS(pool_advice_cols), pool_advice_rows };
