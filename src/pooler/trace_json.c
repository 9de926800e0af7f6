/*
 * trace_json: queued spans as an OTLP/JSON ExportTraceServiceRequest
 * (the OTLP specification's JSON mapping: ids in hex, 64-bit integers and
 * nanosecond times as strings, enums as numbers). See trace.h.
 */
#include "pooler/trace.h"

#include <stdio.h>
#include <string.h>

#include "analyzer/hazards.h"
#include "analyzer/nplusone.h"
#include "analyzer/qstats.h"
#include "pooler/findings.h"
#include "pooler/sift.h"
#include "util/strbuf.h"

#define SPAN_KIND_CLIENT 3
#define STATUS_ERROR 2
#define PLAN_SUMMARY_MAX 300

static void hex(struct strbuf *b, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";

	sb_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		sb_putc(b, d[p[i] >> 4]);
		sb_putc(b, d[p[i] & 15]);
	}
	sb_putc(b, '"');
}

static void nanos(struct strbuf *b, int64_t usec)
{
	sb_putc(b, '"');
	sb_i64(b, usec);
	sb_puts(b, "000\"");
}

/* Attributes: a comma before every one but the first of a list. */
static void key(struct strbuf *b, bool *first, const char *k)
{
	sb_puts(b, *first ? "{\"key\":" : ",{\"key\":");
	*first = false;
	sb_json_str(b, k);
	sb_puts(b, ",\"value\":{");
}

static void attr_str(struct strbuf *b, bool *first, const char *k, const char *v)
{
	key(b, first, k);
	sb_puts(b, "\"stringValue\":");
	sb_json_str(b, v);
	sb_puts(b, "}}");
}

static void attr_strn(struct strbuf *b, bool *first, const char *k, const char *v, size_t n)
{
	key(b, first, k);
	sb_puts(b, "\"stringValue\":");
	sb_json_strn(b, v, n);
	sb_puts(b, "}}");
}

static void attr_int(struct strbuf *b, bool *first, const char *k, int64_t v)
{
	key(b, first, k);
	sb_puts(b, "\"intValue\":\"");
	sb_i64(b, v);
	sb_puts(b, "\"}}");
}

static void attr_double(struct strbuf *b, bool *first, const char *k, double v)
{
	key(b, first, k);
	sb_puts(b, "\"doubleValue\":");
	sb_json_double(b, v);
	sb_puts(b, "}}");
}

static void attr_bool(struct strbuf *b, bool *first, const char *k, bool v)
{
	key(b, first, k);
	sb_puts(b, v ? "\"boolValue\":true}}" : "\"boolValue\":false}}");
}

static void attr_fp(struct strbuf *b, bool *first, const char *k, uint64_t fp)
{
	char h[17];

	snprintf(h, sizeof(h), "%016llx", (unsigned long long)fp);
	attr_str(b, first, k, h);
}

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
	attr_strn(b, first, "pgsift.plan", p->plan, n < PLAN_SUMMARY_MAX ? n : PLAN_SUMMARY_MAX);
}

static void attributes(struct sift *s, struct strbuf *b, const struct tr_span *sp, const char *text, const char *op)
{
	bool first = true;

	sb_puts(b, ",\"attributes\":[");
	attr_str(b, &first, "db.system.name", "postgresql");
	attr_str(b, &first, "db.namespace", sp->db);
	if (op[0])
		attr_str(b, &first, "db.operation.name", op);
	if (text)
		attr_str(b, &first, "db.query.text", text);
	if (sp->sqlstate[0])
		attr_str(b, &first, "db.response.status_code", sp->sqlstate);
	attr_str(b, &first, "server.address", sp->server);
	attr_int(b, &first, "server.port", sp->server_port);
	attr_int(b, &first, "db.response.returned_rows", (int64_t)sp->rows);
	attr_fp(b, &first, "pgsift.fingerprint", sp->fp);
	attr_double(b, &first, "pgsift.pool.wait", (double)sp->wait_us / 1e6);
	attr_str(b, &first, "pgsift.pool", sp->pool);
	attr_str(b, &first, "db.user", sp->user);
	attr_int(b, &first, "pgsift.backend_pid", sp->backend_pid);
	if (sp->extended)
		attr_bool(b, &first, "pgsift.prepared.reprepared", sp->reprepared);
	if (sp->hazard > 1)
		attr_str(b, &first, "pgsift.hazard", hz_kind_name((enum hz_kind)(sp->hazard - 1)));
	if (sp->slow) {
		attr_bool(b, &first, "pgsift.slow", true);
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
		attr_double(b, &first, "pgsift.pool.wait", (double)sp->wait_us / 1e6);
		sb_puts(b, "]}");
		any = true;
	}
	if (sp->has_np) {
		first = true;
		sb_puts(b, any ? ",{\"name\":\"N+1\",\"timeUnixNano\":" : "{\"name\":\"N+1\",\"timeUnixNano\":");
		nanos(b, sp->np_time);
		sb_puts(b, ",\"attributes\":[");
		attr_str(b, &first, "pgsift.nplusone.kind", np_kind_name((enum np_kind)sp->np_kind));
		attr_fp(b, &first, "pgsift.nplusone.fingerprint", sp->np_fp);
		if (text)
			attr_str(b, &first, "pgsift.nplusone.statement", text);
		attr_int(b, &first, "pgsift.nplusone.count", sp->np_count);
		attr_double(b, &first, "pgsift.nplusone.time", (double)sp->np_rep_us / 1e6);
		attr_double(b, &first, "pgsift.nplusone.wall_time", (double)sp->np_wall_us / 1e6);
		attr_str(b, &first, "pgsift.nplusone.suggestion", np_suggestion((enum np_kind)sp->np_kind));
		sb_puts(b, "]}");
	}
	sb_putc(b, ']');
}

static void span(struct sift *s, struct strbuf *b, const struct tr_span *sp)
{
	const struct qentry *e = qstats_get(&s->an.qs, sp->q_slot, sp->q_id);
	const char *text = e ? e->text : NULL;
	char op[24], name[24 + TR_NAME_LEN];

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
	snprintf(name, sizeof(name), "%s %s", op[0] ? op : "statement", sp->db);
	sb_puts(b, ",\"name\":");
	sb_json_str(b, name);
	sb_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":", SPAN_KIND_CLIENT);
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
	if (sp->sqlstate[0])
		sb_printf(b, ",\"status\":{\"code\":%d,\"message\":\"SQLSTATE %s\"}", STATUS_ERROR, sp->sqlstate);
	sb_putc(b, '}');
}

static void resource(struct sift *s, struct strbuf *b, const struct tracer *t)
{
	bool first = true;

	sb_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	attr_str(b, &first, "service.name", s->cfg.otlp_service_name ? s->cfg.otlp_service_name : "pgsift");
	attr_str(b, &first, "service.instance.id", t->instance);
	attr_str(b, &first, "service.version", PACKAGE_VERSION);
	attr_str(b, &first, "host.name", t->host);
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
