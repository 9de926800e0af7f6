/*
 * prepared_map: the tables behind prepared.c (internal to it): the registry
 * of shared statements (struct sift.ps), each client's names for them
 * (client.ps) and the set of statements each server has (server.ps, with
 * its least-recently-used order). Reference counts: a statement lives while
 * a client name, a server copy or a queued reply holds it (ps_stmt_put()
 * frees it with the last one).
 */
#ifndef PGSIFT_PREPARED_MAP_H
#define PGSIFT_PREPARED_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/list.h"
#include "pooler/prepared.h"

struct sift;
struct client;
struct server;

/* PostgreSQL keys prepared statements by their first NAMEDATALEN - 1 bytes:
 * names that differ only after that are one name. */
#define PG_NAME_MAX 63

struct ps_name {
	struct ps_name *next;
	struct ps_stmt *st;
	uint32_t hash;
	char name[];
};

struct ps_client {
	struct ps_name **b;
	uint32_t mask, count;
};

struct ps_have {
	struct ps_have *hnext;
	struct list lru;		/* most recently used first */
	struct ps_stmt *st;
	int64_t last_use;
	bool stale;			/* its plan was invalidated: close and parse again */
};

struct ps_server {
	struct ps_have **b;
	uint32_t mask, count;
	struct list lru;
};

/* The registry's statement for a Parse body (after the name), or NULL. */
struct ps_stmt *ps_stmt_find(struct sift *s, const uint8_t *body, uint32_t len);

/* The same, made when new; the caller takes a reference. NULL when out of
 * memory. */
struct ps_stmt *ps_stmt_get(struct sift *s, const uint8_t *body, uint32_t len);

/* Drops a reference; frees st (and unregisters it) with the last one. */
void ps_stmt_put(struct sift *s, struct ps_stmt *st);

/* A client's names: the statement name maps to, or NULL; add (false when
 * out of memory; takes a reference); remove name when it maps to st (any
 * statement when st is NULL; false when it did not); remove them all; a
 * name the client has for st (NULL when none). */
struct ps_stmt *ps_cmap_find(struct client *cl, const char *name);
bool ps_cmap_add(struct client *cl, const char *name, struct ps_stmt *st);
bool ps_cmap_del(struct client *cl, const char *name, const struct ps_stmt *st);
void ps_cmap_clear(struct client *cl);
const char *ps_cmap_name_of(const struct client *cl, const struct ps_stmt *st);

/* A server's statements: find; add as the most recently used (NULL when
 * out of memory; takes a reference); remove; mark used now; remove all;
 * mark all stale (each is closed and parsed again at its next use: the
 * server may or may not still have it). */
struct ps_have *ps_have_find(struct server *sv, const struct ps_stmt *st);
struct ps_have *ps_have_add(struct server *sv, struct ps_stmt *st);
void ps_have_del(struct server *sv, const struct ps_stmt *st);
void ps_have_touch(struct server *sv, struct ps_have *e);
void ps_have_clear(struct server *sv);
void ps_have_stale_all(struct server *sv);

#endif
