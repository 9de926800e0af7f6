/*
 * objects: the registries of the pooler half: interned strings, tracked
 * parameters, users, databases, pools, and the cancel-key map. Creation,
 * lookup and final freeing live here; state changes live in pool/client/
 * server.
 */
#ifndef PGSIFT_OBJECTS_H
#define PGSIFT_OBJECTS_H

#include "pooler/sift.h"

/* ---- interned strings ---- */

/* Returns a new reference to the interned copy of s[0..len), or NULL when
 * out of memory. */
struct istr *istr_get(struct istr_table *t, const char *s, size_t len);
static inline struct istr *istr_ref(struct istr *i)
{
	if (i)
		i->refs++;
	return i;
}
/* Drops a reference (NULL is fine). */
void istr_put(struct istr_table *t, struct istr *i);
void istr_table_free(struct istr_table *t);

/* Replaces *slot with a new reference to v (either may be NULL). */
void istr_set(struct istr_table *t, struct istr **slot, struct istr *v);
void params_clear(struct istr_table *t, struct params *p);

/* Index of a tracked parameter (case-insensitive), or -1. */
int param_index(const struct sift *s, const char *name);
/* Sets up the tracked names: the fixed five plus track_extra_parameters.
 * Returns false (err set) when there are too many. */
bool params_setup(struct sift *s, const char *extra, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* ---- users ---- */

struct user *user_find(struct sift *s, const char *name);
/* Finds or creates (with no secret). NULL when out of memory or too long. */
struct user *user_get(struct sift *s, const char *name);

/* ---- databases ---- */

/* Finds a database by the name a client asked for. A name only the "*"
 * entry covers is created when create is set; without create (before the
 * client authenticated) the "*" template is returned instead, so unknown
 * names cost nothing until a login succeeds. NULL when unknown. */
struct db *db_lookup(struct sift *s, const char *name, bool create);
/* Brings the database list in line with s->cfg (startup and reload):
 * adds new entries, updates changed ones (bumping generation when login
 * settings change), marks dropped ones removed. */
bool db_sync_config(struct sift *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The host names of db are looked up again at its next connections. */
void db_forget_addresses(struct db *db);

/* ---- pools ---- */

struct pool *pool_find(struct sift *s, const struct db *db, const struct user *u);
/* Finds or creates the pool for clients of db logging in as u. */
struct pool *pool_get(struct sift *s, struct db *db, struct user *u);
/* Frees p, which has no client and no server left (pool_idle_timeout). */
void pool_drop(struct sift *s, struct pool *p);
/* Stores the ParameterStatus set of a server's login as the pool's welcome. */
bool pool_set_welcome(struct sift *s, struct pool *p, struct istr **names, struct istr **vals, int n);

/* ---- cancel keys ---- */

/* Gives cl a fresh, unique (pid, key) and adds it to the map. */
bool cancel_map_add(struct sift *s, struct client *cl) __attribute__((warn_unused_result));
void cancel_map_del(struct sift *s, struct client *cl);
struct client *cancel_map_find(struct sift *s, uint32_t pid, uint32_t key);

/* Fills buf with random bytes (OpenSSL). */
void sift_random(void *buf, size_t n);

/* libpq keywords (k) and values (v) for pgsift's own connection to a
 * pool's server as the pool's user: the address pgsift resolved for the
 * database (so libpq does no DNS lookup on the event loop), port, dbname,
 * user, and the password when pgsift has one in plain text. Returns how many
 * it wrote (at most 5); hostbuf (64 bytes) and portbuf (16) hold values. */
int pool_libpq_params(const struct sift *s, const struct pool *p, const char **k, const char **v, char *hostbuf,
		      char *portbuf);

/* Frees every db, user and pool (at exit; all connections must be gone). */
void objects_free_all(struct sift *s);

#endif
