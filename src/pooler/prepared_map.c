/*
 * prepared_map: see prepared_map.h.
 */
#include "pooler/prepared_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/server.h"

/* ---- the registry of shared statements ---- */

static uint64_t hash64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static bool registry_grow(struct ps_registry *r)
{
	uint32_t n = r->b ? (r->mask + 1) * 2 : 256;
	struct ps_stmt **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return false;
	for (uint32_t i = 0; r->b && i <= r->mask; i++)
		for (struct ps_stmt *st = r->b[i], *next; st; st = next) {
			next = st->hnext;
			st->hnext = nb[st->hash & (n - 1)];
			nb[st->hash & (n - 1)] = st;
		}
	free(r->b);
	r->b = nb;
	r->mask = n - 1;
	return true;
}

struct ps_stmt *ps_stmt_find(struct sift *s, const uint8_t *body, uint32_t len)
{
	struct ps_registry *r = &s->ps;
	uint64_t h;

	if (!r->b)
		return NULL;
	h = hash64(body, len);
	for (struct ps_stmt *st = r->b[h & r->mask]; st; st = st->hnext)
		if (st->hash == h && st->body_len == len && memcmp(st->body, body, len) == 0)
			return st;
	return NULL;
}

/* The statement for a Parse body (after the name), made when new; the
 * caller takes a reference. NULL when out of memory. */
struct ps_stmt *ps_stmt_get(struct sift *s, const uint8_t *body, uint32_t len)
{
	struct ps_registry *r = &s->ps;
	uint64_t h = hash64(body, len);
	struct ps_stmt *st = ps_stmt_find(s, body, len);

	if (st)
		return st;
	if ((!r->b || r->count >= r->mask) && !registry_grow(r))
		return NULL;
	st = calloc(1, sizeof(*st) + len);
	if (!st)
		return NULL;
	st->hash = h;
	st->id = ++r->next_id;
	st->body_len = len;
	memcpy(st->body, body, len);
	snprintf(st->name, sizeof(st->name), PS_NAME_PREFIX "%llu", (unsigned long long)st->id);
	st->hnext = r->b[h & r->mask];
	r->b[h & r->mask] = st;
	r->count++;
	return st;
}

void ps_stmt_put(struct sift *s, struct ps_stmt *st)
{
	struct ps_registry *r = &s->ps;
	struct ps_stmt **pp;

	if (!st || --st->refs > 0)
		return;
	for (pp = &r->b[st->hash & r->mask]; *pp; pp = &(*pp)->hnext)
		if (*pp == st) {
			*pp = st->hnext;
			break;
		}
	r->count--;
	free(st);
}

void ps_registry_free(struct sift *s)
{
	struct ps_registry *r = &s->ps;

	for (uint32_t i = 0; r->b && i <= r->mask; i++)
		for (struct ps_stmt *st = r->b[i], *next; st; st = next) {
			next = st->hnext;
			free(st);
		}
	free(r->b);
	memset(r, 0, sizeof(*r));
}

void ps_foreach(struct sift *s, void (*fn)(void *arg, const struct ps_stmt *st), void *arg)
{
	struct ps_registry *r = &s->ps;

	for (uint32_t i = 0; r->b && i <= r->mask; i++)
		for (struct ps_stmt *st = r->b[i]; st; st = st->hnext)
			fn(arg, st);
}

/* ---- a client's names ---- */

static uint32_t name_hash(const char *name)
{
	return (uint32_t)hash64((const uint8_t *)name, strnlen(name, PG_NAME_MAX));
}

static struct ps_name **cmap_slot(struct ps_client *m, const char *name)
{
	uint32_t h;
	struct ps_name **pp;

	if (!m)
		return NULL;
	h = name_hash(name);
	for (pp = &m->b[h & m->mask]; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strncmp((*pp)->name, name, PG_NAME_MAX) == 0)
			return pp;
	return NULL;
}

struct ps_stmt *ps_cmap_find(struct client *cl, const char *name)
{
	struct ps_name **pp = cmap_slot(cl->ps, name);

	return pp ? (*pp)->st : NULL;
}

static bool cmap_grow(struct ps_client *m)
{
	uint32_t n = (m->mask + 1) * 2;
	struct ps_name **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return false;
	for (uint32_t i = 0; i <= m->mask; i++)
		for (struct ps_name *e = m->b[i], *next; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(m->b);
	m->b = nb;
	m->mask = n - 1;
	return true;
}

bool ps_cmap_add(struct client *cl, const char *name, struct ps_stmt *st)
{
	struct ps_client *m = cl->ps;
	size_t len = strlen(name);
	struct ps_name *e;

	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m || !(m->b = calloc(16, sizeof(*m->b)))) {
			free(m);
			return false;
		}
		m->mask = 15;
		cl->ps = m;
	}
	if (m->count >= m->mask && !cmap_grow(m))
		return false;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return false;
	memcpy(e->name, name, len + 1);
	e->hash = name_hash(name);
	e->st = st;
	st->refs++;
	st->nclients++;
	e->next = m->b[e->hash & m->mask];
	m->b[e->hash & m->mask] = e;
	m->count++;
	return true;
}

static void cmap_unlink(struct client *cl, struct ps_name **pp)
{
	struct ps_name *e = *pp;

	*pp = e->next;
	cl->ps->count--;
	e->st->nclients--;
	ps_stmt_put(cl->sift, e->st);
	free(e);
}

/* Removes name when it maps to st (any statement when st is NULL). */
bool ps_cmap_del(struct client *cl, const char *name, const struct ps_stmt *st)
{
	struct ps_name **pp = cmap_slot(cl->ps, name);

	if (!pp || (st && (*pp)->st != st))
		return false;
	cmap_unlink(cl, pp);
	return true;
}

void ps_cmap_clear(struct client *cl)
{
	struct ps_client *m = cl->ps;

	for (uint32_t i = 0; m && i <= m->mask; i++)
		while (m->b[i])
			cmap_unlink(cl, &m->b[i]);
}

void ps_client_free(struct client *cl)
{
	if (!cl->ps)
		return;
	ps_cmap_clear(cl);
	free(cl->ps->b);
	free(cl->ps);
	cl->ps = NULL;
}

uint32_t ps_client_count(const struct client *cl)
{
	return cl->ps ? cl->ps->count : 0;
}

/* ---- what a server has ---- */

static struct ps_have **have_slot(struct ps_server *h, const struct ps_stmt *st)
{
	struct ps_have **pp;

	if (!h)
		return NULL;
	for (pp = &h->b[st->id & h->mask]; *pp; pp = &(*pp)->hnext)
		if ((*pp)->st == st)
			return pp;
	return NULL;
}

struct ps_have *ps_have_find(struct server *sv, const struct ps_stmt *st)
{
	struct ps_have **pp = have_slot(sv->ps, st);

	return pp ? *pp : NULL;
}

static bool have_grow(struct ps_server *h)
{
	uint32_t n = (h->mask + 1) * 2;
	struct ps_have **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return false;
	for (uint32_t i = 0; i <= h->mask; i++)
		for (struct ps_have *e = h->b[i], *next; e; e = next) {
			next = e->hnext;
			e->hnext = nb[e->st->id & (n - 1)];
			nb[e->st->id & (n - 1)] = e;
		}
	free(h->b);
	h->b = nb;
	h->mask = n - 1;
	return true;
}

struct ps_have *ps_have_add(struct server *sv, struct ps_stmt *st)
{
	struct ps_server *h = sv->ps;
	struct ps_have *e;

	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h || !(h->b = calloc(16, sizeof(*h->b)))) {
			free(h);
			return NULL;
		}
		h->mask = 15;
		list_init(&h->lru);
		sv->ps = h;
	}
	if (h->count >= h->mask && !have_grow(h))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->st = st;
	st->refs++;
	st->nservers++;
	e->last_use = sv->sift->now;
	e->hnext = h->b[st->id & h->mask];
	h->b[st->id & h->mask] = e;
	list_init(&e->lru);
	list_prepend(&h->lru, &e->lru);
	h->count++;
	return e;
}

static void have_unlink(struct server *sv, struct ps_have **pp)
{
	struct ps_have *e = *pp;

	*pp = e->hnext;
	list_del(&e->lru);
	sv->ps->count--;
	e->st->nservers--;
	ps_stmt_put(sv->sift, e->st);
	free(e);
}

void ps_have_del(struct server *sv, const struct ps_stmt *st)
{
	struct ps_have **pp = have_slot(sv->ps, st);

	if (pp)
		have_unlink(sv, pp);
}

void ps_have_touch(struct server *sv, struct ps_have *e)
{
	e->last_use = sv->sift->now;
	list_del(&e->lru);
	list_prepend(&sv->ps->lru, &e->lru);
}

void ps_have_stale_all(struct server *sv)
{
	struct list *it;

	if (!sv->ps)
		return;
	list_for_each(it, &sv->ps->lru)
		list_entry(it, struct ps_have, lru)->stale = true;
}

void ps_have_clear(struct server *sv)
{
	struct ps_server *h = sv->ps;

	for (uint32_t i = 0; h && i <= h->mask; i++)
		while (h->b[i])
			have_unlink(sv, &h->b[i]);
}

uint32_t ps_server_count(const struct server *sv)
{
	return sv->ps ? sv->ps->count : 0;
}

/* The client's name for st (any one, when it has several). */
const char *ps_cmap_name_of(const struct client *cl, const struct ps_stmt *st)
{
	const struct ps_client *m = cl->ps;

	for (uint32_t i = 0; m && i <= m->mask; i++)
		for (const struct ps_name *e = m->b[i]; e; e = e->next)
			if (e->st == st)
				return e->name;
	return NULL;
}
