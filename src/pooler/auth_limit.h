/*
 * auth_limit: failed password logins per source address.
 *
 * After auth_fail_limit failed logins from one address within
 * auth_fail_window, logins from that address are refused for the next
 * auth_fail_window (doc/config.md). An IPv6 address counts per /64, since
 * one host usually holds a whole /64; the Unix socket counts as one
 * address. A successful login does not clear the count: an attacker who
 * knows one password could otherwise reset it between guesses.
 *
 * The table is fixed (made on the first failure, freed at exit): an
 * address hashes to a bucket of a few slots, and when all of them hold
 * other addresses the one that failed longest ago is replaced.
 */
#ifndef PGSIFT_AUTH_LIMIT_H
#define PGSIFT_AUTH_LIMIT_H

#include <stdbool.h>

#include "pooler/sift.h"

/* Are logins from a refused now? Then *retry_s is how many seconds are
 * left (at least 1). */
bool auth_limit_blocked(struct sift *s, const struct peer_addr *a, int *retry_s);

/* A failed password login from a (nothing when auth_fail_limit is 0). */
void auth_limit_failed(struct sift *s, const struct peer_addr *a);

void auth_limit_free(struct sift *s);

#endif
