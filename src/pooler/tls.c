/*
 * tls: see tls.h.
 */
#include "pooler/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The last OpenSSL error as text, after what; a system error under it
 * (a file that cannot be opened) comes first, in the system's words. */
static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
	char buf[256], sys[128] = "";
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0) {
		if (ERR_SYSTEM_ERROR(e) && !*sys)
			snprintf(sys, sizeof(sys), "%s (", strerror(ERR_GET_REASON(e)));
		last = e;
	}
	if (last)
		ERR_error_string_n(last, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	snprintf(err, errlen, "%s%s%s: %s%s%s", what, file ? " " : "", file ? file : "", sys, buf, *sys ? ")" : "");
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

/* client_tls_protocols or server_tls_protocols (side: "client" or
 * "server"), as PgBouncer reads them: "secure" (TLS 1.2 and 1.3), "all" or
 * "legacy" (1.0 to 1.3), or a list of tlsv1.0 ... tlsv1.3, of which the
 * lowest and the highest bound what is accepted. */
static bool set_protocols(SSL_CTX *ctx, const char *side, const char *list, char *err, size_t errlen)
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
				snprintf(err, errlen, "%s_tls_protocols: unknown protocol \"%.*s\" (tlsv1.0 to tlsv1.3, secure, all)",
					 side, (int)n, p);
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
			snprintf(err, errlen, "%s_tls_protocols: no protocol given", side);
			return false;
		}
	}
	if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi)) {
		ssl_err(err, errlen, side[0] == 'c' ? "client_tls_protocols" : "server_tls_protocols", NULL);
		return false;
	}
	return true;
}

/* client_tls_ciphers or server_tls_ciphers: "default" (and PgBouncer's
 * names for its defaults, "fast", "normal", "secure") keep OpenSSL's;
 * anything else is an OpenSSL cipher list for TLS 1.2 and below. */
static bool set_ciphers(SSL_CTX *ctx, const char *side, const char *list, char *err, size_t errlen)
{
	static const char *const defaults[] = { "default", "fast", "normal", "secure" };

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!strcasecmp(list, defaults[i]))
			return true;
	if (!SSL_CTX_set_cipher_list(ctx, list)) {
		ssl_err(err, errlen, side[0] == 'c' ? "client_tls_ciphers" : "server_tls_ciphers", list);
		return false;
	}
	return true;
}

/* A new context of method m with the modes and options both sides use */
static SSL_CTX *new_ctx(const SSL_METHOD *m, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(m);

	if (!ctx) {
		ssl_err(err, errlen, "cannot create a TLS context", NULL);
		return NULL;
	}
	/* partial writes from a queue whose buffers move; no renegotiation */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	return ctx;
}

/* Loads a certificate chain and its key (the names of the two settings
 * for the messages) */
static bool use_cert(SSL_CTX *ctx, const char *cert, const char *key, const char *cert_setting,
		     const char *key_setting, char *err, size_t errlen)
{
	char what[96];

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_err(err, errlen, cert_setting, cert);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errlen, key_setting, key);
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "%s does not match %s", key_setting, cert_setting);
		ssl_err(err, errlen, what, NULL);
		return false;
	}
	return true;
}

bool tls_check_lists(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = new_ctx(TLS_method(), err, errlen);
	bool ok;

	if (!ctx)
		return false;
	ok = set_protocols(ctx, "client", cfg->client_tls_protocols, err, errlen) &&
	     set_ciphers(ctx, "client", cfg->client_tls_ciphers, err, errlen) &&
	     set_protocols(ctx, "server", cfg->server_tls_protocols, err, errlen) &&
	     set_ciphers(ctx, "server", cfg->server_tls_ciphers, err, errlen);
	SSL_CTX_free(ctx);
	return ok;
}

/* The verdict stays in SSL_get_verify_result(); the handshake goes on. */
static int accept_any_cert_cb(int preverify_ok, X509_STORE_CTX *x)
{
	(void)preverify_ok;
	(void)x;
	return 1;
}

struct ssl_ctx_st *tls_server_ctx(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = new_ctx(TLS_server_method(), err, errlen);

	if (!ctx)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (!set_protocols(ctx, "client", cfg->client_tls_protocols, err, errlen) ||
	    !set_ciphers(ctx, "client", cfg->client_tls_ciphers, err, errlen) ||
	    !use_cert(ctx, cfg->client_tls_cert_file, cfg->client_tls_key_file, "client_tls_cert_file",
		      "client_tls_key_file", err, errlen))
		goto fail;
	if (cfg->client_tls_ca_file && *cfg->client_tls_ca_file &&
	    SSL_CTX_load_verify_locations(ctx, cfg->client_tls_ca_file, NULL) != 1) {
		ssl_err(err, errlen, "client_tls_ca_file", cfg->client_tls_ca_file);
		goto fail;
	}
	/* verify-ca and verify-full: a client must show a certificate that
	 * client_tls_ca_file vouches for */
	if (cfg->client_tls_sslmode >= SSLMODE_VERIFY_CA)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* auth_type hba may have cert rules: a certificate is asked for but
	 * not required, and one that does not verify does not end the
	 * handshake (a cert rule then fails: tls_peer_cn()), as PgBouncer */
	else if (cfg->auth_type == AUTHT_HBA && cfg->client_tls_ca_file && *cfg->client_tls_ca_file)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert_cb);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct ssl_ctx_st *tls_client_ctx(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = new_ctx(TLS_client_method(), err, errlen);
	const char *ca = cfg->server_tls_ca_file;

	if (!ctx)
		return NULL;
	if (!set_protocols(ctx, "server", cfg->server_tls_protocols, err, errlen) ||
	    !set_ciphers(ctx, "server", cfg->server_tls_ciphers, err, errlen))
		goto fail;
	if (cfg->server_tls_cert_file && *cfg->server_tls_cert_file &&
	    !use_cert(ctx, cfg->server_tls_cert_file, cfg->server_tls_key_file, "server_tls_cert_file",
		      "server_tls_key_file", err, errlen))
		goto fail;
	/* only what checks certificates loads CAs (the system's set takes
	 * about 0.1 s and a megabyte or two) */
	if (cfg->server_tls_sslmode >= SSLMODE_VERIFY_CA &&
	    (ca && *ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 : SSL_CTX_set_default_verify_paths(ctx) != 1)) {
		ssl_err(err, errlen, "server_tls_ca_file", ca && *ca ? ca : "(the system's CA certificates)");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct ssl_st *tls_connect(struct ssl_ctx_st *ctx, int fd, const char *host, int sslmode)
{
	SSL *ssl = SSL_new(ctx);
	unsigned char ip[16];
	bool is_ip = host && (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1);

	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 || (host && !is_ip && SSL_set_tlsext_host_name(ssl, host) != 1))
		goto fail;
	if (sslmode >= SSLMODE_VERIFY_CA) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		/* verify-full: the certificate must name the host we connect to */
		if (sslmode == SSLMODE_VERIFY_FULL && host &&
		    (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
			   : SSL_set1_host(ssl, host) != 1))
			goto fail;
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	SSL_set_connect_state(ssl);
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

enum tls_step tls_handshake_step(struct ssl_st *ssl)
{
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return TLS_STEP_DONE;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return TLS_STEP_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_STEP_WRITE;
	default:
		return TLS_STEP_FAILED;
	}
}

const char *tls_handshake_error(const struct ssl_st *ssl, char *out, size_t outlen)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (v != X509_V_OK)
		snprintf(out, outlen, "certificate verify failed: %s", X509_verify_cert_error_string(v));
	else if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(out, outlen, "%s", buf);
	} else
		snprintf(out, outlen, "the connection closed during the handshake");
	ERR_clear_error();
	return out;
}

bool tls_peer_cn(const struct ssl_st *ssl, char *out, size_t outlen)
{
	X509 *cert;
	int n;

	if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK || !(cert = SSL_get1_peer_certificate(ssl)))
		return false;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)outlen);
	X509_free(cert);
	/* a name with a NUL inside, or cut short, is no name */
	return n > 0 && (size_t)n < outlen && strlen(out) == (size_t)n;
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
