/*
 * findings: see findings.h.
 */
#include "pooler/findings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/objects.h"
#include "pooler/sift.h"

#define RATE_WINDOW_USEC (60 * 1000000LL)

static void explain_done(void *arg, uint32_t slot, uint64_t id, bool ok, const char *text);

struct findings *fd_get(struct sift *s)
{
	struct findings *fd = s->an.fd;

	if (fd)
		return fd;
	if (!(fd = calloc(1, sizeof(*fd))))
		return NULL;
	if (!np_table_init(&fd->np, FD_TABLE_MAX) || !hz_table_init(&fd->hz, FD_TABLE_MAX) ||
	    !sl_init(&fd->sl, (uint32_t)s->cfg.slow_query_log_size)) {
		fd_free(fd);
		return NULL;
	}
	ex_init(&fd->ex, s->base, explain_done, fd);
	fd->s = s;
	s->an.fd = fd;
	return fd;
}

void fd_free(struct findings *fd)
{
	if (!fd)
		return;
	ex_free(&fd->ex);
	np_table_free(&fd->np);
	hz_table_free(&fd->hz);
	sl_free(&fd->sl);
	for (int i = 0; i < FD_TEXTS; i++)
		free(fd->texts[i].text);
	free(fd);
}

/* ---- small helpers ---- */

static const char *app_of(const struct sift *s, const struct client *cl)
{
	const struct istr *app = s->nparams > 4 ? cl->vals.v[4] : NULL;

	return app ? app->s : "";
}

static struct qentry *entry_of(struct sift *s, const struct client *cl, uint64_t fp)
{
	return fp ? qstats_find(&s->an.qs, fp, cl->db, cl->user) : NULL;
}

static void client_addr(const struct client *cl, char *out, size_t outlen)
{
	char a[48];

	if (cl->addr.family == AF_UNIX)
		snprintf(out, outlen, "unix");
	else
		snprintf(out, outlen, "%s:%u", peer_addr_str(&cl->addr, a, sizeof(a)), cl->addr.port);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

static bool buf_set(struct fd_buf *b, const void *data, uint32_t len, bool cut)
{
	if (len + 1 > b->cap) {
		uint32_t cap = len + 1 < 256 ? 256 : len + 1;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->len = 0;
			b->cut = true;
			return false;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p, data, len);
	b->p[len] = 0;
	b->len = len;
	b->cut = cut;
	return true;
}

/* ---- N+1 ---- */

void fd_np_emit(void *arg, const struct np_hit *h)
{
	struct client *cl = arg;
	struct sift *s = cl->sift;
	struct findings *fd = fd_get(s);
	struct qentry *src = entry_of(s, cl, h->source_fp), *rep = entry_of(s, cl, h->fp);
	const char *tag = rep && rep->tag ? rep->tag : src ? src->tag : NULL;
	char client[64];
	struct np_finding *f;
	bool is_new;

	tr_nplusone(s, cl, h); /* the span of the loop's last statement carries it */
	if (!fd)
		return;
	client_addr(cl, client, sizeof(client));
	f = np_record(&fd->np, h, cl->db->name, client, tag, src ? src->text : NULL, rep ? rep->text : NULL,
		      s->wall_offset + s->now, &is_new);
	if (f && is_new && s->on_finding)
		s->on_finding(s, FD_EV_NPLUSONE, f);
}

/* ---- hazards ---- */

static bool tracked_cb(void *arg, const char *name, size_t len)
{
	const struct sift *s = arg;

	for (int i = 0; i < s->nparams; i++)
		if (strlen(s->param_names[i]) == len && strncasecmp(s->param_names[i], name, len) == 0)
			return true;
	return false;
}

static bool hazards_apply(const struct sift *s, const struct client *cl)
{
	return cl->pool && pool_mode_of(s, cl->pool) != POOL_SESSION;
}

static void hazard(struct sift *s, struct client *cl, enum hz_kind kind, uint64_t fp)
{
	struct findings *fd = fd_get(s);
	struct qentry *e = entry_of(s, cl, fp);
	struct hz_entry *h;
	bool is_new;

	if (fd && (h = hz_record(&fd->hz, kind, fp, cl->db->name, app_of(s, cl), e ? e->text : NULL,
				 s->wall_offset + s->now, &is_new)) && is_new && s->on_finding)
		s->on_finding(s, FD_EV_HAZARD, h);
}

static void check_hazard(struct sift *s, struct client *cl, const struct fd_stmt *st)
{
	struct qentry *e = st->e;

	/* a failed statement left no session state; SQL PREPARE that pgsift
	 * refused (0A000, doc/prepared.md) still says what the code tries */
	if (!e || e->hazard == 1 /* classified: none */ ||
	    (st->sqlstate && !(e->kind == FP_KIND_PREPARED && strcmp(st->sqlstate, "0A000") == 0)) ||
	    !hazards_apply(s, cl))
		return;
	if (!e->hazard) /* classified once per entry: kind + 1 */
		e->hazard = (uint8_t)(hz_classify(e->kind, e->text, tracked_cb, s) + 1);
	if (e->hazard > 1)
		hazard(s, cl, (enum hz_kind)(e->hazard - 1), st->np.fp);
}

void fd_idle_txn_check(struct sift *s, struct client *cl, struct fd_client *c)
{
	int64_t warn = (int64_t)s->cfg.idle_in_transaction_warn_ms * 1000;

	if (c->idle_txn_since && !c->idle_txn_flagged && warn > 0 && s->now - c->idle_txn_since > warn &&
	    hazards_apply(s, cl)) {
		c->idle_txn_flagged = true;
		hazard(s, cl, HZ_IDLE_IN_TXN, c->last_fp);
	}
}

/* ---- slow statements and their plans ---- */

static void explain_done(void *arg, uint32_t slot, uint64_t id, bool ok, const char *text)
{
	struct findings *fd = arg;
	struct sl_plan *p = sl_plan_get(&fd->sl, slot, id);

	if (p)
		sl_plan_set(p, ok ? SL_PLAN_OK : SL_PLAN_ERROR, text, sift_wall_usec());
}

/* The text of the statement in a Query body whose fingerprint is fp. */
static char *query_stmt(struct findings *fd, const struct fd_buf *b, uint64_t fp)
{
	size_t pos = 0, off, len;

	while (fp_next_statement(b->p, b->len, &pos, &off, &len)) {
		fp_compute(b->p + off, len, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, &fd->fr);
		if (fd->fr.hash == fp)
			return strndup(b->p + off, len);
	}
	return NULL;
}

static void free_params(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Text parameters of a kept Bind body (caller frees *out): their count,
 * or -1 with why and *out NULL. */
static int bind_params(const struct fd_buf *b, char ***out, const char **why)
{
	const uint8_t *p = (const uint8_t *)b->p, *end = p + b->len, *fmts;
	uint16_t nfmt, np;
	char **v;

	*out = NULL;
	*why = "Bind message not kept";
	if (!b->len || b->cut)
		return -1;
	for (int k = 0; k < 2; k++) { /* portal and statement names */
		const uint8_t *z = memchr(p, 0, (size_t)(end - p));
		if (!z)
			return -1;
		p = z + 1;
	}
	if (end - p < 2)
		return -1;
	nfmt = (uint16_t)(p[0] << 8 | p[1]);
	if (end - p < 4 + 2 * (long)nfmt)
		return -1;
	fmts = p + 2;
	p = fmts + 2 * nfmt;
	np = (uint16_t)(p[0] << 8 | p[1]);
	p += 2;
	for (uint16_t i = 0; i < nfmt; i++)
		if (fmts[2 * i + 1] != 0 && (nfmt == 1 || i < np))
			return *why = "binary parameters are not explained", -1;
	if (!(v = calloc(np ? np : 1, sizeof(char *))))
		return *why = "out of memory", -1;
	for (uint16_t i = 0; i < np; i++) {
		int32_t n;
		if (end - p < 4 || (n = (int32_t)be32(p), p += 4, n >= 0 && end - p < n)) {
			free_params(v, np);
			return -1;
		}
		if (n >= 0) { /* else NULL */
			v[i] = strndup((const char *)p, (size_t)n);
			p += n;
		}
	}
	*out = v;
	return np;
}

/* The statement text (caller frees) and its parameters, or NULL with why. */
static char *stmt_for_explain(struct findings *fd, struct fd_client *c, const struct fd_stmt *st, char ***params,
			      int *np, const char **why)
{
	const char *t = NULL;
	char *sql;
	uint32_t tlen = 0;

	*params = NULL;
	*np = 0;
	if (st->src == 'Q') {
		if (!c->query.len || c->query.cut)
			return *why = "statement text too long or not kept", NULL;
		if (!(sql = query_stmt(fd, &c->query, st->np.fp)))
			*why = "statement text no longer available";
		return sql;
	}
	if (st->src != 'E')
		return *why = "named portals are not explained", NULL;
	if (!c->bind_named) {
		/* a text kept by reference (not NUL-terminated) may have been
		 * replaced since */
		if (!(t = fd_parse_kept(c, &tlen)) && c->parse_at)
			return *why = "statement text no longer available", NULL;
	} else if (fd->texts[st->np.fp % FD_TEXTS].fp == st->np.fp && (t = fd->texts[st->np.fp % FD_TEXTS].text)) {
		tlen = (uint32_t)strlen(t);
	}
	if (!t)
		return *why = "statement text too long or not kept", NULL;
	fp_compute(t, tlen, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, &fd->fr);
	if (fd->fr.hash != st->np.fp)
		return *why = "statement text no longer available", NULL;
	if ((*np = bind_params(&c->bind, params, why)) < 0) {
		*np = 0;
		return NULL;
	}
	if (!(sql = strndup(t, tlen)))
		*why = "out of memory";
	return sql;
}

/* Where and as whom: the pool's server, database and user. */
static void conn_params(struct sift *s, const struct client *cl, const char **k, const char **v, char *hostbuf,
			char *portbuf)
{
	int n = pool_libpq_params(s, cl->pool, k, v, hostbuf, portbuf);

	k[n] = "application_name", v[n++] = "pgsift-explain";
	k[n] = "connect_timeout", v[n++] = "10";
	k[n] = "gssencmode", v[n++] = "disable";
	k[n] = "options", v[n++] = "-c statement_timeout=10000 -c lock_timeout=2000";
	k[n] = NULL, v[n] = NULL;
}

static bool rate_ok(struct sift *s, struct findings *fd)
{
	if (s->now - fd->rate_start >= RATE_WINDOW_USEC) {
		fd->rate_start = s->now;
		fd->rate_used = 0;
	}
	if (fd->rate_used >= (uint32_t)s->cfg.slow_query_explain_rate || fd->ex.njobs >= EX_MAX_JOBS)
		return false;
	return true;
}

static void maybe_explain(struct sift *s, struct client *cl, struct fd_client *c, const struct fd_stmt *st)
{
	struct findings *fd = fd_get(s);
	struct sl_plan *p;
	const char *why = NULL, *k[12], *v[12];
	char host[64], port[16], err[300], **params;
	char *sql;
	int np;

	if (!fd || !fd_explainable(st->kind) || !st->np.fp || !cl->pool || !rate_ok(s, fd)) {
		if (fd && fd_explainable(st->kind))
			fd->explain_skipped++;
		return;
	}
	p = sl_plan_claim(&fd->sl, st->np.fp, cl->db->name, cl->user->name, st->e ? st->e->text : NULL, s->now,
			  s->cfg.slow_query_explain_interval);
	if (!p)
		return;
	p->dur_us = st->np.dur_us;
	fd->rate_used++;
	if (!(sql = stmt_for_explain(fd, c, st, &params, &np, &why))) {
		sl_plan_set(p, SL_PLAN_SKIPPED, why, sift_wall_usec());
		return;
	}
	conn_params(s, cl, k, v, host, port);
	if (!ex_start(&fd->ex, k, v, sql, np, (const char *const *)params, (uint32_t)(p - fd->sl.plans), p->id, err,
		      sizeof(err)))
		sl_plan_set(p, SL_PLAN_ERROR, err, sift_wall_usec());
	free_params(params, np);
	free(sql);
}

static void slow(struct sift *s, struct client *cl, struct fd_client *c, const struct fd_stmt *st)
{
	struct findings *fd = fd_get(s);
	struct sl_entry *e;

	if (!fd || !(e = sl_push(&fd->sl)))
		return;
	e->when = s->wall_offset + s->now;
	e->dur_us = st->np.dur_us;
	e->wait_us = st->wait_us;
	e->rows = st->rows;
	e->fp = st->np.fp;
	e->kind = st->kind;
	copy_str(e->sqlstate, sizeof(e->sqlstate), st->sqlstate);
	copy_str(e->db, sizeof(e->db), cl->db->name);
	copy_str(e->user, sizeof(e->user), cl->user->name);
	copy_str(e->app, sizeof(e->app), app_of(s, cl));
	client_addr(cl, e->client, sizeof(e->client));
	if (st->e) {
		copy_str(e->tag, sizeof(e->tag), st->e->tag);
		copy_str(e->text, sizeof(e->text), st->e->text);
		if (s->cfg.log_query_samples && st->e->sample)
			e->sample = strdup(st->e->sample);
	}
	if (s->cfg.slow_query_explain)
		maybe_explain(s, cl, c, st);
	if (s->cfg.slow_query_ms > 0 && s->on_finding)
		s->on_finding(s, FD_EV_SLOW, e);
}

/* ---- events ---- */

void fd_statement_more(struct sift *s, struct client *cl, struct fd_client *c, const struct fd_stmt *st)
{
	check_hazard(s, cl, st);
	if (fd_slow(s, st->np.dur_us))
		slow(s, cl, c, st);
}

void fd_ready_slow(struct sift *s, struct client *cl, struct fd_client *c, char status)
{
	struct np_conf cf;

	fd_np_conf(s, &cf);
	np_ready(&c->np, &cf, status, s->now, fd_np_emit, cl);
	if (status == 'T' || status == 'E') {
		c->idle_txn_since = s->now;
	} else {
		c->idle_txn_since = 0;
	}
	c->idle_txn_flagged = false;
}


void fd_client_end(struct sift *s, struct client *cl, struct fd_client *c)
{
	struct np_conf cf;

	if (cl->db && cl->user) {
		fd_np_conf(s, &cf);
		np_end_unit(&c->np, &cf, fd_np_emit, cl);
	}
	free(c->query.p);
	free(c->parse.p);
	free(c->bind.p);
	c->parse_at = NULL;
	memset(&c->query, 0, sizeof(c->query));
	memset(&c->parse, 0, sizeof(c->parse));
	memset(&c->bind, 0, sizeof(c->bind));
}

void fd_keep_query_slow(struct fd_client *c, const char *text, size_t n, bool cut)
{
	if (n >= FD_TEXT_KEEP)
		c->query.len = 0, c->query.cut = true;
	else
		(void)buf_set(&c->query, text, (uint32_t)n, cut);
}

void fd_keep_parse_slow(struct sift *s, struct fd_client *c, bool named, uint64_t fp, const char *text,
			size_t len, bool cut)
{
	struct findings *fd;
	struct fd_text *t;

	if (!named) {
		if (len >= FD_TEXT_KEEP || cut)
			c->parse.len = 0, c->parse.cut = true;
		else
			(void)buf_set(&c->parse, text, (uint32_t)len, false);
		return;
	}
	if (!fp || cut || len >= FD_TEXT_KEEP || !(fd = fd_get(s)))
		return;
	t = &fd->texts[fp % FD_TEXTS];
	if (t->fp == fp && t->text)
		return;
	free(t->text);
	t->text = strndup(text, len);
	t->fp = t->text ? fp : 0;
}

void fd_keep_bind_slow(struct fd_client *c, const uint8_t *body, uint32_t avail, uint32_t len)
{
	if (avail < len || len >= FD_TEXT_KEEP)
		c->bind.len = 0, c->bind.cut = true;
	else
		(void)buf_set(&c->bind, body, len, false);
}

/* Units of work that ended by silence; idle transactions. */
static void janitor_clients(struct sift *s, struct list *head)
{
	struct np_conf cf;
	struct list *it;

	fd_np_conf(s, &cf);
	list_for_each(it, head) {
		struct client *cl = list_entry(it, struct client, node);
		struct fd_client *c = cl->an ? an_client_findings(cl) : NULL;
		if (!c)
			continue;
		np_idle(&c->np, &cf, s->now, fd_np_emit, cl);
		fd_idle_txn_check(s, cl, c);
	}
}

void fd_janitor(struct sift *s)
{
	struct list *it;

	if (!s->an.fd)
		return;
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		janitor_clients(s, &p->active_clients);
		janitor_clients(s, &p->waiting_clients);
		janitor_clients(s, &p->idle_clients);
	}
}
