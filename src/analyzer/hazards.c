/*
 * hazards: see hazards.h.
 */
#include "analyzer/hazards.h"

#include <stdlib.h>
#include <string.h>

#include "analyzer/fingerprint.h"

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The setting name at s (a word, a dotted name or a quoted identifier):
 * its length, with *name pointing at its first character inside quotes. */
static size_t setting_name(const char *s, const char **name)
{
	size_t n = 0;

	if (*s == '"') {
		const char *end = strchr(s + 1, '"');
		*name = s + 1;
		return end ? (size_t)(end - s - 1) : 0;
	}
	*name = s;
	while (s[n] && s[n] != ' ' && s[n] != '=')
		n++;
	return n;
}

/* SET ... / RESET ... */
static enum hz_kind classify_set(const char *t, hz_tracked_fn *tracked, void *arg)
{
	const char *rest, *name;
	size_t n;

	if (starts(t, "set "))
		rest = t + 4;
	else if (starts(t, "reset "))
		rest = t + 6;
	else
		return HZ_NONE; /* DISCARD */
	if (starts(rest, "local ") || starts(rest, "transaction ") || starts(rest, "constraints ") ||
	    strcmp(rest, "all") == 0)
		return HZ_NONE;
	if (starts(rest, "session authorization") || starts(rest, "role") ||
	    starts(rest, "session role"))
		return HZ_SET_ROLE;
	if (starts(rest, "session characteristics "))
		return HZ_SET;
	if (starts(rest, "session "))
		rest += 8;
	n = setting_name(rest, &name);
	if (n == 0)
		return HZ_NONE;
	/* SET TIME ZONE is normalized to "set timezone"; SET NAMES is client_encoding */
	if (n == 5 && strncmp(name, "names", 5) == 0)
		return tracked && tracked(arg, "client_encoding", 15) ? HZ_NONE : HZ_SET;
	return tracked && tracked(arg, name, n) ? HZ_NONE : HZ_SET;
}

static bool has_advisory_lock(const char *t)
{
	static const char *const fns[] = { "pg_advisory_lock(", "pg_advisory_lock_shared(", "pg_try_advisory_lock(",
					   "pg_try_advisory_lock_shared(" };

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (strstr(t, fns[i]))
			return true;
	return false;
}

enum hz_kind hz_classify(int fp_kind, const char *t, hz_tracked_fn *tracked, void *arg)
{
	if (!t)
		return HZ_NONE;
	switch (fp_kind) {
	case FP_KIND_SET:
		return classify_set(t, tracked, arg);
	case FP_KIND_LISTEN:
		return starts(t, "listen ") ? HZ_LISTEN : HZ_NONE;
	case FP_KIND_PREPARED:
		return starts(t, "prepare ") && !starts(t, "prepare transaction") ? HZ_PREPARE : HZ_NONE;
	case FP_KIND_CURSOR:
		return starts(t, "declare ") && strstr(t, " with hold ") ? HZ_HOLD_CURSOR : HZ_NONE;
	case FP_KIND_DDL:
		if ((starts(t, "create temp ") || starts(t, "create temporary ") || starts(t, "create local temp") ||
		     starts(t, "create global temp")) &&
		    !strstr(t, " on commit drop"))
			return HZ_TEMP_TABLE;
		return HZ_NONE;
	case FP_KIND_SELECT:
	case FP_KIND_WITH:
	case FP_KIND_OTHER:
		return has_advisory_lock(t) ? HZ_ADVISORY_LOCK : HZ_NONE;
	default:
		return HZ_NONE;
	}
}

/* ---- table ---- */

bool hz_table_init(struct hz_table *t, uint32_t max)
{
	memset(t, 0, sizeof(*t));
	t->e = calloc(max ? max : 1, sizeof(*t->e));
	t->max = t->e ? max : 0;
	return t->e != NULL;
}

void hz_table_reset(struct hz_table *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->e[i].text);
	t->n = 0;
	t->dropped = 0;
}

void hz_table_free(struct hz_table *t)
{
	hz_table_reset(t);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

struct hz_entry *hz_record(struct hz_table *t, enum hz_kind kind, uint64_t fp, const char *db, const char *app,
			   const char *text, int64_t now, bool *is_new)
{
	struct hz_entry *e = NULL;

	app = app ? app : "";
	*is_new = false;
	for (uint32_t i = 0; i < t->n && !e; i++) {
		struct hz_entry *c = &t->e[i];
		if (c->fp == fp && c->kind == kind && strncmp(c->db, db, sizeof(c->db) - 1) == 0 &&
		    strncmp(c->app, app, sizeof(c->app) - 1) == 0)
			e = c;
	}
	if (!e) {
		if (t->n == t->max) {
			t->dropped++;
			return NULL;
		}
		e = &t->e[t->n++];
		memset(e, 0, sizeof(*e));
		e->kind = kind;
		e->fp = fp;
		copy_str(e->db, sizeof(e->db), db);
		copy_str(e->app, sizeof(e->app), app);
		e->first_seen = now;
		e->text = text ? strdup(text) : NULL;
		*is_new = true;
	}
	e->count++;
	e->last_seen = now;
	return e;
}

static int by_last(const void *a, const void *b)
{
	const struct hz_entry *x = *(const struct hz_entry *const *)a, *y = *(const struct hz_entry *const *)b;

	return x->last_seen < y->last_seen ? 1 : x->last_seen > y->last_seen ? -1 : 0;
}

size_t hz_sorted(const struct hz_table *t, const struct hz_entry ***out)
{
	const struct hz_entry **v = malloc(sizeof(*v) * (t->n ? t->n : 1));

	*out = v;
	if (!v)
		return 0;
	for (uint32_t i = 0; i < t->n; i++)
		v[i] = &t->e[i];
	qsort(v, t->n, sizeof(*v), by_last);
	return t->n;
}

const char *hz_kind_name(enum hz_kind k)
{
	static const char *const names[HZ_NKINDS] = {
		"none", "set", "listen", "advisory_lock", "prepare", "temp_table", "hold_cursor", "set_role",
		"idle_in_transaction",
	};
	return k < HZ_NKINDS ? names[k] : "none";
}

const char *hz_advice(enum hz_kind k)
{
	switch (k) {
	case HZ_SET:
		return "use SET LOCAL inside a transaction, or set it per role/database (ALTER ROLE ... SET) or in the connection string";
	case HZ_LISTEN:
		return "in transaction mode pgsift fans LISTEN out (doc/session-state.md); NOTIFY's pid is the pooled server's, not the client's";
	case HZ_ADVISORY_LOCK:
		return "use pg_advisory_xact_lock (released at commit) instead of session advisory locks";
	case HZ_PREPARE:
		return "use protocol-level prepared statements (the driver's) instead of SQL PREPARE/EXECUTE";
	case HZ_TEMP_TABLE:
		return "create it inside a transaction with ON COMMIT DROP";
	case HZ_HOLD_CURSOR:
		return "use a cursor without WITH HOLD inside a transaction, or keyset pagination";
	case HZ_SET_ROLE:
		return "use SET LOCAL ROLE inside a transaction, or connect as that role";
	case HZ_IDLE_IN_TXN:
		return "do not keep transactions open while the application waits: commit before slow client work";
	default:
		return "";
	}
}
