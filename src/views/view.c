/*
 * view: the parts of view.h that need no view in particular (the row call,
 * lookups, type names), so that a program with views of its own (the SQL
 * fuzz target) links them without the registry.
 */
#include "views/view.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

double view_val_num(const struct view_val *x, char type)
{
	switch (x->kind) {
	case VK_INT:
		return type == 'N' ? (double)(uint64_t)x->u.i : (double)x->u.i;
	case VK_DOUBLE:
		return x->u.d;
	default:
		return NAN;
	}
}
