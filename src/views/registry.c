/*
 * registry: the list of views, the row call every producer uses, and the
 * two views about views (`views`, `columns`), for \d-style discovery in SQL.
 */
#include "views/view.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "views/families.h"

void view_row(struct view_sink *sink, ...)
{
	const struct view *v = sink->view;
	struct view_val vals[VIEW_MAX_COLS];
	va_list ap;

	va_start(ap, sink);
	for (int c = 0; c < v->ncols; c++) {
		struct view_val *x = &vals[c];
		x->kind = VK_INT;
		switch (v->cols[c].type) {
		case 'i':
		case 'b':
			x->u.i = va_arg(ap, int);
			break;
		case 'I':
			x->u.i = va_arg(ap, int);
			if (x->u.i < 0)
				x->kind = VK_NULL;
			break;
		case 'q':
		case 'T':
			x->u.i = va_arg(ap, int64_t);
			if (v->cols[c].type == 'T' && x->u.i == 0)
				x->kind = VK_NULL;
			break;
		case 'N':
			x->u.i = (int64_t)va_arg(ap, uint64_t);
			break;
		case 'D':
			x->kind = VK_DOUBLE;
			x->u.d = va_arg(ap, double);
			break;
		default:
			x->u.s = va_arg(ap, const char *);
			x->kind = x->u.s ? VK_TEXT : VK_NULL;
			break;
		}
	}
	va_end(ap);
	sink->row(sink, vals);
	sink->nrows++;
}

void view_fmt_time(int64_t wall_usec, char *out, size_t outlen)
{
	time_t t = (time_t)(wall_usec / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

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

/* The wire type SHOW announces for a column type letter. */
const char *view_show_type(char t)
{
	switch (t) {
	case 'i':
	case 'I':
		return "int4";
	case 'q':
		return "int8";
	case 'N':
	case 'D':
		return "numeric";
	case 'b':
		return "bool";
	default:
		return "text";
	}
}

/* The type a SELECT returns for a column of that letter. */
const char *view_sql_type(char t)
{
	switch (t) {
	case 'i':
	case 'I':
	case 'q':
	case 'N':
		return "int8";
	case 'D':
		return "float8";
	case 'T':
		return "timestamptz";
	case 'b':
		return "bool";
	default:
		return "text";
	}
}

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
	&view_stats_totals, &view_stats_averages, &view_lists, &view_users, &view_queries, &view_analyzer,
	&view_prepared_statements, &view_pool_advice, &view_nplusone, &view_slow, &view_slow_plans, &view_hazards,
	&view_query_history, &view_pool_history, &view_query_histogram, &view_pool_histogram, &view_process,
	&view_views, &view_columns, NULL,
};

const struct view *view_find(const char *name)
{
	for (int i = 0; view_all[i]; i++)
		if (strcasecmp(view_all[i]->name, name) == 0)
			return view_all[i];
	return NULL;
}

int view_col_index(const struct view *v, const char *name)
{
	for (int c = 0; c < v->ncols; c++)
		if (strcasecmp(v->cols[c].name, name) == 0)
			return c;
	return -1;
}

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
