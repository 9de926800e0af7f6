/*
 * families: the view declarations, one file per family (pooler.c,
 * pooler_state.c, queries.c, findings.c, history.c, latency.c, registry.c); registry.c
 * lists them.
 * Internal to views/.
 */
#ifndef PGSIFT_VIEWS_FAMILIES_H
#define PGSIFT_VIEWS_FAMILIES_H

#include "views/view.h"

/* pooler.c: PgBouncer's SHOW sets */
extern const struct view view_version, view_config, view_databases, view_pools, view_clients, view_servers,
	view_stats, view_stats_totals, view_stats_averages, view_lists, view_users, view_sockets, view_active_sockets;
/* pooler_state.c: PgBouncer's smaller SHOW sets */
extern const struct view view_state, view_totals, view_mem, view_dns_hosts, view_dns_zones, view_peers,
	view_peer_pools, view_listeners;
/* queries.c: the analyzer's statistics */
extern const struct view view_queries, view_analyzer, view_prepared_statements, view_pool_advice;
/* findings.c */
extern const struct view view_nplusone, view_slow, view_slow_plans, view_hazards;
/* history.c: statistics per time bucket */
extern const struct view view_query_history, view_pool_history;
/* latency.c: the fixed-bucket histograms /metrics exports, the process */
extern const struct view view_query_histogram, view_pool_histogram, view_process;
/* registry.c */
extern const struct view view_views, view_columns;

#endif
