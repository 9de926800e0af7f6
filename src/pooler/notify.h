/*
 * notify: LISTEN fanned out under transaction pooling
 * (doc/session-state.md, "LISTEN fanned out").
 *
 * A client's LISTEN / UNLISTEN runs on its pooled server as any statement
 * (so replies, errors and transaction status are PostgreSQL's), and
 * session.c reports each one that completed (notify_client_op()). At the
 * end of the transaction (the ReadyForQuery 'I' that ends it) they become
 * the client's channels, or are dropped on ROLLBACK. One dedicated server
 * connection per pool, the listener, LISTENs on the union of its clients'
 * channels; every NotificationResponse it receives is copied, in its
 * order, to each client listening on that channel, between that client's
 * messages. The pooled servers' own notifications are dropped (the
 * listener delivers them). Clients that never LISTEN cost nothing but a
 * flag test where their transaction ends.
 *
 * A client that reads slower than notifications come has them queued up
 * to notify_buffer bytes; over it, the listener is not read (PostgreSQL
 * queues them) until the client drained half, and a client over it that
 * reads nothing for 5 seconds is closed (53400).
 *
 * A client whose LISTEN names a channel the listener does not LISTEN on
 * yet gets its ReadyForQuery once the listener confirmed it, so that a
 * NOTIFY committed after the client's LISTEN returned is delivered, as on
 * a direct connection.
 */
#ifndef PGSIFT_NOTIFY_H
#define PGSIFT_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "pooler/sift.h"

/* A LISTEN (op SS_LISTEN), UNLISTEN (SS_UNLISTEN) or UNLISTEN * (channel
 * NULL) of cl completed; it takes effect when its transaction commits. */
void notify_client_op(struct client *cl, int op, const char *channel);

/* A ReadyForQuery with status is about to be relayed to cl, which has
 * LISTEN changes in its transaction (cl->nf_pend); failed: the transaction
 * rolled back. true: hold it (the relay stops and is resumed when the
 * listener confirmed the client's channels). */
bool notify_ready(struct server *sv, struct client *cl, char status, bool failed)
	__attribute__((warn_unused_result));

/* Delivers the notifications queued for cl (cl->nf_queued) if it is
 * between messages now. */
void notify_client_flush(struct client *cl);

/* The client is closing: its channels go. */
void notify_client_free(struct client *cl);

/* The pool is freed: its listener goes. */
void notify_pool_free(struct pool *p);

/* The listener server's hooks (server.c): logged in; bytes to read; closed. */
void notify_server_ready(struct server *sv);
void notify_server_input(struct server *sv);
void notify_server_closed(struct server *sv);

/* SHOW LISTENERS: one call per pool that has a listener. */
struct notify_info {
	const char *state;		/* connecting, listening, retrying */
	uint32_t backend_pid;		/* 0 while not connected */
	uint32_t channels;		/* with at least one client */
	uint32_t subscriptions;		/* (client, channel) pairs */
	uint32_t clients;		/* clients listening on at least one channel */
	uint64_t received;		/* NotificationResponses from the server */
	uint64_t delivered;		/* copies queued for clients */
	uint64_t reconnects;		/* times the listener was opened again after losing it */
	uint64_t clients_closed;	/* clients closed for not reading (notify_buffer) */
	bool paused;			/* not read: a client is over notify_buffer */
};
void notify_info(const struct pool *p, struct notify_info *out);

#endif
