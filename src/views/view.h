/*
 * view: every table pgsift can show, declared once.
 *
 * A view is a name, a list of columns (name, type, unit, one-line meaning)
 * and a function that produces its rows from the live objects. The console's
 * SHOW renders a view's rows as PgBouncer's result sets (surfaces/admin.c),
 * its SQL reads them as SQLite virtual tables (surfaces/sql_engine.c), and
 * doc/admin.md's column tables are checked against the same declarations
 * (`pgsift --describe-views`, test/check-docs.sh). Add a column here and it
 * shows up everywhere.
 *
 * Rows are pushed, not pulled: a producer calls view_row() once per row with
 * one argument per column, typed by the column's type letter, and the sink
 * (struct view_sink) decides what to do with the values: encode a DataRow,
 * or copy them into a snapshot that a worker thread queries later. Values
 * passed to view_row() need only live for that call.
 */
#ifndef PGSIFT_VIEW_H
#define PGSIFT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Column types, as letters (the SHOW wire type, then the SQL type):
 *  's' text            (const char *, NULL is SQL NULL)          text / text
 *  'i' int4            (int)                                     int4 / int8
 *  'I' int4            (int, negative is NULL)                   int4 / int8
 *  'q' int8            (int64_t)                                 int8 / int8
 *  'N' numeric         (uint64_t)                                numeric / int8
 *  'D' numeric         (double, 3 decimals; NaN/inf is NULL)     numeric / float8
 *  'T' timestamp       (int64_t wall-clock usec; 0 is NULL)      text "YYYY-MM-DD HH:MM:SS UTC" / timestamptz
 *  'b' bool            (int, 0 or 1)                             bool / bool
 * In SQL a 'T' value is a number of seconds since the epoch (so that
 * `last_seen > now() - 600` works) and comes back to the client as
 * timestamptz when the result column is the view's column itself. */
#define VIEW_MAX_COLS 64
#define VIEW_NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct view_col {
	const char *name;
	char type;
	const char *unit;	/* "ms", "us", "bytes", "count", ... or "" */
	const char *doc;	/* one line, markdown */
};

/* A value of a row, as a sink receives it. */
enum view_kind { VK_NULL, VK_INT, VK_DOUBLE, VK_TEXT };

struct view_val {
	uint8_t kind;		/* enum view_kind */
	union {
		int64_t i;	/* 'i' 'I' 'q' 'N' (bit pattern of the uint64) 'T' 'b' */
		double d;	/* 'D' */
		const char *s;	/* 's' */
	} u;
};

struct view;
struct sift;

/* Where rows go. row() receives ncols values (valid during the call only). */
struct view_sink {
	const struct view *view;
	void (*row)(struct view_sink *sink, const struct view_val *vals);
	uint64_t nrows;
	bool unordered;		/* the reader orders rows itself: a producer may skip sorting */
};

struct view {
	const char *name;	/* lower case: SHOW NAME, SELECT ... FROM name */
	const char *doc;	/* one line */
	const struct view_col *cols;
	int ncols;
	/* Calls view_row(sink, ...) once per row. s is the live context. */
	void (*rows)(struct sift *s, struct view_sink *sink);
};

/* One row: one argument per column, typed by the column letters above. */
void view_row(struct view_sink *sink, ...);

/* A finding just recorded (pooler/findings.h's FD_EV_*: an np_finding, an
 * sl_entry or an hz_entry): its view (nplusone, slow, hazards), and its one
 * row in it, for the finding's log event (surfaces/log_events.c). */
const struct view *view_of_finding(int event);
void view_finding_row(struct sift *s, struct view_sink *sink, int event, const void *obj);

/* The registered views, in documentation order; NULL-terminated. */
extern const struct view *const view_all[];

/* The view called name (case-insensitive), or NULL. */
const struct view *view_find(const char *name);

/* Index of column name in v, or -1. */
int view_col_index(const struct view *v, const char *name);

/* A value as a number (ints, and 'N' as unsigned); NULL and text are NaN. */
double view_val_num(const struct view_val *x, char type);

/* "YYYY-MM-DD HH:MM:SS UTC" of a wall-clock time in microseconds. */
void view_fmt_time(int64_t wall_usec, char *out, size_t outlen);

/* Prints every view's columns as markdown tables (pgsift --describe-views). */
void view_describe(FILE *f);

/* The PostgreSQL type names a column type letter is announced as: in SHOW
 * (PgBouncer's wire types) and in a SELECT. */
const char *view_show_type(char t);
const char *view_sql_type(char t);

#endif
