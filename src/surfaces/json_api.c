/*
 * json_api: see json_api.h. A view's rows are copied (views/snapshot.h) with the
 * where= conditions applied as they arrive; without order= only the first
 * `limit` are kept, with it every matching row is kept (within
 * JSON_API_MAX_BYTES), sorted, and cut.
 */
#include "surfaces/json_api.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "views/snapshot.h"
#include "views/view.h"

#define MAX_CONDS 8

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_HAS };

struct cond {
	int col;
	enum op op;
	const char *text;	/* the value as given */
	double num;
	bool numeric;		/* text parsed whole as a number */
};

struct query {
	const struct view *v;
	struct cond conds[MAX_CONDS];
	int nconds;
	int order;		/* column, -1: the view's own order */
	bool desc;
	uint32_t limit;
	uint64_t matched;	/* rows that met the conditions */
};

int json_api_error(struct strbuf *out, int code, const char *msg)
{
	sb_clear(out);
	sb_puts(out, "{\"error\":");
	sb_json_str(out, msg);
	sb_puts(out, "}\n");
	return code;
}

/* ---- values ---- */

static void iso_time(struct strbuf *b, int64_t usec, char *tmp, size_t n)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	size_t k;

	gmtime_r(&t, &tm);
	k = strftime(tmp, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tmp + k, n - k, ".%03dZ", (int)(usec % 1000000 / 1000));
	sb_puts(b, tmp);
}

static void put_value(struct strbuf *b, const struct view_val *x, char type)
{
	char tmp[48];

	if (x->kind == VK_NULL) {
		sb_puts(b, "null");
		return;
	}
	switch (type) {
	case 's':
		sb_json_str(b, x->u.s);
		break;
	case 'D':
		sb_json_double(b, x->u.d);
		break;
	case 'N':
		sb_u64(b, (uint64_t)x->u.i);
		break;
	case 'b':
		sb_puts(b, x->u.i ? "true" : "false");
		break;
	case 'T':
		sb_putc(b, '"');
		iso_time(b, x->u.i, tmp, sizeof(tmp));
		sb_putc(b, '"');
		break;
	default:
		sb_i64(b, x->u.i);
		break;
	}
}

static void put_columns(struct strbuf *b, const struct view *v, bool docs)
{
	sb_putc(b, '[');
	for (int c = 0; c < v->ncols; c++) {
		sb_puts(b, c ? ",{\"name\":" : "{\"name\":");
		sb_json_str(b, v->cols[c].name);
		sb_puts(b, ",\"type\":");
		sb_json_str(b, view_sql_type(v->cols[c].type));
		sb_puts(b, ",\"unit\":");
		sb_json_str(b, v->cols[c].unit);
		if (docs) {
			sb_puts(b, ",\"description\":");
			sb_json_str(b, v->cols[c].doc);
		}
		sb_putc(b, '}');
	}
	sb_putc(b, ']');
}

static int list_views(struct strbuf *out)
{
	sb_puts(out, "{\"views\":[");
	for (int i = 0; view_all[i]; i++) {
		sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
		sb_json_str(out, view_all[i]->name);
		sb_puts(out, ",\"description\":");
		sb_json_str(out, view_all[i]->doc);
		sb_puts(out, ",\"columns\":");
		put_columns(out, view_all[i], true);
		sb_putc(out, '}');
	}
	sb_puts(out, "]}\n");
	return 200;
}

/* ---- conditions ---- */

/* A value as a number for comparisons: timestamps in seconds since the
 * epoch, booleans 0/1; NaN for NULL and text. */
static double cmp_num(const struct view_val *x, char type)
{
	double d = view_val_num(x, type);

	return type == 'T' ? d / 1e6 : d;
}

static int compare(const struct view_val *x, char type, const struct cond *c)
{
	if (type == 's')
		return strcmp(x->u.s, c->text);
	double d = cmp_num(x, type);
	return d < c->num ? -1 : d > c->num;
}

static bool matches(const struct query *q, const struct view_val *row)
{
	for (int i = 0; i < q->nconds; i++) {
		const struct cond *c = &q->conds[i];
		const struct view_val *x = &row[c->col];
		char type = q->v->cols[c->col].type, num[32];
		int r;
		if (x->kind == VK_NULL)
			return false;
		if (c->op == OP_HAS) {
			const char *hay = x->u.s;
			if (type != 's')
				snprintf(num, sizeof(num), "%g", cmp_num(x, type)), hay = num;
			if (!strcasestr(hay, c->text))
				return false;
			continue;
		}
		if (type != 's' && !c->numeric)
			return false;
		r = compare(x, type, c);
		if (!(c->op == OP_EQ ? r == 0 : c->op == OP_NE ? r != 0 : c->op == OP_LT ? r < 0 : c->op == OP_LE ? r <= 0
		      : c->op == OP_GT ? r > 0 : r >= 0))
			return false;
	}
	return true;
}

static bool keep_cb(void *arg, const struct view *v, const struct view_val *row)
{
	struct query *q = arg;

	(void)v;
	if (!matches(q, row))
		return false;
	q->matched++;
	return q->order >= 0 || q->matched <= q->limit;
}

/* "col OP value" */
static bool parse_cond(const struct view *v, const char *s, struct cond *c, char *err, size_t errlen)
{
	static const struct { const char *t; enum op op; } ops[] = {
		{ "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE }, { "=", OP_EQ }, { "<", OP_LT }, { ">", OP_GT }, { "~", OP_HAS },
	};
	char name[64];
	size_t n = 0;
	char *end;

	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	if (n == 0 || n >= sizeof(name)) {
		snprintf(err, errlen, "where: expected COLUMN OP VALUE");
		return false;
	}
	memcpy(name, s, n);
	name[n] = 0;
	if ((c->col = view_col_index(v, name)) < 0) {
		snprintf(err, errlen, "where: view %s has no column %s", v->name, name);
		return false;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(s + n, ops[i].t, strlen(ops[i].t))) {
			c->op = ops[i].op;
			c->text = s + n + strlen(ops[i].t);
			errno = 0;
			c->num = strtod(c->text, &end);
			c->numeric = *c->text && !*end && !errno;
			if (v->cols[c->col].type == 'b' && !c->numeric)
				c->num = !strcasecmp(c->text, "true") || !strcasecmp(c->text, "t"),
				c->numeric = true;
			return true;
		}
	snprintf(err, errlen, "where: expected one of = != < <= > >= ~ after %s", name);
	return false;
}

static bool parse_params(struct query *q, const struct http_param *p, int np, char *err, size_t errlen)
{
	for (int i = 0; i < np; i++) {
		const char *k = p[i].key, *val = p[i].value ? p[i].value : "";
		char *end;
		if (!strcmp(k, "limit")) {
			unsigned long n = strtoul(val, &end, 10);
			if (!*val || *end || !isdigit((unsigned char)*val) || n > JSON_API_MAX_LIMIT) {
				snprintf(err, errlen, "limit: a number from 0 to %d", JSON_API_MAX_LIMIT);
				return false;
			}
			q->limit = (uint32_t)n;
		} else if (!strcmp(k, "order")) {
			char name[64];
			size_t n = strcspn(val + (*val == '-'), " .");
			const char *rest = val + (*val == '-') + n;
			q->desc = *val == '-' || !strcasecmp(rest, ".desc") || !strcasecmp(rest, " desc");
			if (n >= sizeof(name) || (*rest && strcasecmp(rest, ".desc") && strcasecmp(rest, " desc") &&
						  strcasecmp(rest, ".asc") && strcasecmp(rest, " asc"))) {
				snprintf(err, errlen, "order: COLUMN, -COLUMN, COLUMN.desc or COLUMN.asc");
				return false;
			}
			memcpy(name, val + (*val == '-'), n);
			name[n] = 0;
			if ((q->order = view_col_index(q->v, name)) < 0) {
				snprintf(err, errlen, "order: view %s has no column %s", q->v->name, name);
				return false;
			}
		} else if (!strcmp(k, "where")) {
			if (q->nconds == MAX_CONDS) {
				snprintf(err, errlen, "where: at most %d conditions", MAX_CONDS);
				return false;
			}
			if (!parse_cond(q->v, val, &q->conds[q->nconds++], err, errlen))
				return false;
		} else {
			snprintf(err, errlen, "unknown parameter %s (limit, order, where)", k);
			return false;
		}
	}
	return true;
}

/* ---- rows ---- */

struct sort_arg {
	const struct query *q;
	const struct view_snap *r;
};

static int by_order(const void *a, const void *b, void *arg)
{
	const struct query *q = ((const struct sort_arg *)arg)->q;
	const struct view_snap *rows = ((const struct sort_arg *)arg)->r;
	const struct view_val *x = &view_snap_row(rows, *(const uint32_t *)a)[q->order];
	const struct view_val *y = &view_snap_row(rows, *(const uint32_t *)b)[q->order];
	char type = q->v->cols[q->order].type;
	int r;

	if (x->kind == VK_NULL || y->kind == VK_NULL) /* NULLs last either way */
		return (x->kind == VK_NULL) - (y->kind == VK_NULL);
	if (type == 's')
		r = strcmp(x->u.s, y->u.s);
	else {
		double dx = view_val_num(x, type), dy = view_val_num(y, type);
		r = dx < dy ? -1 : dx > dy;
	}
	if (!r) /* stable: the view's own order */
		return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
	return q->desc ? -r : r;
}

static void put_rows(struct strbuf *out, const struct query *q, const struct view_snap *r)
{
	uint32_t n = r->nrows < q->limit ? r->nrows : q->limit, *idx = NULL;

	if (q->order >= 0 && r->nrows && (idx = malloc(r->nrows * sizeof(*idx)))) {
		struct sort_arg sa = { q, r };
		for (uint32_t i = 0; i < r->nrows; i++)
			idx[i] = i;
		qsort_r(idx, r->nrows, sizeof(*idx), by_order, &sa);
	}
	sb_puts(out, "{\"view\":");
	sb_json_str(out, q->v->name);
	sb_printf(out, ",\"total\":%llu,\"rows\":[", (unsigned long long)q->matched);
	for (uint32_t i = 0; i < n; i++) {
		const struct view_val *row = view_snap_row(r, idx ? idx[i] : i);
		sb_puts(out, i ? ",{" : "{");
		for (int c = 0; c < q->v->ncols; c++) {
			if (c)
				sb_putc(out, ',');
			sb_json_str(out, q->v->cols[c].name);
			sb_putc(out, ':');
			put_value(out, &row[c], q->v->cols[c].type);
		}
		sb_putc(out, '}');
	}
	sb_puts(out, "],\"columns\":"); /* after the rows: what `curl | head` shows first is data */
	put_columns(out, q->v, false);
	sb_puts(out, "}\n");
	free(idx);
}

int json_api(struct sift *s, const char *rest, const struct http_param *params, int nparams, struct strbuf *out)
{
	struct query q = { .order = -1, .limit = JSON_API_DEFAULT_LIMIT };
	struct view_snap r = { .keep = keep_cb, .keep_arg = &q };
	char err[256];
	int code = 200;

	if (!strcmp(rest, "views"))
		return nparams ? json_api_error(out, 400, "views takes no parameters") : list_views(out);
	if (!(q.v = view_find(rest)) || strchr(rest, '/')) {
		snprintf(err, sizeof(err), "no view %s; GET /api/v1/views lists them", rest);
		return json_api_error(out, 404, err);
	}
	if (!parse_params(&q, params, nparams, err, sizeof(err)))
		return json_api_error(out, 400, err);
	if (!view_snap_of(&r, s, q.v, JSON_API_MAX_BYTES))
		code = json_api_error(out, 413, "the rows to order do not fit in memory; narrow them with where=");
	else
		put_rows(out, &q, &r);
	view_snap_free(&r);
	return code;
}
