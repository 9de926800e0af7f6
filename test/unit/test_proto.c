/*
 * Unit tests for proto.c: the exact bytes of every message builder, pktbuf
 * growth and its max cap, the bounded msg_reader, proto_parse_error on real,
 * truncated and garbage bodies, proto_quote_literal and
 * proto_client_type_valid.
 *
 * TAP output: the plan comes first, so results are collected in memory and
 * printed at the end. Input that proto reads is copied into heap buffers of
 * exactly its length, and quote_literal writes into heap buffers of exactly
 * outlen, so AddressSanitizer reports any access past the end.
 */
#include "util/proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* ---- TAP ---- */


static void is_u(unsigned long long got, unsigned long long want, const char *name)
{
	if (!tap_ok(got == want, "%s", name))
		tap_diag("got %llu (0x%llx), want %llu (0x%llx)", got, got, want, want);
}

static void is_str(const char *got, const char *want, const char *name)
{
	if (!tap_ok(got && strcmp(got, want) == 0, "%s", name))
		tap_diag("got \"%s\", want \"%s\"", got ? got : "(NULL)", want);
}

static void hexdump(const char *label, const uint8_t *p, size_t n)
{
	char line[3 * 64 + 8];
	size_t o = 0;

	for (size_t i = 0; i < n && i < 64; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%02x ", p[i]);
	tap_diag("%s (%zu bytes): %s%s", label, n, line, n > 64 ? "..." : "");
}

/* pb holds exactly want[0..n) and did not fail. */
static void is_bytes(const struct pktbuf *pb, const void *want, size_t n, const char *name)
{
	bool same = !pb->failed && pb->len == n && memcmp(pb->data, want, n) == 0;

	if (!tap_ok(same, "%s", name)) {
		if (pb->failed)
			tap_diag("buffer failed");
		hexdump("got ", pb->data, pb->len);
		hexdump("want", want, n);
	}
}

#define IS_BYTES(pb, lit, name) is_bytes(pb, lit, sizeof(lit) - 1, name)

static uint8_t *heap_copy(const void *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		abort();
	if (n)
		memcpy(b, p, n);
	return b;
}

/* ---- builders ---- */

static void build(struct pktbuf *pb)
{
	pkt_free(pb);
	pkt_init(pb, 1u << 20);
}

static void test_builders(void)
{
	struct pktbuf pb;

	pkt_init(&pb, 1u << 20);

	proto_error(&pb, false, "42P01", "no such table");
	IS_BYTES(&pb, "E" "\x00\x00\x00\x29" "SERROR\0" "VERROR\0" "C42P01\0" "Mno such table\0" "\0",
		 "proto_error: ErrorResponse S/V ERROR, C, M, terminator");

	build(&pb);
	proto_error(&pb, true, "28000", "bye");
	IS_BYTES(&pb, "E" "\x00\x00\x00\x1f" "SFATAL\0" "VFATAL\0" "C28000\0" "Mbye\0" "\0", "proto_error fatal: FATAL");

	build(&pb);
	proto_notice(&pb, "hello", NULL);
	IS_BYTES(&pb, "N" "\x00\x00\x00\x23" "SNOTICE\0" "VNOTICE\0" "C00000\0" "Mhello\0" "\0", "proto_notice");

	build(&pb);
	proto_notice(&pb, "hello", "world");
	IS_BYTES(&pb, "N" "\x00\x00\x00\x2a" "SNOTICE\0" "VNOTICE\0" "C00000\0" "Mhello\0" "Dworld\0" "\0",
		 "proto_notice with a detail");

	/* invalid UTF-8 a client sent is not sent back as it is */
	build(&pb);
	pkt_put_text(&pb, "a\xff" "b\xc3\xa9" "c\xe2\x82" "\xc0\xaf" "\xed\xa0\x80" "\xf0\x9f\x98\x80" "\xf5");
	IS_BYTES(&pb, "a\\xffb\xc3\xa9" "c\\xe2\\x82\\xc0\\xaf\\xed\\xa0\\x80\xf0\x9f\x98\x80\\xf5\0",
		 "pkt_put_text: bad bytes (lone, cut short, overlong, surrogate, > U+10FFFF) as \\xNN, valid ones kept");
	build(&pb);
	proto_error(&pb, false, "42601", "unknown \"\x80\"");
	IS_BYTES(&pb, "E" "\x00\x00\x00\x2a" "SERROR\0" "VERROR\0" "C42601\0" "Munknown \"\\x80\"\0" "\0",
		 "proto_error escapes invalid UTF-8 in the message");

	build(&pb);
	proto_param_status(&pb, "client_encoding", "UTF8");
	IS_BYTES(&pb, "S" "\x00\x00\x00\x19" "client_encoding\0" "UTF8\0", "proto_param_status");

	build(&pb);
	proto_param_status(&pb, "application_name", "");
	IS_BYTES(&pb, "S" "\x00\x00\x00\x16" "application_name\0" "\0", "proto_param_status with empty value");

	build(&pb);
	proto_ready(&pb, 'I');
	IS_BYTES(&pb, "Z\x00\x00\x00\x05I", "proto_ready idle");
	build(&pb);
	proto_ready(&pb, 'T');
	IS_BYTES(&pb, "Z\x00\x00\x00\x05T", "proto_ready in transaction");
	build(&pb);
	proto_ready(&pb, 'E');
	IS_BYTES(&pb, "Z\x00\x00\x00\x05" "E", "proto_ready failed transaction");

	build(&pb);
	proto_auth(&pb, AUTH_OK, NULL, 0);
	IS_BYTES(&pb, "R\x00\x00\x00\x08\x00\x00\x00\x00", "proto_auth AuthenticationOk");
	build(&pb);
	proto_auth(&pb, AUTH_CLEARTEXT, NULL, 0);
	IS_BYTES(&pb, "R\x00\x00\x00\x08\x00\x00\x00\x03", "proto_auth cleartext");
	build(&pb);
	proto_auth(&pb, AUTH_MD5, "\x01\x02\xfe\xff", 4);
	IS_BYTES(&pb, "R\x00\x00\x00\x0c\x00\x00\x00\x05\x01\x02\xfe\xff", "proto_auth MD5 with salt");
	build(&pb);
	proto_auth(&pb, AUTH_SASL, "SCRAM-SHA-256\0", 15);
	IS_BYTES(&pb, "R\x00\x00\x00\x17\x00\x00\x00\x0a" "SCRAM-SHA-256\0" "\0", "proto_auth SASL mechanism list");
	build(&pb);
	proto_auth(&pb, AUTH_SASL_CONTINUE, "r=abc", 5);
	IS_BYTES(&pb, "R\x00\x00\x00\x0d\x00\x00\x00\x0b" "r=abc", "proto_auth SASLContinue");
	build(&pb);
	proto_auth(&pb, AUTH_SASL_FINAL, "v=xyz", 5);
	IS_BYTES(&pb, "R\x00\x00\x00\x0d\x00\x00\x00\x0c" "v=xyz", "proto_auth SASLFinal");

	build(&pb);
	proto_backend_key(&pb, 0x01020304u, 0xa0b0c0d0u);
	IS_BYTES(&pb, "K\x00\x00\x00\x0c\x01\x02\x03\x04\xa0\xb0\xc0\xd0", "proto_backend_key big-endian");

	build(&pb);
	proto_query(&pb, "SELECT 1");
	IS_BYTES(&pb, "Q\x00\x00\x00\x0d" "SELECT 1\0", "proto_query");
	build(&pb);
	proto_query(&pb, "");
	IS_BYTES(&pb, "Q\x00\x00\x00\x05\x00", "proto_query empty");

	build(&pb);
	proto_terminate(&pb);
	IS_BYTES(&pb, "X\x00\x00\x00\x04", "proto_terminate");

	build(&pb);
	proto_cancel_request(&pb, 1234, 0xdeadbeefu);
	IS_BYTES(&pb, "\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x04\xd2\xde\xad\xbe\xef", "proto_cancel_request (untyped)");

	build(&pb);
	static const char *const opts[] = { "_pq_.foo", "_pq_.b" };
	proto_negotiate(&pb, 0, opts, 2);
	IS_BYTES(&pb, "v\x00\x00\x00\x1c\x00\x03\x00\x00\x00\x00\x00\x02" "_pq_.foo\0" "_pq_.b\0",
		 "proto_negotiate with two options");
	build(&pb);
	proto_negotiate(&pb, 2, NULL, 0);
	IS_BYTES(&pb, "v\x00\x00\x00\x0c\x00\x03\x00\x02\x00\x00\x00\x00", "proto_negotiate minor 2, no options");

	/* several messages in one buffer: each length covers only its own message */
	build(&pb);
	pkt_put(&pb, "raw", 3);
	proto_param_status(&pb, "a", "b");
	proto_backend_key(&pb, 7, 8);
	proto_ready(&pb, 'I');
	IS_BYTES(&pb, "raw" "S\x00\x00\x00\x08" "a\0b\0" "K\x00\x00\x00\x0c\x00\x00\x00\x07\x00\x00\x00\x08"
		      "Z\x00\x00\x00\x05I",
		 "messages appended after raw bytes and after each other");

	/* a startup-style packet built by hand */
	build(&pb);
	pkt_begin(&pb, 0);
	pkt_put_u32(&pb, PROTO_V3);
	pkt_put_str(&pb, "user");
	pkt_put_str(&pb, "bob");
	pkt_put_u8(&pb, 0);
	pkt_end(&pb);
	IS_BYTES(&pb, "\x00\x00\x00\x12\x00\x03\x00\x00" "user\0bob\0" "\0", "untyped startup packet via pkt_begin(0)");

	build(&pb);
	pkt_put_u8(&pb, 0xab);
	pkt_put_u16(&pb, 0xcdef);
	pkt_put_u32(&pb, 0x01234567u);
	pkt_put_str(&pb, "");
	pkt_put(&pb, NULL, 0);
	IS_BYTES(&pb, "\xab\xcd\xef\x01\x23\x45\x67\x00", "pkt_put_u8/u16/u32/str big-endian, empty put is a no-op");
	is_u(proto_get_u32((const uint8_t *)"\x80\x01\x02\xff"), 0x800102ffu, "proto_get_u32");

	pkt_free(&pb);
}

/* ---- growth and the max cap ---- */

static void test_growth(void)
{
	struct pktbuf pb;
	bool good = true;

	pkt_init(&pb, 1u << 20);
	ok(pb.data == NULL && pb.len == 0 && pb.cap == 0 && !pb.failed && pb.max == 1u << 20, "pkt_init: empty");
	pkt_put_u8(&pb, 0);
	uint32_t first_cap = pb.cap;
	ok(first_cap > 0 && first_cap < 1000, "first put allocates a small buffer (cap %u)", first_cap);
	for (int i = 1; i < 5000; i++)
		pkt_put_u8(&pb, (uint8_t)(i * 7));
	for (int i = 0; i < 5000; i++)
		if (pb.data[i] != (uint8_t)(i * 7))
			good = false;
	ok(!pb.failed && pb.len == 5000 && pb.cap >= 5000 && pb.cap > first_cap, "pkt_put byte by byte grows past the initial capacity (cap %u)", pb.cap);
	ok(good, "content intact after many reallocations");

	uint8_t *big = malloc(100000);
	if (!big)
		abort();
	for (int i = 0; i < 100000; i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	pkt_put(&pb, big, 100000);
	ok(!pb.failed && pb.len == 105000 && memcmp(pb.data + 5000, big, 100000) == 0 && pb.data[4999] == (uint8_t)(4999 * 7),
	   "one large pkt_put (100000 bytes) appended whole");

	/* pkt_reset keeps the allocation */
	uint8_t *data = pb.data;
	uint32_t cap = pb.cap;
	pkt_reset(&pb);
	proto_ready(&pb, 'I');
	ok(pb.data == data && pb.cap == cap && pb.len == 6 && memcmp(pb.data, "Z\x00\x00\x00\x05I", 6) == 0,
	   "pkt_reset keeps the allocation and builds from offset 0");
	pkt_free(&pb);
	ok(pb.data == NULL && pb.len == 0 && pb.cap == 0, "pkt_free releases");

	/* a long query: the length field covers it */
	char *sql = malloc(5001);
	if (!sql)
		abort();
	memset(sql, 'x', 5000);
	sql[5000] = 0;
	pkt_init(&pb, 1u << 20);
	proto_query(&pb, sql);
	ok(!pb.failed && pb.len == 5006 && pb.data[0] == 'Q' && proto_get_u32(pb.data + 1) == 5005 &&
		   memcmp(pb.data + 5, sql, 5001) == 0,
	   "proto_query with 5000 bytes: length 5005");
	pkt_free(&pb);

	/* the max cap */
	pkt_init(&pb, 300);
	pkt_put(&pb, big, 250);
	ok(!pb.failed && pb.len == 250 && pb.cap <= 300, "max 300: 250 bytes fit (cap %u)", pb.cap);
	pkt_put(&pb, big, 100);
	ok(pb.failed && pb.len == 250, "max 300: growing to 350 sets failed and drops the write");
	pkt_put_u8(&pb, 1);
	pkt_put_str(&pb, "x");
	ok(pb.failed && pb.len == 250, "after failed, further writes are dropped (even ones that would fit)");
	ok(memcmp(pb.data, big, 250) == 0, "content before the failure intact");
	pkt_free(&pb);
	ok(!pb.failed && pb.max == 300, "pkt_free clears failed, keeps max");
	pkt_put(&pb, big, 300);
	ok(!pb.failed && pb.len == 300 && pb.cap == 300, "exactly max fits; cap clamped to max");
	pkt_put_u8(&pb, 0);
	ok(pb.failed && pb.len == 300, "one byte past max fails");
	pkt_free(&pb);

	pkt_init(&pb, 100);
	pkt_put(&pb, big, 10);
	ok(!pb.failed && pb.cap <= 100, "max below the initial capacity: cap clamped (%u)", pb.cap);
	pkt_put(&pb, big, 90);
	ok(!pb.failed && pb.len == 100, "max 100: fills to 100");
	pkt_free(&pb);

	pkt_init(&pb, 64);
	proto_query(&pb, sql);
	ok(pb.failed, "builder past max: failed set");
	ok(pb.len <= 64, "builder past max: nothing beyond max written (len %u)", pb.len);
	pkt_free(&pb);

	pkt_init(&pb, 16);
	proto_error(&pb, true, "08P01", "a message longer than sixteen bytes");
	ok(pb.failed && pb.len <= 16, "proto_error past max: failed, pkt_end skipped safely");
	pkt_free(&pb);

	pkt_init(&pb, 0);
	proto_terminate(&pb);
	ok(pb.failed && pb.len == 0, "max 0: every write fails");
	pkt_free(&pb);

	free(sql);
	free(big);
}

/* ---- msg_reader ---- */

static void test_reader(void)
{
	struct msg_reader r;
	uint8_t *b = heap_copy("\x01\x02\x03\x04\x05\x06\x07", 7);

	mr_init(&r, b, 7);
	is_u(mr_u8(&r), 1, "mr_u8");
	is_u(mr_u16(&r), 0x0203, "mr_u16 big-endian");
	is_u(mr_u32(&r), 0x04050607u, "mr_u32 big-endian");
	ok(!r.bad && mr_left(&r) == 0, "exact read: not bad, nothing left");
	is_u(mr_u8(&r), 0, "mr_u8 past the end returns 0");
	ok(r.bad, "mr_u8 past the end sets bad");
	ok(mr_bytes(&r, 0) == NULL && r.bad, "after bad, mr_bytes returns NULL");

	mr_init(&r, b, 3);
	is_u(mr_u32(&r), 0, "mr_u32 with 3 bytes returns 0");
	ok(r.bad && r.pos == 0, "mr_u32 with 3 bytes: bad, position unchanged");
	is_u(mr_u8(&r), 0, "bad is sticky: mr_u8 returns 0 though a byte is left");

	mr_init(&r, b, 3);
	is_u(mr_u16(&r), 0x0102, "mr_u16 with 3 bytes");
	is_u(mr_u16(&r), 0, "mr_u16 with 1 byte left returns 0");
	ok(r.bad && r.pos == 2, "mr_u16 with 1 byte left: bad, position unchanged");

	mr_init(&r, b, 7);
	const uint8_t *p = mr_bytes(&r, 3);
	ok(p == b && r.pos == 3 && mr_left(&r) == 4, "mr_bytes returns a pointer into the message");
	ok(mr_bytes(&r, 5) == NULL && r.bad && r.pos == 3, "mr_bytes past the end: NULL, bad");
	mr_init(&r, b, 7);
	ok(mr_bytes(&r, SIZE_MAX) == NULL && r.bad, "mr_bytes(SIZE_MAX): NULL, no overflow");
	mr_init(&r, b, 7);
	ok(mr_bytes(&r, 7) == b && mr_bytes(&r, 0) != NULL && !r.bad, "mr_bytes(0) at the end is not an error");
	free(b);

	b = heap_copy("abc\0def\0", 8);
	mr_init(&r, b, 8);
	const char *s1 = mr_str(&r), *s2 = mr_str(&r);
	ok(s1 == (const char *)b && !strcmp(s1, "abc") && !strcmp(s2, "def") && !r.bad && mr_left(&r) == 0,
	   "mr_str reads two strings in place");
	is_str(mr_str(&r), "", "mr_str at the end returns \"\"");
	ok(r.bad, "mr_str at the end sets bad");
	free(b);

	b = heap_copy("abc", 3);
	mr_init(&r, b, 3);
	is_str(mr_str(&r), "", "mr_str without NUL returns \"\"");
	ok(r.bad && r.pos == 0, "mr_str without NUL sets bad, position unchanged");
	free(b);

	b = heap_copy("x\0yz", 4);
	mr_init(&r, b, 4);
	ok(!strcmp(mr_str(&r), "x") && !strcmp(mr_str(&r), "") && r.bad, "mr_str: second string without NUL");
	free(b);

	b = heap_copy("", 0);
	mr_init(&r, b, 0);
	ok(!strcmp(mr_str(&r), "") && r.bad, "mr_str on an empty message");
	mr_init(&r, b, 0);
	ok(mr_u8(&r) == 0 && r.bad, "mr_u8 on an empty message");
	free(b);

	b = heap_copy("\0", 1);
	mr_init(&r, b, 1);
	ok(!strcmp(mr_str(&r), "") && !r.bad && mr_left(&r) == 0, "mr_str of an empty string is fine");
	free(b);
}

/* ---- proto_parse_error ---- */

static const char real_err[] = "SERROR\0VERROR\0C42P01\0Mrelation \"nosuch\" does not exist\0P15\0"
			       "Fparse_relation.c\0L1392\0RparserOpenTable\0";	/* + the literal's NUL */

/* Every field is "" or a string that ends inside body[0..len). */
static bool fields_inside(const struct proto_err_fields *e, const uint8_t *body, size_t len)
{
	const char *f[3] = { e->severity, e->sqlstate, e->message };

	for (int i = 0; i < 3; i++) {
		if (!f[i])
			return false;
		if (!*f[i] && ((const uint8_t *)f[i] < body || (const uint8_t *)f[i] >= body + len))
			continue; /* a static "" */
		if ((const uint8_t *)f[i] < body || (const uint8_t *)f[i] >= body + len)
			return false;
		if (!memchr(f[i], 0, (size_t)(body + len - (const uint8_t *)f[i])))
			return false;
	}
	return true;
}

static void test_parse_error(void)
{
	struct proto_err_fields e;
	size_t n = sizeof(real_err);	/* includes the terminating zero field */
	uint8_t *b = heap_copy(real_err, n);

	proto_parse_error(b, n, &e);
	is_str(e.severity, "ERROR", "real ErrorResponse: severity");
	is_str(e.sqlstate, "42P01", "real ErrorResponse: sqlstate");
	is_str(e.message, "relation \"nosuch\" does not exist", "real ErrorResponse: message");
	ok(fields_inside(&e, b, n), "real ErrorResponse: fields point into the body");
	free(b);

	/* built by proto_error, parsed back (body only) */
	struct pktbuf pb;
	pkt_init(&pb, 4096);
	proto_error(&pb, true, "57P01", "terminating connection due to administrator command");
	b = heap_copy(pb.data + 5, pb.len - 5);
	proto_parse_error(b, pb.len - 5, &e);
	ok(!strcmp(e.severity, "FATAL") && !strcmp(e.sqlstate, "57P01") &&
		   !strcmp(e.message, "terminating connection due to administrator command"),
	   "proto_error output parses back");
	free(b);
	pkt_free(&pb);

	/* every prefix of the real body: complete fields only, no overread */
	size_t s_end = 7, c_end = (size_t)((const char *)memmem(real_err, n, "C42P01", 6) - real_err) + 7;
	size_t m_end = c_end + 1 + strlen("relation \"nosuch\" does not exist") + 1;
	bool good = true;
	for (size_t k = 0; k <= n; k++) {
		b = heap_copy(real_err, k);
		proto_parse_error(b, k, &e);
		if (!fields_inside(&e, b, k) || strcmp(e.severity, k >= s_end ? "ERROR" : "") ||
		    strcmp(e.sqlstate, k >= c_end ? "42P01" : "") ||
		    strcmp(e.message, k >= m_end ? "relation \"nosuch\" does not exist" : "")) {
			good = false;
			tap_diag("prefix %zu: \"%s\" \"%s\" \"%s\"", k, e.severity, e.sqlstate, e.message);
		}
		free(b);
	}
	ok(good, "every truncated prefix (0..%zu bytes): complete fields only", n);

	static const struct {
		const char *body;
		size_t len;
		const char *sev, *code, *msg, *what;
	} cases[] = {
		{ "VERROR\0C0A000\0Mx\0\0", 18, "ERROR", "0A000", "x", "V used when S is absent" },
		{ "SERREUR\0VERROR\0C42601\0\0", 24, "ERREUR", "42601", "", "S (localized) wins over a later V" },
		{ "VERROR\0SERREUR\0\0", 16, "ERREUR", "", "", "S wins over an earlier V" },
		{ "Xfoo\0Mmsg\0\0", 11, "", "", "msg", "unknown field codes skipped" },
		{ "\0Mmsg\0", 6, "", "", "", "zero code ends the fields" },
		{ "Mmsg\0", 5, "", "", "msg", "missing terminator" },
		{ "S", 1, "", "", "", "code without value" },
		{ "C42", 3, "", "", "", "value without NUL" },
		{ "SERROR\0C42", 10, "ERROR", "", "", "second value without NUL" },
		{ "Mfirst\0Msecond\0\0", 16, "", "", "second", "repeated field: last wins" },
		{ "", 0, "", "", "", "empty body" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = heap_copy(cases[i].body, cases[i].len);
		proto_parse_error(b, cases[i].len, &e);
		if (!tap_ok(fields_inside(&e, b, cases[i].len) && !strcmp(e.severity, cases[i].sev) &&
				    !strcmp(e.sqlstate, cases[i].code) && !strcmp(e.message, cases[i].msg),
			    "proto_parse_error: %s", cases[i].what))
			tap_diag("got \"%s\" \"%s\" \"%s\"", e.severity, e.sqlstate, e.message);
		free(b);
	}

	/* garbage: deterministic pseudo-random bodies, some NUL-rich */
	uint32_t seed = 12345;
	good = true;
	for (int iter = 0; iter < 5000; iter++) {
		size_t len = (size_t)(iter % 97);
		b = malloc(len ? len : 1);
		if (!b)
			abort();
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			uint8_t v = (uint8_t)(seed >> 16);
			b[i] = (iter & 1) && v < 96 ? 0 : (iter & 2) ? "SVCMx"[v % 5] : v;
		}
		proto_parse_error(b, len, &e);
		if (!fields_inside(&e, b, len))
			good = false;
		free(b);
	}
	ok(good, "5000 garbage bodies: no overread, fields inside the body");
}

/* ---- proto_quote_literal ---- */

static void test_quote(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "abc", "'abc'" },
		{ "it's", "'it''s'" },
		{ "''", "''''''" },
		{ "a\\b", "E'a\\\\b'" },
		{ "a\\'b", "E'a\\\\''b'" },
		{ "O'Reilly\\", "E'O''Reilly\\\\'" },
		{ "\\", "E'\\\\'" },
		{ "caf\xc3\xa9", "'caf\xc3\xa9'" },
		{ "x", "'x'" },
		{ "", "''" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t need = strlen(cases[i].out) + 1;
		char *big = malloc(256), *exact = malloc(need), *small = malloc(need - 1);
		if (!big || !exact || !small)
			abort();
		bool r = proto_quote_literal(cases[i].in, big, 256);
		if (!tap_ok(r && !strcmp(big, cases[i].out), "quote \"%s\" -> %s", cases[i].in, cases[i].out))
			tap_diag("returned %d, got %s", r, r ? big : "");
		r = proto_quote_literal(cases[i].in, exact, need);
		ok(r && !strcmp(exact, cases[i].out), "quote \"%s\" fits in exactly %zu bytes", cases[i].in, need);
		ok(!proto_quote_literal(cases[i].in, small, need - 1), "quote \"%s\" in %zu bytes -> false", cases[i].in, need - 1);
		free(big);
		free(exact);
		free(small);
	}
	char one[1];
	ok(!proto_quote_literal("abc", one, 0), "outlen 0 -> false");

	/* a long value with every third byte a quote */
	char in[301], *out = malloc(1024);
	if (!out)
		abort();
	for (int i = 0; i < 300; i++)
		in[i] = i % 3 ? 'a' : '\'';
	in[300] = 0;
	ok(proto_quote_literal(in, out, 1024) && strlen(out) == 2 + 300 + 100 && out[0] == '\'' && out[1] == '\'' &&
		   out[2] == '\'' && out[401] == '\'',
	   "300-byte value with 100 quotes doubled");
	free(out);
}

/* ---- proto_client_type_valid ---- */

static void test_client_types(void)
{
	static const char valid[] = "QPBEDCSHFdcfX";
	int mismatches = 0, nvalid = 0;

	for (int t = 0; t < 256; t++) {
		bool want = t != 0 && strchr(valid, t) != NULL;
		bool got = proto_client_type_valid((uint8_t)t);
		nvalid += got;
		if (got != want) {
			mismatches++;
			tap_diag("type 0x%02x: got %d, want %d", t, got, want);
		}
	}
	ok(mismatches == 0 && nvalid == 13, "proto_client_type_valid: exactly Q P B E D C S H F d c f X of 256 values");
	for (const char *c = valid; *c; c++)
		ok(proto_client_type_valid((uint8_t)*c), "'%c' valid", *c);
	ok(!proto_client_type_valid('p') && !proto_client_type_valid('T') && !proto_client_type_valid('Z') &&
		   !proto_client_type_valid(0) && !proto_client_type_valid(0xff),
	   "p T Z 0x00 0xff invalid");
}

int main(void)
{
	tap_begin();

	test_builders();
	test_growth();
	test_reader();
	test_parse_error();
	test_quote();
	test_client_types();

	return tap_end();
}
