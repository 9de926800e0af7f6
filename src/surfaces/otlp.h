/*
 * otlp: sends pgsift's spans (pooler/trace.h) to an OpenTelemetry
 * collector, OTLP over HTTP with the JSON encoding, on libevent's own HTTP
 * client (evhttp) in the event loop. doc/tracing.md.
 *
 * Off the relay's path: a timer (otlp_flush_interval), or the tracer's
 * kick when otlp_batch_spans are queued, takes one batch off the queue and
 * POSTs it to otlp_endpoint; one request is in flight at a time. While it
 * is, new spans wait in the bounded queue, which drops (and counts) what
 * does not fit: a slow or absent collector loses spans, it never slows a
 * client. 429, 502, 503, 504 and failed connections are retried with
 * exponential backoff (Retry-After honoured, within OTLP_RETRY_MAX_USEC),
 * at most OTLP_ATTEMPTS times; then the batch is dropped. https:// URLs use
 * the server TLS CA settings (server_tls_ca_file) to check the collector.
 */
#ifndef PGSIFT_OTLP_H
#define PGSIFT_OTLP_H

#include <stdbool.h>
#include <stddef.h>

struct sift;

/* Starts the exporter's timer (s->otlp). false when out of memory. */
bool otlp_start(struct sift *s) __attribute__((warn_unused_result));

/* Stops it: a request in flight is abandoned; frees s->otlp. */
void otlp_stop(struct sift *s);

#endif
