/*
 * http: see http.h.
 *
 * Connections. evhttp accepts through our evconnlistener and asks us for
 * each connection's bufferevent (bevcb); we keep a reference to it in a
 * slot, so we know a connection (its fd stays open until we let go) and can
 * end it: a sweep every SWEEP_MS drops the references evhttp has released
 * (their callbacks are cleared when evhttp frees a connection) and shuts
 * down the sockets of connections past their deadline, which evhttp then
 * sees as closed. While every slot is in use the listener is disabled.
 */
#include "surfaces/http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "surfaces/dashboard.h"
#include "surfaces/json_api.h"
#include "surfaces/json_sql.h"
#include "surfaces/metrics.h"
#include "pooler/auth.h"
#include "pooler/objects.h"
#include "pooler/sift.h"
#include "pooler/tls.h"
#include "util/log.h"
#include "util/strbuf.h"

#define SWEEP_MS 100
#define MAX_HEADERS_SIZE 8192
#define MAX_BODY_SIZE 4096
#define MAX_PARAMS 16
#define AUTH_CACHE 8

struct http_conn {
	struct bufferevent *bev;	/* our reference; NULL: free slot */
	int64_t since;			/* accepted, or its last request began (monotonic usec) */
	bool shut;			/* past its deadline: the socket was shut down */
};

/* Credentials that passed recently, so a scraper's every request does not
 * cost a SCRAM key derivation: the header's hash, for this user's secret. */
struct auth_ok {
	unsigned char hash[32];
	const struct user *user;
	const char *secret;
};

struct http_server {
	struct sift *s;
	struct evhttp *http;
	struct evconnlistener *lev;	/* owned by evhttp once bound */
	struct ssl_ctx_st *tls;
	struct event *sweep;
	struct http_conn *conns;
	int max, n;
	bool paused;			/* listener disabled: every slot in use */
	struct auth_ok auth[AUTH_CACHE];
	unsigned auth_next;
};

/* ---- connections ---- */

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct http_server *hs = arg;
	struct bufferevent *bev;
	SSL *ssl;

	if (hs->tls) {
		if (!(ssl = SSL_new(hs->tls)))
			return NULL;
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	} else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL;
	for (int i = 0; i < hs->max; i++) {
		if (hs->conns[i].bev)
			continue;
		bufferevent_incref(bev);
		hs->conns[i] = (struct http_conn){ bev, sift_now(hs->s), false };
		if (++hs->n == hs->max && !hs->paused) {
			evconnlistener_disable(hs->lev);
			hs->paused = true;
		}
		break;
	}
	return bev;
}

/* Drops the connections evhttp has freed, ends those past their deadline,
 * and accepts again when a slot is free. */
static void sweep(struct http_server *hs)
{
	int64_t now = sift_now(hs->s), limit = hs->s->cfg.http_timeout;

	for (int i = 0; i < hs->max; i++) {
		struct http_conn *c = &hs->conns[i];
		bufferevent_data_cb rcb, wcb;
		bufferevent_event_cb ecb;
		void *arg;
		if (!c->bev)
			continue;
		bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &arg);
		if (!rcb && !wcb && !ecb) {
			bufferevent_decref(c->bev);
			c->bev = NULL;
			hs->n--;
		} else if (!c->shut && limit > 0 && now - c->since > limit) {
			shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
			c->shut = true;
		}
	}
	if (hs->paused && hs->n < hs->max) {
		evconnlistener_enable(hs->lev);
		hs->paused = false;
	}
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweep(arg);
}

/* A request began on the connection: its deadline starts again. */
static void conn_touch(struct http_server *hs, struct evhttp_request *req)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));

	for (int i = 0; i < hs->max; i++)
		if (hs->conns[i].bev == bev)
			hs->conns[i].since = hs->s->now;
}

/* ---- answers ---- */

static void reply(struct evhttp_request *req, int code, const char *type, const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	static const char *const reasons[][2] = {
		{ "200", "OK" }, { "400", "Bad Request" }, { "401", "Unauthorized" }, { "404", "Not Found" },
		{ "403", "Forbidden" }, { "405", "Method Not Allowed" }, { "413", "Payload Too Large" },
		{ "500", "Internal Server Error" },
		{ "503", "Service Unavailable" },
	};
	const char *reason = "Error";
	char cs[8];

	snprintf(cs, sizeof(cs), "%d", code);
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(reasons[i][0], cs))
			reason = reasons[i][1];
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, code, reason, NULL);
}

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
	reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

static void reply_sb(struct evhttp_request *req, int code, const char *type, struct strbuf *sb)
{
	if (sb->failed)
		reply_text(req, 500, "out of memory\n");
	else
		reply(req, code, type, sb->p ? sb->p : "", sb->len);
}

/* ---- basic auth ---- */

static bool auth_cached(struct http_server *hs, const unsigned char *hash)
{
	for (int i = 0; i < AUTH_CACHE; i++) {
		const struct auth_ok *a = &hs->auth[i];
		if (a->user && !memcmp(a->hash, hash, 32) && a->user->secret == a->secret)
			return true;
	}
	return false;
}

/* "Basic base64(user:password)" of a user in admin_users or stats_users,
 * checked against the auth_file as a console login would. */
static bool auth_check(struct http_server *hs, const char *hdr)
{
	struct sift *s = hs->s;
	unsigned char hash[32], dec[768];
	unsigned int hlen = 0;
	char *colon;
	struct user *u;
	size_t n;
	int len;

	if (!hdr || strncasecmp(hdr, "Basic ", 6) || (n = strlen(hdr + 6)) == 0 || n > 1000 || n % 4)
		return false;
	if (!EVP_Digest(hdr, strlen(hdr), hash, &hlen, EVP_sha256(), NULL))
		return false;
	if (auth_cached(hs, hash))
		return true;
	if ((len = EVP_DecodeBlock(dec, (const unsigned char *)hdr + 6, (int)n)) < 0)
		return false;
	len -= hdr[6 + n - 1] == '=' ? (hdr[6 + n - 2] == '=' ? 2 : 1) : 0;
	dec[len] = 0;
	if ((int)strlen((char *)dec) != len || !(colon = strchr((char *)dec, ':')))
		return false;
	*colon = 0;
	if (!config_list_contains(s->cfg.admin_users, (char *)dec) && !config_list_contains(s->cfg.stats_users, (char *)dec))
		return false;
	if (!(u = user_find(s, (char *)dec)) || !u->secret || !auth_check_plain(u, colon + 1))
		return false;
	hs->auth[hs->auth_next] = (struct auth_ok){ { 0 }, u, u->secret };
	memcpy(hs->auth[hs->auth_next].hash, hash, 32);
	hs->auth_next = (hs->auth_next + 1) % AUTH_CACHE;
	return true;
}

/* ---- routing ---- */

/* The decoded path, or NULL (400) when it has a NUL byte, a backslash or a
 * dot-segment: nothing is read from the file system, but such a path is
 * malformed here and answered as such. Caller frees. */
static char *clean_path(const char *raw)
{
	size_t n;
	char *p;

	if (!raw || raw[0] != '/' || !(p = evhttp_uridecode(raw, 0, &n)))
		return NULL;
	if (n != strlen(p) || strchr(p, '\\') || strstr(p, "/./") || strstr(p, "/../") ||
	    (n >= 2 && !strcmp(p + n - 2, "/.")) || (n >= 3 && !strcmp(p + n - 3, "/..")) || strstr(p, "//")) {
		free(p);
		return NULL;
	}
	return p;
}

static void serve_metrics(struct http_server *hs, struct evhttp_request *req)
{
	const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	bool om = accept && strstr(accept, "application/openmetrics-text");
	struct strbuf sb;

	sb_init(&sb, 0);
	metrics_render(hs->s, &sb, om);
	reply_sb(req, 200, om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
			      : "text/plain; version=0.0.4; charset=utf-8", &sb);
	sb_free(&sb);
}

/* A /api/v1/sql request waiting for the SQL workers. */
struct http_pending {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct json_sql *q;
};

static void sql_reply_cb(void *arg, int status, struct strbuf *body)
{
	struct http_pending *p = arg;

	evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	reply_sb(p->req, status, "application/json; charset=utf-8", body);
	free(p);
}

/* The peer left (or timed out) before the answer: stop the statement. */
static void sql_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct http_pending *p = arg;

	(void)evcon;
	json_sql_cancel(p->q);
	free(p);
}

static void serve_sql(struct http_server *hs, struct evhttp_request *req, const struct http_param *params, int n)
{
	struct http_pending *p = calloc(1, sizeof(*p));
	struct strbuf sb;
	int code = 503;

	sb_init(&sb, 0);
	if (!p)
		code = json_api_error(&sb, 503, "out of memory");
	else if ((p->q = json_sql_start(hs->s, params, n, sql_reply_cb, p, &sb, &code))) {
		p->req = req;
		p->evcon = evhttp_request_get_connection(req);
		evhttp_connection_set_closecb(p->evcon, sql_closed_cb, p);
		sb_free(&sb);
		return; /* answered by sql_reply_cb */
	}
	free(p);
	reply_sb(req, code, "application/json; charset=utf-8", &sb);
	sb_free(&sb);
}

static void serve_api(struct http_server *hs, struct evhttp_request *req, const char *rest)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv = { 0 };
	struct http_param params[MAX_PARAMS];
	struct evkeyval *it;
	struct strbuf sb;
	int n = 0, code;

	kv.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h>, whose LIST_INIT util/list.h also names */
	kv.tqh_last = &kv.tqh_first;
	if (q && evhttp_parse_query_str(q, &kv) != 0) {
		reply_text(req, 400, "malformed query string\n");
		return;
	}
	for (it = kv.tqh_first; it; it = it->next.tqe_next) {
		if (n == MAX_PARAMS)
			break;
		params[n++] = (struct http_param){ it->key, it->value };
	}
	sb_init(&sb, 0);
	if (it)
		code = json_api_error(&sb, 400, "too many parameters");
	else if (!strcmp(rest, "sql")) {
		serve_sql(hs, req, params, n);
		sb_free(&sb);
		evhttp_clear_headers(&kv);
		return;
	} else
		code = json_api(hs->s, rest, params, n, &sb);
	reply_sb(req, code, "application/json; charset=utf-8", &sb);
	sb_free(&sb);
	evhttp_clear_headers(&kv);
}

static void route(struct http_server *hs, struct evhttp_request *req, const char *path)
{
	const struct asset *a;

	if (!strcmp(path, "/metrics"))
		serve_metrics(hs, req);
	else if (!strncmp(path, "/api/v1/", 8))
		serve_api(hs, req, path + 8);
	else if (!strcmp(path, "/healthz"))
		reply_text(req, hs->s->shutdown ? 503 : 200, hs->s->shutdown ? "draining\n" : "ok\n");
	else if ((a = dashboard_asset(path))) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Security-Policy",
				  "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
		reply(req, 200, a->type, (const char *)a->data, a->len);
	} else
		reply_text(req, 404, "not found\n");
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *hs = arg;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char *path;

	sift_now(hs->s);
	conn_touch(hs, req);
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply_text(req, 405, "only GET and HEAD\n");
		return;
	}
	if (!(path = clean_path(evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req))))) {
		reply_text(req, 400, "malformed path\n");
		return;
	}
	if (hs->s->cfg.http_auth == HTTP_AUTH_BASIC &&
	    !auth_check(hs, evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"))) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Basic realm=\"pgsift\", charset=\"UTF-8\"");
		reply_text(req, 401, "authentication needed: a user of admin_users or stats_users\n");
	} else
		route(hs, req, path);
	free(path);
}

/* ---- start and stop ---- */

static struct evconnlistener *listen_on(struct sift *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	const char *addr = s->cfg.http_listen_addr;
	struct evconnlistener *lev = NULL;
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", s->cfg.http_port);
	if (!addr || !*addr || !strcmp(addr, "*"))
		addr = "0.0.0.0";
	if ((rc = getaddrinfo(addr, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "http_listen_addr %s: %s", addr, gai_strerror(rc));
		return NULL;
	}
	lev = evconnlistener_new_bind(s->base, NULL, NULL,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 128,
				      res->ai_addr, (int)res->ai_addrlen);
	if (!lev)
		snprintf(err, errlen, "http_listen_addr %s port %s: %s", addr, port, strerror(errno));
	freeaddrinfo(res);
	return lev;
}

static bool http_setup(struct sift *s, struct http_server *hs, char *err, size_t errlen)
{
	struct timeval tv = { (time_t)(s->cfg.http_timeout / 1000000), (suseconds_t)(s->cfg.http_timeout % 1000000) };
	struct timeval sw = { 0, SWEEP_MS * 1000 };

	if (s->cfg.http_tls && !(hs->tls = tls_server_ctx(&s->cfg, err, errlen)))
		return false;
	hs->max = s->cfg.http_max_connections;
	if (!(hs->conns = calloc((size_t)hs->max, sizeof(*hs->conns))) || !(hs->http = evhttp_new(s->base)) ||
	    !(hs->sweep = event_new(s->base, -1, EV_PERSIST, sweep_cb, hs)) || event_add(hs->sweep, &sw) != 0) {
		snprintf(err, errlen, "out of memory for the HTTP listener");
		return false;
	}
	if (!(hs->lev = listen_on(s, err, errlen)))
		return false;
	if (s->cfg.http_timeout > 0)
		evhttp_set_timeout_tv(hs->http, &tv);
	evhttp_set_max_headers_size(hs->http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(hs->http, MAX_BODY_SIZE);
	evhttp_set_gencb(hs->http, request_cb, hs);
	evhttp_set_bevcb(hs->http, bev_cb, hs);
	if (!evhttp_bind_listener(hs->http, hs->lev)) {
		evconnlistener_free(hs->lev);
		hs->lev = NULL;
		snprintf(err, errlen, "cannot start the HTTP server");
		return false;
	}
	return true; /* evhttp owns hs->lev now, and frees it */
}

bool http_start(struct sift *s, char *err, size_t errlen)
{
	struct http_server *hs;

	if (s->cfg.http_port == 0)
		return true;
	if (s->cfg.http_tls && (!s->cfg.client_tls_key_file || !*s->cfg.client_tls_key_file)) {
		snprintf(err, errlen, "http_tls needs client_tls_key_file and client_tls_cert_file");
		return false;
	}
	if (!(hs = calloc(1, sizeof(*hs)))) {
		snprintf(err, errlen, "out of memory for the HTTP listener");
		return false;
	}
	hs->s = s;
	s->http = hs;
	if (!http_setup(s, hs, err, errlen)) {
		http_stop(s);
		return false;
	}
	log_info("HTTP listener on %s port %d%s: /metrics, /api/v1/, the dashboard at /", s->cfg.http_listen_addr,
		 s->cfg.http_port, hs->tls ? " (TLS)" : "");
	return true;
}

void http_stop(struct sift *s)
{
	struct http_server *hs = s->http;

	if (!hs)
		return;
	if (hs->http)
		evhttp_free(hs->http); /* the connections and the listener */
	for (int i = 0; hs->conns && i < hs->max; i++)
		if (hs->conns[i].bev)
			bufferevent_decref(hs->conns[i].bev);
	if (hs->sweep)
		event_free(hs->sweep);
	free(hs->conns);
	tls_ctx_free(hs->tls);
	free(hs);
	s->http = NULL;
}
