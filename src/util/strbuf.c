/*
 * strbuf: see strbuf.h.
 */
#include "util/strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(struct strbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void sb_free(struct strbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void sb_clear(struct strbuf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->p)
		b->p[0] = 0;
}

bool sb_reserve(struct strbuf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (b->failed)
		return false;
	want = b->len + n + 1;
	if (want <= b->cap)
		return true;
	if (b->max && want > b->max + 1) {
		b->failed = true;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	if (b->max && cap > b->max + 1)
		cap = b->max + 1;
	if (!(p = realloc(b->p, cap))) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sb_add(struct strbuf *b, const void *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sb_puts(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_putc(struct strbuf *b, char c)
{
	if (!sb_reserve(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = 0;
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!sb_reserve(b, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		if (!sb_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void sb_u64(struct strbuf *b, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void sb_i64(struct strbuf *b, int64_t v)
{
	if (v < 0) {
		sb_putc(b, '-');
		sb_u64(b, (uint64_t)0 - (uint64_t)v);
	} else
		sb_u64(b, (uint64_t)v);
}

void sb_double(struct strbuf *b, double d)
{
	char tmp[40];

	if (isnan(d)) {
		sb_puts(b, "NaN");
		return;
	}
	if (isinf(d)) {
		sb_puts(b, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (d == (double)(int64_t)d && fabs(d) < 1e15) {
		sb_i64(b, (int64_t)d);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.15g", d);
	if (strtod(tmp, NULL) != d)
		snprintf(tmp, sizeof(tmp), "%.17g", d);
	sb_puts(b, tmp);
}

void sb_json_double(struct strbuf *b, double d)
{
	if (!isfinite(d))
		sb_puts(b, "null");
	else
		sb_double(b, d);
}

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void sb_json_strn(struct strbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	sb_putc(b, '"');
	while (p < end) {
		const unsigned char *run = p;
		size_t k;
		/* the common case: a run of printable ASCII copied at once */
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		sb_add(b, run, (size_t)(p - run));
		if (p == end)
			break;
		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', (char)*p++ };
			sb_add(b, esc, 2);
		} else if (*p < 0x20) {
			static const char hex[] = "0123456789abcdef";
			char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
			if (*p == '\n')
				sb_add(b, "\\n", 2);
			else if (*p == '\t')
				sb_add(b, "\\t", 2);
			else if (*p == '\r')
				sb_add(b, "\\r", 2);
			else
				sb_add(b, esc, 6);
			p++;
		} else if ((k = utf8_seq_len(p, (size_t)(end - p))) > 0) {
			sb_add(b, p, k);
			p += k;
		} else {
			sb_add(b, "\xef\xbf\xbd", 3); /* U+FFFD */
			p++;
		}
	}
	sb_putc(b, '"');
}

void sb_json_str(struct strbuf *b, const char *s)
{
	if (!s)
		sb_puts(b, "null");
	else
		sb_json_strn(b, s, strlen(s));
}
