/*
 * auth_query: see auth_query.h.
 *
 * Each connection is driven by one libevent event on PQsocket(), assigned
 * anew for each wait (the socket may change while libpq connects), with a
 * timeout: server_connect_timeout while connecting or querying,
 * server_idle_timeout while idle. The request at the head of a
 * connection's queue is the one running.
 */
#include "pooler/auth_query.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/server.h"
#include "util/log.h"

#define AQ_DEFAULT_TIMEOUT 15	/* seconds, when server_connect_timeout is 0 */

enum aq_state { AQ_CONNECTING, AQ_IDLE, AQ_STARTING, AQ_QUERYING };

struct aq_req {
	struct list node;	/* conn->reqs */
	struct aq_conn *conn;
	struct client *cl;	/* NULL once the client left */
	char *query;
	char name[NAME_LEN];
};

struct aq_conn {
	struct list node;	/* sift->aq_conns */
	struct sift *sift;
	struct db *db;
	uint32_t generation;	/* db->generation it was opened for */
	char *dbname, *user, *password;
	PGconn *pg;
	struct event ev;
	bool ev_added;
	uint8_t state;
	struct list reqs;
};

static void conn_cb(evutil_socket_t fd, short what, void *arg);
static void next_request(struct aq_conn *c);

static bool streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void req_free(struct aq_req *r)
{
	list_del(&r->node);
	if (r->cl)
		r->cl->aq = NULL;
	free(r->query);
	free(r);
}

/* Gives r's client its answer and drops r. */
static void req_answer(struct aq_req *r, enum aq_result res, const char *secret, const char *error)
{
	struct client *cl = r->cl;

	req_free(r);
	if (cl)
		client_auth_query_done(cl, res, secret, error);
}

static void conn_free(struct aq_conn *c)
{
	if (c->ev_added)
		event_del(&c->ev);
	if (c->pg)
		PQfinish(c->pg);
	list_del(&c->node);
	free(c->dbname);
	free(c->user);
	free(c->password);
	free(c);
}

/* libpq's message on one line, without its trailing newline. */
static void one_line(const char *in, char *out, size_t outlen)
{
	size_t n;

	snprintf(out, outlen, "%s", in && *in ? in : "unknown error");
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = strlen(out);
	while (n && out[n - 1] == ' ')
		out[--n] = 0;
}

/* The connection is unusable: every lookup on it fails with why. A login
 * the server refused ("...FATAL:  database "x" does not exist") reaches
 * the clients in the server's words, as a failed server login does. */
static void conn_fail(struct aq_conn *c, const char *what, const char *why)
{
	char msg[400], line[300];
	const char *fatal;
	enum aq_result res = AQ_ERROR;

	one_line(why, line, sizeof(line));
	snprintf(msg, sizeof(msg), "auth_query %s failed (user %s, database %s): %s", what, c->user, c->dbname, line);
	log_warning("%s", msg);
	if (c->state == AQ_CONNECTING && (fatal = strstr(line, "FATAL:  "))) {
		log_warning("server login failed: FATAL %s", fatal + 8);
		snprintf(msg, sizeof(msg), "%s", fatal + 8);
		res = AQ_REFUSED;
	}
	while (!list_empty(&c->reqs))
		req_answer(list_entry(c->reqs.next, struct aq_req, node), res, NULL, msg);
	conn_free(c);
}

static usec_t step_timeout(const struct sift *s)
{
	return s->cfg.server_connect_timeout > 0 ? s->cfg.server_connect_timeout : AQ_DEFAULT_TIMEOUT * 1000000LL;
}

/* Waits for what on the socket, at most t usec (0: no limit). */
static bool conn_wait(struct aq_conn *c, short what, usec_t t)
{
	struct timeval tv = { (time_t)(t / 1000000), (suseconds_t)(t % 1000000) };

	if (c->ev_added)
		event_del(&c->ev);
	event_assign(&c->ev, c->sift->base, PQsocket(c->pg), what, conn_cb, c);
	c->ev_added = event_add(&c->ev, t > 0 ? &tv : NULL) == 0;
	return c->ev_added;
}

/* The reply to the running lookup is complete: answers its client. */
static void take_result(struct aq_conn *c)
{
	struct aq_req *r = list_entry(c->reqs.next, struct aq_req, node);
	enum aq_result res = AQ_NOT_FOUND;
	char err[400] = "", *secret = NULL;
	PGresult *pr;

	while ((pr = PQgetResult(c->pg))) {
		ExecStatusType st = PQresultStatus(pr);
		if (err[0] || res == AQ_FOUND) {
			/* the first answer counts; the rest is drained */
		} else if (st != PGRES_TUPLES_OK) {
			char line[300];
			one_line(PQresultErrorMessage(pr), line, sizeof(line));
			snprintf(err, sizeof(err), "auth_query failed: %s", line);
		} else if (PQnfields(pr) != 2) {
			snprintf(err, sizeof(err), "auth_query must return 2 columns, not %d", PQnfields(pr));
		} else if (PQntuples(pr) > 0 && PQgetisnull(pr, 0, 0)) {
			snprintf(err, sizeof(err), "auth_query response contained null user name");
		} else if (PQntuples(pr) > 0 && (size_t)PQgetlength(pr, 0, 1) >= AQ_SECRET_MAX) {
			snprintf(err, sizeof(err), "auth_query returned a secret of more than %d bytes", AQ_SECRET_MAX - 1);
		} else if (PQntuples(pr) > 0) {
			res = AQ_FOUND;
			if (!PQgetisnull(pr, 0, 1) && !(secret = strdup(PQgetvalue(pr, 0, 1))))
				snprintf(err, sizeof(err), "out of memory");
		}
		PQclear(pr);
	}
	if (err[0])
		log_warning("%s (user %s, database %s)", err, r->name, c->dbname);
	c->state = AQ_IDLE;
	req_answer(r, err[0] ? AQ_ERROR : res, err[0] ? NULL : secret, err);
	free(secret);
	next_request(c);
}

/* Starts the lookup at the head of the queue, or waits idle. */
static void next_request(struct aq_conn *c)
{
	struct sift *s = c->sift;
	struct aq_req *r;
	const char *params[1];
	int rc;

	if (list_empty(&c->reqs)) {
		/* a reload changed where the entry's connections go: done */
		if (c->generation != c->db->generation || !conn_wait(c, EV_READ, s->cfg.server_idle_timeout))
			conn_free(c);
		return;
	}
	r = list_entry(c->reqs.next, struct aq_req, node);
	params[0] = r->name;
	if (!PQsendQueryParams(c->pg, r->query, 1, NULL, params, NULL, NULL, 0)) {
		conn_fail(c, "query", PQerrorMessage(c->pg));
		return;
	}
	c->state = AQ_QUERYING;
	rc = PQflush(c->pg);
	if (rc < 0 || !conn_wait(c, rc ? EV_READ | EV_WRITE : EV_READ, step_timeout(s)))
		conn_fail(c, "query", PQerrorMessage(c->pg));
}

static void on_connect_poll(struct aq_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (!conn_wait(c, EV_READ, step_timeout(c->sift)))
			conn_fail(c, "connection", "cannot wait for the server");
		return;
	case PGRES_POLLING_WRITING:
		if (!conn_wait(c, EV_WRITE, step_timeout(c->sift)))
			conn_fail(c, "connection", "cannot wait for the server");
		return;
	case PGRES_POLLING_OK:
		if (PQsetnonblocking(c->pg, 1) != 0) {
			conn_fail(c, "connection", PQerrorMessage(c->pg));
			return;
		}
		c->state = AQ_IDLE;
		next_request(c);
		return;
	default:
		conn_fail(c, "connection", PQerrorMessage(c->pg));
		return;
	}
}

static void on_input(struct aq_conn *c)
{
	if (PQflush(c->pg) == 1) {
		if (!conn_wait(c, EV_READ | EV_WRITE, step_timeout(c->sift)))
			conn_fail(c, "query", "cannot wait for the server");
		return;
	}
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, "query", PQerrorMessage(c->pg));
		return;
	}
	if (!PQisBusy(c->pg))
		take_result(c);
	else if (!conn_wait(c, EV_READ, step_timeout(c->sift)))
		conn_fail(c, "query", "cannot wait for the server");
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aq_conn *c = arg;

	(void)fd;
	c->ev_added = false; /* not persistent: fired means no longer pending */
	sift_now(c->sift);
	if (c->state == AQ_IDLE) { /* idle: timed out, or the server closed it */
		conn_free(c);
		return;
	}
	if (what & EV_TIMEOUT) {
		conn_fail(c, c->state == AQ_CONNECTING ? "connection" : "query", "timed out");
		return;
	}
	if (c->state == AQ_STARTING)
		next_request(c);
	else if (c->state == AQ_CONNECTING)
		on_connect_poll(c);
	else
		on_input(c);
}

/* libpq parameters for t: the address pgsift resolved for the entry's
 * current host (so libpq looks nothing up on the event loop). */
static int conn_params(struct aq_conn *c, const char **k, const char **v, char *host, char *port)
{
	const struct config *cfg = &c->sift->cfg;
	struct db *db = c->db;
	int h = db->next_host % db->nhosts, n = 0;
	const struct db_host *dh = &db->hosts[h];
	char err[256];

	if (!server_resolve_host(c->sift, db, h, err, sizeof(err)))
		log_debug("auth_query: %s", err); /* libpq reports it again */
	if (dh->addrlen && (dh->addr.ss_family == AF_INET || dh->addr.ss_family == AF_INET6)) {
		const void *a = dh->addr.ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)&dh->addr)->sin_addr
							      : (const void *)&((const struct sockaddr_in6 *)&dh->addr)->sin6_addr;
		k[n] = "hostaddr", v[n++] = inet_ntop(dh->addr.ss_family, a, host, 64);
	} else {
		k[n] = "host", v[n++] = dh->name ? dh->name : cfg->unix_socket_dir;
	}
	snprintf(port, 16, "%d", db->conf.port);
	k[n] = "port", v[n++] = port;
	k[n] = "dbname", v[n++] = c->dbname;
	k[n] = "user", v[n++] = c->user;
	if (c->password)
		k[n] = "password", v[n++] = c->password;
	k[n] = "sslmode", v[n++] = config_sslmode_name(cfg->server_tls_sslmode);
	if (cfg->server_tls_ca_file && *cfg->server_tls_ca_file)
		k[n] = "sslrootcert", v[n++] = cfg->server_tls_ca_file;
	k[n] = "application_name", v[n++] = "pgsift auth_query";
	k[n] = NULL, v[n] = NULL;
	return n;
}

/* A new connection for t, connecting. NULL when it cannot start (err). */
static struct aq_conn *conn_open(struct sift *s, const struct aq_target *t, char *err, size_t errlen)
{
	struct aq_conn *c = calloc(1, sizeof(*c));
	const char *k[12], *v[12];
	char host[64], port[16];

	if (!c || !(c->dbname = strdup(t->dbname)) || !(c->user = strdup(t->user)) ||
	    (t->password && !(c->password = strdup(t->password)))) {
		if (c)
			free(c->dbname), free(c->user);
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->sift = s;
	c->db = t->db;
	c->generation = t->db->generation;
	list_init(&c->reqs);
	list_init(&c->node);
	list_append(&s->aq_conns, &c->node);
	conn_params(c, k, v, host, port);
	c->pg = PQconnectStartParams(k, v, 0);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		one_line(c->pg ? PQerrorMessage(c->pg) : "out of memory", err, errlen);
		conn_free(c);
		return NULL;
	}
	c->state = AQ_CONNECTING;
	if (!conn_wait(c, EV_WRITE, step_timeout(s))) { /* libpq: wait for write first */
		snprintf(err, errlen, "cannot wait for the server");
		conn_free(c);
		return NULL;
	}
	return c;
}

/* The connection for t that new lookups join, if one is open. */
static struct aq_conn *conn_find(struct sift *s, const struct aq_target *t)
{
	struct list *it;

	list_for_each(it, &s->aq_conns) {
		struct aq_conn *c = list_entry(it, struct aq_conn, node);
		if (c->db == t->db && c->generation == t->db->generation && !strcmp(c->dbname, t->dbname) &&
		    !strcmp(c->user, t->user) && streq(c->password, t->password))
			return c;
	}
	return NULL;
}

bool auth_query_start(struct client *cl, const struct aq_target *t, const char *query, const char *name,
		      char *err, size_t errlen)
{
	struct sift *s = cl->sift;
	struct aq_conn *c = conn_find(s, t);
	struct aq_req *r = calloc(1, sizeof(*r));

	if (!r || strlen(name) >= NAME_LEN || !(r->query = strdup(query))) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	strcpy(r->name, name);
	if (!c && !(c = conn_open(s, t, err, errlen))) {
		free(r->query);
		free(r);
		return false;
	}
	r->cl = cl;
	r->conn = c;
	list_init(&r->node);
	list_append(&c->reqs, &r->node);
	/* idle until now: starts from the loop (the socket is writable), so
	 * that no answer comes from inside this call */
	if (c->state == AQ_IDLE) {
		c->state = AQ_STARTING;
		if (!conn_wait(c, EV_WRITE, step_timeout(s))) {
			r->cl = NULL;
			conn_fail(c, "query", "cannot wait for the server");
			snprintf(err, errlen, "cannot wait for the auth_query connection");
			return false;
		}
	}
	cl->aq = r;
	return true;
}

void auth_query_forget(struct client *cl)
{
	struct aq_req *r = cl->aq;

	if (!r)
		return;
	/* a running lookup stays in the queue until its reply is read */
	r->cl = NULL;
	cl->aq = NULL;
	if (r->conn->reqs.next != &r->node || r->conn->state != AQ_QUERYING)
		req_free(r);
}

void auth_query_free_all(struct sift *s)
{
	while (!list_empty(&s->aq_conns)) {
		struct aq_conn *c = list_entry(s->aq_conns.next, struct aq_conn, node);
		while (!list_empty(&c->reqs))
			req_free(list_entry(c->reqs.next, struct aq_req, node));
		conn_free(c);
	}
}
