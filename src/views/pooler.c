/*
 * pooler views: PgBouncer's SHOW result sets (VERSION, CONFIG, DATABASES,
 * POOLS, CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS, STATS, STATS_TOTALS,
 * STATS_AVERAGES, LISTS, USERS), with PgBouncer 1.25's column names, order and wire types.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "views/families.h"
#include "pooler/client.h"
#include "pooler/objects.h"
#include "pooler/pin.h"
#include "pooler/pool.h"
#include "pooler/replication.h"
#include "pooler/server.h"
#include "pooler/tls.h"

/* ---- VERSION, CONFIG ---- */

static const struct view_col version_cols[] = {
	{ "version", 's', "",
	  "Program name and version string." },
};
static void version_rows(struct sift *s, struct view_sink *sink)
{
	(void)s;
	view_row(sink, "pgsift " PACKAGE_VERSION);
}

const struct view view_version = { "version", "The name and version of the running pooler.", version_cols,
				   VIEW_NCOLS(version_cols), version_rows };

static const struct view_col config_cols[] = {
	{ "key", 's', "",
	  "Setting name, as written in the configuration file." },
	{ "value", 's', "",
	  "Value currently in effect, as text." },
	{ "default", 's', "",
	  "Built-in default value, as text." },
	{ "changeable", 's', "",
	  "`yes` if the setting can change at run time, `no` if it takes effect only at startup." },
};
static void config_rows(struct sift *s, struct view_sink *sink)
{
	char val[1024];

	for (int i = 0; i < config_setting_count(); i++)
		view_row(sink, config_setting_name(i), config_setting_value(&s->cfg, i, val, sizeof(val)),
			 config_setting_default(i), config_setting_changeable(i) ? "yes" : "no");
}

const struct view view_config = { "config", "One row per setting: its value now, its default, whether it can change.",
				  config_cols, VIEW_NCOLS(config_cols), config_rows };

/* ---- DATABASES, POOLS ---- */

/* load_balance_hosts of an entry whose host is a list; NULL otherwise. */
static const char *load_balance_of(const struct db *db)
{
	return db->nhosts > 1 ? config_load_balance_name(db->conf.load_balance_hosts) : NULL;
}

/* Console clients that asked for "pgbouncer" (alias) or for "pgsift". */
static int console_clients(const struct sift *s, bool alias)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, &s->admin_clients)
		n += list_entry(it, struct client, node)->admin_alias == alias;
	return n;
}

static int db_max_clients(const struct sift *s, const struct db *db)
{
	return db->conf.max_db_client_connections > 0 ? db->conf.max_db_client_connections
						      : s->cfg.max_db_client_connections;
}

/* The console's rows: one per name it answers to, as PgBouncer shows its
 * "pgbouncer" database, each counting the clients that used that name. */
static void console_db_rows(struct sift *s, struct view_sink *sink, const struct db *db)
{
	static const char *const names[2] = { "pgsift", "pgbouncer" };

	for (int alias = 0; alias < 2; alias++)
		view_row(sink, names[alias], NULL, s->cfg.listen_port, names[alias], names[alias], 2, 0, 0,
			 (int)(s->cfg.server_lifetime / 1000000), "statement", NULL, 0, 0, db_max_clients(s, db),
			 console_clients(s, alias), 0, 0);
}

static const struct view_col databases_cols[] = {
	{ "name", 's', "",
	  "Name of the database entry, the name clients connect to." },
	{ "host", 's', "",
	  "Host the pooler connects to; NULL when a Unix socket in the default directory is used." },
	{ "port", 'i', "",
	  "Port the pooler connects to." },
	{ "database", 's', "",
	  "Actual database name used on the server." },
	{ "force_user", 's', "",
	  "User name from the entry's connection string, used for every server connection of this entry whatever the client user; NULL if none." },
	{ "pool_size", 'i', "",
	  "Maximum number of server connections per pool of this entry (the entry's `pool_size` or else `default_pool_size`)." },
	{ "min_pool_size", 'i', "",
	  "Minimum number of server connections kept per pool (the entry's `min_pool_size` or else the global one)." },
	{ "reserve_pool_size", 'i', "",
	  "Extra server connections a pool may open when clients wait too long (the entry's `reserve_pool_size` or else the global one)." },
	{ "server_lifetime", 'i', "s",
	  "Maximum age of a server connection for this entry, in seconds." },
	{ "pool_mode", 's', "",
	  "The entry's own pool mode, or NULL if the global `pool_mode` applies." },
	{ "load_balance_hosts", 's', "",
	  "How new connections pick a host when `host` is a comma-separated list; NULL when `host` names a single host." },
	{ "max_connections", 'i', "count",
	  "Maximum number of server connections for this entry across all its pools (`max_db_connections`, per entry or global); 0 means no limit." },
	{ "current_connections", 'i', "count",
	  "Server connections currently open for this entry." },
	{ "max_client_connections", 'i', "count",
	  "Maximum number of client connections allowed to this entry (PgBouncer's `max_db_client_connections`); 0 means no limit." },
	{ "current_client_connections", 'i', "count",
	  "Client connections currently connected to this entry." },
	{ "paused", 'i', "",
	  "1 if the entry is paused (by `PAUSE db` or `KILL db`), else 0." },
	{ "disabled", 'i', "",
	  "1 if new client connections to the entry are being refused, else 0." },
};
static void databases_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;

	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		const struct db_conf *dc = &db->conf;
		if (db->removed || db->template)
			continue;
		if (db->admin) {
			console_db_rows(s, sink, db);
			continue;
		}
		view_row(sink, db->name, dc->host, dc->port, dc->dbname, dc->user,
			 dc->pool_size >= 0 ? dc->pool_size : s->cfg.default_pool_size,
			 dc->min_pool_size >= 0 ? dc->min_pool_size : s->cfg.min_pool_size,
			 dc->reserve_pool_size >= 0 ? dc->reserve_pool_size : s->cfg.reserve_pool_size,
			 (int)(server_lifetime_of(s, db) / 1000000),
			 dc->pool_mode >= 0 ? config_pool_mode_name(dc->pool_mode) : NULL, load_balance_of(db),
			 dc->max_db_connections >= 0 ? dc->max_db_connections : s->cfg.max_db_connections,
			 db->nservers, db_max_clients(s, db), db->nclients, db->paused || db->killed ? 1 : 0,
			 db->disabled ? 1 : 0);
	}
}

const struct view view_databases = { "databases", "One row per database entry, with its pool settings and connection counts.",
				     databases_cols, VIEW_NCOLS(databases_cols), databases_rows };

static int count_used(const struct sift *s, const struct pool *p)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, &p->idle_servers) {
		const struct server *sv = list_entry(it, struct server, node);
		n += s->now - sv->last_used > s->cfg.server_check_delay;
	}
	return n;
}

static int count_sending_cancels(const struct pool *p)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, &p->active_servers)
		n += !list_empty(&list_entry(it, struct server, node)->cancels);
	return n;
}

static const struct view_col pools_cols[] = {
	{ "database", 's', "",
	  "Database entry name." },
	{ "user", 's', "",
	  "User name of the pool." },
	{ "cl_active", 'i', "count",
	  "Client connections that are linked to a server connection, or idle with no query waiting." },
	{ "cl_waiting", 'i', "count",
	  "Client connections that have sent a query and are waiting for a server connection." },
	{ "cl_active_cancel_req", 'i', "count",
	  "Client connections whose cancel request has been forwarded to the server and awaits its answer." },
	{ "cl_waiting_cancel_req", 'i', "count",
	  "Client connections whose cancel request has not been forwarded to the server yet." },
	{ "sv_active", 'i', "count",
	  "Server connections linked to a client." },
	{ "sv_active_cancel", 'i', "count",
	  "Server connections currently used to forward a cancel request." },
	{ "sv_being_canceled", 'i', "count",
	  "Server connections that would be idle but wait until the cancel requests sent for them have completed." },
	{ "sv_idle", 'i', "count",
	  "Server connections that are unused and can serve a client at once." },
	{ "sv_used", 'i', "count",
	  "Server connections idle for longer than `server_check_delay`, which must pass `server_check_query` before reuse." },
	{ "sv_tested", 'i', "count",
	  "Server connections currently running `server_reset_query` or `server_check_query`." },
	{ "sv_login", 'i', "count",
	  "Server connections currently logging in." },
	{ "maxwait", 'i', "s",
	  "How long the oldest waiting client has waited, whole seconds; a growing value means the pool cannot keep up." },
	{ "maxwait_us", 'i', "us",
	  "Microsecond part of that waiting time." },
	{ "pool_mode", 's', "",
	  "Pool mode in effect for this pool." },
	{ "load_balance_hosts", 's', "",
	  "The database entry's `load_balance_hosts` when its `host` is a comma-separated list; NULL otherwise." },
	{ "cl_pinned", 'i', "count",
	  "Clients that keep their server at the end of their transactions because they hold session state pgsift cannot replay (temp table, `WITH HOLD` cursor, session advisory lock, `SET ROLE`), or have just sent a statement that may create it; at most `max_pinned_per_pool` (doc/session-state.md). 0 in session mode." },
};
static void pools_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		int64_t maxwait = 0;
		int used = count_used(s, p);
		if (!list_empty(&p->waiting_clients))
			maxwait = s->now - list_entry(p->waiting_clients.next, struct client, node)->wait_start;
		view_row(sink, p->db->name, p->user->name,
			 (int)(list_count(&p->idle_clients) + list_count(&p->active_clients)),
			 (int)(list_count(&p->waiting_clients) + list_count(&p->login_clients)), 0, 0,
			 (int)list_count(&p->active_servers), count_sending_cancels(p),
			 (int)list_count(&p->canceling_servers), (int)list_count(&p->idle_servers) - used, used,
			 (int)list_count(&p->tested_servers), (int)list_count(&p->new_servers), (int)(maxwait / 1000000),
			 (int)(maxwait % 1000000), config_pool_mode_name(pool_mode_of(s, p)), load_balance_of(p->db),
			 p->npinned);
	}
	/* the console: a row per name its clients used ("pgbouncer" for those
	 * that asked for PgBouncer's), as PgBouncer shows its admin pool */
	for (int alias = 0; alias < 2; alias++) {
		static const char *const names[2] = { "pgsift", "pgbouncer" };
		int n = console_clients(s, alias);
		if (n > 0)
			view_row(sink, names[alias], names[alias], n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "statement",
				 NULL, 0);
	}
}

const struct view view_pools = { "pools", "One row per (database, user) pool: client and server counts by state.",
				 pools_cols, VIEW_NCOLS(pools_cols), pools_rows };

/* ---- CLIENTS, SERVERS ---- */

/* Converts a monotonic timestamp to wall-clock microseconds. */
static int64_t mono_to_wall(const struct sift *s, int64_t mono)
{
	return sift_wall_usec() - (s->now - mono);
}

static void local_addr_of(int fd, char *out, size_t outlen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct peer_addr pa = { 0 };

	*port = 0;
	snprintf(out, outlen, "unix");
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		pa.family = AF_INET;
		memcpy(pa.a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		pa.family = AF_INET6;
		memcpy(pa.a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else
		return;
	peer_addr_str(&pa, out, outlen);
}

static const struct view_col clients_cols[] = {
	{ "type", 's', "",
	  "`C`, for client." },
	{ "user", 's', "",
	  "User name the client logged in as." },
	{ "database", 's', "",
	  "Database entry the client connected to." },
	{ "replication", 's', "",
	  "Replication mode requested by the client: `none`, `logical` or `physical`." },
	{ "state", 's', "",
	  "One of `active` (linked to a server connection), `idle` (no query waiting), `waiting` (waiting for a server connection), `active_cancel_req`, `waiting_cancel_req`." },
	{ "addr", 's', "",
	  "Client IP address, or `unix` for a Unix socket." },
	{ "port", 'i', "",
	  "Client source port." },
	{ "local_addr", 's', "",
	  "Local address the client connected to." },
	{ "local_port", 'i', "",
	  "Local port the client connected to." },
	{ "connect_time", 'T', "time",
	  "When the client connected." },
	{ "request_time", 'T', "time",
	  "When the client last sent a request." },
	{ "wait", 'i', "s",
	  "Current waiting time, whole seconds." },
	{ "wait_us", 'i', "us",
	  "Microsecond part of the current waiting time." },
	{ "close_needed", 'i', "",
	  "Not used for clients; always 0." },
	{ "ptr", 's', "",
	  "Address of the internal object for this connection." },
	{ "link", 's', "",
	  "Address of the server connection the client is paired with; empty if none." },
	{ "remote_pid", 'i', "",
	  "Process ID of the client when it connects over a Unix socket and the OS reports it; otherwise 0." },
	{ "tls", 's', "",
	  "The client's TLS protocol and cipher (`TLSv1.3/TLS_AES_256_GCM_SHA384`), or empty for a plain connection." },
	{ "application_name", 's', "",
	  "`application_name` set by the client, or empty." },
	{ "prepared_statements", 'i', "count",
	  "Number of prepared statements the client has prepared." },
	{ "id", 'i', "",
	  "Unique ID of the client connection; not reused after disconnection (PgBouncer's `KILL_CLIENT` takes this ID)." },
	{ "pinned", 's', "",
	  "Why the client keeps its server between transactions (doc/session-state.md): a comma-separated list of `temp_table`, `cursor` (`WITH HOLD`), `advisory_lock` (session-level), `role` (`SET ROLE` / `SET SESSION AUTHORIZATION`), `unknown` (pgsift could not ask the server); empty when it is not pinned." },
};
static void client_row(struct view_sink *sink, const struct sift *s, const struct client *cl)
{
	char addr[64], laddr[64], ptr[32], link[32], tls[96], why[PIN_REASONS_LEN];
	int lport;
	int64_t wait = cl->state == CL_WAITING ? s->now - cl->wait_start : 0;
	const struct istr *app = s->nparams > 4 ? cl->vals.v[4] : NULL;

	local_addr_of(cl->c.fd, laddr, sizeof(laddr), &lport);
	snprintf(ptr, sizeof(ptr), "%p", (const void *)cl);
	if (cl->server)
		snprintf(link, sizeof(link), "%p", (const void *)cl->server);
	else
		link[0] = 0;
	view_row(sink, "C", cl->user ? cl->user->name : "", cl->db ? cl->db->name : "", repl_mode_name(cl->replication),
		 client_state_name(cl),
		 peer_addr_str(&cl->addr, addr, sizeof(addr)), (int)cl->addr.port, laddr, lport,
		 (int64_t)cl->connect_time, mono_to_wall(s, cl->request_time), (int)(wait / 1000000),
		 (int)(wait % 1000000), 0, ptr, link, 0, tls_describe(cl->c.tls, tls, sizeof(tls)), app ? app->s : "",
		 (int)ps_client_count(cl), (int)cl->id, pin_reasons(cl->pin, why, sizeof(why)));
}

static void client_list_rows(struct view_sink *sink, const struct sift *s, const struct list *l)
{
	const struct list *it;

	list_for_each(it, l)
		client_row(sink, s, list_entry(it, struct client, node));
}

/* every client of pool p, in SHOW CLIENTS' order of its lists */
static void pool_client_rows(struct view_sink *sink, const struct sift *s, const struct pool *p)
{
	client_list_rows(sink, s, &p->active_clients);
	client_list_rows(sink, s, &p->waiting_clients);
	client_list_rows(sink, s, &p->idle_clients);
	client_list_rows(sink, s, &p->login_clients);
}

static void clients_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;

	list_for_each(it, &s->pools)
		pool_client_rows(sink, s, list_entry(it, struct pool, node));
	client_list_rows(sink, s, &s->admin_clients);
}

const struct view view_clients = { "clients", "One row per client connection: who, from where, in which state, since when.",
				   clients_cols, VIEW_NCOLS(clients_cols), clients_rows };

static const struct view_col servers_cols[] = {
	{ "type", 's', "",
	  "`S`, for server." },
	{ "user", 's', "",
	  "User name the pooler uses on the server." },
	{ "database", 's', "",
	  "Database entry name." },
	{ "replication", 's', "",
	  "Replication mode of the server connection: `none`, `logical` or `physical`." },
	{ "state", 's', "",
	  "One of `active`, `idle`, `used`, `tested`, `new`, `active_cancel`, `being_canceled` (see the matching `sv_` columns of `SHOW POOLS`)." },
	{ "addr", 's', "",
	  "IP address of the PostgreSQL server, or `unix` for a Unix socket." },
	{ "port", 'i', "",
	  "Port of the PostgreSQL server." },
	{ "local_addr", 's', "",
	  "Local address of the connection." },
	{ "local_port", 'i', "",
	  "Local port of the connection." },
	{ "connect_time", 'T', "time",
	  "When the connection was made." },
	{ "request_time", 'T', "time",
	  "When the last request was sent on it." },
	{ "wait", 'i', "s",
	  "Not used for server connections; 0." },
	{ "wait_us", 'i', "us",
	  "Not used for server connections; 0." },
	{ "close_needed", 'i', "",
	  "1 if the connection will be closed as soon as it is released, because a reload changed its connection parameters, `RECONNECT` was issued, or its `server_lifetime` is over; else 0." },
	{ "ptr", 's', "",
	  "Address of the internal object for this connection." },
	{ "link", 's', "",
	  "Address of the client connection the server is paired with; empty if none." },
	{ "remote_pid", 'i', "",
	  "Backend process ID: taken from the Unix socket peer when available, otherwise from the cancel key the server sent." },
	{ "tls", 's', "",
	  "The connection's TLS protocol and cipher (`TLSv1.3/TLS_AES_256_GCM_SHA384`), or empty for a plain connection (`server_tls_sslmode`)." },
	{ "application_name", 's', "",
	  "`application_name` of the linked client, or empty when there is none." },
	{ "prepared_statements", 'i', "count",
	  "Number of prepared statements prepared on this server connection." },
	{ "id", 'i', "",
	  "Unique ID of the server connection." },
	{ "pinned", 's', "",
	  "Why its client keeps it between transactions, as `SHOW CLIENTS`' `pinned`; empty when it is not pinned." },
};

static void server_rows(struct view_sink *sink, const struct sift *s, const struct list *l)
{
	const struct list *it;

	list_for_each(it, l) {
		const struct server *sv = list_entry(it, struct server, node);
		const struct db *db = sv->pool->db;
		char laddr[64], ptr[32], link[32], tls[96], why[PIN_REASONS_LEN];
		const struct istr *app = sv->client && s->nparams > 4 ? sv->client->vals.v[4] : NULL;
		const char *state = server_state_name(sv);
		if (sv->state == SV_IDLE && s->now - sv->last_used > s->cfg.server_check_delay)
			state = "used";
		else if (sv->state == SV_ACTIVE && !list_empty(&sv->cancels))
			state = "active_cancel";
		peer_addr_str(&sv->local, laddr, sizeof(laddr));
		snprintf(ptr, sizeof(ptr), "%p", (const void *)sv);
		if (sv->client)
			snprintf(link, sizeof(link), "%p", (const void *)sv->client);
		else
			link[0] = 0;
		view_row(sink, "S", sv->pool->user->name, db->name, repl_mode_name(sv->replication), state,
			 server_host_name(sv)[0] != '/' ? server_host_name(sv) : "unix", db->conf.port, laddr,
			 (int)sv->local.port, (int64_t)sv->connect_time,
			 mono_to_wall(s, sv->last_used ? sv->last_used : sv->created), 0, 0, server_expired(sv) ? 1 : 0,
			 ptr, link, (int)sv->backend_pid, tls_describe(sv->c.tls, tls, sizeof(tls)), app ? app->s : "",
			 (int)ps_server_count(sv), (int)sv->id,
			 pin_reasons(sv->client ? sv->client->pin : 0, why, sizeof(why)));
	}
}

/* every server connection of pool p, in SHOW SERVERS' order of its lists */
static void pool_server_rows(struct view_sink *sink, const struct sift *s, const struct pool *p)
{
	server_rows(sink, s, &p->active_servers);
	server_rows(sink, s, &p->idle_servers);
	server_rows(sink, s, &p->tested_servers);
	server_rows(sink, s, &p->new_servers);
	server_rows(sink, s, &p->canceling_servers);
}

static void servers_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;

	list_for_each(it, &s->pools)
		pool_server_rows(sink, s, list_entry(it, struct pool, node));
}

const struct view view_servers = { "servers", "One row per server connection: its pool, state and the client it serves.",
				   servers_cols, VIEW_NCOLS(servers_cols), servers_rows };

/* ---- STATS, STATS_TOTALS, STATS_AVERAGES ---- */

enum stats_part { STATS_ALL, STATS_TOTALS, STATS_AVERAGES };

static void stats_rows_of(struct sift *s, struct view_sink *sink, enum stats_part part)
{
	struct list *it;

	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		const struct stats *a = &db->stats_avg, *v;
		struct stats t;
		if (db->admin || db->removed || db->template)
			continue;
		pool_db_totals(s, db, &t);
		if (part == STATS_ALL) {
			view_row(sink, db->name, t.server_assignment_count, t.xact_count, t.query_count, t.bytes_recv,
				 t.bytes_sent, t.xact_time, t.query_time, t.wait_time, t.client_parse_count,
				 t.server_parse_count, t.bind_count, t.client_login_count, a->server_assignment_count,
				 a->xact_count, a->query_count, a->bytes_recv, a->bytes_sent, a->xact_time, a->query_time,
				 a->wait_time, a->client_parse_count, a->server_parse_count, a->bind_count,
				 a->client_login_count);
			continue;
		}
		v = part == STATS_TOTALS ? &t : a;
		view_row(sink, db->name, v->server_assignment_count, v->xact_count, v->query_count, v->bytes_recv,
			 v->bytes_sent, v->xact_time, v->query_time, v->wait_time, v->client_parse_count,
			 v->server_parse_count, v->bind_count, v->client_login_count);
	}
}

static void stats_rows(struct sift *s, struct view_sink *sink)
{
	stats_rows_of(s, sink, STATS_ALL);
}

static void stats_totals_rows(struct sift *s, struct view_sink *sink)
{
	stats_rows_of(s, sink, STATS_TOTALS);
}

static void stats_averages_rows(struct sift *s, struct view_sink *sink)
{
	stats_rows_of(s, sink, STATS_AVERAGES);
}

static const struct view_col stats_cols[] = {
	{ "database", 's', "",
	  "Database entry name." },
	{ "total_server_assignment_count", 'N', "count",
	  "Times a server connection was assigned to a client." },
	{ "total_xact_count", 'N', "count",
	  "SQL transactions pooled." },
	{ "total_query_count", 'N', "count",
	  "SQL statements pooled." },
	{ "total_received", 'N', "bytes",
	  "Bytes received from clients." },
	{ "total_sent", 'N', "bytes",
	  "Bytes sent to clients." },
	{ "total_xact_time", 'N', "us",
	  "Microseconds spent connected to a server inside a transaction, executing or idle in transaction." },
	{ "total_query_time", 'N', "us",
	  "Microseconds spent actively executing statements on a server." },
	{ "total_wait_time", 'N', "us",
	  "Microseconds clients spent waiting for a server connection, added when the client gets one." },
	{ "total_client_parse_count", 'N', "count",
	  "Named prepared statements created by clients; counted only while prepared statements are tracked, otherwise 0." },
	{ "total_server_parse_count", 'N', "count",
	  "Prepared statements the pooler created on servers; counted only while prepared statements are tracked, otherwise 0." },
	{ "total_bind_count", 'N', "count",
	  "Prepared statements bound for execution by clients and forwarded to servers; counted only while prepared statements are tracked, otherwise 0." },
	{ "total_client_login_count", 'N', "count",
	  "Client logins that succeeded and joined a pool of this database (console logins are not counted)." },
	{ "avg_server_assignment_count", 'N', "1/s",
	  "Server assignments per second in the last period." },
	{ "avg_xact_count", 'N', "1/s",
	  "Transactions per second in the last period." },
	{ "avg_query_count", 'N', "1/s",
	  "Statements per second in the last period." },
	{ "avg_recv", 'N', "bytes/s",
	  "Bytes received from clients per second." },
	{ "avg_sent", 'N', "bytes/s",
	  "Bytes sent to clients per second." },
	{ "avg_xact_time", 'N', "us",
	  "Mean transaction duration in the last period, microseconds." },
	{ "avg_query_time", 'N', "us",
	  "Mean statement duration in the last period, microseconds." },
	{ "avg_wait_time", 'N', "us",
	  "Mean wait for a server connection per assignment in the last period, microseconds." },
	{ "avg_client_parse_count", 'N', "1/s",
	  "Client prepared-statement creations per second." },
	{ "avg_server_parse_count", 'N', "1/s",
	  "Server prepared-statement creations per second." },
	{ "avg_bind_count", 'N', "1/s",
	  "Prepared-statement binds per second." },
	{ "avg_client_login_count", 'N', "1/s",
	  "Successful client logins per second in the last period." },
};
const struct view view_stats = { "stats", "One row per database: counters since the start and rates over the last stats_period.",
				 stats_cols, VIEW_NCOLS(stats_cols), stats_rows };

static const struct view_col stats_totals_cols[] = {
	{ "database", 's', "",
	  "Database entry name." },
	{ "server_assignment_count", 'N', "count",
	  "Times a server connection was assigned to a client." },
	{ "xact_count", 'N', "count",
	  "SQL transactions pooled." },
	{ "query_count", 'N', "count",
	  "SQL statements pooled." },
	{ "bytes_received", 'N', "bytes",
	  "Bytes received from clients." },
	{ "bytes_sent", 'N', "bytes",
	  "Bytes sent to clients." },
	{ "xact_time", 'N', "us",
	  "Microseconds spent connected to a server inside a transaction." },
	{ "query_time", 'N', "us",
	  "Microseconds spent actively executing statements on a server." },
	{ "wait_time", 'N', "us",
	  "Microseconds clients spent waiting for a server connection." },
	{ "client_parse_count", 'N', "count",
	  "Named prepared statements created by clients." },
	{ "server_parse_count", 'N', "count",
	  "Prepared statements created on servers by the pooler." },
	{ "bind_count", 'N', "count",
	  "Prepared statements bound and forwarded to servers." },
	{ "client_login_count", 'N', "count",
	  "Client logins that succeeded and joined a pool of this database." },
};
const struct view view_stats_totals = { "stats_totals", "The total_ half of stats, one row per database.",
					stats_totals_cols, VIEW_NCOLS(stats_totals_cols), stats_totals_rows };

static const struct view_col stats_averages_cols[] = {
	{ "database", 's', "",
	  "Database entry name." },
	{ "server_assignment_count", 'N', "1/s",
	  "Server assignments per second." },
	{ "xact_count", 'N', "1/s",
	  "Transactions per second." },
	{ "query_count", 'N', "1/s",
	  "Statements per second." },
	{ "bytes_received", 'N', "bytes/s",
	  "Bytes received from clients per second." },
	{ "bytes_sent", 'N', "bytes/s",
	  "Bytes sent to clients per second." },
	{ "xact_time", 'N', "us",
	  "Mean transaction duration, microseconds." },
	{ "query_time", 'N', "us",
	  "Mean statement duration, microseconds." },
	{ "wait_time", 'N', "us",
	  "Mean wait for a server connection per assignment, microseconds." },
	{ "avg_client_parse_count", 'N', "1/s",
	  "Client prepared-statement creations per second." },
	{ "avg_server_parse_count", 'N', "1/s",
	  "Server prepared-statement creations per second." },
	{ "avg_bind_count", 'N', "1/s",
	  "Prepared-statement binds per second." },
	{ "client_login_count", 'N', "1/s",
	  "Successful client logins per second." },
};
const struct view view_stats_averages = { "stats_averages", "The avg_ half of stats, one row per database.",
					  stats_averages_cols, VIEW_NCOLS(stats_averages_cols), stats_averages_rows };

/* ---- SOCKETS, ACTIVE_SOCKETS: clients and servers in one set ---- */

static const struct view_col sockets_cols[] = {
	{ "type", 's', "", "`C` for a client connection, `S` for a server connection." },
	{ "user", 's', "", "User of the connection (see SHOW CLIENTS and SHOW SERVERS)." },
	{ "database", 's', "", "Database entry name." },
	{ "replication", 's', "", "Replication mode: `none`, `logical` or `physical`." },
	{ "state", 's', "", "State, as in SHOW CLIENTS or SHOW SERVERS." },
	{ "addr", 's', "", "Peer IP address, or `unix`." },
	{ "port", 'i', "", "Peer port." },
	{ "local_addr", 's', "", "Local address." },
	{ "local_port", 'i', "", "Local port." },
	{ "connect_time", 'T', "time", "When the connection was made." },
	{ "request_time", 'T', "time", "When the last request was seen." },
	{ "wait", 'i', "s", "Current waiting time of a client, whole seconds." },
	{ "wait_us", 'i', "us", "Microsecond part of the current waiting time." },
	{ "close_needed", 'i', "", "1 if a server connection will close when released." },
	{ "ptr", 's', "", "Address of the internal object." },
	{ "link", 's', "", "Address of the paired connection; empty if none." },
	{ "remote_pid", 'i', "", "Backend process ID of a server connection; 0 for clients." },
	{ "tls", 's', "", "TLS protocol and cipher, or empty." },
	{ "application_name", 's', "", "`application_name` of the (linked) client, or empty." },
	{ "prepared_statements", 'i', "count", "Prepared statements of the connection." },
	{ "id", 'i', "", "Unique ID of the connection (clients and servers share the sequence)." },
	{ "pinned", 's', "", "Why the client (or the server's client) keeps its server between transactions, as in SHOW CLIENTS; empty when not pinned." },
};

/* every connection (active_only: those with a client and a server linked) */
static void sockets_of(struct sift *s, struct view_sink *sink, bool active_only)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (active_only) {
			client_list_rows(sink, s, &p->active_clients);
			server_rows(sink, s, &p->active_servers);
		} else {
			pool_client_rows(sink, s, p);
			pool_server_rows(sink, s, p);
		}
	}
	if (!active_only)
		client_list_rows(sink, s, &s->admin_clients);
}

static void sockets_rows(struct sift *s, struct view_sink *sink)
{
	sockets_of(s, sink, false);
}

static void active_sockets_rows(struct sift *s, struct view_sink *sink)
{
	sockets_of(s, sink, true);
}

const struct view view_sockets = { "sockets", "One row per client and server connection (CLIENTS and SERVERS together).",
				   sockets_cols, VIEW_NCOLS(sockets_cols), sockets_rows };
const struct view view_active_sockets = { "active_sockets",
					  "The SOCKETS rows of clients and servers linked to each other.",
					  sockets_cols, VIEW_NCOLS(sockets_cols), active_sockets_rows };

/* ---- LISTS, USERS ---- */

static const struct view_col lists_cols[] = {
	{ "list", 's', "",
	  "Name of the list." },
	{ "items", 'i', "count",
	  "Number of items in it." },
};
static void lists_rows(struct sift *s, struct view_sink *sink)
{
	const struct list *it;
	int used_clients = 0, used_servers = 0, login = (int)list_count(&s->login_clients);

	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		used_clients += (int)(list_count(&p->idle_clients) + list_count(&p->active_clients) +
				      list_count(&p->waiting_clients) + list_count(&p->login_clients));
		used_servers += p->nservers;
	}
	used_clients += (int)list_count(&s->admin_clients);
	view_row(sink, "databases", (int)list_count(&s->dbs));
	view_row(sink, "users", (int)list_count(&s->users));
	view_row(sink, "peers", s->cfg.npeers);
	view_row(sink, "pools", (int)list_count(&s->pools));
	view_row(sink, "peer_pools", 0);
	view_row(sink, "free_clients", (int)list_count(&s->free_clients));
	view_row(sink, "used_clients", used_clients + login);
	view_row(sink, "login_clients", login);
	view_row(sink, "free_servers", (int)list_count(&s->free_servers));
	view_row(sink, "used_servers", used_servers);
	view_row(sink, "dns_names", 0);
	view_row(sink, "dns_zones", 0);
	view_row(sink, "dns_queries", 0);
	view_row(sink, "dns_pending", 0);
}

const struct view view_lists = { "lists", "Sizes of the pooler's internal lists, one per row.", lists_cols,
				 VIEW_NCOLS(lists_cols), lists_rows };

static const struct view_col users_cols[] = {
	{ "name", 's', "",
	  "User name." },
	{ "pool_size", 's', "",
	  "The user's own `pool_size` override, sent as text; empty when none is set." },
	{ "reserve_pool_size", 's', "",
	  "The user's own `reserve_pool_size` override, sent as text; empty when none is set." },
	{ "pool_mode", 's', "",
	  "The user's own pool mode, or NULL if none is set." },
	{ "max_user_connections", 'i', "count",
	  "Server-connection limit for the user (its own `max_user_connections` or else the global one); 0 means no limit." },
	{ "current_connections", 'i', "count",
	  "Server connections this user currently has open, across all databases." },
	{ "max_user_client_connections", 'i', "count",
	  "Client-connection limit for the user (PgBouncer's `max_user_client_connections`); 0 means no limit." },
	{ "current_client_connections", 'i', "count",
	  "Client connections this user currently has open." },
};
static void users_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;
	char size[16], reserve[16];

	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		snprintf(size, sizeof(size), "%d", u->pool_size);
		snprintf(reserve, sizeof(reserve), "%d", u->reserve_pool_size);
		view_row(sink, u->name, u->pool_size >= 0 ? size : "", u->reserve_pool_size >= 0 ? reserve : "",
			 u->pool_mode >= 0 ? config_pool_mode_name(u->pool_mode) : NULL,
			 u->max_user_connections >= 0 ? u->max_user_connections : s->cfg.max_user_connections,
			 u->nservers,
			 u->max_user_client_connections > 0 ? u->max_user_client_connections
							    : s->cfg.max_user_client_connections,
			 u->nclients);
	}
}

const struct view view_users = { "users", "One row per known user, with its overrides and connection counts.",
				 users_cols, VIEW_NCOLS(users_cols), users_rows };
