/*
 * pool: see pool.h.
 */
#include "pooler/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/advisor_pool.h"
#include "pooler/client.h"
#include "util/log.h"
#include "pooler/objects.h"
#include "pooler/server.h"
#include "pooler/session.h"

usec_t server_lifetime_of(const struct sift *s, const struct db *db)
{
	return db->conf.server_lifetime >= 0 ? db->conf.server_lifetime : s->cfg.server_lifetime;
}

static int min_pool_size_of(const struct sift *s, const struct pool *p)
{
	return p->db->conf.min_pool_size >= 0 ? p->db->conf.min_pool_size : s->cfg.min_pool_size;
}

int reserve_size_of(const struct sift *s, const struct pool *p)
{
	if (p->user && p->user->reserve_pool_size >= 0)
		return p->user->reserve_pool_size;
	return p->db->conf.reserve_pool_size >= 0 ? p->db->conf.reserve_pool_size : s->cfg.reserve_pool_size;
}

bool pool_pause_db(struct sift *s, struct db *d)
{
	if (d->paused)
		return false;
	d->paused = true;
	pool_close_db_servers(s, d, true);
	return true;
}

bool pool_resume_db(struct sift *s, struct db *d)
{
	struct list *it;

	if (!d->paused && !d->killed)
		return false;
	d->paused = d->killed = false;
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (p->db == d)
			pool_launch(p);
	}
	return true;
}

/* Every database but the console and the "*" template. */
static void for_all_dbs(struct sift *s, bool (*fn)(struct sift *, struct db *))
{
	struct list *it;

	list_for_each(it, &s->dbs) {
		struct db *d = list_entry(it, struct db, node);
		if (!d->admin && !d->template)
			(void)fn(s, d);
	}
}

void pool_pause_all(struct sift *s)
{
	for_all_dbs(s, pool_pause_db);
}

void pool_resume_all(struct sift *s)
{
	for_all_dbs(s, pool_resume_db);
}

void pool_shutdown_waiting(struct sift *s)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		while (!list_empty(&p->waiting_clients))
			client_close(list_entry(p->waiting_clients.next, struct client, node), "57P01",
				     "server shutting down");
	}
}

bool pool_db_blocked(const struct sift *s, const struct db *db)
{
	return db->paused || db->killed || s->shutdown == SHUTDOWN_WAIT_SERVERS;
}

static void link_pair(struct client *cl, struct server *sv)
{
	struct pool *p = cl->pool;
	struct sift *s = cl->sift;

	cl->server = sv;
	sv->client = cl;
	cl->c.peer = &sv->c;
	sv->c.peer = &cl->c;
	cl->state = CL_ACTIVE;
	list_move(&p->active_clients, &cl->node);
	sv->state = SV_ACTIVE;
	list_move(&p->active_servers, &sv->node);
	sv->link_time = s->now;
	sv->used = true;
	sv->ps_on = ps_wanted(s, sv);
	ss_watch_reset(cl, sv);
	p->stats.server_assignment_count++;
	advisor_on_link(p, cl->wait_start ? s->now - cl->wait_start : 0);
	if (cl->wait_start) {
		p->stats.wait_time += (uint64_t)(s->now - cl->wait_start);
		cl->an_wait_us += (uint64_t)(s->now - cl->wait_start);
		cl->wait_start = 0;
	}
	cl->c.want_read = true;
	cl->wait_notified = false;
	sv->c.want_read = true;
}

void pool_link_replication(struct client *cl, struct server *sv)
{
	link_pair(cl, sv);
	/* session mode whatever pool_mode says: no statement tracking, no SET replay */
	sv->ps_on = false;
	cl->ss_on = cl->ss_watch = false;
}

static void unlink_pair(struct client *cl, struct server *sv)
{
	struct pool *p = sv->pool;

	cl->server = NULL;
	sv->client = NULL;
	cl->c.peer = NULL;
	sv->c.peer = NULL;
	if (cl->state == CL_ACTIVE) {
		cl->state = CL_IDLE;
		cl->idle_since = sv->sift->now;
		list_move(&p->idle_clients, &cl->node); /* the idle list stays ordered by idle_since */
	}
	cl->pending_z = 0;
	cl->unsynced = false;
	ps_server_unlinked(sv);
	sv->ps_on = false;
	cl->copy_in = cl->copy_end_sent = false;
	cl->syncs_since_cmd = cl->syncs_before_end = 0;
}

/* Takes the most recently used idle server that may be used now. Stale
 * ones start their check query and are skipped; expired ones close. */
static struct server *take_idle(struct pool *p)
{
	struct sift *s = p->sift;
	const char *check = s->cfg.server_check_query;
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &p->idle_servers) {
		struct server *sv = list_entry(it, struct server, node);
		if (server_expired(sv)) {
			server_close(sv, server_expiry_reason(sv));
			continue;
		}
		if (check && *check && s->now - sv->last_used > s->cfg.server_check_delay) {
			/* PgBouncer's "<empty>": an empty query, the cheapest round trip */
			if (!server_run_query(sv, strcmp(check, "<empty>") == 0 ? "" : check))
				server_close(sv, "cannot run server_check_query");
			continue;
		}
		return sv;
	}
	return NULL;
}

bool pool_request_server(struct client *cl)
{
	struct pool *p = cl->pool;
	struct sift *s = cl->sift;
	struct server *sv = NULL;

	/* SHUTDOWN WAIT_FOR_SERVERS: a transaction that has not begun never will */
	if (s->shutdown == SHUTDOWN_WAIT_SERVERS) {
		client_close(cl, "57P01", "server shutting down");
		return false;
	}
	advisor_on_request(p);
	if (!pool_db_blocked(s, p->db))
		sv = take_idle(p);
	if (sv) {
		link_pair(cl, sv);
		if (!server_sync_params(sv, cl)) {
			server_close(sv, "out of memory syncing parameters");
			return false;
		}
		return true;
	}
	if (cl->state != CL_WAITING) {
		cl->state = CL_WAITING;
		cl->wait_start = s->now;
		list_move(&p->waiting_clients, &cl->node);
		advisor_on_wait(p);
	}
	pool_launch(p);
	return false;
}

void pool_forget_client(struct client *cl)
{
	list_del(&cl->node);
}

void pool_release_server(struct server *sv)
{
	struct sift *s = sv->sift;
	struct client *cl = sv->client;
	const char *reset = s->cfg.server_reset_query;
	bool session_end = cl == NULL || cl->state == CL_FREE;

	advisor_on_unlink(sv);
	if (cl) {
		unlink_pair(cl, sv);
		if (cl->state != CL_FREE)
			conn_update(&cl->c);
	}
	an_server_reset(&sv->an);
	sv->last_used = s->now;
	if (sv->txn != 'I') {
		server_close(sv, "released in a transaction");
		return;
	}
	/* a client left state pgsift does not carry: nobody else may see it */
	if ((sv->ss_dirty || sv->ss_cur != sv->ss_set) && ss_server_released(sv) && !(session_end && pool_mode_of(s, sv->pool) == POOL_SESSION && reset && *reset)) {
		server_log(sv, LOG_DEBUG, "session state left by a client: DISCARD ALL");
		ss_server_reset(sv);
		if (!server_run_query(sv, "DISCARD ALL"))
			server_close(sv, "cannot run DISCARD ALL");
		return;
	}
	if ((session_end && pool_mode_of(s, sv->pool) == POOL_SESSION) || s->cfg.server_reset_query_always) {
		if (reset && *reset) {
			ss_server_reset(sv);
			if (!server_run_query(sv, reset))
				server_close(sv, "cannot run server_reset_query");
			return;
		}
	}
	pool_server_ready(sv);
}

void pool_server_ready(struct server *sv)
{
	struct pool *p = sv->pool;
	struct sift *s = sv->sift;
	struct client *cl;

	sv->c.peer = NULL;
	if (!list_empty(&sv->cancels)) {
		sv->state = SV_CANCELING;
		list_move(&p->canceling_servers, &sv->node);
		return;
	}
	if (server_expired(sv)) {
		server_close(sv, server_expiry_reason(sv));
		pool_launch(p);
		return;
	}
	if (pool_db_blocked(s, p->db) && s->shutdown != SHUTDOWN_WAIT_SERVERS) {
		server_close(sv, "database paused");
		return;
	}
	if (p->nservers > pool_size_of(s, p) + reserve_size_of(s, p)) {
		server_close(sv, "pool size lowered");
		return;
	}
	sv->state = SV_IDLE;
	sv->last_used = s->now; /* fresh from login, a check, or a release */
	sv->c.want_read = true;
	list_del(&sv->node);
	list_prepend(&p->idle_servers, &sv->node);
	/* bytes the server sent after its last ReadyForQuery (a late NOTIFY or
	 * notice) belong to no one: server.c drops them before a handover */
	if (s->shutdown == SHUTDOWN_WAIT_SERVERS || pool_db_blocked(s, p->db) || list_empty(&p->waiting_clients) ||
	    (sv->c.in && sv->c.in->pos < sv->c.in->end)) {
		conn_update(&sv->c);
		return;
	}
	cl = list_entry(p->waiting_clients.next, struct client, node);
	link_pair(cl, sv);
	if (!server_sync_params(sv, cl)) {
		server_close(sv, "out of memory syncing parameters");
		return;
	}
	client_resume(cl);
}

static int pool_count(const struct list *l)
{
	return (int)list_count(l);
}

/* How many nodes l has, counting no further than max. */
static int count_upto(const struct list *l, int max)
{
	int n = 0;

	for (const struct list *it = l->next; it != l && n < max; it = it->next)
		n++;
	return n;
}

/* Closes one idle server of another pool of the same database (by_db) or
 * the same user, so a pool that waits can open one under
 * max_db_connections or max_user_connections. */
static bool evict_idle(struct sift *s, struct pool *self, bool by_db)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		bool same = by_db ? p->db == self->db : p->user == self->user;
		if (p != self && same && !list_empty(&p->idle_servers)) {
			struct server *sv = list_entry(p->idle_servers.prev, struct server, node);
			server_close(sv, by_db ? "evicted for another pool (max_db_connections)"
					       : "evicted for another pool (max_user_connections)");
			return true;
		}
	}
	return false;
}

/* max_db_connections and max_user_connections leave room for one more
 * server of p (evicting an idle one of another pool if need be). */
static bool limits_allow(struct sift *s, struct pool *p)
{
	int maxdb = p->db->conf.max_db_connections >= 0 ? p->db->conf.max_db_connections : s->cfg.max_db_connections;
	int maxuser = p->user->max_user_connections >= 0 ? p->user->max_user_connections : s->cfg.max_user_connections;

	if (maxdb > 0 && p->db->nservers >= maxdb && (!evict_idle(s, p, true) || p->db->nservers >= maxdb))
		return false;
	return maxuser <= 0 || p->user->nservers < maxuser ||
	       (evict_idle(s, p, false) && p->user->nservers < maxuser);
}

static bool may_open(struct sift *s, struct pool *p)
{
	int size = pool_size_of(s, p);

	if (p->nservers >= size) {
		struct client *first;
		if (reserve_size_of(s, p) <= 0 || p->nservers >= size + reserve_size_of(s, p) ||
		    list_empty(&p->waiting_clients))
			return false;
		first = list_entry(p->waiting_clients.next, struct client, node);
		if (s->now - first->wait_start < s->cfg.reserve_pool_timeout)
			return false;
		client_log(first, LOG_WARNING, "taking connection from reserve_pool");
		advisor_on_reserve(p);
	}
	return limits_allow(s, p);
}

/* Room for a replication client's server: within pool_size (not the
 * reserve), making it by closing the pool's longest idle server, as
 * PgBouncer does ("evicted"). */
static bool replication_room(struct sift *s, struct pool *p)
{
	if (p->nservers >= pool_size_of(s, p)) {
		if (list_empty(&p->idle_servers))
			return false;
		server_close(list_entry(p->idle_servers.prev, struct server, node), "evicted");
		if (p->nservers >= pool_size_of(s, p))
			return false;
	}
	return limits_allow(s, p);
}

/* Opens servers for the replication clients of p that have none yet,
 * first come first served, as far as there is room. */
static void launch_replication(struct sift *s, struct pool *p)
{
	struct list *it;

	list_for_each(it, &p->login_clients) {
		struct client *cl = list_entry(it, struct client, node);
		if (!cl->replication || cl->repl_server)
			continue;
		/* a failed launch may close clients of this list: stop there */
		if (!replication_room(s, p) || !server_launch_replication(p, cl))
			return;
	}
}

/* Is a client that waits for the pool's first server (not a replication
 * one, which waits for its own) in login_clients? */
static bool plain_login_waiting(const struct pool *p)
{
	return p->repl_login == 0 ? !list_empty(&p->login_clients)
				  : count_upto(&p->login_clients, p->repl_login + 1) > p->repl_login;
}

void pool_launch(struct pool *p)
{
	struct sift *s = p->sift;
	int want, pending, room, nnew;

	if (s->shutdown == SHUTDOWN_WAIT_SERVERS || p->db->paused || p->db->killed || s->suspended)
		return;
	if (p->last_login_fail && s->now - p->last_login_fail < pool_retry_delay(s, p))
		return;
	if (p->repl_login > p->repl_new)
		launch_replication(s, p);
	/* waiting clients are counted only as far as servers could be opened
	 * for them: with 1000 clients on a pool of 20 this runs for each one
	 * that waits (a replication server is for its own client only) */
	nnew = pool_count(&p->new_servers) - p->repl_new;
	pending = nnew + pool_count(&p->tested_servers);
	room = pool_size_of(s, p) + reserve_size_of(s, p) - p->nservers;
	want = room > 0 ? count_upto(&p->waiting_clients, room + pending) - pending : 0;
	if (nnew == 0 && want < 1 && plain_login_waiting(p))
		want = 1;
	if (want < min_pool_size_of(s, p) - p->nservers)
		want = min_pool_size_of(s, p) - p->nservers;
	while (want-- > 0 && may_open(s, p))
		if (!server_launch(p))
			break;
}

/* The first client in p's login_clients that waits for the pool's welcome
 * (a replication client waits for its own server's), or NULL. */
static struct client *first_plain_login(struct pool *p)
{
	struct list *it;

	list_for_each(it, &p->login_clients) {
		struct client *cl = list_entry(it, struct client, node);
		if (!cl->replication)
			return cl;
	}
	return NULL;
}

void pool_login_done(struct pool *p)
{
	struct client *cl;

	/* one at a time from the head: a welcome may close other clients */
	while ((cl = first_plain_login(p)))
		client_finish_login(cl);
}

bool pool_error_transient(const char *sqlstate)
{
	return !strcmp(sqlstate, "57P01") || !strcmp(sqlstate, "57P02") || !strcmp(sqlstate, "57P03") ||
	       !strcmp(sqlstate, "53300");
}

int64_t pool_retry_delay(const struct sift *s, const struct pool *p)
{
	int64_t retry = s->cfg.server_login_retry;

	/* a restarting server is back within seconds: look again soon, so the
	 * first query after it is up does not wait server_login_retry */
	return p->last_login_transient && retry > POOL_RETRY_TRANSIENT ? POOL_RETRY_TRANSIENT : retry;
}

/* Servers that may still serve a waiting client: up and not due to close
 * (RECONNECT, a reload or server_lifetime marks them). */
static int usable_servers(const struct pool *p)
{
	const struct list *lists[] = { &p->active_servers, &p->idle_servers, &p->tested_servers,
				       &p->canceling_servers };
	const struct list *it;
	int n = 0;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		list_for_each(it, lists[i])
			n += !server_expired(list_entry(it, struct server, node));
	return n;
}

void pool_login_failed(struct pool *p, const char *sqlstate, const char *msg, bool transient)
{
	struct sift *s = p->sift;

	p->last_login_fail = s->now;
	p->last_login_transient = transient;
	free(p->last_login_error);
	p->last_login_error = strdup(msg);
	snprintf(p->last_login_sqlstate, sizeof(p->last_login_sqlstate), "%s", sqlstate);
	/* a refusal: they asked for a server now and have no session to keep.
	 * A server that is down or restarting: they wait for the next attempt,
	 * as PgBouncer's do, at most client_login_timeout */
	while (!transient && !list_empty(&p->login_clients))
		client_close(list_entry(p->login_clients.next, struct client, node), sqlstate, msg);
	/* a server that is down or restarting: clients between transactions
	 * stay queued until it is back (or query_wait_timeout), as PgBouncer's
	 * do; a refusal (a wrong password) reaches them now rather than
	 * query_wait_timeout later, when no server is left to serve them */
	while (!transient && usable_servers(p) == 0 && !list_empty(&p->waiting_clients))
		client_close(list_entry(p->waiting_clients.next, struct client, node), sqlstate, msg);
}

static void close_list(struct list *l, const char *reason)
{
	while (!list_empty(l))
		server_close(list_entry(l->next, struct server, node), reason);
}

void pool_close_db_servers(struct sift *s, struct db *db, bool idle_only)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct list *j;
		if (p->db != db)
			continue;
		close_list(&p->idle_servers, "database paused or reconfigured");
		if (idle_only) {
			list_for_each(j, &p->active_servers)
				list_entry(j, struct server, node)->close_needed = true;
			list_for_each(j, &p->tested_servers)
				list_entry(j, struct server, node)->close_needed = true;
			continue;
		}
		close_list(&p->active_servers, "database killed");
		close_list(&p->tested_servers, "database killed");
		close_list(&p->new_servers, "database killed");
		close_list(&p->canceling_servers, "database killed");
	}
}

void pool_server_config_changed(struct sift *s)
{
	struct list *it;

	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		if (!db->admin)
			db->generation++;
	}
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		p->last_login_fail = 0;
	}
}

void pool_resize(struct sift *s, struct db *db)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (db && p->db != db)
			continue;
		/* the idle list is most-recent-first: close the oldest */
		while (p->nservers > pool_size_of(s, p) + reserve_size_of(s, p) && !list_empty(&p->idle_servers))
			server_close(list_entry(p->idle_servers.prev, struct server, node), "pool size lowered");
		if (!pool_db_blocked(s, p->db))
			pool_launch(p);
	}
}

/* Servers of pinned clients between transactions (pin.h): they run
 * nothing, so a shutdown "after running transactions" does not wait for
 * them. */
static int pinned_idle(const struct pool *p)
{
	const struct list *it;
	int n = 0;

	if (p->npinned == 0)
		return 0;
	list_for_each(it, &p->active_servers) {
		const struct server *sv = list_entry(it, struct server, node);
		const struct client *cl = sv->client;
		n += cl && cl->pin && sv->txn == 'I' && !cl->pending_z && !cl->unsynced && !sv->inject_pending;
	}
	return n;
}

int pool_db_active_servers(struct sift *s, struct db *db)
{
	struct list *it;
	int n = 0;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (!db || p->db == db)
			n += pool_count(&p->active_servers) + pool_count(&p->tested_servers) +
			     pool_count(&p->new_servers) + pool_count(&p->canceling_servers) - pinned_idle(p);
	}
	return n;
}

/* ---- periodic work ---- */

/* The timeouts in force for a client: a [users] value wins over the
 * global one, as in PgBouncer, where only a positive user value counts
 * (query_wait_timeout: any value set, the user's over the database's). */
static usec_t user_over(usec_t user_val, usec_t global)
{
	return user_val > 0 ? user_val : global;
}

static usec_t query_wait_timeout_of(const struct sift *s, const struct client *cl)
{
	if (cl->user && cl->user->query_wait_timeout >= 0)
		return cl->user->query_wait_timeout;
	if (cl->db && cl->db->conf.query_wait_timeout >= 0)
		return cl->db->conf.query_wait_timeout;
	return s->cfg.query_wait_timeout;
}

/* Waiting clients: query_timeout and query_wait_timeout count the wait,
 * query_wait_notify tells them once that they are queued. */
static void janitor_waiting(struct sift *s, struct pool *p)
{
	const struct config *cfg = &s->cfg;
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &p->waiting_clients) {
		struct client *cl = list_entry(it, struct client, node);
		usec_t qt = user_over(cl->user ? cl->user->query_timeout : -1, cfg->query_timeout);
		usec_t qwt = query_wait_timeout_of(s, cl);
		usec_t age = s->now - cl->wait_start;
		char msg[400];

		if (qt > 0 && age > qt) {
			client_close(cl, "08P01", "query_timeout");
			continue;
		}
		if (qwt > 0 && age > qwt && !pool_db_blocked(s, p->db)) {
			/* a server that is down: say why there was none */
			if (p->last_login_fail && p->last_login_error)
				snprintf(msg, sizeof(msg), "query_wait_timeout (the server cannot be reached: %s)",
					 p->last_login_error);
			else
				snprintf(msg, sizeof(msg), "query_wait_timeout");
			client_close(cl, "08P01", msg);
			continue;
		}
		if (cfg->query_wait_notify > 0 && age > cfg->query_wait_notify && !cl->wait_notified)
			client_notify_queued(cl);
	}
}

/* A client with a server: query_timeout (a cancel, or PgBouncer's close),
 * idle_transaction_timeout from its last ReadyForQuery, transaction_timeout
 * from the start of its transaction. */
static void janitor_active(struct sift *s, struct pool *p)
{
	const struct config *cfg = &s->cfg;
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &p->active_clients) {
		struct client *cl = list_entry(it, struct client, node);
		struct server *sv = cl->server;
		const struct user *u = cl->user;
		usec_t qt = user_over(u ? u->query_timeout : -1, cfg->query_timeout);
		usec_t itt = user_over(u ? u->idle_transaction_timeout : -1, cfg->idle_transaction_timeout);
		usec_t tt = user_over(u ? u->transaction_timeout : -1, cfg->transaction_timeout);
		int64_t idle_from = cl->ready_time > cl->request_time ? cl->ready_time : cl->request_time;

		/* a replication stream is one command that never ends */
		if (cl->replication)
			continue;
		if (qt > 0 && cl->pending_z > 0 && !cl->timeout_canceled && s->now - cl->query_start > qt) {
			if (!cfg->query_timeout_cancel) {
				client_close(cl, "57014", "query timeout");
				continue;
			}
			client_log(cl, LOG_WARNING, "query timeout: cancelling the running query");
			cl->timeout_canceled = true;
			server_cancel(sv);
		} else if (itt > 0 && cl->pending_z == 0 && sv->txn != 'I' && s->now - idle_from > itt) {
			client_close(cl, "25P03", "idle transaction timeout");
		} else if (tt > 0 && cl->xact_start && s->now - cl->xact_start > tt) {
			client_close(cl, "25P04", "transaction timeout");
		}
	}
}

static void janitor_clients(struct sift *s, struct pool *p)
{
	const struct config *cfg = &s->cfg;
	struct list *it, *tmp;

	janitor_waiting(s, p);
	list_for_each_safe(it, tmp, &p->idle_clients) {
		struct client *cl = list_entry(it, struct client, node);
		usec_t cit = user_over(cl->user ? cl->user->client_idle_timeout : -1, cfg->client_idle_timeout);
		if (cit > 0 && s->now - cl->idle_since >= cit)
			client_close(cl, "08P01", "client_idle_timeout");
	}
	janitor_active(s, p);
	/* waiting for the pool's first server: client_login_timeout, and
	 * query_timeout as for any client waiting for a server (PgBouncer) */
	list_for_each_safe(it, tmp, &p->login_clients) {
		struct client *cl = list_entry(it, struct client, node);
		usec_t qt = user_over(cl->user ? cl->user->query_timeout : -1, cfg->query_timeout);
		if (cfg->client_login_timeout > 0 && s->now - cl->request_time >= cfg->client_login_timeout)
			client_close(cl, "08P01", "client_login_timeout (server down?)");
		else if (qt > 0 && s->now - cl->request_time > qt)
			client_close(cl, "08P01", "query_timeout");
	}
}

static void janitor_servers(struct sift *s, struct pool *p)
{
	const struct config *cfg = &s->cfg;
	struct list *it, *tmp;

	/* the idle list is most-recent-first: the oldest are at the tail */
	while (cfg->server_idle_timeout > 0 && !list_empty(&p->idle_servers) &&
	       p->nservers > min_pool_size_of(s, p)) {
		struct server *sv = list_entry(p->idle_servers.prev, struct server, node);
		if (s->now - sv->last_used < cfg->server_idle_timeout)
			break;
		server_close(sv, "server idle timeout");
	}
	list_for_each_safe(it, tmp, &p->idle_servers) {
		struct server *sv = list_entry(it, struct server, node);
		if (server_expired(sv))
			server_close(sv, server_expiry_reason(sv));
	}
	/* server_fast_close: a session's server due to close (RECONNECT, a
	 * reload) goes between two transactions, with its client; a
	 * replication stream may never have a "between", so it goes now */
	list_for_each_safe(it, tmp, &p->active_servers) {
		struct server *sv = list_entry(it, struct server, node);
		if (sv->replication && (sv->close_needed || sv->generation != p->db->generation))
			server_close(sv, "database configuration changed");
		else if (cfg->server_fast_close && pool_mode_of(s, p) == POOL_SESSION && sv->client &&
		    (sv->close_needed || sv->generation != p->db->generation) && client_between_transactions(sv->client))
			server_close(sv, "database configuration changed");
	}
	/* our own queries (check, reset, connect_query) get the login's bound */
	list_for_each_safe(it, tmp, &p->tested_servers) {
		struct server *sv = list_entry(it, struct server, node);
		if (cfg->server_connect_timeout > 0 && s->now - sv->test_start > cfg->server_connect_timeout)
			server_close(sv, "server_check_query, server_reset_query or connect_query took longer than server_connect_timeout");
	}
	list_for_each_safe(it, tmp, &p->new_servers) {
		struct server *sv = list_entry(it, struct server, node);
		if (cfg->server_connect_timeout > 0 && s->now - sv->created > cfg->server_connect_timeout) {
			server_close(sv, "connect timeout (server_connect_timeout)");
			pool_login_failed(p, "08006", "server_connect_timeout: could not connect to the server", true);
		}
	}
	if (!pool_db_blocked(s, p->db))
		pool_launch(p);
}

static void stats_add(struct stats *out, const struct stats *st)
{
	out->server_assignment_count += st->server_assignment_count;
	out->xact_count += st->xact_count;
	out->query_count += st->query_count;
	out->bytes_recv += st->bytes_recv;
	out->bytes_sent += st->bytes_sent;
	out->xact_time += st->xact_time;
	out->query_time += st->query_time;
	out->wait_time += st->wait_time;
	out->client_parse_count += st->client_parse_count;
	out->server_parse_count += st->server_parse_count;
	out->bind_count += st->bind_count;
	out->client_login_count += st->client_login_count;
}

/* pool_idle_timeout: a pool without clients and servers for that long is
 * removed (its counters stay in its database's totals); one that keeps
 * min_pool_size connections is not idle. */
static void janitor_idle_pool(struct sift *s, struct pool *p)
{
	bool unused = p->nservers == 0 && list_empty(&p->idle_clients) && list_empty(&p->active_clients) &&
		      list_empty(&p->waiting_clients) && list_empty(&p->login_clients) &&
		      list_empty(&p->canceling_servers) && min_pool_size_of(s, p) == 0;

	if (!unused || s->cfg.pool_idle_timeout <= 0) {
		p->unused_since = 0;
		return;
	}
	if (!p->unused_since) {
		p->unused_since = s->now;
		return;
	}
	if (s->now - p->unused_since < s->cfg.pool_idle_timeout)
		return;
	log_info("cleaning up idle pool %s/%s", p->db->name, p->user ? p->user->name : "");
	stats_add(&p->db->retired, &p->stats);
	pool_drop(s, p);
}

void pool_janitor(struct sift *s)
{
	struct list *it, *tmp;

	sift_now(s);
	list_for_each_safe(it, tmp, &s->login_clients) {
		struct client *cl = list_entry(it, struct client, node);
		if (s->cfg.client_login_timeout > 0 && s->now - cl->request_time > s->cfg.client_login_timeout)
			client_close(cl, "08P01", "client_login_timeout");
	}
	list_for_each_safe(it, tmp, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		janitor_clients(s, p);
		janitor_servers(s, p);
		janitor_idle_pool(s, p);
	}
}

/* Sums the counters of db's pools (and of those pool_idle_timeout
 * removed) into out. */
void pool_db_totals(const struct sift *s, const struct db *db, struct stats *out)
{
	const struct list *it;

	memset(out, 0, sizeof(*out));
	stats_add(out, &db->retired);
	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		if (p->db == db)
			stats_add(out, &p->stats);
	}
}
