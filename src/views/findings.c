/*
 * findings views: N+1 patterns, slow statements and their plans, and
 * transaction-pooling hazards (doc/analyzer.md).
 */
#include <stdlib.h>
#include <string.h>

#include "views/families.h"
#include "pooler/findings.h"
#include "pooler/sift.h"
#include "util/list.h"

static double ms(uint64_t us)
{
	return (double)us / 1e3;
}

static const struct view_col nplusone_cols[] = {
	{ "kind", 's', "",
	  "`n+1`: a run of the same parameterized SELECT right after a different SELECT; `repeated`: one shape run `nplusone_min_repeats` times or more anywhere in one unit of work; `duplicate`: the same shape with the same parameter values run twice or more in one unit." },
	{ "database", 's', "",
	  "Database entry of the client." },
	{ "application_name", 's', "",
	  "The client's application_name during the unit of work." },
	{ "client_addr", 's', "",
	  "Address:port of the last client it was seen on (`unix` for a Unix socket)." },
	{ "source_fingerprint", 's', "",
	  "The SELECT that came before the run (`n+1`), or the unit's first SELECT (`repeated`, `duplicate`)." },
	{ "fingerprint", 's', "",
	  "The repeated statement's shape." },
	{ "occurrences", 'q', "count",
	  "Units of work (runs) it was seen in." },
	{ "max_count", 'i', "count",
	  "Largest number of executions in one occurrence." },
	{ "last_count", 'i', "count",
	  "Executions in the last occurrence." },
	{ "repeated_calls", 'q', "count",
	  "Executions of the repeated statement over all occurrences." },
	{ "repeated_total_ms", 'D', "ms",
	  "Their execution time, milliseconds." },
	{ "repeated_mean_ms", 'D', "ms",
	  "repeated_total_ms / repeated_calls." },
	{ "run_total_ms", 'D', "ms",
	  "Wall time of the occurrences, from sending the first repeated statement to the reply to the last: includes the round trips and client time the pattern costs. The sort key." },
	{ "run_mean_ms", 'D', "ms",
	  "run_total_ms / occurrences." },
	{ "first_seen", 'T', "time",
	  "First occurrence (UTC)." },
	{ "last_seen", 'T', "time",
	  "Last occurrence (UTC)." },
	{ "tag", 's', "",
	  "The first comment of the repeated statement (sqlcommenter `route=`, `controller=` ...), else of the source, or NULL." },
	{ "source_query", 's', "",
	  "Normalized text of the source." },
	{ "query", 's', "",
	  "Normalized text of the repeated statement." },
	{ "suggestion", 's', "",
	  "What to do instead, one line." },
};
/* obj: a struct np_finding */
static void nplusone_row(struct sift *s, struct view_sink *sink, const void *obj)
{
	const struct np_finding *f = obj;
	char sh[17], rh[17];

	(void)s;
	fp_hex(f->source_fp, sh);
	fp_hex(f->fp, rh);
	view_row(sink, np_kind_name(f->kind), f->db, f->app, f->client, sh, rh, (int64_t)f->occurrences,
		 (int)f->max_count, (int)f->last_count, (int64_t)f->rep_calls, ms(f->rep_us),
		 f->rep_calls ? ms(f->rep_us) / (double)f->rep_calls : 0.0, ms(f->wall_us),
		 f->occurrences ? ms(f->wall_us) / (double)f->occurrences : 0.0, f->first_seen, f->last_seen, f->tag,
		 f->source_text, f->text, np_suggestion(f->kind));
}

static void nplusone_rows(struct sift *s, struct view_sink *sink)
{
	struct findings *fd = fd_get(s);
	const struct np_finding **v = NULL;
	size_t n;

	if (fd)
		fd_janitor(s); /* units that ended by silence since the last tick */
	n = fd ? np_sorted(&fd->np, &v) : 0;
	for (size_t i = 0; i < n; i++)
		nplusone_row(s, sink, v[i]);
	free(v);
}

const struct view view_nplusone = { "nplusone", "One row per N+1 pattern: a statement repeated in a loop after its source.",
				    nplusone_cols, VIEW_NCOLS(nplusone_cols), nplusone_rows };

static const char *plan_status(struct findings *fd, const struct sl_entry *e)
{
	const struct sl_plan *p = sl_plan_find(&fd->sl, e->fp, e->db, e->user);

	return p ? sl_plan_status_name(p->status) : "none";
}

static const struct view_col slow_cols[] = {
	{ "time", 'T', "time",
	  "When it ended (UTC)." },
	{ "duration_ms", 'D', "ms",
	  "Execution time, milliseconds (as in `SHOW QUERIES`)." },
	{ "wait_ms", 'D', "ms",
	  "Time the client waited for a server before it (not part of duration_ms)." },
	{ "database", 's', "",
	  "Database entry." },
	{ "user", 's', "",
	  "User the client logged in as." },
	{ "application_name", 's', "",
	  "The client's application_name." },
	{ "client_addr", 's', "",
	  "Client address:port (`unix` for a Unix socket)." },
	{ "fingerprint", 's', "",
	  "Its shape." },
	{ "kind", 's', "",
	  "As in `SHOW QUERIES`." },
	{ "rows", 'q', "count",
	  "Rows from the CommandComplete tag." },
	{ "sqlstate", 's', "",
	  "The error's SQLSTATE, NULL when it succeeded." },
	{ "tag", 's', "",
	  "Its first comment (sqlcommenter), or NULL." },
	{ "query", 's', "",
	  "Normalized text." },
	{ "sample", 's', "",
	  "The statement as sent, with its literals (for the extended protocol: the Parse text, whose parameters stay `$n`); NULL unless `log_query_samples` is on." },
	{ "plan_status", 's', "",
	  "Plan of this fingerprint in `SHOW SLOW_PLANS`: `ok`, `pending`, `error`, `skipped`, or `none` (not explainable, or capture off or rate-limited)." },
};
/* obj: a struct sl_entry */
static void slow_row(struct sift *s, struct view_sink *sink, const void *obj)
{
	const struct sl_entry *e = obj;
	struct findings *fd = fd_get(s);
	char hex[17];

	fp_hex(e->fp, hex);
	view_row(sink, e->when, ms(e->dur_us), ms(e->wait_us), e->db, e->user, e->app, e->client, hex,
		 fp_kind_name((enum fp_kind)e->kind), (int64_t)e->rows, *e->sqlstate ? e->sqlstate : NULL,
		 *e->tag ? e->tag : NULL, e->text, e->sample, fd ? plan_status(fd, e) : "none");
}

static void slow_rows(struct sift *s, struct view_sink *sink)
{
	struct findings *fd = fd_get(s);
	const struct sl_entry *e;

	for (uint32_t i = 0; fd && (e = sl_get(&fd->sl, i)); i++)
		slow_row(s, sink, e);
}

const struct view view_slow = { "slow", "One row per recent statement slower than slow_query_ms, newest first.",
				slow_cols, VIEW_NCOLS(slow_cols), slow_rows };

static const struct view_col slow_plans_cols[] = {
	{ "fingerprint", 's', "",
	  "The statement's shape." },
	{ "database", 's', "",
	  "Database entry." },
	{ "user", 's', "",
	  "User the client logged in as (as in `SHOW SLOW`); the capture connects as the pool's user, which differs only when the database entry forces one with `user=`." },
	{ "status", 's', "",
	  "`pending` (capture running), `ok`, `error` (the connection or EXPLAIN failed: plan holds the message), `skipped` (plan holds why: binary parameters, text not kept or no longer available, named portal)." },
	{ "captured_at", 'T', "time",
	  "When the result came (UTC), NULL while pending." },
	{ "query", 's', "",
	  "Normalized text." },
	{ "duration_ms", 'D', "ms",
	  "Duration of the slow execution that asked for the plan." },
	{ "plan", 's', "",
	  "EXPLAIN output, one line per plan row; or the error or reason." },
};
static void slow_plans_rows(struct sift *s, struct view_sink *sink)
{
	struct findings *fd = fd_get(s);

	for (uint32_t i = 0; fd && i < fd->sl.nplans; i++) {
		const struct sl_plan *p = &fd->sl.plans[i];
		char hex[17];
		if (!p->id)
			continue;
		fp_hex(p->fp, hex);
		view_row(sink, hex, p->db, p->user, sl_plan_status_name(p->status), (int64_t)p->captured, p->text,
			 ms(p->dur_us), p->plan);
	}
}

const struct view view_slow_plans = { "slow_plans", "One row per slow statement shape with its captured plan.",
				      slow_plans_cols, VIEW_NCOLS(slow_plans_cols), slow_plans_rows };

static const struct view_col hazards_cols[] = {
	{ "kind", 's', "",
	  "`set` (a session SET/RESET/set_config of a setting PostgreSQL does not report, not `SET LOCAL`), `listen`, `advisory_lock` (session-level `pg_advisory_lock` and friends), `prepare` (SQL `PREPARE`), `temp_table` (without `ON COMMIT DROP`), `hold_cursor` (`DECLARE ... WITH HOLD`), `set_role` (`SET ROLE`, `SET SESSION AUTHORIZATION`, their `RESET`), `idle_in_transaction` (a server kept idle in a transaction longer than `idle_in_transaction_warn_ms`)." },
	{ "database", 's', "",
	  "Database entry." },
	{ "application_name", 's', "",
	  "The client's application_name." },
	{ "fingerprint", 's', "",
	  "The statement; for `idle_in_transaction`, the last statement before the pause." },
	{ "count", 'q', "count",
	  "Times seen." },
	{ "first_seen", 'T', "time",
	  "First time (UTC)." },
	{ "last_seen", 'T', "time",
	  "Last time (UTC)." },
	{ "query", 's', "",
	  "Normalized text." },
	{ "advice", 's', "",
	  "What to do instead, one line." },
	{ "action", 's', "",
	  "What pgsift does about it in transaction mode (doc/session-state.md): `replayed` (`set`, `prepare`: carried to every server the client gets, and undone on a server before another client gets it), `fanned_out` (`listen`: the pool's listener connection LISTENs for the client and pgsift delivers its notifications), `pinned` (`temp_table`, `hold_cursor`, `advisory_lock`, `set_role` while `pin_session_state` is on: the client keeps its server until the state is gone or it leaves; past `max_pinned_per_pool` the statement is refused with 53300), `reset` (state pgsift does not carry: the server runs `DISCARD ALL` before another client gets it, so nothing leaks, but the client loses it at its next transaction), empty for `idle_in_transaction`." },
	{ "pinned_s", 'D', "s",
	  "For `temp_table`, `hold_cursor`, `advisory_lock`, `set_role`: seconds clients of this database spent pinned by state of this kind (finished pins and those still on; a pin held by two kinds counts for both); the same on every row of the kind and database. 0 for the other kinds." },
	{ "refused", 'q', "count",
	  "Statements of this kind refused with 53300 because `max_pinned_per_pool` clients of their pool were pinned (per database, as `pinned_s`)." },
};

/* What pgsift does about a hazard of this kind (doc/session-state.md). */
static const char *hazard_action(const struct sift *s, enum hz_kind k)
{
	switch (k) {
	case HZ_SET:
		return "replayed";
	case HZ_PREPARE:
		return "replayed";
	case HZ_LISTEN:
		return "fanned_out";
	case HZ_TEMP_TABLE:
	case HZ_HOLD_CURSOR:
	case HZ_ADVISORY_LOCK:
	case HZ_SET_ROLE:
		return s->cfg.pin_session_state ? "pinned" : "reset";
	case HZ_IDLE_IN_TXN:
		return "";
	default:
		return "reset";
	}
}

/* The PIN_* bit index of a kind that pins (pin.h), or -1 */
static int pin_bit_of(enum hz_kind k)
{
	switch (k) {
	case HZ_TEMP_TABLE:
		return 0;
	case HZ_HOLD_CURSOR:
		return 1;
	case HZ_ADVISORY_LOCK:
		return 2;
	case HZ_SET_ROLE:
		return 3;
	default:
		return -1;
	}
}

/* A pool's pinned time (finished pins and those still on) and refusals,
 * by PIN_* bit: summed once per view, not once per row (a row per shape,
 * up to FD_TABLE_MAX, and every client of every pool) */
struct pin_sum {
	const char *db;
	uint64_t us[4], refused[4];
};

static void pin_sum_clients(const struct sift *s, const struct list *clients, struct pin_sum *ps)
{
	const struct list *it;

	list_for_each(it, clients) {
		const struct client *cl = list_entry(it, struct client, node);
		for (int bit = 0; bit < 4; bit++)
			if (cl->pin_counted && (cl->pin & (1u << bit)) && s->now > cl->pin_since)
				ps->us[bit] += (uint64_t)(s->now - cl->pin_since);
	}
}

/* One entry per pool in *out (NULL when there are none or out of memory:
 * the columns are then 0); returns how many */
static size_t pin_sums(const struct sift *s, struct pin_sum **out)
{
	const struct list *it;
	size_t n = 0, i = 0;

	list_for_each(it, &s->pools)
		n++;
	*out = n ? calloc(n, sizeof(**out)) : NULL;
	if (!*out)
		return 0;
	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		struct pin_sum *ps = &(*out)[i++];
		ps->db = p->db->name;
		memcpy(ps->us, p->pinned_us, sizeof(ps->us));
		memcpy(ps->refused, p->pin_refused, sizeof(ps->refused));
		pin_sum_clients(s, &p->active_clients, ps);
		pin_sum_clients(s, &p->idle_clients, ps);
	}
	return n;
}

static void hazard_row_of(struct sift *s, struct view_sink *sink, const struct hz_entry *e,
			  const struct pin_sum *sums, size_t nsums)
{
	int bit = pin_bit_of(e->kind);
	uint64_t us = 0, refused = 0;
	char hex[17];

	for (size_t i = 0; bit >= 0 && i < nsums; i++)
		if (strcmp(sums[i].db, e->db) == 0) {
			us += sums[i].us[bit];
			refused += sums[i].refused[bit];
		}
	fp_hex(e->fp, hex);
	view_row(sink, hz_kind_name(e->kind), e->db, e->app, hex, (int64_t)e->count, e->first_seen, e->last_seen,
		 e->text, hz_advice(e->kind), hazard_action(s, e->kind), (double)us / 1e6, (int64_t)refused);
}

/* obj: a struct hz_entry (one row: a new hazard's log event) */
static void hazard_row(struct sift *s, struct view_sink *sink, const void *obj)
{
	struct pin_sum *sums;
	size_t nsums = pin_sums(s, &sums);

	hazard_row_of(s, sink, obj, sums, nsums);
	free(sums);
}

static void hazards_rows(struct sift *s, struct view_sink *sink)
{
	struct findings *fd = fd_get(s);
	const struct hz_entry **v = NULL;
	size_t n = fd ? hz_sorted(&fd->hz, &v) : 0;
	struct pin_sum *sums;
	size_t nsums = n ? pin_sums(s, &sums) : 0;

	for (size_t i = 0; i < n; i++)
		hazard_row_of(s, sink, v[i], sums, nsums);
	if (n)
		free(sums);
	free(v);
}

const struct view view_hazards = { "hazards", "One row per session feature that breaks under transaction pooling, by kind and shape.",
				   hazards_cols, VIEW_NCOLS(hazards_cols), hazards_rows };

const struct view *view_of_finding(int event)
{
	return event == FD_EV_NPLUSONE ? &view_nplusone : event == FD_EV_SLOW ? &view_slow : &view_hazards;
}

void view_finding_row(struct sift *s, struct view_sink *sink, int event, const void *obj)
{
	if (event == FD_EV_NPLUSONE)
		nplusone_row(s, sink, obj);
	else if (event == FD_EV_SLOW)
		slow_row(s, sink, obj);
	else
		hazard_row(s, sink, obj);
}
