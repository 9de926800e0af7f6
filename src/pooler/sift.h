/*
 * sift: the objects of the pooler half and the one context per event loop.
 *
 * Every client and server is in exactly one list, named by its state, and
 * a state change is a list move. Objects are never freed inside a callback
 * that may still touch them: closing moves them to a free list that is
 * emptied once the loop is done with the current batch of events.
 */
#ifndef PGSIFT_SIFT_H
#define PGSIFT_SIFT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pooler/analyzer.h"
#include "util/config.h"
#include "pooler/conn.h"
#include "util/list.h"
#include "pooler/prepared.h"
#include "pooler/scram.h"

#define NAME_LEN 64		/* database and user names, with NUL */
#define PARAM_MAX 10		/* tracked parameters: 5 fixed + extras */
#define PARAM_FIXED 5

/* An interned, reference-counted string: equal values are one pointer, so
 * "does the server's TimeZone match the client's" is a pointer compare. */
struct istr {
	struct istr *next;
	uint32_t refs;
	uint32_t hash;
	uint32_t len;
	uint64_t id;	/* unique for the process's life, never reused (an address
			 * is): equal ids, equal texts; compared where a
			 * string comparison per statement would cost */
	char s[];
};

struct istr_table {
	struct istr **buckets;
	uint32_t mask;
	uint32_t count;
};

/* Values of the tracked parameters, by index into sift->param_names. */
struct params {
	struct istr *v[PARAM_MAX];
};

/* A peer address compact enough to keep per client. */
struct peer_addr {
	uint8_t family;		/* AF_INET, AF_INET6 or AF_UNIX */
	uint16_t port;
	uint8_t a[16];
};

/* Counters, as in PgBouncer's SHOW STATS (times in microseconds). */
struct stats {
	uint64_t server_assignment_count;
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_recv;
	uint64_t bytes_sent;
	uint64_t xact_time;
	uint64_t query_time;
	uint64_t wait_time;
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
	uint64_t client_login_count;	/* logins that joined a pool */
};

enum secret_kind { SECRET_NONE, SECRET_PLAIN, SECRET_MD5, SECRET_SCRAM };

/* What a login for a user pgsift cannot check (not in auth_file, or no
 * usable secret) shows the client, so that it looks like a wrong password
 * (auth.c): the exchange most users of auth_file get, and a SCRAM salt
 * derived from the name with a per-process key. */
struct auth_mock {
	uint8_t key[32];		/* drawn at start: fake salts cannot be computed outside */
	bool scram;			/* most secrets are SCRAM verifiers */
	int iterations;			/* their most common iteration count */
};

struct auth_limit;			/* failed logins per source address (auth_limit.c) */
struct hba;

struct user {
	struct list node;		/* sift->users */
	char name[NAME_LEN];
	char *secret;			/* from auth_file, NULL when absent */
	uint8_t secret_kind;
	bool has_scram;			/* scram holds a usable verifier */
	bool has_client_key;		/* client_key from a client's SCRAM login */
	bool in_auth_file;
	uint8_t empty_check;		/* SCRAM verifier of ""? 0 not known, 1 no, 2 yes */
	struct scram_secret scram;
	uint8_t client_key[SCRAM_KEY_LEN];
	bool dynamic;			/* the secret came from auth_query, not auth_file */
	int pool_mode;			/* -1: database's / global */
	int pool_size;			/* -1: database's / default_pool_size */
	int reserve_pool_size;		/* -1: database's / global */
	int max_user_connections;	/* -1: global */
	int max_user_client_connections;	/* -1: global */
	usec_t query_timeout;		/* > 0: overrides the global one */
	usec_t query_wait_timeout;	/* >= 0: overrides the database's and global one */
	usec_t idle_transaction_timeout;	/* > 0: overrides the global one */
	usec_t transaction_timeout;	/* > 0: overrides the global one */
	usec_t client_idle_timeout;	/* > 0: overrides the global one */
	int nservers;
	int nclients;			/* logged-in clients (console included) */
};

/* One entry of a [databases] host list, with its address once resolved. */
struct db_host {
	const char *name;		/* into db->hostbuf; NULL: the Unix socket in unix_socket_dir */
	struct sockaddr_storage addr;
	socklen_t addrlen;		/* 0: not resolved yet */
};

struct db {
	struct list node;		/* sift->dbs */
	char name[NAME_LEN];
	struct db_conf conf;		/* own copy; outlives a reload that drops it */
	bool admin;			/* the console (pgsift / pgbouncer) */
	bool autodb;			/* made from the "*" entry */
	bool template;			/* the "*" entry itself: stands in for an autodb until login */
	bool removed;			/* gone from the config: no new clients */
	bool paused;
	bool killed;			/* KILL: new clients wait until RESUME */
	bool disabled;			/* DISABLE: new clients refused until ENABLE */
	uint32_t generation;		/* bumped when login settings change */
	int nservers;
	int nclients;			/* logged-in clients (max_db_client_connections) */
	struct user *forced_user;	/* conf.user, when set */
	struct db_host *hosts;		/* conf.host split at its commas (one entry without a host) */
	int nhosts;
	int next_host;			/* the host the next server connection tries */
	char *hostbuf;
	struct stats retired;		/* counters of its pools removed by pool_idle_timeout */
	struct stats stats_prev;	/* totals at the start of the last stats period */
	struct stats stats_avg;		/* rates and mean times of the last period */
};

struct pool {
	struct list node;		/* sift->pools */
	struct sift *sift;
	struct db *db;
	struct user *user;		/* the user servers log in as */
	struct list idle_clients;	/* logged in, no server; least recently active first */
	struct list active_clients;	/* linked to a server */
	struct list waiting_clients;	/* want a server, first come first served */
	struct list login_clients;	/* authenticated, waiting for this pool's first server */
	struct list active_servers;
	struct list idle_servers;	/* most recently used first */
	struct list tested_servers;	/* running a check, reset or connect query */
	struct list new_servers;	/* connecting or logging in */
	struct list canceling_servers;	/* released, waiting for a cancel to land */
	int nservers;			/* in all server lists */
	int repl_login;			/* replication clients in login_clients (replication.h) */
	int repl_new;			/* replication servers in new_servers: repl_login - repl_new wait for room */
	bool welcome_ok;
	int nwelcome;
	struct istr **welcome_names, **welcome_vals;
	struct params defaults;		/* tracked values a new server starts with */
	int64_t last_login_fail;	/* usec; 0 when the last login worked */
	bool last_login_transient;	/* the server was down or busy, not refusing us */
	char *last_login_error;
	char last_login_sqlstate[6];
	struct stats stats;
	int64_t unused_since;		/* when it last had no client and no server (0: in use) */
	struct advisor *adv;		/* pool sizing measurements (advisor_pool.c), lazy */
	struct hs_pcur hist;		/* this time bucket's numbers (pool_history) */
	uint64_t hist_xact_base;	/* stats.xact_count when the bucket began */
	struct lbuckets wait_lb;	/* client wait per server assignment (0 included), /metrics */
	struct lbuckets xact_lb;	/* transaction time, as stats.xact_time counts it */
	int npinned;			/* clients pinned to a server, or about to be (pin.h) */
	uint64_t pinned_us[4];		/* time clients spent pinned, finished pins, by PIN_* bit (pin.h) */
	uint64_t pin_refused[4];	/* statements refused at max_pinned_per_pool, by PIN_* bit */
	struct nf_pool *nf;		/* LISTEN fanned out: the listener and its channels (notify.h), lazy */
};

/* The startup packet's replication parameter (replication.h). */
enum repl_mode { REPL_NONE, REPL_LOGICAL, REPL_PHYSICAL };

enum client_state {
	CL_LOGIN,		/* startup and authentication */
	CL_LOGIN_WAIT,		/* authenticated; waiting for its pool's welcome */
	CL_IDLE,		/* logged in, no server */
	CL_WAITING,		/* waiting for a server */
	CL_ACTIVE,		/* linked to a server */
	CL_FREE			/* closed, freed after this loop iteration */
};

struct login_state;
struct ss_client;
struct nf_client;
struct nf_pool;
struct aq_req;

struct client {
	struct conn c;
	struct sift *sift;
	struct list node;		/* the list of its state */
	struct client *cancel_next;	/* chain in sift->cancel_map */
	uint8_t state;
	bool admin;
	bool stats_only;		/* admin console in read-only mode */
	bool unsynced;			/* extended-protocol messages since the last Sync */
	bool skip_to_sync;		/* a cancelled waiting batch: its messages up to Sync are dropped */
	bool timeout_canceled;		/* query_timeout already sent a cancel */
	bool copy_in;			/* the server is in COPY FROM STDIN for us */
	bool copy_end_sent;		/* CopyDone/CopyFail sent since the last Query/Execute */
	bool ps_local;			/* pgsift answered a Parse/Close without a server; Sync is ours too */
	bool ps_discard;		/* the unnamed statement is DISCARD ALL or DEALLOCATE ALL */
	bool admin_alias;		/* console client that asked for "pgbouncer" */
	bool wait_notified;		/* told it is queued (query_wait_notify) since it last waited */
	bool counted;			/* in db->nclients and user->nclients */
	uint8_t replication;		/* enum repl_mode: a walsender session on a server of its own */
	uint16_t syncs_since_cmd;	/* Syncs sent since the last Query/Execute */
	uint16_t syncs_before_end;	/* ... of which before CopyDone/CopyFail */
	uint32_t pending_z;		/* ReadyForQuery replies still to come */
	uint16_t unvalidated;		/* tracked values from the startup packet no server accepted yet */
	uint64_t id;
	uint32_t cancel_pid, cancel_key;
	struct pool *pool;		/* NULL for the console and during login */
	struct db *db;
	struct user *user;		/* who authenticated */
	struct server *server;
	struct login_state *login;	/* only during login */
	struct aq_req *aq;		/* its auth_query lookup, while one is queued or running */
	struct peer_addr addr;
	int64_t connect_time;		/* usec, wall clock */
	int64_t request_time;		/* last activity, monotonic usec */
	int64_t idle_since;		/* when it last became idle (no server) */
	int64_t wait_start;
	int64_t query_start;		/* first unanswered Sync/Query */
	int64_t xact_start;
	int64_t ready_time;		/* its last ReadyForQuery (idle_transaction_timeout) */
	struct params vals;
	struct an_client *an;		/* statement names, for the analyzer (lazy) */
	struct ps_client *ps;		/* prepared statement names (lazy) */
	uint64_t an_wait_us;		/* wait for a server, charged to the next statement */
	uint32_t admin_wait;		/* console: ADMIN_WAIT_*, a PAUSE or WAIT_CLOSE reply is pending */
	struct db *admin_wait_db;
	struct console_client *console;	/* console: statements, portals, a query in flight (lazy) */
	struct server *repl_server;	/* replication: its own server, from launch to close */
	char *repl_params;		/* replication: startup "name\0value\0" pairs passed to it */
	uint32_t repl_params_len;
	/* session settings carried across servers (session.h) */
	bool ss_on;			/* its SET statements are followed (not session mode) */
	bool ss_busy;			/* statements await replies, or changes await the transaction's end */
	bool ss_watch;			/* the relay passes the next message to session.c (ss_watch_reset()) */
	uint32_t plain_len;		/* the Query being relayed is one plain statement (ps_sql_plain())
					 * of plain_len - 1 bytes: the analyzer need not measure it; 0: unknown */
	bool ss_unvalidated;		/* startup settings no server took yet */
	struct istr *ss_start;		/* from the startup packet: what RESET goes back to */
	struct istr *ss_set;		/* committed */
	struct istr *ss_cur;		/* with the open transaction's changes */
	struct ss_client *ss;		/* statements in flight (lazy) */
	/* session state that keeps its server (pin.h) */
	uint8_t pin;			/* PIN_* the last probe found on its server; nonzero: pinned */
	bool pin_check;			/* a statement may have changed it: probe at the transaction's end */
	bool pin_counted;		/* counted in pool->npinned (pinned, or a pinning statement in flight) */
	bool pin_stmts;			/* it prepared a statement that pins: probe after each Execute */
	bool pin_answered;		/* a refused batch was answered at a Flush: its Sync is dropped */
	int64_t pin_since;		/* when it was counted or its kinds last changed (pool->pinned_us), monotonic usec */
	/* LISTEN fanned out (notify.h) */
	bool nf_pend;			/* LISTEN/UNLISTEN in its transaction, applied at its end */
	bool nf_queued;			/* notifications wait for the client's next message boundary */
	bool nf_named;			/* session.c follows named statements of LISTEN/UNLISTEN */
	struct nf_client *nf;		/* its channels (lazy) */
};

enum server_state {
	SV_CONNECTING,
	SV_LOGIN,
	SV_IDLE,
	SV_ACTIVE,
	SV_TESTED,		/* running our own query (check, reset, connect_query) */
	SV_CANCELING,		/* released but a cancel for it is in flight */
	SV_FREE
};

struct server_login;

struct server {
	struct conn c;
	struct sift *sift;
	struct list node;
	uint8_t state;
	char txn;			/* last ReadyForQuery status: I, T or E */
	bool tolerate_error;		/* our own query may fail (connect_query) */
	bool used;			/* has been linked to a client */
	bool close_needed;		/* settings changed: close on release */
	uint8_t replication;		/* enum repl_mode: opened for one replication client, never pooled */
	uint32_t inject_pending;	/* ReadyForQuery replies to our own queries to swallow */
	uint16_t sync_mask;		/* parameters the pending sync sets */
	bool sync_wait;			/* hold the client's bytes until the sync is done */
	bool sync_failed;
	char sync_sqlstate[6];
	char sync_error[160];
	int64_t test_start;		/* when our own query started (SV_TESTED) */
	uint32_t generation;
	uint8_t host;			/* index into pool->db->hosts */
	uint64_t id;
	uint32_t backend_pid, backend_key;
	struct pool *pool;
	struct client *client;
	struct client *owner;		/* replication: the client it was opened for (replication.h) */
	struct server_login *login;	/* only during login */
	struct list cancels;		/* cancel requests in flight for this server */
	int64_t connect_time;		/* wall clock usec */
	int64_t created;		/* monotonic usec */
	int64_t last_used;		/* monotonic usec of the last release */
	int64_t link_time;
	struct peer_addr local;
	struct params vals;
	struct an_server an;		/* statements sent and not yet answered */
	bool ps_on;			/* prepared statements are tracked on this link */
	struct ps_rq rq;		/* replies still to come, when ps_on */
	struct ps_server *ps;		/* prepared statements it has (lazy) */
	uint32_t ps_reprepares;		/* client statements pgsift prepared on it (spans' re-prepared) */
	bool ss_dirty;			/* a client left state pgsift does not replay: DISCARD ALL on release */
	bool sync_ss;			/* the pending parameter sync carries session settings */
	struct istr *ss_set, *ss_cur;	/* session settings clients gave it (session.h) */
	bool pin_probe;			/* the injected query in flight is the pin probe (pin.h) */
	uint8_t pin_found;		/* PIN_* its row reported */
	bool nf_listener;		/* a pool's listener for LISTEN (notify.h): in no list, not counted */
};

struct cancel_req {
	struct list node;		/* server->cancels, or sift->orphan_cancels */
	struct sift *sift;
	struct server *server;		/* NULL once the server is gone */
	int fd;
	uint8_t sent;
	uint8_t pkt[16];
	int64_t start;
	struct event ev;
};

struct listener;
struct http_server;
struct otlp_exporter;

/* The console, as the pooler calls it: main.c sets sift->console, so that
 * the pooler never includes a surface's header (arrows point downward). */
struct console_ops {
	/* appends the console's ParameterStatus set to the client's output */
	void (*welcome)(struct client *cl, const char *client_encoding, const char *application_name);
	/* processes what a console client sent */
	void (*input)(struct client *cl);
	/* a CancelRequest names this console client */
	void (*cancel)(struct client *cl);
	/* the console client is closing: forget its state (cl->console) */
	void (*closed)(struct client *cl);
};

struct console_client;		/* the console's per-client state (surfaces/) */
struct admin_workers;		/* the console's SQL threads (surfaces/admin_sql.c) */

enum shutdown_mode {
	SHUTDOWN_NONE,
	SHUTDOWN_WAIT_CLIENTS,	/* SIGTERM: until every client has left */
	SHUTDOWN_WAIT_SERVERS,	/* SIGINT: until every transaction has ended */
	SHUTDOWN_NOW
};

/* The one context of an event loop. No other mutable state exists. */
struct sift {
	struct event_base *base;
	struct config cfg;
	char *config_path;
	struct list dbs, users, pools;
	struct list login_clients;	/* CL_LOGIN */
	struct list admin_clients;	/* console clients after login */
	struct list free_clients, free_servers;
	struct list orphan_cancels;
	struct list aq_conns;		/* auth_query connections (auth_query.c) */
	struct iobuf_pool bufs;
	struct ssl_ctx_st *client_tls;	/* client_tls_sslmode != disable: tls.c */
	struct ssl_ctx_st *server_tls;	/* server_tls_sslmode != disable */
	struct istr_table strs;
	struct client **cancel_map;
	uint32_t cancel_mask, cancel_count;
	struct listener **listeners;
	int nlisteners;
	struct event *ev_janitor, *ev_reap, *ev_sig[7];
	char *param_names[PARAM_MAX];
	int nparams;
	int64_t now;			/* monotonic usec, refreshed per callback */
	int64_t wall_offset;		/* wall clock = now + wall_offset */
	const struct console_ops *console;
	/* a new finding (findings.h's FD_EV_*); set by main.c to the structured
	 * log's, so the pooler includes no surface header; NULL: not logged */
	void (*on_finding)(struct sift *s, int event, const void *obj);
	struct http_server *http;	/* the HTTP listener (surfaces/http.c); NULL when http_port is 0 */
	struct otlp_exporter *otlp;	/* the span exporter (surfaces/otlp.c) */
	struct admin_workers *sqlw;	/* the console's SQL threads, started at the first SELECT */
	struct analyzer an;
	struct ps_registry ps;		/* prepared statements shared by clients */
	struct auth_mock mock;
	struct auth_limit *auth_limit;	/* made on the first failed login */
	struct hba *hba;		/* auth_type hba: the rules (hba.c); NULL otherwise */
	int64_t start_wall;
	int64_t last_stats;
	uint64_t next_id;
	uint64_t console_logins;		/* SHOW TOTALS counts the console, as PgBouncer's admin database */
	uint64_t console_commands;
	int nclients;			/* all client connections, login included */
	int repl_login;			/* replication clients waiting for their server, all pools */
	uint32_t freed_bufs;		/* idle buffers freed since the heap was last trimmed */
	int shutdown;			/* enum shutdown_mode */
	bool suspended;			/* SUSPEND: sockets are not read (suspend.c) */
	int64_t suspend_start;		/* when, monotonic usec */
	bool reap_scheduled;
	bool daemon;
	bool quiet;			/* -q or -d: nothing on stderr */
	int exit_code;
};

/* Refreshes and returns sift->now (monotonic microseconds). */
int64_t sift_now(struct sift *s);
/* Wall clock in microseconds. */
int64_t sift_wall_usec(void);
/* Makes the free lists be emptied after the current callbacks. */
void sift_schedule_reap(struct sift *s);
/* The callback of s->ev_reap (arg: s): frees what the free lists hold. */
void sift_reap_cb(evutil_socket_t fd, short what, void *arg);
/* Re-reads the config file and auth_file (SIGHUP, RELOAD). false when the
 * new file is refused; the running config stays. */
bool sift_reload(struct sift *s);
/* Starts a shutdown of the given mode (enum shutdown_mode). */
void sift_shutdown(struct sift *s, int mode);
/* Applies side effects of a changed setting (log sink, pool sizes, TLS
 * contexts). false, with the reason in err, when the new value cannot be
 * used (TLS files that do not load): the caller puts the old value back. */
bool sift_apply_setting(struct sift *s, const char *name, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Replaces the TLS contexts with those cfg asks for; false (reason in err)
 * leaves the running ones. */
bool sift_tls_setup(struct sift *s, const struct config *cfg, char *err, size_t errlen);

/* Formats a peer address "1.2.3.4" / "::1" / "unix" into out. */
const char *peer_addr_str(const struct peer_addr *a, char *out, size_t outlen);

/* Effective settings of a pool (database entry, user entry, global).
 * Inline: asked several times a transaction. */
static inline int pool_mode_of(const struct sift *s, const struct pool *p)
{
	if (p->user && p->user->pool_mode >= 0)
		return p->user->pool_mode;
	if (p->db->conf.pool_mode >= 0)
		return p->db->conf.pool_mode;
	return s->cfg.pool_mode;
}

/* A [users] size of the pool's user wins over the database entry's (the
 * pool's user is the entry's forced user= when it has one). */
static inline int pool_size_of(const struct sift *s, const struct pool *p)
{
	if (p->user && p->user->pool_size >= 0)
		return p->user->pool_size;
	return p->db->conf.pool_size >= 0 ? p->db->conf.pool_size : s->cfg.default_pool_size;
}
int reserve_size_of(const struct sift *s, const struct pool *p);
usec_t server_lifetime_of(const struct sift *s, const struct db *db);

#endif
