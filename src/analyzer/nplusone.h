/*
 * nplusone: N+1 query patterns, found in the sequence of statements one
 * client connection runs.
 *
 * Pure module: no sockets, no libevent, no libpq. The analyzer feeds each
 * client's completed statements (np_statement), its ReadyForQuery status
 * (np_ready) and the passing of time (np_idle); the rules below report
 * what they find through a callback (struct np_hit), and np_record() keeps
 * the findings in a bounded table for SHOW NPLUSONE.
 *
 * Unit of work: an explicit transaction (until ReadyForQuery is idle again),
 * or else a burst of statements separated by at most think_us of client
 * think time (from the end of one statement to the sending of the next). A
 * change of the sqlcommenter trace id or of application_name always ends it.
 *
 * Rules (doc/analyzer.md):
 *  - NP_RUN: at least min_repeats executions of the same SELECT shape with
 *    parameters, back to back, directly after a different SELECT (the
 *    source). Transaction control and SET do not break a run.
 *  - NP_REPEAT: a SELECT shape with parameters runs min_repeats times or
 *    more anywhere in a unit (not as one run), and
 *  - NP_DUP: the same shape with the same parameter values runs twice or
 *    more in a unit;
 *    both only in a unit that looks like one request: its first SELECT
 *    (the anchor, reported as the source) ran exactly once in it. A unit
 *    that repeats its own first statement is several requests glued
 *    together by short think time, not one.
 */
#ifndef PGSIFT_NPLUSONE_H
#define PGSIFT_NPLUSONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NP_UNIT_SHAPES 32	/* distinct shapes followed per unit */
#define NP_UNIT_DUPS 32		/* distinct (shape, parameters) followed per unit */
#define NP_APP_LEN 64

enum np_kind { NP_RUN, NP_REPEAT, NP_DUP };

struct np_conf {
	uint32_t min_repeats;	/* 0: the rules are off */
	int64_t think_us;	/* longest client think time inside a unit */
};

/* One completed statement. */
struct np_stmt {
	uint64_t fp;
	uint64_t phash;		/* hash of its parameter values (0: unknown) */
	uint64_t trace;		/* hash of the sqlcommenter trace id (0: none) */
	const char *app;	/* application_name ("" if none) */
	uint64_t app_id;	/* an id of app: equal ids, equal names (0: none) */
	bool select;		/* a SELECT (or VALUES/TABLE) */
	bool params;		/* has parameters or constants */
	bool neutral;		/* transaction control or SET: breaks nothing */
	int64_t sent, end;	/* monotonic usec: forwarded, answered */
	uint64_t dur_us;
};

/* What a rule found. */
struct np_hit {
	enum np_kind kind;
	uint64_t source_fp;	/* the SELECT before the run, or the unit's anchor */
	uint64_t fp;		/* the repeated shape */
	uint32_t count;		/* executions */
	uint64_t rep_us;	/* time of the repeated statements */
	uint64_t wall_us;	/* first sent to last answered */
	const char *app;	/* the unit's application_name */
};

typedef void np_emit_fn(void *arg, const struct np_hit *hit);

struct np_shape {
	uint64_t fp;
	uint32_t count;
	bool in_run;		/* already reported as a run in this unit */
	uint64_t rep_us;
	int64_t first, last;
};

struct np_dup {
	uint64_t fp, phash;
	uint32_t count;
	uint64_t rep_us;
	int64_t first, last;
};

/* Per client connection. */
struct np_state {
	bool active;		/* a unit is open */
	bool in_txn;		/* last ReadyForQuery said T or E */
	int64_t last_end;	/* last statement answered */
	uint64_t trace;
	char app[NP_APP_LEN];
	uint64_t app_id;	/* the id app was last matched by (0: none) */
	uint32_t nstmts;
	/* the previous statement that breaks runs */
	uint64_t prev_fp;
	bool prev_select;
	/* the current run */
	uint64_t run_fp, run_source;
	uint32_t run_len;
	uint64_t run_us;
	int64_t run_first, run_last;
	/* the unit */
	uint64_t anchor;	/* first SELECT; 0 none */
	uint32_t nshapes, ndups;
	uint64_t dup_bits[16];	/* a bit per (shape, parameters) in dups: most are not, and need no search
				 * (1,024 bits for 32 entries: 3% of the rest searched) */
	struct np_shape shapes[NP_UNIT_SHAPES];
	struct np_dup dups[NP_UNIT_DUPS];
};

void np_init(struct np_state *st);

/* np_statement()'s steps at the edges (nplusone.c): the unit ends or
 * starts; the run ends (reported when long enough and it has a source); a
 * shape new to the unit; a (shape, parameters) pair whose bit says it may
 * be there, or a new one. */
void np_unit_step(struct np_state *st, const struct np_conf *cf, const struct np_stmt *s, np_emit_fn *emit,
		  void *arg);
void np_run_close(struct np_state *st, const struct np_conf *cf, np_emit_fn *emit, void *arg);
struct np_shape *np_shape_new(struct np_state *st, uint64_t fp);
struct np_dup *np_dup_find(struct np_state *st, uint64_t fp, uint64_t phash, uint64_t *word, uint64_t bit);

/* The hash of a (shape, parameters) pair: its word of dup_bits is h >> 60,
 * its bit in the word (h >> 54) & 63 */
static inline uint64_t np_dup_hash(uint64_t fp, uint64_t phash)
{
	return (fp ^ phash) * 0x9E3779B97F4A7C15ull;
}

/* A SELECT's shape and (shape, parameters) counted in the unit */
static inline __attribute__((always_inline)) void
np_track_unit(struct np_state *st, const struct np_stmt *s)
{
	struct np_shape *sh = NULL;

	if (!s->fp || !s->select)
		return;
	if (!st->anchor)
		st->anchor = s->fp;
	for (uint32_t i = 0; i < st->nshapes; i++)
		if (st->shapes[i].fp == s->fp) {
			sh = &st->shapes[i];
			break;
		}
	if (sh || (sh = np_shape_new(st, s->fp))) {
		if (!sh->count)
			sh->first = s->sent;
		sh->count++;
		sh->rep_us += s->dur_us;
		sh->last = s->end;
		if (!s->params)
			sh->in_run = true; /* no parameters: not an N+1 candidate */
	}
	if (s->params && s->phash) {
		/* a unit of SELECTs by key sees each key once: its bit is clear (a
		 * Bloom filter of one hash), so there is nothing to search */
		uint64_t h = np_dup_hash(s->fp, s->phash);
		uint64_t *word = &st->dup_bits[h >> 60], bit = 1ull << ((h >> 54) & 63);
		struct np_dup *d = !(*word & bit) && st->ndups == NP_UNIT_DUPS
					   ? NULL
					   : np_dup_find(st, s->fp, s->phash, word, bit);
		if (d) {
			if (!d->count)
				d->first = s->sent;
			d->count++;
			d->rep_us += s->dur_us;
			d->last = s->end;
		}
	}
}

/* One completed statement of this client. Inline: once per statement;
 * the usual one goes on with the open unit (same trace, the application
 * by its id, no pause longer than the think time) and with its run. */
static inline __attribute__((always_inline)) void
np_statement(struct np_state *st, const struct np_conf *cf, const struct np_stmt *s, np_emit_fn *emit, void *arg)
{
	if (!cf->min_repeats)
		return;
	if (!st->active || s->trace != st->trace || !s->app_id || s->app_id != st->app_id ||
	    (!st->in_txn && s->sent - st->last_end > cf->think_us))
		np_unit_step(st, cf, s, emit, arg);
	if (s->end > st->last_end)
		st->last_end = s->end;
	if (s->neutral)
		return;
	st->nstmts++;
	if (s->fp && s->select && s->params && st->run_len && s->fp == st->run_fp) {
		st->run_len++;
		st->run_us += s->dur_us;
		st->run_last = s->end;
	} else {
		/* the run ends (reported when long enough, with a source); this
		 * statement may start the next */
		if (st->run_len >= cf->min_repeats && st->run_source)
			np_run_close(st, cf, emit, arg);
		st->run_len = 0;
		if (s->fp && s->select && s->params) {
			st->run_fp = s->fp;
			st->run_len = 1;
			st->run_us = s->dur_us;
			st->run_first = s->sent;
			st->run_last = s->end;
			st->run_source = st->prev_select && st->prev_fp && st->prev_fp != s->fp ? st->prev_fp : 0;
		}
	}
	st->prev_fp = s->fp;
	st->prev_select = s->select;
	np_track_unit(st, s);
}

/* Ends the unit now (the client leaves). */
void np_end_unit(struct np_state *st, const struct np_conf *cf, np_emit_fn *emit, void *arg);

/* ReadyForQuery with status 'I', 'T' or 'E' at time now. Inline: once a
 * transaction. */
static inline void np_ready(struct np_state *st, const struct np_conf *cf, char status, int64_t now,
			    np_emit_fn *emit, void *arg)
{
	bool was = st->in_txn;

	st->in_txn = status == 'T' || status == 'E';
	if (now > st->last_end)
		st->last_end = now;
	if (was && !st->in_txn)
		np_end_unit(st, cf, emit, arg);
}

/* Time passes: ends the unit once the client has been quiet for longer
 * than the think time (outside a transaction). */
void np_idle(struct np_state *st, const struct np_conf *cf, int64_t now, np_emit_fn *emit, void *arg);

/* ---- findings ---- */

struct np_finding {
	enum np_kind kind;
	uint64_t source_fp, fp;
	char db[64], app[NP_APP_LEN];
	uint64_t occurrences;
	uint32_t max_count, last_count;
	uint64_t rep_calls, rep_us;	/* repeated statements: executions and time */
	uint64_t wall_us;		/* whole runs, wall time */
	int64_t first_seen, last_seen;	/* wall usec */
	char client[64];		/* the last client address */
	char *tag;			/* comment tag of the last occurrence (owned, may be NULL) */
	char *source_text, *text;	/* normalized texts (owned, may be NULL) */
};

struct np_table {
	struct np_finding *f;
	uint32_t n, max;
	uint64_t dropped;		/* findings not kept: table full */
};

bool np_table_init(struct np_table *t, uint32_t max) __attribute__((warn_unused_result));
void np_table_free(struct np_table *t);
void np_table_reset(struct np_table *t);

/* Adds one hit to its finding (kind, source, shape, db, app). Strings are
 * copied; NULL texts are allowed. Returns the finding, with *is_new set
 * when it was created; NULL when the table is full. */
struct np_finding *np_record(struct np_table *t, const struct np_hit *h, const char *db, const char *client,
			     const char *tag, const char *source_text, const char *text, int64_t now, bool *is_new);

/* The findings sorted worst (most wall time) first; caller frees *out. */
size_t np_sorted(const struct np_table *t, const struct np_finding ***out);

const char *np_kind_name(enum np_kind k);
/* A one-line suggestion for a finding of kind k. */
const char *np_suggestion(enum np_kind k);

#endif
