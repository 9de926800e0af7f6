/*
 * slowlog: see slowlog.h.
 */
#include "analyzer/slowlog.h"

#include <stdlib.h>
#include <string.h>

bool sl_init(struct slowlog *sl, uint32_t size)
{
	memset(sl, 0, sizeof(*sl));
	sl->ring = calloc(size ? size : 1, sizeof(*sl->ring));
	sl->size = sl->ring ? size : 0;
	sl->next_id = 1;
	return sl->ring != NULL;
}

void sl_drop_samples(struct slowlog *sl)
{
	for (uint32_t i = 0; i < sl->size; i++) {
		free(sl->ring[i].sample);
		sl->ring[i].sample = NULL;
	}
}

void sl_reset(struct slowlog *sl)
{
	sl_drop_samples(sl);
	sl->head = sl->n = 0;
	for (uint32_t i = 0; i < SL_PLANS_MAX; i++) {
		free(sl->plans[i].plan);
		free(sl->plans[i].text);
		memset(&sl->plans[i], 0, sizeof(sl->plans[i]));
	}
	sl->nplans = 0;
}

void sl_free(struct slowlog *sl)
{
	sl_reset(sl);
	free(sl->ring);
	sl->ring = NULL;
	sl->size = 0;
}

struct sl_entry *sl_push(struct slowlog *sl)
{
	struct sl_entry *e;

	if (!sl->size)
		return NULL;
	e = &sl->ring[sl->head];
	free(e->sample);
	memset(e, 0, sizeof(*e));
	sl->head = (sl->head + 1) % sl->size;
	if (sl->n < sl->size)
		sl->n++;
	sl->total++;
	return e;
}

const struct sl_entry *sl_get(const struct slowlog *sl, uint32_t i)
{
	if (i >= sl->n)
		return NULL;
	return &sl->ring[(sl->head + sl->size - 1 - i) % sl->size];
}

static bool key_eq(const struct sl_plan *p, uint64_t fp, const char *db, const char *user)
{
	return p->id && p->fp == fp && strncmp(p->db, db, SL_NAME_LEN - 1) == 0 &&
	       strncmp(p->user, user, SL_NAME_LEN - 1) == 0;
}

struct sl_plan *sl_plan_find(struct slowlog *sl, uint64_t fp, const char *db, const char *user)
{
	for (uint32_t i = 0; i < sl->nplans; i++)
		if (key_eq(&sl->plans[i], fp, db, user))
			return &sl->plans[i];
	return NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

/* A free row, or the one tried longest ago. */
static struct sl_plan *plan_slot(struct slowlog *sl)
{
	struct sl_plan *old = NULL;

	if (sl->nplans < SL_PLANS_MAX)
		return &sl->plans[sl->nplans++];
	for (uint32_t i = 0; i < SL_PLANS_MAX; i++)
		if (!old || sl->plans[i].tried_mono < old->tried_mono)
			old = &sl->plans[i];
	free(old->plan);
	free(old->text);
	memset(old, 0, sizeof(*old));
	return old;
}

struct sl_plan *sl_plan_claim(struct slowlog *sl, uint64_t fp, const char *db, const char *user, const char *text,
			      int64_t now_mono, int64_t interval_us)
{
	struct sl_plan *p = sl_plan_find(sl, fp, db, user);

	if (p && (p->status == SL_PLAN_PENDING || now_mono - p->tried_mono < interval_us))
		return NULL;
	if (!p) {
		p = plan_slot(sl);
		p->fp = fp;
		copy_str(p->db, sizeof(p->db), db);
		copy_str(p->user, sizeof(p->user), user);
		p->text = text ? strdup(text) : NULL;
	}
	p->id = sl->next_id++;
	p->tried_mono = now_mono;
	p->status = SL_PLAN_PENDING;
	return p;
}

struct sl_plan *sl_plan_get(struct slowlog *sl, uint32_t slot, uint64_t id)
{
	return slot < SL_PLANS_MAX && sl->plans[slot].id == id && id ? &sl->plans[slot] : NULL;
}

void sl_plan_set(struct sl_plan *p, enum sl_plan_status st, const char *text, int64_t now_wall)
{
	char *t = strdup(text ? text : "");

	p->status = st;
	p->captured = now_wall;
	if (t) {
		free(p->plan);
		p->plan = t;
	}
}

const char *sl_plan_status_name(enum sl_plan_status st)
{
	switch (st) {
	case SL_PLAN_PENDING:
		return "pending";
	case SL_PLAN_OK:
		return "ok";
	case SL_PLAN_ERROR:
		return "error";
	default:
		return "skipped";
	}
}
