/*
 * analyzer_reply: the server's replies to what analyzer.c saw sent: a
 * statement completed (its statistics, its N+1 step, its span), a
 * ReadyForQuery drops what was skipped. See analyzer.h. Split from
 * analyzer.c, which keeps the client's messages.
 */
#include "pooler/analyzer.h"

#include <string.h>

#include "pooler/analyzer_int.h"
#include "pooler/findings.h"
#include "pooler/sift.h"

/* The statistics entry of a statement sent (fp 0: untracked) */
static struct qentry *ref_entry(struct sift *s, struct client *cl, uint64_t fp, uint32_t slot, uint64_t id)
{
	struct qentry *e;

	if (!fp)
		return NULL;
	e = qstats_get_seen(&s->an.qs, slot, id);
	/* evicted since: it may have come back under another slot */
	return e ? e : qstats_find(&s->an.qs, fp, cl->db, cl->user);
}

/* Does the tag b[0..n) start with the verb v (k bytes, with its space)
 * and go on past it? */
static inline bool tag_verb(const uint8_t *b, size_t n, const char *v, size_t k)
{
	return n > k && memcmp(b, v, k) == 0;
}

/* Rows of a CommandComplete tag: the last number of SELECT/INSERT/UPDATE/
 * DELETE/MERGE/FETCH/MOVE/COPY tags, else 0. The tag of a whole message
 * (avail == len) ends with its last byte. */
static uint64_t tag_rows(const uint8_t *body, uint32_t avail, uint32_t len)
{
	size_t n = avail == len && len && !body[len - 1] ? len - 1 : strnlen((const char *)body, avail), k = n;
	uint64_t rows = 0, mul = 1;
	unsigned d;
	bool known;

	/* the number at the end, from its last digit (one pass; a single
	 * digit, the usual count, without the loop); then the verb */
	if (n >= 2 && body[n - 2] == ' ' && (d = (unsigned)body[n - 1] - '0') < 10) {
		rows = d;
		k = n - 1;
	} else {
		while (k > 0 && (d = (unsigned)body[k - 1] - '0') < 10) {
			rows += d * mul;
			mul *= 10;
			k--;
		}
		if (k == n)
			return 0;
	}
	switch (body[0]) { /* constant lengths: memcmp is inline */
	case 'S': known = tag_verb(body, n, "SELECT ", 7); break;
	case 'I': known = tag_verb(body, n, "INSERT ", 7); break;
	case 'U': known = tag_verb(body, n, "UPDATE ", 7); break;
	case 'D': known = tag_verb(body, n, "DELETE ", 7); break;
	case 'M': known = tag_verb(body, n, "MERGE ", 6) || tag_verb(body, n, "MOVE ", 5); break;
	case 'F': known = tag_verb(body, n, "FETCH ", 6); break;
	case 'C': known = tag_verb(body, n, "COPY ", 5); break;
	default: known = false; break;
	}
	return known ? rows : 0;
}

static struct an_pending *head(struct an_server *as)
{
	return as->n ? &as->q[as->head] : NULL;
}

static void pop(struct an_server *as)
{
	as->head = (uint16_t)((as->head + 1) % AN_PENDING_MAX);
	as->n--;
}

/* The rest of what the findings look at, when they want it */
static __attribute__((noinline)) void findings_more(struct sift *s, struct client *cl, const struct an_pending *p,
						     struct qentry *e, uint64_t rows, const char *sqlstate,
						     bool suspended)
{
	struct fd_stmt st = {
		.np = p->np, .kind = p->kind, .src = p->src, .start = p->start, .wait_us = p->wait_us,
		.rows = rows, .sqlstate = sqlstate, .suspended = suspended, .e = e,
	};

	fd_statement_more(s, cl, &cl->an->fd, &st);
}

/* Tells the findings (findings.h) that a statement completed: p->np has
 * what was known when it was sent, the rest is filled in here. */
static inline __attribute__((always_inline)) void
findings_of(struct sift *s, struct client *cl, struct an_pending *p, struct qentry *e, const struct istr *app,
	    uint64_t dur, uint64_t rows, const char *sqlstate, bool suspended)
{
	if (!e)
		p->np.fp = 0;
	p->np.app = app ? app->s : "";
	p->np.app_id = app ? app->id : 0;
	p->np.end = s->now;
	p->np.dur_us = dur;
	fd_statement_np(s, cl, &cl->an->fd, &p->np, suspended);
	if (fd_statement_wants_more(s, e, dur))
		findings_more(s, cl, p, e, rows, sqlstate, suspended);
}

/* A traced statement finished: its span (trace.h). Any other statement of
 * a client with a span held back releases it. */
static __attribute__((noinline)) void trace_end(struct sift *s, struct client *cl, struct server *sv,
						 const struct an_pending *p, const struct qentry *e, uint64_t fp,
						 uint64_t rows, const char *sqlstate)
{
	struct tr_stmt st = {
		.ctx = &p->ctx, .sent = p->np.sent, .wait_us = p->wait_us, .rows = rows, .fp = fp,
		.dur_us = s->now > p->start ? (uint64_t)(s->now - p->start) : 0,
		.q_id = e ? e->id : 0, .q_slot = e ? e->slot : 0, .kind = p->kind, .hazard = e ? e->hazard : 0,
		.sqlstate = sqlstate, .extended = p->src != 'Q', .reprepared = p->reprepared,
		.candidate = p->np.select && p->np.params,
	};

	if (!p->ctx.on) {
		tr_release(s, &cl->an->tr_held);
		return;
	}
	tr_statement_end(s, cl, sv, &st);
	if ((cl->an->xact_traced = tr_sampled(s, &p->ctx)))
		memcpy(cl->an->xact_trace, p->ctx.trace_id, 16);
}

/* The head statement finished (rows, or an error). Inline in
 * an_reply_complete(), a statement's usual end; complete() for the rest. */
static inline __attribute__((always_inline)) void complete_inline(struct sift *s, struct server *sv, uint64_t rows,
								  const char *sqlstate, bool suspended)
{
	struct an_server *as = &sv->an;
	struct an_pending *p = head(as), *next;
	struct client *cl = sv->client;
	struct qentry *e;
	const struct istr *app;
	uint64_t dur, fp;

	if (!p || p->type != AN_STMT) {
		s->an.untracked++;
		return;
	}
	if (cl) { /* else its client left: only the order is kept */
		fp = p->np.fp;
		e = ref_entry(s, cl, fp, p->slot, p->id);
		app = s->nparams > 4 ? cl->vals.v[4] : NULL;
		dur = s->now > p->start ? (uint64_t)(s->now - p->start) : 0;
		if (e) {
			qstats_record(&s->an.qs, e, dur, rows, sqlstate, p->wait_us, app ? app->s : "",
				      app ? app->id : 0, wall_now(s));
			s->an.statements++;
		}
		if (cl->an && (s->an.fd || fd_get(s)))
			findings_of(s, cl, p, e, app, dur, rows, sqlstate, suspended);
		if (__builtin_expect(cl->an && (p->ctx.on || cl->an->tr_held) && !suspended, 0))
			trace_end(s, cl, sv, p, e, fp, rows, sqlstate);
	}
	if (p->last) { /* what stays is the Query's mark */
		p->type = AN_MARK;
		return;
	}
	pop(as);
	/* the next statement on this server starts when this one ends */
	next = head(as);
	if (next && next->type == AN_STMT && next->start < s->now)
		next->start = s->now;
}

static void complete(struct sift *s, struct server *sv, uint64_t rows, const char *sqlstate, bool suspended)
{
	complete_inline(s, sv, rows, sqlstate, suspended);
}

/* ReadyForQuery: its Query or Sync is done; drop what was skipped. */
static void ready(struct sift *s, struct server *sv, char status)
{
	struct an_server *as = &sv->an;
	struct client *cl = sv->client;

	while (as->n) {
		const struct an_pending *p = head(as);
		bool mark = p->type == AN_MARK || p->last;
		pop(as);
		if (mark)
			break;
	}
	/* after an overflow, start over once the client has nothing pending */
	if (as->lost && cl && cl->pending_z <= 1 && !cl->unsynced)
		an_server_reset(as);
	if (cl && cl->an)
		fd_ready(s, cl, &cl->an->fd, status);
}

void an_reply_complete(struct sift *s, struct server *sv, const uint8_t *body, uint32_t avail, uint32_t len)
{
	if (!sv->an.lost && !__builtin_expect(sv->replication, 0))
		complete_inline(s, sv, tag_rows(body, avail, len), NULL, false);
}

void an_reply_ready(struct sift *s, struct server *sv, const uint8_t *body, uint32_t avail)
{
	if (!__builtin_expect(sv->replication, 0))
		ready(s, sv, avail ? (char)body[0] : 'I');
}

void an_reply_other(struct sift *s, struct server *sv, uint8_t type, const uint8_t *body, uint32_t avail)
{
	struct an_server *as = &sv->an;

	if (as->lost || __builtin_expect(sv->replication, 0))
		return;
	switch (type) {
	case 'E': {
		char sqlstate[6] = "XX000";
		/* fields: code byte + C string, until a 0 code byte */
		for (uint32_t i = 0; i < avail && body[i];) {
			const uint8_t *v = body + i + 1;
			const uint8_t *nul = memchr(v, 0, avail - i - 1);
			if (!nul)
				break;
			if (body[i] == 'C' && nul - v == 5)
				memcpy(sqlstate, v, 5);
			i = (uint32_t)(nul - body) + 1;
		}
		complete(s, sv, 0, sqlstate, false);
		break;
	}
	case 'I': /* an empty query is no statement of ours unless it was Executed */
		if (head(as) && head(as)->type == AN_STMT)
			complete(s, sv, 0, NULL, false);
		break;
	case 's':
		complete(s, sv, 0, NULL, true);
		break;
	default:
		break;
	}
}

void an_server_reset(struct an_server *as)
{
	as->head = as->n = 0;
	as->lost = false;
}

void an_resync_all(struct sift *s)
{
	struct list *it, *j;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		list_for_each(j, &p->active_servers) {
			struct server *sv = list_entry(j, struct server, node);
			an_server_reset(&sv->an);
			sv->an.lost = true;
		}
	}
}

/* the pool's transaction histogram takes the traced transaction of the
 * client as its exemplar (the pool numbers: analyzer_pools.c) */
void an_pool_xact(struct pool *p, struct client *cl, uint64_t us)
{
	lb_add(&p->xact_lb, us);
	if (cl->an && cl->an->xact_traced) { /* the histogram's exemplar */
		cl->an->xact_traced = false;
		tr_pool_xact(p->sift, p, us, cl->an->xact_trace);
	}
}
