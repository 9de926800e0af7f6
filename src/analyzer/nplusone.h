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

/* One completed statement of this client. */
void np_statement(struct np_state *st, const struct np_conf *cf, const struct np_stmt *s, np_emit_fn *emit,
		  void *arg);

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
