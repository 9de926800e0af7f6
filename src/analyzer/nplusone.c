/*
 * nplusone: see nplusone.h.
 */
#include "analyzer/nplusone.h"

#include <stdlib.h>
#include <string.h>

void np_init(struct np_state *st)
{
	memset(st, 0, sizeof(*st));
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

/* The unit's application? Its name is compared only when the id is not
 * the one it was last matched by. */
static bool same_app(struct np_state *st, const struct np_stmt *s)
{
	if (s->app_id && s->app_id == st->app_id)
		return true;
	if (strncmp(st->app, s->app ? s->app : "", NP_APP_LEN - 1) != 0)
		return false;
	st->app_id = s->app_id;
	return true;
}

static struct np_shape *shape_of(struct np_state *st, uint64_t fp)
{
	for (uint32_t i = 0; i < st->nshapes; i++)
		if (st->shapes[i].fp == fp)
			return &st->shapes[i];
	return NULL;
}

static uint64_t span(int64_t first, int64_t last)
{
	return last > first ? (uint64_t)(last - first) : 0;
}

/* The current run is over: report it when long enough and it has a source. */
void np_run_close(struct np_state *st, const struct np_conf *cf, np_emit_fn *emit, void *arg)
{
	if (st->run_len >= cf->min_repeats && st->run_source) {
		struct np_hit h = { .kind = NP_RUN, .source_fp = st->run_source, .fp = st->run_fp,
				    .count = st->run_len, .rep_us = st->run_us,
				    .wall_us = span(st->run_first, st->run_last), .app = st->app };
		struct np_shape *sh = shape_of(st, st->run_fp);
		if (sh)
			sh->in_run = true;
		emit(arg, &h);
	}
	st->run_len = 0;
}

void np_end_unit(struct np_state *st, const struct np_conf *cf, np_emit_fn *emit, void *arg)
{
	struct np_shape *anchor;

	if (!st->active)
		return;
	np_run_close(st, cf, emit, arg);
	anchor = st->anchor ? shape_of(st, st->anchor) : NULL;
	if (anchor && anchor->count == 1 && cf->min_repeats) {
		for (uint32_t i = 0; i < st->nshapes; i++) {
			const struct np_shape *sh = &st->shapes[i];
			if (sh->fp != st->anchor && !sh->in_run && sh->count >= cf->min_repeats) {
				struct np_hit h = { .kind = NP_REPEAT, .source_fp = st->anchor, .fp = sh->fp,
						    .count = sh->count, .rep_us = sh->rep_us,
						    .wall_us = span(sh->first, sh->last), .app = st->app };
				emit(arg, &h);
			}
		}
		for (uint32_t i = 0; i < st->ndups; i++) {
			const struct np_dup *d = &st->dups[i];
			if (d->count >= 2) {
				struct np_hit h = { .kind = NP_DUP, .source_fp = st->anchor, .fp = d->fp,
						    .count = d->count, .rep_us = d->rep_us,
						    .wall_us = span(d->first, d->last), .app = st->app };
				emit(arg, &h);
			}
		}
	}
	/* the dup bits: the words of a few pairs cleared one by one (a unit
	 * of a transaction has one or two), else all */
	if (st->ndups <= 4) {
		for (uint32_t i = 0; i < st->ndups; i++)
			st->dup_bits[np_dup_hash(st->dups[i].fp, st->dups[i].phash) >> 60] = 0;
	} else {
		memset(st->dup_bits, 0, sizeof(st->dup_bits));
	}
	st->active = false;
	st->nshapes = st->ndups = st->nstmts = 0;
	st->anchor = st->prev_fp = 0;
	st->prev_select = false;
	st->run_len = 0;
}

static void start_unit(struct np_state *st, const struct np_stmt *s)
{
	st->active = true;
	st->trace = s->trace;
	if (!s->app_id || s->app_id != st->app_id) /* else app already holds its name */
		copy_str(st->app, sizeof(st->app), s->app);
	st->app_id = s->app_id;
}

/* Does this statement begin a new unit? */
static bool unit_breaks(struct np_state *st, const struct np_conf *cf, const struct np_stmt *s)
{
	if (!st->active)
		return false;
	if (s->trace != st->trace || !same_app(st, s))
		return true;
	return !st->in_txn && s->sent - st->last_end > cf->think_us;
}

void np_unit_step(struct np_state *st, const struct np_conf *cf, const struct np_stmt *s, np_emit_fn *emit,
		  void *arg)
{
	if (unit_breaks(st, cf, s))
		np_end_unit(st, cf, emit, arg);
	if (!st->active)
		start_unit(st, s);
}

struct np_shape *np_shape_new(struct np_state *st, uint64_t fp)
{
	if (st->nshapes == NP_UNIT_SHAPES)
		return NULL;
	st->shapes[st->nshapes] = (struct np_shape){ .fp = fp };
	return &st->shapes[st->nshapes++];
}

struct np_dup *np_dup_find(struct np_state *st, uint64_t fp, uint64_t phash, uint64_t *word, uint64_t bit)
{
	if (*word & bit) {
		for (uint32_t i = 0; i < st->ndups; i++)
			if (st->dups[i].fp == fp && st->dups[i].phash == phash)
				return &st->dups[i];
	}
	if (st->ndups == NP_UNIT_DUPS)
		return NULL;
	*word |= bit;
	st->dups[st->ndups] = (struct np_dup){ .fp = fp, .phash = phash };
	return &st->dups[st->ndups++];
}

void np_idle(struct np_state *st, const struct np_conf *cf, int64_t now, np_emit_fn *emit, void *arg)
{
	if (st->active && !st->in_txn && now - st->last_end > cf->think_us)
		np_end_unit(st, cf, emit, arg);
}

/* ---- findings ---- */

bool np_table_init(struct np_table *t, uint32_t max)
{
	memset(t, 0, sizeof(*t));
	t->f = calloc(max ? max : 1, sizeof(*t->f));
	t->max = t->f ? max : 0;
	return t->f != NULL;
}

static void finding_free(struct np_finding *f)
{
	free(f->tag);
	free(f->source_text);
	free(f->text);
}

void np_table_reset(struct np_table *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		finding_free(&t->f[i]);
	t->n = 0;
	t->dropped = 0;
}

void np_table_free(struct np_table *t)
{
	np_table_reset(t);
	free(t->f);
	memset(t, 0, sizeof(*t));
}

static void set_owned(char **dst, const char *src)
{
	if (!src || (*dst && strcmp(*dst, src) == 0))
		return;
	free(*dst);
	*dst = strdup(src);
}

struct np_finding *np_record(struct np_table *t, const struct np_hit *h, const char *db, const char *client,
			     const char *tag, const char *source_text, const char *text, int64_t now, bool *is_new)
{
	struct np_finding *f = NULL;
	const char *app = h->app ? h->app : "";

	*is_new = false;
	for (uint32_t i = 0; i < t->n && !f; i++) {
		struct np_finding *c = &t->f[i];
		if (c->fp == h->fp && c->source_fp == h->source_fp && c->kind == h->kind &&
		    strncmp(c->db, db, sizeof(c->db) - 1) == 0 && strncmp(c->app, app, sizeof(c->app) - 1) == 0)
			f = c;
	}
	if (!f) {
		if (t->n == t->max) {
			t->dropped++;
			return NULL;
		}
		f = &t->f[t->n++];
		memset(f, 0, sizeof(*f));
		f->kind = h->kind;
		f->fp = h->fp;
		f->source_fp = h->source_fp;
		copy_str(f->db, sizeof(f->db), db);
		copy_str(f->app, sizeof(f->app), app);
		f->first_seen = now;
		*is_new = true;
	}
	f->occurrences++;
	f->last_count = h->count;
	if (h->count > f->max_count)
		f->max_count = h->count;
	f->rep_calls += h->count;
	f->rep_us += h->rep_us;
	f->wall_us += h->wall_us;
	f->last_seen = now;
	copy_str(f->client, sizeof(f->client), client);
	set_owned(&f->tag, tag);
	set_owned(&f->source_text, source_text);
	set_owned(&f->text, text);
	return f;
}

static int by_waste(const void *a, const void *b)
{
	const struct np_finding *x = *(const struct np_finding *const *)a, *y = *(const struct np_finding *const *)b;

	if (x->wall_us != y->wall_us)
		return x->wall_us < y->wall_us ? 1 : -1;
	return x->kind < y->kind ? -1 : x->kind > y->kind;
}

size_t np_sorted(const struct np_table *t, const struct np_finding ***out)
{
	const struct np_finding **v = malloc(sizeof(*v) * (t->n ? t->n : 1));

	*out = v;
	if (!v)
		return 0;
	for (uint32_t i = 0; i < t->n; i++)
		v[i] = &t->f[i];
	qsort(v, t->n, sizeof(*v), by_waste);
	return t->n;
}

const char *np_kind_name(enum np_kind k)
{
	switch (k) {
	case NP_RUN:
		return "n+1";
	case NP_REPEAT:
		return "repeated";
	default:
		return "duplicate";
	}
}

const char *np_suggestion(enum np_kind k)
{
	switch (k) {
	case NP_RUN:
		return "fetch the rows in one query: WHERE key = ANY($1) with the list of keys, or a JOIN with the source query";
	case NP_REPEAT:
		return "the same lookup runs many times in one unit of work: batch it with = ANY($1) or a JOIN";
	default:
		return "the same statement with the same parameters runs more than once in one unit of work: reuse the first result";
	}
}
