/*
 * tls: TLS between clients and pgsift (the client_tls_* settings), on
 * OpenSSL. The context is made once at startup; each client that asks for
 * TLS (SSLRequest) gets an SSL object in accept state, which conn.c reads
 * and writes through. doc/config.md, "client_tls_sslmode".
 */
#ifndef PGSIFT_TLS_H
#define PGSIFT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct ssl_ctx_st;
struct ssl_st;

/* The server-side context for cfg's client_tls_* settings, or NULL (with
 * the reason in err) when they cannot be used: a key or certificate that
 * does not load or match, an unknown protocol or cipher list. Only for
 * client_tls_sslmode other than disable. */
struct ssl_ctx_st *tls_server_ctx(const struct config *cfg, char *err, size_t errlen);

void tls_ctx_free(struct ssl_ctx_st *ctx);

/* A new TLS session on fd, to accept a client's handshake; NULL when out of
 * memory. */
struct ssl_st *tls_accept(struct ssl_ctx_st *ctx, int fd);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384" of an established session (SHOW
 * CLIENTS' tls column, the login log line); "" for NULL. */
const char *tls_describe(const struct ssl_st *ssl, char *out, size_t outlen);

#endif
