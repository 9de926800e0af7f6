/*
 * client: see client.h.
 *
 * Login: StartupMessage (after an SSLRequest answered 'S' and the TLS
 * handshake when client_tls_sslmode allows, else 'N'; GSSENCRequest 'N'),
 * then the auth exchange of auth_type, then the pool's welcome. The
 * relay: every message from the client is checked (type, length bounded by
 * max_packet_size) and passed to the linked server without copying; Query,
 * Sync and FunctionCall count the ReadyForQuery replies still owed, which
 * is what tells server.c when a transaction-mode server may be released.
 */
#include "pooler/client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "pooler/auth.h"
#include "pooler/auth_limit.h"
#include "pooler/auth_query.h"
#include "pooler/hba.h"
#include "pooler/notify.h"
#include "pooler/objects.h"
#include "pooler/peers.h"
#include "pooler/pin.h"
#include "pooler/pool.h"
#include "pooler/replication.h"
#include "pooler/server.h"
#include "pooler/session.h"
#include "pooler/tls.h"

#define PASSWORD_MSG_MAX (65535 + 4)	/* bound on a PasswordMessage / SASL response: PostgreSQL's */

enum login_step { LS_STARTUP, LS_AUTH_QUERY, LS_PASSWORD, LS_MD5, LS_SASL_INIT, LS_SASL_CONT };

struct login_state {
	uint8_t step;
	uint8_t salt[4];
	struct params startup;		/* tracked values from the StartupMessage */
	struct istr *ss_startup;	/* replayed settings from it (session.h) */
	char dbname[NAME_LEN];		/* the database asked for */
	char user[NAME_LEN];		/* the user name the client sent */
	bool own_user;			/* the console's "pgbouncer" on the Unix socket (peer_own_user()) */
	uint8_t auth;			/* enum auth_type_e: auth_type, or the hba rule's method */
	char map[NAME_LEN];		/* the hba rule's map= ("": none) */
	struct scram_state scram;
};

static void client_event_cb(evutil_socket_t fd, short what, void *arg);
static void client_relay(struct client *cl);
static void client_login_input(struct client *cl);
static void client_authenticated(struct client *cl);
static void start_auth(struct client *cl);

const char *peer_addr_str(const struct peer_addr *a, char *out, size_t outlen)
{
	if (a->family == AF_INET || a->family == AF_INET6)
		inet_ntop(a->family, a->a, out, (socklen_t)outlen);
	else
		snprintf(out, outlen, "unix");
	return out;
}

/* PgBouncer's layout: "C-12: db/user@addr:port message" */
void client_log(const struct client *cl, enum log_level lvl, const char *fmt, ...)
{
	char prefix[32], addr[64], msg[1024], where[80];
	const struct istr *app = cl->sift->nparams > 4 ? cl->vals.v[4] : NULL;
	struct log_kv kv[5];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	snprintf(prefix, sizeof(prefix), "C-%llu", (unsigned long long)cl->id);
	peer_addr_str(&cl->addr, addr, sizeof(addr));
	snprintf(where, sizeof(where), cl->addr.family == AF_UNIX ? "%s" : "%s:%u", addr, cl->addr.port);
	kv[0] = LKV_I("client_id", cl->id);
	kv[1] = LKV_S("database", cl->db ? cl->db->name : NULL);
	kv[2] = LKV_S("user", cl->user ? cl->user->name : NULL);
	kv[3] = LKV_S("client_addr", where);
	kv[4] = LKV_S("application_name", app ? app->s : NULL);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_conn(lvl, "client", prefix, kv, 5, "%s/%s@%s:%u %s", cl->db ? cl->db->name : "(nodb)",
		 cl->user ? cl->user->name : "(nouser)", addr, cl->addr.port, msg);
}

const char *client_state_name(const struct client *cl)
{
	switch (cl->state) {
	case CL_ACTIVE:
		return "active";
	case CL_WAITING:
	case CL_LOGIN_WAIT:
		return "waiting";
	case CL_LOGIN:
		return "login";
	default:
		return "idle";
	}
}

void client_accept(struct sift *s, int fd, const struct peer_addr *addr)
{
	struct client *cl = calloc(1, sizeof(*cl));

	if (!cl) {
		log_error("out of memory accepting a client");
		close(fd);
		return;
	}
	conn_init(&cl->c, s->base, &s->bufs, fd, CONN_CLIENT, client_event_cb, cl);
	cl->sift = s;
	cl->id = ++s->next_id;
	cl->addr = *addr;
	cl->connect_time = sift_wall_usec();
	cl->request_time = s->now;
	cl->state = CL_LOGIN;
	list_init(&cl->node);
	list_append(&s->login_clients, &cl->node);
	s->nclients++;
	cl->c.want_read = true;
	conn_update(&cl->c);
}

/* Queues an ErrorResponse (detail may be NULL) into the client's own output. */
static bool queue_error(struct client *cl, bool fatal, const char *sqlstate, const char *msg, const char *detail)
{
	uint32_t mark = conn_gen_mark(&cl->c);

	proto_error_detail(&cl->c.gen, fatal, sqlstate, msg, detail);
	return conn_gen_commit(&cl->c, mark);
}

void client_send_error(struct client *cl, const char *sqlstate, const char *msg)
{
	if (!queue_error(cl, false, sqlstate, msg, NULL) || conn_flush(&cl->c) == CONN_IO_ERROR)
		client_close(cl, NULL, "cannot send an error to the client");
}

/* Is the linked server in a state where the client may leave it behind? */
static bool server_is_clean(const struct client *cl, const struct server *sv)
{
	const struct iobuf *sb = sv->c.in, *cb = cl->c.in;

	return sv->txn == 'I' && cl->pending_z == 0 && !cl->unsynced && cl->c.pkt_left == 0 && sv->rq.n == 0 &&
	       sv->rq.lite_n == 0 &&
	       sv->c.pkt_left == 0 && sv->inject_pending == 0 && (!sb || sb->pos == sb->end) &&
	       (!cb || cb->pos == cb->end) && conn_out_empty(&sv->c);
}

static void detach_server(struct client *cl)
{
	struct server *sv = cl->server;

	if (!sv)
		return;
	if (server_is_clean(cl, sv)) {
		pool_release_server(sv);
		return;
	}
	sv->client = NULL;
	sv->c.peer = NULL;
	cl->server = NULL;
	cl->c.peer = NULL;
	server_close(sv, "client left with a query or transaction in progress");
}

void client_close(struct client *cl, const char *sqlstate, const char *reason)
{
	client_close_detail(cl, sqlstate, reason, NULL);
}

void client_close_detail(struct client *cl, const char *sqlstate, const char *reason, const char *detail)
{
	struct sift *s = cl->sift;
	enum log_level lvl = sqlstate && s->cfg.log_pooler_errors ? LOG_WARNING : LOG_INFO;

	if (cl->state == CL_FREE)
		return;
	if (cl->state != CL_LOGIN || sqlstate)
		if (s->cfg.log_disconnections || lvl == LOG_WARNING)
			client_log(cl, lvl, "closing because: %s (age=%llds)", reason,
				   (long long)((sift_wall_usec() - cl->connect_time) / 1000000));
	/* best effort: whatever does not fit in the socket now is dropped */
	if (sqlstate && cl->c.fd >= 0 && queue_error(cl, true, sqlstate, reason, detail) &&
	    conn_flush(&cl->c) != CONN_IO_OK)
		client_log(cl, LOG_DEBUG, "error message not delivered");
	if (cl->replication)
		repl_client_gone(cl);
	cl->state = CL_FREE;
	detach_server(cl);
	list_del(&cl->node);
	cancel_map_del(s, cl);
	auth_query_forget(cl);
	if (cl->counted) {
		cl->db->nclients--;
		if (cl->user)
			cl->user->nclients--;
		cl->counted = false;
	}
	s->nclients--;
	conn_close(&cl->c);
	if (cl->login) {
		params_clear(&s->strs, &cl->login->startup);
		istr_set(&s->strs, &cl->login->ss_startup, NULL);
		free(cl->login);
		cl->login = NULL;
	}
	params_clear(&s->strs, &cl->vals);
	an_client_free(cl);
	ps_client_free(cl);
	notify_client_free(cl);
	ss_client_free(cl);
	if (cl->console)
		s->console->closed(cl);
	list_append(&s->free_clients, &cl->node);
	sift_schedule_reap(s);
}

void client_free(struct client *cl)
{
	list_del(&cl->node);
	free(cl);
}

/* ---- login ---- */

static void put_welcome_param(struct client *cl, const char *name, const char *value)
{
	proto_param_status(&cl->c.gen, name, value);
}

/* login_notify_message, as a NOTICE before the first ReadyForQuery. */
static void login_notice(struct client *cl)
{
	const char *m = cl->sift->cfg.login_notify_message;

	if (m && *m)
		proto_notice(&cl->c.gen, m, NULL);
}

bool client_between_transactions(const struct client *cl)
{
	return cl->server && server_is_clean(cl, cl->server);
}

void client_notify_queued(struct client *cl)
{
	uint32_t mark = conn_gen_mark(&cl->c);

	cl->wait_notified = true;
	proto_notice(&cl->c.gen, "No server connection available in postgres backend, client being queued", NULL);
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR)
		client_close(cl, NULL, "cannot send a notice to the client");
}

bool client_send_welcome(struct client *cl, struct istr **names, struct istr **vals, int n)
{
	struct sift *s = cl->sift;
	struct pool *p = cl->pool;
	uint32_t mark;

	if (!cancel_map_add(s, cl)) {
		client_close(cl, "53200", "out of memory");
		return false;
	}
	for (int i = 0; i < s->nparams; i++) {
		struct istr *mine = cl->login->startup.v[i];
		istr_set(&s->strs, &cl->vals.v[i], mine ? mine : p->defaults.v[i]);
		if (mine && mine != p->defaults.v[i])
			cl->unvalidated |= (uint16_t)(1u << i);
	}
	params_clear(&s->strs, &cl->login->startup);
	ss_client_start(cl, cl->login->ss_startup);
	istr_set(&s->strs, &cl->login->ss_startup, NULL);
	free(cl->login);
	cl->login = NULL;
	mark = conn_gen_mark(&cl->c);
	proto_auth(&cl->c.gen, AUTH_OK, NULL, 0);
	for (int i = 0; i < n; i++) {
		int idx = param_index(s, names[i]->s);
		const struct istr *v = idx >= 0 && cl->vals.v[idx] ? cl->vals.v[idx] : vals[i];
		put_welcome_param(cl, names[i]->s, v->s);
	}
	proto_backend_key(&cl->c.gen, cl->cancel_pid, cl->cancel_key);
	login_notice(cl);
	proto_ready(&cl->c.gen, 'I');
	p->stats.client_login_count++;
	cl->request_time = cl->idle_since = s->now;
	cl->c.want_read = true;
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "cannot send the welcome");
		return false;
	}
	conn_update(&cl->c);
	return true;
}

void client_finish_login(struct client *cl)
{
	struct pool *p = cl->pool;

	cl->state = CL_IDLE;
	list_move(&p->idle_clients, &cl->node);
	if (!client_send_welcome(cl, p->welcome_names, p->welcome_vals, p->nwelcome))
		return;
	/* the client may already have pipelined its first query */
	if (cl->c.in && cl->c.in->pos < cl->c.in->end)
		client_relay(cl);
}

static void admin_login(struct client *cl)
{
	struct sift *s = cl->sift;
	uint32_t mark;

	if (!cancel_map_add(s, cl)) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	cl->admin = true;
	s->console_logins++;
	cl->admin_alias = !strcmp(cl->login->dbname, "pgbouncer");
	cl->state = CL_IDLE;
	list_move(&s->admin_clients, &cl->node);
	mark = conn_gen_mark(&cl->c);
	proto_auth(&cl->c.gen, AUTH_OK, NULL, 0);
	s->console->welcome(cl, cl->login->startup.v[0] ? cl->login->startup.v[0]->s : NULL,
		      cl->login->startup.v[4] ? cl->login->startup.v[4]->s : "");
	proto_backend_key(&cl->c.gen, cl->cancel_pid, cl->cancel_key);
	login_notice(cl);
	proto_ready(&cl->c.gen, 'I');
	params_clear(&s->strs, &cl->login->startup);
	free(cl->login);
	cl->login = NULL;
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "cannot send the welcome");
		return;
	}
	if (cl->c.in && cl->c.in->pos < cl->c.in->end)
		cl->sift->console->input(cl); /* a command pipelined with the login */
}

static bool console_allowed(struct client *cl, const char *user)
{
	const struct config *cfg = &cl->sift->cfg;

	if (cl->login->own_user)
		return true;
	if (config_list_contains(cfg->admin_users, user))
		return true;
	if (config_list_contains(cfg->stats_users, user)) {
		cl->stats_only = true;
		return true;
	}
	/* like PgBouncer: auth_type any lets anyone in as an admin */
	return cfg->auth_type == AUTHT_ANY;
}

/* Counts cl in its database's and user's client connections and applies
 * max_db_client_connections and max_user_client_connections (the entry's
 * or user's own, else the global one; 0: none), as PgBouncer does: admin
 * users on the console are counted but never refused. false: refused. */
static bool client_admit(struct client *cl)
{
	const struct config *cfg = &cl->sift->cfg;
	struct db *db = cl->db;
	struct user *u = cl->user;
	int maxdb = db->conf.max_db_client_connections > 0 ? db->conf.max_db_client_connections
							   : cfg->max_db_client_connections;
	int maxuser = u && u->max_user_client_connections > 0 ? u->max_user_client_connections
							     : cfg->max_user_client_connections;

	cl->counted = true;
	db->nclients++;
	if (u)
		u->nclients++;
	if (db->admin && config_list_contains(cfg->admin_users, cl->login->user))
		return true;
	if (maxdb > 0 && db->nclients > maxdb) {
		client_close(cl, "53300", "client connections exceeded (max_db_client_connections)");
		return false;
	}
	if (u && maxuser > 0 && u->nclients > maxuser) {
		client_close(cl, "53300", "client connections exceeded (max_user_client_connections)");
		return false;
	}
	return true;
}

/* Authentication succeeded: join the pool (or the console). */
static void client_authenticated(struct client *cl)
{
	struct sift *s = cl->sift;
	struct user *pool_user;
	struct pool *p;

	if (!cl->db) {
		char msg[NAME_LEN + 32];
		snprintf(msg, sizeof(msg), "no such database: %s", cl->login->dbname);
		client_close(cl, "3D000", msg);
		return;
	}
	if (cl->db->template && !(cl->db = db_lookup(s, cl->login->dbname, true))) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	if (s->cfg.log_connections) {
		static const char *const repl[] = { "no", "database", "yes" }; /* PgBouncer's words */
		char tls[96];
		client_log(cl, LOG_INFO, "login attempt: db=%s user=%s tls=%s replication=%s", cl->db->name,
			   cl->user->name, cl->c.tls ? tls_describe(cl->c.tls, tls, sizeof(tls)) : "no",
			   repl[cl->replication]);
	}
	if (!client_admit(cl))
		return;
	if (s->shutdown != SHUTDOWN_NONE && !cl->db->admin) { /* the Unix socket is open for the console */
		client_close(cl, "57P01", "pooler is shutting down");
		return;
	}
	if (cl->db->admin && cl->replication) {
		client_close(cl, "0A000", "the admin console does not accept replication connections");
		return;
	}
	if (cl->db->admin) {
		/* only now: before the password, a refusal would tell who is an admin */
		if (!console_allowed(cl, cl->login->user)) {
			char msg[NAME_LEN + 64];
			snprintf(msg, sizeof(msg), "admin console access denied for user \"%s\"", cl->login->user);
			client_close(cl, "28000", msg);
			return;
		}
		admin_login(cl);
		return;
	}
	if (cl->db->disabled) { /* DISABLE db: PgBouncer's words, then PostgreSQL's for datallowconn = false */
		char msg[NAME_LEN + 80];
		snprintf(msg, sizeof(msg), "database \"%s\" is disabled and not currently accepting connections",
			 cl->db->name);
		client_close(cl, "55000", msg);
		return;
	}
	pool_user = cl->db->forced_user ? cl->db->forced_user : cl->user;
	p = pool_get(s, cl->db, pool_user);
	if (!p) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	cl->pool = p;
	if (cl->replication) { /* its own server, whatever the pool's last login did */
		repl_client_start(cl);
		return;
	}
	/* the pool's server refused pgsift's login a moment ago: say so at
	 * once. A server that was down or restarting is tried again instead
	 * (the client waits for that attempt, or logs in and queues when the
	 * pool knows its welcome): its old error may no longer be true. */
	if (p->nservers == 0 && p->last_login_fail && !p->last_login_transient &&
	    s->now - p->last_login_fail < pool_retry_delay(s, p) && p->last_login_error) {
		client_close(cl, p->last_login_sqlstate, p->last_login_error);
		return;
	}
	if (p->welcome_ok) {
		client_finish_login(cl);
		return;
	}
	cl->state = CL_LOGIN_WAIT;
	list_move(&p->login_clients, &cl->node);
	pool_launch(p);
}

/* Every failed password login reads the same, whether the user exists or
 * not: the name the client sent, 28P01. */
static void auth_failed(struct client *cl)
{
	char msg[NAME_LEN + 64];

	auth_limit_failed(cl->sift, &cl->addr);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", cl->login->user);
	client_close(cl, "28P01", msg);
}

/* Too many failed logins from the client's address (auth_fail_limit): it
 * is refused before any password is looked at. true: the client is closed. */
static bool login_blocked(struct client *cl)
{
	char msg[128];
	int retry;

	if (!auth_limit_blocked(cl->sift, &cl->addr, &retry))
		return false;
	snprintf(msg, sizeof(msg), "too many failed logins from this address; try again in %d s", retry);
	client_close(cl, "28000", msg);
	return true;
}

static bool send_auth(struct client *cl, uint32_t code, const void *extra, size_t len)
{
	uint32_t mark = conn_gen_mark(&cl->c);

	proto_auth(&cl->c.gen, code, extra, len);
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "cannot send an authentication request");
		return false;
	}
	return true;
}

/* auth_type cert: a client certificate that verified against
 * client_tls_ca_file, whose common name is the user name (or, with an hba
 * rule's map=, that the ident map lets log in as it), as in PgBouncer
 * and PostgreSQL. */
static void cert_auth(struct client *cl)
{
	char cn[NAME_LEN + 1], msg[NAME_LEN + 80];
	const char *map = cl->login->map;
	bool ok;

	if (!cl->c.tls) {
		client_close(cl, "28000", "TLS connection required for certificate authentication");
		return;
	}
	ok = tls_peer_cn(cl->c.tls, cn, sizeof(cn));
	if (ok && *map && !(ok = hba_ident_allows(cl->sift->hba, map, cn, cl->login->user)))
		client_log(cl, LOG_WARNING, "ident map: %s does not have a match", map);
	else if (ok && !*map)
		ok = strcmp(cn, cl->login->user) == 0;
	if (!ok) {
		auth_limit_failed(cl->sift, &cl->addr);
		snprintf(msg, sizeof(msg), "certificate authentication failed for user \"%s\"", cl->login->user);
		client_close(cl, "28000", msg);
		return;
	}
	client_authenticated(cl);
}

/* peer: the Unix user at the other end of the socket is the user name
 * (or, with an hba rule's map=, the ident map lets it log in as it). */
static void peer_auth(struct client *cl)
{
	struct login_state *ls = cl->login;
	char sys[256], msg[NAME_LEN + 64];
	bool ok = cl->addr.family == AF_UNIX && auth_peer_name(cl->c.fd, sys, sizeof(sys));

	if (ok && ls->map[0] && !(ok = hba_ident_allows(cl->sift->hba, ls->map, sys, ls->user)))
		client_log(cl, LOG_WARNING, "ident map %s cannot be matched", ls->map);
	else if (ok && !ls->map[0])
		ok = strcmp(sys, ls->user) == 0;
	if (!ok) {
		auth_limit_failed(cl->sift, &cl->addr);
		snprintf(msg, sizeof(msg), "Peer authentication failed for user \"%s\"", ls->user);
		client_close(cl, "28000", msg);
		return;
	}
	client_authenticated(cl);
}

/* Starts the exchange auth_type (or the hba rule) asks for. */
static void start_auth(struct client *cl)
{
	struct sift *s = cl->sift;
	struct login_state *ls = cl->login;
	int type = ls->auth;
	/* a user pgsift cannot check gets the exchange a real one would */
	struct user *u = auth_user_checkable(cl->user) ? cl->user : NULL;
	const struct scram_secret *sc;

	if (type == AUTHT_TRUST || type == AUTHT_ANY) {
		client_authenticated(cl);
		return;
	}
	if (type == AUTHT_CERT) {
		cert_auth(cl);
		return;
	}
	if (type == AUTHT_PEER) {
		peer_auth(cl);
		return;
	}
	if (type == AUTHT_PLAIN) {
		ls->step = LS_PASSWORD;
		send_auth(cl, AUTH_CLEARTEXT, NULL, 0);
		return;
	}
	if (type == AUTHT_MD5 && (u ? u->secret_kind != SECRET_SCRAM : !s->mock.scram)) {
		ls->step = LS_MD5;
		sift_random(ls->salt, sizeof(ls->salt));
		send_auth(cl, AUTH_MD5, ls->salt, sizeof(ls->salt));
		return;
	}
	/* scram-sha-256, or md5 with a SCRAM secret */
	if (u && (sc = auth_scram_secret(u)))
		scram_server_init(&ls->scram, sc);
	else
		auth_mock_scram(&s->mock, ls->user, &ls->scram);
	ls->step = LS_SASL_INIT;
	send_auth(cl, AUTH_SASL, "SCRAM-SHA-256\0", 15);
}

/* Handles one SASL message (initial response or response). */
static void sasl_message(struct client *cl, struct msg_reader *r)
{
	struct login_state *ls = cl->login;
	char out[SCRAM_MAX_MSG];
	size_t outlen = 0;
	const char *err = "malformed SASL message";
	enum scram_rc rc;

	if (ls->step == LS_SASL_INIT) {
		const char *mech = mr_str(r);
		uint32_t len = mr_u32(r);
		if (r->bad || strcmp(mech, "SCRAM-SHA-256") != 0 || len != mr_left(r)) {
			client_close(cl, "28000", r->bad || len != mr_left(r) ? "malformed SASLInitialResponse"
									  : "unsupported SASL mechanism");
			return;
		}
		rc = scram_server_first(&ls->scram, (const char *)r->p + r->pos, mr_left(r), out, sizeof(out), &outlen, &err);
		if (rc == SCRAM_CONTINUE) {
			ls->step = LS_SASL_CONT;
			send_auth(cl, AUTH_SASL_CONTINUE, out, outlen);
			return;
		}
	} else {
		rc = scram_server_final(&ls->scram, (const char *)r->p + r->pos, mr_left(r), out, sizeof(out), &outlen, &err);
		if (rc == SCRAM_OK && cl->user && auth_scram_is_empty_password(cl->user)) {
			auth_failed(cl);
			return;
		}
		if (rc == SCRAM_OK) {
			if (cl->user) {
				memcpy(cl->user->client_key, ls->scram.client_key, SCRAM_KEY_LEN);
				cl->user->has_client_key = true;
			}
			if (send_auth(cl, AUTH_SASL_FINAL, out, outlen))
				client_authenticated(cl);
			return;
		}
	}
	if (rc == SCRAM_PROTO)
		client_close(cl, "08P01", err);
	else
		auth_failed(cl);
}

/* A PasswordMessage ('p') of any flavour; body is the whole message body. */
static void password_message(struct client *cl, const uint8_t *body, uint32_t len)
{
	struct login_state *ls = cl->login;
	struct user *u = auth_user_checkable(cl->user) ? cl->user : NULL;
	struct msg_reader r;
	const char *pw;
	bool ok;

	/* a guess: failures of other connections may have reached the limit */
	if (ls->step != LS_SASL_INIT && login_blocked(cl))
		return;
	mr_init(&r, body, len);
	if (ls->step == LS_SASL_INIT || ls->step == LS_SASL_CONT) {
		sasl_message(cl, &r);
		return;
	}
	pw = mr_str(&r);
	if (r.bad) {
		client_close(cl, "08P01", "malformed password message");
		return;
	}
	if (ls->step == LS_MD5)
		ok = u ? auth_check_md5(u, ls->salt, pw) : auth_mock_check_md5(ls->user, ls->salt, pw);
	else
		ok = u ? auth_check_plain(u, pw) : auth_mock_check_plain(&cl->sift->mock, ls->user, pw);
	if (ok)
		client_authenticated(cl);
	else
		auth_failed(cl);
}

/* One name = value of the startup packet other than user, database and
 * the _pq_ options (cap: the packet's length). false: the client was
 * closed. */
static bool startup_param(struct client *cl, const char *name, const char *val, uint32_t cap)
{
	struct sift *s = cl->sift;
	char msg[200];
	int taken;

	if (!strcmp(name, "replication"))
		return true; /* repl_scan_startup() read it */
	if (cl->replication && !strcmp(name, "options"))
		taken = 1; /* its server gets it as sent: any option, as PgBouncer allows */
	else if ((taken = ss_startup_param(s, &cl->login->startup, &cl->login->ss_startup, name, val, msg,
					   sizeof(msg))) < 0) {
		client_close(cl, "08P01", msg);
		return false;
	}
	if (!taken) {
		if (config_list_contains(s->cfg.ignore_startup_parameters, name))
			return true;
		snprintf(msg, sizeof(msg), "unsupported startup parameter: %.64s", name);
		client_close(cl, "08P01", msg);
		return false;
	}
	/* a replication client's server starts with what it sent */
	if (cl->replication && !repl_keep_param(cl, name, val, cap)) {
		client_close(cl, "53200", "out of memory");
		return false;
	}
	return true;
}

/* Checks the startup parameters; on success the login state holds the
 * tracked values and user/db names are in the out buffers. */
static bool parse_startup_params(struct client *cl, struct msg_reader *r, char *user, char *dbname,
				 const char **pq_opts, int *npq)
{
	char msg[200];
	const char *rv;
	int mode = repl_scan_startup(r, &rv);

	user[0] = dbname[0] = 0;
	if (mode < 0) {
		snprintf(msg, sizeof(msg), "invalid value for parameter \"replication\": \"%.64s\"", rv);
		client_close(cl, "22023", msg);
		return false;
	}
	cl->replication = (uint8_t)mode;
	for (;;) {
		const char *name = mr_str(r), *val;
		if (r->bad || !*name)
			break;
		val = mr_str(r);
		if (r->bad)
			break;
		if (!strcmp(name, "user") || !strcmp(name, "database")) {
			if (strlen(val) >= NAME_LEN) {
				client_close(cl, "08P01", "user or database name too long");
				return false;
			}
			strcpy(!strcmp(name, "user") ? user : dbname, val);
		} else if (!strncmp(name, "_pq_.", 5)) {
			if (*npq < 8)
				pq_opts[(*npq)++] = name;
		} else if (!startup_param(cl, name, val, (uint32_t)r->len)) {
			return false;
		}
	}
	if (r->bad) {
		client_close(cl, "08P01", "invalid startup packet layout: expected terminator as last byte");
		return false;
	}
	if (!user[0]) {
		client_close(cl, "28000", "no user name specified in startup packet");
		return false;
	}
	if (!dbname[0])
		strcpy(dbname, user);
	return true;
}

/* PgBouncer's rule: on the Unix socket, a client that runs as pgsift's own
 * OS user may enter the console as "pgbouncer" (or "pgsift") without a
 * password: it could read pgsift's files anyway. */
static bool peer_own_user(const struct client *cl, const char *user)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!cl->db->admin || cl->addr.family != AF_UNIX || (strcmp(user, "pgbouncer") && strcmp(user, "pgsift")))
		return false;
	return getsockopt(cl->c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred) &&
	       cred.uid == getuid();
}

static void peer_admin_login(struct client *cl, const char *user)
{
	if (!(cl->user = user_get(cl->sift, user))) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	cl->login->own_user = true;
	if (cl->sift->cfg.log_connections)
		client_log(cl, LOG_INFO, "%s access from unix socket", user);
	client_authenticated(cl);
}

/* The auth_dbname entry a lookup for cl runs in (NULL: the client's own);
 * false when the setting cannot be used, with the client closed. */
static bool auth_database(struct client *cl, const char *name, struct db **out)
{
	struct sift *s = cl->sift;
	char msg[NAME_LEN + 80];
	struct db *adb;

	*out = NULL;
	if (!name || !*name)
		return true;
	if (!strcmp(name, "pgbouncer") || !strcmp(name, "pgsift")) {
		client_log(cl, LOG_WARNING, "cannot use the reserved \"%s\" database as an auth_dbname", name);
		client_close(cl, "28000", "bouncer config error");
		return false;
	}
	/* a name only "*" covers is created: the setting, not the client, chose it */
	if (!(adb = db_lookup(s, name, true)) || adb->admin) {
		client_log(cl, LOG_WARNING, "authentication database \"%s\" is not configured", name);
		client_close(cl, "28000", "bouncer config error");
		return false;
	}
	if (adb->disabled) {
		snprintf(msg, sizeof(msg), "authentication database \"%s\" is disabled", name);
		client_close(cl, "55000", msg);
		return false;
	}
	*out = adb;
	return true;
}

/* The auth user's password, when pgsift has it in plain text. */
static const char *auth_user_password(struct sift *s, const struct db *db, const char *auth_user)
{
	const struct user *u = user_find(s, auth_user);

	if (db->conf.user && db->conf.password && !strcmp(db->conf.user, auth_user))
		return db->conf.password;
	return u && u->in_auth_file && u->secret_kind == SECRET_PLAIN ? u->secret : NULL;
}

/* Starts the auth_query lookup of the user cl names, when an auth_user
 * applies to its database (the entry's, else the global one). true: the
 * lookup runs (client_auth_query_done() goes on) or cl was closed. */
static bool lookup_user(struct client *cl)
{
	struct sift *s = cl->sift;
	const struct db_conf *dc = &cl->db->conf;
	const struct db_conf *star = config_find_db(&s->cfg, "*");
	const char *auth_user = dc->auth_user && *dc->auth_user ? dc->auth_user : s->cfg.auth_user;
	const char *dbname = dc->auth_dbname ? dc->auth_dbname : s->cfg.auth_dbname;
	const char *query = dc->auth_query && *dc->auth_query ? dc->auth_query : s->cfg.auth_query;
	struct aq_target t = { .db = cl->db, .dbname = dc->dbname };
	char err[300];

	if (!auth_user || !*auth_user || !query || !*query)
		return false;
	/* the console itself is no database to look users up in */
	if (cl->db->admin && (!dbname || !*dbname))
		dbname = "pgbouncer";
	if (!auth_database(cl, dbname, &t.db))
		return true;
	if (t.db)
		t.dbname = t.db->conf.dbname;
	else if (cl->db->template) /* the "*" entry, for the name asked for */
		t.dbname = star && star->dbname ? star->dbname : cl->login->dbname;
	else
		t.db = cl->db;
	t.db = t.db ? t.db : cl->db;
	t.user = auth_user;
	t.password = auth_user_password(s, t.db, auth_user);
	if (!auth_query_start(cl, &t, query, cl->login->user, err, sizeof(err))) {
		client_log(cl, LOG_WARNING, "auth_query: %s", err);
		client_close(cl, "08006", "auth_query: cannot reach the server");
		return true;
	}
	cl->login->step = LS_AUTH_QUERY;
	return true;
}

void client_auth_query_done(struct client *cl, enum aq_result res, const char *secret, const char *error)
{
	struct login_state *ls = cl->login;
	struct user *u;

	ls->step = LS_STARTUP;
	if (res == AQ_REFUSED) { /* the server's refusal, as for a pool's login */
		client_close(cl, "08006", error);
		return;
	}
	/* other errors were logged by auth_query.c: the client learns no detail */
	if (res == AQ_ERROR) {
		client_close(cl, "28000", "bouncer config error");
		return;
	}
	if (res == AQ_NOT_FOUND) {
		/* under trust no password hides it; else it fails like a wrong one */
		if (ls->auth == AUTHT_TRUST) {
			client_close(cl, "28000", "no such user");
			return;
		}
		cl->user = NULL;
	} else {
		if (!(u = user_get(cl->sift, ls->user))) {
			client_close(cl, "53200", "out of memory");
			return;
		}
		auth_set_dynamic_secret(u, secret);
		cl->user = u;
	}
	start_auth(cl);
	if (cl->state == CL_LOGIN && cl->c.in && cl->c.in->pos < cl->c.in->end)
		client_login_input(cl);
}

/* auth_type hba: the method of the first rule that matches cl goes to
 * cl->login->auth (and its map= to ->map). false: no rule matches, or it
 * says reject; cl is closed with PostgreSQL's words. */
static bool hba_pick(struct client *cl)
{
	static const uint8_t auth_of[] = { [HBA_TRUST] = AUTHT_TRUST, [HBA_REJECT] = AUTHT_TRUST,
					   [HBA_MD5] = AUTHT_MD5, [HBA_PASSWORD] = AUTHT_PLAIN,
					   [HBA_SCRAM] = AUTHT_SCRAM, [HBA_CERT] = AUTHT_CERT, [HBA_PEER] = AUTHT_PEER };
	struct login_state *ls = cl->login;
	/* a physical replication login matches the rules' replication keyword
	 * (a logical one, replication=database, matches its database name) */
	struct hba_login l = { .local = cl->addr.family == AF_UNIX, .tls = cl->c.tls != NULL,
			       .replication = cl->replication == REPL_PHYSICAL,
			       .family = cl->addr.family, .addr = cl->addr.a, .db = ls->dbname, .user = ls->user };
	char addr[64], msg[2 * NAME_LEN + 160];
	const char *map;
	int method, line;
	bool found = hba_match(cl->sift->hba, &l, &method, &map, &line);

	if (found && method != HBA_REJECT) {
		ls->auth = auth_of[method];
		snprintf(ls->map, sizeof(ls->map), "%s", map ? map : "");
		client_log(cl, LOG_DEBUG, "HBA line %d is matched", line);
		return true;
	}
	snprintf(msg, sizeof(msg), "%s for host \"%s\", user \"%s\", database \"%s\", %s",
		 found ? "pg_hba.conf rejects connection" : "no pg_hba.conf entry",
		 l.local ? "[local]" : peer_addr_str(&cl->addr, addr, sizeof(addr)), ls->user, ls->dbname,
		 l.tls ? "SSL encryption" : "no encryption");
	client_close(cl, "28000", msg);
	return false;
}

static void client_startup(struct client *cl, const uint8_t *body, uint32_t len, uint32_t version)
{
	struct sift *s = cl->sift;
	char user[NAME_LEN], dbname[NAME_LEN], msg[200];
	const char *pq_opts[8];
	int npq = 0;
	struct msg_reader r;
	bool has_file = s->cfg.auth_file && *s->cfg.auth_file, need_file_user;

	mr_init(&r, body, len);
	if (!cl->login && !(cl->login = calloc(1, sizeof(*cl->login)))) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	if (!parse_startup_params(cl, &r, user, dbname, pq_opts, &npq))
		return;
	if ((version & 0xffff) > 0 || npq > 0) {
		uint32_t mark = conn_gen_mark(&cl->c);
		proto_negotiate(&cl->c.gen, 0, pq_opts, npq);
		if (!conn_gen_commit(&cl->c, mark)) {
			client_close(cl, "53200", "out of memory");
			return;
		}
	}
	if (s->nclients > s->cfg.max_client_conn) {
		client_close(cl, "53300", "no more connections allowed (max_client_conn)");
		return;
	}
	if (login_blocked(cl))
		return;
	cl->login->auth = (uint8_t)s->cfg.auth_type;
	strcpy(cl->login->dbname, dbname);
	strcpy(cl->login->user, user);
	/* an unknown database is told only to a client that proved who it is
	 * (client_authenticated()), as PgBouncer does: names cannot be probed */
	cl->db = db_lookup(s, dbname, false);
	if (!cl->db && cl->login->auth == AUTHT_ANY) {
		snprintf(msg, sizeof(msg), "no such database: %s", dbname);
		client_close(cl, "3D000", msg);
		return;
	}
	if (cl->db && cl->login->auth == AUTHT_ANY && !cl->db->admin && !cl->db->forced_user) {
		client_close(cl, "28000", "auth_type any needs a user= in the database entry");
		return;
	}
	if (cl->db && peer_own_user(cl, user)) {
		peer_admin_login(cl, user);
		return;
	}
	if (cl->login->auth == AUTHT_HBA && !hba_pick(cl))
		return;
	/* trust checks the name against auth_file when there is one; any,
	 * cert (the certificate names the user) and peer never */
	need_file_user = cl->login->auth != AUTHT_ANY && cl->login->auth != AUTHT_CERT &&
			 cl->login->auth != AUTHT_PEER && (cl->login->auth != AUTHT_TRUST || has_file);
	cl->user = need_file_user ? user_find(s, user) : user_get(s, user);
	/* not in auth_file: auth_user may look the user up in PostgreSQL */
	if (cl->db && need_file_user && !(cl->user && cl->user->in_auth_file) && lookup_user(cl))
		return;
	if (cl->login->auth == AUTHT_TRUST && has_file && (!cl->user || !cl->user->in_auth_file)) {
		client_close(cl, "28000", "\"trust\" authentication failed");
		return;
	}
	if (!need_file_user && !cl->user) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	start_auth(cl);
}

enum relay_rc { RELAY_MORE, RELAY_STOP, RELAY_CLOSED };

static inline enum relay_rc next_header(struct client *cl, struct iobuf *b, uint8_t *type, uint32_t *len);

/* Drops the message at b->pos (whose header was checked), and what of it
 * is still to come. */
static void drop_message(struct client *cl, struct iobuf *b)
{
	uint32_t avail = b->end - b->pos, total = proto_get_u32(b->data + b->pos + 1) + 1;

	if (avail >= total) {
		b->pos += total;
		return;
	}
	b->pos = b->end;
	cl->c.pkt_left = total - avail;
	cl->c.pkt_drop = true;
}

/* A cancelled request that had no server yet, without a server: messages
 * up to its Sync are dropped, then ReadyForQuery is answered (what
 * PostgreSQL does after an error in an extended-protocol batch). false:
 * wait for more input, or the client is closed. */
static bool skip_cancelled(struct client *cl, struct iobuf *b)
{
	uint32_t avail = b->end - b->pos, n, len, mark;
	uint8_t type;

	if (cl->c.pkt_left) { /* the rest of a dropped message */
		n = avail < cl->c.pkt_left ? avail : cl->c.pkt_left;
		b->pos += n;
		cl->c.pkt_left -= n;
		cl->c.pkt_drop = cl->c.pkt_left > 0;
		return true;
	}
	if (!cl->skip_to_sync || next_header(cl, b, &type, &len) != RELAY_MORE)
		return false;
	drop_message(cl, b);
	if (type != 'S')
		return true;
	cl->skip_to_sync = false;
	mark = conn_gen_mark(&cl->c);
	proto_ready(&cl->c.gen, 'I');
	if (!conn_gen_commit(&cl->c, mark)) {
		client_close(cl, "53200", "out of memory answering a cancelled request");
		return false;
	}
	return true;
}

/* A cancel request for a client whose request waits for a server: the
 * request fails as PostgreSQL fails a cancelled statement (57014, ERROR)
 * and the connection stays. A Query or FunctionCall is dropped and
 * answered with ReadyForQuery; an extended-protocol batch is dropped up
 * to its Sync (skip_cancelled()). */
static void cancel_waiting(struct client *cl)
{
	struct iobuf *b = cl->c.in;
	uint8_t type = b && b->end - b->pos >= PROTO_HDR ? b->data[b->pos] : 0;
	uint32_t mark;

	cl->state = CL_IDLE;
	cl->idle_since = cl->sift->now;
	cl->wait_start = 0;
	cl->c.want_read = true;
	list_move(&cl->pool->idle_clients, &cl->node);
	client_log(cl, LOG_NOISE, "request cancelled while waiting for a server");
	mark = conn_gen_mark(&cl->c);
	proto_error(&cl->c.gen, false, "57014", "canceling statement due to user request");
	if (type == 'Q' || type == 'F') {
		drop_message(cl, b);
		proto_ready(&cl->c.gen, 'I');
	} else {
		cl->skip_to_sync = true;
	}
	if (!conn_gen_commit(&cl->c, mark)) {
		client_close(cl, "53200", "out of memory answering a cancelled request");
		return;
	}
	client_relay(cl); /* what the client sent after it, and the answer */
}

/* SSLRequest (ssl) or GSSENCRequest: 'S' and the TLS handshake when
 * client_tls_sslmode offers TLS (not on a Unix socket, as PgBouncer), else
 * 'N'. The answer must reach the client before TLS starts, and nothing may
 * come after the request before the handshake: bytes already there were
 * sent in the clear and would pass as encrypted (CVE-2021-23214). */
static bool encryption_request(struct client *cl, const struct iobuf *b, bool ssl)
{
	bool tls = ssl && cl->sift->client_tls && cl->addr.family != AF_UNIX;
	uint32_t mark = conn_gen_mark(&cl->c);

	if (cl->c.tls) {
		client_close(cl, "08P01", "SSL negotiation inside an encrypted connection");
		return false;
	}
	if (tls && b->pos < b->end) {
		client_close(cl, "08P01", "received unencrypted data after SSL request");
		return false;
	}
	pkt_put_u8(&cl->c.gen, tls ? 'S' : 'N');
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) != CONN_IO_OK) {
		client_close(cl, NULL, "cannot answer SSLRequest");
		return false;
	}
	if (tls && !(cl->c.tls = tls_accept(cl->sift->client_tls, cl->c.fd))) {
		client_close(cl, "53200", "out of memory for TLS");
		return false;
	}
	return true;
}

/* The first packet: SSL/GSS negotiation, a cancel, or the startup. */
static bool startup_packet(struct client *cl, struct iobuf *b)
{
	uint32_t avail = b->end - b->pos, len, code;
	const uint8_t *p = b->data + b->pos;

	if (avail < 4)
		return false;
	len = proto_get_u32(p);
	/* refused as soon as the length is in, not at client_login_timeout */
	if (len < 8 || len > PROTO_MAX_STARTUP) {
		client_close(cl, "08P01", "invalid startup packet length");
		return false;
	}
	if (avail < len)
		return false;
	code = proto_get_u32(p + 4);
	b->pos += len;
	if ((code == PROTO_SSL_REQUEST || code == PROTO_GSSENC_REQUEST) && len == 8)
		return encryption_request(cl, b, code == PROTO_SSL_REQUEST);
	if (code == PROTO_CANCEL_REQUEST && len == 16) {
		uint32_t pid = proto_get_u32(p + 8), key = proto_get_u32(p + 12);
		struct client *target;
		client_close(cl, NULL, "cancel request");
		/* ours as it is (a key handed out before peer_id was set), else
		 * perhaps another peer's */
		if (!(target = cancel_map_find(cl->sift, pid, key))) {
			if (peer_cancel_route(cl->sift, pid, &key))
				return false;
			target = cancel_map_find(cl->sift, pid, key);
		}
		if (!target || target->state == CL_FREE)
			log_debug("cancel request for an unknown client ignored");
		else if (target->admin)
			target->sift->console->cancel(target);
		else if (target->server)
			server_cancel(target->server);
		else if (target->state == CL_WAITING)
			cancel_waiting(target);
		return false;
	}
	if (cl->sift->cfg.client_tls_sslmode >= SSLMODE_REQUIRE && !cl->c.tls && cl->addr.family != AF_UNIX) {
		client_close(cl, "28000", "SSL required");
		return false;
	}
	if ((code >> 16) != 3) {
		char msg[160];
		snprintf(msg, sizeof(msg), "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
			 code >> 16, code & 0xffff);
		client_close(cl, "08P01", msg);
		return false;
	}
	client_startup(cl, p + 8, len - 8, code);
	return true; /* the loop goes on while the client is still in login */
}

static void client_login_input(struct client *cl)
{
	struct iobuf *b;

	while (cl->state == CL_LOGIN && (b = cl->c.in) && b->pos < b->end) {
		uint32_t avail = b->end - b->pos, len;
		if (!cl->login || cl->login->step == LS_STARTUP) {
			if (!startup_packet(cl, b))
				break;
			continue;
		}
		if (cl->login->step == LS_AUTH_QUERY)
			break; /* what comes is read once the lookup answered */
		if (avail < 5)
			break;
		len = proto_get_u32(b->data + b->pos + 1);
		if (b->data[b->pos] != 'p' || len < 4 || len > PASSWORD_MSG_MAX) {
			client_close(cl, "08P01", "expected a password message");
			return;
		}
		if (avail < len + 1) {
			/* a long password may not fit a pooled buffer */
			if (!conn_reserve_in(&cl->c, len + 1)) {
				client_close(cl, "53200", "out of memory for a password message");
				return;
			}
			break;
		}
		b->pos += len + 1;
		password_message(cl, b->data + b->pos - len + 4, len - 4);
	}
	if (cl->state != CL_FREE)
		conn_trim(&cl->c);
}

/* ---- the relay, client to server ---- */


/* check_header()'s verdict on a bad header: closes the client with why. */
static __attribute__((noinline, cold)) bool bad_header(struct client *cl, uint8_t type, uint32_t len)
{
	char msg[120];

	if (!proto_client_type_valid(type)) {
		snprintf(msg, sizeof(msg), "invalid frontend message type %d", type);
		client_close(cl, "08P01", msg);
		return false;
	}
	if (len < 4 || ((type == 'C' || type == 'D' || type == 'H' || type == 'S') && len > PROTO_SMALL_MESSAGE_MAX)) {
		client_close(cl, "08P01", "invalid message length");
		return false;
	}
	if ((uint64_t)len + 1 > (uint64_t)cl->sift->cfg.max_packet_size) {
		snprintf(msg, sizeof(msg), "message of %llu bytes is longer than max_packet_size (%d)",
			 (unsigned long long)len + 1, cl->sift->cfg.max_packet_size);
		client_close(cl, "08P01", msg);
		return false;
	}
	return true;
}

/* Checks a message header from the client; closes it on a bad one. Inline:
 * every message passes here. PostgreSQL bounds the messages that carry
 * only names (C D H S) itself. */
static inline bool check_header(struct client *cl, uint8_t type, uint32_t len)
{
	if (__builtin_expect(proto_client_type_valid(type) && len >= 4 &&
				     !((type == 'C' || type == 'D' || type == 'H' || type == 'S') &&
				       len > PROTO_SMALL_MESSAGE_MAX) &&
				     (uint64_t)len + 1 <= (uint64_t)cl->sift->cfg.max_packet_size,
			     1))
		return true;
	return bad_header(cl, type, len);
}

static void account(struct client *cl, struct server *sv, uint8_t type, uint32_t total)
{
	struct sift *s = cl->sift;

	cl->pool->stats.bytes_recv += total;
	if (cl->query_start == 0) {
		cl->query_start = s->now;
		cl->timeout_canceled = false;
		if (sv->txn == 'I' && cl->xact_start == 0)
			cl->xact_start = s->now;
	}
	switch (type) {
	case 'Q':
	case 'F':
		cl->pending_z++;
		cl->syncs_since_cmd = 0;
		cl->copy_end_sent = false;
		break;
	case 'E':
		cl->unsynced = true;
		cl->syncs_since_cmd = 0;
		cl->copy_end_sent = false;
		break;
	case 'S':
		cl->unsynced = false;
		/* PostgreSQL ignores a Sync that arrives during COPY FROM STDIN */
		if (!cl->copy_in) {
			cl->pending_z++;
			cl->syncs_since_cmd++;
		}
		break;
	case 'c':
	case 'f':
		cl->copy_in = false;
		cl->copy_end_sent = true;
		cl->syncs_before_end = cl->syncs_since_cmd;
		break;
	case 'P':
	case 'B':
	case 'D':
	case 'C':
		cl->unsynced = true;
		break;
	default: /* Flush and CopyData owe no reply of their own */
		break;
	}
}

/* Terminate: consumed first, so the server is seen as clean (and reused,
 * with server_reset_query in session mode) unless more bytes follow. */
static void terminate(struct client *cl, struct iobuf *b)
{
	b->pos += b->end - b->pos < PROTO_HDR ? b->end - b->pos : PROTO_HDR;
	client_close(cl, NULL, "client close request");
}

/* Queues n bytes at b->pos for the server, flushing once if the queue is
 * full. false: stop for now (the rest goes when the server drains). */
static inline bool queue_to_server(struct server *sv, struct iobuf *b, uint32_t n)
{
	if (conn_queue_relay(&sv->c, b, b->pos, n))
		return true;
	if (conn_flush(&sv->c) != CONN_IO_OK)
		return false;
	return conn_queue_relay(&sv->c, b, b->pos, n);
}

/* The header of the message at b->pos, checked (type, len): RELAY_STOP
 * while it is incomplete, RELAY_CLOSED when it was bad or a Terminate. */
static inline enum relay_rc next_header(struct client *cl, struct iobuf *b, uint8_t *type, uint32_t *len)
{
	if (b->end - b->pos < PROTO_HDR)
		return RELAY_STOP;
	*type = b->data[b->pos];
	*len = proto_get_u32(b->data + b->pos + 1);
	if (!check_header(cl, *type, *len))
		return RELAY_CLOSED;
	if (*type == 'X') {
		terminate(cl, b);
		return RELAY_CLOSED;
	}
	return RELAY_MORE;
}

/* ---- refusing a statement that would pin past max_pinned_per_pool (pin.h) ---- */

/* Would the whole Query or Parse at b->pos pin its client past the cap? */
static bool pin_refused(struct client *cl, struct iobuf *b, uint8_t type, uint32_t len)
{
	const char *body = (const char *)b->data + b->pos + PROTO_HDR, *nul;
	uint32_t blen = len - 4;
	unsigned why;

	if ((type != 'Q' && type != 'P') || b->end - b->pos < len + 1 || !pin_full(cl, cl->pool, cl->sift))
		return false;
	if (type == 'P') {
		if (!(nul = memchr(body, 0, blen)))
			return false;
		blen -= (uint32_t)(nul + 1 - body);
		body = nul + 1;
	}
	if (!(why = pin_of_text(body, strnlen(body, blen))))
		return false;
	pin_refused_note(cl, why);
	client_log(cl, LOG_INFO, "statement refused: max_pinned_per_pool (%d) reached", pin_cap(cl->sift, cl->pool));
	return true;
}

/* In place of the client's message at b->pos (total bytes): a statement
 * that makes the server raise the refusal, so that its ErrorResponse and
 * ReadyForQuery (a transaction block fails, as PostgreSQL fails it) come
 * back where the client expects them. */
static enum relay_rc refuse_on_server(struct client *cl, struct server *sv, struct iobuf *b, uint32_t total)
{
	char sql[512];
	uint32_t mark = conn_gen_mark(&sv->c);

	pin_refusal_sql(cl, sql, sizeof(sql));
	proto_query(&sv->c.gen, sql);
	if (!conn_gen_commit(&sv->c, mark) || !ps_own_query(sv)) {
		client_close(cl, "53200", "out of memory refusing a statement");
		return RELAY_CLOSED;
	}
	account(cl, sv, 'Q', total);
	drop_message(cl, b);
	return RELAY_MORE;
}

/* A linked client whose pool is at its cap, or whose refused Parse's
 * batch is dropped up to its Sync: the relay_rc, or -1 to relay the
 * message as usual. A Parse after other messages of its batch is not
 * refused (doc/session-state.md). */
static int pin_guard(struct client *cl, struct server *sv, struct iobuf *b, uint8_t type, uint32_t len)
{
	if (cl->skip_to_sync) {
		/* the refusal is answered at the batch's first Flush or its Sync
		 * (asyncpg waits for the reply to a Parse after a Flush) */
		bool answer = !cl->pin_answered && (type == 'H' || type == 'S');
		if (type == 'S') {
			cl->skip_to_sync = cl->pin_answered = false;
			cl->unsynced = false;
		}
		if (!answer) {
			drop_message(cl, b);
			return RELAY_MORE;
		}
		cl->pin_answered = type == 'H';
		return refuse_on_server(cl, sv, b, len + 1);
	}
	if ((type == 'P' && cl->unsynced) || !pin_refused(cl, b, type, len))
		return -1;
	if (type == 'Q')
		return refuse_on_server(cl, sv, b, len + 1);
	cl->skip_to_sync = true;
	cl->unsynced = true; /* the server stays linked until the refusal is answered */
	drop_message(cl, b);
	return RELAY_MORE;
}

/* The same refusal for a client without a server (its first statement of
 * a transaction): answered by pgsift; a Parse's batch is dropped up to its
 * Sync (skip_cancelled()). */
static bool pin_refuse_local(struct client *cl, struct iobuf *b, uint8_t type, uint32_t len)
{
	char msg[320];
	uint32_t mark;

	if (!pin_refused(cl, b, type, len))
		return false;
	pin_refusal_message(cl, msg, sizeof(msg));
	mark = conn_gen_mark(&cl->c);
	proto_error(&cl->c.gen, false, "53300", msg);
	if (type == 'Q') {
		drop_message(cl, b);
		proto_ready(&cl->c.gen, 'I');
	} else {
		cl->skip_to_sync = true;
	}
	if (!conn_gen_commit(&cl->c, mark))
		client_close(cl, "53200", "out of memory refusing a statement");
	cl->request_time = cl->sift->now;
	return true;
}

static enum relay_rc relay_message(struct client *cl, struct server *sv, struct iobuf *b)
{
	uint32_t avail = b->end - b->pos, len, total, n;
	uint8_t type;
	enum relay_rc rc;

	if (cl->c.pkt_left) {
		n = avail < cl->c.pkt_left ? avail : cl->c.pkt_left;
		if (__builtin_expect(cl->c.pkt_drop, 0)) { /* pgsift answered it in the server's place */
			b->pos += n;
			cl->c.pkt_left -= n;
			cl->c.pkt_drop = cl->c.pkt_left > 0;
			return RELAY_MORE;
		}
		/* a large query whose text is checked as it streams */
		if (__builtin_expect(sv->rq.scan != NULL, 0)) {
			switch (ps_stream(cl, sv, b, n)) {
			case PS_CLOSED:
				return RELAY_CLOSED;
			case PS_STOP:
				return RELAY_STOP;
			case PS_USED: /* relayed, its end replaced */
				b->pos += n;
				cl->c.pkt_left -= n;
				return RELAY_MORE;
			default:
				break;
			}
		}
		if (!queue_to_server(sv, b, n))
			return RELAY_STOP;
		b->pos += n;
		cl->c.pkt_left -= n;
		return RELAY_MORE;
	}
	if ((rc = next_header(cl, b, &type, &len)) != RELAY_MORE)
		return rc;
	total = len + 1;
	/* a message is passed whole when it fits, so it can be looked at;
	 * COPY data streams */
	if (type != 'd' && avail < total && total <= b->cap)
		return RELAY_STOP;
	n = avail < total ? avail : total;
	if (__builtin_expect(cl->skip_to_sync || cl->pool->npinned > 0, 0)) {
		int r = pin_guard(cl, sv, b, type, len);
		if (r >= 0)
			return (enum relay_rc)r;
	}
	if (sv->ps_on) {
		uint32_t used;
		switch (ps_client_message(cl, sv, b, type, len, &used)) {
		case PS_STOP:
			return RELAY_STOP;
		case PS_CLOSED:
			return RELAY_CLOSED;
		case PS_USED:
			/* pgsift sent its own version of the first used bytes */
			account(cl, sv, type, total);
			if (__builtin_expect(cl->ss_watch, 0) && ss_type(type))
				ss_client_message(cl, sv, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR, len - 4);
			if (cl->sift->cfg.analyzer)
				an_client_message(cl->sift, cl, sv, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR, len - 4);
			b->pos += used;
			cl->c.pkt_left = total - used;
			return RELAY_MORE;
		case PS_PASS:
			break;
		}
	}
	if (!queue_to_server(sv, b, n))
		return RELAY_STOP;
	account(cl, sv, type, total);
	if (__builtin_expect(cl->ss_watch, 0) && ss_type(type))
		ss_client_message(cl, sv, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR, len - 4);
	if (cl->sift->cfg.analyzer)
		an_client_message(cl->sift, cl, sv, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR, len - 4);
	b->pos += n;
	cl->c.pkt_left = total - n;
	return RELAY_MORE;
}

enum { NEED_STOP, NEED_LINKED, NEED_LOCAL };

/* The client starts a request while it has no server. Checks the first
 * message; answers it when pgsift can (prepared.c), else asks the pool. */
static int need_server(struct client *cl, struct iobuf *b)
{
	uint8_t type;
	uint32_t len;

	if (cl->state != CL_IDLE || next_header(cl, b, &type, &len) != RELAY_MORE)
		return NEED_STOP;
	switch (ps_local(cl, b, type, len)) {
	case PS_USED:
		cl->request_time = cl->sift->now;
		if (cl->sift->cfg.analyzer && (type == 'P' || type == 'C'))
			an_client_message(cl->sift, cl, NULL, type, b->data + b->pos + PROTO_HDR, len - 4, len - 4);
		b->pos += len + 1;
		return NEED_LOCAL;
	case PS_STOP:
	case PS_CLOSED:
		return NEED_STOP;
	default:
		break;
	}
	if (__builtin_expect(cl->pool->npinned > 0, 0) && pin_refuse_local(cl, b, type, len))
		return cl->state == CL_FREE ? NEED_STOP : NEED_LOCAL;
	return pool_request_server(cl) && cl->state == CL_ACTIVE ? NEED_LINKED : NEED_STOP;
}

static void client_relay(struct client *cl)
{
	enum relay_rc rc = RELAY_MORE;
	struct iobuf *b;
	struct server *sv;

	while (rc == RELAY_MORE && (b = cl->c.in) && b->pos < b->end) {
		if (!cl->server && (cl->skip_to_sync || (cl->c.pkt_left && cl->c.pkt_drop))) {
			if (!skip_cancelled(cl, b))
				break;
			continue;
		}
		if (!cl->server) {
			int need = cl->c.pkt_left ? NEED_STOP : need_server(cl, b);
			if (need == NEED_LOCAL)
				continue;
			if (need == NEED_STOP)
				break;
		}
		if (cl->server->sync_wait)
			break; /* resumed when the parameter sync is done */
		rc = relay_message(cl, cl->server, b);
	}
	if (cl->state == CL_FREE)
		return;
	sv = cl->server;
	if (sv && conn_flush(&sv->c) == CONN_IO_ERROR) {
		server_close(sv, "cannot write to the server");
		return;
	}
	/* replies pgsift gave in the server's place */
	if (!conn_out_empty(&cl->c) && conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "client write failed");
		return;
	}
	conn_trim(&cl->c);
	conn_update(&cl->c);
}

void client_resume(struct client *cl)
{
	cl->c.want_read = true;
	client_relay(cl);
}

static void client_read(struct client *cl)
{
	enum conn_io rc = conn_read(&cl->c);

	if (rc == CONN_IO_AGAIN)
		return;
	if (rc != CONN_IO_OK) {
		client_close(cl, NULL, rc == CONN_IO_EOF ? "client closed the connection" : "client read error");
		return;
	}
	/* a login is timed from the connect, whatever trickles in */
	if (cl->state != CL_LOGIN && cl->state != CL_LOGIN_WAIT)
		cl->request_time = cl->sift->now;
	switch (cl->state) {
	case CL_LOGIN:
		client_login_input(cl);
		break;
	case CL_IDLE:
	case CL_ACTIVE:
		if (cl->admin)
			cl->sift->console->input(cl);
		else
			client_relay(cl);
		break;
	default:
		/* waiting: the bytes stay buffered until a server is linked */
		conn_update(&cl->c);
		break;
	}
}

/* The client's output queue emptied: whatever fed it may go on. */
static void client_drained(struct client *cl)
{
	if (__builtin_expect(cl->nf_queued, 0)) {
		notify_client_flush(cl);
		if (!conn_out_empty(&cl->c))
			return; /* flushed on the next EV_WRITE */
	}
	if (cl->server)
		server_resume(cl->server);
	else if (cl->admin && cl->c.in && cl->c.in->pos < cl->c.in->end)
		cl->sift->console->input(cl);
	if (cl->state != CL_FREE)
		conn_update(&cl->c);
}

static void client_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	(void)fd;
	sift_now(cl->sift);
	if (what & EV_WRITE) {
		enum conn_io rc = conn_flush(&cl->c);
		if (rc == CONN_IO_ERROR) {
			client_close(cl, NULL, "client write failed");
			return;
		}
		if (rc == CONN_IO_OK)
			client_drained(cl);
		if (cl->state == CL_FREE)
			return;
	}
	if (what & EV_READ)
		client_read(cl);
}
