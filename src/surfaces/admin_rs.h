/*
 * admin_rs: the console's result-set builder (admin.c), shared with the
 * findings' SHOW commands (admin_findings.c).
 *
 * A result set is built from a column-type string, as in PgBouncer:
 * 's' text (const char *, NULL is SQL NULL), 'i' int4 (int), 'q' int8
 * (int64_t), 'N' numeric (uint64_t), 'D' numeric (double, three decimals).
 */
#ifndef PGSIFT_ADMIN_RS_H
#define PGSIFT_ADMIN_RS_H

#include <stdint.h>
#include <stddef.h>

struct client;
struct pktbuf;

struct rs {
	struct client *cl;
	struct pktbuf *pb;
	const char *types;
	int nrows;
};

/* Starts a result set: types has one letter per column, then the names. */
void rs_begin(struct rs *rs, struct client *cl, const char *types, ...);
/* One row; arguments follow the type string. */
void rs_row(struct rs *rs, ...);
/* CommandComplete "SHOW". */
void rs_end(struct rs *rs);
/* "YYYY-MM-DD HH:MM:SS UTC" of a wall-clock time in microseconds. */
void fmt_time(int64_t wall_usec, char *out, size_t outlen);

/* SHOW NPLUSONE, SLOW, SLOW_PLANS, HAZARDS (admin_findings.c). */
void show_nplusone(struct client *cl);
void show_slow(struct client *cl);
void show_slow_plans(struct client *cl);
void show_hazards(struct client *cl);

#endif
