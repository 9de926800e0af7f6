/*
 * prepared: see prepared.h.
 */
#include "pooler/prepared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "util/log.h"
#include "pooler/prepared_map.h"
#include "pooler/prepared_sql.h"
#include "pooler/server.h"
#include "pooler/session.h"

/* reply queue entry kinds */

/* entry flags */
#define F_PARSE 0x01	/* st was added to the server's set by this message */
#define F_CLIENT 0x02	/* aux names a client mapping added by this message */
#define F_FAIL 0x04	/* a stand-in that fails: its error is replaced by aux */
#define F_TAG 0x08	/* a DO standing in for DEALLOCATE: aux is the tag (and name) to answer */
#define F_BIND 0x10	/* a Bind of st (an invalidated plan is reported here) */
#define F_CLOSE 0x20	/* aux names a client mapping removed by this message */
#define F_UNCERTAIN 0x40 /* undone when PostgreSQL skips it (counted in rq.uncertain) */
#define F_DEFER 0x80	/* changes the client's names when its reply comes (counted in rq.deferred) */

/* pop_flags */
#define P_ERROR 0x01
#define P_STALE 0x02

#define CLIENT_NAMES_MAX 100000			/* a client's statement names; more is refused */
#define CHECK_NAME PS_NAME_PREFIX "check"	/* pgsift's scratch statement, never kept */

/* ---- the reply queue ---- */

static struct ps_rq_ent *rq_at(struct ps_rq *q, uint32_t i)
{
	return &q->e[(q->head + i) & (q->cap - 1)];
}

static bool rq_grow(struct ps_rq *q)
{
	uint32_t ncap = q->cap ? q->cap * 2 : 16;
	struct ps_rq_ent *ne = malloc(sizeof(*ne) * ncap);

	if (!ne)
		return false;
	for (uint32_t i = 0; i < q->n; i++)
		ne[i] = *rq_at(q, i);
	free(q->e);
	q->e = ne;
	q->cap = ncap;
	q->head = 0;
	return true;
}

static void rq_lite_out(struct server *sv);

static inline bool rq_push(struct server *sv, uint8_t kind, uint8_t flags, struct ps_stmt *st, char *aux)
{
	struct ps_rq *q = &sv->rq;
	struct ps_rq_ent *e;

	if (__builtin_expect(q->lite_n > 0, 0))
		rq_lite_out(sv);
	if (__builtin_expect(q->n == q->cap, 0) && !rq_grow(q)) {
		free(aux);
		return false;
	}
	e = rq_at(q, q->n);
	e->kind = kind;
	if (__builtin_expect((flags & (F_PARSE | F_CLIENT | F_CLOSE)) || kind == RQ_HIDE_PARSE || kind == RQ_HIDE_CLOSE, 0)) {
		flags |= F_UNCERTAIN;
		q->uncertain++;
	}
	if (kind == RQ_FAKE_PARSE || kind == RQ_FAKE_CLOSE)
		q->fakes++;
	if (flags & F_DEFER)
		q->deferred++;
	if (kind == RQ_SYNC)
		q->since_barrier = 0;
	else
		q->since_barrier++;
	e->flags = flags;
	e->st = st;
	e->aux = aux;
	e->cname[0] = 0;
	if (st)
		st->refs++;
	q->n++;
	return true;
}

/* The entries kept in the lite ring (rq.lite) become queue entries, in
 * their order, ahead of the one about to be pushed (the queue is empty
 * while the ring is used, and holds PS_LITE_MAX entries without growing). */
static void rq_lite_out(struct server *sv)
{
	struct ps_rq *q = &sv->rq;
	uint8_t n = q->lite_n, h = q->lite_head;

	q->lite_n = 0;
	while (n--) {
		if (!rq_push(sv, q->lite[h], 0, NULL, NULL))
			abort(); /* cannot happen: the capacity is there (rq_push_lite) */
		h = (uint8_t)((h + 1) & (PS_LITE_MAX - 1));
	}
}

/* An entry without flags, statement or text (the unnamed statement, a
 * portal, Sync, a plain query): while nothing else is queued, a byte in
 * the lite ring, whose replies the relay counts itself (ps_lite_reply). */
static inline bool rq_push_lite(struct server *sv, uint8_t kind)
{
	struct ps_rq *q = &sv->rq;

	if (q->n == 0 && q->cap >= PS_LITE_MAX && q->lite_n < PS_LITE_MAX && !q->err && !q->stalled) {
		q->lite[(q->lite_head + q->lite_n) & (PS_LITE_MAX - 1)] = kind;
		q->lite_n++;
		return true;
	}
	return rq_push(sv, kind, 0, NULL, NULL);
}

/* Remembers, on the entry just pushed, the client's name for its
 * statement (for errors that name the statement). */
static void set_cname(struct server *sv, const char *name)
{
	struct ps_rq *q = &sv->rq;
	size_t n = strlen(name);

	if (n < sizeof(q->e[0].cname))
		memcpy(rq_at(q, q->n - 1)->cname, name, n + 1);
}

static inline void rq_drop_ent(struct server *sv, struct ps_rq_ent *e)
{
	if (e->flags & F_UNCERTAIN)
		sv->rq.uncertain--;
	if (e->flags & F_DEFER)
		sv->rq.deferred--;
	if (e->kind == RQ_FAKE_PARSE || e->kind == RQ_FAKE_CLOSE)
		sv->rq.fakes--;
	e->flags = 0;
	if (e->st) {
		ps_stmt_put(sv->sift, e->st);
		e->st = NULL;
	}
	if (e->aux) {
		free(e->aux);
		e->aux = NULL;
	}
}

static inline void rq_pop(struct server *sv)
{
	struct ps_rq *q = &sv->rq;

	rq_drop_ent(sv, rq_at(q, 0));
	q->head = (q->head + 1) & (q->cap - 1);
	q->n--;
}

static void rq_apply_undo(struct server *sv, struct client *cl);

static void rq_clear(struct server *sv)
{
	sv->rq.lite_n = 0;
	if (!sv->rq.n && !sv->rq.nundo) { /* the usual end of a link: nothing queued */
		sv->rq.err = sv->rq.pop = sv->rq.stalled = false;
		sv->rq.since_barrier = 0;
		return;
	}
	rq_apply_undo(sv, NULL);
	while (sv->rq.n)
		rq_pop(sv);
	sv->rq.err = false;
	sv->rq.pop = false;
	sv->rq.stalled = false;
	sv->rq.since_barrier = 0;
}

/* Undoes what a message PostgreSQL skipped or refused meant to do. Whether
 * the server has a statement is then uncertain (a Close before it may have
 * been skipped too): it is marked stale, so its next use closes it (a
 * no-op when it is not there) and parses it again. */
static void rq_undo(struct server *sv, struct client *cl, struct ps_rq_ent *e)
{
	if (e->st && ((e->flags & F_PARSE) || e->kind == RQ_HIDE_PARSE || e->kind == RQ_HIDE_CLOSE)) {
		struct ps_have *h = ps_have_find(sv, e->st);
		if (!h)
			h = ps_have_add(sv, e->st);
		if (h)
			h->stale = true;
	}
	if ((e->flags & F_CLIENT) && cl && e->aux)
		ps_cmap_del(cl, e->aux, e->st);
	if ((e->flags & F_CLOSE) && cl && e->aux && e->st && !ps_cmap_find(cl, e->aux))
		ps_cmap_add(cl, e->aux, e->st); /* the Close was skipped: the name is still there */
}

/* The head entry was skipped (or failed): what it did is undone when the
 * Sync that ends the error is reached, in reverse order, as PostgreSQL
 * never ran any of it (a Parse then a Close of one name leaves no name). */
static void rq_skip_head(struct server *sv, struct client *cl)
{
	struct ps_rq *q = &sv->rq;
	struct ps_rq_ent *e = rq_at(q, 0);

	if (e->flags & F_UNCERTAIN) {
		if (q->nundo == q->capundo) {
			uint32_t ncap = q->capundo ? q->capundo * 2 : 8;
			struct ps_rq_ent *nu = realloc(q->undo, sizeof(*nu) * ncap);
			if (!nu) {
				rq_undo(sv, cl, e); /* out of memory: at least undo it now */
				rq_pop(sv);
				return;
			}
			q->undo = nu;
			q->capundo = ncap;
		}
		/* its references move with it; it stays counted (uncertain, fakes)
		 * until rq_apply_undo() drops it */
		q->undo[q->nundo++] = *e;
		e->flags = 0;
		e->st = NULL;
		e->aux = NULL;
		q->head = (q->head + 1) & (q->cap - 1);
		q->n--;
		return;
	}
	rq_pop(sv);
}

static void rq_apply_undo(struct server *sv, struct client *cl)
{
	struct ps_rq *q = &sv->rq;

	while (q->nundo) {
		struct ps_rq_ent *e = &q->undo[--q->nundo];
		if (cl)
			rq_undo(sv, cl, e);
		rq_drop_ent(sv, e);
	}
}

/* Is an uncertain entry followed by a Sync (so the client's next message
 * belongs to a later batch, which PostgreSQL runs knowing the outcome)? */
static bool uncertain_before_sync(struct server *sv)
{
	struct ps_rq *q = &sv->rq;
	uint32_t barrier;

	if (!q->uncertain || q->since_barrier >= q->n)
		return false;
	if (q->nundo)
		return true; /* undone when the Sync that ends the error is reached */
	barrier = q->n - 1 - q->since_barrier; /* the last Sync pushed */
	for (uint32_t i = 0; i < barrier; i++)
		if (rq_at(q, i)->flags & F_UNCERTAIN)
			return true;
	return false;
}

/* Replies pgsift generated for a client that are not sent yet: past this,
 * the client is not read until it takes them (Closes answered by pgsift
 * reach no server, so the server's queue gives no backpressure). */
#define PS_OUT_MAX 65536

static bool out_backlog(const struct client *cl)
{
	return cl->c.nseg && cl->c.gen.len > PS_OUT_MAX;
}

/* Must the client's next P/B/D/C/Q wait for replies? Either an earlier
 * batch may still be skipped, or a DEALLOCATE/DISCARD ALL in flight will
 * change the client's names when it succeeds. */
static bool must_wait(struct server *sv)
{
	return sv->rq.deferred || uncertain_before_sync(sv);
}

bool ps_unstalled(struct server *sv)
{
	if (!sv->rq.stalled || must_wait(sv) || (sv->client && out_backlog(sv->client)))
		return false;
	sv->rq.stalled = false;
	return true;
}

void ps_server_unlinked(struct server *sv)
{
	rq_clear(sv);
}

void ps_server_free(struct server *sv)
{
	/* a streamed message cut short (a link never ends in the middle of one) */
	free(sv->rq.scan);
	sv->rq.scan = NULL;
	rq_clear(sv);
	free(sv->rq.e);
	free(sv->rq.undo);
	memset(&sv->rq, 0, sizeof(sv->rq));
	if (sv->ps) {
		ps_have_clear(sv);
		free(sv->ps->b);
		free(sv->ps);
		sv->ps = NULL;
	}
}

/* Is a CommandComplete body the tag of a command that dropped every
 * prepared statement of the session? */
static bool drops_all(const uint8_t *body, uint32_t len)
{
	return (len >= sizeof("DISCARD ALL") && memcmp(body, "DISCARD ALL", sizeof("DISCARD ALL")) == 0) ||
	       (len >= sizeof("DEALLOCATE ALL") && memcmp(body, "DEALLOCATE ALL", sizeof("DEALLOCATE ALL")) == 0);
}

/* The client's names go: a DISCARD ALL or DEALLOCATE ALL it sent (F_DEFER)
 * was done. */
static void forget_client_names(struct server *sv, struct client *cl, struct ps_rq_ent *e)
{
	ps_cmap_clear(cl);
	e->flags &= (uint8_t)~F_DEFER;
	sv->rq.deferred--;
}

void ps_server_tag(struct server *sv, const uint8_t *body, uint32_t len)
{
	if (sv->ps && drops_all(body, len)) {
		server_log(sv, LOG_DEBUG, "server dropped its prepared statements");
		ps_have_clear(sv);
	}
}

bool ps_wanted(const struct sift *s, const struct server *sv)
{
	return s->cfg.max_prepared_statements > 0 && pool_mode_of(s, sv->pool) != POOL_SESSION;
}

/* ---- output ---- */

/* Is there room for generated bytes in c's queue (flushing once)? */
static bool gen_room(struct conn *c)
{
	if (c->nseg < CONN_MAX_SEG || c->seg[c->nseg - 1].gen)
		return true;
	if (conn_flush(c) == CONN_IO_ERROR)
		return false;
	return c->nseg < CONN_MAX_SEG || c->seg[c->nseg - 1].gen;
}

static bool emit_simple(struct client *cl, uint8_t type)
{
	uint32_t mark;

	if (!gen_room(&cl->c))
		return false;
	mark = conn_gen_mark(&cl->c);
	pkt_put_u8(&cl->c.gen, type);
	pkt_put_u32(&cl->c.gen, 4);
	return conn_gen_commit(&cl->c, mark);
}

/* The client gets pgsift's error aux ("SQLSTATE\0message") in place of the
 * server's; the analyzer sees it as the statement's reply. */
static bool emit_error(struct server *sv, struct client *cl, const char *aux)
{
	uint32_t mark;

	if (!gen_room(&cl->c))
		return false;
	mark = conn_gen_mark(&cl->c);
	proto_error(&cl->c.gen, false, aux, aux + 6);
	if (!conn_gen_commit(&cl->c, mark))
		return false;
	if (sv->sift->cfg.analyzer)
		an_server_message(sv->sift, sv, 'E', cl->c.gen.data + mark + PROTO_HDR, cl->c.gen.len - mark - PROTO_HDR,
				  cl->c.gen.len - mark - PROTO_HDR);
	return true;
}

static bool emit_tag(struct client *cl, const char *tag)
{
	uint32_t mark;

	if (!gen_room(&cl->c))
		return false;
	mark = conn_gen_mark(&cl->c);
	pkt_begin(&cl->c.gen, 'C');
	pkt_put_str(&cl->c.gen, tag);
	pkt_end(&cl->c.gen);
	return conn_gen_commit(&cl->c, mark);
}

/* "SQLSTATE\0message" for a stand-in that fails */
static char *error_aux(const char *sqlstate, const char *fmt, const char *name)
{
	char msg[400];
	char *aux;
	size_t n;

	snprintf(msg, sizeof(msg), fmt, name);
	n = strlen(msg);
	aux = malloc(6 + n + 1);
	if (!aux)
		return NULL;
	memcpy(aux, sqlstate, 5);
	aux[5] = 0;
	memcpy(aux + 6, msg, n + 1);
	return aux;
}

bool ps_advance_slow(struct server *sv, struct client *cl)
{
	struct ps_rq *q = &sv->rq;

	while (q->n) {
		struct ps_rq_ent *e = rq_at(q, 0);
		if (q->err && e->kind != RQ_SYNC) {
			/* PostgreSQL skips everything up to the Sync */
			if (e->kind == RQ_QUERY && cl->pending_z > 0)
				cl->pending_z--;
			rq_skip_head(sv, cl);
			continue;
		}
		if (e->kind == RQ_FAKE_PARSE || e->kind == RQ_FAKE_CLOSE) {
			if (!emit_simple(cl, e->kind == RQ_FAKE_PARSE ? '1' : '3'))
				return false;
			rq_pop(sv);
			continue;
		}
		break;
	}
	return true;
}

/* ---- the reply side ---- */

/* CopyInResponse: PostgreSQL ignores the Syncs sent during COPY FROM
 * STDIN; they get no ReadyForQuery (the same count as client.c's). */
static void copy_in_started(struct server *sv, struct client *cl)
{
	struct ps_rq *q = &sv->rq;
	uint16_t ignored = cl->copy_end_sent ? cl->syncs_before_end : cl->syncs_since_cmd;
	uint32_t w = 1;

	for (uint32_t r = 1; r < q->n; r++) {
		struct ps_rq_ent *e = rq_at(q, r);
		if (ignored && e->kind == RQ_SYNC) {
			ignored--;
			rq_drop_ent(sv, e);
			continue;
		}
		if (w != r)
			*rq_at(q, w) = *e;
		w++;
	}
	q->n = q->n ? w : 0;
	q->since_barrier = 0;
	for (uint32_t i = q->n; i-- > 0 && rq_at(q, i)->kind != RQ_SYNC;)
		q->since_barrier++;
}

static bool is_invalidated_plan(const uint8_t *body, uint32_t avail)
{
	struct proto_err_fields ef;

	proto_parse_error(body, avail, &ef);
	return strcmp(ef.sqlstate, "0A000") == 0 && strstr(ef.message, "cached plan must not change result type");
}

/* An ErrorResponse that names st's internal name: the client gets it with
 * its own name instead, every field kept, and hint as a HINT field when not
 * NULL. false: the client's output is full (nothing was queued). */
static bool emit_error_renamed(struct client *cl, const struct ps_stmt *st, const uint8_t *body, uint32_t len,
			       const char *to, const char *hint)
{
	char from[32];
	size_t fl, tl = strlen(to);
	uint32_t mark, i = 0;
	struct pktbuf *pb = &cl->c.gen;

	snprintf(from, sizeof(from), "\"%s\"", st->name);
	fl = strlen(from);
	if (!gen_room(&cl->c))
		return false;
	mark = conn_gen_mark(&cl->c);
	pkt_begin(pb, 'E');
	while (i < len && body[i]) {
		const char *f = (const char *)body + i + 1;
		size_t n = strnlen(f, len - i - 1);
		pkt_put_u8(pb, body[i]);
		for (size_t k = 0; k < n;) {
			if (n - k >= fl && memcmp(f + k, from, fl) == 0) {
				pkt_put_u8(pb, '"');
				pkt_put(pb, to, tl);
				pkt_put_u8(pb, '"');
				k += fl;
			} else {
				pkt_put_u8(pb, (uint8_t)f[k]);
				k++;
			}
		}
		pkt_put_u8(pb, 0);
		i += (uint32_t)n + 2;
	}
	if (hint) {
		pkt_put_u8(pb, 'H');
		pkt_put_str(pb, hint);
	}
	pkt_put_u8(pb, 0);
	pkt_end(pb);
	return conn_gen_commit(&cl->c, mark);
}

static const char statement_gone_hint[] =
	"The statement was removed from pgsift's server connection by a DEALLOCATE it did not see "
	"(in a function or a DO block); pgsift prepares it again at its next use.";

/* A Bind or Describe of st failed with "prepared statement does not exist":
 * pgsift parsed st on sv and something it could not see (DEALLOCATE run by
 * a function or a DO block) removed it. Whatever else sv had may be gone
 * too: each statement is closed (a no-op when absent) and parsed again at
 * its next use, so this request fails but the next one works. */
static bool statement_gone(struct server *sv, const struct ps_stmt *st, const uint8_t *body, uint32_t avail)
{
	struct proto_err_fields ef;

	proto_parse_error(body, avail, &ef);
	if (strcmp(ef.sqlstate, "26000") != 0)
		return false;
	server_log(sv, LOG_WARNING, "prepared statement %s is gone from the server (a DEALLOCATE pgsift did not see); "
		   "its statements will be parsed again", st->name);
	ps_have_stale_all(sv);
	return true;
}

static bool names_internal(const struct ps_stmt *st, const uint8_t *body, uint32_t len)
{
	char from[32];
	size_t fl;

	snprintf(from, sizeof(from), "\"%s\"", st->name);
	fl = strlen(from);
	return len >= fl && memmem(body, len, from, fl) != NULL;
}

/* An ErrorResponse for the head of the queue: a stand-in's planned
 * failure becomes the client's own error; an error naming an internal
 * statement is passed on with the client's name in it. */
static enum ps_act on_error_reply(struct server *sv, struct client *cl, struct ps_rq_ent *e, const uint8_t *body,
				  uint32_t avail)
{
	struct ps_rq *q = &sv->rq;

	if (e->flags & F_FAIL) {
		/* the stand-in failed as planned: the client gets its own error */
		if (!emit_error(sv, cl, e->aux))
			return PS_STOP;
		if (e->kind == RQ_QUERY)
			return PS_USED;
		q->pop = true;
		q->pop_flags = P_ERROR;
		ps_reply_done(sv, cl);
		return PS_USED;
	}
	if (e->kind == RQ_QUERY)
		return PS_PASS; /* an error inside a simple query: ReadyForQuery follows */
	if (e->kind == RQ_SYNC)
		return PS_PASS; /* an error at commit: ReadyForQuery follows */
	q->pop = true;
	q->pop_flags = P_ERROR;
	if ((e->flags & F_BIND) && e->st && is_invalidated_plan(body, avail))
		q->pop_flags |= P_STALE;
	if (e->st && names_internal(e->st, body, avail)) {
		/* "prepared statement "pgsift_3" requires 1": the client's name */
		const char *to = e->cname[0] ? e->cname : ps_cmap_name_of(cl, e->st);
		const char *hint = statement_gone(sv, e->st, body, avail) ? statement_gone_hint : NULL;
		if (to) {
			if (!emit_error_renamed(cl, e->st, body, avail, to, hint))
				return PS_STOP;
			ps_reply_done(sv, cl);
			return PS_USED;
		}
	}
	return PS_PASS;
}

/* The DO that stood in for a DEALLOCATE ran: the client gets DEALLOCATE's
 * tag and its names go. */
static enum ps_act deallocated(struct server *sv, struct client *cl, struct ps_rq_ent *e)
{
	if (!emit_tag(cl, e->aux))
		return PS_STOP;
	if (strcmp(e->aux, "DEALLOCATE ALL") == 0)
		ps_cmap_clear(cl);
	else
		ps_cmap_del(cl, e->aux + sizeof("DEALLOCATE"), NULL);
	/* the client's SQL statements (session.c) see the tag it sees */
	if (cl->ss_busy)
		ss_server_reply(sv, cl, 'C', (const uint8_t *)e->aux, (uint32_t)strlen(e->aux) + 1);
	e->flags &= (uint8_t)~(F_TAG | F_DEFER);
	sv->rq.deferred--;
	return PS_USED;
}

enum ps_act ps_reply(struct server *sv, struct client *cl, uint8_t type, const uint8_t *body, uint32_t avail)
{
	struct ps_rq *q = &sv->rq;
	struct ps_rq_ent *e;

	q->pop = false;
	q->pop_flags = 0;
	if (q->lite_n) /* what ps_lite_reply() leaves (an error, COPY) needs the entries */
		rq_lite_out(sv);
	if (type == 'D')
		return PS_PASS; /* rows never end what the head waits for */
	if (!ps_advance(sv, cl))
		return PS_STOP;
	if (type == 'N' || type == 'A' || type == 'S' || q->n == 0)
		return PS_PASS;
	e = rq_at(q, 0);
	if (type == 'E')
		return on_error_reply(sv, cl, e, body, avail);
	switch (e->kind) {
	case RQ_ONE:
		q->pop = ps_rq_completes(e->kind, type);
		if (type == '1' && (e->flags & F_PARSE))
			e->st->ok_pool = sv->pool;
		break;
	case RQ_HIDE_PARSE:
	case RQ_HIDE_CLOSE:
		if (type == '1' || type == '3') {
			if (type == '1' && e->st)
				e->st->ok_pool = sv->pool;
			rq_pop(sv);
			ps_advance(sv, cl);
			return PS_USED;
		}
		break;
	case RQ_DESC_S:
	case RQ_DESC_P:
		q->pop = ps_rq_completes(e->kind, type);
		break;
	case RQ_EXEC:
		q->pop = ps_rq_completes(e->kind, type);
		if (type == 'C' && (e->flags & F_DEFER) && drops_all(body, avail))
			forget_client_names(sv, cl, e);
		if (type == 'G')
			copy_in_started(sv, cl);
		break;
	case RQ_SYNC:
		q->pop = ps_rq_completes(e->kind, type);
		break;
	case RQ_QUERY:
		if (type == 'C' && (e->flags & F_TAG))
			return deallocated(sv, cl, e);
		if (type == 'C' && (e->flags & F_DEFER) && drops_all(body, avail))
			forget_client_names(sv, cl, e);
		if (type == 'G')
			copy_in_started(sv, cl);
		q->pop = ps_rq_completes(e->kind, type);
		break;
	default:
		break;
	}
	return PS_PASS;
}

bool ps_own_query(struct server *sv)
{
	return !sv->ps_on || rq_push(sv, RQ_QUERY, 0, NULL, NULL);
}

void ps_reply_done(struct server *sv, struct client *cl)
{
	struct ps_rq *q = &sv->rq;
	struct ps_rq_ent *e;
	bool extended;

	if (!q->pop || q->n == 0)
		return;
	q->pop = false;
	e = rq_at(q, 0);
	extended = e->kind != RQ_QUERY && e->kind != RQ_SYNC;
	if (q->pop_flags & P_STALE) {
		struct ps_have *h = ps_have_find(sv, e->st);
		if (h) {
			h->stale = true;
			server_log(sv, LOG_INFO, "prepared statement %s invalidated; it will be parsed again", e->st->name);
		}
	}
	if (e->kind == RQ_SYNC) {
		rq_apply_undo(sv, cl);
		q->err = false;
	}
	if (q->pop_flags & P_ERROR)
		rq_skip_head(sv, cl);
	else
		rq_pop(sv);
	if ((q->pop_flags & P_ERROR) && extended)
		q->err = true;
	ps_advance(sv, cl);
}

/* ---- the client side ---- */

/* Appends a Parse of st under its internal name to pb. */
static void put_parse(struct pktbuf *pb, const struct ps_stmt *st)
{
	pkt_begin(pb, 'P');
	pkt_put_str(pb, st->name);
	pkt_put(pb, st->body, st->body_len);
	pkt_end(pb);
}

static void put_close(struct pktbuf *pb, const struct ps_stmt *st)
{
	pkt_begin(pb, 'C');
	pkt_put_u8(pb, 'S');
	pkt_put_str(pb, st->name);
	pkt_end(pb);
}

/* Makes room for one more statement on sv: closes least recently used
 * ones not used by the current client link. */
static bool evict(struct server *sv)
{
	struct ps_server *h = sv->ps;
	int max = sv->sift->cfg.max_prepared_statements;
	struct list *it;

	while (h && h->count >= (uint32_t)max) {
		struct ps_have *victim = NULL;
		for (it = h->lru.prev; it != &h->lru; it = it->prev) {
			struct ps_have *e = list_entry(it, struct ps_have, lru);
			if (e->last_use < sv->link_time) {
				victim = e;
				break;
			}
		}
		if (!victim)
			return true; /* all in use by this transaction: over the bound until it ends */
		put_close(&sv->c.gen, victim->st);
		if (!rq_push(sv, RQ_HIDE_CLOSE, 0, victim->st, NULL))
			return false;
		ps_have_del(sv, victim->st);
	}
	return true;
}

/* Makes sure sv has st before a message that uses it: Parse (after an
 * eviction) when missing, Close and Parse when its plan went stale. The
 * replies are dropped. */
static bool ensure(struct server *sv, struct ps_stmt *st)
{
	struct ps_have *h = ps_have_find(sv, st);

	if (h && !h->stale) {
		ps_have_touch(sv, h);
		return true;
	}
	if (h) {
		put_close(&sv->c.gen, st);
		if (!rq_push(sv, RQ_HIDE_CLOSE, 0, st, NULL))
			return false;
		ps_have_del(sv, st);
	}
	if (!evict(sv))
		return false;
	put_parse(&sv->c.gen, st);
	if (!rq_push(sv, RQ_HIDE_PARSE, 0, st, NULL) || !ps_have_add(sv, st))
		return false;
	st->server_parses++;
	sv->ps_reprepares++;
	sv->pool->stats.server_parse_count++;
	return true;
}

/* ---- SQL-level commands that touch prepared statements (prepared_sql.c reads them) ---- */

static const char internal_name_refused[] =
	"statements named %s* belong to pgsift; they cannot be executed or deallocated with SQL";

static const char sql_prepare_refused[] =
	"SQL-level PREPARE and EXECUTE are not supported in transaction pooling mode; use protocol-level prepared statements (%s)";

/* Stands a failing message in for the client's: the server fails (so the
 * transaction aborts as it would have) and the client gets aux instead. */
static bool put_failing(struct server *sv, uint8_t type, char *aux)
{
	struct pktbuf *pb = &sv->c.gen;

	if (!aux)
		return false;
	if (type == 'Q') {
		proto_query(pb, "PREPARE");
		return rq_push(sv, RQ_QUERY, F_FAIL, NULL, aux);
	}
	/* named, so the unnamed statement is left alone as PostgreSQL would */
	pkt_begin(pb, 'P');
	pkt_put_str(pb, CHECK_NAME);
	pkt_put_str(pb, "PREPARE");
	pkt_put_u16(pb, 0);
	pkt_end(pb);
	return rq_push(sv, RQ_ONE, F_FAIL, NULL, aux);
}

static enum ps_act on_query(struct client *cl, struct server *sv, const uint8_t *body, uint32_t blen)
{
	const char *sql = (const char *)body;
	size_t n;
	char name[256];
	enum ps_sql_cmd cmd;

	/* the usual query, in one pass: nothing below applies to it, nor to
	 * session state (the relay skips session.c for it) */
	if (ps_sql_plain(sql, blen, &n)) {
		cl->plain_len = (uint32_t)n + 1;
		return rq_push_lite(sv, RQ_QUERY) ? PS_PASS : PS_CLOSED;
	}
	cl->plain_len = 0;
	cl->ss_watch = cl->ss_on;
	cmd = ps_sql_first_cmd(sql, n, name, sizeof(name));

	if (cmd == PS_SQL_OTHER && ps_sql_has_prepare(sql, n))
		cmd = PS_SQL_PREPARE;
	if (ps_sql_internal_refused(body, n))
		return put_failing(sv, 'Q', error_aux("26000", internal_name_refused, PS_NAME_PREFIX)) ? PS_USED
													   : PS_CLOSED;
	switch (cmd) {
	case PS_SQL_PREPARE:
		/* SQL PREPARE / EXECUTE run on the server; session.c carries the
		 * client's statements to the servers it gets (doc/session-state.md) */
		break;
	case PS_SQL_DEALLOCATE:
	case PS_SQL_DEALLOCATE_ALL: {
		/* the names go when the stand-in is answered (PostgreSQL may
		 * skip it after an error) */
		char *aux;
		size_t nl = strlen(name);
		if (cmd == PS_SQL_DEALLOCATE && !ps_cmap_find(cl, name))
			break; /* not ours: PostgreSQL says it does not exist */
		/* a stand-in that does nothing, and fails where DEALLOCATE would
		 * (25P02 in an aborted transaction); its tag is replaced */
		aux = malloc(sizeof("DEALLOCATE ALL") + nl + 1);
		if (!aux)
			return PS_CLOSED;
		if (cmd == PS_SQL_DEALLOCATE_ALL) {
			memcpy(aux, "DEALLOCATE ALL", sizeof("DEALLOCATE ALL"));
		} else {
			memcpy(aux, "DEALLOCATE", sizeof("DEALLOCATE"));
			memcpy(aux + sizeof("DEALLOCATE"), name, nl + 1);
		}
		proto_query(&sv->c.gen, "DO $pgsift$BEGIN END$pgsift$");
		return rq_push(sv, RQ_QUERY, F_TAG | F_DEFER, NULL, aux) ? PS_USED : PS_CLOSED;
	}
	case PS_SQL_DISCARD_ALL:
		/* the client's names go when the server reports DISCARD ALL (and
		 * the server's statements with them: ps_server_tag()) */
		return rq_push(sv, RQ_QUERY, F_DEFER, NULL, NULL) ? PS_PASS : PS_CLOSED;
	default:
		break;
	}
	return rq_push(sv, RQ_QUERY, 0, NULL, NULL) ? PS_PASS : PS_CLOSED;
}

/* A Parse whose text is SQL-level PREPARE/EXECUTE or names an internal
 * statement (refused), or of the unnamed statement (passed on): *act gets
 * what to do; false for a named statement pgsift tracks. */
static bool parse_untracked(struct client *cl, struct server *sv, const char *name, const uint8_t *text,
			    uint32_t tlen, enum ps_act *act)
{
	const char *sql = (const char *)text;
	size_t n = strnlen(sql, tlen);
	char dummy[8];
	enum ps_sql_cmd cmd = ps_sql_first_cmd(sql, n, dummy, sizeof(dummy));
	bool session, internal = ps_sql_scan_names(text, n, &session);

	/* one pass for pgsift's names and session state (session.c) */
	if (session || ps_sql_session_start(sql, n))
		cl->ss_watch = cl->ss_on;

	/* SQL PREPARE / EXECUTE as the unnamed statement run on the server
	 * (session.c carries them); a named statement of them is refused */
	if (cmd == PS_SQL_PREPARE && *name) {
		*act = put_failing(sv, 'P', error_aux("0A000", sql_prepare_refused, "see doc/prepared.md")) ? PS_USED
													: PS_CLOSED;
		return true;
	}
	if (internal && ps_sql_internal_refused(text, n)) {
		*act = put_failing(sv, 'P', error_aux("26000", internal_name_refused, PS_NAME_PREFIX)) ? PS_USED
												       : PS_CLOSED;
		return true;
	}
	/* DISCARD ALL / DEALLOCATE ALL run through the extended protocol: the
	 * client's names go when its Execute reports them done */
	cl->ps_discard = !*name && (cmd == PS_SQL_DISCARD_ALL || cmd == PS_SQL_DEALLOCATE_ALL);
	if (*name)
		return false;
	*act = rq_push(sv, RQ_ONE, 0, NULL, NULL) ? PS_PASS : PS_CLOSED;
	return true;
}

/* Parse of a name the client already has. PostgreSQL reports a bad text
 * before a taken name: the text (text, tlen: the Parse body after the name)
 * is parsed and closed under a name of pgsift's first, with the replies
 * dropped, then a stand-in fails with the name's error. */
static enum ps_act name_taken(struct server *sv, const char *name, const uint8_t *text, uint32_t tlen)
{
	struct pktbuf *pb = &sv->c.gen;

	pkt_begin(pb, 'P');
	pkt_put_str(pb, CHECK_NAME);
	pkt_put(pb, text, tlen);
	pkt_end(pb);
	pkt_begin(pb, 'C');
	pkt_put_u8(pb, 'S');
	pkt_put_str(pb, CHECK_NAME);
	pkt_end(pb);
	if (!rq_push(sv, RQ_HIDE_PARSE, 0, NULL, NULL) || !rq_push(sv, RQ_HIDE_CLOSE, 0, NULL, NULL))
		return PS_CLOSED;
	return put_failing(sv, 'P', error_aux("42P05", "prepared statement \"%s\" already exists", name)) ? PS_USED
													: PS_CLOSED;
}

static enum ps_act on_parse(struct client *cl, struct server *sv, const uint8_t *body, uint32_t blen)
{
	struct msg_reader r;
	const char *name;
	struct ps_stmt *st;
	struct ps_have *h;
	char *aux;
	enum ps_act act;

	mr_init(&r, body, blen);
	name = mr_str(&r);
	if (r.bad)
		return rq_push(sv, RQ_ONE, 0, NULL, NULL) ? PS_PASS : PS_CLOSED; /* PostgreSQL will say what is wrong */
	if (parse_untracked(cl, sv, name, body + r.pos, blen - (uint32_t)r.pos, &act))
		return act;
	cl->pool->stats.client_parse_count++;
	if (ps_cmap_find(cl, name))
		return name_taken(sv, name, body + r.pos, blen - (uint32_t)r.pos);
	if (cl->ps && cl->ps->count >= CLIENT_NAMES_MAX)
		return put_failing(sv, 'P', error_aux("53400", "too many prepared statements on this connection (%s)",
						      "close some first"))
			       ? PS_USED
			       : PS_CLOSED;
	st = ps_stmt_get(cl->sift, body + r.pos, blen - (uint32_t)r.pos);
	aux = strdup(name);
	if (!st || !aux || !ps_cmap_add(cl, name, st)) {
		free(aux);
		return PS_CLOSED;
	}
	st->client_parses++;
	h = ps_have_find(sv, st);
	if (h && !h->stale) {
		ps_have_touch(sv, h);
		return rq_push(sv, RQ_FAKE_PARSE, F_CLIENT, st, aux) ? PS_USED : PS_CLOSED;
	}
	if (h) {
		put_close(&sv->c.gen, st);
		if (!rq_push(sv, RQ_HIDE_CLOSE, 0, st, NULL)) {
			free(aux);
			return PS_CLOSED;
		}
		ps_have_del(sv, st);
	}
	if (!evict(sv)) {
		free(aux);
		return PS_CLOSED;
	}
	put_parse(&sv->c.gen, st);
	if (!rq_push(sv, RQ_ONE, F_PARSE | F_CLIENT, st, aux) || !ps_have_add(sv, st))
		return PS_CLOSED;
	st->server_parses++;
	sv->pool->stats.server_parse_count++;
	return PS_USED;
}

/* A statement name the client never prepared: PostgreSQL's own error,
 * unless the name is one of pgsift's (then pgsift says it). */
static enum ps_act unknown_name(struct server *sv, const char *name, uint8_t kind)
{
	if (strncmp(name, PS_NAME_PREFIX, sizeof(PS_NAME_PREFIX) - 1) == 0)
		return put_failing(sv, 'P', error_aux("26000", "prepared statement \"%s\" does not exist", name))
			       ? PS_USED
			       : PS_CLOSED;
	return rq_push(sv, kind, 0, NULL, NULL) ? PS_PASS : PS_CLOSED;
}

/* Finds the end of the NUL-terminated string at p[i..n); n when none. */
static uint32_t str_end(const uint8_t *p, uint32_t i, uint32_t n)
{
	const uint8_t *z = memchr(p + i, 0, n - i);

	return z ? (uint32_t)(z - p) : n;
}

/* The messages that need no tracking beyond their reply: Execute, Sync,
 * FunctionCall, and Parse, Bind, Describe and Close of the unnamed
 * statement or of portals, when no earlier batch must finish first. *act
 * gets what to do with them; false when the message needs more. */
static bool untracked(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body, uint32_t blen,
		      bool whole, enum ps_act *act)
{
	uint8_t kind = RQ_ONE, flags = 0;

	switch (type) {
	case 'E':
		kind = RQ_EXEC;
		flags = cl->ps_discard ? F_DEFER : 0;
		break;
	case 'S':
		kind = RQ_SYNC;
		break;
	case 'F':
		kind = RQ_QUERY;
		break;
	case 'P': {
		/* the unnamed statement, unless it is SQL-level PREPARE/EXECUTE */
		uint8_t c0 = blen > 1 ? body[1] | 0x20 : 0; /* the text's first byte, lower case if a letter */
		bool session;
		if (!whole || blen < 2 || body[0] != 0 || must_wait(sv) || c0 < 'a' || c0 > 'z' || c0 == 'p' ||
		    c0 == 'e' || c0 == 'd' || ps_sql_scan_names(body + 1, blen - 1, &session))
			return false; /* parse_untracked() tells session.c */
		/* the same pass tells session.c whether to look at it */
		if (session || (c0 == 's' ? blen > 3 && (body[2] | 0x20) == 'e' && (body[3] | 0x20) == 't'
					  : c0 == 'r' || c0 == 'c' || c0 == 'l'))
			cl->ss_watch = cl->ss_on;
		cl->ps_discard = false;
		break;
	}
	case 'B': {
		/* Bind of the unnamed statement */
		const uint8_t *z = whole ? memchr(body, 0, blen) : NULL;
		if (!z || z + 1 >= body + blen || z[1] != 0 || must_wait(sv))
			return false;
		break;
	}
	case 'D':
	case 'C':
		/* portals, and the unnamed statement */
		if (!whole || blen < 2 || (body[0] != 'P' && body[1] != 0) || must_wait(sv))
			return false;
		kind = type == 'C' ? RQ_ONE : body[0] == 'P' ? RQ_DESC_P : RQ_DESC_S;
		break;
	case 'Q':
		return false;
	default:
		*act = PS_PASS;
		return true;
	}
	*act = (flags ? rq_push(sv, kind, flags, NULL, NULL) : rq_push_lite(sv, kind)) ? PS_PASS : PS_CLOSED;
	return true;
}

/* ---- messages larger than the buffer ---- */

static uint32_t str_end(const uint8_t *p, uint32_t i, uint32_t n);

/* Do the portal and statement names of a Bind end within its first blen
 * bytes? */
static bool bind_names_cut(const uint8_t *body, uint32_t blen)
{
	uint32_t pe = str_end(body, 0, blen);

	return pe >= blen || str_end(body, pe + 1, blen) >= blen;
}

static const char streamed_note[] =
	" (a Parse larger than the buffer is checked as it is relayed: the connection is closed)";

/* A message that must be read whole to be looked at (a named Parse: its
 * text is kept; a Bind whose names do not fit): the buffer grows to hold
 * it, up to PS_WHOLE_MAX. */
static enum ps_act read_whole(struct client *cl, uint8_t type, uint32_t total)
{
	char msg[200];

	if (total > PS_WHOLE_MAX) {
		snprintf(msg, sizeof(msg),
			 "%s message of %u bytes is longer than the %u bytes pgsift reads whole "
			 "to share prepared statements (see doc/prepared.md)",
			 type == 'P' ? "Parse" : "Bind", total, PS_WHOLE_MAX);
		client_close(cl, "54000", msg);
		return PS_CLOSED;
	}
	if (!conn_reserve_in(&cl->c, total)) {
		client_close(cl, "53200", "out of memory reading a message");
		return PS_CLOSED;
	}
	return PS_STOP;
}

/* A simple query or a Parse of the unnamed statement larger than the
 * buffer: relayed as it comes, its text checked as it passes (ps_scan). The
 * head is relayed now (PS_PASS); ps_stream() sees the rest. */
static enum ps_act larger_than_buffer(struct client *cl, struct server *sv, struct iobuf *b, uint8_t type,
				      const uint8_t *body, uint32_t blen, uint32_t total)
{
	struct ps_scan *sc;
	uint32_t skip = type == 'P' ? 1 : 0; /* the unnamed statement's empty name */

	if (type != 'Q' && type != 'P')
		return read_whole(cl, type, total); /* Describe, Close: at most 10,000 bytes */
	if (type == 'P' && blen == 0)
		return PS_STOP; /* the name is still to come */
	if (type == 'P' && body[0] != 0)
		return read_whole(cl, type, total);
	/* the head must be relayed once recorded: room first */
	if (!conn_relay_room(&sv->c, b, b->pos) &&
	    (conn_flush(&sv->c) == CONN_IO_ERROR || !conn_relay_room(&sv->c, b, b->pos)))
		return PS_STOP;
	if (!(sc = malloc(sizeof(*sc))) || !rq_push(sv, type == 'Q' ? RQ_QUERY : RQ_ONE, 0, NULL, NULL)) {
		free(sc);
		client_close(cl, "53200", "out of memory relaying a message");
		return PS_CLOSED;
	}
	if (type == 'P')
		cl->ps_discard = false;
	ps_scan_init(sc);
	ps_scan_feed(sc, body + skip, blen - skip);
	sv->rq.scan = sc;
	sv->rq.scan_left = total - PROTO_HDR - blen;
	return PS_PASS;
}

/* A refused simple query that streamed: its last byte, the text's NUL,
 * goes as a blank. PostgreSQL then fails the query ("invalid string in
 * message": an ERROR, the session stays and a transaction is aborted, as
 * with the stand-in of a whole query) and the client gets aux in place of
 * that error (F_FAIL on the query's entry, the last one pushed). */
static enum ps_act fail_streamed_query(struct client *cl, struct server *sv, struct iobuf *b, uint32_t n,
				       char *aux)
{
	struct ps_rq_ent *e = rq_at(&sv->rq, sv->rq.n - 1);
	uint32_t mark;

	if (!conn_out_empty(&sv->c) && conn_flush(&sv->c) != CONN_IO_OK) {
		free(aux);
		return PS_STOP; /* decided again when the server has taken the rest */
	}
	if (!aux || !conn_queue_relay(&sv->c, b, b->pos, n - 1)) {
		free(aux);
		client_close(cl, "53200", "out of memory relaying a message");
		return PS_CLOSED;
	}
	mark = conn_gen_mark(&sv->c);
	pkt_put_u8(&sv->c.gen, ' ');
	if (!conn_gen_commit(&sv->c, mark)) {
		free(aux);
		client_close(cl, "53200", "out of memory relaying a message");
		return PS_CLOSED;
	}
	e->flags |= F_FAIL;
	e->aux = aux;
	free(sv->rq.scan);
	sv->rq.scan = NULL;
	return PS_USED;
}

/* A refused unnamed Parse that streamed: no byte of its end can make it
 * fail for sure, so the server, which has part of it, is closed with the
 * client. */
static enum ps_act refuse_streamed(struct client *cl, const char *sqlstate, const char *fmt, const char *arg)
{
	char msg[400];

	snprintf(msg, sizeof(msg), fmt, arg);
	strcat(msg, streamed_note);
	client_close(cl, sqlstate, msg);
	return PS_CLOSED;
}

enum ps_act ps_stream(struct client *cl, struct server *sv, struct iobuf *b, uint32_t n)
{
	struct ps_rq *q = &sv->rq;
	uint32_t seen = cl->c.pkt_left - q->scan_left; /* read before, not relayed yet */
	bool query;

	/* its entry is the last one (nothing is recorded in the middle of a
	 * message) until its reply: a server that answers a message it has
	 * not had whole is broken */
	if (q->n == 0) {
		server_close(sv, "the server answered a message it had not received whole");
		return PS_CLOSED;
	}
	query = rq_at(q, q->n - 1)->kind == RQ_QUERY;
	if (n > seen) {
		ps_scan_feed(q->scan, b->data + b->pos + seen, n - seen);
		q->scan_left -= n - seen;
	}
	if (q->scan_left > 0)
		return PS_PASS;
	/* the last bytes: the whole text decides before they go */
	switch (ps_scan_result(q->scan)) {
	case PS_SCAN_INTERNAL:
		if (query)
			return fail_streamed_query(cl, sv, b, n, error_aux("26000", internal_name_refused, PS_NAME_PREFIX));
		return refuse_streamed(cl, "26000", internal_name_refused, PS_NAME_PREFIX);
	case PS_SCAN_PREPARE:
		if (query)
			return fail_streamed_query(cl, sv, b, n,
						   error_aux("0A000", sql_prepare_refused, "see doc/prepared.md"));
		return refuse_streamed(cl, "0A000", sql_prepare_refused, "see doc/prepared.md");
	default:
		free(q->scan);
		q->scan = NULL;
		return PS_PASS;
	}
}

/* Bind of a named statement: passed on under the internal name, the
 * server given the statement first if it lacks it. *used gets how much of
 * the message went out rewritten (the rest, when it did not fit, is
 * relayed as it comes). */
static enum ps_act on_bind(struct client *cl, struct server *sv, const uint8_t *body, uint32_t blen, uint32_t len,
			   bool whole, uint32_t *used)
{
	uint32_t total = len + 1;
	uint32_t pe = str_end(body, 0, blen), se = pe < blen ? str_end(body, pe + 1, blen) : blen;
	const char *stmt = (const char *)body + pe + 1;
	struct pktbuf *pb = &sv->c.gen;
	struct ps_stmt *st;
	uint32_t rest, newlen;
	enum ps_act act;

	if (se >= blen) {
		/* malformed: PostgreSQL says so (names longer than the buffer
		 * were read whole first: ps_client_message()) */
		return rq_push(sv, RQ_ONE, 0, NULL, NULL) ? PS_PASS : PS_CLOSED;
	}
	if (!*stmt)
		return rq_push(sv, RQ_ONE, 0, NULL, NULL) ? PS_PASS : PS_CLOSED;
	st = ps_cmap_find(cl, stmt);
	if (!st)
		return unknown_name(sv, stmt, RQ_ONE);
	if (!ensure(sv, st))
		return PS_CLOSED;
	rest = total - PROTO_HDR - se - 1;
	newlen = len - (uint32_t)strlen(stmt) + (uint32_t)strlen(st->name);
	pkt_put_u8(pb, 'B');
	pkt_put_u32(pb, newlen);
	pkt_put(pb, body, pe + 1);
	pkt_put_str(pb, st->name);
	*used = PROTO_HDR + se + 1;
	if (whole && rest <= 4096) {
		pkt_put(pb, body + se + 1, rest);
		*used = total;
	}
	st->binds++;
	cl->pool->stats.bind_count++;
	act = rq_push(sv, RQ_ONE, F_BIND, st, NULL) ? PS_USED : PS_CLOSED;
	if (act == PS_USED)
		set_cname(sv, stmt);
	return act;
}

/* Close of a named statement: the client's name goes, the server keeps the
 * statement; pgsift answers CloseComplete at its place in the stream. */
static enum ps_act on_close(struct client *cl, struct server *sv, const char *name)
{
	struct ps_stmt *st = ps_cmap_find(cl, name);
	char *aux = st ? strdup(name) : NULL;

	if (st && !aux)
		return PS_CLOSED;
	if (!rq_push(sv, RQ_FAKE_CLOSE, st ? F_CLOSE : 0, st, aux))
		return PS_CLOSED;
	if (st)
		ps_cmap_del(cl, name, st);
	return PS_USED;
}

/* Describe of a named statement, under the internal name. */
static enum ps_act on_describe(struct client *cl, struct server *sv, const char *name)
{
	struct pktbuf *pb = &sv->c.gen;
	struct ps_stmt *st = ps_cmap_find(cl, name);
	enum ps_act act;

	if (!st)
		return unknown_name(sv, name, RQ_DESC_S);
	if (!ensure(sv, st))
		return PS_CLOSED;
	pkt_begin(pb, 'D');
	pkt_put_u8(pb, 'S');
	pkt_put_str(pb, st->name);
	pkt_end(pb);
	act = rq_push(sv, RQ_DESC_S, 0, st, NULL) ? PS_USED : PS_CLOSED;
	if (act == PS_USED)
		set_cname(sv, name);
	return act;
}

/* Describe or Close: of a named statement, or (malformed, a portal) passed on */
static enum ps_act on_describe_close(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body,
				     uint32_t blen)
{
	uint8_t what = blen > 0 ? body[0] : 0;
	const char *name = (const char *)body + 1;
	uint8_t kind = type == 'D' ? (what == 'S' ? RQ_DESC_S : RQ_DESC_P) : RQ_ONE;

	if (what != 'S' || blen < 2 || str_end(body, 1, blen) >= blen || !*name)
		return rq_push(sv, kind, 0, NULL, NULL) ? PS_PASS : PS_CLOSED;
	return type == 'C' ? on_close(cl, sv, name) : on_describe(cl, sv, name);
}

enum ps_act ps_client_message(struct client *cl, struct server *sv, struct iobuf *b, uint8_t type, uint32_t len,
			      uint32_t *used)
{
	uint32_t avail = b->end - b->pos, total = len + 1;
	const uint8_t *body = b->data + b->pos + PROTO_HDR;
	uint32_t blen = (avail < total ? avail : total) - PROTO_HDR;
	bool whole = avail >= total;
	uint32_t mark;
	enum ps_act act = PS_PASS;

	*used = 0;
	if (out_backlog(cl)) {
		/* the client does not read what pgsift answers for it */
		sv->rq.stalled = true;
		return PS_STOP;
	}
	if (untracked(cl, sv, type, body, blen, whole, &act))
		return act;
	/* what PostgreSQL skips after an error needs no reply, and what it
	 * would have changed is not waited for: the Sync that ends the error
	 * may be behind this very message */
	if (must_wait(sv) && (!ps_advance(sv, cl) || must_wait(sv))) {
		sv->rq.stalled = true;
		return PS_STOP;
	}
	if (!whole && type != 'B') {
		cl->plain_len = 0;
		cl->ss_watch = cl->ss_on; /* a text not read whole: session.c looks */
		return larger_than_buffer(cl, sv, b, type, body, blen, total);
	}
	if (!whole && bind_names_cut(body, blen))
		return read_whole(cl, 'B', total); /* names longer than the buffer */
	if (!gen_room(&sv->c))
		return PS_STOP;
	mark = conn_gen_mark(&sv->c);
	switch (type) {
	case 'Q':
		act = on_query(cl, sv, body, blen);
		break;
	case 'P':
		act = on_parse(cl, sv, body, blen);
		break;
	case 'B':
		act = on_bind(cl, sv, body, blen, len, whole, used);
		break;
	default: /* 'D', 'C' */
		act = on_describe_close(cl, sv, type, body, blen);
		break;
	}
	if (act == PS_USED && *used == 0) {
		/* replaced whole (a stand-in that fails): what is still to come of
		 * it is dropped, not relayed */
		*used = whole ? total : avail;
		cl->c.pkt_drop = !whole;
	}
	if (!conn_gen_commit(&sv->c, mark))
		act = PS_CLOSED;
	if (act == PS_CLOSED) {
		client_close(cl, "53200", "out of memory tracking prepared statements");
		return PS_CLOSED;
	}
	if (act == PS_USED)
		ps_advance(sv, cl); /* a reply pgsift gives may be due at once */
	return act;
}

/* ---- a client without a server ---- */

/* Could the text start with LISTEN or UNLISTEN? */
static bool may_listen(const uint8_t *p, uint32_t n)
{
	uint32_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t'))
		i++;
	return i + 1 < n && (((p[i] | 0x20) == 'l' && (p[i + 1] | 0x20) == 'i') ||
			     ((p[i] | 0x20) == 'u' && (p[i + 1] | 0x20) == 'n'));
}

enum ps_act ps_local(struct client *cl, struct iobuf *b, uint8_t type, uint32_t len)
{
	struct sift *s = cl->sift;
	uint32_t avail = b->end - b->pos, total = len + 1;
	const uint8_t *body = b->data + b->pos + PROTO_HDR;
	uint32_t blen = len - 4;
	struct msg_reader r;

	if (type != 'P' && type != 'C' && !((type == 'S' || type == 'H') && cl->ps_local))
		return PS_PASS;
	if (cl->state != CL_IDLE || !cl->pool || s->cfg.max_prepared_statements <= 0 ||
	    pool_mode_of(s, cl->pool) == POOL_SESSION)
		return PS_PASS;
	if (avail < total)
		return total <= b->cap ? PS_STOP : PS_PASS;
	if (!gen_room(&cl->c))
		return PS_STOP;
	mr_init(&r, body, blen);
	switch (type) {
	case 'P': {
		const char *name = mr_str(&r);
		struct ps_stmt *st;
		if (r.bad || !*name || ps_cmap_find(cl, name))
			return PS_PASS;
		/* session.c follows a named LISTEN / UNLISTEN: it must see the Parse */
		if (__builtin_expect(cl->nf_named, 0) || may_listen(body + r.pos, blen - (uint32_t)r.pos))
			return PS_PASS;
		st = ps_stmt_find(s, body + r.pos, blen - (uint32_t)r.pos);
		if (!st || st->ok_pool != cl->pool)
			return PS_PASS; /* a server says whether it parses */
		if (!emit_simple(cl, '1'))
			return PS_STOP;
		if (!ps_cmap_add(cl, name, st)) {
			client_close(cl, "53200", "out of memory tracking prepared statements");
			return PS_CLOSED;
		}
		st->client_parses++;
		cl->pool->stats.client_parse_count++;
		break;
	}
	case 'C': {
		uint8_t what = mr_u8(&r);
		const char *name = mr_str(&r);
		if (r.bad || what != 'S' || !*name)
			return PS_PASS;
		if (!emit_simple(cl, '3'))
			return PS_STOP;
		ps_cmap_del(cl, name, NULL);
		break;
	}
	case 'S': {
		uint32_t mark = conn_gen_mark(&cl->c);
		proto_ready(&cl->c.gen, 'I');
		if (!conn_gen_commit(&cl->c, mark))
			return PS_STOP;
		cl->ps_local = false;
		return PS_USED;
	}
	default: /* Flush: what was answered goes out now */
		return PS_USED;
	}
	cl->ps_local = true;
	return PS_USED;
}
