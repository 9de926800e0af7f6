/*
 * metrics: see metrics.h. Each view is copied once (views/snapshot.h) and read for
 * every family it feeds; a family's HELP is its column's declared meaning.
 */
#include "surfaces/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views/snapshot.h"
#include "pooler/sift.h"
#include "views/view.h"

#define INFO_QUERY_MAX 120	/* bytes of normalized text in pgsift_query_info */
#define MAX_LABELS 8

enum mtype { M_GAUGE, M_COUNTER, M_HISTOGRAM, M_INFO };

struct mctx {
	struct sift *s;
	struct strbuf *o;
	bool om;		/* OpenMetrics */
	const char *prefix;	/* "pgsift_", "pgbouncer_" or "" */
	char fam[128];		/* the family being written, prefixed */
	enum mtype type;
	unsigned samples;
};

struct lbl {
	const char *k, *v;
};

/* ---- the exposition format ---- */

static void put_escaped(struct strbuf *o, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);

	while (p < end) {
		const unsigned char *run = p;
		size_t k;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '\\' && *p != '"')
			p++; /* plain ASCII, copied at once */
		sb_add(o, run, (size_t)(p - run));
		if (p == end)
			break;
		if (*p == '\\' || (quote && *p == '"')) {
			sb_putc(o, '\\');
			sb_putc(o, (char)*p++);
		} else if (*p == '\n') {
			sb_puts(o, "\\n");
			p++;
		} else if ((k = utf8_seq_len(p, (size_t)(end - p))) > 0) {
			sb_add(o, p, k);
			p += k;
		} else {
			sb_puts(o, "\xef\xbf\xbd"); /* not UTF-8: U+FFFD, as Prometheus needs valid text */
			p++;
		}
	}
}

static void family(struct mctx *m, const char *name, enum mtype t, const char *help)
{
	static const char *const text_types[] = { "gauge", "counter", "histogram", "gauge" };
	static const char *const om_types[] = { "gauge", "counter", "histogram", "info" };
	const char *suffix = m->om ? "" : t == M_COUNTER ? "_total" : t == M_INFO ? "_info" : "";

	snprintf(m->fam, sizeof(m->fam), "%s%s", m->prefix, name);
	m->type = t;
	sb_printf(m->o, "# HELP %s%s ", m->fam, suffix);
	put_escaped(m->o, help, m->om);
	sb_printf(m->o, "\n# TYPE %s%s %s\n", m->fam, suffix, m->om ? om_types[t] : text_types[t]);
}

/* One sample of the current family; suffix NULL: the family's own
 * (_total for counters, _info for info). */
static void sample(struct mctx *m, const char *suffix, const struct lbl *l, int nl, double v)
{
	bool first = true;

	if (!suffix)
		suffix = m->type == M_COUNTER ? "_total" : m->type == M_INFO ? "_info" : "";
	sb_puts(m->o, m->fam);
	sb_puts(m->o, suffix);
	for (int i = 0; i < nl; i++) {
		if (!l[i].v || !*l[i].v)
			continue;
		sb_putc(m->o, first ? '{' : ',');
		first = false;
		sb_puts(m->o, l[i].k);
		sb_puts(m->o, "=\"");
		put_escaped(m->o, l[i].v, true);
		sb_putc(m->o, '"');
	}
	if (!first)
		sb_putc(m->o, '}');
	sb_putc(m->o, ' ');
	sb_double(m->o, v);
	sb_putc(m->o, '\n');
	m->samples++;
}

/* ---- values from rows ---- */

static const char *col_doc(const struct view *v, const char *col)
{
	int c = view_col_index(v, col);

	return c >= 0 ? v->cols[c].doc : "";
}

/* Column c of a row as a label value (numbers formatted into buf). */
static const char *text_at(const struct view *v, const struct view_val *row, int c, char *buf, size_t n)
{
	(void)v;
	if (c < 0 || row[c].kind == VK_NULL)
		return NULL;
	if (row[c].kind == VK_TEXT)
		return row[c].u.s;
	if (!buf)
		return NULL;
	snprintf(buf, n, "%lld", (long long)row[c].u.i);
	return buf;
}

static const char *text_of(const struct view *v, const struct view_val *row, const char *col, char *buf, size_t n)
{
	return text_at(v, row, view_col_index(v, col), buf, n);
}

static double num_of(const struct view *v, const struct view_val *row, const char *col)
{
	int c = view_col_index(v, col);

	return c < 0 ? NAN : view_val_num(&row[c], v->cols[c].type);
}

/* A column mapped to a family: value = col * scale (+ col2 * scale2). */
struct colmap {
	const char *col, *metric;
	enum mtype type;
	double scale;
	const char *col2;
	double scale2;
	const char *help;	/* NULL: the column's declared meaning */
};

/* One family per map entry, one sample per row, labelled by the columns
 * named in labels (same names as label keys). */
static void table(struct mctx *m, const struct view_snap *r, const char *const *labels, int nlabels,
		  const struct colmap *map, int nmap)
{
	const struct view *v = r->sink.view;
	char bufs[MAX_LABELS][24];
	struct lbl l[MAX_LABELS];
	int lc[MAX_LABELS];

	for (int k = 0; k < nlabels; k++)
		lc[k] = view_col_index(v, labels[k]);
	for (int f = 0; f < nmap; f++) {
		int c = view_col_index(v, map[f].col), c2 = map[f].col2 ? view_col_index(v, map[f].col2) : -1;
		family(m, map[f].metric, map[f].type, map[f].help ? map[f].help : col_doc(v, map[f].col));
		for (uint32_t i = 0; c >= 0 && i < r->nrows; i++) {
			const struct view_val *row = view_snap_row(r, i);
			double x = view_val_num(&row[c], v->cols[c].type) * map[f].scale;
			if (c2 >= 0)
				x += view_val_num(&row[c2], v->cols[c2].type) * map[f].scale2;
			if (isnan(x))
				continue;
			for (int k = 0; k < nlabels; k++)
				l[k] = (struct lbl){ labels[k], text_at(v, row, lc[k], bufs[k], sizeof(bufs[k])) };
			sample(m, NULL, l, nlabels, x);
		}
	}
}

static bool take(struct view_snap *r, struct sift *s, const char *view)
{
	const struct view *v = view_find(view);

	memset(r, 0, sizeof(*r));
	return v && view_snap_of(r, s, v, 0);
}

/* ---- PgBouncer's numbers, under pgbouncer_exporter's names ---- */

static const struct colmap pools_map[] = {
	{ "cl_active", "pools_client_active_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "cl_waiting", "pools_client_waiting_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "cl_active_cancel_req", "pools_client_active_cancel_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "cl_waiting_cancel_req", "pools_client_waiting_cancel_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_active", "pools_server_active_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_active_cancel", "pools_server_active_cancel_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_being_canceled", "pools_server_being_canceled_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_idle", "pools_server_idle_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_used", "pools_server_used_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_tested", "pools_server_testing_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "sv_login", "pools_server_login_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "maxwait", "pools_client_maxwait_seconds", M_GAUGE, 1, "maxwait_us", 1e-6,
	  "How long the oldest waiting client has waited, seconds; a growing value means the pool cannot keep up." },
};

static const struct colmap stats_map[] = {
	{ "query_count", "stats_queries_pooled", M_COUNTER, 1, NULL, 0, NULL },
	{ "query_time", "stats_queries_duration_seconds", M_COUNTER, 1e-6, NULL, 0,
	  "Seconds spent actively executing statements on a server." },
	{ "bytes_received", "stats_received_bytes", M_COUNTER, 1, NULL, 0, NULL },
	{ "bytes_sent", "stats_sent_bytes", M_COUNTER, 1, NULL, 0, NULL },
	{ "xact_count", "stats_sql_transactions_pooled", M_COUNTER, 1, NULL, 0, NULL },
	{ "xact_time", "stats_server_in_transaction_seconds", M_COUNTER, 1e-6, NULL, 0,
	  "Seconds spent connected to a server inside a transaction." },
	{ "wait_time", "stats_client_wait_seconds", M_COUNTER, 1e-6, NULL, 0,
	  "Seconds clients spent waiting for a server connection." },
	{ "client_parse_count", "stats_client_parses", M_COUNTER, 1, NULL, 0, NULL },
	{ "server_parse_count", "stats_server_parses", M_COUNTER, 1, NULL, 0, NULL },
	{ "bind_count", "stats_binds", M_COUNTER, 1, NULL, 0, NULL },
	{ "server_assignment_count", "stats_server_assignments", M_COUNTER, 1, NULL, 0, NULL },
};

static const struct colmap databases_map[] = {
	{ "pool_size", "databases_pool_size", M_GAUGE, 1, NULL, 0, NULL },
	{ "reserve_pool_size", "databases_reserve_pool", M_GAUGE, 1, NULL, 0, NULL },
	{ "max_connections", "databases_max_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "current_connections", "databases_current_connections", M_GAUGE, 1, NULL, 0, NULL },
	{ "paused", "databases_paused", M_GAUGE, 1, NULL, 0, NULL },
	{ "disabled", "databases_disabled", M_GAUGE, 1, NULL, 0, NULL },
};

/* SHOW LISTS rows, by list name, as the exporter names them. */
static const char *const lists_names[][2] = {
	{ "databases", "databases" }, { "users", "users" }, { "pools", "pools" },
	{ "free_clients", "free_clients" }, { "used_clients", "used_clients" }, { "login_clients", "login_clients" },
	{ "free_servers", "free_servers" }, { "used_servers", "used_servers" }, { "dns_names", "cached_dns_names" },
	{ "dns_zones", "cached_dns_zones" }, { "dns_queries", "in_flight_dns_queries" },
};

static void lists_config(struct mctx *m, const struct view_snap *lists, const struct view_snap *config)
{
	static const char *const conf[][2] = { { "max_client_conn", "config_max_client_connections" },
						{ "max_user_connections", "config_max_user_connections" } };

	for (size_t k = 0; k < sizeof(lists_names) / sizeof(lists_names[0]); k++)
		for (uint32_t i = 0; i < lists->nrows; i++) {
			const struct view_val *row = view_snap_row(lists, i);
			if (strcmp(row[0].u.s, lists_names[k][0]))
				continue;
			family(m, lists_names[k][1], M_GAUGE, "Items in this list of SHOW LISTS.");
			sample(m, NULL, NULL, 0, (double)row[1].u.i);
		}
	for (size_t k = 0; k < 2; k++)
		for (uint32_t i = 0; i < config->nrows; i++) {
			const struct view_val *row = view_snap_row(config, i);
			if (strcmp(row[0].u.s, conf[k][0]))
				continue;
			family(m, conf[k][1], M_GAUGE, "The setting of this name in SHOW CONFIG.");
			sample(m, NULL, NULL, 0, atof(row[1].u.s));
		}
}

/* Everything pgbouncer_exporter exports, under m->prefix. */
static void compat(struct mctx *m, const struct view_snap *pools, const struct view_snap *stats, const struct view_snap *dbs,
		   const struct view_snap *lists, const struct view_snap *config)
{
	static const char *const pool_labels[] = { "database", "user" }, *const db_labels[] = { "database" };
	static const char *const dbs_labels[] = { "name", "host", "port", "database", "force_user", "pool_mode" };
	struct lbl version = { "version", "pgsift " PACKAGE_VERSION };

	family(m, "up", M_GAUGE, "1: pgsift answered this scrape itself.");
	sample(m, NULL, NULL, 0, 1);
	family(m, "version", M_INFO, "The name and version of the running pooler.");
	sample(m, NULL, &version, 1, 1);
	table(m, pools, pool_labels, 2, pools_map, (int)(sizeof(pools_map) / sizeof(pools_map[0])));
	table(m, stats, db_labels, 1, stats_map, (int)(sizeof(stats_map) / sizeof(stats_map[0])));
	table(m, dbs, dbs_labels, 6, databases_map, (int)(sizeof(databases_map) / sizeof(databases_map[0])));
	lists_config(m, lists, config);
}

/* ---- histograms ---- */

/* le in seconds from le_ms, written exactly ("0.000025", "2.5", "+Inf") */
static const char *le_text(const struct view_val *x, char *buf, size_t n)
{
	long long us;
	int k;

	if (x->kind != VK_DOUBLE || !isfinite(x->u.d))
		return "+Inf";
	us = llround(x->u.d * 1000);
	k = snprintf(buf, n, "%lld.%06lld", us / 1000000, us % 1000000);
	while (k > 0 && buf[k - 1] == '0')
		buf[--k] = 0;
	if (k > 0 && buf[k - 1] == '.')
		buf[--k] = 0;
	return buf;
}

/* An OpenMetrics exemplar on the sample just written: a recent traced
 * observation in the bucket, so that a dashboard goes from a latency spike
 * to its trace. */
static void exemplar(struct mctx *m, const char *trace_id, double ms, int64_t when_us)
{
	if (m->o->len && m->o->p[m->o->len - 1] == '\n')
		m->o->len--;
	sb_puts(m->o, " # {trace_id=\"");
	sb_puts(m->o, trace_id);
	sb_puts(m->o, "\"} ");
	sb_double(m->o, ms / 1e3);
	sb_printf(m->o, " %lld.%06lld\n", (long long)(when_us / 1000000), (long long)(when_us % 1000000));
}

/* Rows of one histogram series are consecutive, ending with the +Inf
 * bucket; nl labels come first, le last. hist: the `histogram` column's
 * value to keep (pool_histogram), or NULL. */
static void histogram(struct mctx *m, const struct view_snap *r, const char *const *labels, int nl, const char *hist)
{
	const struct view *v = r->sink.view;
	int le = view_col_index(v, "le_ms"), cnt = view_col_index(v, "count"), sum = view_col_index(v, "sum_ms");
	int hc = view_col_index(v, "histogram"), lc[MAX_LABELS], ex = view_col_index(v, "exemplar_trace_id");
	struct lbl l[MAX_LABELS];
	char buf[32];

	for (int k = 0; k < nl; k++)
		lc[k] = view_col_index(v, labels[k]);
	for (uint32_t i = 0; i < r->nrows; i++) {
		const struct view_val *row = view_snap_row(r, i);
		if (hist && (hc < 0 || strcmp(row[hc].u.s, hist)))
			continue;
		for (int k = 0; k < nl; k++)
			l[k] = (struct lbl){ labels[k], text_at(v, row, lc[k], NULL, 0) };
		l[nl] = (struct lbl){ "le", le_text(&row[le], buf, sizeof(buf)) };
		sample(m, "_bucket", l, nl + 1, (double)row[cnt].u.i);
		if (m->om && ex >= 0 && row[ex].kind == VK_TEXT)
			exemplar(m, row[ex].u.s, row[ex + 1].u.d, row[ex + 2].u.i);
		if (row[le].kind == VK_NULL || !isfinite(row[le].u.d)) {
			sample(m, "_sum", l, nl, row[sum].u.d / 1e3);
			sample(m, "_count", l, nl, (double)row[cnt].u.i);
		}
	}
}

/* ---- the shapes /metrics shows, and their info series ---- */

struct keyset {
	uint64_t *h;
	size_t n;
};

static uint64_t key_hash(const char *fp, const char *db, const char *user)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[3] = { fp, db ? db : "", user ? user : "" };

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool keep_exported(void *arg, const struct view *v, const struct view_val *row)
{
	const struct keyset *ks = arg;
	uint64_t h;

	(void)v;
	h = key_hash(row[0].u.s, row[1].u.s, row[2].u.s); /* queries: fingerprint, database, user */
	return ks->n && bsearch(&h, ks->h, ks->n, sizeof(h), cmp_u64);
}

/* pgsift_query_info{...} 1 for every shape the histogram shows. */
static void query_info(struct mctx *m, const struct view_snap *hist)
{
	static const char *const labels[] = { "fingerprint", "database", "user", "kind", "query" };
	struct keyset ks = { calloc(hist->nrows / LB_N + 1, sizeof(uint64_t)), 0 };
	struct view_snap q = { .keep = keep_exported, .keep_arg = &ks };
	char cut[INFO_QUERY_MAX + 1];
	struct lbl l[5];

	for (uint32_t i = 0; ks.h && i < hist->nrows; i += LB_N) {
		const struct view_val *row = view_snap_row(hist, i);
		if (row[1].kind == VK_TEXT) /* not `other` */
			ks.h[ks.n++] = key_hash(row[0].u.s, row[1].u.s, row[2].u.s);
	}
	qsort(ks.h, ks.n, sizeof(uint64_t), cmp_u64);
	family(m, "query", M_INFO, "One series per statement shape shown on its own: its normalized text, cut to 120 bytes.");
	if (ks.h && view_snap_of(&q, m->s, view_find("queries"), 0))
		for (uint32_t i = 0; i < q.nrows; i++) {
			const struct view_val *row = view_snap_row(&q, i);
			size_t n = strlen(row[view_col_index(q.sink.view, "query")].u.s);
			const char *text = row[view_col_index(q.sink.view, "query")].u.s;
			if (n > INFO_QUERY_MAX) {
				n = INFO_QUERY_MAX;
				while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
					n--;
			}
			memcpy(cut, text, n);
			cut[n] = 0;
			for (int k = 0; k < 4; k++)
				l[k] = (struct lbl){ labels[k], text_of(q.sink.view, row, labels[k], NULL, 0) };
			l[4] = (struct lbl){ "query", cut };
			sample(m, NULL, l, 5, 1);
		}
	view_snap_free(&q);
	free(ks.h);
}

static void queries(struct mctx *m)
{
	static const char *const labels[] = { "fingerprint", "database", "user" };
	struct view_snap h;

	if (take(&h, m->s, "query_histogram")) {
		family(m, "query_duration_seconds", M_HISTOGRAM,
		       "Statement execution time, per shape (the top metrics_top_fingerprints by total time; the rest as fingerprint=\"other\").");
		histogram(m, &h, labels, 3, NULL);
		query_info(m, &h);
	}
	view_snap_free(&h);
}

static void pools(struct mctx *m, const struct view_snap *pl)
{
	static const char *const labels[] = { "database", "user" };
	static const struct colmap pinned = { "cl_pinned", "pool_pinned_clients", M_GAUGE, 1, NULL, 0,
					      "Clients that keep their server for session state pgsift cannot replay "
					      "(SHOW POOLS cl_pinned)." };
	struct view_snap h;

	table(m, pl, labels, 2, &pinned, 1);

	if (take(&h, m->s, "pool_histogram")) {
		family(m, "pool_client_wait_seconds", M_HISTOGRAM,
		       "Client wait for a server connection, per assignment (0 when one was free).");
		histogram(m, &h, labels, 2, "wait");
		family(m, "pool_transaction_duration_seconds", M_HISTOGRAM,
		       "Transaction time on a server, from its first statement to the idle ReadyForQuery.");
		histogram(m, &h, labels, 2, "transaction");
	}
	view_snap_free(&h);
}

/* ---- findings, advisor, analyzer, prepared statements, process ---- */

static void nplusone(struct mctx *m)
{
	static const char *const labels[] = { "kind", "database", "application_name", "source_fingerprint",
					      "fingerprint" };
	static const struct colmap map[] = {
		{ "occurrences", "nplusone_occurrences", M_COUNTER, 1, NULL, 0, NULL },
		{ "repeated_calls", "nplusone_repeated_calls", M_COUNTER, 1, NULL, 0, NULL },
		{ "run_total_ms", "nplusone_run_seconds", M_COUNTER, 1e-3, NULL, 0,
		  "Wall time of the occurrences, seconds: the round trips and client time the pattern costs." },
		{ "first_seen", "nplusone_first_seen_timestamp_seconds", M_GAUGE, 1e-6, NULL, 0,
		  "When the pattern was first seen, seconds since the epoch." },
	};
	struct view_snap r;

	if (take(&r, m->s, "nplusone")) {
		/* the worst metrics_top_fingerprints patterns (the view's order) */
		if (r.nrows > (uint32_t)m->s->cfg.metrics_top_fingerprints)
			r.nrows = (uint32_t)m->s->cfg.metrics_top_fingerprints;
		table(m, &r, labels, 5, map, 4);
	}
	view_snap_free(&r);
}

static int cmp_kind_db(const void *a, const void *b)
{
	const struct view_val *x = *(const struct view_val *const *)a, *y = *(const struct view_val *const *)b;
	int c = strcmp(x[0].u.s, y[0].u.s);

	return c ? c : strcmp(x[1].u.s, y[1].u.s);
}

/* pgsift_hazards_total{kind, database}: the hazards view summed. */
static void hazards(struct mctx *m)
{
	struct view_snap r;
	const struct view_val **v;
	int cnt;

	if (!take(&r, m->s, "hazards") || !(v = calloc(r.nrows + 1, sizeof(*v)))) {
		view_snap_free(&r);
		return;
	}
	cnt = view_col_index(r.sink.view, "count");
	for (uint32_t i = 0; i < r.nrows; i++)
		v[i] = view_snap_row(&r, i); /* kind, database first */
	qsort(v, r.nrows, sizeof(*v), cmp_kind_db);
	family(m, "hazards", M_COUNTER, "Statements that break under transaction pooling, by kind (SHOW HAZARDS, summed).");
	for (uint32_t i = 0; i < r.nrows;) {
		uint32_t j = i;
		double sum = 0;
		struct lbl l[2] = { { "kind", v[i][0].u.s }, { "database", v[i][1].u.s } };
		while (j < r.nrows && !cmp_kind_db(&v[i], &v[j]))
			sum += (double)v[j++][cnt].u.i;
		sample(m, NULL, l, 2, sum);
		i = j;
	}
	free(v);
	view_snap_free(&r);
}

static void advice(struct mctx *m)
{
	static const char *const labels[] = { "database", "user" };
	static const struct colmap map[] = {
		{ "pool_size", "pool_size", M_GAUGE, 1, NULL, 0, NULL },
		{ "recommended_size", "pool_advice_recommended_size", M_GAUGE, 1, NULL, 0, NULL },
		{ "predicted_wait_p99_ms", "pool_advice_predicted_wait_p99_seconds", M_GAUGE, 1e-3, NULL, 0,
		  "Wait p99 the advisor's model predicts at the recommended size, seconds." },
		{ "current_predicted_wait_p99_ms", "pool_advice_current_predicted_wait_p99_seconds", M_GAUGE, 1e-3,
		  NULL, 0, "Wait p99 the model predicts at the current size, seconds (absent when the load is at or above it)." },
		{ "utilization", "pool_utilization", M_GAUGE, 1, NULL, 0, NULL },
	};
	struct view_snap r;

	if (take(&r, m->s, "pool_advice"))
		table(m, &r, labels, 2, map, 5);
	view_snap_free(&r);
}

static void analyzer(struct mctx *m, const struct view_snap *stats)
{
	static const char *const db_labels[] = { "database" };
	static const struct colmap map[] = {
		{ "fingerprints", "analyzer_fingerprints", M_GAUGE, 1, NULL, 0, NULL },
		{ "max_fingerprints", "analyzer_max_fingerprints", M_GAUGE, 1, NULL, 0, NULL },
		{ "exported_fingerprints", "analyzer_exported_fingerprints", M_GAUGE, 1, NULL, 0, NULL },
		{ "evictions", "analyzer_evictions", M_COUNTER, 1, NULL, 0, NULL },
		{ "statements", "analyzer_statements", M_COUNTER, 1, NULL, 0, NULL },
		{ "slow_statements", "slow_statements", M_COUNTER, 1, NULL, 0, NULL },
		{ "spans_made", "spans_made", M_COUNTER, 1, NULL, 0, NULL },
		{ "spans_exported", "spans_exported", M_COUNTER, 1, NULL, 0, NULL },
		{ "spans_dropped", "spans_dropped", M_COUNTER, 1, NULL, 0, NULL },
		{ "span_export_errors", "span_export_errors", M_COUNTER, 1, NULL, 0, NULL },
		{ "spans_queued", "spans_queued", M_GAUGE, 1, NULL, 0, NULL },
	};
	static const struct colmap cache[] = {
		{ "server_parse_count", "prepared_cache_misses", M_COUNTER, 1, NULL, 0,
		  "Server Parse messages pgsift sent for shared prepared statements: a use whose server lacked it." },
		{ "bind_count", "prepared_cache_hits", M_COUNTER, 1, "client_parse_count", 1, NULL },
	};
	struct view_snap r;

	if (take(&r, m->s, "analyzer"))
		table(m, &r, NULL, 0, map, 11);
	view_snap_free(&r);
	table(m, stats, db_labels, 1, cache, 1);
	/* hits: uses (client Parse, Bind) of a shared statement its server had;
	 * every miss (a server Parse) comes with one use, so this only grows */
	family(m, cache[1].metric, M_COUNTER,
	       "Uses of a shared prepared statement (client Parse or Bind) that its server already had prepared.");
	for (uint32_t i = 0; i < stats->nrows; i++) {
		const struct view_val *row = view_snap_row(stats, i);
		const struct view *v = stats->sink.view;
		double uses = num_of(v, row, "bind_count") + num_of(v, row, "client_parse_count");
		double miss = num_of(v, row, "server_parse_count");
		struct lbl l = { "database", row[0].u.s };
		sample(m, NULL, &l, 1, uses > miss ? uses - miss : 0);
	}
}

static void process(struct mctx *m)
{
	static const struct colmap map[] = {
		{ "cpu_seconds", "process_cpu_seconds", M_COUNTER, 1, NULL, 0, "User and system CPU time spent, seconds." },
		{ "resident_bytes", "process_resident_memory_bytes", M_GAUGE, 1, NULL, 0, NULL },
		{ "virtual_bytes", "process_virtual_memory_bytes", M_GAUGE, 1, NULL, 0, NULL },
		{ "open_fds", "process_open_fds", M_GAUGE, 1, NULL, 0, NULL },
		{ "start_time", "process_start_time_seconds", M_GAUGE, 1e-6, NULL, 0, "Start time of the process, seconds since the epoch." },
	};
	struct view_snap r;

	m->prefix = "";
	if (take(&r, m->s, "process")) {
		table(m, &r, NULL, 0, map, 5);
		if (r.nrows && num_of(r.sink.view, view_snap_row(&r, 0), "max_fds") >= 0)
			table(m, &r, NULL, 0, &(struct colmap){ "max_fds", "process_max_fds", M_GAUGE, 1, NULL, 0, NULL }, 1);
	}
	view_snap_free(&r);
}

unsigned metrics_render(struct sift *s, struct strbuf *out, bool openmetrics)
{
	struct mctx m = { s, out, openmetrics, "pgsift_", "", M_GAUGE, 0 };
	struct view_snap pl, st, db, li, co;
	bool ok = take(&pl, s, "pools") & take(&st, s, "stats_totals") & take(&db, s, "databases") &
		  take(&li, s, "lists") & take(&co, s, "config");

	if (ok) {
		compat(&m, &pl, &st, &db, &li, &co);
		if (s->cfg.metrics_pgbouncer_names) {
			m.prefix = "pgbouncer_";
			compat(&m, &pl, &st, &db, &li, &co);
			m.prefix = "pgsift_";
		}
		pools(&m, &pl);
		queries(&m);
		nplusone(&m);
		hazards(&m);
		advice(&m);
		analyzer(&m, &st);
		process(&m);
	} else
		out->failed = true;
	view_snap_free(&pl);
	view_snap_free(&st);
	view_snap_free(&db);
	view_snap_free(&li);
	view_snap_free(&co);
	if (openmetrics)
		sb_puts(out, "# EOF\n");
	return m.samples;
}
