/*
 * sql_wire: SQLite's values as PostgreSQL protocol messages, for the
 * console's SQL (sql_engine.c): binding Bind parameters, keeping a
 * statement's rows until their column types are known, and encoding
 * RowDescription, DataRow (text or binary), CommandComplete and
 * ParameterDescription. Internal to the SQL engine.
 */
#ifndef PGSIFT_SQL_WIRE_H
#define PGSIFT_SQL_WIRE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "surfaces/sql_engine.h"

/* A result column's PostgreSQL type. */
enum sql_type { SQLT_INT8, SQLT_FLOAT8, SQLT_TEXT, SQLT_TSTZ, SQLT_BOOL };

/* The rows of one statement, kept until every value was seen (an
 * expression's type comes from its values). */
struct sql_rows {
	sqlite3_stmt *st;	/* names and declared types; alive while the rows are */
	int ncols;
	bool declared;		/* expressions are text, whatever their values */
	uint8_t *seen;		/* per column: bit per SQLite storage class met */
	uint8_t *buf;		/* cells: a class byte, then the value */
	size_t len, cap;
	uint64_t n;
};

void sql_rows_init(struct sql_rows *r, sqlite3_stmt *st, bool declared_types);
/* Keeps the current row of st. false when it would take the rows' memory
 * over budget bytes (or out of memory). */
bool sql_rows_add(struct sql_rows *r, sqlite3_stmt *st, size_t budget) __attribute__((warn_unused_result));
void sql_rows_free(struct sql_rows *r);

/* Binds Bind's parameters to $1..$n of st. false with an ErrorResponse in
 * res when they do not fit the statement. */
bool sql_wire_bind(sqlite3_stmt *st, const struct sql_param *params, int n, struct sql_result *res)
	__attribute__((warn_unused_result));

/* RowDescription (SQL_SIMPLE, or SQL_PORTAL with rowdesc: into res->head),
 * the DataRows and CommandComplete. false with an ErrorResponse in res
 * (formats that do not fit the columns). */
bool sql_wire_result(const struct sql_rows *rows, const struct sql_request *req, struct sql_result *res)
	__attribute__((warn_unused_result));

/* ParameterDescription and RowDescription (or NoData) of a statement. */
void sql_wire_describe(sqlite3_stmt *st, const struct sql_request *req, struct sql_result *res);

/* The answer to a text with no statement: EmptyQueryResponse (or, for a
 * Describe, no parameters and NoData). */
void sql_wire_empty(const struct sql_request *req, struct sql_result *res);

#endif
