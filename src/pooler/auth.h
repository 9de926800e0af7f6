/*
 * auth: the auth_file, password checks and md5 hashing.
 *
 * auth_file lines are `"user" "secret"` (a `""` inside quotes is one `"`),
 * where the secret is a plaintext password, "md5" + 32 hex digits, or a
 * SCRAM-SHA-256 verifier. Loading updates the users in the registry.
 */
#ifndef PGSIFT_AUTH_H
#define PGSIFT_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "pooler/sift.h"

#define MD5_PASSWD_LEN 35	/* "md5" + 32 hex digits */

/* (Re)reads path into the users of s. Lines that cannot be parsed are
 * warnings. Returns false with err set when the file cannot be read; the
 * users keep their old secrets then. */
bool auth_load_file(struct sift *s, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Clears every user's secret (auth_file unset on reload). */
void auth_clear(struct sift *s);

/* out = "md5" + hex(md5(password || user)), NUL-terminated. */
void auth_md5_password(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1]);
/* out = "md5" + hex(md5(hex32 || salt)): what a client answers to AuthMD5. */
void auth_md5_salted(const char *hex32, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1]);

/* Checks a cleartext password against u's secret. */
bool auth_check_plain(const struct user *u, const char *password);
/* Checks an AuthMD5 response; only possible with a plaintext or md5 secret. */
bool auth_check_md5(const struct user *u, const uint8_t salt[4], const char *response);
/* The SCRAM verifier for u: stored, or derived once from a plaintext
 * secret. NULL when u has none (md5 secret or no secret). */
const struct scram_secret *auth_scram_secret(struct user *u);

#endif
