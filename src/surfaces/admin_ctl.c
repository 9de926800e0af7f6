/*
 * admin_ctl: the console's control commands (PAUSE, RESUME, DISABLE,
 * ENABLE, RECONNECT, WAIT_CLOSE, KILL, KILL_CLIENT, SET, SHUTDOWN) and the
 * janitor that answers the ones that wait. admin.c parses and dispatches.
 */
#include "surfaces/admin.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surfaces/admin_cmd.h"
#include "pooler/client.h"
#include "util/log.h"
#include "pooler/objects.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "pooler/suspend.h"

/* The database that the command cmd names; NULL (with an error) if none. */
static struct db *named_db(struct client *cl, const char *cmd, const char *name)
{
	struct db *db = db_lookup(cl->sift, name, false);

	if (!db || db->template) {
		admin_err(cl, "3D000", "no such database: %s", name);
		return NULL;
	}
	if (db->admin) {
		admin_err(cl, "42601", "%s does not apply to the admin console", cmd);
		return NULL;
	}
	return db;
}

/* The optional database of PAUSE, RESUME, KILL, RECONNECT and WAIT_CLOSE
 * (t[0] names the command): false, with the client told why, when the
 * syntax is wrong or the database is not one. *db stays NULL for "all of
 * them". */
static bool target_db(struct client *cl, const struct tok *t, int n, struct db **db)
{
	if (n > 2) {
		admin_err(cl, "42601", "syntax: %s [database]", t[0].v);
		return false;
	}
	return n < 2 || (*db = named_db(cl, t[0].v, t[1].v)) != NULL;
}

/* Runs fn on each entry that a PAUSE, RESUME, KILL or RECONNECT in t acts
 * on: the named one, or every one but the console. fn says whether it acted
 * (PAUSE passes over an entry already paused). Returns how many it acted on,
 * or -1 when the command is refused (the client is told why); *db gets the
 * named entry, NULL for all. */
static int for_targets(struct client *cl, const struct tok *t, int n, struct db **db,
		       bool (*fn)(struct sift *s, struct db *d))
{
	struct list *it;
	int count = 0;

	*db = NULL;
	if (!target_db(cl, t, n, db))
		return -1;
	list_for_each(it, &cl->sift->dbs) {
		struct db *d = list_entry(it, struct db, node);
		if (!d->admin && !d->template && (!*db || d == *db))
			count += fn(cl->sift, d);
	}
	return count;
}


static void admin_wait(struct client *cl, uint32_t what, struct db *db)
{
	cl->admin_wait = what;
	cl->admin_wait_db = db;
	cl->c.want_read = false;
}


void cmd_pause(struct client *cl, const struct tok *t, int n)
{
	struct db *db;
	int count = for_targets(cl, t, n, &db, pool_pause_db);

	if (count < 0)
		return;
	if (count == 0) {
		admin_err(cl, "55000", db ? "database %s is already paused" : "already paused", db ? db->name : "");
		return;
	}
	log_info("PAUSE %s", db ? db->name : "(all)");
	admin_wait(cl, ADMIN_WAIT_PAUSE, db);
}

/* SUSPEND: no socket but the console's is read until RESUME; answers once
 * every queued byte is sent (admin_janitor()). */
void cmd_suspend(struct client *cl, int n)
{
	struct sift *s = cl->sift;

	if (n != 1) {
		admin_err(cl, "42601", "syntax: SUSPEND");
		return;
	}
	if (s->shutdown != SHUTDOWN_NONE) {
		admin_err(cl, "55000", "pooler is shutting down");
		return;
	}
	if (!suspend_start(s)) {
		admin_err(cl, "55000", "already suspended");
		return;
	}
	log_info("SUSPEND");
	if (suspend_flushed(s))
		command_complete(&cl->c.gen, "SUSPEND");
	else
		admin_wait(cl, ADMIN_WAIT_SUSPEND, NULL);
}

void cmd_resume(struct client *cl, const struct tok *t, int n)
{
	struct db *db;
	int count;

	if (cl->sift->shutdown != SHUTDOWN_NONE) { /* the PAUSE of a shutdown stays */
		admin_err(cl, "55000", "pooler is shutting down");
		return;
	}
	if (n == 1 && suspend_end(cl->sift)) {
		/* as PgBouncer: RESUME ends a SUSPEND and any PAUSE with it */
		for_targets(cl, t, n, &db, pool_resume_db);
		log_info("RESUME (suspended)");
		command_complete(&cl->c.gen, "RESUME");
		return;
	}
	count = for_targets(cl, t, n, &db, pool_resume_db);
	if (count < 0)
		return;
	if (count == 0) {
		admin_err(cl, "55000", db ? "database %s is not paused" : "pooler is not paused", db ? db->name : "");
		return;
	}
	log_info("RESUME %s", db ? db->name : "(all)");
	command_complete(&cl->c.gen, "RESUME");
}

/* DISABLE db, ENABLE db: new clients of the entry are refused, or let in
 * again; those connected stay. */
void cmd_disable(struct client *cl, const struct tok *t, int n, bool disable)
{
	struct db *db;

	if (n != 2) {
		admin_err(cl, "42601", "syntax: %s database", t[0].v);
		return;
	}
	if (!(db = named_db(cl, t[0].v, t[1].v)))
		return;
	db->disabled = disable;
	log_info("%s %s", disable ? "DISABLE" : "ENABLE", db->name);
	command_complete(&cl->c.gen, disable ? "DISABLE" : "ENABLE");
}

/* RECONNECT: every server connection of d closes as it is released (idle
 * ones at the janitor's next tick) and new ones are opened as needed, with
 * the host name looked up again: what a RELOAD does to an entry whose
 * connection settings changed (a new generation: server_expired()). */
static bool reconnect_db(struct sift *s, struct db *d)
{
	d->generation++;
	db_forget_addresses(d);
	pool_resize(s, d);
	return true;
}

void cmd_reconnect(struct client *cl, const struct tok *t, int n)
{
	struct db *db;

	if (for_targets(cl, t, n, &db, reconnect_db) < 0)
		return;
	log_info("RECONNECT %s", db ? db->name : "(all)");
	command_complete(&cl->c.gen, "RECONNECT");
}

/* Server connections of db (NULL: all) that close when released: after a
 * RECONNECT, or a RELOAD that changed their entry. */
static int closing_servers(struct sift *s, const struct db *db)
{
	struct list *it;
	int n = 0;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct list *lists[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->new_servers,
					 &p->canceling_servers };
		if (db && p->db != db)
			continue;
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
			struct list *j;
			list_for_each(j, lists[i]) {
				const struct server *sv = list_entry(j, struct server, node);
				n += sv->close_needed || sv->generation != p->db->generation;
			}
		}
	}
	return n;
}

/* WAIT_CLOSE [db]: answers when no server connection of db is left to
 * close (closing_servers()). */
void cmd_wait_close(struct client *cl, const struct tok *t, int n)
{
	struct db *db = NULL;

	if (!target_db(cl, t, n, &db))
		return;
	if (closing_servers(cl->sift, db) == 0) {
		command_complete(&cl->c.gen, "WAIT_CLOSE");
		return;
	}
	admin_wait(cl, ADMIN_WAIT_CLOSE, db);
}

static void close_clients(struct list *l, const char *reason)
{
	while (!list_empty(l))
		client_close(list_entry(l->next, struct client, node), "57P01", reason);
}

static bool kill_db(struct sift *s, struct db *d)
{
	struct list *it;

	d->killed = true;
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (p->db != d)
			continue;
		close_clients(&p->active_clients, "terminating connection due to KILL command");
		close_clients(&p->waiting_clients, "terminating connection due to KILL command");
		close_clients(&p->idle_clients, "terminating connection due to KILL command");
		close_clients(&p->login_clients, "terminating connection due to KILL command");
	}
	pool_close_db_servers(s, d, false);
	return true;
}

void cmd_kill(struct client *cl, const struct tok *t, int n)
{
	struct db *db;

	if (for_targets(cl, t, n, &db, kill_db) < 0)
		return;
	log_info("KILL %s", db ? db->name : "(all)");
	command_complete(&cl->c.gen, "KILL");
}

/* The client whose SHOW CLIENTS id is id, or NULL */
static struct client *client_by_id(struct sift *s, uint64_t id)
{
	struct list *lists[] = { &s->login_clients, &s->admin_clients };
	struct list *it, *j;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		list_for_each(j, lists[i])
			if (list_entry(j, struct client, node)->id == id)
				return list_entry(j, struct client, node);
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct list *cls[] = { &p->active_clients, &p->waiting_clients, &p->idle_clients, &p->login_clients };
		for (size_t i = 0; i < sizeof(cls) / sizeof(cls[0]); i++)
			list_for_each(j, cls[i])
				if (list_entry(j, struct client, node)->id == id)
					return list_entry(j, struct client, node);
	}
	return NULL;
}

/* KILL_CLIENT id (PgBouncer 1.21): closes that client at once, as KILL
 * closes a database's; a transaction it had open is rolled back with its
 * server connection. */
void cmd_kill_client(struct client *cl, const struct tok *t, int n)
{
	struct client *victim;
	char *end;
	unsigned long long id;

	if (n != 2 || !isdigit((unsigned char)t[1].v[0]) ||
	    (errno = 0, id = strtoull(t[1].v, &end, 10), *end || errno)) {
		admin_err(cl, "42601", "syntax: KILL_CLIENT id (the id column of SHOW CLIENTS)");
		return;
	}
	if (!(victim = client_by_id(cl->sift, id))) {
		admin_err(cl, "42704", "no client with id %llu", id);
		return;
	}
	if (victim == cl) {
		admin_err(cl, "55000", "KILL_CLIENT of the console's own connection (disconnect instead)");
		return;
	}
	log_info("KILL_CLIENT %llu", id);
	client_close(victim, "57P01", "terminating connection due to administrator command");
	command_complete(&cl->c.gen, "KILL_CLIENT");
}

/* SET pool_size|reserve_pool_size|min_pool_size = N|default FOR DATABASE db:
 * a [databases] entry's own size, live until the next RELOAD. */
static void cmd_set_db(struct client *cl, const struct tok *t)
{
	struct sift *s = cl->sift;
	struct db *db;
	int *field, v = -1;
	char *end;
	long l;

	if (!is_word(&t[1], "pool_size") && !is_word(&t[1], "reserve_pool_size") && !is_word(&t[1], "min_pool_size")) {
		admin_err(cl, "42704", "\"%s\" cannot be set for one database; use pool_size, reserve_pool_size or min_pool_size", t[1].v);
		return;
	}
	if (!is_word(&t[3], "default")) {
		l = strtol(t[3].v, &end, 10);
		if (!t[3].v[0] || *end || l < (is_word(&t[1], "pool_size") ? 1 : 0) || l > 100000) {
			admin_err(cl, "22023", "%s: \"%s\" is not a valid size (%s..100000 or default)", t[1].v, t[3].v,
			    is_word(&t[1], "pool_size") ? "1" : "0");
			return;
		}
		v = (int)l;
	}
	db = db_lookup(s, t[6].v, false);
	if (db && db->admin) {
		admin_err(cl, "42601", "the admin console has no pool size");
		return;
	}
	if (!(db = named_db(cl, "SET", t[6].v)))
		return;
	field = is_word(&t[1], "pool_size") ? &db->conf.pool_size
		: is_word(&t[1], "reserve_pool_size") ? &db->conf.reserve_pool_size : &db->conf.min_pool_size;
	*field = v;
	pool_resize(s, db);
	log_info("SET %s = %s FOR DATABASE %s", t[1].v, t[3].v, db->name);
	command_complete(&cl->c.gen, "SET");
}

void cmd_set(struct client *cl, const struct tok *t, int n)
{
	struct sift *s = cl->sift;
	char e[300], old[4096];
	int i;

	if (n == 7 && (is_word(&t[2], "=") || is_word(&t[2], "to")) && is_word(&t[4], "for") &&
	    is_word(&t[5], "database")) {
		cmd_set_db(cl, t);
		return;
	}
	if (n != 4 || (!is_word(&t[2], "=") && !is_word(&t[2], "to"))) {
		admin_err(cl, "42601", "syntax: SET key = value");
		return;
	}
	i = config_setting_find(t[1].v);
	if (i < 0) {
		admin_err(cl, "42704", "unknown setting \"%s\"", t[1].v);
		return;
	}
	if (!config_setting_changeable(i)) {
		admin_err(cl, "55P02", "setting \"%s\" cannot be changed at run time; edit the config file and restart",
		    config_setting_name(i));
		return;
	}
	config_setting_value(&s->cfg, i, old, sizeof(old));
	if (!config_set(&s->cfg, t[1].v, t[3].v, e, sizeof(e))) {
		admin_err(cl, "22023", "%s: %s", config_setting_name(i), e);
		return;
	}
	if (!sift_apply_setting(s, config_setting_name(i), e, sizeof(e))) {
		char ignored[64];
		if (!config_set(&s->cfg, t[1].v, old, ignored, sizeof(ignored))) /* the value it had */
			log_error("SET %s: cannot put back \"%s\"", config_setting_name(i), old);
		admin_err(cl, "22023", "%s: %s; the setting keeps its value", config_setting_name(i), e);
		return;
	}
	log_info("SET %s = %s", config_setting_name(i), t[3].v);
	command_complete(&cl->c.gen, "SET");
}

void cmd_shutdown(struct client *cl, const struct tok *t, int n)
{
	int mode = SHUTDOWN_NOW;

	if (n == 2 && is_word(&t[1], "wait_for_servers"))
		mode = SHUTDOWN_WAIT_SERVERS;
	else if (n == 2 && is_word(&t[1], "wait_for_clients"))
		mode = SHUTDOWN_WAIT_CLIENTS;
	else if (n != 1) {
		admin_err(cl, "42601", "syntax: SHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS]");
		return;
	}
	command_complete(&cl->c.gen, "SHUTDOWN");
	sift_shutdown(cl->sift, mode);
}

static int db_servers(struct sift *s, struct db *db)
{
	struct list *it;
	int n = 0;

	if (db)
		return db->nservers;
	list_for_each(it, &s->dbs)
		n += list_entry(it, struct db, node)->nservers;
	return n;
}

/* Has the wait of a console client that waits (admin_wait()) ended? */
static bool wait_over(struct sift *s, const struct client *cl)
{
	if (cl->admin_wait == ADMIN_WAIT_CLOSE)
		return closing_servers(s, cl->admin_wait_db) == 0;
	if (cl->admin_wait == ADMIN_WAIT_SUSPEND)
		return !s->suspended || suspend_flushed(s);
	return db_servers(s, cl->admin_wait_db) == 0;
}

void admin_janitor(struct sift *s)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &s->admin_clients) {
		struct client *cl = list_entry(it, struct client, node);
		uint32_t mark;
		if (!cl->admin_wait || cl->admin_wait == ADMIN_WAIT_SQL || !wait_over(s, cl))
			continue;
		mark = conn_gen_mark(&cl->c);
		command_complete(&cl->c.gen, cl->admin_wait == ADMIN_WAIT_CLOSE ? "WAIT_CLOSE" :
					      cl->admin_wait == ADMIN_WAIT_SUSPEND ? "SUSPEND" : "PAUSE");
		cl->admin_wait = ADMIN_WAIT_NONE;
		cl->c.want_read = true;
		proto_ready(&cl->c.gen, 'I');
		if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR) {
			client_close(cl, NULL, "cannot send console results");
			continue;
		}
		admin_input(cl); /* commands the client sent while it waited */
	}
}
