/*
 * json_api: GET /api/v1/views and GET /api/v1/<view>, the views as JSON
 * (doc/metrics.md, "JSON API").
 *
 *   /api/v1/views                  every view: name, description, columns
 *   /api/v1/<view>?limit=N         rows as objects keyed by column name
 *        &order=col | -col | col.desc
 *        &where=col OP value       OP: = != < <= > >= ~ (contains, any case);
 *                                  repeat where= to AND conditions
 *   /api/v1/sql?sql=SELECT...      SQL over the views (surfaces/json_sql.c)
 * Numbers are JSON numbers (NaN and infinities null), timestamps ISO 8601
 * UTC strings, booleans true/false, NULL null; text is valid UTF-8 (bytes
 * that are not become U+FFFD).
 */
#ifndef PGSIFT_JSON_API_H
#define PGSIFT_JSON_API_H

#include "util/strbuf.h"

struct sift;

#define JSON_API_DEFAULT_LIMIT 1000
#define JSON_API_MAX_LIMIT 100000
#define JSON_API_MAX_BYTES (64u << 20)	/* rows kept to order a view */

struct http_param {
	const char *key, *value;
};

/* Answers /api/v1/<rest>: writes the JSON body to out and returns the HTTP
 * status (200, 400 for a bad parameter, 404 for an unknown view, 413 when
 * the rows to order do not fit JSON_API_MAX_BYTES). */
int json_api(struct sift *s, const char *rest, const struct http_param *params, int nparams, struct strbuf *out);

/* {"error": msg} into out; returns code. */
int json_api_error(struct strbuf *out, int code, const char *msg);

#endif
