/*
 * otlp: see otlp.h.
 */
#include "surfaces/otlp.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/sift.h"
#include "pooler/trace.h"
#include "util/log.h"
#include "util/strbuf.h"

#define OTLP_ATTEMPTS 5				/* tries of one batch */
#define OTLP_RETRY_BASE_USEC 500000LL		/* first backoff; doubled per try */
#define OTLP_RETRY_MAX_USEC (30 * 1000000LL)	/* longest wait, Retry-After included */
#define OTLP_BODY_MAX (64u << 20)		/* a batch's JSON, at most */

struct otlp_exporter {
	struct sift *s;
	struct event *timer, *kick, *retry;
	struct evhttp_connection *conn;
	struct evhttp_uri *uri;
	char *url;			/* the otlp_endpoint conn was made for */
	bool stale;			/* the last request failed: connect afresh */
	SSL_CTX *tls;
	char *tls_ca;			/* the server_tls_ca_file tls was made with */
	bool busy;			/* a request in flight */
	struct strbuf batch;		/* the batch being sent (kept for retries) */
	uint32_t batch_n;
	int attempt;
	bool retry_wait;		/* a retry is scheduled */
	int64_t interval;		/* the timer's period, usec */
};

static void arm_timer(struct otlp_exporter *o)
{
	int64_t us = o->s->cfg.otlp_flush_interval > 0 ? o->s->cfg.otlp_flush_interval : 1000000;
	struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };

	o->interval = us;
	if (event_add(o->timer, &tv) != 0)
		log_error("otlp: cannot arm the flush timer");
}

static void conn_drop(struct otlp_exporter *o)
{
	if (o->conn)
		evhttp_connection_free(o->conn);
	o->conn = NULL;
	if (o->uri)
		evhttp_uri_free(o->uri);
	o->uri = NULL;
	free(o->url);
	o->url = NULL;
}

static SSL_CTX *tls_ctx(struct otlp_exporter *o)
{
	const char *ca = o->s->cfg.server_tls_ca_file ? o->s->cfg.server_tls_ca_file : "";

	if (o->tls && o->tls_ca && strcmp(o->tls_ca, ca) == 0)
		return o->tls;
	SSL_CTX_free(o->tls); /* the CA setting changed (RELOAD, SET): read it again */
	o->tls = NULL;
	free(o->tls_ca);
	o->tls_ca = strdup(ca);
	if (!o->tls_ca || !(o->tls = SSL_CTX_new(TLS_client_method())))
		return NULL;
	SSL_CTX_set_verify(o->tls, SSL_VERIFY_PEER, NULL);
	if (!(ca && *ca ? SSL_CTX_load_verify_locations(o->tls, ca, NULL) : SSL_CTX_set_default_verify_paths(o->tls)))
		log_warning("otlp: cannot load the CA certificates %s", ca && *ca ? ca : "(system default)");
	return o->tls;
}

/* A bufferevent for an https:// collector, checked against its host name. */
static struct bufferevent *tls_bev(struct otlp_exporter *o, const char *host)
{
	SSL_CTX *ctx = tls_ctx(o);
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;

	if (!ssl)
		return NULL;
	/* the certificate must name the host: an IP address as such */
	if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)) {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	return bufferevent_openssl_socket_new(o->s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
}

/* The connection for the current otlp_endpoint (made again when it changed). */
static bool conn_get(struct otlp_exporter *o)
{
	const char *url = o->s->cfg.otlp_endpoint, *scheme, *host;
	struct bufferevent *bev = NULL;
	bool https;
	int port;

	/* a failed connection (a refused certificate, say) is not reused */
	if (o->conn && o->url && strcmp(o->url, url) == 0 && !o->stale)
		return true;
	o->stale = false;
	conn_drop(o);
	if (!(o->uri = evhttp_uri_parse(url)) || !(scheme = evhttp_uri_get_scheme(o->uri)) ||
	    !(host = evhttp_uri_get_host(o->uri)) || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		log_warning("otlp: otlp_endpoint \"%s\" is not an http:// or https:// URL", url);
		conn_drop(o);
		return false;
	}
	https = strcmp(scheme, "https") == 0;
	port = evhttp_uri_get_port(o->uri);
	if (port < 0)
		port = https ? 443 : 80;
	if (https && !(bev = tls_bev(o, host))) {
		conn_drop(o);
		return false;
	}
	o->conn = evhttp_connection_base_bufferevent_new(o->s->base, NULL, bev, host, (unsigned short)port);
	o->url = strdup(url);
	if (!o->conn || !o->url) {
		conn_drop(o);
		return false;
	}
	return true;
}

static void batch_done(struct otlp_exporter *o)
{
	sb_clear(&o->batch);
	o->batch_n = 0;
	o->attempt = 0;
}

/* The wait before the next try: Retry-After (seconds) when the collector
 * gave one, else exponential backoff with jitter. */
static int64_t backoff(struct otlp_exporter *o, struct evhttp_request *req)
{
	const char *ra = req ? evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After") : NULL;
	int64_t us = OTLP_RETRY_BASE_USEC << (o->attempt - 1);
	char *end;
	long secs;

	if (ra && (secs = strtol(ra, &end, 10)) >= 0 && end != ra && !*end)
		us = (int64_t)secs * 1000000;
	else
		us += (int64_t)(random() % (us / 2 + 1));
	return us < OTLP_RETRY_MAX_USEC ? us : OTLP_RETRY_MAX_USEC;
}

static bool retryable(int code)
{
	return code == 0 || code == 429 || code == 502 || code == 503 || code == 504;
}

static void send_batch(struct otlp_exporter *o);

static void done_cb(struct evhttp_request *req, void *arg)
{
	struct otlp_exporter *o = arg;
	struct tracer *t = o->s->an.tr;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	int64_t us;

	o->busy = false;
	if (!t) {
		batch_done(o);
		return;
	}
	if (code >= 200 && code < 300) {
		t->exported += o->batch_n;
		batch_done(o);
		if (t->n >= (uint32_t)o->s->cfg.otlp_batch_spans)
			event_active(o->kick, EV_TIMEOUT, 0);
		return;
	}
	t->export_errors++;
	if (code == 0)
		o->stale = true;
	if (!retryable(code) || o->attempt >= OTLP_ATTEMPTS) {
		log_warning("otlp: %s answered %d; %u spans dropped", o->url ? o->url : "collector", code, o->batch_n);
		t->dropped += o->batch_n;
		batch_done(o);
		return;
	}
	us = backoff(o, req);
	log_debug("otlp: %s answered %d; retrying in %lld ms", o->url ? o->url : "collector", code,
		  (long long)(us / 1000));
	o->retry_wait = event_add(o->retry, &(struct timeval){ (time_t)(us / 1000000), (suseconds_t)(us % 1000000) }) == 0;
}

/* The Host header: an IPv6 address in brackets, the port unless the
 * scheme's. */
static void host_header(const struct evhttp_uri *uri, char *out, size_t n)
{
	const char *host = evhttp_uri_get_host(uri);
	bool v6 = strchr(host, ':') != NULL;
	int port = evhttp_uri_get_port(uri);

	if (port < 0)
		snprintf(out, n, v6 ? "[%s]" : "%s", host);
	else
		snprintf(out, n, v6 ? "[%s]:%d" : "%s:%d", host, port);
}

static void send_batch(struct otlp_exporter *o)
{
	struct evhttp_request *req;
	const char *path;
	char hostport[300];

	if (!conn_get(o) || !(req = evhttp_request_new(done_cb, o))) {
		o->s->an.tr->export_errors++;
		o->s->an.tr->dropped += o->batch_n;
		batch_done(o);
		return;
	}
	evhttp_connection_set_timeout(o->conn, (int)((o->s->cfg.otlp_timeout + 999999) / 1000000));
	path = evhttp_uri_get_path(o->uri);
	host_header(o->uri, hostport, sizeof(hostport));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", hostport);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), o->batch.p, o->batch.len);
	o->attempt++;
	if (evhttp_make_request(o->conn, req, EVHTTP_REQ_POST, path && *path ? path : "/v1/traces") != 0) {
		/* the request was freed by libevent */
		o->s->an.tr->export_errors++;
		o->s->an.tr->dropped += o->batch_n;
		batch_done(o);
		return;
	}
	o->busy = true;
}

/* Timer, kick or retry: sends the pending batch, or the next one. */
static void flush(struct otlp_exporter *o)
{
	struct sift *s = o->s;
	struct tracer *t = s->an.tr;

	if (!t)
		return;
	t->kick = o->kick;
	if (o->busy || o->retry_wait)
		return;
	if (!o->batch_n) {
		if (!tr_on(s) || !t->n)
			return;
		sb_clear(&o->batch);
		if (!tr_encode(s, &o->batch, (uint32_t)s->cfg.otlp_batch_spans, &o->batch_n) || !o->batch_n)
			return;
		if (o->batch.failed) {
			t->export_errors++;
			t->dropped += o->batch_n;
			batch_done(o);
			return;
		}
	}
	send_batch(o);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct otlp_exporter *o = arg;

	(void)fd;
	(void)what;
	sift_now(o->s);
	flush(o);
	arm_timer(o); /* otlp_flush_interval may have changed */
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct otlp_exporter *o = arg;

	(void)fd;
	(void)what;
	o->retry_wait = false;
	flush(o);
}

bool otlp_start(struct sift *s)
{
	struct otlp_exporter *o = calloc(1, sizeof(*o));

	if (!o)
		return false;
	o->s = s;
	sb_init(&o->batch, OTLP_BODY_MAX);
	o->timer = event_new(s->base, -1, 0, timer_cb, o);
	o->kick = event_new(s->base, -1, 0, kick_cb, o);
	o->retry = event_new(s->base, -1, 0, retry_cb, o);
	s->otlp = o;
	if (!o->timer || !o->kick || !o->retry) {
		otlp_stop(s);
		return false;
	}
	arm_timer(o);
	return true;
}

void otlp_stop(struct sift *s)
{
	struct otlp_exporter *o = s->otlp;

	if (!o)
		return;
	if (s->an.tr)
		s->an.tr->kick = NULL;
	conn_drop(o); /* a request in flight is cancelled: its callback gets NULL */
	if (o->timer)
		event_free(o->timer);
	if (o->kick)
		event_free(o->kick);
	if (o->retry)
		event_free(o->retry);
	SSL_CTX_free(o->tls);
	free(o->tls_ca);
	sb_free(&o->batch);
	free(o);
	s->otlp = NULL;
}
