/*
 * snapshot: a copy of a view's rows, taken on the event loop and read
 * later by someone else (the console's SQL worker thread), so a reader
 * never touches live objects and the loop never waits for a reader.
 *
 * Values are copied, text included (into blocks owned by the snapshot), up
 * to max_bytes: past that the snapshot is marked failed and takes no more
 * rows. A snapshot is plain memory: once taken, any thread may read it,
 * and one thread frees it. The surfaces that render views (SQL, /metrics,
 * the JSON API) all read them through snapshots.
 */
#ifndef PGSIFT_VIEWS_SNAPSHOT_H
#define PGSIFT_VIEWS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "views/view.h"

struct snap_block;

struct view_snap {
	struct view_sink sink;		/* view_row(&snap->sink, ...) adds a row */
	struct view_val *vals;		/* nrows * view->ncols */
	uint32_t nrows, cap;
	struct snap_block *blocks;	/* text copies */
	size_t bytes, max_bytes;
	bool failed;			/* over max_bytes or out of memory: rows are missing */
	/* optional: rows for which keep() is false are not copied */
	bool (*keep)(void *arg, const struct view *v, const struct view_val *vals);
	void *keep_arg;
};

/* An empty snapshot of v that will hold at most max_bytes. Cannot fail. */
void view_snap_init(struct view_snap *sn, const struct view *v, size_t max_bytes);

/* Takes every row of the view from the live context s. false (and
 * sn->failed) when the rows did not fit in max_bytes or memory ran out. */
bool view_snap_take(struct view_snap *sn, struct sift *s) __attribute__((warn_unused_result));

/* Both at once, keeping the keep filter set beforehand in sn, and the
 * rows in the order the view gives them (SHOW's). max_bytes 0: no bound.
 * view_snap_free() it in any case. */
bool view_snap_of(struct view_snap *sn, struct sift *s, const struct view *v, size_t max_bytes)
	__attribute__((warn_unused_result));

/* Row r's values (r < nrows). */
static inline const struct view_val *view_snap_row(const struct view_snap *sn, uint32_t r)
{
	return &sn->vals[(size_t)r * (size_t)sn->sink.view->ncols];
}

void view_snap_free(struct view_snap *sn);

#endif
