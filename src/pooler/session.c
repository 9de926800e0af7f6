/*
 * session: session settings carried across servers in transaction
 * pooling. See session.h and doc/session-state.md.
 */
#include "pooler/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/notify.h"
#include "pooler/objects.h"
#include "pooler/pin.h"
#include "pooler/session_sql.h"
#include "pooler/sift.h"
#include "util/log.h"
#include "util/proto.h"

#define SS_OPS_MAX 64	    /* statements awaiting their reply, per client */
#define SS_SET_MAX 65536    /* bytes of one set of settings */
#define SS_NAMED_MAX 64	    /* named statements of LISTEN/UNLISTEN followed per client */

/* One statement sent to the server whose effect waits for its reply. */
struct ss_op {
	uint8_t kind;		/* enum ss_kind */
	uint8_t tag;		/* enum ss_tag */
	bool strict;		/* pairs with the next reply whatever its tag (simple query) */
	uint32_t zleft;		/* ReadyForQuery replies before the one ending its batch */
	struct istr *nv;	/* "name\0value" for SS_SET, "name" for SS_RESET */
};

/* What the unnamed statement or portal will do when executed. */
struct ss_pend {
	uint8_t kind;		/* enum ss_kind */
	uint8_t tag;		/* enum ss_tag */
	uint16_t pnum;		/* set_config's value is this Bind parameter (1-based); 0: none */
	struct istr *nv;	/* as struct ss_op's; "name" alone while pnum is set */
};

/* A named statement whose text is LISTEN / UNLISTEN (asyncpg prepares
 * every statement it runs). */
struct ss_named {
	char name[64];
	struct ss_pend pd;
};

struct ss_client {
	struct ss_op q[SS_OPS_MAX];
	uint32_t head, n;
	bool unnamed_set, portal_set;	/* the unnamed statement / portal changes session state */
	bool rolled_back;		/* a ROLLBACK since the last ReadyForQuery */
	bool err_seen;			/* an error since the last ReadyForQuery */
	struct ss_pend unnamed, portal;
	struct ss_named *named;		/* SS_NAMED_MAX entries once one is followed */
	uint32_t nnamed;
};

static const char *const startup_tracked[] = {
	"extra_float_digits", "search_path", "statement_timeout", "lock_timeout",
	"idle_in_transaction_session_timeout", "datestyle", "intervalstyle", "timezone",
	"client_encoding", "application_name",
};

bool ss_startup_tracked(const char *name)
{
	for (size_t i = 0; i < sizeof(startup_tracked) / sizeof(startup_tracked[0]); i++)
		if (strcasecmp(startup_tracked[i], name) == 0)
			return true;
	return false;
}

/* ---- sets: sorted "name\0value\0" entries ---- */

/* The entry after *pos in set (name, value); false at the end. */
static bool set_next(const struct istr *set, uint32_t *pos, const char **name, const char **value)
{
	if (!set || *pos >= set->len)
		return false;
	*name = set->s + *pos;
	*value = *name + strlen(*name) + 1;
	*pos = (uint32_t)(*value - set->s) + (uint32_t)strlen(*value) + 1;
	return true;
}

static const char *set_find(const struct istr *set, const char *name)
{
	uint32_t pos = 0;
	const char *n, *v;

	while (set_next(set, &pos, &n, &v))
		if (!strcmp(n, name))
			return v;
	return NULL;
}

static bool buf_add(char *buf, size_t *len, const char *s)
{
	size_t k = strlen(s) + 1;

	if (*len + k > SS_SET_MAX)
		return false;
	memcpy(buf + *len, s, k);
	*len += k;
	return true;
}

/* *set with name given value (removed when value is NULL). */
static bool set_with(struct sift *s, struct istr **set, const char *name, const char *value)
{
	char *buf;
	size_t len = 0;
	uint32_t pos = 0;
	const char *n, *v;
	bool placed = value == NULL, ok = true;
	struct istr *res = NULL;

	if (value == NULL ? set_find(*set, name) == NULL : (v = set_find(*set, name)) && !strcmp(v, value))
		return true;
	if (!(buf = malloc(SS_SET_MAX)))
		return false;
	while (ok && set_next(*set, &pos, &n, &v)) {
		int c = strcmp(n, name);
		if (c > 0 && !placed) {
			ok = buf_add(buf, &len, name) && buf_add(buf, &len, value);
			placed = true;
		}
		if (c != 0 && ok)
			ok = buf_add(buf, &len, n) && buf_add(buf, &len, v);
	}
	if (ok && !placed)
		ok = buf_add(buf, &len, name) && buf_add(buf, &len, value);
	if (ok && len > 0)
		ok = (res = istr_get(&s->strs, buf, len)) != NULL;
	free(buf);
	if (ok) {
		istr_set(&s->strs, set, res);
		istr_put(&s->strs, res);
	}
	return ok;
}

static bool name_ok(const char *name)
{
	if (!*name || strlen(name) >= SS_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '$'))
			return false;
	return true;
}

bool ss_set_put(struct sift *s, struct istr **set, const char *name, const char *value)
{
	char n[SS_NAME_MAX], v[SS_VALUE_MAX];
	size_t k = 0;

	for (; name[k] && k + 1 < sizeof(n); k++)
		n[k] = name[k] >= 'A' && name[k] <= 'Z' ? (char)(name[k] + 32) : name[k];
	n[k] = 0;
	if (name[k] || !name_ok(n) || strlen(value) + 2 > sizeof(v))
		return false;
	v[0] = 'L';
	strcpy(v + 1, value);
	return set_with(s, set, n, v);
}

/* ---- the client's statements ---- */

void ss_client_start(struct client *cl, struct istr *startup)
{
	struct sift *s = cl->sift;
	int mode = pool_mode_of(s, cl->pool);

	istr_set(&s->strs, &cl->ss_start, startup);
	istr_set(&s->strs, &cl->ss_set, startup);
	istr_set(&s->strs, &cl->ss_cur, startup);
	cl->ss_unvalidated = startup != NULL;
	cl->ss_on = mode != POOL_SESSION && !cl->replication; /* a replication client's session is its server's */
}

static struct ss_client *ss_of(struct client *cl)
{
	if (!cl->ss)
		cl->ss = calloc(1, sizeof(*cl->ss));
	cl->ss_watch = cl->ss_on && cl->ss; /* its Binds and Executes matter now */
	return cl->ss;
}

/* "name\0value" (SS_SET, SS_PREPARE) or "name" (SS_RESET, SS_DEALLOCATE)
 * of st, interned (a new reference); NULL for other kinds, or with *ok
 * false when out of memory. */
static struct istr *nv_of(struct sift *s, const struct ss_stmt *st, bool *ok)
{
	char nv[SS_NAME_MAX + SS_VALUE_MAX + 2];
	size_t nl = strlen(st->name), vl = strlen(st->value);
	struct istr *r;
	bool with_value = (st->kind == SS_SET && st->value[0] != 'P') || st->kind == SS_PREPARE;

	*ok = true;
	if (st->kind != SS_SET && st->kind != SS_RESET && st->kind != SS_PREPARE && st->kind != SS_DEALLOCATE &&
	    st->kind != SS_LISTEN && st->kind != SS_UNLISTEN)
		return NULL;
	memcpy(nv, st->name, nl + 1);
	memcpy(nv + nl + 1, st->value, vl);
	r = istr_get(&s->strs, nv, with_value ? nl + 1 + vl : nl);
	*ok = r != NULL;
	return r;
}

/* Queues an op (taking a new reference to nv); false when the queue is
 * full. */
static bool push_nv(struct client *cl, uint8_t kind, uint8_t tag, bool strict, uint32_t zleft, struct istr *nv)
{
	struct ss_client *ss = ss_of(cl);
	struct ss_op *op;

	if (!ss || ss->n == SS_OPS_MAX)
		return false;
	op = &ss->q[(ss->head + ss->n) % SS_OPS_MAX];
	op->kind = kind;
	op->tag = tag;
	op->strict = strict;
	op->zleft = zleft;
	op->nv = istr_ref(nv);
	if ((kind == SS_SET || kind == SS_RESET || kind == SS_PREPARE || kind == SS_DEALLOCATE || kind == SS_LISTEN ||
	     kind == SS_UNLISTEN) &&
	    !nv)
		op->kind = SS_DIRTY;
	ss->n++;
	cl->ss_busy = true;
	return true;
}

/* Queues what st does; false when the queue is full. */
static bool push(struct client *cl, const struct ss_stmt *st, bool strict, uint32_t zleft)
{
	bool ok, r;
	struct istr *nv = nv_of(cl->sift, st, &ok);
	/* a set_config($N) no Bind supplied: not followed */
	uint8_t kind = st->kind == SS_SET && st->value[0] == 'P' ? SS_DIRTY : st->kind;

	r = push_nv(cl, ok ? kind : SS_DIRTY, st->tag, strict, zleft, nv);
	istr_put(&cl->sift->strs, nv);
	return r;
}

/* A statement that may pin the client went to the server (pin.h): its
 * later Binds and Executes are looked at too. */
static void pin_seen(struct client *cl, unsigned why)
{
	pin_note(cl, why);
	if (cl->pin_counted)
		(void)ss_of(cl);
}

/* A simple query: when a statement of it matters, one op per statement,
 * paired with the replies in order. */
static void on_query(struct client *cl, struct server *sv, const char *text, size_t n, bool whole)
{
	struct ss_stmt st[2];
	size_t pos = 0, off, sl, count = 0, relevant = 0;
	uint32_t zleft = cl->pending_z ? cl->pending_z - 1 : 0;
	unsigned why = 0;

	if (!ss_sql_maybe(text, n))
		return;
	if (!whole) { /* a text larger than the buffer: reset the server after it */
		sv->ss_dirty = true;
		cl->pin_check |= cl->sift->cfg.pin_session_state; /* the probe tells */
		return;
	}
	/* a first pass counts, a second queues: most texts are short */
	while (ss_sql_next(text, n, &pos, &off, &sl)) {
		ss_sql_classify(text + off, sl, &st[0]);
		count++;
		relevant += st[0].kind != SS_NONE;
		why |= pin_of_stmt(&st[0], text + off, sl);
	}
	if (why)
		pin_seen(cl, why);
	if (!relevant)
		return;
	if (count > SS_OPS_MAX - (cl->ss ? cl->ss->n : 0)) {
		log_warning("client %llu: %zu statements in one query: session settings in it are not carried",
			    (unsigned long long)cl->id, count);
		sv->ss_dirty = true;
		return;
	}
	for (pos = 0; ss_sql_next(text, n, &pos, &off, &sl);) {
		ss_sql_classify(text + off, sl, &st[1]);
		if (!push(cl, &st[1], true, zleft))
			sv->ss_dirty = true;
	}
}

static void pend_set(struct sift *s, struct ss_pend *pd, const struct ss_stmt *st)
{
	bool ok;
	struct istr *nv = nv_of(s, st, &ok);

	istr_put(&s->strs, pd->nv);
	pd->kind = ok ? st->kind : SS_DIRTY;
	pd->tag = st->tag;
	pd->pnum = st->kind == SS_SET && st->value[0] == 'P' ? (uint16_t)atoi(st->value + 1) : 0;
	pd->nv = nv;
}

/* ---- named statements of LISTEN / UNLISTEN ---- */

static struct ss_named *named_find(struct ss_client *ss, const char *name)
{
	for (uint32_t i = 0; ss && i < ss->nnamed; i++)
		if (!strcmp(ss->named[i].name, name))
			return &ss->named[i];
	return NULL;
}

static void named_del(struct client *cl, const char *name)
{
	struct ss_client *ss = cl->ss;
	struct ss_named *nm = named_find(ss, name);

	if (!nm)
		return;
	istr_put(&cl->sift->strs, nm->pd.nv);
	*nm = ss->named[--ss->nnamed];
	cl->nf_named = ss->nnamed > 0;
}

/* Remembers what the named statement does; false when it cannot be
 * followed (the server is then reset, as for other named statements). */
static bool named_put(struct client *cl, const char *name, const struct ss_stmt *st)
{
	struct ss_client *ss = ss_of(cl);
	struct ss_named *nm;

	if (!ss || strlen(name) >= sizeof(nm->name) || (!ss->named && !(ss->named = calloc(SS_NAMED_MAX, sizeof(*nm)))) ||
	    ss->nnamed == SS_NAMED_MAX)
		return false;
	nm = &ss->named[ss->nnamed];
	memset(nm, 0, sizeof(*nm));
	pend_set(cl->sift, &nm->pd, st);
	if (nm->pd.kind == SS_DIRTY) {
		istr_put(&cl->sift->strs, nm->pd.nv);
		return false;
	}
	strcpy(nm->name, name);
	ss->nnamed++;
	cl->nf_named = true;
	return true;
}

/* Parse: the unnamed statement is remembered until its Execute; a named
 * one that changes session state is not followed (the server is reset),
 * but for LISTEN and UNLISTEN. */
static void on_parse(struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail)
{
	const char *name = (const char *)body, *q;
	const uint8_t *nul = memchr(body, 0, avail);
	struct ss_stmt st;
	size_t qn;

	if (!nul)
		return;
	q = (const char *)nul + 1;
	qn = strnlen(q, avail - (uint32_t)(nul + 1 - body));
	if (cl->ss)
		cl->ss->unnamed_set = cl->ss->unnamed_set && *name;
	if (*name && cl->nf_named)
		named_del(cl, name);
	if (!ss_sql_maybe(q, qn))
		return;
	ss_sql_classify(q, qn, &st);
	if (st.kind == SS_NONE && st.tag == SS_TAG_ANY)
		return;
	if (pin_of_stmt(&st, q, qn)) {
		pin_seen(cl, pin_of_stmt(&st, q, qn));
		/* a named one may run again in a later transaction: each Execute is probed */
		cl->pin_stmts |= *name && cl->pin_counted;
	}
	if (*name) {
		if ((st.kind == SS_LISTEN || st.kind == SS_UNLISTEN || st.kind == SS_UNLISTEN_ALL) && named_put(cl, name, &st))
			return;
		if (st.kind != SS_NONE)
			sv->ss_dirty = true;
		return;
	}
	if (!ss_of(cl))
		return;
	pend_set(cl->sift, &cl->ss->unnamed, &st);
	cl->ss->unnamed_set = true;
}

/* set_config(name, $N, false): the portal's op gets the Bind's value of
 * parameter N (text and binary formats of text are the same bytes); false
 * when it cannot be read. */
static bool bind_value(struct sift *s, struct ss_pend *pd, const uint8_t *body, uint32_t avail, uint32_t pos)
{
	uint32_t want = pd->pnum, nfmt, np, nl = pd->nv ? pd->nv->len : 0;
	char buf[SS_NAME_MAX + SS_VALUE_MAX + 2];
	struct istr *nv;

	if (!pd->nv || pos + 2 > avail)
		return false;
	nfmt = (uint32_t)body[pos] << 8 | body[pos + 1];
	pos += 2 + 2 * nfmt;
	if (pos + 2 > avail)
		return false;
	np = (uint32_t)body[pos] << 8 | body[pos + 1];
	pos += 2;
	if (want < 1 || want > np)
		return false;
	for (uint32_t k = 1; k <= want; k++) {
		int32_t len;
		if (pos + 4 > avail)
			return false;
		len = (int32_t)((uint32_t)body[pos] << 24 | (uint32_t)body[pos + 1] << 16 | (uint32_t)body[pos + 2] << 8 |
				body[pos + 3]);
		pos += 4;
		if (k < want) {
			if (len > 0)
				pos += (uint32_t)len;
			continue;
		}
		if (len < 0) { /* NULL: back to the default */
			pd->kind = SS_RESET;
			pd->pnum = 0;
			return true;
		}
		if ((uint32_t)len + 2 > SS_VALUE_MAX || pos + (uint32_t)len > avail || memchr(body + pos, 0, (size_t)len))
			return false;
		memcpy(buf, pd->nv->s, nl + 1);
		buf[nl + 1] = 'L';
		memcpy(buf + nl + 2, body + pos, (size_t)len);
		if (!(nv = istr_get(&s->strs, buf, nl + 2 + (size_t)len)))
			return false;
		istr_put(&s->strs, pd->nv);
		pd->nv = nv;
		pd->pnum = 0;
	}
	return true;
}

static void on_bind(struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail)
{
	struct ss_client *ss = cl->ss;
	const uint8_t *nul = memchr(body, 0, avail);
	const char *stmt;

	if (!nul || !memchr(nul + 1, 0, avail - (uint32_t)(nul + 1 - body)))
		return;
	const struct ss_pend *from = &ss->unnamed;
	struct ss_named *nm;

	stmt = (const char *)nul + 1;
	if (*body == 0)
		ss->portal_set = false;
	if (*stmt) { /* a named statement: followed only for LISTEN / UNLISTEN */
		if (!cl->nf_named || !(nm = named_find(ss, stmt)))
			return;
		from = &nm->pd;
	} else if (!ss->unnamed_set) {
		return;
	}
	if (*body) { /* a named portal of a SET: not followed */
		sv->ss_dirty |= from->kind != SS_NONE;
		return;
	}
	istr_set(&cl->sift->strs, &ss->portal.nv, from->nv);
	ss->portal.kind = from->kind;
	ss->portal.tag = from->tag;
	ss->portal.pnum = from->pnum;
	ss->portal_set = true;
	if (ss->portal.pnum &&
	    !bind_value(cl->sift, &ss->portal, body, avail, (uint32_t)((const uint8_t *)stmt + strlen(stmt) + 1 - body)))
		ss->portal.kind = SS_DIRTY;
}

void ss_client_message(struct client *cl, struct server *sv, uint8_t type, const uint8_t *body, uint32_t avail,
		       uint32_t len)
{
	ss_watch_reset(cl, sv);
	/* a pinned client: a statement that may remove its state is probed */
	if (cl->pin_counted && (type == 'Q' || type == 'P') && !cl->pin_check &&
	    pin_may_release((const char *)body, avail))
		cl->pin_check = true;
	switch (type) {
	case 'Q':
		on_query(cl, sv, (const char *)body, strnlen((const char *)body, avail), avail >= len);
		break;
	case 'P':
		if (avail >= len)
			on_parse(cl, sv, body, avail);
		else
			sv->ss_dirty |= ss_sql_maybe((const char *)body, avail);
		break;
	case 'B':
		if (cl->ss)
			on_bind(cl, sv, body, avail);
		break;
	case 'E':
		if (cl->pin_stmts)
			cl->pin_check |= cl->sift->cfg.pin_session_state;
		if (cl->ss && cl->ss->portal_set && avail && body[0] == 0 &&
		    !push_nv(cl, cl->ss->portal.pnum ? SS_DIRTY : cl->ss->portal.kind, cl->ss->portal.tag, false,
			     cl->pending_z, cl->ss->portal.nv))
			sv->ss_dirty = true;
		break;
	default:
		break;
	}
}

/* ---- replies ---- */

static bool tag_matches(uint8_t tag, const uint8_t *body, uint32_t avail)
{
	static const char *const tags[] = { "", "SET", "RESET", "SELECT", "DISCARD", "PREPARE", "DEALLOCATE", "LISTEN",
					    "UNLISTEN" };
	size_t k = strlen(tags[tag]);

	return avail >= k && memcmp(body, tags[tag], k) == 0;
}

/* RESET ALL: the settings go back to base's (the startup packet's); SQL
 * prepared statements ('#' entries) stay. */
static bool reset_all(struct sift *s, struct istr **set, struct istr *base)
{
	struct istr *res = istr_ref(base);
	uint32_t pos = 0;
	const char *n, *v;
	bool ok = true;

	while (ok && set_next(*set, &pos, &n, &v))
		if (n[0] == '#')
			ok = set_with(s, &res, n, v);
	if (ok)
		istr_set(&s->strs, set, res);
	istr_put(&s->strs, res);
	return ok;
}

/* DEALLOCATE ALL: the '#' entries go. */
static bool drop_prepared(struct sift *s, struct istr **set)
{
	struct istr *res = istr_ref(*set);
	uint32_t pos = 0;
	const char *n, *v;
	bool ok = true;

	while (ok && set_next(*set, &pos, &n, &v))
		if (n[0] == '#')
			ok = set_with(s, &res, n, NULL);
	if (ok)
		istr_set(&s->strs, set, res);
	istr_put(&s->strs, res);
	return ok;
}

/* What a completed op does to the client's and the server's settings. */
static void apply(struct server *sv, struct client *cl, const struct ss_op *op)
{
	struct sift *s = cl->sift;
	const char *name = op->nv ? op->nv->s : NULL;
	bool ok = true;

	if ((op->kind == SS_SET || op->kind == SS_RESET) && name && name[0] != '#' && param_index(s, name) >= 0)
		return; /* reported with ParameterStatus: tracked in cl->vals */
	switch (op->kind) {
	case SS_LISTEN: /* fanned out when the transaction commits; the server LISTENs now */
		sv->ss_dirty = true;
		notify_client_op(cl, SS_LISTEN, name);
		break;
	case SS_UNLISTEN:
	case SS_UNLISTEN_ALL:
		notify_client_op(cl, op->kind, name);
		break;
	case SS_SET:
		ok = set_with(s, &cl->ss_cur, name, name + strlen(name) + 1) &&
		     set_with(s, &sv->ss_cur, name, name + strlen(name) + 1);
		break;
	case SS_RESET:
		/* PostgreSQL's RESET goes back to the startup packet's value; on
		 * the server (whose login did not send it) to its default */
		ok = set_with(s, &cl->ss_cur, name, set_find(cl->ss_start, name)) && set_with(s, &sv->ss_cur, name, NULL);
		break;
	case SS_RESET_ALL:
		if (op->tag == SS_TAG_DISCARD && cl->nf) /* DISCARD ALL includes UNLISTEN * */
			notify_client_op(cl, SS_UNLISTEN_ALL, NULL);
		if (op->tag == SS_TAG_DISCARD) { /* prepared statements go too */
			istr_set(&s->strs, &cl->ss_cur, cl->ss_start);
			istr_set(&s->strs, &cl->ss_set, cl->ss_start);
			istr_set(&s->strs, &sv->ss_cur, NULL);
			istr_set(&s->strs, &sv->ss_set, NULL);
			sv->ss_dirty = false;
		} else {
			ok = reset_all(s, &cl->ss_cur, cl->ss_start) && reset_all(s, &sv->ss_cur, NULL);
		}
		break;
	case SS_PREPARE: /* not transactional: stays whatever the transaction does */
		ok = set_with(s, &cl->ss_cur, name, name + strlen(name) + 1) &&
		     set_with(s, &cl->ss_set, name, name + strlen(name) + 1) &&
		     set_with(s, &sv->ss_cur, name, name + strlen(name) + 1) &&
		     set_with(s, &sv->ss_set, name, name + strlen(name) + 1);
		break;
	case SS_DEALLOCATE:
		ok = set_with(s, &cl->ss_cur, name, NULL) && set_with(s, &cl->ss_set, name, NULL) &&
		     set_with(s, &sv->ss_cur, name, NULL) && set_with(s, &sv->ss_set, name, NULL);
		break;
	case SS_DEALLOCATE_ALL:
		/* with prepared statement tracking, pgsift answered it (prepared.c)
		 * and the server kept them: the next sync deallocates them */
		ok = drop_prepared(s, &cl->ss_cur) && drop_prepared(s, &cl->ss_set) &&
		     (sv->ps_on || (drop_prepared(s, &sv->ss_cur) && drop_prepared(s, &sv->ss_set)));
		break;
	case SS_DIRTY:
		sv->ss_dirty = true;
		break;
	default:
		break;
	}
	if (!ok) {
		log_warning("client %llu: session setting not carried (out of memory or over %d bytes)",
			    (unsigned long long)cl->id, SS_SET_MAX);
		sv->ss_dirty = true;
	}
}

static void pop(struct ss_client *ss)
{
	ss->head = (ss->head + 1) % SS_OPS_MAX;
	ss->n--;
}

/* ReadyForQuery: ops of the batch it ends never completed; at the end of
 * a transaction its changes stay or go. */
static void ready(struct server *sv, struct client *cl, struct ss_client *ss, char status)
{
	struct sift *s = cl->sift;
	uint32_t keep = 0;

	for (uint32_t i = 0, n = ss ? ss->n : 0; i < n; i++) {
		struct ss_op *op = &ss->q[ss->head];
		pop(ss);
		if (op->zleft == 0) {
			istr_put(&s->strs, op->nv);
			continue;
		}
		op->zleft--;
		ss->q[(ss->head + ss->n) % SS_OPS_MAX] = *op;
		ss->n++;
		keep++;
	}
	if (status == 'I') {
		if (ss && (ss->rolled_back || ss->err_seen)) {
			istr_set(&s->strs, &cl->ss_cur, cl->ss_set);
			istr_set(&s->strs, &sv->ss_cur, sv->ss_set);
		} else {
			istr_set(&s->strs, &cl->ss_set, cl->ss_cur);
			istr_set(&s->strs, &sv->ss_set, sv->ss_cur);
		}
	}
	if (ss)
		ss->rolled_back = ss->err_seen = false;
	cl->ss_busy = keep > 0 || cl->ss_cur != cl->ss_set || sv->ss_cur != sv->ss_set || cl->nf_pend;
}

bool ss_notify_ready(struct server *sv, struct client *cl, char status)
{
	const struct ss_client *ss = cl->ss;

	return notify_ready(sv, cl, status, ss && (ss->rolled_back || ss->err_seen));
}

void ss_server_reply(struct server *sv, struct client *cl, uint8_t type, const uint8_t *body, uint32_t avail)
{
	struct ss_client *ss = cl->ss;
	struct ss_op *op = ss && ss->n ? &ss->q[ss->head] : NULL;

	switch (type) {
	case 'C':
		if (ss && avail >= 9 && memcmp(body, "ROLLBACK", 9) == 0)
			ss->rolled_back = true;
		else if (ss && avail >= 7 && memcmp(body, "COMMIT", 7) == 0)
			ss->rolled_back = false;
		if (op && op->zleft == 0 && (op->strict || tag_matches(op->tag, body, avail))) {
			apply(sv, cl, op);
			istr_put(&cl->sift->strs, op->nv);
			pop(ss);
		}
		break;
	case 'E':
		if (ss)
			ss->err_seen = true;
		while (op && op->zleft == 0) {
			istr_put(&cl->sift->strs, op->nv);
			pop(ss);
			op = ss->n ? &ss->q[ss->head] : NULL;
		}
		break;
	case 'Z':
		ready(sv, cl, ss, avail ? (char)body[0] : 'I');
		break;
	default:
		break;
	}
}

/* ---- bringing a server in line ---- */

static bool out_add(char **sql, size_t *len, size_t *cap, const char *a, const char *b, const char *c)
{
	size_t k = strlen(a) + strlen(b) + strlen(c);

	if (*len + k + 1 > *cap) {
		size_t ncap = (*len + k + 1) * 2;
		char *n = realloc(*cap ? *sql : NULL, ncap);
		if (!n)
			return false;
		if (!*cap)
			memcpy(n, *sql, *len + 1);
		*sql = n;
		*cap = ncap;
	}
	memcpy(*sql + *len, a, strlen(a));
	*len += strlen(a);
	memcpy(*sql + *len, b, strlen(b));
	*len += strlen(b);
	memcpy(*sql + *len, c, strlen(c) + 1);
	*len += strlen(c);
	return true;
}

/* A statement name, double-quoted (name without its '#'). */
static bool put_stmt_name(char **sql, size_t *len, size_t *cap, const char *pre, const char *name)
{
	char q[2 * SS_NAME_MAX + 4];
	size_t k = 0;

	q[k++] = '"';
	for (const char *c = name; *c; c++) {
		if (*c == '"')
			q[k++] = '"';
		q[k++] = *c;
	}
	q[k++] = '"';
	q[k] = 0;
	return out_add(sql, len, cap, pre, q, ";");
}

static bool put_set(char **sql, size_t *len, size_t *cap, const char *name, const char *value)
{
	char lit[2 * SS_VALUE_MAX + 4], head[SS_NAME_MAX + 48];

	if (value[0] == 'R') /* a PREPARE: a comment in it ends at the newline */
		return out_add(sql, len, cap, "", value + 1, "\n;");
	if (value[0] == 'S') {
		snprintf(head, sizeof(head), "SET %s TO ", name);
		return out_add(sql, len, cap, head, value + 1, ";");
	}
	if (!proto_quote_literal(value + 1, lit, sizeof(lit)))
		return false;
	snprintf(head, sizeof(head), "SELECT pg_catalog.set_config('%s', ", name);
	return out_add(sql, len, cap, head, lit, ", false);");
}

/* The SETs (prep false) or PREPAREs (prep true) that bring the server to
 * the client: the PREPAREs after the settings, so that they resolve names
 * with the client's search_path. */
static bool put_sets(struct server *sv, struct client *cl, char **sql, size_t *len, size_t *cap, bool prep)
{
	uint32_t pos = 0;
	const char *n, *v, *mine;

	while (set_next(cl->ss_set, &pos, &n, &v)) {
		if ((n[0] == '#') != prep || ((mine = set_find(sv->ss_set, n)) && !strcmp(mine, v)))
			continue;
		if (mine && prep && !put_stmt_name(sql, len, cap, "DEALLOCATE ", n + 1))
			return false;
		if (!put_set(sql, len, cap, n, v))
			return false;
	}
	return true;
}

bool ss_sync_sql(struct server *sv, struct client *cl, char **sql, size_t *len, size_t *cap, bool *any)
{
	uint32_t pos = 0;
	const char *n, *v;

	if (sv->ss_set == cl->ss_set)
		return true;
	/* what the server has and the client does not: back to the default */
	while (set_next(sv->ss_set, &pos, &n, &v))
		if (!set_find(cl->ss_set, n) && !(n[0] == '#' ? put_stmt_name(sql, len, cap, "DEALLOCATE ", n + 1)
							     : out_add(sql, len, cap, "RESET ", n, ";")))
			return false;
	if (!put_sets(sv, cl, sql, len, cap, false) || !put_sets(sv, cl, sql, len, cap, true))
		return false;
	sv->sync_ss = true;
	*any = true;
	return true;
}

void ss_sync_done(struct server *sv, struct client *cl, bool ok)
{
	struct sift *s = sv->sift;

	if (!sv->sync_ss)
		return;
	sv->sync_ss = false;
	if (!ok) { /* some of the SETs ran: what the server has is not known */
		sv->close_needed = true;
		return;
	}
	istr_set(&s->strs, &sv->ss_set, cl->ss_set);
	istr_set(&s->strs, &sv->ss_cur, cl->ss_set);
	cl->ss_unvalidated = false;
}

bool ss_server_released(struct server *sv)
{
	istr_set(&sv->sift->strs, &sv->ss_set, sv->ss_cur);
	return sv->ss_dirty;
}

void ss_server_reset(struct server *sv)
{
	istr_set(&sv->sift->strs, &sv->ss_set, NULL);
	istr_set(&sv->sift->strs, &sv->ss_cur, NULL);
	sv->ss_dirty = false;
}

void ss_client_free(struct client *cl)
{
	struct sift *s = cl->sift;

	pin_client_gone(cl);
	if (cl->ss) {
		while (cl->ss->n) {
			istr_put(&s->strs, cl->ss->q[cl->ss->head].nv);
			pop(cl->ss);
		}
		istr_put(&s->strs, cl->ss->unnamed.nv);
		istr_put(&s->strs, cl->ss->portal.nv);
		for (uint32_t i = 0; i < cl->ss->nnamed; i++)
			istr_put(&s->strs, cl->ss->named[i].pd.nv);
		free(cl->ss->named);
		free(cl->ss);
		cl->ss = NULL;
	}
	istr_set(&s->strs, &cl->ss_start, NULL);
	istr_set(&s->strs, &cl->ss_set, NULL);
	istr_set(&s->strs, &cl->ss_cur, NULL);
	cl->ss_busy = false;
}

void ss_server_free(struct server *sv)
{
	ss_server_reset(sv);
}

/* ---- startup parameters ---- */

/* One name = value of the startup packet or of options: a reported one
 * goes to the tracked values, a replayed one to *set. 1 taken, 0 not ours,
 * -1 error (err set). */
static int take_param(struct sift *s, struct params *startup, struct istr **set, const char *name, const char *value,
		      char *err, size_t errlen)
{
	int idx = param_index(s, name);

	if (idx >= 0) {
		struct istr *v = istr_get(&s->strs, value, strlen(value));
		if (!v) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		istr_set(&s->strs, &startup->v[idx], v);
		istr_put(&s->strs, v);
		return 1;
	}
	/* one a pgbouncer.ini lists in ignore_startup_parameters (as many do
	 * for JDBC's extra_float_digits) is dropped there, as PgBouncer drops it */
	if (!ss_startup_tracked(name) || config_list_contains(s->cfg.ignore_startup_parameters, name))
		return 0;
	if (!ss_set_put(s, set, name, value)) {
		snprintf(err, errlen, "startup parameter %.64s: value too long", name);
		return -1;
	}
	return 1;
}

/* The next word of options (blank-separated, backslash escapes one
 * character) into out; false at the end. */
static bool options_word(const char **p, char *out, size_t outlen)
{
	size_t k = 0;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (!**p)
		return false;
	while (**p && **p != ' ' && **p != '\t') {
		if (**p == '\\' && (*p)[1])
			(*p)++;
		if (k + 1 < outlen)
			out[k++] = **p;
		(*p)++;
	}
	out[k] = 0;
	return true;
}

/* The options startup parameter as PgBouncer reads it: "-c name=value",
 * "-cname=value" and "--name=value" items. An item pgsift does not take is
 * refused in PgBouncer's words unless ignore_startup_parameters names it
 * (or "options"). */
static int take_options(struct sift *s, struct params *startup, struct istr **set, const char *opts, char *err,
			size_t errlen)
{
	static const char bad_form[] = "unsupported options startup parameter: only '-c config=val' and "
				       "'--config=val' are allowed";
	char w[SS_VALUE_MAX + SS_NAME_MAX], *eq, *name;
	const char *ignored = s->cfg.ignore_startup_parameters;
	bool ignore = config_list_contains(ignored, "options");
	const char *p = opts;
	int rc;

	while (options_word(&p, w, sizeof(w))) {
		name = NULL;
		if (!strcmp(w, "-c"))
			name = options_word(&p, w, sizeof(w)) ? w : NULL;
		else if (!strncmp(w, "-c", 2) || !strncmp(w, "--", 2))
			name = w + 2;
		if (!name || !(eq = strchr(name, '='))) {
			if (ignore)
				continue;
			snprintf(err, errlen, "%s", bad_form);
			return -1;
		}
		*eq = 0;
		for (char *c = name; *c; c++)
			if (*c == '-')
				*c = '_';
		rc = take_param(s, startup, set, name, eq + 1, err, errlen);
		if (rc < 0)
			return rc;
		if (rc == 0 && !ignore && !config_list_contains(ignored, name)) {
			snprintf(err, errlen, "unsupported startup parameter in options: %.64s", name);
			return -1;
		}
	}
	return 1;
}

int ss_startup_param(struct sift *s, struct params *startup, struct istr **set, const char *name, const char *value,
		     char *err, size_t errlen)
{
	if (!strcmp(name, "options"))
		return take_options(s, startup, set, value, err, errlen);
	return take_param(s, startup, set, name, value, err, errlen);
}
