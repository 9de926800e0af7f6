/*
 * json_sql: see json_sql.h. The engine answers in PostgreSQL messages, all
 * values in text format; they are read back here (every length bounded by
 * the buffer) and written as JSON: of several statements, the last result
 * set, as psql -c shows it.
 */
#include "surfaces/json_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surfaces/admin_sql.h"

#define MAX_FIELDS 1664		/* PostgreSQL's own limit on a result's columns */

struct json_sql {
	struct admin_job *job;
	json_sql_reply_fn reply;
	void *arg;
	uint32_t limit;
};

/* ---- reading messages ---- */

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static uint32_t rd_u32(struct rd *r)
{
	uint32_t v;

	if (r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static uint16_t rd_u16(struct rd *r)
{
	uint16_t v;

	if (r->end - r->p < 2) {
		r->bad = true;
		return 0;
	}
	v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static const char *rd_str(struct rd *r)
{
	const unsigned char *z = memchr(r->p, 0, (size_t)(r->end - r->p));
	const char *s = (const char *)r->p;

	if (!z) {
		r->bad = true;
		return "";
	}
	r->p = z + 1;
	return s;
}

/* The next message: its type and body; false at the end or on a bad one. */
static bool next_msg(struct rd *all, char *type, struct rd *body)
{
	uint32_t len;

	if (all->end - all->p < 5)
		return false;
	*type = (char)*all->p++;
	len = rd_u32(all);
	if (len < 4 || len - 4 > (size_t)(all->end - all->p))
		return false;
	body->p = all->p;
	body->end = all->p + (len - 4);
	body->bad = false;
	all->p = body->end;
	return true;
}

/* ---- values ---- */

struct field {
	const char *name;
	uint32_t oid;
};

static const char *type_name(uint32_t oid, char *buf, size_t n)
{
	switch (oid) {
	case 16: return "bool";
	case 20: return "int8";
	case 21: return "int2";
	case 23: return "int4";
	case 25: return "text";
	case 700: return "float4";
	case 701: return "float8";
	case 1082: return "date";
	case 1114: return "timestamp";
	case 1184: return "timestamptz";
	case 1700: return "numeric";
	default: snprintf(buf, n, "oid %u", oid); return buf;
	}
}

/* Does text look like a JSON number (so it can go out bare)? */
static bool json_number(const unsigned char *v, uint32_t n)
{
	uint32_t i = 0;
	bool digits = false;

	if (i < n && v[i] == '-')
		i++;
	for (; i < n; i++) {
		if (isdigit(v[i]))
			digits = true;
		else if (v[i] != '.' && v[i] != 'e' && v[i] != 'E' && v[i] != '+' && v[i] != '-')
			return false;
	}
	return digits && !(n > 1 && v[v[0] == '-'] == '0' && isdigit(v[(v[0] == '-') + 1]));
}

static void put_value(struct strbuf *out, uint32_t oid, const unsigned char *v, uint32_t n)
{
	switch (oid) {
	case 16:
		sb_puts(out, n == 1 && v[0] == 't' ? "true" : "false");
		return;
	case 20: case 21: case 23: case 700: case 701: case 1700:
		if (json_number(v, n)) {
			sb_add(out, v, n);
			return;
		}
		if (oid >= 700) { /* NaN, Infinity */
			sb_puts(out, "null");
			return;
		}
		break;
	default:
		break;
	}
	sb_json_strn(out, (const char *)v, n);
}

/* ---- rendering ---- */

static int error_status(const char *sqlstate)
{
	if (!strcmp(sqlstate, "42501"))
		return 403;
	if (!strncmp(sqlstate, "42", 2) || !strncmp(sqlstate, "22", 2) || !strncmp(sqlstate, "0A", 2) ||
	    !strncmp(sqlstate, "21", 2))
		return 400;
	if (!strncmp(sqlstate, "53", 2) || !strcmp(sqlstate, "57014"))
		return 503;
	return 500;
}

static int render_error(struct rd *b, struct strbuf *out)
{
	const char *code = "XX000", *msg = "error";

	for (;;) {
		char t = b->p < b->end ? (char)*b->p++ : 0;
		const char *v;
		if (!t)
			break;
		v = rd_str(b);
		if (b->bad)
			break;
		if (t == 'C')
			code = v;
		else if (t == 'M')
			msg = v;
	}
	sb_clear(out);
	sb_puts(out, "{\"error\":");
	sb_json_str(out, msg);
	sb_puts(out, ",\"sqlstate\":");
	sb_json_str(out, code);
	sb_puts(out, "}\n");
	return error_status(code);
}

static int read_fields(struct rd *b, struct field *f)
{
	int n = rd_u16(b);

	if (n > MAX_FIELDS)
		return -1;
	for (int i = 0; i < n && !b->bad; i++) {
		f[i].name = rd_str(b);
		rd_u32(b);
		rd_u16(b);
		f[i].oid = rd_u32(b);
		rd_u16(b);
		rd_u32(b);
		rd_u16(b);
	}
	return b->bad ? -1 : n;
}

static bool put_row(struct strbuf *out, struct rd *b, const struct field *f, int nf, bool first)
{
	if (rd_u16(b) != nf)
		return false;
	sb_puts(out, first ? "{" : ",{");
	for (int i = 0; i < nf; i++) {
		uint32_t len = rd_u32(b);
		if (b->bad || (len != 0xffffffffu && len > (size_t)(b->end - b->p)))
			return false;
		if (i)
			sb_putc(out, ',');
		sb_json_str(out, f[i].name);
		sb_putc(out, ':');
		if (len == 0xffffffffu)
			sb_puts(out, "null");
		else {
			put_value(out, f[i].oid, b->p, len);
			b->p += len;
		}
	}
	sb_putc(out, '}');
	return true;
}

int json_sql_render(const unsigned char *msgs, size_t len, const char *sql, uint32_t limit, struct strbuf *out)
{
	struct rd all = { msgs, msgs + len, false }, b, last = { NULL, NULL, false };
	struct field *f = calloc(MAX_FIELDS, sizeof(*f));
	uint64_t rows = 0;
	char type, tn[24];
	int nf = 0;

	if (!f)
		return json_api_error(out, 500, "out of memory");
	while (next_msg(&all, &type, &b)) { /* the last result set starts at its RowDescription */
		if (type == 'E') {
			free(f);
			return render_error(&b, out);
		}
		if (type == 'T')
			last = all, last.p = b.p - 5;
	}
	sb_puts(out, "{\"sql\":");
	sb_json_str(out, sql);
	sb_puts(out, ",\"rows\":[");
	if (last.p && next_msg(&last, &type, &b) && (nf = read_fields(&b, f)) >= 0)
		while (next_msg(&last, &type, &b) && type == 'D') {
			if (rows < limit && !put_row(out, &b, f, nf, rows == 0)) {
				free(f);
				return json_api_error(out, 500, "malformed row from the SQL engine");
			}
			rows++;
		}
	sb_printf(out, "],\"total\":%llu,\"columns\":[", (unsigned long long)rows);
	for (int i = 0; i < nf; i++) {
		sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
		sb_json_str(out, f[i].name);
		sb_puts(out, ",\"type\":");
		sb_json_str(out, type_name(f[i].oid, tn, sizeof(tn)));
		sb_putc(out, '}');
	}
	sb_puts(out, "]}\n");
	free(f);
	return 200;
}

/* ---- the job ---- */

static void done_cb(struct admin_job *j)
{
	struct json_sql *q = j->arg;
	struct strbuf sb;
	int status;

	sb_init(&sb, 0);
	status = json_sql_render(j->res.out.data, j->res.out.len, j->sql, q->limit, &sb);
	q->reply(q->arg, status, &sb);
	sb_free(&sb);
	free(q);
}

struct json_sql *json_sql_start(struct sift *s, const struct http_param *params, int nparams, json_sql_reply_fn reply,
				void *arg, struct strbuf *out, int *status)
{
	const char *sql = NULL;
	char sqlstate[6] = "53200", err[256] = "out of memory";
	uint32_t limit = JSON_API_DEFAULT_LIMIT;
	struct json_sql *q;
	char *end;

	for (int i = 0; i < nparams; i++) {
		const char *v = params[i].value ? params[i].value : "";
		if (!strcmp(params[i].key, "sql"))
			sql = v;
		else if (!strcmp(params[i].key, "limit") && isdigit((unsigned char)*v) &&
			 strtoul(v, &end, 10) <= JSON_API_MAX_LIMIT && !*end)
			limit = (uint32_t)strtoul(v, NULL, 10);
		else {
			*status = json_api_error(out, 400, "sql takes sql= (one read-only statement) and limit= (0 to 100000)");
			return NULL;
		}
	}
	if (!sql || !*sql) {
		*status = json_api_error(out, 400, "sql= is missing");
		return NULL;
	}
	if (!(q = calloc(1, sizeof(*q)))) {
		*status = json_api_error(out, 503, "out of memory");
		return NULL;
	}
	*q = (struct json_sql){ admin_job_new(s, q, sql, strlen(sql), SQL_SIMPLE), reply, arg, limit };
	if (!q->job || !admin_sql_submit(q->job, done_cb, q, sqlstate, err, sizeof(err))) {
		*status = json_api_error(out, 503, err);
		sb_clear(out);
		sb_puts(out, "{\"error\":");
		sb_json_str(out, err);
		sb_printf(out, ",\"sqlstate\":\"%s\"}\n", sqlstate);
		free(q);
		return NULL;
	}
	return q;
}

void json_sql_cancel(struct json_sql *q)
{
	admin_sql_cancel(q->job, true); /* freed by admin_sql; done_cb will not run */
	free(q);
}
