/*
 * Unit tests for scram.c: RFC 7677 vector, a verifier made by PostgreSQL 15,
 * in-process round trips (password, wrong password, mock, key pass-through)
 * and malformed input for every parser. TAP output, plan at the end.
 *
 * Malformed messages are copied into heap buffers of exactly their length
 * (no NUL after them), so AddressSanitizer reports any read past the end.
 */
#include "pooler/scram.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

static int tests_run;
static int tests_failed;

static void tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The condition is evaluated before the message arguments, so a message
 * may show what the condition's calls left behind (e.g. *err). */
#define ok(cond, ...)                          \
	do {                                   \
		bool ok_cond_ = (cond);        \
		tap_ok(ok_cond_, __VA_ARGS__); \
	} while (0)

static void tap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tests_run++;
	if (!cond)
		tests_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tests_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static bool same(const char *got, size_t gotlen, const char *want)
{
	return gotlen == strlen(want) && memcmp(got, want, gotlen) == 0;
}

typedef enum scram_rc (*scram_step_fn)(struct scram_state *, const char *, size_t, char *,
				       size_t, size_t *, const char **);

/* Runs fn on an exact-length heap copy of in[0..len). */
static enum scram_rc run_exact(scram_step_fn fn, struct scram_state *st, const char *in,
			       size_t len, char *out, size_t outcap, size_t *outlen,
			       const char **err)
{
	char *buf = malloc(len ? len : 1);
	enum scram_rc rc;

	if (buf == NULL)
		abort();
	memcpy(buf, in, len);
	rc = fn(st, len ? buf : buf + 1, len, out, outcap, outlen, err);
	free(buf);
	return rc;
}

static enum scram_rc verify_exact(struct scram_state *st, const char *in, size_t len,
				  const char **err)
{
	char *buf = malloc(len ? len : 1);
	enum scram_rc rc;

	if (buf == NULL)
		abort();
	memcpy(buf, in, len);
	rc = scram_client_verify(st, len ? buf : buf + 1, len, err);
	free(buf);
	return rc;
}

/* ---- RFC 7677 section 3 ---- */

#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE_PART "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE_PART ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL                                                                 \
	"c=biws,r=" RFC_CNONCE RFC_SNONCE_PART                                           \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const uint8_t rfc_salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
				     0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};

static void test_rfc_client(void)
{
	struct scram_state st;
	char out[SCRAM_MAX_MSG];
	size_t n = 0;
	const char *err = NULL;

	ok(scram_client_init(&st, "pencil"), "rfc client: init");
	scram_test_set_username(&st, "user");
	scram_test_set_nonce(&st, RFC_CNONCE);
	ok(scram_client_first(&st, out, sizeof out, &n) && same(out, n, RFC_CLIENT_FIRST),
	   "rfc client: client-first-message");
	ok(scram_client_final(&st, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out, sizeof out,
			      &n, &err) == SCRAM_CONTINUE &&
		   same(out, n, RFC_CLIENT_FINAL),
	   "rfc client: exact client-final-message");
	ok(scram_client_verify(&st, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), &err) == SCRAM_OK,
	   "rfc client: server signature verifies");
}

static void test_rfc_server(void)
{
	struct scram_secret sec;
	struct scram_state st;
	char out[SCRAM_MAX_MSG];
	uint8_t h[SHA256_DIGEST_LENGTH];
	size_t n = 0;
	const char *err = NULL;

	ok(scram_secret_from_password("pencil", rfc_salt, sizeof rfc_salt, 4096, &sec),
	   "rfc server: secret from password");
	scram_server_init(&st, &sec);
	scram_test_set_nonce(&st, RFC_SNONCE_PART);
	ok(scram_server_first(&st, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out, sizeof out,
			      &n, &err) == SCRAM_CONTINUE &&
		   same(out, n, RFC_SERVER_FIRST),
	   "rfc server: exact server-first-message");
	ok(scram_server_final(&st, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out, sizeof out,
			      &n, &err) == SCRAM_OK &&
		   same(out, n, RFC_SERVER_FINAL),
	   "rfc server: proof accepted, exact server-final-message");
	SHA256(st.client_key, SCRAM_KEY_LEN, h);
	ok(memcmp(h, sec.stored_key, SCRAM_KEY_LEN) == 0,
	   "rfc server: recovered ClientKey hashes to StoredKey");
}

/* ---- a verifier made by PostgreSQL 15 (CREATE ROLE x PASSWORD 'secret') ---- */

#define PG_VERIFIER                                                                      \
	"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:" \
	"7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0="

/* Full exchange in-process; returns the server's final rc, *client_rc the
 * client's verification of the server-final (SCRAM_FAIL if not reached). */
static enum scram_rc round_trip(struct scram_state *cli, struct scram_state *srv,
				enum scram_rc *client_rc)
{
	char a[SCRAM_MAX_MSG], b[SCRAM_MAX_MSG];
	size_t an = 0, bn = 0;
	const char *err = NULL;
	enum scram_rc rc;

	*client_rc = SCRAM_FAIL;
	if (!scram_client_first(cli, a, sizeof a, &an))
		return SCRAM_PROTO;
	if (scram_server_first(srv, a, an, b, sizeof b, &bn, &err) != SCRAM_CONTINUE)
		return SCRAM_PROTO;
	rc = scram_client_final(cli, b, bn, a, sizeof a, &an, &err);
	if (rc != SCRAM_CONTINUE)
		return rc;
	rc = scram_server_final(srv, a, an, b, sizeof b, &bn, &err);
	if (rc == SCRAM_OK)
		*client_rc = scram_client_verify(cli, b, bn, &err);
	return rc;
}

static void test_pg_verifier(void)
{
	struct scram_secret pg, mine;
	struct scram_state cli, srv;
	enum scram_rc crc;

	ok(scram_parse_secret(PG_VERIFIER, &pg) && pg.iterations == 4096 && pg.salt_len == 16,
	   "pg verifier: parses (4096 iterations, 16-byte salt)");
	ok(scram_secret_from_password("secret", pg.salt, pg.salt_len, pg.iterations, &mine) &&
		   memcmp(mine.stored_key, pg.stored_key, SCRAM_KEY_LEN) == 0 &&
		   memcmp(mine.server_key, pg.server_key, SCRAM_KEY_LEN) == 0,
	   "pg verifier: same StoredKey/ServerKey from the password");
	ok(scram_client_init(&cli, "secret"), "pg verifier: client init");
	scram_server_init(&srv, &pg);
	ok(round_trip(&cli, &srv, &crc) == SCRAM_OK && crc == SCRAM_OK,
	   "pg verifier: login with password 'secret'");
}

/* ---- round trips ---- */

static void make_secret(const char *pw, uint8_t saltbyte, int iterations,
			struct scram_secret *s)
{
	uint8_t salt[16];

	memset(salt, saltbyte, sizeof salt);
	if (!scram_secret_from_password(pw, salt, sizeof salt, iterations, s))
		abort();
}

static void test_round_trips(void)
{
	struct scram_secret sec;
	struct scram_state cli, srv;
	enum scram_rc crc;
	char a[SCRAM_MAX_MSG];
	size_t an = 0;

	make_secret("hunter2", 0x11, 4096, &sec);
	ok(scram_client_init(&cli, "hunter2"), "round trip: client init");
	scram_server_init(&srv, &sec);
	ok(round_trip(&cli, &srv, &crc) == SCRAM_OK && crc == SCRAM_OK,
	   "round trip: right password OK on both sides");

	ok(scram_client_init(&cli, "hunter3"), "wrong password: client init");
	scram_server_init(&srv, &sec);
	ok(round_trip(&cli, &srv, &crc) == SCRAM_FAIL, "wrong password: server says FAIL");

	ok(scram_client_init(&cli, "x") && scram_client_first(&cli, a, sizeof a, &an) &&
		   an == 3 + 5 + 32 && memcmp(a, "n,,n=,r=", 8) == 0,
	   "client-first is \"n,,n=,r=\" + 32-char nonce, as libpq sends");

	char big[200];
	memset(big, 'p', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ok(!scram_client_init(&cli, big), "client init refuses a password that does not fit");
}

/* Mock server: plausible server-first (4096 iterations, 16-byte salt, a
 * fresh salt each time), then FAIL even for a client that "knows" it. */
static void test_mock(void)
{
	struct scram_state cli, srv, srv2;
	char a[SCRAM_MAX_MSG], b[SCRAM_MAX_MSG], c[SCRAM_MAX_MSG];
	size_t an = 0, bn = 0, cn = 0;
	const char *err = NULL;
	const char *s;

	ok(scram_client_init(&cli, "whatever") && scram_client_first(&cli, a, sizeof a, &an),
	   "mock: client-first");
	scram_server_init(&srv, NULL);
	ok(srv.mock && scram_server_first(&srv, a, an, b, sizeof b, &bn, &err) == SCRAM_CONTINUE,
	   "mock: server-first built");
	b[bn] = '\0';
	s = strstr(b, ",s=");
	ok(s != NULL && strlen(s) == 3 + 24 + 7 && strcmp(s + 27, ",i=4096") == 0 &&
		   memcmp(b + 2, a + 8, an - 8) == 0,
	   "mock: server-first looks real (nonce, 16-byte salt, i=4096): %s", b);
	scram_server_init(&srv2, NULL);
	ok(scram_server_first(&srv2, a, an, c, sizeof c, &cn, &err) == SCRAM_CONTINUE &&
		   memcmp(strstr(b, ",s="), c + (strstr(b, ",s=") - b), 27) != 0,
	   "mock: salt is random per exchange");
	ok(scram_client_final(&cli, b, bn, c, sizeof c, &cn, &err) == SCRAM_CONTINUE,
	   "mock: client answers");
	ok(scram_server_final(&srv, c, cn, b, sizeof b, &bn, &err) == SCRAM_FAIL && bn == 0,
	   "mock: final step is FAIL");
}

static void test_pass_through(void)
{
	struct scram_secret sec, other_salt, other_iter;
	struct scram_state cli, srv, cli2, srv2;
	enum scram_rc crc;
	char a[SCRAM_MAX_MSG], b[SCRAM_MAX_MSG];
	size_t an = 0, bn = 0;
	const char *err = NULL;

	make_secret("s3cr3t", 0x22, 4096, &sec);
	ok(scram_client_init(&cli, "s3cr3t"), "pass-through: app client init");
	scram_server_init(&srv, &sec);
	ok(round_trip(&cli, &srv, &crc) == SCRAM_OK && crc == SCRAM_OK,
	   "pass-through: app logs in to pgsift");

	scram_client_init_keys(&cli2, srv.client_key, &sec);
	scram_server_init(&srv2, &sec);
	ok(round_trip(&cli2, &srv2, &crc) == SCRAM_OK && crc == SCRAM_OK,
	   "pass-through: pgsift logs in to the server with the recovered ClientKey");

	make_secret("s3cr3t", 0x33, 4096, &other_salt);
	scram_client_init_keys(&cli2, srv.client_key, &sec);
	scram_server_init(&srv2, &other_salt);
	ok(scram_client_first(&cli2, a, sizeof a, &an) &&
		   scram_server_first(&srv2, a, an, b, sizeof b, &bn, &err) == SCRAM_CONTINUE &&
		   scram_client_final(&cli2, b, bn, a, sizeof a, &an, &err) == SCRAM_FAIL &&
		   strstr(err, "differs") != NULL,
	   "pass-through: other salt is FAIL (%s)", err);

	make_secret("s3cr3t", 0x22, 4097, &other_iter);
	scram_client_init_keys(&cli2, srv.client_key, &sec);
	scram_server_init(&srv2, &other_iter);
	err = NULL;
	ok(scram_client_first(&cli2, a, sizeof a, &an) &&
		   scram_server_first(&srv2, a, an, b, sizeof b, &bn, &err) == SCRAM_CONTINUE &&
		   scram_client_final(&cli2, b, bn, a, sizeof a, &an, &err) == SCRAM_FAIL &&
		   err != NULL && strstr(err, "differs") != NULL,
	   "pass-through: other iteration count is FAIL");
}

/* gs2 flag "y" is accepted, and then c= must be "eSws". */
static void test_gs2_y(void)
{
	struct scram_secret sec;
	struct scram_state srv;
	char out[SCRAM_MAX_MSG];
	size_t n = 0;
	const char *err = NULL;
	const char *first = "y,,n=,r=abc";

	make_secret("pw", 0x44, 1, &sec);
	scram_server_init(&srv, &sec);
	scram_test_set_nonce(&srv, "SRV");
	ok(scram_server_first(&srv, first, strlen(first), out, sizeof out, &n, &err) ==
		   SCRAM_CONTINUE,
	   "gs2 \"y,,\" accepted");
	const char *fin = "c=biws,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	ok(scram_server_final(&srv, fin, strlen(fin), out, sizeof out, &n, &err) == SCRAM_PROTO,
	   "gs2 \"y,,\" then c=biws is PROTO (%s)", err);
}

/* ---- malformed input ---- */

struct bad {
	const char *desc;
	const char *msg;
	size_t len; /* 0: strlen(msg) */
};

static size_t bad_len(const struct bad *b)
{
	return b->len ? b->len : strlen(b->msg);
}

static void test_bad_client_first(void)
{
	static const struct bad cases[] = {
		{"one byte", "n", 0},
		{"truncated gs2", "n,", 0},
		{"gs2 only", "n,,", 0},
		{"username only", "n,,n=", 0},
		{"no nonce", "n,,n=,", 0},
		{"empty nonce", "n,,n=,r=", 0},
		{"missing n=", "n,,r=abc", 0},
		{"missing r=", "n,,n=,x=abc", 0},
		{"channel binding p=tls-server-end-point", "p=tls-server-end-point,,n=,r=abc", 0},
		{"bad gs2 flag", "x,,n=,r=abc", 0},
		{"authzid", "n,a=user,n=,r=abc", 0},
		{"mandatory extension", "n,,m=foo,n=,r=abc", 0},
		{"non-printable nonce", "n,,n=,r=ab\001c", 0},
		{"high-bit nonce", "n,,n=,r=ab\xc3\xa9", 0},
		{"trailing comma", "n,,n=,r=abc,", 0},
		{"bad extension name", "n,,n=,r=abc,1=x", 0},
		{"embedded NUL", "n,,n=,r=abc\0def", 15},
		{"client nonce too long for the combined nonce",
		 "n,,n=,r=0123456789012345678901234567890123456789012345678901234"
		 "567890123456789012345678901234567890123456789012345678901234567890", 0},
	};
	char out[SCRAM_MAX_MSG], huge[SCRAM_MAX_MSG + 100];
	struct scram_state st;
	size_t n;
	const char *err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		scram_server_init(&st, NULL);
		err = NULL;
		ok(run_exact(scram_server_first, &st, cases[i].msg, bad_len(&cases[i]), out,
			     sizeof out, &n, &err) == SCRAM_PROTO &&
			   err != NULL,
		   "client-first rejected: %s (%s)", cases[i].desc, err ? err : "-");
	}
	scram_server_init(&st, NULL);
	ok(run_exact(scram_server_first, &st, "", 0, out, sizeof out, &n, &err) == SCRAM_PROTO,
	   "client-first rejected: empty");
	memcpy(huge, "n,,n=,r=", 8);
	memset(huge + 8, 'a', sizeof huge - 8);
	scram_server_init(&st, NULL);
	ok(run_exact(scram_server_first, &st, huge, sizeof huge, out, sizeof out, &n, &err) ==
		   SCRAM_PROTO,
	   "client-first rejected: longer than SCRAM_MAX_MSG");
	scram_server_init(&st, NULL);
	ok(run_exact(scram_server_first, &st, "n,,n=,r=abc", 11, out, 10, &n, &err) ==
		   SCRAM_PROTO,
	   "client-first: output buffer too small is PROTO, not overflow");
}

#define NONCE "abcSRV"
#define PROOF44 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define WRONG_FINAL "c=biws,r=" NONCE ",p=" PROOF44

static void server_waiting_final(struct scram_state *st, const struct scram_secret *sec)
{
	char out[SCRAM_MAX_MSG];
	size_t n;
	const char *err;

	scram_server_init(st, sec);
	scram_test_set_nonce(st, "SRV");
	if (scram_server_first(st, "n,,n=,r=abc", 11, out, sizeof out, &n, &err) !=
	    SCRAM_CONTINUE)
		abort();
}

static void test_bad_client_final(void)
{
	static const struct bad cases[] = {
		{"c= only", "c=biws", 0},
		{"truncated c=", "c=bi", 0},
		{"missing p=", "c=biws,r=" NONCE, 0},
		{"missing r=", "c=biws,p=" PROOF44, 0},
		{"missing c=", "r=" NONCE ",p=" PROOF44, 0},
		{"empty proof", "c=biws,r=" NONCE ",p=", 0},
		{"wrong nonce", "c=biws,r=abcXYZ,p=" PROOF44, 0},
		{"client part of nonce only", "c=biws,r=abc,p=" PROOF44, 0},
		{"nonce too long", "c=biws,r=" NONCE "x,p=" PROOF44, 0},
		{"channel binding y with n flag", "c=eSws,r=" NONCE ",p=" PROOF44, 0},
		{"channel binding data", "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=" NONCE ",p=" PROOF44,
		 0},
		{"bad base64 proof", "c=biws,r=" NONCE ",p=!!!!ZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		 0},
		{"proof length not multiple of 4", "c=biws,r=" NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
		 0},
		{"proof too long", "c=biws,r=" NONCE ",p=" PROOF44 "AAAA", 0},
		{"proof too short", "c=biws,r=" NONCE ",p=dHzbZapWIk4jUhN+", 0},
		{"proof with space", "c=biws,r=" NONCE ",p=dHzb ZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		 0},
		{"garbage after proof", "c=biws,r=" NONCE ",p=" PROOF44 ",x=y", 0},
		{"trailing comma", "c=biws,r=" NONCE ",p=" PROOF44 ",", 0},
		{"embedded NUL", "c=biws,r=" NONCE ",p=" PROOF44 "\0", sizeof("c=biws,r=" NONCE ",p=" PROOF44 "\0") - 1},
		{"NUL in nonce", "c=biws,r=abc\0RV,p=" PROOF44, sizeof("c=biws,r=abc\0RV,p=" PROOF44) - 1},
	};
	struct scram_secret sec;
	struct scram_state st;
	char out[SCRAM_MAX_MSG], huge[SCRAM_MAX_MSG * 2];
	size_t n;
	const char *err;

	make_secret("pw", 0x55, 1, &sec);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		server_waiting_final(&st, &sec);
		err = NULL;
		ok(run_exact(scram_server_final, &st, cases[i].msg, bad_len(&cases[i]), out,
			     sizeof out, &n, &err) == SCRAM_PROTO &&
			   err != NULL,
		   "client-final rejected: %s (%s)", cases[i].desc, err ? err : "-");
	}
	server_waiting_final(&st, &sec);
	ok(run_exact(scram_server_final, &st, "", 0, out, sizeof out, &n, &err) == SCRAM_PROTO,
	   "client-final rejected: empty");
	memcpy(huge, "c=biws,r=" NONCE ",x=", 18);
	memset(huge + 18, 'a', sizeof huge - 18);
	server_waiting_final(&st, &sec);
	ok(run_exact(scram_server_final, &st, huge, sizeof huge, out, sizeof out, &n, &err) ==
		   SCRAM_PROTO,
	   "client-final rejected: longer than SCRAM_MAX_MSG");
	server_waiting_final(&st, &sec);
	ok(run_exact(scram_server_final, &st, WRONG_FINAL, strlen(WRONG_FINAL), out, sizeof out,
		     &n, &err) == SCRAM_FAIL,
	   "client-final well-formed but wrong proof: FAIL (%s)", err);
	ok(run_exact(scram_server_final, &st, WRONG_FINAL, strlen(WRONG_FINAL), out, sizeof out,
		     &n, &err) == SCRAM_PROTO,
	   "client-final after the exchange ended: PROTO (%s)", err);
	scram_server_init(&st, &sec);
	ok(run_exact(scram_server_final, &st, WRONG_FINAL, strlen(WRONG_FINAL), out, sizeof out,
		     &n, &err) == SCRAM_PROTO,
	   "client-final before server-first: PROTO (%s)", err);
}

#define CN "cnonce"
#define SALT16 "EREREREREREREREREREREQ=="

static void client_waiting_first(struct scram_state *st)
{
	char out[SCRAM_MAX_MSG];
	size_t n;

	if (!scram_client_init(st, "pw"))
		abort();
	scram_test_set_nonce(st, CN);
	if (!scram_client_first(st, out, sizeof out, &n))
		abort();
}

static void test_bad_server_first(void)
{
	static const struct bad cases[] = {
		{"truncated r=", "r=", 0},
		{"nonce only", "r=" CN "SRV", 0},
		{"nonce and comma", "r=" CN "SRV,", 0},
		{"missing i=", "r=" CN "SRV,s=" SALT16, 0},
		{"missing s=", "r=" CN "SRV,i=4096", 0},
		{"missing r=", "s=" SALT16 ",i=4096", 0},
		{"wrong nonce", "r=other,s=" SALT16 ",i=4096", 0},
		{"nonce without server part", "r=" CN ",s=" SALT16 ",i=4096", 0},
		{"non-printable nonce", "r=" CN "S\177V,s=" SALT16 ",i=4096", 0},
		{"server nonce too long",
		 "r=" CN "SRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRV"
		 "SRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRVSRV,s=" SALT16
		 ",i=4096", 0},
		{"bad base64 salt", "r=" CN "SRV,s=!!!!,i=4096", 0},
		{"salt length not multiple of 4", "r=" CN "SRV,s=ERERE,i=4096", 0},
		{"empty salt", "r=" CN "SRV,s=,i=4096", 0},
		{"salt too long",
		 "r=" CN "SRV,s=ERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERER,i=4096",
		 0},
		{"iterations 0", "r=" CN "SRV,s=" SALT16 ",i=0", 0},
		{"iterations negative", "r=" CN "SRV,s=" SALT16 ",i=-1", 0},
		{"iterations absurd", "r=" CN "SRV,s=" SALT16 ",i=10000001", 0},
		{"iterations overflow", "r=" CN "SRV,s=" SALT16 ",i=99999999999999999999", 0},
		{"iterations not a number", "r=" CN "SRV,s=" SALT16 ",i=4096x", 0},
		{"iterations empty", "r=" CN "SRV,s=" SALT16 ",i=", 0},
		{"garbage after i=", "r=" CN "SRV,s=" SALT16 ",i=4096,x=y", 0},
		{"mandatory extension", "m=x,r=" CN "SRV,s=" SALT16 ",i=4096", 0},
		{"embedded NUL", "r=" CN "SRV,s=" SALT16 ",i=40\0" "96", sizeof("r=" CN "SRV,s=" SALT16 ",i=40\0" "96") - 1},
	};
	struct scram_state st;
	char out[SCRAM_MAX_MSG], huge[SCRAM_MAX_MSG + 1];
	size_t n;
	const char *err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		client_waiting_first(&st);
		err = NULL;
		ok(run_exact(scram_client_final, &st, cases[i].msg, bad_len(&cases[i]), out,
			     sizeof out, &n, &err) == SCRAM_PROTO &&
			   err != NULL,
		   "server-first rejected: %s (%s)", cases[i].desc, err ? err : "-");
	}
	client_waiting_first(&st);
	ok(run_exact(scram_client_final, &st, "", 0, out, sizeof out, &n, &err) == SCRAM_PROTO,
	   "server-first rejected: empty");
	memcpy(huge, "r=" CN "SRV", 11);
	memset(huge + 11, 'a', sizeof huge - 11);
	client_waiting_first(&st);
	ok(run_exact(scram_client_final, &st, huge, sizeof huge, out, sizeof out, &n, &err) ==
		   SCRAM_PROTO,
	   "server-first rejected: longer than SCRAM_MAX_MSG");
}

static void client_waiting_final(struct scram_state *st)
{
	static const char sf[] = "r=" CN "SRV,s=" SALT16 ",i=1";
	char out[SCRAM_MAX_MSG];
	size_t n;
	const char *err;

	client_waiting_first(st);
	if (scram_client_final(st, sf, sizeof sf - 1, out, sizeof out, &n, &err) !=
	    SCRAM_CONTINUE)
		abort();
}

static void test_bad_server_final(void)
{
	static const struct bad cases[] = {
		{"v= empty", "v=", 0},
		{"v without =", "v", 0},
		{"bad base64", "v=!!!!", 0},
		{"signature too short", "v=ERERERERERERERERERERES==", 0},
		{"signature too long", "v=" PROOF44 "AAAA", 0},
		{"unknown attribute", "x=" PROOF44, 0},
		{"garbage after v=", "v=" PROOF44 ",x=y", 0},
		{"embedded NUL", "v=" PROOF44 "\0", sizeof("v=" PROOF44 "\0") - 1},
	};
	struct scram_state st;
	char huge[SCRAM_MAX_MSG + 1];
	const char *err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		client_waiting_final(&st);
		err = NULL;
		ok(verify_exact(&st, cases[i].msg, bad_len(&cases[i]), &err) == SCRAM_PROTO &&
			   err != NULL,
		   "server-final rejected: %s (%s)", cases[i].desc, err ? err : "-");
	}
	client_waiting_final(&st);
	ok(verify_exact(&st, "", 0, &err) == SCRAM_PROTO, "server-final rejected: empty");
	memcpy(huge, "v=", 2);
	memset(huge + 2, 'A', sizeof huge - 2);
	client_waiting_final(&st);
	ok(verify_exact(&st, huge, sizeof huge, &err) == SCRAM_PROTO,
	   "server-final rejected: longer than SCRAM_MAX_MSG");
	client_waiting_final(&st);
	ok(verify_exact(&st, "e=invalid-proof", 15, &err) == SCRAM_FAIL,
	   "server-final e=invalid-proof: FAIL");
	client_waiting_final(&st);
	ok(verify_exact(&st, "v=" PROOF44, 46, &err) == SCRAM_FAIL,
	   "server-final with a wrong signature: FAIL");
}

static void test_bad_secret(void)
{
	static const char *const cases[] = {
		"",
		"SCRAM-SHA-256$",
		"md5a3556571e93b0d20722ba62be61e8c2d",
		"SCRAM-SHA-1$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:",
		"SCRAM-SHA-256$0:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$abc:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$10000001:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA=$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$4096:$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1h==:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=AAAA",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=$x",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0= ",
		"SCRAM-SHA-256$4096:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=:",
	};
	struct scram_secret s;
	char huge[2048];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i]);
		char *buf = malloc(len + 1); /* exact, NUL included: parse_secret takes a string */
		if (buf == NULL)
			abort();
		memcpy(buf, cases[i], len + 1);
		ok(!scram_parse_secret(buf, &s), "secret rejected: case %zu \"%.40s%s\"", i + 1, buf,
		   len > 40 ? "..." : "");
		free(buf);
	}
	ok(!scram_parse_secret(NULL, &s), "secret rejected: NULL");
	ok(scram_parse_secret("SCRAM-SHA-256$10000000:XBImq7Zo/xcS5bP9F38MNA==$Yh35kPEaMvXh8qvFbRreg98h804e7rfgA/7sgY2f1hw=:7/pBmC6LynZY9+oS7+dEVrTw9EzPaY20PhifosIdt/0=",
			      &s) &&
		   s.iterations == 10000000,
	   "secret accepted: 10,000,000 iterations is the upper bound");
	snprintf(huge, sizeof huge, "SCRAM-SHA-256$4096:%0*d==$x:y", 1000, 0);
	ok(!scram_parse_secret(huge, &s), "secret rejected: oversize");
}

int main(void)
{
	test_rfc_client();
	test_rfc_server();
	test_pg_verifier();
	test_round_trips();
	test_mock();
	test_pass_through();
	test_gs2_y();
	test_bad_client_first();
	test_bad_client_final();
	test_bad_server_first();
	test_bad_server_final();
	test_bad_secret();
	printf("1..%d\n", tests_run);
	if (tests_failed)
		printf("# %d of %d failed\n", tests_failed, tests_run);
	return tests_failed ? 1 : 0;
}
