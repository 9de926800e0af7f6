/*
 * findings: what the analyzer's statements say about the application: N+1
 * patterns (nplusone), slow statements with their plans (slowlog, explain)
 * and transaction-pooling hazards (hazards). doc/analyzer.md.
 *
 * The analyzer calls in at a few points: a statement completed
 * (fd_statement_np, fd_statement_more), a ReadyForQuery (fd_ready), a
 * client message (fd_client_message, for idle-in-transaction), and, only
 * while plan capture is on, with the raw texts it may need to EXPLAIN a
 * slow statement later (fd_keep_query / fd_keep_parse / fd_keep_bind: one
 * memcpy into a buffer the client keeps, no allocation once it is large
 * enough; fd_keep_parse_at: a reference to a text the analyzer's statement
 * cache holds, checked by its generation when it is used). The calls made
 * for every statement are inline below.
 */
#ifndef PGSIFT_FINDINGS_H
#define PGSIFT_FINDINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "analyzer/explain.h"
#include "analyzer/fingerprint.h"
#include "analyzer/hazards.h"
#include "analyzer/nplusone.h"
#include "analyzer/slowlog.h"
#include "pooler/sift.h"

#define FD_TEXT_KEEP (16u << 10)	/* longest raw text kept for EXPLAIN */
#define FD_TEXTS 256			/* named statement texts kept, by fingerprint */
#define FD_TABLE_MAX 1000		/* rows of SHOW NPLUSONE and of SHOW HAZARDS */

struct sift;
struct client;
struct qentry;

/* A new finding, as sift->on_finding hears of it (the structured log,
 * surfaces/log_events.c): obj is the finding, valid during the call. */
enum fd_event {
	FD_EV_NPLUSONE,		/* a new N+1 pattern: struct np_finding */
	FD_EV_SLOW,		/* a slow statement: struct sl_entry */
	FD_EV_HAZARD,		/* a new hazard: struct hz_entry */
};

struct fd_buf {
	char *p;
	uint32_t len, cap;
	bool cut;		/* the text did not fit */
};

/* Per client connection (inside the analyzer's client state). */
struct fd_client {
	struct np_state np;
	int64_t idle_txn_since;	/* ReadyForQuery 'T'/'E' at this time; 0: not idle in a transaction */
	bool idle_txn_flagged;
	uint64_t last_fp;	/* the last statement's fingerprint */
	struct fd_buf query;	/* last Query body */
	struct fd_buf parse;	/* last unnamed Parse text, or: */
	const char *parse_at;	/* ... a text kept elsewhere (the analyzer's statement
				 * cache), valid while *parse_gen_at == parse_gen */
	const uint32_t *parse_gen_at;
	uint32_t parse_gen, parse_at_len;
	struct fd_buf bind;	/* last Bind body of the unnamed portal */
	bool bind_named;	/* ... which bound a named statement */
};

struct fd_text {
	uint64_t fp;
	char *text;
};

struct findings {
	struct np_table np;
	struct hz_table hz;
	struct slowlog sl;
	struct explainer ex;
	struct fp_result fr;		/* scratch */
	struct fd_text texts[FD_TEXTS];
	int64_t rate_start;		/* monotonic usec: the rate limit's minute */
	uint32_t rate_used;
	uint64_t explain_skipped;	/* captures not started: rate limit or no text */
	struct sift *s;
};

/* What the analyzer knows when a statement completes. */
struct fd_stmt {
	/* what the N+1 rules look at, filled by the caller as they take it:
	 * fp (0: untracked), phash (0: unknown), trace, application name and
	 * id, select/params/neutral (of kind), sent and end (monotonic usec),
	 * dur_us */
	struct np_stmt np;
	uint8_t kind;			/* enum fp_kind */
	uint8_t src;			/* 'Q' simple query, 'E' unnamed portal, 'e' named portal */
	int64_t start;			/* monotonic usec */
	uint64_t wait_us, rows;
	const char *sqlstate;		/* NULL: it succeeded */
	bool suspended;			/* PortalSuspended: the portal's next Execute continues it */
	struct qentry *e;		/* its statistics entry, or NULL */
};

/* The findings of s, created on first use; NULL when out of memory. */
struct findings *fd_get(struct sift *s);
void fd_free(struct findings *fd);

/* Is plan capture on (the raw texts are worth keeping)? Inline: asked
 * for every statement. */
static inline bool fd_explain_on(const struct sift *s)
{
	return s->cfg.slow_query_ms >= 0 && s->cfg.slow_query_explain;
}

/* Does a statement of this kind (enum fp_kind) get a plan? */
static inline bool fd_explainable(uint8_t kind)
{
	return kind == FP_KIND_SELECT || kind == FP_KIND_INSERT || kind == FP_KIND_UPDATE || kind == FP_KIND_DELETE ||
	       kind == FP_KIND_WITH;
}

/* The N+1 rules' emitter (findings.c; arg: the client) and their settings */
void fd_np_emit(void *arg, const struct np_hit *h);
static inline void fd_np_conf(const struct sift *s, struct np_conf *cf)
{
	cf->min_repeats = (uint32_t)s->cfg.nplusone_min_repeats;
	cf->think_us = (int64_t)s->cfg.nplusone_think_time_ms * 1000;
}

static inline bool fd_slow(const struct sift *s, uint64_t dur_us)
{
	return s->cfg.slow_query_ms >= 0 && dur_us >= (uint64_t)s->cfg.slow_query_ms * 1000;
}

/* A statement completed: its N+1 bookkeeping, inline (every statement),
 * then fd_statement_more() (the statement's hazards and whether it was
 * slow) when fd_statement_wants_more() says there is anything to look at:
 * an entry not yet classified or of a hazard, or a slow statement. A
 * portal suspended (read in batches) is one statement: no N+1 step. */
static inline __attribute__((always_inline)) void
fd_statement_np(struct sift *s, struct client *cl, struct fd_client *c, const struct np_stmt *ns, bool suspended)
{
	struct np_conf cf;

	fd_np_conf(s, &cf);
	if (!suspended)
		np_statement(&c->np, &cf, ns, fd_np_emit, cl);
	c->last_fp = ns->fp;
}
static inline bool fd_statement_wants_more(const struct sift *s, const struct qentry *e, uint64_t dur_us)
{
	return (e && e->hazard != 1 /* classified: none */) || fd_slow(s, dur_us);
}
void fd_statement_more(struct sift *s, struct client *cl, struct fd_client *c, const struct fd_stmt *st);
/* ReadyForQuery with status: ends the unit of work at the end of a
 * transaction (fd_ready_slow()), notes an idle transaction. Inline: once a
 * transaction, and the usual one ends no unit. */
void fd_ready_slow(struct sift *s, struct client *cl, struct fd_client *c, char status);
static inline void fd_ready(struct sift *s, struct client *cl, struct fd_client *c, char status)
{
	bool txn = status == 'T' || status == 'E';

	if (__builtin_expect(c->np.in_txn && !txn, 0)) {
		fd_ready_slow(s, cl, c, status);
		return;
	}
	/* in_txn was false or stays true: np_ready() ends no unit, so it
	 * needs no configuration and no emitter */
	np_ready(&c->np, NULL, status, s->now, NULL, NULL);
	c->idle_txn_since = txn ? s->now : 0;
	c->idle_txn_flagged = false;
}

/* The client sent something: a transaction it left idle is checked
 * against idle_in_transaction_warn_ms (fd_idle_txn_check() flags it). */
void fd_idle_txn_check(struct sift *s, struct client *cl, struct fd_client *c);
static inline void fd_client_message(struct sift *s, struct client *cl, struct fd_client *c)
{
	if (c->idle_txn_since) {
		if (!c->idle_txn_flagged && s->cfg.idle_in_transaction_warn_ms > 0 &&
		    s->now - c->idle_txn_since > (int64_t)s->cfg.idle_in_transaction_warn_ms * 1000)
			fd_idle_txn_check(s, cl, c);
		c->idle_txn_since = 0;
	}
}
/* The client leaves: its open unit of work ends; frees c's buffers. */
void fd_client_end(struct sift *s, struct client *cl, struct fd_client *c);

/* Copies n bytes into b when they fit its buffer (the buffers are at
 * most FD_TEXT_KEEP), else false: the callers below keep the texts of
 * every statement while plan capture is on, inline while they fit. */
static inline bool fd_buf_fits(struct fd_buf *b, const void *data, size_t n, bool cut)
{
	if (n >= b->cap)
		return false;
	memcpy(b->p, data, n);
	b->p[n] = 0;
	b->len = (uint32_t)n;
	b->cut = cut;
	return true;
}

void fd_keep_query_slow(struct fd_client *c, const char *text, size_t n, bool cut);
/* Keeps a Query's text for EXPLAIN */
static inline void fd_keep_query(struct fd_client *c, const char *text, size_t n, bool cut)
{
	if (!fd_buf_fits(&c->query, text, n, cut))
		fd_keep_query_slow(c, text, n, cut);
}

void fd_keep_parse_slow(struct sift *s, struct fd_client *c, bool named, uint64_t fp, const char *text,
			size_t len, bool cut);
/* Keeps a Parse's text for EXPLAIN: the unnamed statement's per client,
 * named ones' by fingerprint */
static inline void fd_keep_parse(struct sift *s, struct fd_client *c, bool named, uint64_t fp, const char *text,
				 size_t len, bool cut)
{
	if (!named)
		c->parse_at = NULL;
	if (named || cut || !fd_buf_fits(&c->parse, text, len, false))
		fd_keep_parse_slow(s, c, named, fp, text, len, cut);
}

/* The unnamed statement's text is text[0..len), which stays there while
 * *gen is gen: kept by reference, not copied. */
static inline void fd_keep_parse_at(struct fd_client *c, const char *text, uint32_t len, const uint32_t *gen)
{
	c->parse_at = text;
	c->parse_at_len = len;
	c->parse_gen_at = gen;
	c->parse_gen = *gen;
}

/* The unnamed statement's kept text (*len its length), or NULL */
static inline const char *fd_parse_kept(const struct fd_client *c, uint32_t *len)
{
	if (c->parse_at) {
		*len = c->parse_at_len;
		return *c->parse_gen_at == c->parse_gen ? c->parse_at : NULL;
	}
	*len = c->parse.len;
	return c->parse.len && !c->parse.cut ? c->parse.p : NULL;
}

void fd_keep_bind_slow(struct fd_client *c, const uint8_t *body, uint32_t avail, uint32_t len);
/* Keeps the unnamed portal's Bind (its parameters) for EXPLAIN */
static inline void fd_keep_bind(struct fd_client *c, const uint8_t *body, uint32_t avail, uint32_t len,
				bool named_stmt)
{
	c->bind_named = named_stmt;
	if (avail < len || !fd_buf_fits(&c->bind, body, len, false))
		fd_keep_bind_slow(c, body, avail, len);
}

/* Ends units of clients that went quiet; idle-in-transaction checks. */
void fd_janitor(struct sift *s);

#endif
