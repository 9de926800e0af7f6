/*
 * peers: several processes of an so_reuseport group share a port, so a
 * client's CancelRequest (a new connection) may land on another process
 * than the one the client is connected to. With peer_id set, each process
 * writes its peer_id into the cancel keys it hands out, and forwards a
 * cancel whose key names another peer to that peer's entry of [peers], as
 * PgBouncer 1.21+ does (the same key layout, so pgsift and PgBouncer
 * processes can be peers of each other).
 *
 * The 8 bytes of BackendKeyData (the "process id" then the secret key):
 * bytes 2 and 3 hold the peer_id, low byte first; the two low bits of the
 * last byte are a time to live, 3 when handed out and one less at each
 * forwarding, so a loop in [peers] ends.
 */
#ifndef PGSIFT_PEERS_H
#define PGSIFT_PEERS_H

#include <stdbool.h>
#include <stdint.h>

#include "pooler/sift.h"

#define PEER_TTL_MASK 3u

/* Puts peer_id into a fresh cancel key. */
static inline void peer_key_tag(uint32_t *pid, uint32_t *key, int peer_id)
{
	*pid = (*pid & 0xff0000ffu) | ((uint32_t)(peer_id & 0xff) << 16) | ((uint32_t)((peer_id >> 8) & 0xff) << 8);
	*key |= PEER_TTL_MASK;
}

/* The peer_id a cancel key was handed out by (0: none). */
static inline int peer_key_id(uint32_t pid)
{
	return (int)(((pid >> 16) & 0xff) | (((pid >> 8) & 0xff) << 8));
}

/* A CancelRequest for pid/key arrived. true: it is another peer's, and was
 * forwarded to it (or dropped, logged: an unknown peer, TTL spent). false:
 * it is ours (or peering is off); *key then reads as this process handed
 * it out (TTL bits set again). */
bool peer_cancel_route(struct sift *s, uint32_t pid, uint32_t *key);

#endif
