/*
 * scram: SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it.
 *
 * The parsers follow PostgreSQL's own (src/backend/libpq/auth-scram.c for
 * the server side, src/interfaces/libpq/fe-auth-scram.c for the client
 * side), so a message PostgreSQL refuses is refused here too. Every input
 * is (pointer, length): its length is bounded and NUL bytes refused first,
 * then all reading goes through a cursor that never passes its end.
 *
 * No allocation and no global state: everything lives in struct
 * scram_state or on the stack. Key material on the stack is cleansed
 * before returning.
 */
#include "pooler/scram.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define SCRAM_MIN_ITERATIONS 1
#define SCRAM_MAX_ITERATIONS 10000000 /* PBKDF2 beyond this is a DoS, not a secret */
#define SCRAM_DEFAULT_SALT_LEN 16     /* what PostgreSQL generates */
#define SCRAM_SERVER_NONCE_RAW 18     /* PostgreSQL's size: 24 base64 chars, so a
				       * client nonce of up to 103 chars still fits
				       * the combined nonce in server_nonce[128] */
#define SCRAM_MAX_SECRET 512          /* longest stored verifier we read */
#define SCRAM_MAX_PASSWORD 1024
#define SCRAM_MAX_USERNAME 64         /* test hook only */
#define SCRAM_AUTH_MAX (3 * SCRAM_MAX_MSG + 2)

/* b64 of the gs2 headers "n,," and "y,,": the c= value of client-final */
#define SCRAM_CBIND_N "biws"
#define SCRAM_CBIND_Y "eSws"

/* Where an exchange is; 0 means "not initialised". Any error moves to
 * SCRAM_STEP_DONE so a failed exchange cannot be continued. */
enum scram_step {
	SCRAM_STEP_NONE = 0,
	SCRAM_STEP_SERVER_START,
	SCRAM_STEP_SERVER_WAIT_FINAL,
	SCRAM_STEP_CLIENT_START,
	SCRAM_STEP_CLIENT_WAIT_FIRST,
	SCRAM_STEP_CLIENT_WAIT_FINAL,
	SCRAM_STEP_DONE,
};

/* A read position inside one message; p never passes end. */
struct scram_cur {
	const char *p;
	const char *end;
};

/* ---- small helpers ---- */

static enum scram_rc scram_error(struct scram_state *st, enum scram_rc rc, const char **err,
				 const char *msg)
{
	st->step = SCRAM_STEP_DONE;
	if (err)
		*err = msg;
	return rc;
}

/* Common gate for every incoming message: bounded, non-empty, no NUL
 * (PostgreSQL refuses embedded NULs the same way). Strictly shorter than
 * SCRAM_MAX_MSG so a copy plus its NUL fits the state's buffers. */
static const char *scram_check_input(const char *in, size_t inlen)
{
	if (in == NULL || inlen == 0)
		return "empty SCRAM message";
	if (inlen >= SCRAM_MAX_MSG)
		return "SCRAM message too long";
	if (memchr(in, '\0', inlen) != NULL)
		return "SCRAM message contains a NUL byte";
	return NULL;
}

static bool scram_emit(const char *msg, size_t len, char *out, size_t outcap, size_t *outlen)
{
	if (out == NULL || len > outcap)
		return false;
	memcpy(out, msg, len);
	*outlen = len;
	return true;
}

/* RFC 5802 "printable": 0x21-0x7E except ','. Empty is not a nonce. */
static bool scram_printable(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

/* Decimal iteration count, no sign, no spaces, within our bounds. */
static bool scram_parse_iterations(const char *s, size_t len, int *out)
{
	long v = 0;

	if (len == 0 || len > 8)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < SCRAM_MIN_ITERATIONS || v > SCRAM_MAX_ITERATIONS)
		return false;
	*out = (int)v;
	return true;
}

/* ---- base64 (RFC 4648, padded; strict like PostgreSQL's pg_b64_decode) ---- */

static const char scram_b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes a NUL-terminated encoding; false if dst is too small. */
static bool scram_b64_encode(const uint8_t *src, size_t len, char *dst, size_t dstcap)
{
	size_t need = (len + 2) / 3 * 4;
	size_t o = 0;

	if (need + 1 > dstcap)
		return false;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)src[i + 1] << 8;
		if (i + 2 < len)
			v |= src[i + 2];
		dst[o++] = scram_b64_chars[(v >> 18) & 63];
		dst[o++] = scram_b64_chars[(v >> 12) & 63];
		dst[o++] = i + 1 < len ? scram_b64_chars[(v >> 6) & 63] : '=';
		dst[o++] = i + 2 < len ? scram_b64_chars[v & 63] : '=';
	}
	dst[o] = '\0';
	return true;
}

static int scram_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes src[0..len) into dst. Length must be a non-zero multiple of 4,
 * '=' only as the last one or two characters, no whitespace. */
static bool scram_b64_decode(const char *src, size_t len, uint8_t *dst, size_t dstcap,
			     size_t *outlen)
{
	size_t o = 0;

	if (len == 0 || len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = 0;
		uint32_t v = 0;
		for (int k = 0; k < 4; k++) {
			int b = scram_b64_value(src[i + k]);
			if (src[i + k] == '=' && last && k >= 2 && (k == 3 || src[i + 3] == '=')) {
				pad++;
				b = 0;
			} else if (b < 0 || pad > 0) {
				return false;
			}
			v = (v << 6) | (uint32_t)b;
		}
		if (o + (size_t)(3 - pad) > dstcap)
			return false;
		dst[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			dst[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			dst[o++] = (uint8_t)v;
	}
	*outlen = o;
	return true;
}

/* ---- attribute cursor ---- */

/* Reads "<name>=<value>" up to the next ',' or the end, leaving the cursor
 * on that ',' (or the end). Any name when name == 0 (extensions). */
static bool scram_attr(struct scram_cur *c, char name, char *got, const char **val,
		       size_t *vlen)
{
	const char *v;
	char n;

	if (c->end - c->p < 2 || c->p[1] != '=')
		return false;
	n = c->p[0];
	if (name ? n != name : !((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z')))
		return false;
	v = c->p + 2;
	c->p = v;
	while (c->p < c->end && *c->p != ',')
		c->p++;
	*val = v;
	*vlen = (size_t)(c->p - v);
	if (got)
		*got = n;
	return true;
}

static bool scram_comma(struct scram_cur *c)
{
	if (c->p >= c->end || *c->p != ',')
		return false;
	c->p++;
	return true;
}

/* ---- key derivation ---- */

static bool scram_hmac(const uint8_t *key, size_t keylen, const void *data, size_t len,
		       uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &mdlen) == NULL)
		return false;
	return mdlen == SCRAM_KEY_LEN;
}

/* SaltedPassword -> ClientKey, StoredKey, ServerKey (RFC 5802 section 3). */
static bool scram_derive(const char *password, const uint8_t *salt, size_t salt_len,
			 int iterations, uint8_t client_key[SCRAM_KEY_LEN],
			 uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	size_t plen = strnlen(password, SCRAM_MAX_PASSWORD + 1);
	bool ok;

	if (plen > SCRAM_MAX_PASSWORD)
		return false;
	ok = PKCS5_PBKDF2_HMAC(password, (int)plen, salt, (int)salt_len, iterations,
			       EVP_sha256(), SCRAM_KEY_LEN, salted) == 1 &&
	     scram_hmac(salted, sizeof salted, "Client Key", 10, client_key) &&
	     scram_hmac(salted, sizeof salted, "Server Key", 10, server_key) &&
	     SHA256(client_key, SCRAM_KEY_LEN, stored_key) != NULL;
	OPENSSL_cleanse(salted, sizeof salted);
	return ok;
}

static bool scram_secret_valid(const struct scram_secret *s)
{
	return s->iterations >= SCRAM_MIN_ITERATIONS && s->iterations <= SCRAM_MAX_ITERATIONS &&
	       s->salt_len >= 1 && s->salt_len <= SCRAM_MAX_SALT;
}

bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, struct scram_secret *out)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	bool ok;

	if (password == NULL || salt == NULL || out == NULL)
		return false;
	memset(out, 0, sizeof *out);
	out->iterations = iterations;
	out->salt_len = salt_len;
	if (!scram_secret_valid(out))
		return false;
	memcpy(out->salt, salt, salt_len);
	ok = scram_derive(password, salt, salt_len, iterations, client_key, out->stored_key,
			  out->server_key);
	OPENSSL_cleanse(client_key, sizeof client_key);
	return ok;
}

/* ---- stored secret ---- */

/* Takes the field up to sep (not included) and moves past sep. */
static bool scram_field(struct scram_cur *c, char sep, const char **f, size_t *flen)
{
	const char *s = memchr(c->p, sep, (size_t)(c->end - c->p));

	if (s == NULL)
		return false;
	*f = c->p;
	*flen = (size_t)(s - c->p);
	c->p = s + 1;
	return true;
}

static bool scram_decode_key(const char *s, size_t len, uint8_t key[SCRAM_KEY_LEN])
{
	size_t n = 0;

	return scram_b64_decode(s, len, key, SCRAM_KEY_LEN, &n) && n == SCRAM_KEY_LEN;
}

bool scram_parse_secret(const char *text, struct scram_secret *out)
{
	static const char prefix[] = "SCRAM-SHA-256$";
	struct scram_cur c;
	const char *iter, *salt, *stored;
	size_t iter_len, salt_len, stored_len, len;

	if (text == NULL || out == NULL)
		return false;
	len = strnlen(text, SCRAM_MAX_SECRET + 1);
	if (len > SCRAM_MAX_SECRET || len < sizeof prefix - 1 ||
	    memcmp(text, prefix, sizeof prefix - 1) != 0)
		return false;
	memset(out, 0, sizeof *out);
	c.p = text + sizeof prefix - 1;
	c.end = text + len;
	if (!scram_field(&c, ':', &iter, &iter_len) || !scram_field(&c, '$', &salt, &salt_len) ||
	    !scram_field(&c, ':', &stored, &stored_len))
		return false;
	/* what is left is the ServerKey */
	return scram_parse_iterations(iter, iter_len, &out->iterations) &&
	       scram_b64_decode(salt, salt_len, out->salt, SCRAM_MAX_SALT, &out->salt_len) &&
	       scram_decode_key(stored, stored_len, out->stored_key) &&
	       scram_decode_key(c.p, (size_t)(c.end - c.p), out->server_key);
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof.
 * Returns its length, 0 when it does not fit (cannot happen with bounded input). */
static size_t scram_auth_message(const struct scram_state *st, const char *server_first,
				 size_t sflen, const char *final_wp, size_t wplen,
				 char buf[SCRAM_AUTH_MAX])
{
	size_t blen = strnlen(st->client_first_bare, sizeof st->client_first_bare);
	size_t n = blen + 1 + sflen + 1 + wplen;

	if (n > SCRAM_AUTH_MAX)
		return 0;
	memcpy(buf, st->client_first_bare, blen);
	buf[blen] = ',';
	memcpy(buf + blen + 1, server_first, sflen);
	buf[blen + 1 + sflen] = ',';
	memcpy(buf + blen + 2 + sflen, final_wp, wplen);
	return n;
}

/* ---- server side ---- */

void scram_server_init(struct scram_state *st, const struct scram_secret *secret)
{
	memset(st, 0, sizeof *st);
	st->step = SCRAM_STEP_SERVER_START;
	if (secret != NULL && scram_secret_valid(secret)) {
		st->secret = *secret;
		return;
	}
	/* Unknown user (or an unusable secret): a plausible secret with random
	 * keys, so the exchange looks and costs the same but cannot succeed. */
	st->mock = true;
	st->secret.iterations = SCRAM_DEFAULT_ITERATIONS;
	st->secret.salt_len = SCRAM_DEFAULT_SALT_LEN;
	/* A RAND failure leaves zeros: harmless, mock fails at the end anyway. */
	(void)(RAND_bytes(st->secret.salt, SCRAM_DEFAULT_SALT_LEN) == 1 &&
	       RAND_bytes(st->secret.stored_key, SCRAM_KEY_LEN) == 1 &&
	       RAND_bytes(st->secret.server_key, SCRAM_KEY_LEN) == 1);
}

void scram_server_init_mock(struct scram_state *st, const uint8_t *salt, size_t salt_len, int iterations)
{
	scram_server_init(st, NULL);
	if (salt_len == 0 || salt_len > SCRAM_MAX_SALT || iterations < SCRAM_MIN_ITERATIONS ||
	    iterations > SCRAM_MAX_ITERATIONS)
		return; /* keeps the random salt of scram_server_init(NULL) */
	memcpy(st->secret.salt, salt, salt_len);
	st->secret.salt_len = salt_len;
	st->secret.iterations = iterations;
}

/* gs2-header: "n,," or "y,," (no authzid, no channel binding). Leaves the
 * cursor at client-first-bare. */
static const char *scram_parse_gs2(struct scram_state *st, struct scram_cur *c)
{
	char flag = c->p[0]; /* input is non-empty */

	if (flag == 'p')
		return "SCRAM channel binding is not supported";
	if (flag != 'n' && flag != 'y')
		return "malformed SCRAM message (bad gs2 channel-binding flag)";
	c->p++;
	if (!scram_comma(c))
		return "malformed SCRAM message (comma expected after gs2 flag)";
	if (c->p < c->end && *c->p == 'a')
		return "SCRAM authorization identity is not supported";
	if (!scram_comma(c))
		return "malformed SCRAM message (comma expected after gs2 header)";
	st->cbind_flag = flag;
	return NULL;
}

/* client-first-bare: [reserved-mext ","] username "," nonce ["," extensions].
 * The username is ignored (PostgreSQL uses the startup packet's). */
static const char *scram_parse_client_first(struct scram_state *st, const char *in,
					    size_t inlen, const char **nonce, size_t *nlen)
{
	struct scram_cur c = {in, in + inlen};
	const char *bare, *v, *e;
	size_t vlen;
	char name;

	e = scram_parse_gs2(st, &c);
	if (e)
		return e;
	bare = c.p;
	if (c.end - c.p >= 2 && c.p[0] == 'm' && c.p[1] == '=')
		return "SCRAM mandatory extensions are not supported";
	if (!scram_attr(&c, 'n', NULL, &v, &vlen))
		return "malformed SCRAM message (username expected)";
	if (!scram_comma(&c) || !scram_attr(&c, 'r', NULL, nonce, nlen))
		return "malformed SCRAM message (nonce expected)";
	if (!scram_printable(*nonce, *nlen))
		return "malformed SCRAM message (nonce not printable)";
	while (c.p < c.end) {
		if (!scram_comma(&c) || !scram_attr(&c, 0, &name, &v, &vlen))
			return "malformed SCRAM message (bad extension)";
	}
	/* bare is shorter than in, which is shorter than SCRAM_MAX_MSG */
	memcpy(st->client_first_bare, bare, (size_t)(c.end - bare));
	st->client_first_bare[c.end - bare] = '\0';
	return NULL;
}

/* Combined nonce = client nonce + server part (a fixed one from the test
 * hook, else fresh random). */
static const char *scram_server_nonce(struct scram_state *st, const char *cn, size_t cnlen)
{
	char part[sizeof st->server_nonce];
	uint8_t raw[SCRAM_SERVER_NONCE_RAW];
	size_t plen;

	if (st->server_nonce[0] != '\0') {
		memcpy(part, st->server_nonce, sizeof part);
	} else {
		if (RAND_bytes(raw, sizeof raw) != 1 ||
		    !scram_b64_encode(raw, sizeof raw, part, sizeof part))
			return "could not generate SCRAM nonce";
	}
	plen = strnlen(part, sizeof part - 1);
	if (cnlen + plen >= sizeof st->server_nonce)
		return "SCRAM client nonce too long";
	memcpy(st->server_nonce, cn, cnlen);
	memcpy(st->server_nonce + cnlen, part, plen);
	st->server_nonce[cnlen + plen] = '\0';
	if (cnlen < sizeof st->client_nonce) {
		memcpy(st->client_nonce, cn, cnlen);
		st->client_nonce[cnlen] = '\0';
	}
	return NULL;
}

enum scram_rc scram_server_first(struct scram_state *st, const char *in, size_t inlen,
				 char *out, size_t outcap, size_t *outlen, const char **err)
{
	char salt[SCRAM_MAX_SALT * 2];
	const char *nonce, *e;
	size_t nlen;
	int n;

	*outlen = 0;
	if (st->step != SCRAM_STEP_SERVER_START)
		return scram_error(st, SCRAM_PROTO, err, "SCRAM message out of order");
	e = scram_check_input(in, inlen);
	if (!e)
		e = scram_parse_client_first(st, in, inlen, &nonce, &nlen);
	if (!e)
		e = scram_server_nonce(st, nonce, nlen);
	if (e)
		return scram_error(st, SCRAM_PROTO, err, e);
	if (!scram_b64_encode(st->secret.salt, st->secret.salt_len, salt, sizeof salt))
		return scram_error(st, SCRAM_PROTO, err, "SCRAM salt too long");
	n = snprintf(st->server_first, sizeof st->server_first, "r=%s,s=%s,i=%d",
		     st->server_nonce, salt, st->secret.iterations);
	if (n < 0 || (size_t)n >= sizeof st->server_first ||
	    !scram_emit(st->server_first, (size_t)n, out, outcap, outlen))
		return scram_error(st, SCRAM_PROTO, err, "SCRAM output buffer too small");
	st->step = SCRAM_STEP_SERVER_WAIT_FINAL;
	return SCRAM_CONTINUE;
}

/* client-final-message: "c=" cbind "," "r=" nonce ["," extensions] "," "p=" proof.
 * *wplen is the length of client-final-message-without-proof. */
static const char *scram_parse_client_final(const struct scram_state *st, const char *in,
					    size_t inlen, size_t *wplen,
					    uint8_t proof[SCRAM_KEY_LEN])
{
	struct scram_cur c = {in, in + inlen};
	const char *v, *wp_end;
	const char *want = st->cbind_flag == 'y' ? SCRAM_CBIND_Y : SCRAM_CBIND_N;
	size_t vlen, nlen = strnlen(st->server_nonce, sizeof st->server_nonce);
	char name = 0;

	if (!scram_attr(&c, 'c', NULL, &v, &vlen) || !scram_comma(&c))
		return "malformed SCRAM message (channel binding expected)";
	if (vlen != strlen(want) || memcmp(v, want, vlen) != 0)
		return "unexpected SCRAM channel-binding attribute";
	if (!scram_attr(&c, 'r', NULL, &v, &vlen))
		return "malformed SCRAM message (nonce expected)";
	if (vlen != nlen || CRYPTO_memcmp(v, st->server_nonce, nlen) != 0)
		return "SCRAM nonce mismatch";
	do {
		wp_end = c.p;
		if (!scram_comma(&c) || !scram_attr(&c, 0, &name, &v, &vlen))
			return "malformed SCRAM message (proof expected)";
	} while (name != 'p');
	if (c.p != c.end)
		return "malformed SCRAM message (garbage after proof)";
	if (!scram_decode_key(v, vlen, proof))
		return "malformed SCRAM proof";
	*wplen = (size_t)(wp_end - in);
	return NULL;
}

/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof is
 * good when H(ClientKey) == StoredKey. On success also builds "v=". */
static bool scram_server_check(struct scram_state *st, const char *auth, size_t alen,
			       const uint8_t proof[SCRAM_KEY_LEN], char *vbuf, size_t vcap)
{
	uint8_t sig[SCRAM_KEY_LEN] = {0}, key[SCRAM_KEY_LEN], hash[SCRAM_KEY_LEN];
	bool ok;

	ok = scram_hmac(st->secret.stored_key, SCRAM_KEY_LEN, auth, alen, sig);
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	ok = ok && SHA256(key, SCRAM_KEY_LEN, hash) != NULL &&
	     CRYPTO_memcmp(hash, st->secret.stored_key, SCRAM_KEY_LEN) == 0 && !st->mock;
	ok = ok && scram_hmac(st->secret.server_key, SCRAM_KEY_LEN, auth, alen,
			      st->server_signature);
	if (ok) {
		memcpy(vbuf, "v=", 2);
		ok = scram_b64_encode(st->server_signature, SCRAM_KEY_LEN, vbuf + 2, vcap - 2);
	}
	if (ok)
		memcpy(st->client_key, key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(sig, sizeof sig);
	return ok;
}

enum scram_rc scram_server_final(struct scram_state *st, const char *in, size_t inlen,
				 char *out, size_t outcap, size_t *outlen, const char **err)
{
	char auth[SCRAM_AUTH_MAX], vbuf[64];
	uint8_t proof[SCRAM_KEY_LEN];
	const char *e;
	size_t wplen = 0, alen;

	*outlen = 0;
	if (st->step != SCRAM_STEP_SERVER_WAIT_FINAL)
		return scram_error(st, SCRAM_PROTO, err, "SCRAM message out of order");
	e = scram_check_input(in, inlen);
	if (!e)
		e = scram_parse_client_final(st, in, inlen, &wplen, proof);
	if (e)
		return scram_error(st, SCRAM_PROTO, err, e);
	alen = scram_auth_message(st, st->server_first,
				  strnlen(st->server_first, sizeof st->server_first), in, wplen,
				  auth);
	if (alen == 0)
		return scram_error(st, SCRAM_PROTO, err, "SCRAM message too long");
	if (!scram_server_check(st, auth, alen, proof, vbuf, sizeof vbuf))
		return scram_error(st, SCRAM_FAIL, err, "SCRAM authentication failed");
	if (!scram_emit(vbuf, strlen(vbuf), out, outcap, outlen)) {
		OPENSSL_cleanse(st->client_key, SCRAM_KEY_LEN);
		return scram_error(st, SCRAM_PROTO, err, "SCRAM output buffer too small");
	}
	st->step = SCRAM_STEP_DONE;
	return SCRAM_OK;
}

/* ---- client side ---- */

bool scram_client_init(struct scram_state *st, const char *password)
{
	size_t len;

	memset(st, 0, sizeof *st);
	if (password == NULL)
		return false;
	len = strnlen(password, sizeof st->password);
	if (len >= sizeof st->password)
		return false;
	memcpy(st->password, password, len + 1);
	st->step = SCRAM_STEP_CLIENT_START;
	return true;
}

void scram_client_init_keys(struct scram_state *st, const uint8_t client_key[SCRAM_KEY_LEN],
			    const struct scram_secret *secret)
{
	memset(st, 0, sizeof *st);
	st->step = SCRAM_STEP_CLIENT_START;
	st->have_client_key = true;
	if (client_key == NULL || secret == NULL)
		return; /* salt_len 0 matches no server: scram_client_final fails */
	memcpy(st->client_key, client_key, SCRAM_KEY_LEN);
	st->secret = *secret;
	if (!scram_secret_valid(&st->secret))
		st->secret.salt_len = 0;
}

bool scram_client_first(struct scram_state *st, char *out, size_t outcap, size_t *outlen)
{
	char user[SCRAM_MAX_USERNAME + 1];
	uint8_t raw[SCRAM_NONCE_LEN];
	size_t ulen;
	int n;

	*outlen = 0;
	if (st->step != SCRAM_STEP_CLIENT_START)
		return false;
	/* client_first_bare may hold a test-hook username until now */
	ulen = strnlen(st->client_first_bare, SCRAM_MAX_USERNAME);
	memcpy(user, st->client_first_bare, ulen);
	user[ulen] = '\0';
	if (st->client_nonce[0] == '\0' &&
	    (RAND_bytes(raw, sizeof raw) != 1 ||
	     !scram_b64_encode(raw, sizeof raw, st->client_nonce, sizeof st->client_nonce)))
		return false;
	n = snprintf(st->client_first_bare, sizeof st->client_first_bare, "n=%s,r=%s", user,
		     st->client_nonce);
	if (n < 0 || (size_t)n >= sizeof st->client_first_bare || (size_t)n + 3 > outcap ||
	    out == NULL)
		return false;
	memcpy(out, "n,,", 3);
	memcpy(out + 3, st->client_first_bare, (size_t)n);
	*outlen = (size_t)n + 3;
	st->step = SCRAM_STEP_CLIENT_WAIT_FIRST;
	return true;
}

/* server-first-message: "r=" nonce "," "s=" salt "," "i=" iterations.
 * Like libpq, nothing may follow the iteration count. */
static const char *scram_parse_server_first(struct scram_state *st, const char *in,
					    size_t inlen, uint8_t *salt, size_t *salt_len,
					    int *iterations)
{
	struct scram_cur c = {in, in + inlen};
	size_t cnlen = strnlen(st->client_nonce, sizeof st->client_nonce);
	const char *v;
	size_t vlen;

	if (!scram_attr(&c, 'r', NULL, &v, &vlen) || !scram_comma(&c))
		return "malformed SCRAM message (nonce expected)";
	if (!scram_printable(v, vlen) || vlen <= cnlen || memcmp(v, st->client_nonce, cnlen) != 0)
		return "SCRAM nonce mismatch";
	if (vlen >= sizeof st->server_nonce)
		return "SCRAM server nonce too long";
	memcpy(st->server_nonce, v, vlen);
	st->server_nonce[vlen] = '\0';
	if (!scram_attr(&c, 's', NULL, &v, &vlen))
		return "malformed SCRAM message (salt expected)";
	if (!scram_b64_decode(v, vlen, salt, SCRAM_MAX_SALT, salt_len))
		return "malformed SCRAM salt";
	if (!scram_comma(&c) || !scram_attr(&c, 'i', NULL, &v, &vlen))
		return "malformed SCRAM message (iteration count expected)";
	if (!scram_parse_iterations(v, vlen, iterations))
		return "invalid SCRAM iteration count";
	if (c.p != c.end)
		return "malformed SCRAM message (garbage after iteration count)";
	return NULL;
}

/* Fills ClientKey, StoredKey and ServerKey for this server's salt and
 * iteration count: from the password, or from the pass-through keys. */
static enum scram_rc scram_client_keys(struct scram_state *st, const uint8_t *salt,
				       size_t salt_len, int iterations, uint8_t ck[SCRAM_KEY_LEN],
				       uint8_t sk[SCRAM_KEY_LEN], uint8_t svk[SCRAM_KEY_LEN],
				       const char **err)
{
	if (st->have_client_key) {
		if (salt_len != st->secret.salt_len || iterations != st->secret.iterations ||
		    memcmp(salt, st->secret.salt, salt_len) != 0)
			return scram_error(st, SCRAM_FAIL, err,
					   "server's SCRAM salt or iteration count differs "
					   "from the stored secret");
		memcpy(ck, st->client_key, SCRAM_KEY_LEN);
		memcpy(sk, st->secret.stored_key, SCRAM_KEY_LEN);
		memcpy(svk, st->secret.server_key, SCRAM_KEY_LEN);
		return SCRAM_CONTINUE;
	}
	if (!scram_derive(st->password, salt, salt_len, iterations, ck, sk, svk))
		return scram_error(st, SCRAM_PROTO, err, "SCRAM key derivation failed");
	return SCRAM_CONTINUE;
}

/* Builds "c=biws,r=<nonce>,p=<proof>" into msg, remembering ServerSignature. */
static bool scram_client_proof(struct scram_state *st, const char *in, size_t inlen,
			       const uint8_t ck[SCRAM_KEY_LEN], const uint8_t sk[SCRAM_KEY_LEN],
			       const uint8_t svk[SCRAM_KEY_LEN], char *msg, size_t cap)
{
	char auth[SCRAM_AUTH_MAX];
	uint8_t sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	size_t alen;
	int n;

	n = snprintf(msg, cap, "c=" SCRAM_CBIND_N ",r=%s", st->server_nonce);
	if (n < 0 || (size_t)n >= cap)
		return false;
	alen = scram_auth_message(st, in, inlen, msg, (size_t)n, auth);
	if (alen == 0 || !scram_hmac(sk, SCRAM_KEY_LEN, auth, alen, sig) ||
	    !scram_hmac(svk, SCRAM_KEY_LEN, auth, alen, st->server_signature))
		return false;
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = ck[i] ^ sig[i];
	if ((size_t)n + 3 >= cap)
		return false;
	memcpy(msg + n, ",p=", 3);
	return scram_b64_encode(proof, SCRAM_KEY_LEN, msg + n + 3, cap - (size_t)n - 3);
}

enum scram_rc scram_client_final(struct scram_state *st, const char *in, size_t inlen,
				 char *out, size_t outcap, size_t *outlen, const char **err)
{
	uint8_t salt[SCRAM_MAX_SALT], ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN], svk[SCRAM_KEY_LEN];
	char msg[SCRAM_MAX_MSG];
	size_t salt_len = 0;
	int iterations = 0;
	enum scram_rc rc;
	const char *e;

	*outlen = 0;
	if (st->step != SCRAM_STEP_CLIENT_WAIT_FIRST)
		return scram_error(st, SCRAM_PROTO, err, "SCRAM message out of order");
	e = scram_check_input(in, inlen);
	if (!e)
		e = scram_parse_server_first(st, in, inlen, salt, &salt_len, &iterations);
	if (e)
		return scram_error(st, SCRAM_PROTO, err, e);
	memcpy(st->server_first, in, inlen); /* inlen < SCRAM_MAX_MSG */
	st->server_first[inlen] = '\0';
	rc = scram_client_keys(st, salt, salt_len, iterations, ck, sk, svk, err);
	if (rc == SCRAM_CONTINUE &&
	    (!scram_client_proof(st, in, inlen, ck, sk, svk, msg, sizeof msg) ||
	     !scram_emit(msg, strlen(msg), out, outcap, outlen)))
		rc = scram_error(st, SCRAM_PROTO, err, "could not build SCRAM client-final-message");
	OPENSSL_cleanse(ck, sizeof ck);
	OPENSSL_cleanse(svk, sizeof svk);
	OPENSSL_cleanse(st->password, sizeof st->password); /* not needed any more */
	if (rc == SCRAM_CONTINUE)
		st->step = SCRAM_STEP_CLIENT_WAIT_FINAL;
	return rc;
}

enum scram_rc scram_client_verify(struct scram_state *st, const char *in, size_t inlen,
				  const char **err)
{
	struct scram_cur c = {in, in + inlen};
	uint8_t sig[SCRAM_KEY_LEN];
	const char *v, *e;
	size_t vlen;

	if (st->step != SCRAM_STEP_CLIENT_WAIT_FINAL)
		return scram_error(st, SCRAM_PROTO, err, "SCRAM message out of order");
	e = scram_check_input(in, inlen);
	if (e)
		return scram_error(st, SCRAM_PROTO, err, e);
	if (scram_attr(&c, 'e', NULL, &v, &vlen))
		return scram_error(st, SCRAM_FAIL, err, "server reported a SCRAM error");
	if (!scram_attr(&c, 'v', NULL, &v, &vlen) || c.p != c.end)
		return scram_error(st, SCRAM_PROTO, err, "malformed SCRAM server-final-message");
	if (!scram_decode_key(v, vlen, sig))
		return scram_error(st, SCRAM_PROTO, err, "malformed SCRAM server signature");
	if (CRYPTO_memcmp(sig, st->server_signature, SCRAM_KEY_LEN) != 0)
		return scram_error(st, SCRAM_FAIL, err, "incorrect SCRAM server signature");
	st->step = SCRAM_STEP_DONE;
	return SCRAM_OK;
}

/* ---- test hooks ---- */

void scram_test_set_nonce(struct scram_state *st, const char *nonce)
{
	size_t len = strnlen(nonce, sizeof st->client_nonce);
	char *dst;

	if (st->step == SCRAM_STEP_CLIENT_START)
		dst = st->client_nonce;
	else if (st->step == SCRAM_STEP_SERVER_START)
		dst = st->server_nonce; /* the server's part until scram_server_first */
	else
		return;
	if (len >= sizeof st->client_nonce || !scram_printable(nonce, len))
		return;
	memcpy(dst, nonce, len + 1);
}

void scram_test_set_username(struct scram_state *st, const char *user)
{
	size_t len = strnlen(user, SCRAM_MAX_USERNAME + 1);

	if (st->step != SCRAM_STEP_CLIENT_START || len > SCRAM_MAX_USERNAME ||
	    strpbrk(user, ",=") != NULL)
		return;
	/* stashed in client_first_bare, which scram_client_first overwrites */
	memcpy(st->client_first_bare, user, len + 1);
}
