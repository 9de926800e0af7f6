/*
 * strbuf: a growable text buffer and the JSON string escaping that the
 * JSON log lines, the JSON API and /metrics share.
 *
 * Pure module. A failed allocation sets `failed` and makes every later
 * append a no-op, so a writer checks once at the end instead of after each
 * piece. The text is always NUL-terminated once anything was added.
 */
#ifndef PGSIFT_STRBUF_H
#define PGSIFT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *p;		/* owned, NULL until the first append */
	size_t len, cap;
	size_t max;		/* 0: no bound; else appends past it fail */
	bool failed;		/* out of memory or over max: the text is incomplete */
};

/* An empty buffer of at most max bytes (0: no bound). Cannot fail. */
void sb_init(struct strbuf *b, size_t max);
void sb_free(struct strbuf *b);
/* Empties b, keeping its memory. */
void sb_clear(struct strbuf *b);

/* Makes room for n more bytes; false (and b->failed) when it cannot. */
bool sb_reserve(struct strbuf *b, size_t n);
void sb_add(struct strbuf *b, const void *s, size_t n);
void sb_puts(struct strbuf *b, const char *s);
void sb_putc(struct strbuf *b, char c);
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_u64(struct strbuf *b, uint64_t v);
void sb_i64(struct strbuf *b, int64_t v);
/* The shortest text that reads back as d ("%.17g" at most); "NaN", "+Inf"
 * and "-Inf" as Prometheus writes them. */
void sb_double(struct strbuf *b, double d);

/* s as a JSON string, quotes included: control characters, quote and
 * backslash escaped; bytes that are not UTF-8 become U+FFFD, so the
 * output is always valid UTF-8 JSON. NULL is written as null. */
void sb_json_str(struct strbuf *b, const char *s);
/* The same for n bytes of s (NULs in it are escaped). */
void sb_json_strn(struct strbuf *b, const char *s, size_t n);
/* A double as JSON: a number, or null for NaN and infinities. */
void sb_json_double(struct strbuf *b, double d);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes at s
 * (n available) are not one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
