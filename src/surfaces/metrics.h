/*
 * metrics: GET /metrics, rendered from the views (doc/metrics.md).
 *
 * PgBouncer's numbers under pgbouncer_exporter's names with a pgsift_
 * prefix (and, with metrics_pgbouncer_names, under the exporter's own
 * names too, so an existing dashboard works unchanged); pgsift's own:
 * latency histograms per pool and per statement shape (the top
 * metrics_top_fingerprints by total time, the rest under
 * fingerprint="other"), pgsift_query_info, the findings, the advisor, the
 * prepared statement cache, the analyzer, and process_* about the process.
 * Counters end in _total, times are in seconds. The number of series is
 * bounded by the settings and the configuration, never by the traffic:
 * doc/metrics.md gives the bound.
 */
#ifndef PGSIFT_METRICS_H
#define PGSIFT_METRICS_H

#include <stdbool.h>

#include "util/strbuf.h"

struct sift;

/* Appends the exposition to out: the Prometheus text format 0.0.4, or
 * OpenMetrics 1.0 (ending in "# EOF") when openmetrics. Returns the
 * number of samples written. */
unsigned metrics_render(struct sift *s, struct strbuf *out, bool openmetrics);

#endif
