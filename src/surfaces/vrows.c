/*
 * vrows: see vrows.h. While rows arrive, a text value holds its offset in
 * the text buffer (which may move as it grows); the offsets become
 * pointers once every row is in.
 */
#include "surfaces/vrows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void row_cb(struct view_sink *sink, const struct view_val *vals)
{
	struct vrows *r = (struct vrows *)sink;
	int nc = sink->view->ncols;
	struct view_val *dst;

	if (r->failed || (r->keep && !r->keep(r->keep_arg, sink->view, vals)))
		return;
	if (r->nrows == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 64;
		size_t bytes = (size_t)cap * (size_t)nc * sizeof(*dst);
		void *p = (r->max_bytes && bytes + r->text.len > r->max_bytes) ? NULL : realloc(r->vals, bytes);
		if (!p) {
			r->failed = true;
			return;
		}
		r->vals = p;
		r->cap = cap;
	}
	dst = &r->vals[(size_t)r->nrows * (size_t)nc];
	for (int c = 0; c < nc; c++) {
		dst[c] = vals[c];
		if (vals[c].kind != VK_TEXT)
			continue;
		dst[c].u.i = (int64_t)r->text.len;
		sb_add(&r->text, vals[c].u.s, strlen(vals[c].u.s) + 1);
	}
	if (r->text.failed) {
		r->failed = true;
		return;
	}
	r->nrows++;
}

bool vrows_take(struct vrows *r, struct sift *s, const struct view *v, size_t max_bytes)
{
	bool (*keep)(void *, const struct view *, const struct view_val *) = r->keep;
	void *arg = r->keep_arg;

	memset(r, 0, sizeof(*r));
	r->keep = keep;
	r->keep_arg = arg;
	r->sink.view = v;
	r->sink.row = row_cb;
	r->max_bytes = max_bytes;
	sb_init(&r->text, max_bytes);
	v->rows(s, &r->sink);
	for (uint32_t i = 0; i < r->nrows; i++) {
		struct view_val *row = &r->vals[(size_t)i * (size_t)v->ncols];
		for (int c = 0; c < v->ncols; c++)
			if (row[c].kind == VK_TEXT)
				row[c].u.s = r->text.p + row[c].u.i;
	}
	return !r->failed;
}

void vrows_free(struct vrows *r)
{
	free(r->vals);
	sb_free(&r->text);
	r->vals = NULL;
	r->nrows = r->cap = 0;
}

double vrows_num(const struct view_val *x, char type)
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
