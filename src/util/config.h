/*
 * config: the pgbouncer.ini grammar, read with inih.
 *
 * Pure module: no libevent, no libpq. config_load_file() turns a file into
 * a struct config or a list of "file:line: message" diagnostics; the caller
 * (main/pool) decides how to apply it. Settings are described once, in a
 * table (config.c), which drives parsing, defaults, SHOW CONFIG, SET and the
 * documentation check (pgsift --list-settings).
 */
#ifndef PGSIFT_CONFIG_H
#define PGSIFT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t usec_t;

enum pool_mode { POOL_SESSION, POOL_TRANSACTION, POOL_STATEMENT };
enum auth_type_e { AUTHT_TRUST, AUTHT_ANY, AUTHT_PLAIN, AUTHT_MD5, AUTHT_SCRAM, AUTHT_CERT, AUTHT_HBA, AUTHT_PEER };
/* client_tls_sslmode, in PgBouncer's order: each asks more than the one before */
enum http_auth { HTTP_AUTH_NONE, HTTP_AUTH_BASIC };
enum sslmode { SSLMODE_DISABLE, SSLMODE_ALLOW, SSLMODE_PREFER, SSLMODE_REQUIRE, SSLMODE_VERIFY_CA, SSLMODE_VERIFY_FULL };
/* load_balance_hosts of a [databases] entry whose host is a list */
enum load_balance { LB_ROUND_ROBIN, LB_DISABLE };

#define CONFIG_MAX_HOSTS 16	/* entries of a comma-separated host list */

/* One [databases] entry; strings are owned (NULL when unset), numbers are
 * -1 when unset (the [pgsift] default applies). */
struct db_conf {
	char *name;
	char *host;			/* one host, or a comma-separated list of them */
	int port;
	char *dbname;
	char *user;
	char *password;
	char *auth_user;		/* overrides the global auth_user ... */
	char *auth_query;		/* ... auth_query ... */
	char *auth_dbname;		/* ... and auth_dbname */
	int pool_size;
	int min_pool_size;
	int reserve_pool_size;
	int max_db_connections;
	int max_db_client_connections;
	int pool_mode;
	int load_balance_hosts;		/* enum load_balance; -1: round-robin, the default */
	usec_t server_lifetime;		/* -1: the global server_lifetime */
	usec_t query_wait_timeout;	/* -1: the user's or global one */
	char *connect_query;
	char *application_name;
	char *client_encoding;
	char *datestyle;
	char *timezone;
	int line;
};

/* One [users] entry; numbers are -1 when unset. */
struct user_conf {
	char *name;
	int pool_mode;
	int pool_size;
	int reserve_pool_size;
	int max_user_connections;
	int max_user_client_connections;
	usec_t query_timeout;		/* these override the global ones */
	usec_t query_wait_timeout;
	usec_t idle_transaction_timeout;
	usec_t transaction_timeout;
	usec_t client_idle_timeout;
	int line;
};

/* One [peers] entry: another process of an so_reuseport group, which a
 * cancel request for one of its clients is forwarded to. */
struct peer_conf {
	int id;			/* 1..65535, its peer_id */
	char *host;		/* a directory (its Unix socket there) or a host */
	int port;		/* default 6432 */
	int pool_size;		/* PgBouncer's; accepted, -1 when unset */
	int line;
};

#define TRACE_SAMPLE_PARENT (-1.0)
#define TRACE_SAMPLE_OFF (-2.0)

struct config {
	char *path;
	/* [pgsift] settings; names match PgBouncer's */
	char *listen_addr;
	int listen_port;
	int listen_backlog;
	char *unix_socket_dir;
	int unix_socket_mode;
	bool so_reuseport;
	int peer_id;			/* 0: no peering */
	int auth_type;
	char *auth_file;
	char *auth_hba_file;
	char *auth_ident_file;
	int auth_fail_limit;		/* failed logins per source address ... */
	usec_t auth_fail_window;	/* ... within this, then refused for this long */
	char *admin_users;
	char *stats_users;
	char *auth_user;		/* looks up users not in auth_file ... */
	char *auth_query;		/* ... with this query ... */
	char *auth_dbname;		/* ... in this database entry (default: the client's) */
	int pool_mode;
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int max_db_connections;
	int max_user_connections;
	int max_db_client_connections;
	int max_user_client_connections;
	usec_t server_lifetime;
	usec_t server_idle_timeout;
	usec_t server_connect_timeout;
	usec_t server_login_retry;
	usec_t suspend_timeout;
	char *server_reset_query;
	bool server_reset_query_always;
	char *server_check_query;	/* "<empty>": an empty query */
	usec_t server_check_delay;
	bool server_fast_close;
	usec_t pool_idle_timeout;	/* a pool with no client and no server this long is removed; 0: kept */		/* session mode: close servers due to close between transactions */
	usec_t query_timeout;
	bool query_timeout_cancel;	/* 1: cancel the statement; 0: close the client (PgBouncer) */
	usec_t query_wait_timeout;
	usec_t query_wait_notify;	/* a NOTICE to a client queued this long */
	usec_t client_idle_timeout;
	usec_t client_login_timeout;
	usec_t idle_transaction_timeout;
	usec_t transaction_timeout;
	char *ignore_startup_parameters;
	char *track_extra_parameters;
	bool pin_session_state;		/* keep a client's server while it holds unreplayable state */
	int max_pinned_per_pool;	/* 0: half the pool size (at least 1) */
	int max_packet_size;
	int pkt_buf;
	int notify_buffer;		/* bytes of notifications held for a client that does not read (notify.h) */
	char *logfile;
	char *pidfile;
	char *user;			/* as -u: who to run as when started as root */
	char *login_notify_message;	/* a NOTICE sent at each login */
	bool log_connections;
	bool log_disconnections;
	bool log_pooler_errors;
	bool log_stats;
	usec_t stats_period;
	int verbose;
	/* TLS between clients and pgsift (tls.c) */
	int client_tls_sslmode;
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	/* TLS between pgsift and PostgreSQL */
	int server_tls_sslmode;
	char *server_tls_key_file;
	char *server_tls_cert_file;
	char *server_tls_ca_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	/* the analyzer */
	bool analyzer;
	int max_fingerprints;
	bool log_query_samples;
	int max_prepared_statements;
	/* the pool sizing advisor */
	int advisor_target_wait_ms;
	usec_t advisor_window;
	int advisor_min_transactions;
	int advisor_headroom;
	/* findings (doc/analyzer.md) */
	int nplusone_min_repeats;
	int nplusone_think_time_ms;
	int slow_query_ms;
	int slow_query_log_size;
	bool slow_query_explain;
	usec_t slow_query_explain_interval;
	int slow_query_explain_rate;
	int idle_in_transaction_warn_ms;
	/* history and the console's SQL (doc/admin.md) */
	int stats_bucket_seconds;
	int stats_buckets;
	int stats_history_memory;	/* MB */
	usec_t admin_sql_timeout;
	int admin_sql_memory;		/* MB */
	/* logs, the HTTP listener and /metrics (doc/config.md, doc/metrics.md) */
	int log_format;			/* enum log_format (util/log.h) */
	bool syslog;
	char *syslog_ident;
	int syslog_facility;		/* index into log_syslog_facilities */
	char *http_listen_addr;
	int http_port;			/* 0: no HTTP listener */
	int http_auth;			/* enum http_auth */
	bool http_tls;
	int http_max_connections;
	usec_t http_timeout;
	bool metrics_pgbouncer_names;
	int metrics_top_fingerprints;
	/* spans in the application's traces (doc/tracing.md) */
	char *otlp_endpoint;		/* "": no export, no spans */
	char *otlp_service_name;
	int otlp_batch_spans;
	usec_t otlp_flush_interval;
	int otlp_queue_spans;
	usec_t otlp_timeout;
	double trace_sample;		/* 0..1, or TRACE_SAMPLE_PARENT / TRACE_SAMPLE_OFF */
	double trace_untraced_ratio;
	bool trace_always_slow;

	struct db_conf *dbs;
	int ndbs;
	struct user_conf *users;
	int nusers;
	struct peer_conf *peers;
	int npeers;
};

/* Diagnostics collected while loading: errors stop startup (or refuse a
 * reload), warnings are logged. Messages are "file:line: text". */
struct config_diag {
	char **errors;
	int nerrors;
	char **warnings;
	int nwarnings;
};

void config_diag_free(struct config_diag *d);

/* Fills cfg with every default. Caller frees with config_free(). */
void config_init_defaults(struct config *cfg);

/* Loads a file into a fresh cfg (defaults first). Returns true when the file
 * has no errors; on false cfg is still freeable and diag says why. */
bool config_load_file(const char *path, struct config *cfg, struct config_diag *diag)
	__attribute__((warn_unused_result));

/* Same from a string (for tests); path is used in messages only. */
bool config_load_string(const char *text, size_t len, const char *path, struct config *cfg,
			struct config_diag *diag) __attribute__((warn_unused_result));

void config_free(struct config *cfg);

/* Looks up a database entry by name ("*" is the fallback); NULL if none. */
const struct db_conf *config_find_db(const struct config *cfg, const char *name);
const struct user_conf *config_find_user(const struct config *cfg, const char *name);
const struct peer_conf *config_find_peer(const struct config *cfg, int id);

/* Parses a [peers] entry "id = host=... port=... pool_size=..." into pc
 * (fresh). Returns false and writes the reason into err. */
bool config_parse_peer(const char *id, const char *connstr, struct peer_conf *pc, char *err, size_t errlen);

/* Parses a [users] entry's "pool_mode=... max_user_connections=..." into
 * uc (fresh) for the user name. Returns false and writes the reason into
 * err. */
bool config_parse_user(const char *name, const char *connstr, struct user_conf *uc, char *err, size_t errlen);

/* Parses a libpq-style "key=value key='v a l'" string into dc (fresh).
 * Returns false and writes the reason into err. */
bool config_parse_db(const char *name, const char *connstr, struct db_conf *dc, char *err,
		     size_t errlen) __attribute__((warn_unused_result));
void config_db_conf_free(struct db_conf *dc);
/* True when two entries differ in anything that affects a server login. */
bool config_db_conn_changed(const struct db_conf *a, const struct db_conf *b);

/* ---- the settings table, for SHOW CONFIG / SET / --list-settings ---- */

enum setting_flags {
	SET_RELOAD = 1,		/* may change at runtime (reload or SET) */
};

/* Number of settings and their names, in table order. */
int config_setting_count(void);
const char *config_setting_name(int i);
/* Formats the value of setting i of cfg into out; returns out. */
const char *config_setting_value(const struct config *cfg, int i, char *out, size_t outlen);
const char *config_setting_default(int i);
bool config_setting_changeable(int i);
/* Index of a setting by name (case-insensitive), or -1. */
int config_setting_find(const char *name);
/* Sets one setting in cfg from text, as a config line would. Returns false
 * with the reason in err and cfg unchanged on a bad value. */
bool config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Copies setting i from src into dst (used to keep restart-only settings
 * at their running value across a reload). */
bool config_copy_setting(struct config *dst, const struct config *src, int i) __attribute__((warn_unused_result));

const char *config_pool_mode_name(int mode);
const char *config_auth_type_name(int type);
const char *config_sslmode_name(int mode);
const char *config_load_balance_name(int lb);

/* Splits a [databases] host value at its commas into at most max entries
 * (each NUL-terminated in buf, which must hold strlen(host) + 1 bytes).
 * Returns how many, or -1 when an entry is empty or there are too many. */
int config_split_hosts(const char *host, char *buf, const char **out, int max);

/* Is name in a comma-separated list (case-insensitive, spaces ignored)? */
bool config_list_contains(const char *list, const char *name);

#endif
