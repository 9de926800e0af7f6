/*
 * log: see log.h. One write(2) per line so lines from a crash or from a
 * second process appending to the same file never interleave mid-line.
 */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/log_syslog.h"
#include "util/strbuf.h"

#define LINE_MAX_BYTES (64u << 10)	/* a longer line is cut */

/* Process-wide sink; written only by the log_set*() and log_close(). */
static struct {
	int fd;
	int verbose;
	bool quiet;
	int format;		/* enum log_format */
	bool syslog;
} sink = { -1, 0, false, LOG_FORMAT_TEXT, false };

static const char *const level_names[] = { "FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE" };
static const char *const json_levels[] = { "fatal", "error", "warning", "info", "debug", "debug" };

bool log_setup(const char *logfile, int verbose, bool quiet, char *errbuf, size_t errlen)
{
	int fd = -1;

	if (logfile && *logfile) {
		fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(errbuf, errlen, "cannot open logfile %s: %s", logfile, strerror(errno));
			return false;
		}
	}
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = fd;
	sink.verbose = verbose;
	sink.quiet = quiet;
	return true;
}

void log_set_verbose(int verbose)
{
	sink.verbose = verbose;
}

void log_set_format(int format)
{
	sink.format = format == LOG_FORMAT_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
}

void log_set_syslog(bool on, const char *ident, int facility)
{
	if (on)
		log_syslog_open(ident, facility);
	else if (sink.syslog)
		log_syslog_close();
	sink.syslog = on;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= LOG_INFO || (int)lvl - (int)LOG_INFO <= sink.verbose;
}

void log_close(void)
{
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = -1;
	if (sink.syslog)
		log_syslog_close();
	sink.syslog = false;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* ---- values ---- */

/* n cut to LOG_VALUE_MAX on a UTF-8 character boundary */
static size_t cut_len(const char *s, bool *cut)
{
	size_t n = strlen(s);

	*cut = n > LOG_VALUE_MAX;
	if (!*cut)
		return n;
	n = LOG_VALUE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* A text value: bare when it has no blank, quote, '=' or control byte,
 * else in double quotes with \" \\ \n escaped. */
static void text_str(struct strbuf *b, const char *s)
{
	bool cut, bare;
	size_t n = cut_len(s, &cut);

	bare = n > 0 && !cut;
	for (size_t i = 0; i < n && bare; i++)
		bare = (unsigned char)s[i] > ' ' && s[i] != '"' && s[i] != '=' && s[i] != '\\' && s[i] != 0x7f;
	if (bare) {
		sb_add(b, s, n);
		return;
	}
	sb_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			sb_putc(b, '\\'), sb_putc(b, (char)c);
		else if (c == '\n')
			sb_puts(b, "\\n");
		else if (c < ' ' || c == 0x7f)
			sb_printf(b, "\\x%02x", c);
		else
			sb_putc(b, (char)c);
	}
	if (cut)
		sb_puts(b, "...");
	sb_putc(b, '"');
}

static void iso_time(struct strbuf *b, int64_t usec, bool millis)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	char tmp[40];
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (millis)
		snprintf(tmp + n, sizeof(tmp) - n, ".%03dZ", (int)(usec % 1000000 / 1000));
	else
		snprintf(tmp + n, sizeof(tmp) - n, "Z");
	sb_puts(b, tmp);
}

static bool kv_present(const struct log_kv *k)
{
	return !(k->type == LKV_STR && !k->v.s) && !(k->type == LKV_TIME && !k->v.i);
}

static void kv_text(struct strbuf *b, const struct log_kv *k)
{
	sb_printf(b, " %s=", k->key);
	switch (k->type) {
	case LKV_STR:
		text_str(b, k->v.s);
		break;
	case LKV_INT:
		sb_i64(b, k->v.i);
		break;
	case LKV_DOUBLE:
		sb_printf(b, "%.3f", k->v.d);
		break;
	case LKV_BOOL:
		sb_puts(b, k->v.i ? "true" : "false");
		break;
	default:
		iso_time(b, k->v.i, false);
		break;
	}
}

static void kv_json(struct strbuf *b, const struct log_kv *k)
{
	bool cut;
	size_t n;

	sb_putc(b, ',');
	sb_json_str(b, k->key);
	sb_putc(b, ':');
	switch (k->type) {
	case LKV_STR:
		n = cut_len(k->v.s, &cut);
		if (!cut) {
			sb_json_strn(b, k->v.s, n);
			break;
		}
		sb_json_strn(b, k->v.s, n);
		b->len--; /* reopen the string to mark the cut */
		sb_puts(b, "...\"");
		break;
	case LKV_INT:
		sb_i64(b, k->v.i);
		break;
	case LKV_DOUBLE:
		sb_json_double(b, k->v.d);
		break;
	case LKV_BOOL:
		sb_puts(b, k->v.i ? "true" : "false");
		break;
	default:
		sb_putc(b, '"');
		iso_time(b, k->v.i, true);
		sb_putc(b, '"');
		break;
	}
}

/* ---- lines ---- */

struct line {
	enum log_level lvl;
	const char *event;	/* NULL: a plain message */
	const char *prefix;	/* text format's connection prefix */
	const struct log_kv *kv;
	int nkv;
	bool kv_in_text;	/* the fields are the text line's body */
	const char *msg;	/* NULL: none */
};

/* The text line without its time and pid (syslog adds its own). */
static void text_body(struct strbuf *b, const struct line *l)
{
	sb_puts(b, level_names[l->lvl]);
	sb_putc(b, ' ');
	if (l->prefix)
		sb_printf(b, "%s: ", l->prefix);
	else if (l->kv_in_text && l->event)
		sb_printf(b, "%s:", l->event);
	if (l->msg)
		sb_puts(b, l->msg);
	for (int i = 0; l->kv_in_text && i < l->nkv; i++)
		if (kv_present(&l->kv[i]))
			kv_text(b, &l->kv[i]);
}

static void json_line(struct strbuf *b, const struct line *l, int64_t now_us)
{
	sb_puts(b, "{\"time\":\"");
	iso_time(b, now_us, true);
	sb_printf(b, "\",\"level\":\"%s\",\"pid\":%d,\"event\":", json_levels[l->lvl], (int)getpid());
	sb_json_str(b, l->event ? l->event : "message");
	for (int i = 0; i < l->nkv; i++)
		if (kv_present(&l->kv[i]))
			kv_json(b, &l->kv[i]);
	if (l->msg) {
		sb_puts(b, ",\"msg\":");
		sb_json_str(b, l->msg);
	}
	sb_putc(b, '}');
}

static void emit(const struct line *l)
{
	struct strbuf b;
	struct timeval tv;
	struct tm tm;
	char head[64];
	size_t start;

	gettimeofday(&tv, NULL);
	sb_init(&b, LINE_MAX_BYTES);
	if (sink.format == LOG_FORMAT_JSON) {
		json_line(&b, l, (int64_t)tv.tv_sec * 1000000 + tv.tv_usec);
		start = 0;
	} else {
		gmtime_r(&tv.tv_sec, &tm);
		strftime(head, sizeof(head), "%Y-%m-%d %H:%M:%S", &tm);
		sb_printf(&b, "%s.%03d UTC [%d] ", head, (int)(tv.tv_usec / 1000), (int)getpid());
		start = b.len;
		text_body(&b, l);
	}
	if (b.failed || !b.p) { /* out of memory or a giant line: say so, briefly */
		sb_free(&b);
		b.p = head;
		b.len = (size_t)snprintf(head, sizeof(head), "%s: log line too long\n", level_names[l->lvl]);
		start = 0;
	}
	if (sink.syslog)
		log_syslog_write(l->lvl, b.p + start);
	b.max = 0; /* room for the newline past the bound */
	if (b.p != head && sb_reserve(&b, 1))
		b.p[b.len++] = '\n';
	if (sink.fd >= 0)
		write_all(sink.fd, b.p, b.len);
	if (!sink.quiet)
		write_all(STDERR_FILENO, b.p, b.len);
	if (b.p != head)
		sb_free(&b);
}

void log_msg(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	char msg[2048];
	struct line l = { lvl, NULL, prefix, NULL, 0, false, msg };
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(&l);
}

void log_conn(enum log_level lvl, const char *event, const char *prefix, const struct log_kv *kv, int nkv,
	      const char *fmt, ...)
{
	char msg[2048];
	struct line l = { lvl, event, prefix, kv, nkv, false, msg };
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(&l);
}

void log_event(enum log_level lvl, const char *event, const struct log_kv *kv, int nkv)
{
	struct line l = { lvl, event, NULL, kv, nkv, true, NULL };

	if (log_enabled(lvl))
		emit(&l);
}
