/*
 * objects: see objects.h.
 */
#include "pooler/objects.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/advisor_pool.h"
#include "pooler/notify.h"
#include "pooler/peers.h"
#include "util/log.h"

/* ---- interned strings ---- */

static uint32_t hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static bool istr_grow(struct istr_table *t)
{
	uint32_t n = t->buckets ? (t->mask + 1) * 2 : 64;
	struct istr **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return false;
	for (uint32_t i = 0; t->buckets && i <= t->mask; i++)
		while (t->buckets[i]) {
			struct istr *e = t->buckets[i];
			t->buckets[i] = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(t->buckets);
	t->buckets = nb;
	t->mask = n - 1;
	return true;
}

static uint64_t istr_next_id; /* struct istr's id */

struct istr *istr_get(struct istr_table *t, const char *s, size_t len)
{
	uint32_t h = hash_bytes(s, len);
	struct istr *e;

	if (len > 65535)
		return NULL;
	if (t->buckets)
		for (e = t->buckets[h & t->mask]; e; e = e->next)
			if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0)
				return istr_ref(e);
	if ((!t->buckets || t->count >= t->mask + 1) && !istr_grow(t))
		return NULL;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	e->refs = 1;
	e->id = ++istr_next_id;
	e->hash = h;
	e->len = (uint32_t)len;
	memcpy(e->s, s, len);
	e->s[len] = 0;
	e->next = t->buckets[h & t->mask];
	t->buckets[h & t->mask] = e;
	t->count++;
	return e;
}

void istr_put(struct istr_table *t, struct istr *i)
{
	struct istr **pp;

	if (!i || --i->refs > 0)
		return;
	for (pp = &t->buckets[i->hash & t->mask]; *pp; pp = &(*pp)->next)
		if (*pp == i) {
			*pp = i->next;
			break;
		}
	t->count--;
	free(i);
}

void istr_table_free(struct istr_table *t)
{
	for (uint32_t i = 0; t->buckets && i <= t->mask; i++)
		while (t->buckets[i]) {
			struct istr *e = t->buckets[i];
			t->buckets[i] = e->next;
			free(e);
		}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

void istr_set(struct istr_table *t, struct istr **slot, struct istr *v)
{
	if (*slot == v)
		return;
	istr_ref(v);
	istr_put(t, *slot);
	*slot = v;
}

void params_clear(struct istr_table *t, struct params *p)
{
	for (int i = 0; i < PARAM_MAX; i++) {
		istr_put(t, p->v[i]);
		p->v[i] = NULL;
	}
}

/* ---- tracked parameters ---- */

static const char *const fixed_params[PARAM_FIXED] = {
	"client_encoding", "DateStyle", "TimeZone", "standard_conforming_strings", "application_name"
};

int param_index(const struct sift *s, const char *name)
{
	for (int i = 0; i < s->nparams; i++)
		if (strcasecmp(s->param_names[i], name) == 0)
			return i;
	return -1;
}

bool params_setup(struct sift *s, const char *extra, char *err, size_t errlen)
{
	char buf[512], *tok, *save = NULL;

	for (int i = 0; i < s->nparams; i++)
		free(s->param_names[i]);
	s->nparams = 0;
	for (int i = 0; i < PARAM_FIXED; i++)
		s->param_names[s->nparams++] = strdup(fixed_params[i]);
	snprintf(buf, sizeof(buf), "%s", extra ? extra : "");
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (param_index(s, tok) >= 0)
			continue;
		if (s->nparams == PARAM_MAX) {
			snprintf(err, errlen, "track_extra_parameters: at most %d extra parameters", PARAM_MAX - PARAM_FIXED);
			return false;
		}
		s->param_names[s->nparams++] = strdup(tok);
	}
	for (int i = 0; i < s->nparams; i++)
		if (!s->param_names[i]) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
	return true;
}

/* ---- users ---- */

struct user *user_find(struct sift *s, const char *name)
{
	struct list *it;

	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

/* The [users] overrides of u (uc NULL: none). */
static void user_apply_conf(struct user *u, const struct user_conf *uc)
{
	u->pool_mode = uc ? uc->pool_mode : -1;
	u->pool_size = uc ? uc->pool_size : -1;
	u->reserve_pool_size = uc ? uc->reserve_pool_size : -1;
	u->max_user_connections = uc ? uc->max_user_connections : -1;
	u->max_user_client_connections = uc ? uc->max_user_client_connections : -1;
	u->query_timeout = uc ? uc->query_timeout : -1;
	u->query_wait_timeout = uc ? uc->query_wait_timeout : -1;
	u->idle_transaction_timeout = uc ? uc->idle_transaction_timeout : -1;
	u->transaction_timeout = uc ? uc->transaction_timeout : -1;
	u->client_idle_timeout = uc ? uc->client_idle_timeout : -1;
}

struct user *user_get(struct sift *s, const char *name)
{
	struct user *u = user_find(s, name);
	const struct user_conf *uc;

	if (u)
		return u;
	if (strlen(name) >= NAME_LEN || !(u = calloc(1, sizeof(*u))))
		return NULL;
	strcpy(u->name, name);
	uc = config_find_user(&s->cfg, name);
	user_apply_conf(u, uc);
	list_init(&u->node);
	list_append(&s->users, &u->node);
	return u;
}

static void user_free(struct user *u)
{
	list_del(&u->node);
	free(u->secret);
	free(u);
}

/* ---- databases ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool db_conf_copy(struct db_conf *dst, const struct db_conf *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->host = dup_or_null(src->host);
	dst->dbname = dup_or_null(src->dbname);
	dst->user = dup_or_null(src->user);
	dst->password = dup_or_null(src->password);
	dst->connect_query = dup_or_null(src->connect_query);
	dst->application_name = dup_or_null(src->application_name);
	dst->client_encoding = dup_or_null(src->client_encoding);
	dst->datestyle = dup_or_null(src->datestyle);
	dst->timezone = dup_or_null(src->timezone);
	dst->auth_user = dup_or_null(src->auth_user);
	dst->auth_query = dup_or_null(src->auth_query);
	dst->auth_dbname = dup_or_null(src->auth_dbname);
	return (!src->name || dst->name) && (!src->host || dst->host) && (!src->dbname || dst->dbname) &&
	       (!src->user || dst->user) && (!src->password || dst->password) &&
	       (!src->connect_query || dst->connect_query) && (!src->application_name || dst->application_name) &&
	       (!src->client_encoding || dst->client_encoding) && (!src->datestyle || dst->datestyle) &&
	       (!src->timezone || dst->timezone) && (!src->auth_user || dst->auth_user) &&
	       (!src->auth_query || dst->auth_query) && (!src->auth_dbname || dst->auth_dbname);
}

void db_forget_addresses(struct db *db)
{
	for (int i = 0; i < db->nhosts; i++)
		db->hosts[i].addrlen = 0;
}

/* Splits db->conf.host into db->hosts (one entry, name NULL, without a
 * host): a new list starts at its first host. */
static bool db_split_hosts(struct db *db)
{
	const char *names[CONFIG_MAX_HOSTS];
	const char *host = db->conf.host;
	char *buf = host ? malloc(strlen(host) + 1) : NULL;
	int n = host ? (buf ? config_split_hosts(host, buf, names, CONFIG_MAX_HOSTS) : -1) : 1;
	struct db_host *hosts = n > 0 ? calloc((size_t)n, sizeof(*hosts)) : NULL;

	if (!hosts) { /* config_parse_db() refused bad lists: out of memory */
		free(buf);
		return false;
	}
	for (int i = 0; host && i < n; i++)
		hosts[i].name = names[i];
	free(db->hosts);
	free(db->hostbuf);
	db->hosts = hosts;
	db->hostbuf = buf;
	db->nhosts = n;
	db->next_host = 0;
	return true;
}

static struct db *db_find_exact(struct sift *s, const char *name)
{
	struct list *it;

	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

/* Applies a config entry (name is the client-visible name) to db. */
static bool db_apply(struct sift *s, struct db *db, const struct db_conf *dc, const char *name)
{
	struct db_conf nc;
	bool changed;

	if (!db_conf_copy(&nc, dc)) {
		config_db_conf_free(&nc);
		return false;
	}
	if (!nc.dbname) /* the name clients use; for "*", the name they asked for */
		nc.dbname = strdup(name);
	free(nc.name);
	nc.name = strdup(name);
	if (!nc.dbname || !nc.name) {
		config_db_conf_free(&nc);
		return false;
	}
	changed = !db->conf.name || config_db_conn_changed(&db->conf, &nc);
	if (db->conf.name && changed)
		db->generation++;
	config_db_conf_free(&db->conf);
	db->conf = nc;
	db->removed = false;
	/* the host list (and what was resolved of it) stays while unchanged */
	if ((changed || !db->hosts) && !db_split_hosts(db))
		return false;
	db->forced_user = nc.user ? user_get(s, nc.user) : NULL;
	return !nc.user || db->forced_user;
}

/* Login settings of db changed: the parameters new clients are told must
 * come from a server logged in with the new settings. */
static void pools_forget_welcome(struct sift *s, struct db *db)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (p->db == db)
			p->welcome_ok = false;
	}
}

static struct db *db_new(struct sift *s, const char *name)
{
	struct db *db;

	if (strlen(name) >= NAME_LEN || !(db = calloc(1, sizeof(*db))))
		return NULL;
	strcpy(db->name, name);
	list_init(&db->node);
	list_append(&s->dbs, &db->node);
	(void)s;
	return db;
}

static void db_free(struct db *db)
{
	list_del(&db->node);
	config_db_conf_free(&db->conf);
	free(db->hosts);
	free(db->hostbuf);
	free(db);
}

struct db *db_lookup(struct sift *s, const char *name, bool create)
{
	struct db *db = db_find_exact(s, name), *tmpl;
	const struct db_conf *star;

	if (db && !db->template && !db->removed)
		return db;
	if (!strcmp(name, "pgsift") || !strcmp(name, "pgbouncer"))
		return db_find_exact(s, "pgsift");
	tmpl = db_find_exact(s, "*");
	star = config_find_db(&s->cfg, "*");
	if (!star || !tmpl || tmpl->removed || !strcmp(name, "*"))
		return NULL;
	/* before authentication nothing is created: the template stands in */
	if (!create)
		return tmpl;
	/* an entry a reload dropped, whose name "*" now covers, comes back */
	if (db && db->removed) {
		db->autodb = true;
		return db_apply(s, db, star, name) ? db : NULL;
	}
	if (!(db = db_new(s, name)))
		return NULL;
	log_info("registered new auto-database: %s", name);
	db->autodb = true;
	if (!db_apply(s, db, star, name)) {
		list_del(&db->node);
		db_free(db);
		return NULL;
	}
	return db;
}

static void users_sync_config(struct sift *s)
{
	struct list *it;

	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		user_apply_conf(u, config_find_user(&s->cfg, u->name));
	}
	for (int i = 0; i < s->cfg.nusers; i++)
		if (!user_get(s, s->cfg.users[i].name))
			log_error("out of memory creating user %s", s->cfg.users[i].name);
}

bool db_sync_config(struct sift *s, char *err, size_t errlen)
{
	const struct db_conf *star = config_find_db(&s->cfg, "*");
	struct list *it;

	users_sync_config(s);
	if (!db_find_exact(s, "pgsift")) {
		struct db *adm = db_new(s, "pgsift");
		if (!adm)
			return snprintf(err, errlen, "out of memory"), false;
		adm->admin = true;
	}
	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		const struct db_conf *dc = config_find_db(&s->cfg, db->name);
		if (db->admin)
			continue;
		uint32_t gen = db->generation;
		if (db->autodb && !dc)
			dc = star;
		db->removed = !dc;
		if (dc && !db_apply(s, db, dc, db->name))
			return snprintf(err, errlen, "out of memory"), false;
		if (gen != db->generation)
			pools_forget_welcome(s, db);
	}
	for (int i = 0; i < s->cfg.ndbs; i++) {
		const struct db_conf *dc = &s->cfg.dbs[i];
		struct db *db;
		if (db_find_exact(s, dc->name))
			continue;
		if (!strcmp(dc->name, "pgsift") || !strcmp(dc->name, "pgbouncer")) {
			log_warning("database entry \"%s\" ignored: the name belongs to the admin console", dc->name);
			continue;
		}
		if (!(db = db_new(s, dc->name)))
			return snprintf(err, errlen, "out of memory"), false;
		db->template = !strcmp(dc->name, "*");
		if (!db_apply(s, db, dc, dc->name))
			return snprintf(err, errlen, "out of memory"), false;
	}
	/* a database with a forced user has its pool from the start, so
	 * min_pool_size warms it up before the first client arrives */
	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		if (!db->admin && !db->template && !db->removed && db->forced_user && !pool_get(s, db, db->forced_user))
			return snprintf(err, errlen, "out of memory"), false;
	}
	return true;
}

/* ---- pools ---- */

struct pool *pool_find(struct sift *s, const struct db *db, const struct user *u)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (p->db == db && p->user == u)
			return p;
	}
	return NULL;
}

struct pool *pool_get(struct sift *s, struct db *db, struct user *u)
{
	struct pool *p = pool_find(s, db, u);
	struct list *lists[11];

	if (p)
		return p;
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->sift = s;
	p->db = db;
	p->user = u;
	lists[0] = &p->node;
	lists[1] = &p->idle_clients;
	lists[2] = &p->active_clients;
	lists[3] = &p->waiting_clients;
	lists[4] = &p->login_clients;
	lists[5] = &p->active_servers;
	lists[6] = &p->idle_servers;
	lists[7] = &p->tested_servers;
	lists[8] = &p->new_servers;
	lists[9] = &p->canceling_servers;
	lists[10] = NULL;
	for (int i = 0; lists[i]; i++)
		list_init(lists[i]);
	list_append(&s->pools, &p->node);
	return p;
}

static void pool_clear_welcome(struct sift *s, struct pool *p)
{
	for (int i = 0; i < p->nwelcome; i++) {
		istr_put(&s->strs, p->welcome_names[i]);
		istr_put(&s->strs, p->welcome_vals[i]);
	}
	free(p->welcome_names);
	free(p->welcome_vals);
	p->welcome_names = p->welcome_vals = NULL;
	p->nwelcome = 0;
	p->welcome_ok = false;
	params_clear(&s->strs, &p->defaults);
}

bool pool_set_welcome(struct sift *s, struct pool *p, struct istr **names, struct istr **vals, int n)
{
	struct istr **nn = calloc((size_t)n + 1, sizeof(*nn)), **nv = calloc((size_t)n + 1, sizeof(*nv));

	if (!nn || !nv) {
		free(nn);
		free(nv);
		return false;
	}
	pool_clear_welcome(s, p);
	for (int i = 0; i < n; i++) {
		int idx = param_index(s, names[i]->s);
		nn[i] = istr_ref(names[i]);
		nv[i] = istr_ref(vals[i]);
		if (idx >= 0)
			istr_set(&s->strs, &p->defaults.v[idx], vals[i]);
	}
	p->welcome_names = nn;
	p->welcome_vals = nv;
	p->nwelcome = n;
	p->welcome_ok = true;
	return true;
}

static void pool_free(struct sift *s, struct pool *p)
{
	notify_pool_free(p);
	list_del(&p->node);
	pool_clear_welcome(s, p);
	advisor_pool_free(p);
	free(p->last_login_error);
	free(p);
}

void pool_drop(struct sift *s, struct pool *p)
{
	pool_free(s, p);
}

/* ---- cancel keys ---- */

static uint32_t cancel_hash(uint32_t pid, uint32_t key)
{
	uint64_t x = ((uint64_t)pid << 32 | key) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(x >> 32);
}

static bool cancel_grow(struct sift *s)
{
	uint32_t n = s->cancel_map ? (s->cancel_mask + 1) * 2 : 256;
	struct client **nm = calloc(n, sizeof(*nm));

	if (!nm)
		return false;
	for (uint32_t i = 0; s->cancel_map && i <= s->cancel_mask; i++)
		while (s->cancel_map[i]) {
			struct client *c = s->cancel_map[i];
			uint32_t h = cancel_hash(c->cancel_pid, c->cancel_key) & (n - 1);
			s->cancel_map[i] = c->cancel_next;
			c->cancel_next = nm[h];
			nm[h] = c;
		}
	free(s->cancel_map);
	s->cancel_map = nm;
	s->cancel_mask = n - 1;
	return true;
}

struct client *cancel_map_find(struct sift *s, uint32_t pid, uint32_t key)
{
	struct client *c;

	if (!s->cancel_map)
		return NULL;
	for (c = s->cancel_map[cancel_hash(pid, key) & s->cancel_mask]; c; c = c->cancel_next)
		if (c->cancel_pid == pid && c->cancel_key == key)
			return c;
	return NULL;
}

bool cancel_map_add(struct sift *s, struct client *cl)
{
	uint32_t h;

	if ((!s->cancel_map || s->cancel_count > s->cancel_mask) && !cancel_grow(s))
		return false;
	do {
		uint32_t k[2];
		sift_random(k, sizeof(k));
		cl->cancel_pid = k[0] & 0x7fffffff; /* a positive "pid", as clients expect */
		cl->cancel_key = k[1];
		if (s->cfg.peer_id > 0)
			peer_key_tag(&cl->cancel_pid, &cl->cancel_key, s->cfg.peer_id);
	} while (cl->cancel_pid == 0 || cancel_map_find(s, cl->cancel_pid, cl->cancel_key));
	h = cancel_hash(cl->cancel_pid, cl->cancel_key) & s->cancel_mask;
	cl->cancel_next = s->cancel_map[h];
	s->cancel_map[h] = cl;
	s->cancel_count++;
	return true;
}

void cancel_map_del(struct sift *s, struct client *cl)
{
	struct client **pp;

	if (!s->cancel_map || cl->cancel_pid == 0)
		return;
	for (pp = &s->cancel_map[cancel_hash(cl->cancel_pid, cl->cancel_key) & s->cancel_mask]; *pp;
	     pp = &(*pp)->cancel_next)
		if (*pp == cl) {
			*pp = cl->cancel_next;
			s->cancel_count--;
			break;
		}
	cl->cancel_pid = 0;
}

void sift_random(void *buf, size_t n)
{
	if (RAND_bytes(buf, (int)n) != 1) {
		/* OpenSSL's CSPRNG does not fail once seeded; refuse to go on with weak keys */
		log_fatal("RAND_bytes failed");
		abort();
	}
}

void objects_free_all(struct sift *s)
{
	while (!list_empty(&s->pools))
		pool_free(s, list_entry(s->pools.next, struct pool, node));
	while (!list_empty(&s->dbs))
		db_free(list_entry(s->dbs.next, struct db, node));
	while (!list_empty(&s->users))
		user_free(list_entry(s->users.next, struct user, node));
	free(s->cancel_map);
	s->cancel_map = NULL;
	for (int i = 0; i < s->nparams; i++)
		free(s->param_names[i]);
	s->nparams = 0;
	istr_table_free(&s->strs);
}

int pool_libpq_params(const struct sift *s, const struct pool *p, const char **k, const char **v, char *hostbuf,
		      char *portbuf)
{
	const struct db *db = p->db;
	const struct user *u = p->user;
	const char *pw = db->conf.password ? db->conf.password : u->secret_kind == SECRET_PLAIN ? u->secret : NULL;
	/* a host list: the host the last server connection went to */
	const struct db_host *h = &db->hosts[db->nhosts > 1 ? (db->next_host + db->nhosts - 1) % db->nhosts : 0];
	int n = 0;

	if (h->addrlen && h->addr.ss_family == AF_INET)
		k[n] = "hostaddr", v[n++] = inet_ntop(AF_INET, &((const struct sockaddr_in *)&h->addr)->sin_addr,
						       hostbuf, 64);
	else if (h->addrlen && h->addr.ss_family == AF_INET6)
		k[n] = "hostaddr", v[n++] = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&h->addr)->sin6_addr,
						       hostbuf, 64);
	else
		k[n] = "host", v[n++] = h->name ? h->name : s->cfg.unix_socket_dir;
	snprintf(portbuf, 16, "%d", db->conf.port);
	k[n] = "port", v[n++] = portbuf;
	k[n] = "dbname", v[n++] = db->conf.dbname ? db->conf.dbname : db->name;
	k[n] = "user", v[n++] = u->name;
	if (pw)
		k[n] = "password", v[n++] = pw;
	return n;
}
