/*
 * log_events: see log_events.h.
 */
#include "surfaces/log_events.h"

#include <math.h>

#include "pooler/findings.h"
#include "util/log.h"
#include "views/view.h"

struct kv_sink {
	struct view_sink sink;
	const char *event;
};

/* The row's values become the event's fields, named by the columns. */
static void kv_row_cb(struct view_sink *sink, const struct view_val *vals)
{
	const struct view *v = sink->view;
	struct log_kv kv[VIEW_MAX_COLS];
	int n = 0;

	for (int c = 0; c < v->ncols; c++) {
		const struct view_val *x = &vals[c];
		struct log_kv *k = &kv[n];
		k->key = v->cols[c].name;
		if (x->kind == VK_NULL || (x->kind == VK_DOUBLE && !isfinite(x->u.d)))
			continue;
		if (x->kind == VK_TEXT)
			k->type = LKV_STR, k->v.s = x->u.s;
		else if (x->kind == VK_DOUBLE)
			k->type = LKV_DOUBLE, k->v.d = x->u.d;
		else if (v->cols[c].type == 'T')
			k->type = LKV_TIME, k->v.i = x->u.i;
		else if (v->cols[c].type == 'b')
			k->type = LKV_BOOL, k->v.i = x->u.i;
		else
			k->type = LKV_INT, k->v.i = x->u.i;
		n++;
	}
	log_event(LOG_INFO, ((struct kv_sink *)sink)->event, kv, n);
}

void log_events_finding(struct sift *s, int event, const void *obj)
{
	struct kv_sink ks = { { view_of_finding(event), kv_row_cb, 0, false },
			      event == FD_EV_NPLUSONE ? "nplusone" : event == FD_EV_SLOW ? "slow_query" : "hazard" };

	if (log_enabled(LOG_INFO))
		view_finding_row(s, &ks.sink, event, obj);
}
