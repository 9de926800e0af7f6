/*
 * libFuzzer target for the server side of SCRAM-SHA-256 (src/pooler/scram.c, a
 * pure module): what a client that is not trusted yet sends during login.
 * Input: a mode byte, then the client-first-message, a NUL, and the
 * client-final-message; "@NONCE@" in the final one is replaced by the nonce
 * the server chose, so that the fuzzer gets past the nonce check to the
 * proof. Every message is an exactly sized heap copy (AddressSanitizer
 * catches a read past its end). Mode bit 0: a mock exchange (unknown
 * user); bit 1: the bytes after the mode byte are also parsed as a stored
 * secret. Invariants (abort on failure):
 *   - nothing authenticates: the proof of a password nobody knows never
 *     verifies, and a mock exchange never succeeds;
 *   - what the server builds fits its buffer, and every refusal says why.
 *
 * Build and run: FUZZ_TARGET=scram test/fuzz/run.sh [seconds].
 */
#include "pooler/scram.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the verifier of a long random password, computed once */
static struct scram_secret secret;
static bool have_secret;

static char *copy(const uint8_t *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (c)
		memcpy(c, p, n);
	return c;
}

/* in with "@NONCE@" replaced by nonce; caller frees */
static char *with_nonce(const uint8_t *in, size_t n, const char *nonce, size_t *outlen)
{
	static const char mark[] = "@NONCE@";
	const uint8_t *at = n >= sizeof(mark) - 1 ? memmem(in, n, mark, sizeof(mark) - 1) : NULL;
	size_t nl = strlen(nonce);

	if (!at) {
		*outlen = n;
		return copy(in, n);
	}
	size_t pre = (size_t)(at - in), post = n - pre - (sizeof(mark) - 1);
	char *c = malloc(pre + nl + post + 1);
	if (!c)
		return NULL;
	memcpy(c, in, pre);
	memcpy(c + pre, nonce, nl);
	memcpy(c + pre + nl, at + sizeof(mark) - 1, post);
	*outlen = pre + nl + post;
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scram_state st;
	char out[SCRAM_MAX_MSG + 64];
	size_t outlen = 0;
	const char *err = NULL;

	if (!have_secret) {
		static const uint8_t salt[16] = "pgsift-fuzz-salt";
		CHECK(scram_secret_from_password("a password the fuzzer cannot know: 7f3c9e1a", salt, sizeof(salt),
						 SCRAM_DEFAULT_ITERATIONS, &secret),
		      "the verifier cannot be made");
		have_secret = true;
	}
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (mode & 2) {
		char *text = malloc(size + 1);
		struct scram_secret s;
		if (!text)
			return 0;
		memcpy(text, data, size);
		text[size] = 0;
		if (scram_parse_secret(text, &s))
			CHECK(s.iterations > 0 && s.salt_len > 0 && s.salt_len <= SCRAM_MAX_SALT,
			      "a parsed secret is out of range");
		free(text);
	}
	const uint8_t *nul = memchr(data, 0, size);
	size_t n1 = nul ? (size_t)(nul - data) : size;
	scram_server_init(&st, (mode & 1) ? NULL : &secret);
	char *first = copy(data, n1);
	if (!first)
		return 0;
	enum scram_rc rc = scram_server_first(&st, first, n1, out, SCRAM_MAX_MSG, &outlen, &err);
	free(first);
	if (rc != SCRAM_CONTINUE) {
		CHECK(rc == SCRAM_PROTO && err != NULL, "a refused client-first-message without a reason");
		return 0;
	}
	CHECK(outlen > 0 && outlen <= SCRAM_MAX_MSG, "server-first-message out of its buffer");
	if (!nul)
		return 0;
	size_t n2;
	char *final = with_nonce(nul + 1, size - n1 - 1, st.server_nonce, &n2);
	if (!final)
		return 0;
	err = NULL;
	rc = scram_server_final(&st, final, n2, out, SCRAM_MAX_MSG, &outlen, &err);
	free(final);
	CHECK(rc != SCRAM_OK, "a proof of an unknown password verified");
	CHECK(rc == SCRAM_FAIL || (rc == SCRAM_PROTO && err != NULL), "a refused client-final-message without a reason");
	return 0;
}
