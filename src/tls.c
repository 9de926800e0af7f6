/*
 * tls: see tls.h.
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The last OpenSSL error as text, after what. */
static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
	char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", buf);
}

/* The TLS version a protocol name stands for, or 0 */
static int version_of(const char *name, size_t n)
{
	static const struct { const char *name; int v; } names[] = {
		{ "tlsv1.0", TLS1_VERSION }, { "tlsv1.1", TLS1_1_VERSION }, { "tlsv1.2", TLS1_2_VERSION },
		{ "tlsv1.3", TLS1_3_VERSION },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && strncasecmp(names[i].name, name, n) == 0)
			return names[i].v;
	return 0;
}

/* client_tls_protocols, as PgBouncer reads it: "secure" (TLS 1.2 and
 * 1.3), "all" or "legacy" (1.0 to 1.3), or a list of tlsv1.0 ... tlsv1.3,
 * of which the lowest and the highest bound what is accepted. */
static bool set_protocols(SSL_CTX *ctx, const char *list, char *err, size_t errlen)
{
	int lo = 0, hi = 0;

	if (!strcasecmp(list, "secure") || !strcasecmp(list, "default")) {
		lo = TLS1_2_VERSION;
		hi = TLS1_3_VERSION;
	} else if (!strcasecmp(list, "all") || !strcasecmp(list, "legacy")) {
		lo = TLS1_VERSION;
		hi = TLS1_3_VERSION;
	} else {
		for (const char *p = list; *p;) {
			size_t n = strcspn(p, ", ");
			int v = n ? version_of(p, n) : 0;
			if (n && !v) {
				snprintf(err, errlen, "client_tls_protocols: unknown protocol \"%.*s\" (tlsv1.0 to tlsv1.3, secure, all)",
					 (int)n, p);
				return false;
			}
			if (v && (!lo || v < lo))
				lo = v;
			if (v > hi)
				hi = v;
			p += n;
			p += strspn(p, ", ");
		}
		if (!lo) {
			snprintf(err, errlen, "client_tls_protocols: no protocol given");
			return false;
		}
	}
	if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi)) {
		ssl_err(err, errlen, "client_tls_protocols", NULL);
		return false;
	}
	return true;
}

/* client_tls_ciphers: "default" (and PgBouncer's names for its defaults,
 * "fast", "normal", "secure") keep OpenSSL's; anything else is an OpenSSL
 * cipher list for TLS 1.2 and below. */
static bool set_ciphers(SSL_CTX *ctx, const char *list, char *err, size_t errlen)
{
	static const char *const defaults[] = { "default", "fast", "normal", "secure" };

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!strcasecmp(list, defaults[i]))
			return true;
	if (!SSL_CTX_set_cipher_list(ctx, list)) {
		ssl_err(err, errlen, "client_tls_ciphers", list);
		return false;
	}
	return true;
}

struct ssl_ctx_st *tls_server_ctx(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		ssl_err(err, errlen, "cannot create a TLS context", NULL);
		return NULL;
	}
	/* partial writes from a queue whose buffers move; no renegotiation */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (!set_protocols(ctx, cfg->client_tls_protocols, err, errlen) ||
	    !set_ciphers(ctx, cfg->client_tls_ciphers, err, errlen))
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_tls_cert_file) != 1) {
		ssl_err(err, errlen, "client_tls_cert_file", cfg->client_tls_cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->client_tls_key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errlen, "client_tls_key_file", cfg->client_tls_key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err(err, errlen, "client_tls_key_file does not match client_tls_cert_file", NULL);
		goto fail;
	}
	if (cfg->client_tls_ca_file && *cfg->client_tls_ca_file &&
	    SSL_CTX_load_verify_locations(ctx, cfg->client_tls_ca_file, NULL) != 1) {
		ssl_err(err, errlen, "client_tls_ca_file", cfg->client_tls_ca_file);
		goto fail;
	}
	/* verify-ca and verify-full: a client must show a certificate that
	 * client_tls_ca_file vouches for */
	if (cfg->client_tls_sslmode >= SSLMODE_VERIFY_CA)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

struct ssl_st *tls_accept(struct ssl_ctx_st *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

const char *tls_describe(const struct ssl_st *ssl, char *out, size_t outlen)
{
	if (!ssl)
		snprintf(out, outlen, "%s", "");
	else
		snprintf(out, outlen, "%s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return out;
}
