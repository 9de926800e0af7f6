/*
 * auth_limit: see auth_limit.h.
 */
#include "pooler/auth_limit.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define LIMIT_BUCKETS 1024
#define LIMIT_WAYS 4		/* slots per bucket */

struct limit_ent {
	uint8_t key[17];	/* family, then the address (IPv6: its /64) */
	bool used;
	uint32_t fails;		/* in the window that started at window_start */
	int64_t window_start;
	int64_t blocked_until;	/* monotonic usec; 0: not blocked */
	int64_t last_fail;
};

struct auth_limit {
	struct limit_ent ent[LIMIT_BUCKETS * LIMIT_WAYS];
};

static void addr_key(const struct peer_addr *a, uint8_t key[17])
{
	memset(key, 0, 17);
	key[0] = a->family;
	if (a->family == AF_INET)
		memcpy(key + 1, a->a, 4);
	else if (a->family == AF_INET6)
		memcpy(key + 1, a->a, 8);
}

/* FNV-1a over the per-process key and the address: buckets cannot be
 * aimed at from outside. */
static uint32_t key_hash(const struct sift *s, const uint8_t key[17])
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 8; i++)
		h = (h ^ s->mock.key[16 + i]) * 16777619u;
	for (size_t i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % LIMIT_BUCKETS;
}

/* The slot of key, or NULL; with take, a free or the stalest slot of its
 * bucket, cleared and keyed. */
static struct limit_ent *lookup(struct sift *s, const uint8_t key[17], bool take)
{
	struct limit_ent *b, *victim;

	if (!s->auth_limit) {
		if (!take || !(s->auth_limit = calloc(1, sizeof(*s->auth_limit))))
			return NULL;
	}
	b = &s->auth_limit->ent[key_hash(s, key) * LIMIT_WAYS];
	victim = b;
	for (int i = 0; i < LIMIT_WAYS; i++) {
		if (b[i].used && memcmp(b[i].key, key, 17) == 0)
			return &b[i];
		if (!b[i].used || (victim->used && b[i].last_fail < victim->last_fail))
			victim = &b[i];
	}
	if (!take)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, 17);
	victim->used = true;
	return victim;
}

bool auth_limit_blocked(struct sift *s, const struct peer_addr *a, int *retry_s)
{
	uint8_t key[17];
	struct limit_ent *e;

	if (s->cfg.auth_fail_limit <= 0 || !s->auth_limit)
		return false;
	addr_key(a, key);
	e = lookup(s, key, false);
	if (!e || e->blocked_until <= s->now)
		return false;
	*retry_s = (int)((e->blocked_until - s->now + 999999) / 1000000);
	return true;
}

void auth_limit_failed(struct sift *s, const struct peer_addr *a)
{
	int64_t window = s->cfg.auth_fail_window;
	uint8_t key[17];
	struct limit_ent *e;
	char addr[64];

	if (s->cfg.auth_fail_limit <= 0 || window <= 0)
		return;
	addr_key(a, key);
	if (!(e = lookup(s, key, true)))
		return; /* out of memory: no limit rather than no logins */
	e->last_fail = s->now;
	if (e->fails == 0 || s->now - e->window_start >= window) {
		e->window_start = s->now;
		e->fails = 0;
	}
	if (++e->fails < (uint32_t)s->cfg.auth_fail_limit)
		return;
	e->blocked_until = s->now + window;
	e->fails = 0;
	log_warning("%d failed logins from %s%s within auth_fail_window (%.0f s): logins from it are refused for %.0f s",
		    s->cfg.auth_fail_limit, peer_addr_str(a, addr, sizeof(addr)), a->family == AF_INET6 ? "/64" : "",
		    (double)window / 1e6, (double)window / 1e6);
}

void auth_limit_free(struct sift *s)
{
	free(s->auth_limit);
	s->auth_limit = NULL;
}
