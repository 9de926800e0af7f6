/*
 * vrows: one view's rows copied into memory (texts included), so that a
 * surface can read them more than once, filter, sort and cut them: /metrics
 * renders several families from one view, the JSON API orders and limits.
 * Taken on the event loop from the live objects in one call.
 */
#ifndef PGSIFT_VROWS_H
#define PGSIFT_VROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"
#include "views/view.h"

struct sift;

struct vrows {
	struct view_sink sink;
	struct view_val *vals;		/* nrows * view->ncols; texts point into `text` once taken */
	uint32_t nrows, cap;
	struct strbuf text;		/* the texts, NUL-separated */
	size_t max_bytes;		/* bound on vals + texts; past it `failed` */
	bool failed;			/* out of memory or over max_bytes: rows are missing */
	/* optional: rows for which keep() is false are not kept */
	bool (*keep)(void *arg, const struct view *v, const struct view_val *vals);
	void *keep_arg;
};

/* Takes v's rows from the live context (max_bytes 0: no bound). false when
 * some did not fit (r->failed). Free with vrows_free in any case. */
bool vrows_take(struct vrows *r, struct sift *s, const struct view *v, size_t max_bytes)
	__attribute__((warn_unused_result));

static inline const struct view_val *vrows_row(const struct vrows *r, uint32_t i)
{
	return &r->vals[(size_t)i * (size_t)r->sink.view->ncols];
}

void vrows_free(struct vrows *r);

/* A value as a double (ints and 'N' as numbers, NULL and text as NaN). */
double vrows_num(const struct view_val *x, char type);

#endif
