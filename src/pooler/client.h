/*
 * client: an application's connection: startup, authentication, and the
 * client-to-server half of the relay.
 */
#ifndef PGSIFT_CLIENT_H
#define PGSIFT_CLIENT_H

#include <stdarg.h>

#include "pooler/auth_query.h"
#include "util/log.h"
#include "pooler/sift.h"

/* Takes over an accepted, non-blocking socket. */
void client_accept(struct sift *s, int fd, const struct peer_addr *addr);

/* The one way a client connection ends. With sqlstate, a FATAL
 * ErrorResponse carrying reason is sent first (best effort); reason is
 * logged either way. A linked server is released when it is clean, else
 * closed. The object is freed after the current callbacks. */
void client_close(struct client *cl, const char *sqlstate, const char *reason);
/* The same with a DETAIL for the client (NULL: none); the log has reason only. */
void client_close_detail(struct client *cl, const char *sqlstate, const char *reason, const char *detail);

/* Linked to a server after waiting: relays what the client had sent. */
void client_resume(struct client *cl);

/* Sends AuthenticationOk, the pool's parameters, BackendKeyData and
 * ReadyForQuery; the client is then idle. */
void client_finish_login(struct client *cl);

/* The welcome itself, with the ParameterStatus set names/vals (the
 * client's own startup values win); the caller has put the client in its
 * state. false: the client was closed. */
bool client_send_welcome(struct client *cl, struct istr **names, struct istr **vals, int n)
	__attribute__((warn_unused_result));

/* The auth_query lookup of cl's user answered (auth_query.h): the login
 * goes on with the secret it found, or ends. */
void client_auth_query_done(struct client *cl, enum aq_result res, const char *secret, const char *error);

/* Is cl's server between transactions, nothing of cl's in flight? */
bool client_between_transactions(const struct client *cl);

/* query_wait_notify: tells a waiting client it is queued (a NOTICE). */
void client_notify_queued(struct client *cl);

/* Queues an ERROR (non-fatal) for the client and flushes. */
void client_send_error(struct client *cl, const char *sqlstate, const char *msg);

/* Relays what the server sent to the client, up to the queue's capacity.
 * Called by server.c; returns false when the client was closed. */
void client_log(const struct client *cl, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Frees a closed client (reaper). */
void client_free(struct client *cl);

/* Text of a client's state for SHOW CLIENTS. */
const char *client_state_name(const struct client *cl);

#endif
