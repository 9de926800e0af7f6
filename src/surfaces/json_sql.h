/*
 * json_sql: GET /api/v1/sql?sql=SELECT ...: a read-only SQL statement over
 * the views, run by the console's SQL engine off the event loop
 * (admin_sql.h: SQLite over snapshots, admin_sql_timeout and
 * admin_sql_memory), answered as JSON like a view: rows as objects, then
 * the columns with their PostgreSQL types. The answer comes later, through
 * a callback on the loop.
 */
#ifndef PGSIFT_JSON_SQL_H
#define PGSIFT_JSON_SQL_H

#include "surfaces/json_api.h"
#include "util/strbuf.h"

struct sift;
struct json_sql;

/* The answer: HTTP status and the JSON body (the callee copies it). */
typedef void (*json_sql_reply_fn)(void *arg, int status, struct strbuf *body);

/* Starts sql= (with limit=) for a requester. NULL when answered at once
 * (a bad parameter, the workers or the snapshots' memory): *status and out
 * hold the answer. Else reply(arg, ...) is called later, once, unless
 * json_sql_cancel() came first. */
struct json_sql *json_sql_start(struct sift *s, const struct http_param *params, int nparams, json_sql_reply_fn reply,
				void *arg, struct strbuf *out, int *status);

/* The requester left: the statement is stopped and its answer dropped. */
void json_sql_cancel(struct json_sql *q);

/* The JSON of an engine answer (PostgreSQL messages: RowDescription,
 * DataRows, CommandComplete or ErrorResponse), at most limit rows; returns
 * the HTTP status. Pure: exposed for the fuzz-free unit of it, the tests. */
int json_sql_render(const unsigned char *msgs, size_t len, const char *sql, uint32_t limit, struct strbuf *out);

#endif
