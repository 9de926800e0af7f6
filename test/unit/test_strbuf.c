/*
 * Unit tests of strbuf: growth, the bound, numbers, and JSON escaping that
 * keeps the output valid UTF-8 whatever bytes come in. TAP output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "tap.h"

static void is_str(const char *got, const char *want, const char *name)
{
	if (!tap_ok(got && strcmp(got, want) == 0, "%s", name))
		tap_diag("got \"%s\", want \"%s\"", got ? got : "(null)", want);
}

static const char *json(const char *s, size_t n)
{
	static struct strbuf b;

	sb_free(&b);
	sb_init(&b, 0);
	sb_json_strn(&b, s, n);
	return b.p;
}

static void test_json(void)
{
	is_str(json("plain", 5), "\"plain\"", "plain ASCII");
	is_str(json("a\"b\\c", 5), "\"a\\\"b\\\\c\"", "quote and backslash escaped");
	is_str(json("l1\nl2\t\r", 7), "\"l1\\nl2\\t\\r\"", "newline, tab, CR");
	is_str(json("\x01\x1f", 2), "\"\\u0001\\u001f\"", "other control bytes as \\u00XX");
	is_str(json("a\0b", 3), "\"a\\u0000b\"", "a NUL byte inside");
	is_str(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
	       "2-, 3- and 4-byte UTF-8 kept");
	is_str(json("\xff", 1), "\"\xef\xbf\xbd\"", "a byte that is never UTF-8 becomes U+FFFD");
	is_str(json("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"", "an overlong '/' is two U+FFFD");
	is_str(json("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", "a UTF-16 surrogate is refused");
	is_str(json("\xe2\x82", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"", "a truncated sequence at the end");
	is_str(json("\xf4\x90\x80\x80", 4), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", "above U+10FFFF refused");
}

static void test_numbers(void)
{
	struct strbuf b;

	sb_init(&b, 0);
	sb_double(&b, 0.1);
	sb_putc(&b, ' ');
	sb_double(&b, 3.0);
	sb_putc(&b, ' ');
	sb_double(&b, 2.5e-05);
	sb_putc(&b, ' ');
	sb_double(&b, INFINITY);
	sb_putc(&b, ' ');
	sb_double(&b, NAN);
	sb_putc(&b, ' ');
	sb_json_double(&b, NAN);
	sb_putc(&b, ' ');
	sb_u64(&b, UINT64_MAX);
	sb_putc(&b, ' ');
	sb_i64(&b, INT64_MIN);
	is_str(b.p, "0.1 3 2.5e-05 +Inf NaN null 18446744073709551615 -9223372036854775808", "numbers");
	ok(strtod("0.30000000000000004", NULL) == 0.1 + 0.2, "(the libc reads 17 digits)");
	sb_clear(&b);
	sb_double(&b, 0.1 + 0.2);
	ok(strtod(b.p, NULL) == 0.1 + 0.2, "a double reads back exactly");
	sb_free(&b);
}

static void test_growth_and_bound(void)
{
	struct strbuf b;

	sb_init(&b, 0);
	for (int i = 0; i < 10000; i++)
		sb_printf(&b, "%d,", i);
	ok(!b.failed && b.len == strlen(b.p) && !strncmp(b.p + b.len - 5, "9999,", 5), "grows past many reallocations");
	sb_free(&b);
	sb_init(&b, 10);
	sb_puts(&b, "0123456789");
	ok(!b.failed && b.len == 10, "up to the bound");
	sb_putc(&b, 'x');
	ok(b.failed && b.len == 10, "past it: failed, nothing added");
	sb_puts(&b, "y");
	ok(b.failed && b.len == 10, "later appends are no-ops");
	sb_clear(&b);
	ok(!b.failed && b.len == 0 && b.p[0] == 0, "clear starts over");
	sb_free(&b);
}

int main(void)
{
	tap_begin();
	test_json();
	test_numbers();
	test_growth_and_bound();
	json("", 0); /* the last one stays allocated: a static buffer, not a leak */
	return tap_end();
}
