/*
 * http: the HTTP listener (http_port), on libevent's own HTTP server
 * (evhttp) in the event loop: /metrics (surfaces/metrics.c), the JSON API
 * (surfaces/json_api.c), the dashboard (surfaces/dashboard.c) and
 * /healthz. doc/metrics.md.
 *
 * It never blocks the relay: requests are answered from the views in one
 * callback each (a /metrics at 100 fingerprints and 50 pools takes well
 * under 10 ms, contrib/bench/metrics.sh), and answers are written by
 * libevent as the peer reads them. Each connection is bounded: at most
 * http_max_connections at once (the listener stops accepting while they
 * are in use, so more wait in the kernel's backlog), a request's headers
 * within 8 KB, a body within 4 KB, and a request (or the answer to it)
 * within http_timeout of the connection's start or its previous request,
 * slowly trickled bytes included. Anything but GET and HEAD gets 405;
 * nothing an HTTP client sends changes pgsift's state. It keeps answering
 * while pgsift drains after SIGTERM or SIGINT and stops with the loop.
 */
#ifndef PGSIFT_HTTP_H
#define PGSIFT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct sift;

/* Opens the listener when http_port is set (s->http). false, with the
 * reason in err, when it cannot (address in use, TLS files that do not
 * load): pgsift does not start then. */
bool http_start(struct sift *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Closes the listener and every HTTP connection; frees s->http. */
void http_stop(struct sift *s);

#endif
