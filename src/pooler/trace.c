/*
 * trace: see trace.h. The span model, its sampling and the queue; the
 * OTLP/JSON encoding is trace_json.c.
 */
#include "pooler/trace.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "pooler/findings.h"
#include "pooler/sift.h"

bool tr_on(const struct sift *s)
{
	return s->cfg.otlp_endpoint && s->cfg.otlp_endpoint[0] && s->cfg.trace_sample != TRACE_SAMPLE_OFF;
}

static uint64_t rng_next(struct tracer *t)
{
	/* xorshift64*: ids need to be unique, not secret */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ull;
}

static void new_id(struct tracer *t, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next(t);
		memcpy(out + i, &v, n - i < 8 ? n - i : 8);
	}
}

static bool queue_size(struct tracer *t, uint32_t cap)
{
	/* calloc: the pages of a queue that never fills are never touched */
	struct tr_span *q = calloc(cap, sizeof(*q));

	if (!q)
		return false;
	free(t->q);
	t->q = q;
	t->cap = cap;
	t->head = t->n = 0;
	return true;
}

struct tracer *tr_get(struct sift *s)
{
	struct tracer *t = s->an.tr;

	if (t || !tr_on(s))
		return t;
	if (!(t = calloc(1, sizeof(*t))) || !queue_size(t, (uint32_t)s->cfg.otlp_queue_spans)) {
		free(t);
		return NULL;
	}
	if (getrandom(&t->rng, sizeof(t->rng), 0) != (ssize_t)sizeof(t->rng))
		t->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	t->rng |= 1;
	if (gethostname(t->host, sizeof(t->host)) != 0)
		strcpy(t->host, "localhost");
	t->host[sizeof(t->host) - 1] = 0;
	{
		uint8_t id[16];
		new_id(t, id, sizeof(id));
		for (int i = 0; i < 16; i++)
			snprintf(t->instance + 2 * i, 3, "%02x", id[i]);
	}
	s->an.tr = t;
	return t;
}

void tr_free(struct tracer *t)
{
	if (!t)
		return;
	free(t->q);
	free(t->held);
	for (uint32_t i = 0; i < t->nqex; i++)
		free(t->qex[i]);
	free(t->qex);
	free(t->pex);
	free(t);
}

/* ---- the trace context of a statement ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool hex_bytes(const char *p, uint8_t *out, size_t n)
{
	bool nonzero = false;

	for (size_t i = 0; i < n; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
		nonzero |= out[i] != 0;
	}
	return nonzero; /* all-zero ids are invalid (W3C trace context) */
}

bool tr_ctx_parse(const char *text, size_t len, struct tr_ctx *out)
{
	static const char key[] = "traceparent=";
	const char *p = memmem(text, len, key, sizeof(key) - 1), *end = text + len;
	int f1, f2;

	if (!p)
		return false;
	p += sizeof(key) - 1;
	if (p < end && (*p == '\'' || *p == '"'))
		p++;
	/* version 00: "00-" 32 hex "-" 16 hex "-" 2 hex */
	if (end - p < 55 || p[0] != '0' || p[1] != '0' || p[2] != '-' || p[35] != '-' || p[52] != '-')
		return false;
	if (!hex_bytes(p + 3, out->trace_id, 16) || !hex_bytes(p + 36, out->span_id, 8))
		return false;
	f1 = hexval(p[53]);
	f2 = hexval(p[54]);
	if (f1 < 0 || f2 < 0)
		return false;
	out->flags = (uint8_t)(f1 << 4 | f2);
	out->on = true;
	out->root = false;
	return true;
}

bool tr_ctx_untraced(struct sift *s, struct tr_ctx *out)
{
	struct tracer *t;

	if (s->cfg.trace_untraced_ratio <= 0 || !(t = tr_get(s)))
		return false;
	if ((double)(rng_next(t) >> 11) * 0x1.0p-53 >= s->cfg.trace_untraced_ratio)
		return false;
	new_id(t, out->trace_id, 16);
	memset(out->span_id, 0, sizeof(out->span_id));
	out->flags = 1;
	out->on = true;
	out->root = true;
	return true;
}

/* ---- sampling ---- */

/* Is the span wanted as the parent's child? trace_sample: parent follows
 * the sampled flag; a ratio keeps that share of traces, by trace id (the
 * same decision for every statement of a trace). */
bool tr_sampled(const struct sift *s, const struct tr_ctx *c)
{
	uint64_t v = 0;

	if (c->root)
		return true;
	if (s->cfg.trace_sample == TRACE_SAMPLE_PARENT)
		return c->flags & 1;
	for (int i = 8; i < 16; i++)
		v = v << 8 | c->trace_id[i];
	return (double)(v >> 11) * 0x1.0p-53 < s->cfg.trace_sample;
}

static bool is_slow(const struct sift *s, const struct tr_span *sp)
{
	return s->cfg.slow_query_ms >= 0 && sp->end - sp->start - (int64_t)sp->wait_us >= (int64_t)s->cfg.slow_query_ms * 1000;
}

/* Decides what becomes of a finished span: exported as the parent's child,
 * as a root span linked to it (trace_always_slow: slow or N+1, parent not
 * sampled), or not at all. */
static void decide(const struct sift *s, struct tracer *t, struct tr_span *sp)
{
	sp->export_it = tr_sampled(s, &sp->parent);
	sp->as_root = false;
	if (!sp->export_it && s->cfg.trace_always_slow && (sp->has_np || is_slow(s, sp))) {
		sp->export_it = true;
		sp->as_root = true;
		new_id(t, sp->trace_id, 16);
	}
}

static void enqueue(struct sift *s, struct tracer *t, struct tr_span *sp)
{
	decide(s, t, sp);
	if (!sp->export_it) {
		t->unsampled++;
		return;
	}
	if (t->n >= t->cap) {
		t->dropped++;
		return;
	}
	t->q[(t->head + t->n) % t->cap] = *sp;
	t->n++;
	t->queued++;
	if (t->kick && t->n >= (uint32_t)s->cfg.otlp_batch_spans)
		event_active(t->kick, EV_TIMEOUT, 0);
}

/* ---- spans ---- */

/* src, cut to fit (names are shorter than NAME_LEN already); no printf:
 * this runs for every traced statement. Returns the length. */
static size_t copy_name(char *dst, const char *src)
{
	size_t n = src ? strnlen(src, TR_NAME_LEN - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
	return n;
}

static void fill(struct sift *s, struct tracer *t, struct client *cl, struct server *sv, const struct tr_stmt *st,
		 struct tr_span *sp)
{
	const struct db *db = cl->db;

	memset(sp, 0, sizeof(*sp));
	sp->parent = *st->ctx;
	memcpy(sp->trace_id, st->ctx->trace_id, 16);
	new_id(t, sp->span_id, 8);
	sp->start = s->wall_offset + st->sent - (int64_t)st->wait_us;
	sp->end = s->wall_offset + s->now;
	sp->wait_us = st->wait_us;
	sp->rows = st->rows;
	sp->fp = st->fp;
	sp->q_slot = st->q_slot;
	sp->q_id = st->q_id;
	sp->kind = st->kind;
	sp->hazard = st->hazard;
	sp->extended = st->extended;
	sp->reprepared = st->reprepared;
	sp->backend_pid = sv->backend_pid;
	if (st->sqlstate)
		memcpy(sp->sqlstate, st->sqlstate, 5);
	copy_name(sp->db, db->conf.dbname ? db->conf.dbname : db->name);
	copy_name(sp->dbname, db->name);
	copy_name(sp->user, cl->user ? cl->user->name : "");
	if (sv->pool) { /* as SHOW POOLS names it: database and user */
		size_t n = copy_name(sp->pool, sv->pool->db->name);
		sp->pool[n] = '/';
		copy_name(sp->pool + n + 1, sv->pool->user->name);
	}
	copy_name(sp->server, db->conf.host && db->conf.host[0] != '/' ? db->conf.host : "localhost");
	sp->server_port = db->conf.port;
	sp->slow = is_slow(s, sp);
}

/* A free held slot, or NULL (all in use: the span is not held). */
static struct tr_held *held_slot(struct tracer *t)
{
	if (!t->held && !(t->held = calloc(TR_HELD_MAX, sizeof(*t->held))))
		return NULL;
	for (uint32_t i = 0; i < TR_HELD_MAX; i++)
		if (!t->held[i].cl)
			return &t->held[i];
	return NULL;
}

/* ---- exemplars ---- */

static void note(struct tr_exemplar *x, uint64_t key, uint64_t us, const uint8_t *trace, int64_t when)
{
	memcpy(x->trace_id, trace, 16);
	x->key = key;
	x->us = us;
	x->when = when;
}

static void query_note(struct sift *s, struct tracer *t, const struct tr_stmt *st)
{
	uint32_t max = s->an.qs.max;

	if (!st->q_id || st->q_slot >= max)
		return;
	if (!t->qex && (t->qex = calloc(max, sizeof(*t->qex))))
		t->nqex = max;
	if (!t->qex || (!t->qex[st->q_slot] && !(t->qex[st->q_slot] = calloc(LB_N, sizeof(struct tr_exemplar)))))
		return;
	note(&t->qex[st->q_slot][lb_index(st->dur_us)], st->q_id, st->dur_us, st->ctx->trace_id,
	     s->wall_offset + s->now);
}

const struct tr_exemplar *tr_query_exemplar(const struct sift *s, uint32_t slot, uint64_t id, unsigned bucket)
{
	const struct tracer *t = s->an.tr;
	const struct tr_exemplar *x;

	if (!t || slot >= t->nqex || !t->qex[slot] || bucket >= LB_N)
		return NULL;
	x = &t->qex[slot][bucket];
	return x->key == id ? x : NULL; /* the slot may hold another entry since */
}

void tr_pool_xact(struct sift *s, const void *p, uint64_t us, const uint8_t *trace)
{
	struct tracer *t = s->an.tr;
	struct tr_pool_ex *free_one = NULL;

	if (!t || (!t->pex && !(t->pex = calloc(TR_POOLS_EX, sizeof(*t->pex)))))
		return;
	for (int i = 0; i < TR_POOLS_EX; i++) {
		if (t->pex[i].pool == p) {
			free_one = &t->pex[i];
			break;
		}
		if (!t->pex[i].pool && !free_one)
			free_one = &t->pex[i];
	}
	if (!free_one)
		return;
	free_one->pool = p;
	note(&free_one->b[lb_index(us)], 1, us, trace, s->wall_offset + s->now);
}

const struct tr_exemplar *tr_pool_exemplar(const struct sift *s, const void *p, unsigned bucket)
{
	const struct tracer *t = s->an.tr;

	for (int i = 0; t && t->pex && i < TR_POOLS_EX && bucket < LB_N; i++)
		if (t->pex[i].pool == p)
			return t->pex[i].b[bucket].key ? &t->pex[i].b[bucket] : NULL;
	return NULL;
}

/* ---- statements ---- */

void tr_statement_end(struct sift *s, struct client *cl, struct server *sv, const struct tr_stmt *st)
{
	struct tracer *t = tr_get(s);
	uint16_t *held = an_client_held(cl);
	struct tr_held *h;
	struct tr_span sp;

	if (!t)
		return;
	if (!tr_on(s)) {
		tr_release(s, held);
		return;
	}
	t->made++;
	if (held && *held)
		tr_release(s, held);
	if (tr_sampled(s, st->ctx))
		query_note(s, t, st);
	fill(s, t, cl, sv, st, &sp);
	/* a SELECT with parameters may be the last of an N+1 loop: its span
	 * waits for the finding, which comes with the client's next statement */
	if (held && st->candidate && (h = held_slot(t))) {
		h->sp = sp;
		h->cl = cl;
		h->since = s->now;
		t->nheld++;
		*held = (uint16_t)(h - t->held + 1);
		return;
	}
	enqueue(s, t, &sp);
}

void tr_release(struct sift *s, uint16_t *held)
{
	struct tracer *t = s->an.tr;
	struct tr_held *h;

	if (!held || !*held)
		return;
	if (t && t->held) {
		h = &t->held[*held - 1];
		h->cl = NULL;
		t->nheld--;
		if (tr_on(s))
			enqueue(s, t, &h->sp);
	}
	*held = 0;
}

void tr_nplusone(struct sift *s, struct client *cl, const struct np_hit *hit)
{
	struct tracer *t = s->an.tr;
	uint16_t *held = an_client_held(cl);
	struct tr_span *sp;

	if (!t || !t->held || !held || !*held)
		return;
	sp = &t->held[*held - 1].sp;
	if (sp->fp != hit->fp)
		return;
	sp->has_np = true;
	sp->np_kind = (uint8_t)hit->kind;
	sp->np_count = hit->count;
	sp->np_fp = hit->fp;
	sp->np_rep_us = hit->rep_us;
	sp->np_wall_us = hit->wall_us;
	sp->np_time = sp->end; /* found later (the loop ended), but it is this statement's */
}

void tr_janitor(struct sift *s)
{
	struct tracer *t = s->an.tr;
	int64_t keep = (int64_t)s->cfg.nplusone_think_time_ms * 1000 + 1000000;

	if (!t)
		return;
	if (t->held && t->nheld) {
		for (uint32_t i = 0; i < TR_HELD_MAX; i++) {
			struct tr_held *h = &t->held[i];
			if (h->cl && s->now - h->since > keep)
				tr_release(s, an_client_held(h->cl));
		}
	}
	/* out of memory: the old queue stays, and it is tried again */
	if (t->n == 0 && t->cap != (uint32_t)s->cfg.otlp_queue_spans)
		(void)queue_size(t, (uint32_t)s->cfg.otlp_queue_spans);
}

uint32_t tr_queued(const struct sift *s)
{
	return s->an.tr ? s->an.tr->n : 0;
}

/* Takes the oldest queued span; false when none. */
bool tr_pop(struct tracer *t, struct tr_span *out)
{
	if (!t->n)
		return false;
	*out = t->q[t->head];
	t->head = (t->head + 1) % t->cap;
	t->n--;
	return true;
}
