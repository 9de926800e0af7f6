/*
 * analyzer: see analyzer.h. The client's messages (statement and portal
 * names, the statement cache, the reply order); analyzer_reply.c takes the
 * replies, analyzer_pools.c the pools' numbers.
 */
#include "pooler/analyzer.h"
#include "pooler/analyzer_int.h"

#include <stdlib.h>
#include <string.h>

#include "analyzer/fp_lex.h"
#include "pooler/findings.h"
#include "pooler/sift.h"

#define AN_NAMES_MAX 4096	/* named statements tracked per client */

bool an_init(struct analyzer *an, uint32_t max_fingerprints)
{
	memset(an, 0, sizeof(*an));
	/* calloc: the pages of slots never used are never touched */
	an->cache = calloc(AN_CACHE_SETS * AN_CACHE_WAYS, sizeof(*an->cache));
	return an->cache && qstats_init(&an->qs, max_fingerprints);
}

void an_free(struct analyzer *an)
{
	fd_free(an->fd);
	an->fd = NULL;
	tr_free(an->tr);
	an->tr = NULL;
	qstats_free(&an->qs);
	free(an->cache);
	an->cache = NULL;
	hs_free(&an->hist);
}

static uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* ---- per-client names ---- */

static struct an_client *client_state(struct client *cl)
{
	if (!cl->an)
		cl->an = calloc(1, sizeof(*cl->an));
	return cl->an;
}

uint16_t *an_client_held(struct client *cl)
{
	return cl->an ? &cl->an->tr_held : NULL;
}

struct fd_client *an_client_findings(struct client *cl)
{
	return &cl->an->fd;
}

void an_client_free(struct client *cl)
{
	if (cl->an) {
		fd_client_end(cl->sift, cl, &cl->an->fd);
		tr_release(cl->sift, &cl->an->tr_held);
		free(cl->an->names);
		free(cl->an);
		cl->an = NULL;
	}
}

static bool names_grow(struct an_client *ac)
{
	uint32_t ncap = ac->cap ? ac->cap * 2 : 16;
	struct an_name *nn = calloc(ncap, sizeof(*nn));

	if (!nn)
		return false;
	for (uint32_t i = 0; i < ac->cap; i++) {
		uint32_t j;
		if (!ac->names[i].h)
			continue;
		for (j = (uint32_t)ac->names[i].h & (ncap - 1); nn[j].h; j = (j + 1) & (ncap - 1))
			;
		nn[j] = ac->names[i];
	}
	free(ac->names);
	ac->names = nn;
	ac->cap = ncap;
	return true;
}

/* The slot for name hash h (existing or new); NULL when full. */
static struct an_name *name_slot(struct an_client *ac, uint64_t h, bool create)
{
	uint32_t j;

	if (ac->cap) {
		for (j = (uint32_t)h & (ac->cap - 1); ac->names[j].h; j = (j + 1) & (ac->cap - 1))
			if (ac->names[j].h == h)
				return &ac->names[j];
	}
	if (!create || ac->nnames >= AN_NAMES_MAX)
		return NULL;
	if ((ac->nnames + 1) * 2 > ac->cap && !names_grow(ac))
		return NULL;
	for (j = (uint32_t)h & (ac->cap - 1); ac->names[j].h; j = (j + 1) & (ac->cap - 1))
		;
	ac->names[j].h = h;
	ac->nnames++;
	return &ac->names[j];
}

/* Forgets a named statement (Close) without breaking the probe chains:
 * the entry stays as a tombstone-free "untracked" ref. */
static void name_forget(struct an_client *ac, uint64_t h)
{
	struct an_name *n = name_slot(ac, h, false);

	if (n)
		memset(&n->ref, 0, sizeof(n->ref));
}

static struct an_ref *portal_ref(struct an_client *ac, const char *name, size_t len, bool create)
{
	uint64_t h;
	int free_i = -1;

	if (len == 0)
		return &ac->unnamed_portal;
	h = name_hash(name, len);
	for (int i = 0; i < AN_PORTALS; i++) {
		if (ac->portals[i].h == h)
			return &ac->portals[i].ref;
		if (!ac->portals[i].h && free_i < 0)
			free_i = i;
	}
	if (!create)
		return NULL;
	if (free_i < 0)
		free_i = (int)(h % AN_PORTALS); /* many named portals: reuse one */
	ac->portals[free_i].h = h;
	return &ac->portals[free_i].ref;
}

/* ---- statements ---- */

/* A fast hash of the raw text (not the fingerprint: one byte of
 * difference is a different text). */
static inline __attribute__((always_inline)) uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = fp_load_upto(s, i, n); /* the last 0..7 bytes, without a call */
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

/* The sqlcommenter trace id (W3C traceparent "00-<trace id>-<span id>-<flags>"),
 * hashed; 0 when there is none. */
static uint64_t trace_of(const struct fp_result *fr)
{
	const char *tp = fp_tag_get(fr, "traceparent");
	size_t n;

	if (!tp)
		return 0;
	n = strlen(tp);
	if (n >= 35 && tp[2] == '-' && tp[35] == '-')
		return name_hash(tp + 3, 32);
	return name_hash(tp, n);
}

_Static_assert(AN_CACHE_WAYS == 2, "fingerprint() keeps one bit of recency per way");

/* The cache set of a text whose fp_skel_prefix() is prefix */
static struct an_cache_ent *cache_set(struct analyzer *an, uint64_t prefix, const struct client *cl)
{
	uint64_t h = prefix ^ ((uint64_t)(uintptr_t)cl->db * 0x9E3779B97F4A7C15ull) ^
		     ((uint64_t)(uintptr_t)cl->user * 0xC2B2AE3D27D4EB4Full);

	return &an->cache[(h ^ (h >> 29)) % AN_CACHE_SETS * AN_CACHE_WAYS];
}

/* Does the hash of a statement's values matter? N+1 duplicates are
 * SELECTs with parameters (nplusone.c), and only they are compared. */
static inline bool values_matter(const struct an_ref *r)
{
	return r->select && r->params;
}

/* What an untracked statement refers to */
static const struct an_ref untracked;

/* Is the text the cached one up to the values of its literals (or the same,
 * for an exact entry)? *th gets the text's hash (see fingerprint()), when
 * it matters, else 1. */
static inline bool cache_hit(const struct an_cache_ent *ce, const struct client *cl, const char *sql, size_t len,
			     uint64_t *th)
{
	uint64_t lits;
	bool want = values_matter(&ce->ref);

	if (!ce->len || ce->db != cl->db || ce->user != cl->user)
		return false;
	if (ce->exact) {
		*th = ce->skel;
		return ce->len == len && memcmp(ce->text, sql, len) == 0;
	}
	if (!fp_skel_same(ce->text, ce->len, &ce->lits, sql, len, want ? &lits : NULL))
		return false;
	*th = want ? (lits ^ ce->skel) * 0x9E3779B97F4A7C15ull : 1;
	return true;
}

/* The cached entry of the text in the set of its prefix, or NULL; *victim
 * gets the one a new text takes, *prefix its fp_skel_prefix(). */
static struct an_cache_ent *cache_find(struct analyzer *an, struct client *cl, const char *sql, size_t len,
				       uint64_t *th, uint64_t *prefix, struct an_cache_ent **victim)
{
	struct an_cache_ent *ce, *set;

	*prefix = fp_skel_prefix(sql, len);
	set = cache_set(an, *prefix, cl);
	for (int w = 0; w < AN_CACHE_WAYS; w++) {
		ce = &set[w];
		if (ce->prefix == *prefix && cache_hit(ce, cl, sql, len, th))
			return ce;
	}
	*victim = set[0].recent ? &set[1] : &set[0];
	return NULL;
}

/* ce was used (found or filled) for cl's statement: it follows the last */
static void cache_used_slow(struct analyzer *an, struct client *cl, struct an_cache_ent *ce)
{
	struct an_client *ac = cl->an;
	uint16_t i = (uint16_t)(ce - an->cache + 1);
	struct an_cache_ent *set = an->cache + (ce - an->cache) / AN_CACHE_WAYS * AN_CACHE_WAYS;

	set[0].recent = ce == &set[0];
	set[1].recent = ce == &set[1];
	if (!ac)
		return;
	if (ac->last) {
		struct an_cache_ent *last = &an->cache[ac->last - 1];
		if (last->succ != i) {
			last->succ2 = last->succ;
			last->succ = i;
		}
	}
	ac->last = i;
}

/* Inline: a client repeating its statement (a loop, pgbench) changes nothing */
static inline void cache_used(struct analyzer *an, struct client *cl, struct an_cache_ent *ce)
{
	uint16_t i = (uint16_t)(ce - an->cache + 1);

	if (cl->an && cl->an->last == i && ce->succ == i && ce->recent)
		return;
	cache_used_slow(an, cl, ce);
}

/* Keeps the text of a new statement and its entry in ce: exact, to be
 * compared byte for byte (key: its hash), or up to its literals (key: its
 * fp_skel_key(), an->lits where they are). */
static void cache_fill(struct analyzer *an, struct an_cache_ent *ce, const struct client *cl, const char *sql,
		       size_t len, uint64_t prefix, bool exact, uint64_t key, const struct an_ref *ref)
{
	ce->prefix = prefix;
	ce->db = cl->db;
	ce->user = cl->user;
	ce->skel = key;
	ce->ref = *ref;
	ce->len = (uint16_t)len;
	ce->exact = exact;
	ce->succ = ce->succ2 = 0;
	ce->gen++;
	if (!exact)
		ce->lits = an->lits;
	memcpy(ce->text, sql, len);
}

/* fingerprint() past the client's usual next statement */
static __attribute__((noinline)) const struct an_ref *fingerprint_slow(struct sift *s, struct client *cl,
									const char *sql, size_t len, bool partial,
									uint64_t *th_out)
{
	struct analyzer *an = &s->an;
	struct fp_result *fr = &an->fr;
	struct an_ref *ref = &an->ref;
	struct qentry *e;
	uint64_t prefix = 0, key, lits, th;
	struct an_cache_ent *ce = NULL, *victim = NULL;
	bool keep = !partial && len <= AN_CACHE_TEXT, skel;

	memset(ref, 0, sizeof(*ref));
	if (keep && (ce = cache_find(an, cl, sql, len, &th, &prefix, &victim)) &&
	    (e = qstats_get(&an->qs, ce->ref.slot, ce->ref.id))) {
		if (th_out)
			*th_out = th ? th : 1;
		if (s->cfg.log_query_samples)
			qstats_set_sample(e, sql, len);
		cache_used(an, cl, ce);
		return &ce->ref;
	}
	if (ce) /* its entry was evicted: fill it again */
		prefix = ce->prefix, victim = ce;
	skel = !partial && fp_skel_key(sql, len, &key, &lits, keep ? &an->lits : NULL);
	if (skel)
		th = (lits ^ key) * 0x9E3779B97F4A7C15ull;
	else
		key = th = text_hash(sql, len);
	if (th_out)
		*th_out = th ? th : 1;
	fp_compute(sql, len, FP_OPT_NO_TEXT, fr);
	if (fr->kind == FP_KIND_EMPTY)
		return ref;
	e = qstats_find(&an->qs, fr->hash, cl->db, cl->user);
	if (!e) {
		fp_compute(sql, len, 0, fr); /* the text only for a new shape */
		e = qstats_add(&an->qs, fr->hash, cl->db, cl->user, fr->text, (uint8_t)fr->kind,
			       partial || (fr->flags & FP_PARTIAL), wall_now(s));
		if (!e)
			return ref;
	}
	if (fr->tag_len)
		qstats_set_tag(e, fr->tag, fr->tag_len);
	if (s->cfg.log_query_samples)
		qstats_set_sample(e, sql, len);
	ref->fp = fr->hash;
	ref->id = e->id;
	ref->slot = e->slot;
	ref->kind = (uint8_t)fr->kind;
	ref->params = fr->nparams > 0;
	ref->select = fr->kind == FP_KIND_SELECT;
	ref->neutral = fr->kind == FP_KIND_TXN || fr->kind == FP_KIND_SET;
	ref->trace = fr->nkv ? trace_of(fr) : 0;
	if (keep && !(fr->flags & FP_PARTIAL)) {
		/* a text without literals (a driver's, with $n) matches only
		 * itself: compared byte for byte, its hash kept */
		bool exact = !skel || an->lits.n == 0;
		cache_fill(an, victim, cl, sql, len, prefix, exact, exact ? th : key, ref);
		cache_used(an, cl, victim);
	}
	return ref;
}

/* Fingerprints one statement and finds or creates its entry (NULL never;
 * an untracked statement's has fp 0), valid until the next call. A text
 * seen recently by the same database and user, up to the values of its
 * literals (or exactly when fp_skel_key() does not take it), skips the
 * lexer. *th_out gets a hash of the whole text (equal texts, equal hashes;
 * a text fp_skel_key() takes gets its key and literals' hash mixed): what
 * tells two executions of a shape apart. A client's statements come in the
 * same order again and again (one program, one request after another):
 * the entry that followed its last statement the last time is tried first,
 * inline (into each caller: a call costs as much as the test). */
static inline __attribute__((always_inline)) const struct an_ref *
fingerprint(struct sift *s, struct client *cl, const char *sql, size_t len, bool partial, uint64_t *th_out)
{
	struct analyzer *an = &s->an;
	struct an_client *ac = cl->an;
	struct an_cache_ent *ce;
	uint64_t th;

	if (ac && ac->last && an->cache[ac->last - 1].succ && !partial && len <= AN_CACHE_TEXT &&
	    !s->cfg.log_query_samples) {
		const struct an_cache_ent *last = &an->cache[ac->last - 1];
		ce = &an->cache[last->succ - 1];
		if ((cache_hit(ce, cl, sql, len, &th) ||
		     (last->succ2 && cache_hit(ce = &an->cache[last->succ2 - 1], cl, sql, len, &th))) &&
		    qstats_get_seen(&an->qs, ce->ref.slot, ce->ref.id)) {
			if (th_out)
				*th_out = th ? th : 1;
			cache_used(an, cl, ce);
			return &ce->ref;
		}
	}
	return fingerprint_slow(s, cl, sql, len, partial, th_out);
}

/* The next entry of the reply order, with room for need entries in all;
 * NULL after an overflow (replies are ignored until it drains) */
static inline struct an_pending *pending_add(struct an_server *as, unsigned need)
{
	if (as->lost)
		return NULL;
	if (as->n + need > AN_PENDING_MAX) {
		as->lost = true;
		return NULL;
	}
	return &as->q[(as->head + as->n++) % AN_PENDING_MAX];
}

/* A statement (its ref &untracked when it is, it still takes its place);
 * last: it is its Query's mark too. Inline: once per statement. */
static inline __attribute__((always_inline)) void push(struct an_server *as, const struct an_ref *ref,
						       int64_t start, uint64_t wait, uint8_t src, uint64_t phash,
						       const struct tr_ctx *ctx, bool last)
{
	/* a statement always leaves room for the mark that follows it */
	struct an_pending *p = pending_add(as, 2);

	if (!p)
		return;
	p->type = AN_STMT;
	p->start = start;
	p->src = src;
	p->wait_us = wait;
	p->last = last;
	if (ctx) {
		p->ctx = *ctx;
		p->reprepared = false;
	} else {
		p->ctx.on = false;
	}
	p->np.fp = ref->fp;
	p->np.phash = phash;
	p->np.trace = ref->trace;
	p->np.select = ref->select;
	p->np.params = ref->params;
	p->np.neutral = ref->neutral;
	p->np.sent = start;
	p->id = ref->id;
	p->slot = ref->slot;
	p->kind = ref->kind;
}

/* A mark (what a ReadyForQuery ends): ready() reads its type only */
static inline void push_mark(struct an_server *as)
{
	struct an_pending *p = as ? pending_add(as, 1) : NULL;

	if (p) {
		p->type = AN_MARK;
		p->last = false;
	}
}

static uint64_t take_wait(struct client *cl)
{
	uint64_t w = cl->an_wait_us;

	cl->an_wait_us = 0;
	return w;
}

static bool trailing_blank(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	return true;
}

/* The traceparent of a statement (or a context trace_untraced_ratio drew
 * for it) in *ctx; NULL when it gets no span. Only a statement with a
 * sqlcommenter comment (ref->trace) is searched for one. */
static __attribute__((noinline)) const struct tr_ctx *trace_ctx_slow(struct sift *s, const struct an_ref *ref,
								      const char *text, size_t len, struct tr_ctx *ctx)
{
	if (!ref->fp || !tr_on(s))
		return NULL;
	if (ref->trace ? tr_ctx_parse(text, len, ctx) : tr_ctx_untraced(s, ctx))
		return ctx;
	return NULL;
}

static inline const struct tr_ctx *trace_ctx(struct sift *s, const struct an_ref *ref, const char *text, size_t len,
					     struct tr_ctx *ctx)
{
	/* the usual statement (no comment, no untraced ratio) pays two tests */
	if (__builtin_expect(!ref->trace && s->cfg.trace_untraced_ratio <= 0, 1))
		return NULL;
	return trace_ctx_slow(s, ref, text, len, ctx);
}

/* A Query: one entry per statement, then the mark its ReadyForQuery ends. */
static inline __attribute__((always_inline)) void on_query(struct sift *s, struct client *cl, struct server *sv,
							   const uint8_t *body, uint32_t avail, uint32_t len)
{
	struct an_server *as = sv ? &sv->an : NULL;
	const char *text = (const char *)body;
	/* prepared.c (which saw this very Query when sv->ps_on) measured a
	 * plain query: one statement of plain_len - 1 bytes */
	bool plain = sv && sv->ps_on && cl->plain_len && cl->plain_len - 1 <= avail;
	size_t tlen = plain ? cl->plain_len - 1 : strnlen(text, avail), pos = 0, off, sl;
	bool cut = avail < len && tlen == avail;
	const char *semi = plain ? NULL : memchr(text, ';', tlen);

	/* most queries are one statement: without a ';' before the end, no
	 * splitting pass is needed (fp_compute ignores a trailing ';') */
	uint64_t th = 0;
	struct tr_ctx ctx;

	cl->plain_len = 0;
	if (!semi || trailing_blank(semi + 1, text + tlen)) {
		const struct an_ref *ref = fingerprint(s, cl, text, tlen, cut, &th);
		/* the text for EXPLAIN, of a statement that may get one */
		if (cl->an && fd_explain_on(s) && fd_explainable(ref->kind))
			fd_keep_query(&cl->an->fd, text, tlen, cut);
		push(as, ref, s->now, take_wait(cl), 'Q', th, trace_ctx(s, ref, text, tlen, &ctx), true);
		return;
	}
	if (cl->an && fd_explain_on(s))
		fd_keep_query(&cl->an->fd, text, tlen, cut);
	while (fp_next_statement(text, tlen, &pos, &off, &sl)) {
		const struct an_ref *ref = fingerprint(s, cl, text + off, sl, cut && off + sl == tlen, &th);
		push(as, ref, s->now, take_wait(cl), 'Q', th, trace_ctx(s, ref, text + off, sl, &ctx), false);
	}
	push_mark(as);
}

/* Reads a C string at *pos of body[0..avail); NULL when it does not end
 * inside the available bytes. */
static inline const char *cstr(const uint8_t *body, uint32_t avail, uint32_t *pos, size_t *len)
{
	const char *start = (const char *)body + *pos;
	const char *nul;

	if (*pos < avail && !*start) { /* the unnamed statement or portal, the usual one */
		*len = 0;
		*pos += 1;
		return start;
	}
	nul = *pos < avail ? memchr(start, 0, avail - *pos) : NULL;
	if (!nul)
		return NULL;
	*len = (size_t)(nul - start);
	*pos += (uint32_t)*len + 1;
	return start;
}

/* Is the Parse text at q (room bytes of the message in the buffer) the
 * text t[0..n)? A text has no NUL: the same bytes and a NUL after them,
 * without searching for the end. */
static inline bool parse_text_is(const char *q, size_t room, const char *t, size_t n)
{
	return n < room && q[n] == 0 && memcmp(q, t, n) == 0;
}

/* The cache entry of the statement that followed cl's last one, or of the
 * one before that, when it is kept exactly (a driver's text without
 * literals) and the Parse text at q is it; NULL otherwise. */
static inline struct an_cache_ent *parse_next(struct sift *s, struct client *cl, const char *q, size_t room)
{
	struct analyzer *an = &s->an;
	const struct an_cache_ent *last;
	struct an_cache_ent *ce;

	if (!cl->an->last || s->cfg.log_query_samples)
		return NULL;
	last = &an->cache[cl->an->last - 1];
	for (int k = 0; k < 2; k++) {
		uint16_t i = k ? last->succ2 : last->succ;
		if (!i)
			return NULL;
		ce = &an->cache[i - 1];
		if (ce->exact && ce->len && ce->db == cl->db && ce->user == cl->user &&
		    parse_text_is(q, room, ce->text, ce->len) && qstats_get_seen(&an->qs, ce->ref.slot, ce->ref.id)) {
			cache_used(an, cl, ce);
			return ce;
		}
	}
	return NULL;
}

static void on_parse(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail, uint32_t len)
{
	struct an_client *ac = client_state(cl);
	uint32_t pos = 0;
	size_t nlen, qlen;
	const char *name = cstr(body, avail, &pos, &nlen), *query;
	const struct an_ref *ref;
	const struct an_cache_ent *ce;
	const char *kept;
	uint32_t klen;
	bool cut = false, explain;

	if (!ac || !name)
		return;
	query = (const char *)body + pos;
	/* Drivers parse the unnamed statement again for each execution: the
	 * same text as the one kept for EXPLAIN is the same statement, whose
	 * entry is still there (no traceparent to read again, no sample) */
	if (nlen == 0 && ac->unnamed_kept && (kept = fd_parse_kept(&ac->fd, &klen)) &&
	    parse_text_is(query, avail - pos, kept, klen) && avail == len && !ac->unnamed_stmt.trace &&
	    fd_explain_on(s) && !s->cfg.log_query_samples &&
	    ac->unnamed_stmt.fp && qstats_get_seen(&s->an.qs, ac->unnamed_stmt.slot, ac->unnamed_stmt.id))
		return;
	/* or the statement that usually comes next: the text's end is known */
	if ((ce = parse_next(s, cl, query, avail - pos))) {
		ref = &ce->ref;
		qlen = ce->len;
	} else {
		if (!cstr(body, avail, &pos, &qlen)) { /* a statement longer than the buffer: its first part */
			qlen = avail - pos;
			cut = true;
		}
		ref = fingerprint(s, cl, query, qlen, cut, NULL);
	}
	/* for EXPLAIN: the text of a cache entry is kept by reference (an
	 * unnamed statement's), others are copied */
	explain = fd_explain_on(s); /* read again: the shortcut is tested first */
	if (explain) {
		if (ce && nlen == 0)
			fd_keep_parse_at(&ac->fd, ce->text, ce->len, &ce->gen);
		else
			fd_keep_parse(s, &ac->fd, nlen != 0, ref->fp, query, qlen, avail < len);
	}
	if (nlen == 0) {
		ac->unnamed_stmt = *ref;
		ac->stmt_ctx.on = ref->trace && tr_on(s) && tr_ctx_parse(query, qlen, &ac->stmt_ctx);
		ac->unnamed_kept = explain && avail == len && (ce || (fd_parse_kept(&ac->fd, &klen) && klen == qlen));
	} else {
		struct an_name *n = name_slot(ac, name_hash(name, nlen), true);
		if (n)
			n->ref = *ref;
	}
}

/* A Bind's statement and portal were made by a Parse or Query, which made
 * the client's state: without it (a replication client has none) there is
 * nothing to follow. */
static void on_bind(struct sift *s, struct client *cl, struct an_client *ac, const uint8_t *body, uint32_t avail,
		    uint32_t len)
{
	uint32_t pos = 0;
	size_t plen, slen;
	const char *portal = cstr(body, avail, &pos, &plen), *stmt;
	const struct an_ref *src = &untracked;
	struct an_ref *dst;

	if (!portal || !(stmt = cstr(body, avail, &pos, &slen)))
		return;
	if (slen == 0)
		src = &ac->unnamed_stmt;
	else {
		struct an_name *n = name_slot(ac, name_hash(stmt, slen), false);
		if (n)
			src = &n->ref;
	}
	if (plen == 0) /* only the unnamed portal of the unnamed statement carries a traceparent */
		ac->portal_ctx.on = slen == 0 && ac->stmt_ctx.on;
	if (plen == 0 && ac->portal_ctx.on)
		ac->portal_ctx = ac->stmt_ctx;
	if ((dst = portal_ref(ac, portal, plen, true))) {
		*dst = *src;
		/* the parameters (formats, values): what makes two executions the
		 * same, when that matters */
		dst->phash = values_matter(dst) ? text_hash((const char *)body + pos, avail - pos) | 1 : 1;
	}
	/* its parameters for EXPLAIN, of a statement that may get one */
	if (plen == 0 && fd_explain_on(s) && fd_explainable(src->kind))
		fd_keep_bind(&ac->fd, body, avail, len, slen != 0);
}

/* The traceparent of an Execute: the unnamed portal's, or a drawn one. */
static const struct tr_ctx *execute_ctx(struct sift *s, struct client *cl, const struct an_ref *ref, size_t plen,
					struct tr_ctx *ctx)
{
	if (!ref || !ref->fp)
		return NULL;
	if (plen == 0 && cl->an->portal_ctx.on)
		return &cl->an->portal_ctx;
	if (ref->trace || s->cfg.trace_untraced_ratio <= 0 || !tr_on(s))
		return NULL;
	return tr_ctx_untraced(s, ctx) ? ctx : NULL;
}

static void on_execute(struct sift *s, struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail)
{
	uint32_t pos = 0;
	size_t plen;
	const char *portal = cstr(body, avail, &pos, &plen);
	const struct an_ref *ref = portal && cl->an ? portal_ref(cl->an, portal, plen, false) : NULL;
	struct an_server *as = &sv->an;
	struct tr_ctx ctx;
	const struct tr_ctx *c = execute_ctx(s, cl, ref, plen, &ctx);

	/* an untracked statement still takes its place in the reply order */
	if (!ref)
		ref = &untracked;
	push(as, ref, s->now, take_wait(cl), portal && plen ? 'e' : 'E', ref->phash, c, false);
	if (c && as->n && !as->lost) { /* did pgsift prepare its statement again since the last Execute? */
		as->q[(as->head + as->n - 1) % AN_PENDING_MAX].reprepared = sv->ps_reprepares != as->reprepares_seen;
		as->reprepares_seen = sv->ps_reprepares;
	}
}

static void on_close(struct client *cl, const uint8_t *body, uint32_t avail)
{
	uint32_t pos = 1;
	size_t nlen;
	const char *name;

	if (!cl->an || avail < 2 || body[0] != 'S' || !(name = cstr(body, avail, &pos, &nlen)) || nlen == 0)
		return;
	name_forget(cl->an, name_hash(name, nlen));
}

/* What a Query or Parse does first, making the client's state (the other
 * messages: client_seen()); false: not looked at */
static inline bool client_begin(struct sift *s, struct client *cl)
{
	struct an_client *ac;

	/* walsender commands and streams are no application's statements */
	if (__builtin_expect(cl->replication, 0))
		return false;
	ac = client_state(cl);
	if (ac && ac->fd.idle_txn_since)
		fd_client_message(s, cl, &ac->fd);
	return true;
}

void an_client_query(struct sift *s, struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail,
		     uint32_t len)
{
	if (client_begin(s, cl))
		on_query(s, cl, sv, body, avail, len);
}

void an_client_parse(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail, uint32_t len)
{
	if (client_begin(s, cl))
		on_parse(s, cl, body, avail, len);
}

/* What Bind, Execute, Close and Sync do first: the client's state when a
 * Parse or Query made it (none for a replication client), without making
 * it */
static inline struct an_client *client_seen(struct sift *s, struct client *cl)
{
	struct an_client *ac = cl->an;

	if (ac && ac->fd.idle_txn_since)
		fd_client_message(s, cl, &ac->fd);
	return ac;
}

void an_client_bind(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail, uint32_t len)
{
	struct an_client *ac = client_seen(s, cl);

	if (ac)
		on_bind(s, cl, ac, body, avail, len);
}

void an_client_execute(struct sift *s, struct client *cl, struct server *sv, const uint8_t *body, uint32_t avail)
{
	if (__builtin_expect(cl->replication, 0) || !sv)
		return;
	client_seen(s, cl);
	on_execute(s, cl, sv, body, avail); /* an untracked one too: it takes its place in the reply order */
}

void an_client_sync(struct sift *s, struct client *cl, struct server *sv)
{
	if (__builtin_expect(cl->replication, 0))
		return;
	client_seen(s, cl); /* a Sync needs no state of its own */
	if (sv)
		push_mark(&sv->an);
}

void an_client_close(struct sift *s, struct client *cl, const uint8_t *body, uint32_t avail)
{
	if (client_seen(s, cl))
		on_close(cl, body, avail);
}

void an_drop_samples(struct analyzer *an)
{
	qstats_drop_samples(&an->qs);
	if (an->fd)
		sl_drop_samples(&an->fd->sl);
}
