/*
 * replication: see replication.h.
 *
 * Bookkeeping: a replication client waits in its pool's login_clients
 * (counted in pool->repl_login) from its authentication until its server
 * has logged in; its server, while connecting or logging in, is in
 * new_servers (counted in pool->repl_new). Each waiting client has at
 * most one server, so repl_login - repl_new of them still wait for room
 * in the pool (pool.c launches for them). client->repl_server and
 * server->owner point at each other from the launch until one closes.
 */
#include "pooler/replication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/client.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "pooler/sift.h"

/* PostgreSQL's parse_bool() for the replication parameter, which also
 * takes "database" (logical) and unique prefixes of the boolean words. */
static int parse_mode(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
	size_t n = strlen(v);

	if (!strcmp(v, "database"))
		return REPL_LOGICAL;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		/* "o" alone could be on or off: PostgreSQL refuses it */
		size_t min = i == 2 ? 2 : 1;
		if (n >= min && !strncasecmp(v, yes[i], n) && n <= strlen(yes[i]))
			return REPL_PHYSICAL;
		if (n >= min && !strncasecmp(v, no[i], n) && n <= strlen(no[i]))
			return REPL_NONE;
	}
	return -1;
}

int repl_scan_startup(const struct msg_reader *r, const char **value)
{
	struct msg_reader scan = *r;
	int mode = REPL_NONE;

	*value = "";
	for (;;) {
		const char *name = mr_str(&scan), *val;
		if (scan.bad || !*name)
			break;
		val = mr_str(&scan);
		if (scan.bad)
			break;
		if (!strcmp(name, "replication")) {
			*value = val;
			mode = parse_mode(val);
		}
	}
	return mode;
}

const char *repl_mode_name(int mode)
{
	return mode == REPL_LOGICAL ? "logical" : mode == REPL_PHYSICAL ? "physical" : "none";
}

bool repl_keep_param(struct client *cl, const char *name, const char *value, uint32_t cap)
{
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;

	if (!cl->repl_params && !(cl->repl_params = malloc(cap)))
		return false;
	if (cl->repl_params_len + nl + vl > cap)
		return false;
	memcpy(cl->repl_params + cl->repl_params_len, name, nl);
	memcpy(cl->repl_params + cl->repl_params_len + nl, value, vl);
	cl->repl_params_len += (uint32_t)(nl + vl);
	return true;
}

void repl_client_start(struct client *cl)
{
	struct pool *p = cl->pool;

	cl->state = CL_LOGIN_WAIT;
	list_move(&p->login_clients, &cl->node);
	p->repl_login++;
	cl->sift->repl_login++;
	pool_launch(p);
}

void repl_startup_params(const struct server *sv, struct pktbuf *pb)
{
	const struct client *cl = sv->owner;

	/* after the database entry's own parameters: the client's win */
	if (cl && cl->repl_params)
		pkt_put(pb, cl->repl_params, cl->repl_params_len);
	pkt_put_str(pb, "replication");
	pkt_put_str(pb, sv->replication == REPL_LOGICAL ? "database" : "true");
}

/* The client leaves the set of those waiting for their server. */
static void left_login(struct client *cl)
{
	cl->pool->repl_login--;
	cl->sift->repl_login--;
}

void repl_server_ready(struct server *sv, struct istr **names, struct istr **vals, int n)
{
	struct client *cl = sv->owner;

	if (!cl || cl->state != CL_LOGIN_WAIT) { /* cannot happen: its client's close closes it */
		server_close(sv, "replication client was closed");
		return;
	}
	server_log(sv, LOG_DEBUG, "replication connection ready for C-%llu", (unsigned long long)cl->id);
	left_login(cl);
	sv->pool->repl_new--;
	pool_link_replication(cl, sv);
	if (!client_send_welcome(cl, names, vals, n))
		return;
	/* what the client sent after its startup packet */
	if (cl->c.in && cl->c.in->pos < cl->c.in->end)
		client_resume(cl);
}

void repl_login_refused(struct server *sv, const struct proto_err_fields *ef)
{
	struct client *cl = sv->owner;
	char why[300];

	/* ef points into the server's buffer, gone with it */
	snprintf(why, sizeof(why), "%s", ef->message);
	if (cl) {
		sv->owner = NULL;
		cl->repl_server = NULL;
		sv->pool->repl_new--;
	}
	/* the server's close is logged before the client can see its error */
	server_close(sv, "login failed");
	/* PgBouncer's words, which its users' scripts match; PostgreSQL's in the DETAIL */
	if (cl)
		client_close_detail(cl, "08004", "login failed", *why ? why : NULL);
}

void repl_client_gone(struct client *cl)
{
	struct server *sv = cl->repl_server;

	if (cl->state == CL_LOGIN_WAIT && cl->pool)
		left_login(cl);
	free(cl->repl_params);
	cl->repl_params = NULL;
	if (!sv)
		return;
	cl->repl_server = NULL;
	sv->owner = NULL;
	if (sv->state == SV_CONNECTING || sv->state == SV_LOGIN)
		sv->pool->repl_new--;
	if (cl->server == sv) {
		cl->server = NULL;
		sv->client = NULL;
		cl->c.peer = NULL;
		sv->c.peer = NULL;
	}
	/* never pooled: what the walsender did is nobody else's */
	server_close(sv, "replication client disconnected");
}

void repl_server_gone(struct server *sv, const char *reason)
{
	struct client *cl = sv->owner;
	char msg[300];

	sv->owner = NULL;
	cl->repl_server = NULL;
	if (sv->state == SV_CONNECTING || sv->state == SV_LOGIN)
		sv->pool->repl_new--;
	if (cl->server == sv)
		return; /* linked: server_close() closes the client as any other */
	snprintf(msg, sizeof(msg), "server connection lost: %s", reason);
	client_close(cl, "08006", msg);
}

void repl_retry_waiting(struct sift *s)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (p->repl_login > p->repl_new)
			pool_launch(p);
	}
}
