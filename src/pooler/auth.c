/*
 * auth: see auth.h.
 */
#include "pooler/auth.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pwd.h>
#include <sys/socket.h>

#include "util/log.h"
#include "pooler/objects.h"

#define AUTH_LINE_MAX 65664	/* a secret of 65535 bytes (PostgreSQL's longest password), quotes, name */
#define MOCK_SALT_LEN 16	/* what PostgreSQL generates */

static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) || !EVP_DigestUpdate(ctx, a, alen) ||
	    !EVP_DigestUpdate(ctx, b, blen) || !EVP_DigestFinal_ex(ctx, d, &dlen) || dlen != 16) {
		EVP_MD_CTX_free(ctx);
		memset(out, 0, 33); /* an empty hash matches nothing a client sends */
		return;
	}
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[32] = 0;
}

void auth_md5_password(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1])
{
	memcpy(out, "md5", 3);
	md5_hex(password, strlen(password), user, strlen(user), out + 3);
}

void auth_md5_salted(const char *hex32, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1])
{
	memcpy(out, "md5", 3);
	md5_hex(hex32, 32, salt, 4, out + 3);
}

static bool is_md5_secret(const char *s)
{
	if (strncmp(s, "md5", 3) != 0 || strlen(s) != MD5_PASSWD_LEN)
		return false;
	for (int i = 3; i < MD5_PASSWD_LEN; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool secret_eq(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

bool auth_user_checkable(const struct user *u)
{
	return u && u->secret && u->secret_kind != SECRET_NONE;
}

bool auth_check_plain(const struct user *u, const char *password)
{
	char md5[MD5_PASSWD_LEN + 1];
	struct scram_secret sc;

	if (!*password) /* as PostgreSQL: an empty password is never one */
		return false;
	switch (u->secret_kind) {
	case SECRET_PLAIN:
		return secret_eq(u->secret, password);
	case SECRET_MD5:
		auth_md5_password(password, u->name, md5);
		return secret_eq(u->secret, md5);
	case SECRET_SCRAM:
		if (!scram_secret_from_password(password, u->scram.salt, u->scram.salt_len, u->scram.iterations, &sc))
			return false;
		return CRYPTO_memcmp(sc.stored_key, u->scram.stored_key, SCRAM_KEY_LEN) == 0 &&
		       CRYPTO_memcmp(sc.server_key, u->scram.server_key, SCRAM_KEY_LEN) == 0;
	default:
		return false;
	}
}

bool auth_check_md5(const struct user *u, const uint8_t salt[4], const char *response)
{
	char hashed[MD5_PASSWD_LEN + 1], expect[MD5_PASSWD_LEN + 1];

	if (u->secret_kind == SECRET_PLAIN)
		auth_md5_password(u->secret, u->name, hashed);
	else if (u->secret_kind == SECRET_MD5)
		memcpy(hashed, u->secret, sizeof(hashed));
	else
		return false;
	auth_md5_salted(hashed + 3, salt, expect);
	return secret_eq(expect, response);
}

const struct scram_secret *auth_scram_secret(struct user *u)
{
	uint8_t salt[16];

	if (u->has_scram)
		return &u->scram;
	if (u->secret_kind != SECRET_PLAIN)
		return NULL;
	/* derived once per secret: PBKDF2 is deliberately slow */
	sift_random(salt, sizeof(salt));
	if (!scram_secret_from_password(u->secret, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS, &u->scram))
		return NULL;
	u->has_scram = true;
	return &u->scram;
}

bool auth_scram_is_empty_password(struct user *u)
{
	struct scram_secret sc;

	if (u->secret_kind != SECRET_SCRAM) /* a plaintext one is never empty */
		return false;
	if (u->empty_check == 0) {
		/* PBKDF2 once per secret, and only after a login succeeded */
		bool empty = scram_secret_from_password("", u->scram.salt, u->scram.salt_len, u->scram.iterations, &sc) &&
			     CRYPTO_memcmp(sc.stored_key, u->scram.stored_key, SCRAM_KEY_LEN) == 0;
		u->empty_check = empty ? 2 : 1;
		if (empty)
			log_warning("auth_file: the SCRAM verifier of user \"%s\" is one of an empty password; "
				    "it cannot log in with a password", u->name);
	}
	return u->empty_check == 2;
}

/* ---- mock logins ---- */

void auth_mock_init(struct auth_mock *m)
{
	sift_random(m->key, sizeof(m->key));
	m->scram = false;
	m->iterations = SCRAM_DEFAULT_ITERATIONS;
}

static void mock_salt(const struct auth_mock *m, const char *name, uint8_t out[MOCK_SALT_LEN])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!HMAC(EVP_sha256(), m->key, sizeof(m->key), (const unsigned char *)name, strlen(name), d, &dlen) ||
	    dlen < MOCK_SALT_LEN)
		memcpy(d, m->key, MOCK_SALT_LEN); /* cannot happen; still fixed per process */
	memcpy(out, d, MOCK_SALT_LEN);
}

void auth_mock_scram(const struct auth_mock *m, const char *name, struct scram_state *st)
{
	uint8_t salt[MOCK_SALT_LEN];

	mock_salt(m, name, salt);
	scram_server_init_mock(st, salt, sizeof(salt), m->iterations);
}

bool auth_mock_check_plain(const struct auth_mock *m, const char *name, const char *password)
{
	char md5[MD5_PASSWD_LEN + 1];
	uint8_t salt[MOCK_SALT_LEN];
	struct scram_secret sc;

	if (!*password)
		return false;
	if (m->scram) { /* what a SCRAM verifier costs: PBKDF2 */
		mock_salt(m, name, salt);
		if (scram_secret_from_password(password, salt, sizeof(salt), m->iterations, &sc))
			OPENSSL_cleanse(&sc, sizeof(sc));
	} else {
		auth_md5_password(password, name, md5);
		(void)secret_eq(md5, name);
	}
	return false;
}

bool auth_mock_check_md5(const char *name, const uint8_t salt[4], const char *response)
{
	char hashed[MD5_PASSWD_LEN + 1], expect[MD5_PASSWD_LEN + 1];

	auth_md5_password(name, name, hashed);
	auth_md5_salted(hashed + 3, salt, expect);
	(void)secret_eq(expect, response);
	return false;
}

/* What unknown users get: the exchange and iteration count of most users
 * in auth_file (PostgreSQL takes them from password_encryption). */
static void mock_follow_file(struct sift *s)
{
	int iters[8] = { 0 }, counts[8] = { 0 }, nscram = 0, nother = 0, best = 0;
	struct list *it;

	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		int i = 0;
		if (!u->in_auth_file || !auth_user_checkable(u))
			continue;
		if (u->secret_kind != SECRET_SCRAM) {
			nother++;
			continue;
		}
		nscram++;
		while (i < 7 && iters[i] && iters[i] != u->scram.iterations)
			i++;
		iters[i] = u->scram.iterations;
		counts[i]++;
	}
	for (int i = 1; i < 8; i++)
		if (counts[i] > counts[best])
			best = i;
	s->mock.scram = nscram > nother;
	s->mock.iterations = iters[best] ? iters[best] : SCRAM_DEFAULT_ITERATIONS;
}

/* Reads one quoted token at *p into out. false on a syntax error. */
static bool quoted_token(const char **pp, char *out, size_t outlen)
{
	const char *p = *pp;
	size_t n = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (*p != '"')
		return false;
	for (p++;; p++) {
		if (*p == 0)
			return false;
		if (*p == '"') {
			if (p[1] != '"')
				break;
			p++;
		}
		if (n + 1 >= outlen)
			return false;
		out[n++] = *p;
	}
	out[n] = 0;
	*pp = p + 1;
	return true;
}

static bool is_md5_of_empty(const char *secret, const char *user)
{
	char md5[MD5_PASSWD_LEN + 1];

	auth_md5_password("", user, md5);
	return strcasecmp(md5, secret) == 0;
}

/* An empty secret (what an export of pg_shadow writes for a role without
 * a password), or the md5 hash of an empty password, is no secret: such a
 * user logs in only under trust or any. */
static void user_set_secret(struct user *u, const char *secret)
{
	free(u->secret);
	u->secret = strdup(secret);
	u->has_scram = false;
	u->has_client_key = false;
	u->empty_check = 0;
	if (!u->secret || !*secret)
		u->secret_kind = SECRET_NONE;
	else if (is_md5_secret(secret) && is_md5_of_empty(secret, u->name)) {
		u->secret_kind = SECRET_NONE;
		log_warning("auth_file: the md5 secret of user \"%s\" is the hash of an empty password; "
			    "it cannot log in with a password", u->name);
	} else if (is_md5_secret(secret))
		u->secret_kind = SECRET_MD5;
	else if (scram_parse_secret(secret, &u->scram)) {
		u->secret_kind = SECRET_SCRAM;
		u->has_scram = true;
	} else
		u->secret_kind = SECRET_PLAIN;
}

void auth_set_dynamic_secret(struct user *u, const char *secret)
{
	if (u->in_auth_file)
		return; /* a reload put the user in auth_file meanwhile: it wins */
	if (!secret) {
		free(u->secret);
		u->secret = NULL;
		u->secret_kind = SECRET_NONE;
		u->has_scram = u->has_client_key = false;
	} else if (!u->secret || !u->dynamic || strcmp(u->secret, secret) != 0) {
		user_set_secret(u, secret);
	}
	u->dynamic = true;
}

void auth_clear(struct sift *s)
{
	struct list *it;

	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		free(u->secret);
		u->secret = NULL;
		u->secret_kind = SECRET_NONE;
		u->has_scram = u->has_client_key = u->in_auth_file = u->dynamic = false;
	}
	mock_follow_file(s);
}

/* Parses one line; returns false for a malformed one. */
static bool auth_line(struct sift *s, const char *line, char *secret, int *nusers)
{
	char name[NAME_LEN];
	const char *p = line;
	struct user *u;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == 0 || *p == ';' || *p == '#')
		return true;
	if (!quoted_token(&p, name, sizeof(name)) || !quoted_token(&p, secret, AUTH_LINE_MAX))
		return false;
	if (!(u = user_get(s, name)))
		return false;
	if (!u->secret || u->dynamic || strcmp(u->secret, secret) != 0)
		user_set_secret(u, secret);
	u->in_auth_file = true;
	u->dynamic = false;
	(*nusers)++;
	return true;
}

bool auth_load_file(struct sift *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	/* on the heap: lines may hold a 64 kB secret */
	char *line = malloc(AUTH_LINE_MAX + 128), *secret = malloc(AUTH_LINE_MAX);
	int lineno = 0, nusers = 0;
	struct list *it;

	if (!f || !line || !secret) {
		snprintf(err, errlen, "cannot open auth_file %s: %s", path, f ? "out of memory" : strerror(errno));
		if (f)
			fclose(f);
		free(line);
		free(secret);
		return false;
	}
	list_for_each(it, &s->users)
		list_entry(it, struct user, node)->in_auth_file = false;
	while (fgets(line, AUTH_LINE_MAX + 128, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			log_warning("%s:%d: line too long, ignored", path, lineno);
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		if (!auth_line(s, line, secret, &nusers))
			log_warning("%s:%d: expected \"user\" \"secret\", line ignored", path, lineno);
	}
	OPENSSL_cleanse(line, AUTH_LINE_MAX + 128);
	free(line);
	OPENSSL_cleanse(secret, AUTH_LINE_MAX);
	free(secret);
	fclose(f);
	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		if (!u->in_auth_file && u->secret && !u->dynamic) {
			free(u->secret);
			u->secret = NULL;
			u->secret_kind = SECRET_NONE;
			u->has_scram = u->has_client_key = false;
		}
	}
	mock_follow_file(s);
	log_debug("auth_file %s: %d users", path, nusers);
	return true;
}

bool auth_peer_name(int fd, char *out, size_t outlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return false;
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	return (size_t)snprintf(out, outlen, "%s", pw.pw_name) < outlen;
}
