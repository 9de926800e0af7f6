/*
 * pooler_state views: PgBouncer's smaller SHOW sets about the process
 * (STATE, TOTALS, MEM, DNS_HOSTS, DNS_ZONES, PEERS, PEER_POOLS), with
 * PgBouncer 1.25's column names, order and wire types, so that scripts
 * that run them keep working. pgsift has no DNS zone cache, no peer pools
 * (a forwarded cancel is one connection, peers.c) and no slab allocator:
 * PEER_POOLS and DNS_ZONES are empty, MEM shows the object caches pgsift
 * does keep.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "views/families.h"
#include "pooler/notify.h"
#include "pooler/objects.h"
#include "pooler/pool.h"

/* ---- STATE ---- */

static const struct view_col state_cols[] = {
	{ "key", 's', "", "`active`, `paused` or `suspended`." },
	{ "value", 's', "", "`yes` or `no`: `paused` is yes when every database is paused (PAUSE without a name), `suspended` after SUSPEND until RESUME; `active` is yes when neither is." },
};

static void state_rows(struct sift *s, struct view_sink *sink)
{
	const struct list *it;
	int dbs = 0, paused = 0;

	list_for_each(it, &s->dbs) {
		const struct db *db = list_entry(it, struct db, node);
		if (db->admin || db->template)
			continue;
		dbs++;
		paused += db->paused;
	}
	bool all = dbs > 0 && paused == dbs;
	view_row(sink, "active", all || s->suspended ? "no" : "yes");
	view_row(sink, "paused", all ? "yes" : "no");
	view_row(sink, "suspended", s->suspended ? "yes" : "no");
}

const struct view view_state = { "state", "The pooler's run state, as key and value rows.", state_cols,
				 VIEW_NCOLS(state_cols), state_rows };

/* ---- TOTALS ---- */

static const struct view_col totals_cols[] = {
	{ "name", 's', "", "Counter name, as the `total_` columns of SHOW STATS." },
	{ "value", 'q', "", "Its sum over all databases since the start (bytes, microseconds or a count); as in PgBouncer, console logins count in `total_client_login_count` and each console command as one transaction and one query." },
};

static void totals_rows(struct sift *s, struct view_sink *sink)
{
	const struct list *it;
	struct stats sum, one;

	memset(&sum, 0, sizeof(sum));
	list_for_each(it, &s->dbs) {
		const struct db *db = list_entry(it, struct db, node);
		pool_db_totals(s, db, &one);
		sum.server_assignment_count += one.server_assignment_count;
		sum.xact_count += one.xact_count;
		sum.query_count += one.query_count;
		sum.bytes_recv += one.bytes_recv;
		sum.bytes_sent += one.bytes_sent;
		sum.xact_time += one.xact_time;
		sum.query_time += one.query_time;
		sum.wait_time += one.wait_time;
		sum.client_parse_count += one.client_parse_count;
		sum.server_parse_count += one.server_parse_count;
		sum.bind_count += one.bind_count;
		sum.client_login_count += one.client_login_count;
	}
	/* the console counts as PgBouncer's admin database does: a login each,
	 * one transaction and one query per command */
	sum.client_login_count += s->console_logins;
	sum.xact_count += s->console_commands;
	sum.query_count += s->console_commands;
	view_row(sink, "total_server_assignment_count", (int64_t)sum.server_assignment_count);
	view_row(sink, "total_xact_count", (int64_t)sum.xact_count);
	view_row(sink, "total_query_count", (int64_t)sum.query_count);
	view_row(sink, "total_received", (int64_t)sum.bytes_recv);
	view_row(sink, "total_sent", (int64_t)sum.bytes_sent);
	view_row(sink, "total_xact_time", (int64_t)sum.xact_time);
	view_row(sink, "total_query_time", (int64_t)sum.query_time);
	view_row(sink, "total_wait_time", (int64_t)sum.wait_time);
	view_row(sink, "total_client_parse_count", (int64_t)sum.client_parse_count);
	view_row(sink, "total_server_parse_count", (int64_t)sum.server_parse_count);
	view_row(sink, "total_bind_count", (int64_t)sum.bind_count);
	view_row(sink, "total_client_login_count", (int64_t)sum.client_login_count);
}

const struct view view_totals = { "totals", "The total_ counters of SHOW STATS summed over all databases and the console, one per row.",
				  totals_cols, VIEW_NCOLS(totals_cols), totals_rows };

/* ---- MEM ---- */

static const struct view_col mem_cols[] = {
	{ "name", 's', "", "Object cache: `client_cache`, `server_cache`, `pool_cache`, `db_cache`, `user_cache`." },
	{ "size", 'i', "bytes", "Size of one object." },
	{ "used", 'i', "count", "Objects in use." },
	{ "free", 'i', "count", "Freed objects kept for reuse." },
	{ "memtotal", 'i', "bytes", "size times (used + free)." },
};

static void mem_row(struct view_sink *sink, const char *name, size_t size, size_t used, size_t free_n)
{
	view_row(sink, name, (int)size, (int)used, (int)free_n, (int)(size * (used + free_n)));
}

static void mem_rows(struct sift *s, struct view_sink *sink)
{
	const struct list *it;
	size_t clients = list_count(&s->admin_clients) + list_count(&s->login_clients), servers = 0;

	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		clients += list_count(&p->idle_clients) + list_count(&p->active_clients) +
			   list_count(&p->waiting_clients) + list_count(&p->login_clients);
		servers += (size_t)p->nservers;
	}
	mem_row(sink, "client_cache", sizeof(struct client), clients, list_count(&s->free_clients));
	mem_row(sink, "server_cache", sizeof(struct server), servers, list_count(&s->free_servers));
	mem_row(sink, "pool_cache", sizeof(struct pool), list_count(&s->pools), 0);
	mem_row(sink, "db_cache", sizeof(struct db), list_count(&s->dbs), 0);
	mem_row(sink, "user_cache", sizeof(struct user), list_count(&s->users), 0);
}

const struct view view_mem = { "mem", "One row per object cache: object size, used and free objects.", mem_cols,
			       VIEW_NCOLS(mem_cols), mem_rows };

/* ---- DNS_HOSTS, DNS_ZONES ---- */

static const struct view_col dns_hosts_cols[] = {
	{ "hostname", 's', "", "A host name of a [databases] entry that pgsift resolved." },
	{ "ttl", 'q', "s", "Always 0: the address is kept until the next reload that changes the entry, or RECONNECT." },
	{ "addrs", 's', "", "The address in use." },
};

static void dns_hosts_rows(struct sift *s, struct view_sink *sink)
{
	const struct list *it;
	char addr[INET6_ADDRSTRLEN + 8];

	list_for_each(it, &s->dbs) {
		const struct db *db = list_entry(it, struct db, node);
		for (int i = 0; i < db->nhosts; i++) {
			const struct db_host *h = &db->hosts[i];
			const void *a;
			if (!h->name || !h->addrlen)
				continue;
			a = h->addr.ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)&h->addr)->sin6_addr
							   : (const void *)&((const struct sockaddr_in *)&h->addr)->sin_addr;
			if (!inet_ntop(h->addr.ss_family, a, addr, sizeof(addr)))
				continue;
			view_row(sink, h->name, (int64_t)0, addr);
		}
	}
}

const struct view view_dns_hosts = { "dns_hosts", "One row per resolved server host name.", dns_hosts_cols,
				     VIEW_NCOLS(dns_hosts_cols), dns_hosts_rows };

static const struct view_col dns_zones_cols[] = {
	{ "zonename", 's', "", "DNS zone (pgsift keeps no zone cache: no rows)." },
	{ "serial", 'q', "", "Zone serial." },
	{ "count", 'i', "count", "Host names in the zone." },
};

static void no_rows(struct sift *s, struct view_sink *sink)
{
	(void)s;
	(void)sink;
}

const struct view view_dns_zones = { "dns_zones", "DNS zones tracked for dns_zone_check_period (none in pgsift).",
				     dns_zones_cols, VIEW_NCOLS(dns_zones_cols), no_rows };

/* ---- PEERS, PEER_POOLS ---- */

static const struct view_col peers_cols[] = {
	{ "peer_id", 'i', "", "peer_id of a [peers] entry: cancel keys whose peer_id is this one are forwarded there." },
	{ "host", 's', "", "Host of the peer, or the directory of its Unix socket." },
	{ "port", 'i', "", "Port of the peer." },
	{ "pool_size", 'i', "count", "The entry's pool_size (accepted as in PgBouncer; pgsift opens one connection per forwarded cancel request), else default_pool_size." },
};

static void peers_rows(struct sift *s, struct view_sink *sink)
{
	for (int i = 0; i < s->cfg.npeers; i++) {
		const struct peer_conf *pc = &s->cfg.peers[i];
		view_row(sink, pc->id, pc->host, pc->port, pc->pool_size >= 0 ? pc->pool_size : s->cfg.default_pool_size);
	}
}

const struct view view_peers = { "peers", "One row per [peers] entry (peer_id and [peers] as PgBouncer's).",
				 peers_cols, VIEW_NCOLS(peers_cols), peers_rows };

static const struct view_col peer_pools_cols[] = {
	{ "peer_id", 'i', "", "peer_id of the peer (no rows in pgsift: a forwarded cancel request is one connection to the peer, in no pool)." },
	{ "cl_active_cancel_req", 'i', "count", "Cancel requests forwarded to the peer." },
	{ "cl_waiting_cancel_req", 'i', "count", "Cancel requests waiting for a connection to the peer." },
	{ "sv_active_cancel", 'i', "count", "Connections to the peer carrying a cancel request." },
	{ "sv_login", 'i', "count", "Connections to the peer being opened." },
};

const struct view view_peer_pools = { "peer_pools", "One row per peer pool (none in pgsift).", peer_pools_cols,
				      VIEW_NCOLS(peer_pools_cols), no_rows };

/* ---- LISTENERS (pgsift's own) ---- */

static const struct view_col listeners_cols[] = {
	{ "database", 's', "", "Database entry." },
	{ "user", 's', "", "User the listener connection logs in as (the pool's)." },
	{ "state", 's', "", "`connecting`, `listening`, or `retrying` (lost or refused: opened again at once after a loss, after `server_login_retry` after a failed attempt)." },
	{ "backend_pid", 'I', "", "The listener's PostgreSQL backend pid (NULL while not connected); NOTIFY's own pid field names the notifying backend, not this one." },
	{ "channels", 'i', "count", "Channels at least one client listens on." },
	{ "clients", 'i', "count", "Clients that listen on at least one channel." },
	{ "subscriptions", 'i', "count", "(client, channel) pairs." },
	{ "received", 'q', "count", "NotificationResponses the listener received." },
	{ "delivered", 'q', "count", "Copies queued for clients (one per listening client)." },
	{ "reconnects", 'q', "count", "Times the listener was opened again after its connection was lost (notifications in the gap are lost)." },
	{ "clients_closed", 'q', "count", "Clients closed (53400) because more than `notify_buffer` bytes of notifications waited for them and they read none for 5 seconds." },
	{ "paused", 'b', "", "The listener is not read now: a client is over `notify_buffer` (PostgreSQL queues the notifications meanwhile)." },
};

static void listeners_rows(struct sift *s, struct view_sink *sink)
{
	const struct list *it;

	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		struct notify_info ni;
		if (!p->nf)
			continue;
		notify_info(p, &ni);
		view_row(sink, p->db->name, p->user->name, ni.state, ni.backend_pid ? (int)ni.backend_pid : -1,
			 (int)ni.channels, (int)ni.clients, (int)ni.subscriptions, (int64_t)ni.received,
			 (int64_t)ni.delivered, (int64_t)ni.reconnects, (int64_t)ni.clients_closed, ni.paused ? 1 : 0);
	}
}

const struct view view_listeners = { "listeners", "One row per pool whose clients LISTEN in transaction mode: its listener connection (doc/session-state.md).",
				     listeners_cols, VIEW_NCOLS(listeners_cols), listeners_rows };
