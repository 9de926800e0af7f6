/*
 * scram: SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it, for
 * both ends of the pooler: the server side authenticates clients against an
 * auth_file secret, the client side logs pgsift in to PostgreSQL.
 *
 * Pure module: OpenSSL primitives only, no sockets, no allocation. Every
 * message is passed in as (pointer, length) and written to a caller buffer.
 * Channel binding is not offered (gs2 header "n,," or "y,,").
 */
#ifndef PGSIFT_SCRAM_H
#define PGSIFT_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32           /* SHA-256 */
#define SCRAM_MAX_SALT 64          /* decoded salt bytes we accept */
#define SCRAM_NONCE_LEN 24         /* random bytes before base64 */
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MAX_MSG 1024         /* longest exchange message we build or accept */

/* A stored verifier, as in pg_authid.rolpassword:
 * "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>" */
struct scram_secret {
	int iterations;
	size_t salt_len;
	uint8_t salt[SCRAM_MAX_SALT];
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

enum scram_rc {
	SCRAM_CONTINUE,   /* message built into out; wait for the peer's next one */
	SCRAM_OK,         /* exchange finished and verified */
	SCRAM_FAIL,       /* wrong password / proof / signature */
	SCRAM_PROTO       /* malformed message; *err says what */
};

/* One exchange, either side. Fixed size, lives inside the connection. */
struct scram_state {
	int step;
	bool mock;                         /* server side: unknown user, always fails */
	bool have_client_key;              /* client side: keys given instead of password */
	struct scram_secret secret;
	uint8_t client_key[SCRAM_KEY_LEN]; /* server side: recovered on success */
	char password[128];                /* client side; NUL-terminated */
	char client_nonce[128];
	char server_nonce[128];            /* full combined nonce (client+server part) */
	char client_first_bare[SCRAM_MAX_MSG];
	char server_first[SCRAM_MAX_MSG];
	uint8_t server_signature[SCRAM_KEY_LEN];
	char cbind_flag;                   /* server side: gs2 flag ('n' or 'y') the client
	                                    * sent first, checked against c= in its final */
};

/* Parses a stored verifier. Returns false and leaves *out unspecified when
 * text is not a well-formed SCRAM-SHA-256 secret. */
bool scram_parse_secret(const char *text, struct scram_secret *out)
	__attribute__((warn_unused_result));

/* Derives a verifier from a plaintext password with the given salt and
 * iteration count (as PostgreSQL does, without SASLprep for ASCII input). */
bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, struct scram_secret *out)
	__attribute__((warn_unused_result));

/* ---- server side (pgsift authenticating a client) ---- */

/* Starts an exchange. secret == NULL makes a mock exchange that runs to the
 * end and then fails (so unknown users look like wrong passwords). */
void scram_server_init(struct scram_state *st, const struct scram_secret *secret);
/* A mock exchange (it always fails) that shows the given salt and iteration
 * count, so that a repeated login for the same unknown user sees the same
 * challenge, as it would for a real one. Out-of-range values keep a random
 * salt and the default count. */
void scram_server_init_mock(struct scram_state *st, const uint8_t *salt, size_t salt_len, int iterations);

/* in = client-first-message (SASLInitialResponse data). Builds the
 * server-first-message into out (not NUL-terminated), *outlen its length.
 * Returns SCRAM_CONTINUE, or SCRAM_PROTO with *err set (static string). */
enum scram_rc scram_server_first(struct scram_state *st, const char *in, size_t inlen,
				 char *out, size_t outcap, size_t *outlen, const char **err)
	__attribute__((warn_unused_result));

/* in = client-final-message. On a valid proof returns SCRAM_OK and builds
 * the server-final-message ("v=...") into out; st->client_key then holds
 * the client's ClientKey. Returns SCRAM_FAIL on a wrong proof, SCRAM_PROTO
 * on a malformed message or nonce mismatch. */
enum scram_rc scram_server_final(struct scram_state *st, const char *in, size_t inlen,
				 char *out, size_t outcap, size_t *outlen, const char **err)
	__attribute__((warn_unused_result));

/* ---- client side (pgsift logging in to PostgreSQL) ---- */

/* Starts an exchange with a plaintext password (truncated copies are refused:
 * returns false when the password does not fit). */
bool scram_client_init(struct scram_state *st, const char *password)
	__attribute__((warn_unused_result));

/* Starts an exchange with keys instead of a password (SCRAM pass-through:
 * ClientKey recovered from a client's exchange plus the stored verifier). */
void scram_client_init_keys(struct scram_state *st, const uint8_t client_key[SCRAM_KEY_LEN],
			    const struct scram_secret *secret);

/* Builds the client-first-message ("n,,n=,r=<nonce>"). */
bool scram_client_first(struct scram_state *st, char *out, size_t outcap, size_t *outlen)
	__attribute__((warn_unused_result));

/* in = server-first-message. Builds client-final-message into out.
 * With keys (init_keys) the server's salt and iterations must match the
 * stored secret, else SCRAM_FAIL. */
enum scram_rc scram_client_final(struct scram_state *st, const char *in, size_t inlen,
				 char *out, size_t outcap, size_t *outlen, const char **err)
	__attribute__((warn_unused_result));

/* in = server-final-message. SCRAM_OK when the server signature verifies. */
enum scram_rc scram_client_verify(struct scram_state *st, const char *in, size_t inlen,
				  const char **err)
	__attribute__((warn_unused_result));

/* ---- for tests only: fixed nonces and a client-side username ---- */

/* Fixes the nonce instead of drawing it from RAND_bytes, so known vectors
 * (RFC 7677) can be reproduced. Call right after scram_client_init* (sets
 * the client nonce) or scram_server_init (sets the server's part appended
 * to the client nonce). Too long or non-printable nonces are ignored. Never
 * call this outside tests: fixed nonces make the exchange replayable. */
void scram_test_set_nonce(struct scram_state *st, const char *nonce);

/* Client side only: sends "n=<user>" instead of PostgreSQL's "n=" (the RFC
 * vector uses "n=user"). Call after scram_client_init*, before
 * scram_client_first. Names with ',' or '=' or longer than 64 are ignored. */
void scram_test_set_username(struct scram_state *st, const char *user);

#endif
