/*
 * server: see server.h.
 *
 * The relay from server to client passes bytes straight from the server's
 * input buffer to the client's output queue. It looks inside a few
 * messages only: ReadyForQuery (transaction status, release), 
 * ParameterStatus (tracked values) and, while our own queries run, it
 * swallows their replies up to their ReadyForQuery.
 */
#include "pooler/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/advisor_pool.h"
#include "pooler/auth.h"
#include "pooler/client.h"
#include "pooler/notify.h"
#include "pooler/objects.h"
#include "pooler/pin.h"
#include "pooler/pool.h"
#include "pooler/replication.h"
#include "pooler/session.h"
#include "pooler/tls.h"

#define WELCOME_MAX 64		/* ParameterStatus messages kept from a login */

/* TLS to the server: where its negotiation is */
enum { TLS_NONE, TLS_ASKED, TLS_HANDSHAKE };

struct server_login {
	uint8_t tls;			/* TLS_* */
	struct scram_state scram;
	bool scram_started;
	int connect_errno;
	int n;
	struct istr *names[WELCOME_MAX], *vals[WELCOME_MAX];
};

enum relay_rc { RELAY_MORE, RELAY_STOP, RELAY_CLOSED };

static void server_event_cb(evutil_socket_t fd, short what, void *arg);
static void server_relay(struct server *sv);

/* The host name of sv's connection as logs and SHOW SERVERS give it. */
const char *server_host_name(const struct server *sv)
{
	const struct db *db = sv->pool->db;
	const char *h = sv->host < db->nhosts ? db->hosts[sv->host].name : NULL;

	return h ? h : "unix";
}

/* PgBouncer's layout, which operators' log searches expect:
 * "S-12: db/user@host:port message" */
void server_log(const struct server *sv, enum log_level lvl, const char *fmt, ...)
{
	char prefix[32], msg[1024], where[300];
	const struct db *db = sv->pool->db;
	struct log_kv kv[4];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	snprintf(prefix, sizeof(prefix), "S-%llu", (unsigned long long)sv->id);
	snprintf(where, sizeof(where), "%s:%d", server_host_name(sv), db->conf.port);
	kv[0] = LKV_I("server_id", sv->id);
	kv[1] = LKV_S("database", db->name);
	kv[2] = LKV_S("user", sv->pool->user->name);
	kv[3] = LKV_S("server_addr", where);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_conn(lvl, "server", prefix, kv, 4, "%s/%s@%s %s", db->name, sv->pool->user->name, where, msg);
}

const char *server_state_name(const struct server *sv)
{
	static const char *const names[] = { "new", "new", "idle", "active", "tested", "being_canceled", "closed" };
	return names[sv->state];
}

bool server_expired(const struct server *sv)
{
	const struct sift *s = sv->sift;
	usec_t lifetime = server_lifetime_of(s, sv->pool->db);

	/* server_lifetime = 0: each server connection serves one client only */
	return sv->close_needed || sv->generation != sv->pool->db->generation ||
	       (lifetime > 0 && s->now - sv->created > lifetime) || (lifetime == 0 && sv->used);
}

const char *server_expiry_reason(const struct server *sv)
{
	/* PgBouncer's words for each */
	if (sv->close_needed || sv->generation != sv->pool->db->generation)
		return "database configuration changed";
	return "server lifetime over";
}

/* ---- address ---- */

/* Resolves host h of db (once per (re)configuration; see doc/config.md). */
static bool resolve(struct sift *s, struct db *db, struct db_host *h, char *err, size_t errlen)
{
	const char *host = h->name;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *res = NULL;
	char port[16];
	int rc;

	if (h->addrlen)
		return true;
	if (!host || host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&h->addr;
		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		if (snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", host ? host : s->cfg.unix_socket_dir,
			     db->conf.port) >= (int)sizeof(un->sun_path)) {
			snprintf(err, errlen, "unix socket path too long");
			return false;
		}
		h->addrlen = sizeof(*un);
		return true;
	}
	snprintf(port, sizeof(port), "%d", db->conf.port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc == EAI_NONAME) {
		hints.ai_flags = 0;
		rc = getaddrinfo(host, port, &hints, &res);
	}
	if (rc != 0 || !res) {
		snprintf(err, errlen, "could not resolve host \"%s\": %s", host, gai_strerror(rc));
		return false;
	}
	memcpy(&h->addr, res->ai_addr, res->ai_addrlen);
	h->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

bool server_resolve_host(struct sift *s, struct db *db, int h, char *err, size_t errlen)
{
	return resolve(s, db, &db->hosts[h], err, errlen);
}

static int open_socket(const struct db_host *h, int *err_out)
{
	int fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0) {
		*err_out = errno;
		return -1;
	}
	if (h->addr.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*err_out = 0;
	if (connect(fd, (const struct sockaddr *)&h->addr, h->addrlen) != 0 && errno != EINPROGRESS)
		*err_out = errno;
	return fd;
}

/* The host of db's list a new connection goes to: the next one in turn
 * (round-robin), or the same one until a connection to it fails
 * (load_balance_hosts=disable, see host_failed()). */
static int pick_host(struct db *db)
{
	int h = db->next_host % db->nhosts;

	if (db->conf.load_balance_hosts != LB_DISABLE)
		db->next_host = (h + 1) % db->nhosts;
	return h;
}

/* A connection to host h of db failed: with load_balance_hosts=disable
 * the next connection tries the next host. */
static void host_failed(struct db *db, int h)
{
	if (db->conf.load_balance_hosts == LB_DISABLE && db->next_host == h)
		db->next_host = (h + 1) % db->nhosts;
}

/* ---- startup ---- */

static void put_startup_param(struct pktbuf *pb, const char *name, const char *value)
{
	if (value && *value) {
		pkt_put_str(pb, name);
		pkt_put_str(pb, value);
	}
}

static void build_startup(struct server *sv)
{
	const struct db_conf *dc = &sv->pool->db->conf;
	struct pktbuf *pb = &sv->c.gen;

	pkt_begin(pb, 0);
	pkt_put_u32(pb, PROTO_V3);
	put_startup_param(pb, "user", sv->pool->user->name);
	put_startup_param(pb, "database", dc->dbname);
	put_startup_param(pb, "application_name", dc->application_name);
	put_startup_param(pb, "client_encoding", dc->client_encoding);
	put_startup_param(pb, "datestyle", dc->datestyle);
	put_startup_param(pb, "timezone", dc->timezone);
	if (sv->replication)
		repl_startup_params(sv, pb);
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

/* A server object for p, in its new_servers list, counted. */
static struct server *server_new(struct pool *p, int host)
{
	struct sift *s = p->sift;
	struct server *sv = calloc(1, sizeof(*sv));

	if (!sv || !(sv->login = calloc(1, sizeof(*sv->login)))) {
		free(sv);
		return NULL;
	}
	sv->sift = s;
	sv->pool = p;
	sv->id = ++s->next_id;
	sv->host = (uint8_t)host;
	sv->state = SV_CONNECTING;
	sv->generation = p->db->generation;
	sv->created = s->now;
	sv->connect_time = sift_wall_usec();
	list_init(&sv->cancels);
	list_init(&sv->node);
	return sv;
}

/* Host h of p's database cannot be looked up: logged as PgBouncer logs it,
 * as a server connection that closes. */
static void log_dns_failure(struct pool *p, int h, const char *err)
{
	struct server tmp = { .pool = p, .host = (uint8_t)h, .id = ++p->sift->next_id };

	server_log(&tmp, LOG_INFO, "closing because: server DNS lookup failed (%s)", err);
}

/* Connects a new server of p to host h (for owner, a replication client,
 * or for the pool when NULL; a listener for LISTEN: in no list, not
 * counted). */
static struct server *launch_to(struct pool *p, int h, struct client *owner, bool listener)
{
	struct sift *s = p->sift;
	const struct db_host *host = &p->db->hosts[h];
	struct server *sv;
	int fd, cerr;

	if (!(sv = server_new(p, h)))
		return NULL;
	if (owner) {
		sv->replication = owner->replication;
		sv->owner = owner;
		owner->repl_server = sv;
		p->repl_new++;
	}
	fd = open_socket(host, &cerr);
	if (fd < 0) {
		log_error("%s: cannot create a socket: %s", p->db->name, strerror(cerr));
		if (owner) {
			owner->repl_server = NULL;
			p->repl_new--;
		}
		free(sv->login);
		free(sv);
		return NULL;
	}
	conn_init(&sv->c, s->base, &s->bufs, fd, CONN_SERVER, server_event_cb, sv);
	sv->login->connect_errno = cerr;
	sv->nf_listener = listener;
	if (!listener) {
		list_append(&p->new_servers, &sv->node);
		p->nservers++;
		p->db->nservers++;
		p->user->nservers++;
	}
	/* TLS first (not on a Unix socket: PostgreSQL has none there) */
	if (s->server_tls && host->addr.ss_family != AF_UNIX) {
		sv->login->tls = TLS_ASKED;
		pkt_begin(&sv->c.gen, 0);
		pkt_put_u32(&sv->c.gen, PROTO_SSL_REQUEST);
		pkt_end(&sv->c.gen);
	} else {
		build_startup(sv);
	}
	if (!conn_gen_commit(&sv->c, 0)) {
		server_close(sv, "out of memory");
		return NULL;
	}
	conn_update(&sv->c); /* EV_WRITE: tells us when the connect finished */
	if (cerr)
		event_active(&sv->c.ev, EV_WRITE, 0); /* report the failure from the loop */
	return sv;
}

static bool launch_for(struct pool *p, struct client *owner)
{
	struct db *db = p->db;
	char err[256];

	/* a host of a list that cannot be looked up is skipped for the next */
	for (int tries = 0; tries < db->nhosts; tries++) {
		int h = pick_host(db);
		if (resolve(p->sift, db, &db->hosts[h], err, sizeof(err)))
			return launch_to(p, h, owner, false) != NULL;
		log_dns_failure(p, h, err);
		host_failed(db, h);
	}
	pool_login_failed(p, "08006", err, false);
	return false;
}

bool server_launch(struct pool *p)
{
	return launch_for(p, NULL);
}

bool server_launch_replication(struct pool *p, struct client *owner)
{
	return launch_for(p, owner);
}

struct server *server_launch_listener(struct pool *p)
{
	struct db *db = p->db;
	char err[256];
	int h = pick_host(db);

	if (resolve(p->sift, db, &db->hosts[h], err, sizeof(err)))
		return launch_to(p, h, NULL, true);
	log_dns_failure(p, h, err);
	return NULL;
}

static void connect_failed(struct server *sv, int err)
{
	char msg[300];
	struct pool *p = sv->pool;

	snprintf(msg, sizeof(msg), "connect failed: %s", strerror(err)); /* PgBouncer's words in the log */
	host_failed(p->db, sv->host);
	server_close(sv, msg);
	if (sv->nf_listener)
		return;
	snprintf(msg, sizeof(msg), "could not connect to server: %s", strerror(err));
	pool_login_failed(p, "08006", msg, true);
}

/* "new connection to server (from 127.0.0.1:5678)", PgBouncer's line
 * (log_connections): which local address each connection uses. */
static void log_new_connection(const struct server *sv)
{
	char addr[64];

	if (!sv->sift->cfg.log_connections)
		return;
	if (sv->local.family == AF_UNIX) {
		server_log(sv, LOG_INFO, "new connection to server (from unix socket)");
		return;
	}
	peer_addr_str(&sv->local, addr, sizeof(addr));
	server_log(sv, LOG_INFO, "new connection to server (from %s%s%s:%u)", sv->local.family == AF_INET6 ? "[" : "",
		   addr, sv->local.family == AF_INET6 ? "]" : "", sv->local.port);
}

static void server_connected(struct server *sv)
{
	int err = sv->login->connect_errno;
	socklen_t len = sizeof(err);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!err && getsockopt(sv->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		connect_failed(sv, err);
		return;
	}
	if (getsockname(sv->c.fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		sv->local.family = AF_INET;
		sv->local.port = ntohs(in->sin_port);
		memcpy(sv->local.a, &in->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		sv->local.family = AF_INET6;
		sv->local.port = ntohs(in6->sin6_port);
		memcpy(sv->local.a, &in6->sin6_addr, 16);
	} else
		sv->local.family = AF_UNIX;
	log_new_connection(sv);
	sv->state = SV_LOGIN;
	sv->c.want_read = true;
	if (conn_flush(&sv->c) == CONN_IO_ERROR) {
		connect_failed(sv, errno);
		return;
	}
	conn_update(&sv->c);
}

/* Is a message header from the server sane? Lengths are bounded before any
 * arithmetic: below 4 or above max_packet_size is a broken or hostile
 * server (and len + 1 cannot wrap). */
static inline bool header_ok(const struct server *sv, uint8_t type, uint32_t len)
{
	return len >= 4 && (uint64_t)len + 1 <= (uint64_t)sv->sift->cfg.max_packet_size && (type != 'Z' || len == 5);
}

/* ---- login ---- */

static void login_end(struct server *sv, const char *sqlstate, const char *msg, bool transient)
{
	struct pool *p = sv->pool;
	/* the server's own words, as PgBouncer logs them ("server login
	 * failed" came before, for a refusal) */
	server_close(sv, msg);
	if (!sv->nf_listener)
		pool_login_failed(p, sqlstate, msg, transient);
}

/* The login was refused (by the server, or by pgsift's settings). */
static void login_failed(struct server *sv, const char *sqlstate, const char *msg)
{
	login_end(sv, sqlstate, msg, pool_error_transient(sqlstate));
}

/* The connection went away during the login: a server restarting. */
static void login_lost(struct server *sv, const char *msg)
{
	login_end(sv, "08006", msg, true);
}

static bool send_password_msg(struct server *sv, const void *data, size_t len, bool with_nul)
{
	uint32_t mark = conn_gen_mark(&sv->c);

	pkt_begin(&sv->c.gen, 'p');
	pkt_put(&sv->c.gen, data, len);
	if (with_nul)
		pkt_put_u8(&sv->c.gen, 0);
	pkt_end(&sv->c.gen);
	return conn_gen_commit(&sv->c, mark) && conn_flush(&sv->c) != CONN_IO_ERROR;
}

/* The password to log in with: the entry's, else the user's plaintext one. */
static const char *login_password(const struct server *sv)
{
	const struct user *u = sv->pool->user;

	if (sv->pool->db->conf.password)
		return sv->pool->db->conf.password;
	return u->secret_kind == SECRET_PLAIN ? u->secret : NULL;
}

static bool auth_md5(struct server *sv, struct msg_reader *r)
{
	const uint8_t *salt = mr_bytes(r, 4);
	const char *pw = login_password(sv);
	const struct user *u = sv->pool->user;
	char hashed[MD5_PASSWD_LEN + 1], out[MD5_PASSWD_LEN + 1];

	if (!salt)
		return false;
	if (pw)
		auth_md5_password(pw, u->name, hashed);
	else if (u->secret_kind == SECRET_MD5)
		memcpy(hashed, u->secret, sizeof(hashed));
	else {
		login_failed(sv, "28P01", "wrong password type: no password for md5 login to the server (set password= or a plaintext or md5 auth_file secret)");
		return true;
	}
	auth_md5_salted(hashed + 3, salt, out);
	return send_password_msg(sv, out, strlen(out), true);
}

static bool auth_sasl_start(struct server *sv, struct msg_reader *r)
{
	struct server_login *lg = sv->login;
	const char *pw = login_password(sv), *mech;
	struct user *u = sv->pool->user;
	bool offered = false;
	char first[SCRAM_MAX_MSG];
	size_t flen;
	struct pktbuf *pb = &sv->c.gen;
	uint32_t mark;

	while (*(mech = mr_str(r)))
		offered |= strcmp(mech, "SCRAM-SHA-256") == 0;
	if (r->bad || !offered) {
		login_failed(sv, "28000", "server offers no SASL mechanism pgsift supports");
		return true;
	}
	if (pw) {
		if (!scram_client_init(&lg->scram, pw))
			return false;
	} else if (u->has_client_key && u->has_scram) {
		scram_client_init_keys(&lg->scram, u->client_key, &u->scram);
	} else {
		login_failed(sv, "28P01", "wrong password type: no password for SCRAM login to the server (set password=, a plaintext auth_file secret, or log in once with SCRAM)");
		return true;
	}
	lg->scram_started = true;
	if (!scram_client_first(&lg->scram, first, sizeof(first), &flen))
		return false;
	mark = conn_gen_mark(&sv->c);
	pkt_begin(pb, 'p');
	pkt_put_str(pb, "SCRAM-SHA-256");
	pkt_put_u32(pb, (uint32_t)flen);
	pkt_put(pb, first, flen);
	pkt_end(pb);
	return conn_gen_commit(&sv->c, mark) && conn_flush(&sv->c) != CONN_IO_ERROR;
}

static bool auth_sasl_step(struct server *sv, uint32_t code, struct msg_reader *r)
{
	struct server_login *lg = sv->login;
	char out[SCRAM_MAX_MSG];
	size_t outlen;
	const char *err = "SCRAM exchange failed";
	enum scram_rc rc;

	if (!lg->scram_started)
		return false;
	if (code == AUTH_SASL_CONTINUE) {
		rc = scram_client_final(&lg->scram, (const char *)r->p + r->pos, mr_left(r), out, sizeof(out), &outlen, &err);
		if (rc == SCRAM_CONTINUE)
			return send_password_msg(sv, out, outlen, false);
	} else {
		rc = scram_client_verify(&lg->scram, (const char *)r->p + r->pos, mr_left(r), &err);
		if (rc == SCRAM_OK)
			return true;
	}
	login_failed(sv, "28P01", err);
	return true;
}

/* An 'R' message during login. false: protocol trouble (caller closes). */
static bool login_auth(struct server *sv, struct msg_reader *r)
{
	uint32_t code = mr_u32(r);
	const char *pw;

	if (r->bad)
		return false;
	switch (code) {
	case AUTH_OK:
		return true;
	case AUTH_CLEARTEXT:
		pw = login_password(sv);
		if (!pw) {
			login_failed(sv, "28P01", "wrong password type: no plaintext password for cleartext login to the server");
			return true;
		}
		return send_password_msg(sv, pw, strlen(pw), true);
	case AUTH_MD5:
		return auth_md5(sv, r);
	case AUTH_SASL:
		return auth_sasl_start(sv, r);
	case AUTH_SASL_CONTINUE:
	case AUTH_SASL_FINAL:
		return auth_sasl_step(sv, code, r);
	default:
		login_failed(sv, "28000", "server asks for an authentication method pgsift does not support");
		return true;
	}
}

static void login_param(struct server *sv, struct msg_reader *r)
{
	struct sift *s = sv->sift;
	struct server_login *lg = sv->login;
	const char *name = mr_str(r), *val = mr_str(r);
	struct istr *n, *v;
	int idx;

	if (r->bad || lg->n >= WELCOME_MAX)
		return;
	n = istr_get(&s->strs, name, strlen(name));
	v = istr_get(&s->strs, val, strlen(val));
	if (!n || !v) {
		istr_put(&s->strs, n);
		istr_put(&s->strs, v);
		return;
	}
	for (int i = 0; i < lg->n; i++)
		if (lg->names[i] == n) { /* a repeated name replaces the value */
			istr_put(&s->strs, n);
			istr_put(&s->strs, lg->vals[i]);
			lg->vals[i] = v;
			n = NULL;
			break;
		}
	if (n) {
		lg->names[lg->n] = n;
		lg->vals[lg->n++] = v;
	}
	if ((idx = param_index(s, name)) >= 0)
		istr_set(&s->strs, &sv->vals.v[idx], v);
}

static void login_free(struct server *sv)
{
	struct server_login *lg = sv->login;

	if (!lg)
		return;
	for (int i = 0; i < lg->n; i++) {
		istr_put(&sv->sift->strs, lg->names[i]);
		istr_put(&sv->sift->strs, lg->vals[i]);
	}
	free(lg);
	sv->login = NULL;
}

/* A replication server's login is done: its welcome is its client's
 * (neither the pool's welcome nor connect_query: a physical walsender
 * takes no SQL). */
static void repl_login_done(struct server *sv)
{
	struct server_login *lg = sv->login;

	sv->pool->last_login_fail = 0;
	advisor_on_login(sv);
	server_log(sv, LOG_DEBUG, "replication login ok, backend pid %u", sv->backend_pid);
	repl_server_ready(sv, lg->names, lg->vals, lg->n);
	login_free(sv);
}

static void login_done(struct server *sv, char status)
{
	struct pool *p = sv->pool;
	const char *cq = p->db->conf.connect_query;

	sv->txn = status;
	if (sv->nf_listener) {
		login_free(sv);
		notify_server_ready(sv);
		return;
	}
	if (sv->replication) {
		repl_login_done(sv);
		return;
	}
	if (!p->welcome_ok && sv->generation == p->db->generation &&
	    !pool_set_welcome(sv->sift, p, sv->login->names, sv->login->vals, sv->login->n)) {
		server_close(sv, "out of memory");
		return;
	}
	login_free(sv);
	p->last_login_fail = 0;
	advisor_on_login(sv);
	server_log(sv, LOG_DEBUG, "login ok, backend pid %u", sv->backend_pid);
	if (p->welcome_ok)
		pool_login_done(p);
	if (cq && *cq) {
		sv->tolerate_error = true; /* logged, not fatal (doc/config.md) */
		if (!server_run_query(sv, cq))
			server_close(sv, "cannot run connect_query");
		return;
	}
	pool_server_ready(sv);
}

/* One complete login message. false: bad message (caller closes). */
static bool login_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct msg_reader r;
	struct proto_err_fields ef;

	mr_init(&r, body, len);
	switch (type) {
	case 'R':
		return login_auth(sv, &r);
	case 'S':
		login_param(sv, &r);
		return true;
	case 'K':
		sv->backend_pid = mr_u32(&r);
		sv->backend_key = mr_u32(&r);
		return !r.bad;
	case 'E':
		proto_parse_error(body, len, &ef);
		/* PgBouncer's line: the server's own words for the refusal */
		server_log(sv, LOG_WARNING, "server login failed: %s %s", *ef.severity ? ef.severity : "FATAL",
			   *ef.message ? ef.message : "(no message)");
		if (sv->replication) {
			repl_login_refused(sv, &ef);
			return true;
		}
		login_failed(sv, *ef.sqlstate ? ef.sqlstate : "08006", *ef.message ? ef.message : "login failed");
		return true;
	case 'N':
	case 'v':
		return true;
	case 'Z':
		if (len != 1)
			return false;
		login_done(sv, (char)body[0]);
		return true;
	default:
		return false;
	}
}

static void send_startup(struct server *sv)
{
	uint32_t mark = conn_gen_mark(&sv->c);

	build_startup(sv);
	if (!conn_gen_commit(&sv->c, mark) || conn_flush(&sv->c) == CONN_IO_ERROR)
		login_lost(sv, "cannot send the startup packet to the server");
}

/* Runs the TLS handshake with the server on; once done, the startup
 * packet goes through it. */
static void tls_handshake(struct server *sv)
{
	char why[300], msg[400];

	sv->c.tls_wants_write = false;
	switch (tls_handshake_step(sv->c.tls)) {
	case TLS_STEP_DONE:
		sv->login->tls = TLS_NONE;
		send_startup(sv);
		return;
	case TLS_STEP_WRITE:
		sv->c.tls_wants_write = true;
		/* fallthrough */
	case TLS_STEP_READ:
		conn_update(&sv->c);
		return;
	case TLS_STEP_FAILED:
		snprintf(msg, sizeof(msg), "TLS handshake with the server failed: %s",
			 tls_handshake_error(sv->c.tls, why, sizeof(why)));
		login_failed(sv, "08006", msg);
		return;
	}
}

/* The server's one-byte answer to our SSLRequest: 'S', TLS; 'N', plain
 * unless server_tls_sslmode requires TLS. Anything after the byte was sent
 * in the clear and would pass as encrypted (CVE-2021-23222): refused. */
static void tls_answer(struct server *sv, struct iobuf *b)
{
	const struct config *cfg = &sv->sift->cfg;
	uint8_t a = b->data[b->pos++];

	if (b->pos < b->end) {
		login_failed(sv, "08P01", "the server sent data after its answer to SSLRequest");
		return;
	}
	conn_trim(&sv->c);
	if (a == 'S') {
		if (!sv->sift->server_tls) { /* a RELOAD or SET turned it off meanwhile */
			login_failed(sv, "08006", "server_tls_sslmode is now disable; TLS was asked for before");
			return;
		}
		sv->c.tls = tls_connect(sv->sift->server_tls, sv->c.fd, sv->pool->db->hosts[sv->host].name, cfg->server_tls_sslmode);
		if (!sv->c.tls) {
			login_failed(sv, "53200", "out of memory for TLS");
			return;
		}
		sv->login->tls = TLS_HANDSHAKE;
		tls_handshake(sv);
	} else if (a != 'N') {
		login_failed(sv, "08P01", "unexpected answer from the server to SSLRequest");
	} else if (cfg->server_tls_sslmode >= SSLMODE_REQUIRE) {
		login_failed(sv, "08006", "server does not support SSL, but SSL was required (server_tls_sslmode)");
	} else {
		sv->login->tls = TLS_NONE;
		send_startup(sv);
	}
}

static void server_login_input(struct server *sv)
{
	struct iobuf *b;

	if (sv->login->tls == TLS_ASKED && (b = sv->c.in) && b->pos < b->end) {
		tls_answer(sv, b);
		return;
	}
	while (sv->state == SV_LOGIN && (b = sv->c.in) && b->end - b->pos >= PROTO_HDR) {
		uint8_t type = b->data[b->pos];
		uint32_t len = proto_get_u32(b->data + b->pos + 1);
		if (!header_ok(sv, type, len) || len + 1 > b->cap) {
			login_failed(sv, "08P01", "invalid message from the server during login");
			return;
		}
		if (b->end - b->pos < len + 1)
			break;
		b->pos += len + 1;
		if (!login_message(sv, type, b->data + b->pos - len + 4, len - 4)) {
			if (sv->state != SV_FREE)
				login_failed(sv, "08P01", "unexpected message from the server during login");
			return;
		}
	}
	if (sv->state == SV_FREE)
		return;
	conn_trim(&sv->c);
	/* the login leaves the server idle or linked: the rest goes to the relay */
	if (sv->state != SV_LOGIN && sv->c.in && sv->c.in->pos < sv->c.in->end)
		server_relay(sv);
}

/* ---- our own queries and parameter sync ---- */

bool server_run_query(struct server *sv, const char *sql)
{
	uint32_t mark = conn_gen_mark(&sv->c);

	proto_query(&sv->c.gen, sql);
	if (!conn_gen_commit(&sv->c, mark))
		return false;
	sv->inject_pending++;
	sv->state = SV_TESTED;
	sv->test_start = sv->sift->now;
	list_move(&sv->pool->tested_servers, &sv->node);
	sv->c.want_read = true;
	if (conn_flush(&sv->c) == CONN_IO_ERROR)
		return false;
	conn_update(&sv->c);
	return true;
}

bool server_sync_params(struct server *sv, struct client *cl)
{
	struct sift *s = sv->sift;
	char buf[2048], lit[600], *sql = buf;
	size_t n = 0, cap = 0;
	uint32_t mark;
	uint16_t mask = 0;
	bool any = false, ok;

	/* the usual case: the server has the client's values already */
	if (memcmp(cl->vals.v, sv->vals.v, sizeof(cl->vals.v[0]) * (size_t)s->nparams) == 0 && cl->ss_set == sv->ss_set)
		return true;
	buf[0] = 0;
	for (int i = 0; i < s->nparams; i++) {
		struct istr *want = cl->vals.v[i];
		int w;
		if (!want || want == sv->vals.v[i])
			continue;
		if (!proto_quote_literal(want->s, lit, sizeof(lit)))
			continue; /* a value this long is not something a server reported */
		w = snprintf(buf + n, sizeof(buf) - n, "SET %s=%s;", s->param_names[i], lit);
		if (w < 0 || (size_t)w >= sizeof(buf) - n)
			break;
		n += (size_t)w;
		mask |= (uint16_t)(1u << i);
	}
	/* settings the client SET (or sent at login) that PostgreSQL does not report */
	ok = ss_sync_sql(sv, cl, &sql, &n, &cap, &any);
	if (ok && n > 0) {
		server_log(sv, LOG_NOISE, "parameter sync: %s", sql);
		mark = conn_gen_mark(&sv->c);
		proto_query(&sv->c.gen, sql);
		ok = conn_gen_commit(&sv->c, mark);
	}
	if (cap)
		free(sql);
	if (!ok || n == 0) {
		sv->sync_ss = false;
		return ok;
	}
	sv->inject_pending++;
	sv->sync_mask = mask;
	sv->sync_failed = false;
	/* a value only the client's startup packet vouches for may be refused:
	 * its first SET must succeed before the client's statement runs */
	sv->sync_wait = (cl->unvalidated & mask) != 0 || (any && cl->ss_unvalidated);
	return true;
}

/* Our SETs are done (the ReadyForQuery of the sync): values the server took
 * are now the server's; a refused one ends the client like PostgreSQL
 * would have ended it at login. */
static void sync_done(struct server *sv, struct client *cl)
{
	struct sift *s = sv->sift;
	bool waited = sv->sync_wait;

	sv->sync_wait = false;
	ss_sync_done(sv, cl, !sv->sync_failed);
	if (sv->sync_failed) {
		client_close(cl, sv->sync_sqlstate, sv->sync_error);
		return;
	}
	for (int i = 0; i < s->nparams; i++)
		if (sv->sync_mask & (1u << i))
			istr_set(&s->strs, &sv->vals.v[i], cl->vals.v[i]);
	cl->unvalidated &= (uint16_t)~sv->sync_mask;
	sv->sync_mask = 0;
	if (waited)
		client_resume(cl);
}

/* A ParameterStatus seen while relaying: the server's value changed and,
 * when linked, so did the client's (it asked for it or will be told). */
static void track_param(struct server *sv, const uint8_t *body, uint32_t len)
{
	struct sift *s = sv->sift;
	struct msg_reader r;
	const char *name, *val;
	struct istr *v;
	int idx;

	mr_init(&r, body, len);
	name = mr_str(&r);
	val = mr_str(&r);
	if (r.bad || (idx = param_index(s, name)) < 0)
		return;
	v = istr_get(&s->strs, val, strlen(val));
	if (!v)
		return;
	istr_set(&s->strs, &sv->vals.v[idx], v);
	if (sv->client)
		istr_set(&s->strs, &sv->client->vals.v[idx], v);
	istr_put(&s->strs, v);
}

/* ---- the relay, server to client ---- */

/* The header of the next message: MORE when it is there and sane, STOP
 * when more bytes are needed, CLOSED when the server was closed for it. */
static inline enum relay_rc read_header(struct server *sv, const struct iobuf *b, uint8_t *type, uint32_t *len)
{
	if (b->end - b->pos < PROTO_HDR)
		return RELAY_STOP;
	*type = b->data[b->pos];
	*len = proto_get_u32(b->data + b->pos + 1);
	if (__builtin_expect(!header_ok(sv, *type, *len), 0)) {
		server_close(sv, "invalid message length from the server (or above max_packet_size)");
		return RELAY_CLOSED;
	}
	return RELAY_MORE;
}

static inline bool queue_to_client(struct client *cl, struct iobuf *b, uint32_t n)
{
	if (conn_queue_relay(&cl->c, b, b->pos, n))
		return true;
	if (conn_flush(&cl->c) != CONN_IO_OK)
		return false;
	return conn_queue_relay(&cl->c, b, b->pos, n);
}

/* Statistics and bookkeeping for a ReadyForQuery the client receives. */
static void client_got_ready(struct server *sv, struct client *cl, char status)
{
	struct stats *st = &sv->pool->stats;
	int64_t now = sv->sift->now;

	if (cl->pending_z > 0)
		cl->pending_z--;
	st->query_count++;
	if (cl->query_start)
		st->query_time += (uint64_t)(now - cl->query_start);
	cl->query_start = cl->pending_z || cl->unsynced ? now : 0;
	cl->ready_time = now;
	if (status == 'I' && cl->xact_start) {
		st->xact_count++;
		st->xact_time += (uint64_t)(now - cl->xact_start);
		an_pool_xact(sv->pool, cl, (uint64_t)(now - cl->xact_start));
		cl->xact_start = 0;
	}
}

/* CopyInResponse: the server now ignores Syncs until CopyDone/CopyFail, so
 * the Syncs the client sent after its COPY command (and before ending the
 * copy) will get no ReadyForQuery. */
static void copy_in_started(struct client *cl)
{
	uint16_t ignored = cl->copy_end_sent ? cl->syncs_before_end : cl->syncs_since_cmd;

	cl->pending_z -= ignored < cl->pending_z ? ignored : cl->pending_z;
	cl->syncs_since_cmd = 0;
	cl->copy_in = !cl->copy_end_sent;
}

/* May the server go back to the pool now that this ReadyForQuery is out?
 * (Never a replication server: it is its client's until one closes.) */
static bool may_release(struct server *sv, struct client *cl)
{
	const struct iobuf *cb = cl->c.in;
	int mode = pool_mode_of(sv->sift, sv->pool);

	if (mode == POOL_SESSION || sv->replication || cl->pending_z || cl->unsynced || cl->c.pkt_left || sv->rq.n ||
	    sv->rq.lite_n || (cb && cb->pos < cb->end))
		return false;
	if (sv->txn != 'I') {
		if (mode == POOL_STATEMENT)
			client_close(cl, "25001", "transaction blocks not allowed in statement pooling mode");
		return false;
	}
	return true;
}

/* Past the n bytes of a message of total bytes that are in b; the rest
 * (pkt_left) is dropped or relayed as it comes. */
static void consume(struct server *sv, struct iobuf *b, uint32_t n, uint32_t total, bool drop)
{
	b->pos += n;
	sv->c.pkt_left = total - n;
	sv->c.pkt_drop = drop;
}

/* A reply to pgsift's own parameter SETs (inject_pending): never seen by
 * the client; a failure is remembered for it. */
static enum relay_rc injected_reply(struct server *sv, struct client *cl, struct iobuf *b, uint8_t type,
				    uint32_t len)
{
	uint32_t avail = b->end - b->pos, total = len + 1;
	const uint8_t *body = b->data + b->pos + PROTO_HDR;
	uint32_t n = avail < total ? avail : total;
	bool done;

	if (sv->pin_probe && type == 'D' && n < total && total <= b->cap)
		return RELAY_STOP; /* the probe's row is read whole */
	done = type == 'Z' && --sv->inject_pending == 0;
	if (__builtin_expect(sv->pin_probe, 0) && type != 'Z') {
		if (n == total)
			pin_probe_reply(sv, type, body, len - 4);
	} else if (type == 'Z') {
		sv->txn = (char)body[0];
	} else if (type == 'E') {
		struct proto_err_fields ef;
		proto_parse_error(body, n - PROTO_HDR, &ef);
		server_log(sv, LOG_WARNING, "parameter sync failed: %s", ef.message);
		sv->sync_failed = true;
		snprintf(sv->sync_sqlstate, sizeof(sv->sync_sqlstate), "%s", *ef.sqlstate ? ef.sqlstate : "22023");
		snprintf(sv->sync_error, sizeof(sv->sync_error), "%s", *ef.message ? ef.message : "invalid parameter value");
	}
	consume(sv, b, n, total, true);
	if (done && sv->pin_probe) {
		/* not pinned any more: the server goes back now if nothing else came */
		if (pin_probe_done(sv, cl) && cl->state != CL_FREE && may_release(sv, cl) && !pin_keep(sv, cl))
			pool_release_server(sv);
		return sv->state == SV_FREE ? RELAY_CLOSED : RELAY_MORE;
	}
	if (done) {
		sync_done(sv, cl);
		if (sv->state == SV_FREE || sv->client != cl)
			return sv->state == SV_FREE ? RELAY_CLOSED : RELAY_MORE;
	}
	return RELAY_MORE;
}

/* Drops (our own replies) or passes one message or message part. */
static enum relay_rc relay_message(struct server *sv, struct iobuf *b)
{
	struct client *cl = sv->client;
	uint32_t avail = b->end - b->pos, len, total, n;
	uint8_t type;
	bool whole;
	enum relay_rc rc;

	if (sv->c.pkt_left) {
		n = avail < sv->c.pkt_left ? avail : sv->c.pkt_left;
		if (!sv->c.pkt_drop && !queue_to_client(cl, b, n))
			return RELAY_STOP;
		b->pos += n;
		sv->c.pkt_left -= n;
		return RELAY_MORE;
	}
	if ((rc = read_header(sv, b, &type, &len)) != RELAY_MORE)
		return rc;
	total = len + 1;
	whole = avail >= total;
	if (!whole && (type == 'Z' || type == 'S' || type == 'E' || type == 'C') && total <= b->cap)
		return RELAY_STOP; /* wait for the rest: we look inside these */
	if (type == 'S' && whole)
		track_param(sv, b->data + b->pos + PROTO_HDR, len - 4);
	n = whole ? total : avail;
	if (sv->inject_pending)
		return injected_reply(sv, cl, b, type, len);
	if (__builtin_expect(type == 'A', 0) && cl->ss_on) {
		/* a pooled server's notification: the pool's listener delivers it (notify.h) */
		consume(sv, b, n, total, true);
		return RELAY_MORE;
	}
	/* a committed LISTEN waits for the listener before its ReadyForQuery */
	if (__builtin_expect(cl->nf_pend, 0) && type == 'Z' && ss_notify_ready(sv, cl, (char)b->data[b->pos + PROTO_HDR]))
		return RELAY_STOP;
	/* an empty reply queue has nothing for ps_reply() to do; entries of
	 * the lite ring are mostly counted here */
	if ((sv->rq.n || (sv->rq.lite_n && !ps_lite_reply(&sv->rq, type))) && type != 'D') {
		switch (ps_reply(sv, cl, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR)) {
		case PS_STOP:
			return RELAY_STOP;
		case PS_USED: /* pgsift's own reply, or replaced */
			consume(sv, b, n, total, true);
			return RELAY_MORE;
		default:
			break;
		}
	}
	if (!queue_to_client(cl, b, n))
		return RELAY_STOP;
	if (sv->rq.pop) {
		if (sv->rq.n)
			ps_reply_done(sv, cl);
		else
			ps_lite_pop(&sv->rq);
	}
	if (type == 'C' || type == 'E') {
		if (type == 'C' && whole && sv->ps)
			ps_server_tag(sv, b->data + b->pos + PROTO_HDR, len - 4);
		if (__builtin_expect(cl->ss_busy, 0))
			ss_server_reply(sv, cl, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR);
	}
	if (sv->sift->cfg.analyzer && (type == 'C' || type == 'E' || type == 'I' || type == 's' || type == 'Z'))
		an_server_message(sv->sift, sv, type, b->data + b->pos + PROTO_HDR, n - PROTO_HDR, len - 4);
	sv->pool->stats.bytes_sent += total;
	consume(sv, b, n, total, false);
	if (type == 'G')
		copy_in_started(cl);
	if (type == 'Z') {
		sv->txn = (char)b->data[b->pos - 1];
		if (__builtin_expect(cl->ss_busy, 0))
			ss_server_reply(sv, cl, type, b->data + b->pos - 1, 1);
		client_got_ready(sv, cl, sv->txn);
		if (__builtin_expect(cl->nf_queued, 0))
			notify_client_flush(cl);
		if (cl->state != CL_FREE && may_release(sv, cl)) {
			if (conn_flush(&cl->c) == CONN_IO_ERROR) {
				client_close(cl, NULL, "client write failed");
				return sv->state == SV_FREE ? RELAY_CLOSED : RELAY_MORE;
			}
			/* unreplayable session state keeps its server (pin.h) */
			if (!(__builtin_expect(cl->pin_check | cl->pin, 0) && pin_keep(sv, cl)))
				pool_release_server(sv);
		}
		if (sv->state == SV_FREE)
			return RELAY_CLOSED;
	}
	return RELAY_MORE;
}

/* A message while not linked: replies to our own queries, or something the
 * server says on its own (notices, parameter changes, a FATAL before it
 * goes away). */
static enum relay_rc own_message(struct server *sv, struct iobuf *b)
{
	uint32_t avail = b->end - b->pos, len, total, n;
	uint8_t type;
	struct proto_err_fields ef;
	enum relay_rc rc;

	if (sv->c.pkt_left) {
		n = avail < sv->c.pkt_left ? avail : sv->c.pkt_left;
		b->pos += n;
		sv->c.pkt_left -= n;
		return RELAY_MORE;
	}
	if ((rc = read_header(sv, b, &type, &len)) != RELAY_MORE)
		return rc;
	total = len + 1;
	if (avail < total && total <= b->cap)
		return RELAY_STOP;
	n = avail < total ? avail : total;
	if (type == 'S' && avail >= total)
		track_param(sv, b->data + b->pos + PROTO_HDR, len - 4);
	if (type == 'C' && avail >= total && sv->ps)
		ps_server_tag(sv, b->data + b->pos + PROTO_HDR, len - 4);
	if (type == 'E' && avail >= total) {
		proto_parse_error(b->data + b->pos + PROTO_HDR, len - 4, &ef);
		server_log(sv, LOG_WARNING, "server error while %s: %s", server_state_name(sv), ef.message);
		sv->close_needed |= !sv->tolerate_error;
	}
	consume(sv, b, n, total, true);
	if (type != 'Z' && sv->state == SV_TESTED)
		return RELAY_MORE;
	if (type == 'Z') {
		sv->txn = (char)b->data[b->pos - 1];
		if (sv->inject_pending)
			sv->inject_pending--;
		if (sv->inject_pending == 0 && sv->state == SV_TESTED) {
			sv->tolerate_error = false;
			pool_server_ready(sv);
			return sv->state == SV_FREE ? RELAY_CLOSED : RELAY_MORE;
		}
		return RELAY_MORE;
	}
	if (type != 'S' && type != 'N' && type != 'A' && type != 'E') {
		server_close(sv, "unexpected message from an idle server");
		return RELAY_CLOSED;
	}
	return RELAY_MORE;
}

static void server_relay(struct server *sv)
{
	enum relay_rc rc = RELAY_MORE;
	struct client *cl;
	struct iobuf *b;

	if (__builtin_expect(sv->nf_listener, 0)) {
		notify_server_input(sv);
		return;
	}
	/* replies pgsift owes at the head of the queue (the client drained) */
	if (sv->ps_on && sv->client && sv->rq.n)
		ps_advance(sv, sv->client);
	while (rc == RELAY_MORE && (b = sv->c.in) && b->pos < b->end)
		rc = sv->state == SV_ACTIVE ? relay_message(sv, b) : own_message(sv, b);
	if (sv->state == SV_FREE)
		return;
	/* released with stray bytes behind its ReadyForQuery: now drained */
	if (sv->state == SV_IDLE && !list_empty(&sv->pool->waiting_clients) && (!sv->c.in || sv->c.in->pos == sv->c.in->end)) {
		pool_server_ready(sv);
		if (sv->state == SV_FREE)
			return;
	}
	cl = sv->client;
	if (cl && conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "client write failed");
		if (sv->state == SV_FREE)
			return;
	}
	/* the client's next batch waited for these replies */
	if (cl && sv->ps_on && ps_unstalled(sv)) {
		client_resume(cl);
		if (sv->state == SV_FREE)
			return;
	}
	conn_trim(&sv->c);
	conn_update(&sv->c);
}

void server_resume(struct server *sv)
{
	server_relay(sv);
}

/* ---- cancel requests ---- */

static void cancel_done(struct cancel_req *cr)
{
	struct server *sv = cr->server;

	list_del(&cr->node);
	event_del(&cr->ev);
	if (cr->fd >= 0)
		close(cr->fd);
	free(cr);
	/* a released server waited for its cancels before serving anyone else */
	if (sv && sv->state == SV_CANCELING && list_empty(&sv->cancels))
		pool_server_ready(sv);
}

void cancel_req_free(struct cancel_req *cr)
{
	cr->server = NULL;
	cancel_done(cr);
}

static void cancel_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_req *cr = arg;
	struct timeval tv;
	char buf[64];
	ssize_t n;
	int err = 0;
	socklen_t len = sizeof(err);

	sift_now(cr->sift);
	if (what & EV_TIMEOUT) {
		log_warning("cancel request timed out");
		/* once sent, PostgreSQL may still act on it later: the server must
		 * never serve another client */
		if (cr->sent > 0 && cr->server)
			cr->server->close_needed = true;
		cancel_done(cr);
		return;
	}
	if (what & EV_WRITE) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			log_warning("cancel request: cannot connect: %s", strerror(err ? err : errno));
			cancel_done(cr);
			return;
		}
		n = send(fd, cr->pkt + cr->sent, sizeof(cr->pkt) - cr->sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			cancel_done(cr);
			return;
		}
		if (n > 0)
			cr->sent = (uint8_t)(cr->sent + n);
		if (cr->sent < sizeof(cr->pkt))
			return;
		/* the server closes the connection once the cancel is delivered */
		event_del(&cr->ev);
		event_assign(&cr->ev, cr->sift->base, fd, EV_READ | EV_PERSIST, cancel_event_cb, cr);
		tv.tv_sec = (time_t)(cr->sift->cfg.server_connect_timeout / 1000000);
		tv.tv_usec = (suseconds_t)(cr->sift->cfg.server_connect_timeout % 1000000);
		event_add(&cr->ev, tv.tv_sec || tv.tv_usec ? &tv : NULL);
		return;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0 || (n < 0 && errno == EAGAIN))
		return;
	cancel_done(cr);
}

/* Where sv is connected: the cancel must reach the same PostgreSQL (a
 * RECONNECT may have dropped the resolved address of its host since). */
static const struct db_host *cancel_address(const struct server *sv, struct db_host *tmp)
{
	const struct db *db = sv->pool->db;
	const struct db_host *h = &db->hosts[sv->host < db->nhosts ? sv->host : 0];

	tmp->addrlen = sizeof(tmp->addr);
	if (sv->c.fd >= 0 && getpeername(sv->c.fd, (struct sockaddr *)&tmp->addr, &tmp->addrlen) == 0 &&
	    tmp->addrlen <= sizeof(tmp->addr))
		return tmp;
	return h;
}

/* Starts sending a CancelRequest for pid/key to h, on list (a server's
 * cancels, or the orphans). false when it cannot be started (logged). */
static bool cancel_start(struct sift *s, struct server *sv, const struct db_host *h, uint32_t pid, uint32_t key,
			 struct list *list)
{
	struct cancel_req *cr = calloc(1, sizeof(*cr));
	struct pktbuf pb;
	struct timeval tv;
	int cerr;

	if (!cr)
		return false;
	cr->sift = s;
	cr->server = sv;
	cr->start = s->now;
	cr->fd = open_socket(h, &cerr);
	if (cr->fd < 0 || cerr) {
		log_warning("cancel request: cannot connect: %s", strerror(cerr));
		if (cr->fd >= 0)
			close(cr->fd);
		free(cr);
		return false;
	}
	pkt_init(&pb, 64);
	proto_cancel_request(&pb, pid, key);
	if (pb.failed || pb.len != sizeof(cr->pkt)) {
		pkt_free(&pb);
		close(cr->fd);
		free(cr);
		return false;
	}
	memcpy(cr->pkt, pb.data, sizeof(cr->pkt));
	pkt_free(&pb);
	list_init(&cr->node);
	list_append(list, &cr->node);
	event_assign(&cr->ev, s->base, cr->fd, EV_WRITE | EV_PERSIST, cancel_event_cb, cr);
	tv.tv_sec = (time_t)(s->cfg.server_connect_timeout / 1000000);
	tv.tv_usec = (suseconds_t)(s->cfg.server_connect_timeout % 1000000);
	event_add(&cr->ev, tv.tv_sec || tv.tv_usec ? &tv : NULL);
	return true;
}

void server_cancel(struct server *sv)
{
	struct db_host peer;

	if (sv->backend_pid == 0)
		return;
	if (cancel_start(sv->sift, sv, cancel_address(sv, &peer), sv->backend_pid, sv->backend_key, &sv->cancels))
		server_log(sv, LOG_DEBUG, "cancel request sent for backend %u", sv->backend_pid);
}

bool server_cancel_to(struct sift *s, const struct sockaddr_storage *addr, socklen_t len, uint32_t pid, uint32_t key)
{
	struct db_host h = { .addrlen = len };

	if (len > sizeof(h.addr))
		return false;
	memcpy(&h.addr, addr, len);
	return cancel_start(s, NULL, &h, pid, key, &s->orphan_cancels);
}

/* ---- close ---- */

void server_close(struct server *sv, const char *reason)
{
	struct sift *s = sv->sift;
	struct pool *p = sv->pool;
	struct client *cl = sv->client;
	bool was_up = sv->state != SV_CONNECTING && sv->state != SV_LOGIN;

	if (sv->state == SV_FREE)
		return;
	advisor_on_unlink(sv);
	/* as PgBouncer: every close is logged under log_disconnections */
	server_log(sv, s->cfg.log_disconnections || !was_up || cl ? LOG_INFO : LOG_DEBUG, "closing because: %s (age=%llds)", reason,
		   (long long)((s->now - sv->created) / 1000000));
	if (sv->owner)
		repl_server_gone(sv, reason);
	sv->state = SV_FREE;
	if (cl) {
		char msg[300];
		sv->client = NULL;
		cl->server = NULL;
		cl->c.peer = NULL;
		sv->c.peer = NULL;
		snprintf(msg, sizeof(msg), "server connection lost: %s", reason);
		client_close(cl, "08006", msg);
	}
	while (!list_empty(&sv->cancels)) {
		struct cancel_req *cr = list_entry(sv->cancels.next, struct cancel_req, node);
		cr->server = NULL;
		list_move(&s->orphan_cancels, &cr->node);
	}
	if (was_up && sv->c.fd >= 0 && conn_out_empty(&sv->c)) {
		static const uint8_t terminate[5] = { 'X', 0, 0, 0, 4 };
		conn_send_now(&sv->c, terminate, sizeof(terminate));
	}
	list_del(&sv->node);
	if (sv->nf_listener) {
		notify_server_closed(sv);
	} else {
		p->nservers--;
		p->db->nservers--;
		p->user->nservers--;
	}
	conn_close(&sv->c);
	login_free(sv);
	params_clear(&s->strs, &sv->vals);
	ps_server_free(sv);
	ss_server_free(sv);
	list_append(&s->free_servers, &sv->node);
	sift_schedule_reap(s);
}

void server_free(struct server *sv)
{
	list_del(&sv->node);
	free(sv);
}

static void server_read(struct server *sv)
{
	enum conn_io rc = conn_read(&sv->c);

	if (rc == CONN_IO_AGAIN)
		return;
	if (rc != CONN_IO_OK) {
		if (sv->state == SV_LOGIN)
			login_lost(sv, "server closed the connection during login");
		else
			server_close(sv, rc == CONN_IO_EOF ? "server closed the connection" : "server read error");
		return;
	}
	if (sv->state == SV_LOGIN)
		server_login_input(sv);
	else
		server_relay(sv);
}

static void server_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *sv = arg;

	(void)fd;
	sift_now(sv->sift);
	if (sv->state == SV_CONNECTING) {
		server_connected(sv);
		return;
	}
	if (sv->state == SV_LOGIN && sv->login->tls == TLS_HANDSHAKE) {
		tls_handshake(sv);
		return;
	}
	if (what & EV_WRITE) {
		enum conn_io rc = conn_flush(&sv->c);
		if (rc == CONN_IO_ERROR) {
			server_close(sv, "server write failed");
			return;
		}
		/* the server took our bytes: the client may send more */
		if (rc == CONN_IO_OK && sv->client)
			client_resume(sv->client);
		if (sv->state == SV_FREE)
			return;
	}
	if (what & EV_READ)
		server_read(sv);
}
