/*
 * registry: the list of views, and the two views about views (`views`,
 * `columns`), for \d-style discovery in SQL.
 */
#include <stdio.h>

#include "views/families.h"

/* ---- views about views ---- */

static const struct view_col views_cols[] = {
	{ "name", 's', "", "The view's name: `SHOW NAME` and `SELECT ... FROM name`." },
	{ "columns", 'i', "count", "Number of columns." },
	{ "description", 's', "", "What one row is." },
};

static void views_rows(struct sift *s, struct view_sink *sink)
{
	(void)s;
	for (int i = 0; view_all[i]; i++)
		view_row(sink, view_all[i]->name, view_all[i]->ncols, view_all[i]->doc);
}

const struct view view_views = { "views", "One row per view the console can show and query.", views_cols,
				 VIEW_NCOLS(views_cols), views_rows };

static const struct view_col columns_cols[] = {
	{ "view", 's', "", "The view the column belongs to." },
	{ "position", 'i', "", "1 for the first column." },
	{ "name", 's', "", "Column name." },
	{ "show_type", 's', "", "Type in `SHOW`'s RowDescription (PgBouncer's wire types)." },
	{ "sql_type", 's', "", "Type in a `SELECT`'s RowDescription." },
	{ "unit", 's', "", "Unit of the value (`ms`, `us`, `s`, `bytes`, `count`, `time`...), or empty." },
	{ "description", 's', "", "What the column means." },
};

static void columns_rows(struct sift *s, struct view_sink *sink)
{
	(void)s;
	for (int i = 0; view_all[i]; i++)
		for (int c = 0; c < view_all[i]->ncols; c++) {
			const struct view_col *col = &view_all[i]->cols[c];
			view_row(sink, view_all[i]->name, c + 1, col->name, view_show_type(col->type),
				 view_sql_type(col->type), col->unit, col->doc);
		}
}

const struct view view_columns = { "columns", "One row per column of every view.", columns_cols,
				   VIEW_NCOLS(columns_cols), columns_rows };

/* ---- the registry ---- */

const struct view *const view_all[] = {
	&view_version, &view_config, &view_databases, &view_pools, &view_clients, &view_servers, &view_stats,
	&view_stats_totals, &view_stats_averages, &view_lists, &view_users, &view_sockets, &view_active_sockets,
	&view_state, &view_totals, &view_mem, &view_dns_hosts, &view_dns_zones, &view_peers, &view_peer_pools,
	&view_queries, &view_analyzer,
	&view_prepared_statements, &view_listeners, &view_pool_advice, &view_nplusone, &view_slow, &view_slow_plans, &view_hazards,
	&view_query_history, &view_pool_history, &view_query_histogram, &view_pool_histogram, &view_process,
	&view_views, &view_columns, NULL,
};

/* Markdown for doc/admin.md: one table per view, between markers that
 * test/check-docs.sh compares with this output. */
void view_describe(FILE *f)
{
	for (int i = 0; view_all[i]; i++) {
		const struct view *v = view_all[i];
		fprintf(f, "<!-- view %s -->\n| column | SHOW type | SQL type | unit | meaning |\n|---|---|---|---|---|\n",
			v->name);
		for (int c = 0; c < v->ncols; c++)
			fprintf(f, "| %s | %s | %s | %s | %s |\n", v->cols[c].name, view_show_type(v->cols[c].type),
				view_sql_type(v->cols[c].type), v->cols[c].unit, v->cols[c].doc);
		fprintf(f, "<!-- /view -->\n");
	}
}
