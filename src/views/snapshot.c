/*
 * snapshot: see snapshot.h.
 */
#include "views/snapshot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN (64u << 10)

struct snap_block {
	struct snap_block *next;
	size_t used, cap;
	char data[];
};

/* A stable copy of s inside the snapshot, or NULL (sn->failed set). */
static const char *copy_text(struct view_snap *sn, const char *s)
{
	size_t n = strlen(s) + 1;
	struct snap_block *b = sn->blocks;
	char *p;

	if (!b || b->cap - b->used < n) {
		size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
		if (sn->bytes + cap > sn->max_bytes || !(b = malloc(sizeof(*b) + cap))) {
			sn->failed = true;
			return NULL;
		}
		b->used = 0;
		b->cap = cap;
		b->next = sn->blocks;
		sn->blocks = b;
		sn->bytes += sizeof(*b) + cap;
	}
	p = b->data + b->used;
	memcpy(p, s, n);
	b->used += n;
	return p;
}

static bool grow_rows(struct view_snap *sn, size_t ncols)
{
	uint32_t ncap = sn->cap ? sn->cap * 2 : 64;
	size_t add = (size_t)(ncap - sn->cap) * ncols * sizeof(struct view_val);
	struct view_val *v;

	if (sn->bytes + add > sn->max_bytes || !(v = realloc(sn->vals, (size_t)ncap * ncols * sizeof(*v))))
		return false;
	sn->vals = v;
	sn->cap = ncap;
	sn->bytes += add;
	return true;
}

static void snap_row_cb(struct view_sink *sink, const struct view_val *vals)
{
	struct view_snap *sn = (struct view_snap *)sink; /* sink is the first member */
	int ncols = sink->view->ncols;
	struct view_val *dst;

	if (sn->failed || (sn->keep && !sn->keep(sn->keep_arg, sink->view, vals)))
		return;
	if (sn->nrows == sn->cap && !grow_rows(sn, (size_t)ncols)) {
		sn->failed = true;
		return;
	}
	dst = &sn->vals[(size_t)sn->nrows * (size_t)ncols];
	memcpy(dst, vals, (size_t)ncols * sizeof(*dst));
	for (int c = 0; c < ncols; c++)
		if (dst[c].kind == VK_TEXT && !(dst[c].u.s = copy_text(sn, vals[c].u.s)))
			return;
	sn->nrows++;
}

void view_snap_init(struct view_snap *sn, const struct view *v, size_t max_bytes)
{
	memset(sn, 0, sizeof(*sn));
	sn->sink.view = v;
	sn->sink.row = snap_row_cb;
	sn->sink.unordered = true; /* SQL orders what it needs */
	sn->max_bytes = max_bytes;
}

bool view_snap_take(struct view_snap *sn, struct sift *s)
{
	sn->sink.view->rows(s, &sn->sink);
	return !sn->failed;
}

bool view_snap_of(struct view_snap *sn, struct sift *s, const struct view *v, size_t max_bytes)
{
	bool (*keep)(void *, const struct view *, const struct view_val *) = sn->keep;
	void *arg = sn->keep_arg;

	view_snap_init(sn, v, max_bytes ? max_bytes : SIZE_MAX);
	sn->keep = keep;
	sn->keep_arg = arg;
	sn->sink.unordered = false;
	return view_snap_take(sn, s);
}

void view_snap_free(struct view_snap *sn)
{
	while (sn->blocks) {
		struct snap_block *b = sn->blocks;
		sn->blocks = b->next;
		free(b);
	}
	free(sn->vals);
	sn->vals = NULL;
	sn->nrows = sn->cap = 0;
	sn->bytes = 0;
}
