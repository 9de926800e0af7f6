/*
 * trace_json: queued spans as an OTLP/JSON ExportTraceServiceRequest
 * (the OTLP specification's JSON mapping: ids in hex, 64-bit integers and
 * nanosecond times as strings, enums as numbers). See trace.h.
 */
#include "pooler/trace.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "analyzer/hazards.h"
#include "analyzer/nplusone.h"
#include "analyzer/qstats.h"
#include "pooler/findings.h"
#include "pooler/sift.h"
#include "util/strbuf.h"

#define SPAN_KIND_CLIENT "3"
#define STATUS_ERROR "2"
#define PLAN_SUMMARY_MAX 300

/* JSON without printf: a span is about 2 KB of it, written once per
 * statement traced, so every piece is a copy or a short loop. */
#define LIT(b, s) sb_add((b), (s), sizeof(s) - 1)

static void hex(struct strbuf *b, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	char out[2 * 16 + 2];

	out[0] = '"';
	for (size_t i = 0; i < n; i++) {
		out[1 + 2 * i] = d[p[i] >> 4];
		out[2 + 2 * i] = d[p[i] & 15];
	}
	out[1 + 2 * n] = '"';
	sb_add(b, out, 2 * n + 2);
}

static void nanos(struct strbuf *b, int64_t usec)
{
	sb_putc(b, '"');
	sb_i64(b, usec);
	LIT(b, "000\"");
}

/* Seconds from microseconds, exactly: "0.000154". */
static void seconds(struct strbuf *b, uint64_t us)
{
	char frac[7];

	sb_u64(b, us / 1000000);
	us %= 1000000;
	for (int i = 5; i >= 0; i--, us /= 10)
		frac[i] = (char)('0' + us % 10);
	frac[6] = 0;
	sb_putc(b, '.');
	sb_add(b, frac, 6);
}

/* Attributes, keyed by a literal: a comma before every one but the first
 * of a list (*first). */
#define KEY(b, first, k)                                                                                       \
	do {                                                                                                   \
		if (!*(first))                                                                                 \
			sb_putc((b), ',');                                                                     \
		*(first) = false;                                                                              \
		LIT((b), "{\"key\":\"" k "\",\"value\":{");                                                       \
	} while (0)
#define ATTR_STR(b, first, k, v)                                                                               \
	do {                                                                                                   \
		KEY(b, first, k);                                                                              \
		LIT((b), "\"stringValue\":");                                                                  \
		sb_json_str((b), (v));                                                                         \
		LIT((b), "}}");                                                                                \
	} while (0)
#define ATTR_INT(b, first, k, v)                                                                               \
	do {                                                                                                   \
		KEY(b, first, k);                                                                              \
		LIT((b), "\"intValue\":\"");                                                                   \
		sb_i64((b), (int64_t)(v));                                                                     \
		LIT((b), "\"}}");                                                                              \
	} while (0)
#define ATTR_SECONDS(b, first, k, us)                                                                          \
	do {                                                                                                   \
		KEY(b, first, k);                                                                              \
		LIT((b), "\"doubleValue\":");                                                                  \
		seconds((b), (us));                                                                            \
		LIT((b), "}}");                                                                                \
	} while (0)
#define ATTR_BOOL(b, first, k, v)                                                                              \
	do {                                                                                                   \
		KEY(b, first, k);                                                                              \
		if (v)                                                                                         \
			LIT((b), "\"boolValue\":true}}");                                                      \
		else                                                                                           \
			LIT((b), "\"boolValue\":false}}");                                                     \
	} while (0)
#define ATTR_FP(b, first, k, fp)                                                                               \
	do {                                                                                                   \
		uint8_t be_[8];                                                                                \
		for (int i_ = 0; i_ < 8; i_++)                                                                 \
			be_[i_] = (uint8_t)((fp) >> (56 - 8 * i_));                                            \
		KEY(b, first, k);                                                                              \
		LIT((b), "\"stringValue\":");                                                                  \
		hex((b), be_, 8);                                                                              \
		LIT((b), "}}");                                                                                \
	} while (0)

/* The operation: the statement's first word, upper case. */
static void operation(const char *text, char *out, size_t cap)
{
	size_t i = 0;

	for (; text && text[i] && text[i] != ' ' && text[i] != '(' && i + 1 < cap; i++)
		out[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]);
	out[i] = 0;
}

/* The first line of the plan pgsift captured for the statement's shape. */
static void plan_summary(struct sift *s, struct strbuf *b, bool *first, const struct tr_span *sp)
{
	struct findings *fd = s->an.fd;
	struct sl_plan *p = fd ? sl_plan_find(&fd->sl, sp->fp, sp->dbname, sp->user) : NULL;
	size_t n;

	if (!p || p->status != SL_PLAN_OK || !p->plan)
		return;
	n = strcspn(p->plan, "\n");
	KEY(b, first, "pgsift.plan");
	LIT(b, "\"stringValue\":");
	sb_json_strn(b, p->plan, n < PLAN_SUMMARY_MAX ? n : PLAN_SUMMARY_MAX);
	LIT(b, "}}");
}

static void attributes(struct sift *s, struct strbuf *b, const struct tr_span *sp, const char *text, const char *op)
{
	bool first = true;

	sb_puts(b, ",\"attributes\":[");
	ATTR_STR(b, &first, "db.system.name", "postgresql");
	ATTR_STR(b, &first, "db.namespace", sp->db);
	if (op[0])
		ATTR_STR(b, &first, "db.operation.name", op);
	if (text)
		ATTR_STR(b, &first, "db.query.text", text);
	if (sp->sqlstate[0])
		ATTR_STR(b, &first, "db.response.status_code", sp->sqlstate);
	ATTR_STR(b, &first, "server.address", sp->server);
	ATTR_INT(b, &first, "server.port", sp->server_port);
	ATTR_INT(b, &first, "db.response.returned_rows", (int64_t)sp->rows);
	ATTR_FP(b, &first, "pgsift.fingerprint", sp->fp);
	ATTR_SECONDS(b, &first, "pgsift.pool.wait", sp->wait_us);
	ATTR_STR(b, &first, "pgsift.pool", sp->pool);
	ATTR_STR(b, &first, "db.user", sp->user);
	ATTR_INT(b, &first, "pgsift.backend_pid", sp->backend_pid);
	if (sp->extended)
		ATTR_BOOL(b, &first, "pgsift.prepared.reprepared", sp->reprepared);
	if (sp->hazard > 1)
		ATTR_STR(b, &first, "pgsift.hazard", hz_kind_name((enum hz_kind)(sp->hazard - 1)));
	if (sp->slow) {
		ATTR_BOOL(b, &first, "pgsift.slow", true);
		plan_summary(s, b, &first, sp);
	}
	sb_putc(b, ']');
}

static void events(struct strbuf *b, const struct tr_span *sp, const char *text)
{
	bool first = true, any = false;

	sb_puts(b, ",\"events\":[");
	if (sp->wait_us) {
		sb_puts(b, "{\"name\":\"pgsift.pool.wait\",\"timeUnixNano\":");
		nanos(b, sp->start);
		sb_puts(b, ",\"attributes\":[");
		ATTR_SECONDS(b, &first, "pgsift.pool.wait", sp->wait_us);
		sb_puts(b, "]}");
		any = true;
	}
	if (sp->has_np) {
		first = true;
		sb_puts(b, any ? ",{\"name\":\"N+1\",\"timeUnixNano\":" : "{\"name\":\"N+1\",\"timeUnixNano\":");
		nanos(b, sp->np_time);
		sb_puts(b, ",\"attributes\":[");
		ATTR_STR(b, &first, "pgsift.nplusone.kind", np_kind_name((enum np_kind)sp->np_kind));
		ATTR_FP(b, &first, "pgsift.nplusone.fingerprint", sp->np_fp);
		if (text)
			ATTR_STR(b, &first, "pgsift.nplusone.statement", text);
		ATTR_INT(b, &first, "pgsift.nplusone.count", sp->np_count);
		ATTR_SECONDS(b, &first, "pgsift.nplusone.time", sp->np_rep_us);
		ATTR_SECONDS(b, &first, "pgsift.nplusone.wall_time", sp->np_wall_us);
		ATTR_STR(b, &first, "pgsift.nplusone.suggestion", np_suggestion((enum np_kind)sp->np_kind));
		sb_puts(b, "]}");
	}
	sb_putc(b, ']');
}

static void span(struct sift *s, struct strbuf *b, const struct tr_span *sp)
{
	const struct qentry *e = qstats_get(&s->an.qs, sp->q_slot, sp->q_id);
	const char *text = e ? e->text : NULL;
	char op[24], name[24 + TR_NAME_LEN];
	size_t n, k;

	operation(text, op, sizeof(op));
	sb_puts(b, "{\"traceId\":");
	hex(b, sp->trace_id, 16);
	sb_puts(b, ",\"spanId\":");
	hex(b, sp->span_id, 8);
	if (!sp->as_root && !sp->parent.root) {
		sb_puts(b, ",\"parentSpanId\":");
		hex(b, sp->parent.span_id, 8);
	}
	/* the semantic conventions' span name: "{db.operation.name} {db.namespace}" */
	n = strlen(op[0] ? op : "statement");
	memcpy(name, op[0] ? op : "statement", n);
	name[n++] = ' ';
	k = strlen(sp->db);
	memcpy(name + n, sp->db, k);
	LIT(b, ",\"name\":");
	sb_json_strn(b, name, n + k);
	LIT(b, ",\"kind\":" SPAN_KIND_CLIENT ",\"startTimeUnixNano\":");
	nanos(b, sp->start);
	sb_puts(b, ",\"endTimeUnixNano\":");
	nanos(b, sp->end);
	attributes(s, b, sp, text, op);
	events(b, sp, text);
	if (sp->as_root) {
		sb_puts(b, ",\"links\":[{\"traceId\":");
		hex(b, sp->parent.trace_id, 16);
		sb_puts(b, ",\"spanId\":");
		hex(b, sp->parent.span_id, 8);
		sb_puts(b, "}]");
	}
	if (sp->sqlstate[0]) {
		char code[5];
		/* a SQLSTATE is five letters or digits; anything else from the wire is not copied */
		for (int i = 0; i < 5; i++)
			code[i] = isalnum((unsigned char)sp->sqlstate[i]) ? sp->sqlstate[i] : '?';
		LIT(b, ",\"status\":{\"code\":" STATUS_ERROR ",\"message\":\"SQLSTATE ");
		sb_add(b, code, 5);
		LIT(b, "\"}");
	}
	sb_putc(b, '}');
}

static void resource(struct sift *s, struct strbuf *b, const struct tracer *t)
{
	bool first = true;

	sb_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	ATTR_STR(b, &first, "service.name", s->cfg.otlp_service_name ? s->cfg.otlp_service_name : "pgsift");
	ATTR_STR(b, &first, "service.instance.id", t->instance);
	ATTR_STR(b, &first, "service.version", PACKAGE_VERSION);
	ATTR_STR(b, &first, "host.name", t->host);
	sb_puts(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"pgsift\",\"version\":\"" PACKAGE_VERSION "\"},\"spans\":[");
}

bool tr_encode(struct sift *s, struct strbuf *out, uint32_t max, uint32_t *n)
{
	struct tracer *t = s->an.tr;
	struct tr_span sp;

	*n = 0;
	if (!t || !t->n)
		return false;
	resource(s, out, t);
	while (*n < max && tr_pop(t, &sp)) {
		if (*n)
			sb_putc(out, ',');
		span(s, out, &sp);
		(*n)++;
	}
	sb_puts(out, "]}]}]}");
	return true;
}
