/*
 * sql_wire: see sql_wire.h.
 */
#include "surfaces/sql_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SQL_MAX_COLS 2000 /* SQLite's default SQLITE_MAX_COLUMN */
#define PG_EPOCH 946684800.0 /* 2000-01-01 in Unix seconds: binary timestamps count from there */

static const struct {
	uint32_t oid;
	int16_t len;
} type_info[] = {
	[SQLT_INT8] = { 20, 8 }, [SQLT_FLOAT8] = { 701, 8 }, [SQLT_TEXT] = { 25, -1 },
	[SQLT_TSTZ] = { 1184, 8 }, [SQLT_BOOL] = { 16, 1 },
};

/* The type a view column was declared with, or -1 for an expression. */
static int declared_type(sqlite3_stmt *st, int col)
{
	const char *d = sqlite3_column_decltype(st, col);

	if (!d)
		return -1;
	if (!strcasecmp(d, "INT8"))
		return SQLT_INT8;
	if (!strcasecmp(d, "FLOAT8"))
		return SQLT_FLOAT8;
	if (!strcasecmp(d, "TIMESTAMPTZ"))
		return SQLT_TSTZ;
	if (!strcasecmp(d, "BOOL"))
		return SQLT_BOOL;
	return SQLT_TEXT;
}

/* ---- keeping rows ---- */

void sql_rows_init(struct sql_rows *r, sqlite3_stmt *st, bool declared_types)
{
	memset(r, 0, sizeof(*r));
	r->st = st;
	r->ncols = sqlite3_column_count(st);
	r->declared = declared_types;
	r->seen = calloc((size_t)r->ncols + 1, 1);
}

void sql_rows_free(struct sql_rows *r)
{
	free(r->seen);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static bool reserve(struct sql_rows *r, size_t n, size_t budget)
{
	size_t cap;
	uint8_t *p;

	if (r->len + n <= r->cap)
		return true;
	cap = r->cap ? r->cap : 4096;
	while (cap < r->len + n)
		cap *= 2;
	if (cap > budget || !(p = realloc(r->buf, cap)))
		return false;
	r->buf = p;
	r->cap = cap;
	return true;
}

bool sql_rows_add(struct sql_rows *r, sqlite3_stmt *st, size_t budget)
{
	if (!r->seen)
		return false;
	for (int c = 0; c < r->ncols; c++) {
		int cls = sqlite3_column_type(st, c);
		int64_t i;
		double d;
		uint32_t n;
		r->seen[c] |= (uint8_t)(1u << cls);
		if (!reserve(r, 9, budget))
			return false;
		r->buf[r->len++] = (uint8_t)cls;
		switch (cls) {
		case SQLITE_INTEGER:
			i = sqlite3_column_int64(st, c);
			memcpy(r->buf + r->len, &i, 8);
			r->len += 8;
			break;
		case SQLITE_FLOAT:
			d = sqlite3_column_double(st, c);
			memcpy(r->buf + r->len, &d, 8);
			r->len += 8;
			break;
		case SQLITE_TEXT:
		case SQLITE_BLOB: {
			const void *p = cls == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, c) : sqlite3_column_blob(st, c);
			n = (uint32_t)sqlite3_column_bytes(st, c);
			if (!reserve(r, 4 + (size_t)n, budget))
				return false;
			memcpy(r->buf + r->len, &n, 4);
			if (n)
				memcpy(r->buf + r->len + 4, p, n);
			r->len += 4 + (size_t)n;
			break;
		}
		default:
			break;
		}
	}
	r->n++;
	return true;
}

/* The PostgreSQL type of result column c. */
static enum sql_type column_type(const struct sql_rows *r, int c)
{
	int d = declared_type(r->st, c);
	uint8_t s = r->seen[c];

	if (d >= 0)
		return (enum sql_type)d;
	if (r->declared || s & (1u << SQLITE_TEXT | 1u << SQLITE_BLOB))
		return SQLT_TEXT;
	if (s & 1u << SQLITE_FLOAT)
		return SQLT_FLOAT8;
	return s & 1u << SQLITE_INTEGER ? SQLT_INT8 : SQLT_TEXT;
}

/* ---- values as text ---- */

/* The shortest text that reads back as d, as PostgreSQL prints a float8. */
static int fmt_double(double d, char *out, size_t outlen)
{
	if (isnan(d))
		return snprintf(out, outlen, "NaN");
	if (isinf(d))
		return snprintf(out, outlen, d > 0 ? "Infinity" : "-Infinity");
	for (int prec = 15; prec <= 17; prec++) {
		int n = snprintf(out, outlen, "%.*g", prec, d);
		if (prec == 17 || strtod(out, NULL) == d)
			return n;
	}
	return 0;
}

/* "2026-12-06 19:20:13.5+00" of seconds since the epoch, as timestamptz. */
static int fmt_tstz(double secs, char *out, size_t outlen)
{
	int64_t us;
	time_t t;
	int frac;
	struct tm tm;
	int n;

	if (!isfinite(secs) || fabs(secs) > 1e11) /* beyond year 5000: as PostgreSQL's infinities */
		return snprintf(out, outlen, "%s", isnan(secs) ? "NaN" : secs > 0 ? "infinity" : "-infinity");
	us = (int64_t)llround(secs * 1e6);
	t = (time_t)(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));
	frac = (int)(us - (int64_t)t * 1000000);
	if (!gmtime_r(&t, &tm))
		return snprintf(out, outlen, "%s", secs > 0 ? "infinity" : "-infinity");
	n = (int)strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
	if (frac) {
		char f[8];
		int k = 6;
		snprintf(f, sizeof(f), "%06d", frac);
		while (k > 0 && f[k - 1] == '0')
			f[--k] = 0;
		n += snprintf(out + n, outlen - (size_t)n, ".%s", f);
	}
	return n + snprintf(out + n, outlen - (size_t)n, "+00");
}

/* d as an int64, saturated (a float8 out of range has no int8). */
static int64_t to_int64(double d)
{
	if (!(d > -9.2233720368547758e18)) /* also NaN */
		return d < 0 ? INT64_MIN : 0;
	return d >= 9.2233720368547758e18 ? INT64_MAX : (int64_t)d;
}

struct cell {
	int cls;
	int64_t i;
	double d;
	const uint8_t *p;
	uint32_t n;
};

static const uint8_t *read_cell(const uint8_t *b, struct cell *c)
{
	c->cls = *b++;
	if (c->cls == SQLITE_INTEGER) {
		memcpy(&c->i, b, 8);
		c->d = (double)c->i;
		return b + 8;
	}
	if (c->cls == SQLITE_FLOAT) {
		memcpy(&c->d, b, 8);
		c->i = to_int64(c->d);
		return b + 8;
	}
	if (c->cls == SQLITE_TEXT || c->cls == SQLITE_BLOB) {
		memcpy(&c->n, b, 4);
		c->p = b + 4;
		return b + 4 + c->n;
	}
	return b;
}

static void put_bytes(struct pktbuf *pb, const void *p, uint32_t n)
{
	pkt_put_u32(pb, n);
	pkt_put(pb, p, n);
}

static void put_u64(struct pktbuf *pb, uint64_t v)
{
	pkt_put_u32(pb, (uint32_t)(v >> 32));
	pkt_put_u32(pb, (uint32_t)v);
}

static void put_text_value(struct pktbuf *pb, enum sql_type t, const struct cell *c)
{
	char s[64];
	int n;

	if (c->cls == SQLITE_TEXT || c->cls == SQLITE_BLOB) {
		put_bytes(pb, c->p, c->n);
		return;
	}
	if (t == SQLT_TSTZ)
		n = fmt_tstz(c->d, s, sizeof(s));
	else if (t == SQLT_BOOL)
		n = snprintf(s, sizeof(s), "%s", c->d != 0 ? "t" : "f");
	else if (c->cls == SQLITE_INTEGER)
		n = snprintf(s, sizeof(s), "%" PRId64, c->i);
	else
		n = fmt_double(c->d, s, sizeof(s));
	put_bytes(pb, s, (uint32_t)n);
}

static void put_binary_value(struct pktbuf *pb, enum sql_type t, const struct cell *c)
{
	double d;

	if (t == SQLT_TEXT || c->cls == SQLITE_TEXT || c->cls == SQLITE_BLOB) {
		put_text_value(pb, SQLT_TEXT, c);
		return;
	}
	switch (t) {
	case SQLT_INT8:
		pkt_put_u32(pb, 8);
		put_u64(pb, (uint64_t)c->i);
		break;
	case SQLT_FLOAT8:
		d = c->d;
		pkt_put_u32(pb, 8);
		{
			uint64_t u;
			memcpy(&u, &d, 8);
			put_u64(pb, u);
		}
		break;
	case SQLT_TSTZ:
		pkt_put_u32(pb, 8);
		put_u64(pb, (uint64_t)to_int64(round((c->d - PG_EPOCH) * 1e6)));
		break;
	default: /* SQLT_BOOL */
		pkt_put_u32(pb, 1);
		pkt_put_u8(pb, c->d != 0);
		break;
	}
}

/* ---- messages ---- */

/* The format of column c per Bind's result format codes. */
static int16_t format_of(const struct sql_request *req, int c)
{
	if (!req->formats || req->nformats == 0)
		return 0;
	return req->nformats == 1 ? req->formats[0] : req->formats[c];
}

static void row_description(struct pktbuf *pb, sqlite3_stmt *st, int ncols, const enum sql_type *types,
			    const struct sql_request *req)
{
	if (ncols == 0) {
		pkt_begin(pb, 'n'); /* NoData */
		pkt_end(pb);
		return;
	}
	pkt_begin(pb, 'T');
	pkt_put_u16(pb, (uint16_t)ncols);
	for (int c = 0; c < ncols; c++) {
		const char *name = sqlite3_column_name(st, c);
		pkt_put_str(pb, name ? name : "?column?");
		pkt_put_u32(pb, 0);
		pkt_put_u16(pb, 0);
		pkt_put_u32(pb, type_info[types[c]].oid);
		pkt_put_u16(pb, (uint16_t)type_info[types[c]].len);
		pkt_put_u32(pb, 0xffffffffu);
		pkt_put_u16(pb, (uint16_t)(req ? format_of(req, c) : 0));
	}
	pkt_end(pb);
}

bool sql_wire_result(const struct sql_rows *rows, const struct sql_request *req, struct sql_result *res)
{
	enum sql_type types[SQL_MAX_COLS];
	const uint8_t *b = rows->buf;
	int nc = rows->ncols;
	char tag[32];

	if (nc > (int)(sizeof(types) / sizeof(types[0])) ||
	    (req->nformats > 1 && req->nformats != nc)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "bind message has %d result formats but query has %d columns", req->nformats, nc);
		proto_error(&res->out, false, "08P01", msg);
		res->error = true;
		memcpy(res->sqlstate, "08P01", 6);
		return false;
	}
	for (int c = 0; c < nc; c++)
		types[c] = column_type(rows, c);
	if (req->mode == SQL_SIMPLE || req->rowdesc)
		row_description(req->mode == SQL_SIMPLE ? &res->out : &res->head, rows->st, nc, types,
				req->mode == SQL_SIMPLE ? NULL : req);
	for (uint64_t r = 0; r < rows->n && nc > 0; r++) {
		pkt_begin(&res->out, 'D');
		pkt_put_u16(&res->out, (uint16_t)nc);
		for (int c = 0; c < nc; c++) {
			struct cell cell;
			b = read_cell(b, &cell);
			if (cell.cls == SQLITE_NULL)
				pkt_put_u32(&res->out, 0xffffffffu);
			else if (req->mode == SQL_SIMPLE || format_of(req, c) == 0)
				put_text_value(&res->out, types[c], &cell);
			else
				put_binary_value(&res->out, types[c], &cell);
		}
		pkt_end(&res->out);
	}
	snprintf(tag, sizeof(tag), "SELECT %" PRIu64, rows->n);
	pkt_begin(&res->out, 'C');
	pkt_put_str(&res->out, tag);
	pkt_end(&res->out);
	res->rows += rows->n;
	return true;
}

/* The N of the highest $N in st, or -1 when it uses another kind of parameter. */
static int max_param(sqlite3_stmt *st)
{
	int n = 0;

	for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
		const char *name = sqlite3_bind_parameter_name(st, i);
		char *end;
		long k;
		if (!name || name[0] != '$' || !name[1])
			return -1;
		errno = 0;
		k = strtol(name + 1, &end, 10);
		if (*end || errno || k < 1 || k > SQL_MAX_PARAMS)
			return -1;
		if (k > n)
			n = (int)k;
	}
	return n;
}

void sql_wire_describe(sqlite3_stmt *st, const struct sql_request *req, struct sql_result *res)
{
	enum sql_type types[SQL_MAX_COLS];
	int n = max_param(st), nc = sqlite3_column_count(st);

	if (n < 0 || nc > SQL_MAX_COLS) {
		proto_error(&res->out, false, "42P02", "parameters are written $1, $2, ... (at most 256)");
		res->error = true;
		memcpy(res->sqlstate, "42P02", 6);
		return;
	}
	pkt_begin(&res->out, 't');
	pkt_put_u16(&res->out, (uint16_t)n);
	for (int i = 0; i < n; i++)
		pkt_put_u32(&res->out, i < req->nparam_oids && req->param_oids[i] ? req->param_oids[i] : 25);
	pkt_end(&res->out);
	for (int c = 0; c < nc; c++) {
		int d = declared_type(st, c);
		types[c] = d >= 0 ? (enum sql_type)d : SQLT_TEXT;
	}
	row_description(&res->out, st, nc, types, NULL);
}

void sql_wire_empty(const struct sql_request *req, struct sql_result *res)
{
	if (req->mode == SQL_DESCRIBE) {
		pkt_begin(&res->out, 't');
		pkt_put_u16(&res->out, 0);
		pkt_end(&res->out);
		pkt_begin(&res->out, 'n');
		pkt_end(&res->out);
		return;
	}
	if (req->rowdesc) {
		pkt_begin(&res->head, 'n');
		pkt_end(&res->head);
	}
	pkt_begin(&res->out, 'I');
	pkt_end(&res->out);
}

/* ---- parameters ---- */

static bool looks_int(const char *s)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	(void)strtoll(s, &end, 10);
	return !*end && !errno;
}

static bool looks_float(const char *s)
{
	char *end;

	if (!*s)
		return false;
	(void)strtod(s, &end);
	return !*end;
}

/* Seconds since the epoch of "YYYY-MM-DD[ HH:MM[:SS[.f]]][+00|Z]" (UTC). */
static bool parse_ts(const char *s, double *out)
{
	struct tm tm;
	double sec = 0;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
		return false;
	s += n;
	if ((*s == ' ' || *s == 'T') && sscanf(s + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &n) == 2) {
		s += 1 + n;
		if (*s == ':' && sscanf(s + 1, "%lf%n", &sec, &n) == 1)
			s += 1 + n;
	}
	if (*s && strcmp(s, "Z") && strcmp(s, "+00") && strcmp(s, "+00:00") && strcmp(s, " UTC"))
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (double)timegm(&tm) + sec;
	return true;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Binds one binary parameter; false when its type is not one we read. */
static bool bind_binary(sqlite3_stmt *st, int idx, const struct sql_param *p)
{
	uint64_t u;
	double d;
	float f;
	uint32_t w;

	switch (p->oid) {
	case 20:
	case 23:
	case 21:
		if (p->len != (p->oid == 20 ? 8u : p->oid == 23 ? 4u : 2u))
			return false;
		u = get_be(p->v, (int)p->len);
		return sqlite3_bind_int64(st, idx, p->len == 8 ? (int64_t)u : p->len == 4 ? (int32_t)u : (int16_t)u) ==
		       SQLITE_OK;
	case 701:
		if (p->len != 8)
			return false;
		u = get_be(p->v, 8);
		memcpy(&d, &u, 8);
		return sqlite3_bind_double(st, idx, d) == SQLITE_OK;
	case 700:
		if (p->len != 4)
			return false;
		w = (uint32_t)get_be(p->v, 4);
		memcpy(&f, &w, 4);
		return sqlite3_bind_double(st, idx, f) == SQLITE_OK;
	case 16:
		return p->len == 1 && sqlite3_bind_int(st, idx, p->v[0] != 0) == SQLITE_OK;
	case 1184:
	case 1114:
		if (p->len != 8)
			return false;
		return sqlite3_bind_double(st, idx, (double)(int64_t)get_be(p->v, 8) / 1e6 + PG_EPOCH) == SQLITE_OK;
	case 0:
	case 25:
	case 1043:
	case 19:
		return sqlite3_bind_text(st, idx, (const char *)p->v, (int)p->len, SQLITE_TRANSIENT) == SQLITE_OK;
	default:
		return false;
	}
}

/* Binds one text parameter: numbers as numbers (so that `calls > $1`
 * compares numbers), unless Parse said it is text. */
static bool bind_text(sqlite3_stmt *st, int idx, const struct sql_param *p)
{
	char buf[64];
	double ts;

	if (p->len < sizeof(buf) && p->oid != 25 && p->oid != 1043 && p->oid != 19) {
		memcpy(buf, p->v, p->len);
		buf[p->len] = 0;
		if (p->oid == 16)
			return sqlite3_bind_int(st, idx, strchr("tTyY1", buf[0]) || !strcasecmp(buf, "on")) == SQLITE_OK;
		if ((p->oid == 1184 || p->oid == 1114 || p->oid == 1082) && parse_ts(buf, &ts))
			return sqlite3_bind_double(st, idx, ts) == SQLITE_OK;
		if (looks_int(buf))
			return sqlite3_bind_int64(st, idx, strtoll(buf, NULL, 10)) == SQLITE_OK;
		if (looks_float(buf) && !strchr(buf, 'n') && !strchr(buf, 'N')) /* not "nan", "inf" */
			return sqlite3_bind_double(st, idx, strtod(buf, NULL)) == SQLITE_OK;
	}
	return sqlite3_bind_text(st, idx, (const char *)p->v, (int)p->len, SQLITE_TRANSIENT) == SQLITE_OK;
}

static bool bind_fail(struct sql_result *res, const char *sqlstate, const char *msg)
{
	proto_error(&res->out, false, sqlstate, msg);
	res->error = true;
	memcpy(res->sqlstate, sqlstate, 6);
	return false;
}

bool sql_wire_bind(sqlite3_stmt *st, const struct sql_param *params, int n, struct sql_result *res)
{
	int want = max_param(st);
	char msg[160];

	if (want < 0)
		return bind_fail(res, "42P02", "parameters are written $1, $2, ... (at most 256)");
	if (n != want) {
		snprintf(msg, sizeof(msg), "bind message supplies %d parameters, but prepared statement requires %d", n,
			 want);
		return bind_fail(res, "08P01", msg);
	}
	for (int i = 0; i < n; i++) {
		char name[16];
		int idx;
		bool ok;
		snprintf(name, sizeof(name), "$%d", i + 1);
		if (!(idx = sqlite3_bind_parameter_index(st, name)))
			continue;
		if (!params[i].v)
			ok = sqlite3_bind_null(st, idx) == SQLITE_OK;
		else if (params[i].format == 1)
			ok = bind_binary(st, idx, &params[i]);
		else
			ok = bind_text(st, idx, &params[i]);
		if (!ok) {
			snprintf(msg, sizeof(msg), "parameter $%d: binary format of type %u is not supported (send it as text)",
				 i + 1, params[i].oid);
			return bind_fail(res, "22P03", msg);
		}
	}
	return true;
}
