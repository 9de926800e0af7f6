/*
 * tls: TLS on OpenSSL, between clients and pgsift (client_tls_*) and
 * between pgsift and PostgreSQL (server_tls_*). Each side's context is
 * made once at startup; a client that asks for TLS (SSLRequest) gets an SSL
 * object in accept state, a server connection one in connect state, and
 * conn.c reads and writes through it. doc/config.md, "TLS".
 */
#ifndef PGSIFT_TLS_H
#define PGSIFT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/config.h"

struct ssl_ctx_st;
struct ssl_st;

/* Are cfg's four protocol and cipher lists (client_tls_* and
 * server_tls_*) ones OpenSSL takes? Checked whatever the sslmodes, so a
 * bad list is refused when it is set, not when TLS is turned on. false
 * with the reason (naming the setting) in err. */
bool tls_check_lists(const struct config *cfg, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The server-side context for cfg's client_tls_* settings, or NULL (with
 * the reason in err) when they cannot be used: a key or certificate that
 * does not load or match, an unknown protocol or cipher list. Only for
 * client_tls_sslmode other than disable. */
struct ssl_ctx_st *tls_server_ctx(const struct config *cfg, char *err, size_t errlen);

/* The context for connections to servers (server_tls_*): for verify-ca
 * and verify-full, the CA file, or the system's CA certificates, to verify
 * servers with; the certificate and key to show them when set. NULL with
 * the reason in err. */
struct ssl_ctx_st *tls_client_ctx(const struct config *cfg, char *err, size_t errlen);

void tls_ctx_free(struct ssl_ctx_st *ctx);

/* A new TLS session on fd to a server at host (a name or an address; NULL
 * for none) under server_tls_sslmode sslmode: the certificate is verified
 * for verify-ca and verify-full, and its name against host for
 * verify-full. NULL when out of memory. */
struct ssl_st *tls_connect(struct ssl_ctx_st *ctx, int fd, const char *host, int sslmode);

/* One step of a handshake (a server connection's, which pgsift starts):
 * done, or wait until the socket is readable or writable, or failed. */
enum tls_step { TLS_STEP_DONE, TLS_STEP_READ, TLS_STEP_WRITE, TLS_STEP_FAILED };
enum tls_step tls_handshake_step(struct ssl_st *ssl);

/* Why a handshake failed: the certificate check's verdict, or OpenSSL's
 * last error. Clears OpenSSL's error queue. */
const char *tls_handshake_error(const struct ssl_st *ssl, char *out, size_t outlen);

/* A new TLS session on fd, to accept a client's handshake; NULL when out of
 * memory. */
struct ssl_st *tls_accept(struct ssl_ctx_st *ctx, int fd);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384" of an established session (SHOW
 * CLIENTS' tls column, the login log line); "" for NULL. */
const char *tls_describe(const struct ssl_st *ssl, char *out, size_t outlen);

/* The common name of the certificate the peer showed, if it was verified
 * against the CA (client_tls_sslmode verify-ca or verify-full); false
 * otherwise, or when it does not fit in out. */
bool tls_peer_cn(const struct ssl_st *ssl, char *out, size_t outlen) __attribute__((warn_unused_result));

#endif
