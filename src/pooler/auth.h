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

/* Gives u the secret auth_query returned (NULL: none, the query said NULL),
 * unless u is in auth_file, whose secret wins. */
void auth_set_dynamic_secret(struct user *u, const char *secret);

/* Clears every user's secret (auth_file unset on reload). */
void auth_clear(struct sift *s);

/* out = "md5" + hex(md5(password || user)), NUL-terminated. */
void auth_md5_password(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1]);
/* out = "md5" + hex(md5(hex32 || salt)): what a client answers to AuthMD5. */
void auth_md5_salted(const char *hex32, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1]);

/* Can a password login of u be checked at all? False for NULL, a user not
 * in auth_file and an empty secret: such logins run a mock exchange and
 * fail like a wrong password. */
bool auth_user_checkable(const struct user *u);

/* The name of the Unix user at the other end of the Unix socket fd
 * (SO_PEERCRED), for peer authentication. false when it cannot be had. */
bool auth_peer_name(int fd, char *out, size_t outlen) __attribute__((warn_unused_result));

/* Checks a cleartext password against u's secret. An empty password never
 * matches. */
bool auth_check_plain(const struct user *u, const char *password);
/* Checks an AuthMD5 response; only possible with a plaintext or md5 secret. */
bool auth_check_md5(const struct user *u, const uint8_t salt[4], const char *response);
/* The SCRAM verifier for u: stored, or derived once from a plaintext
 * secret. NULL when u has none (md5 secret or no secret). */
const struct scram_secret *auth_scram_secret(struct user *u);
/* After a SCRAM login of u succeeded: is its verifier one of the empty
 * password (which must not log in)? Worked out once per secret. */
bool auth_scram_is_empty_password(struct user *u);

/* ---- logins that must fail without saying why (struct auth_mock) ---- */

/* Draws the per-process key of the fake salts. */
void auth_mock_init(struct auth_mock *m);
/* The SCRAM exchange an unknown user name gets: fails at the end, with the
 * salt and iteration count a real verifier would show, the same for every
 * attempt with this name in this process. */
void auth_mock_scram(const struct auth_mock *m, const char *name, struct scram_state *st);
/* The work auth_check_plain() would do for a real user; always false. */
bool auth_mock_check_plain(const struct auth_mock *m, const char *name, const char *password);
/* The work auth_check_md5() would do; always false. */
bool auth_mock_check_md5(const char *name, const uint8_t salt[4], const char *response);

#endif
