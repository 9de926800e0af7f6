/*
 * sql_engine: the console's read-only SQL, with SQLite, over snapshots of
 * the views (views/snapshot.h).
 *
 * Every view is an eponymous, read-only SQLite virtual table with the
 * view's name and columns; a statement reads the snapshots the request
 * carries, never a live object, so it can run on any thread. SQLite's
 * authorizer lets through reads and functions only (not load_extension):
 * writes, ATTACH, PRAGMA, transactions and schema changes are refused with
 * SQLSTATE 42501. Each request has a time limit (57014 past it), a memory
 * limit (53200) counted per thread through SQLite's allocator, and can be
 * cancelled from another thread.
 *
 * The answer is PostgreSQL protocol messages, ready to send: the result
 * columns get real PostgreSQL types (a view column keeps its declared type;
 * an expression gets int8, float8 or text from its values), in text or
 * binary format as asked.
 *
 * Pure module: no libevent, no sockets (test/fuzz/fuzz_sql.c drives it).
 */
#ifndef PGSIFT_SQL_ENGINE_H
#define PGSIFT_SQL_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/proto.h"
#include "views/snapshot.h"

#define SQL_MAX_PARAMS 256	/* $1 .. $256 */

struct sql_conn;

/* A Bind parameter. */
struct sql_param {
	const uint8_t *v;	/* NULL: SQL NULL */
	uint32_t len;
	uint32_t oid;		/* the type Parse gave it, 0 when unspecified */
	int16_t format;		/* 0 text, 1 binary */
};

enum sql_mode {
	SQL_SIMPLE,		/* a Query message: every statement of the text, RowDescription each */
	SQL_DESCRIBE,		/* Describe of a statement: ParameterDescription + RowDescription/NoData */
	SQL_PORTAL,		/* Execute of a portal: one statement, rows (RowDescription if asked) */
};

struct sql_request {
	const char *sql;		/* NUL-terminated */
	enum sql_mode mode;
	bool rowdesc;			/* SQL_PORTAL: put the RowDescription in result.head */
	bool declared_types;		/* the statement was described: expressions are text, as promised */
	const uint32_t *param_oids;	/* SQL_DESCRIBE: from Parse (may be NULL) */
	int nparam_oids;
	const struct sql_param *params;	/* SQL_PORTAL */
	int nparams;
	const int16_t *formats;		/* result formats as in Bind: 0, 1 (all) or one per column */
	int nformats;
	const struct view_snap *snaps;	/* one per view in view_all order; a view not taken has no rows */
	int nsnaps;
	double now;			/* now(), seconds since the epoch */
	int64_t timeout_us;		/* 0: no limit */
	size_t max_bytes;		/* SQLite's memory plus the rows kept */
	const atomic_int *cancel;	/* set by another thread to stop the request (may be NULL) */
};

struct sql_result {
	struct pktbuf head;		/* SQL_PORTAL with rowdesc: the RowDescription (or NoData) */
	struct pktbuf out;		/* the rest: rows and CommandComplete, or the ErrorResponse */
	bool error;
	char sqlstate[6];
	uint64_t rows;
};

/* Sets up SQLite's allocator (once per process, before any other use of
 * SQLite). false when SQLite refuses it. Thread-safe. */
bool sql_engine_global_init(void) __attribute__((warn_unused_result));

/* A connection for one thread: every view registered. NULL when out of
 * memory. */
struct sql_conn *sql_conn_open(void);
void sql_conn_close(struct sql_conn *c);

/* Runs a request; the result's buffers are the caller's (sql_result_free).
 * Never fails as a call: errors are in res (error, sqlstate, out). */
void sql_run(struct sql_conn *c, const struct sql_request *req, struct sql_result *res);
void sql_result_free(struct sql_result *res);

/* Does text look like SQL for the engine (SELECT, WITH, VALUES, or a
 * statement the engine refuses, such as INSERT or PRAGMA), rather than a
 * console command? Leading blanks, comments and parentheses are skipped. */
bool sql_is_sql(const char *text, size_t len);

#endif
