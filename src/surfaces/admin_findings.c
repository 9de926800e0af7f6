/*
 * admin_findings: the console's SHOW NPLUSONE, SLOW, SLOW_PLANS and
 * HAZARDS (columns in doc/admin.md, meaning in doc/analyzer.md).
 */
#include <stdlib.h>

#include "surfaces/admin_rs.h"
#include "pooler/findings.h"
#include "pooler/sift.h"

static double ms(uint64_t us)
{
	return (double)us / 1e3;
}

void show_nplusone(struct client *cl)
{
	struct sift *s = cl->sift;
	struct findings *fd = fd_get(s);
	const struct np_finding **v = NULL;
	size_t n;
	struct rs rs;

	if (fd)
		fd_janitor(s); /* units that ended by silence since the last tick */
	n = fd ? np_sorted(&fd->np, &v) : 0;
	rs_begin(&rs, cl, "ssssssqiiqDDDDssssss", "kind", "database", "application_name", "client_addr",
		 "source_fingerprint", "fingerprint", "occurrences", "max_count", "last_count", "repeated_calls",
		 "repeated_total_ms", "repeated_mean_ms", "run_total_ms", "run_mean_ms", "first_seen", "last_seen", "tag",
		 "source_query", "query", "suggestion");
	for (size_t i = 0; i < n; i++) {
		const struct np_finding *f = v[i];
		char sh[17], rh[17], first[40], last[40];
		fp_hex(f->source_fp, sh);
		fp_hex(f->fp, rh);
		fmt_time(f->first_seen, first, sizeof(first));
		fmt_time(f->last_seen, last, sizeof(last));
		rs_row(&rs, np_kind_name(f->kind), f->db, f->app, f->client, sh, rh, (int64_t)f->occurrences,
		       (int)f->max_count, (int)f->last_count, (int64_t)f->rep_calls, ms(f->rep_us),
		       f->rep_calls ? ms(f->rep_us) / (double)f->rep_calls : 0.0, ms(f->wall_us),
		       f->occurrences ? ms(f->wall_us) / (double)f->occurrences : 0.0, first, last, f->tag,
		       f->source_text, f->text, np_suggestion(f->kind));
	}
	free(v);
	rs_end(&rs);
}

static const char *plan_status(struct findings *fd, const struct sl_entry *e)
{
	const struct sl_plan *p = sl_plan_find(&fd->sl, e->fp, e->db, e->user);

	return p ? sl_plan_status_name(p->status) : "none";
}

void show_slow(struct client *cl)
{
	struct findings *fd = fd_get(cl->sift);
	const struct sl_entry *e;
	struct rs rs;

	rs_begin(&rs, cl, "sDDssssssqsssss", "time", "duration_ms", "wait_ms", "database", "user",
		 "application_name", "client_addr", "fingerprint", "kind", "rows", "sqlstate", "tag", "query", "sample",
		 "plan_status");
	for (uint32_t i = 0; fd && (e = sl_get(&fd->sl, i)); i++) {
		char hex[17], when[40];
		fp_hex(e->fp, hex);
		fmt_time(e->when, when, sizeof(when));
		rs_row(&rs, when, ms(e->dur_us), ms(e->wait_us), e->db, e->user, e->app, e->client, hex,
		       fp_kind_name((enum fp_kind)e->kind), (int64_t)e->rows, *e->sqlstate ? e->sqlstate : NULL,
		       *e->tag ? e->tag : NULL, e->text, e->sample, plan_status(fd, e));
	}
	rs_end(&rs);
}

void show_slow_plans(struct client *cl)
{
	struct findings *fd = fd_get(cl->sift);
	struct rs rs;

	rs_begin(&rs, cl, "ssssssDs", "fingerprint", "database", "user", "status", "captured_at", "query",
		 "duration_ms", "plan");
	for (uint32_t i = 0; fd && i < fd->sl.nplans; i++) {
		const struct sl_plan *p = &fd->sl.plans[i];
		char hex[17], when[40];
		if (!p->id)
			continue;
		fp_hex(p->fp, hex);
		if (p->captured)
			fmt_time(p->captured, when, sizeof(when));
		rs_row(&rs, hex, p->db, p->user, sl_plan_status_name(p->status), p->captured ? when : NULL, p->text,
		       ms(p->dur_us), p->plan);
	}
	rs_end(&rs);
}

void show_hazards(struct client *cl)
{
	struct findings *fd = fd_get(cl->sift);
	const struct hz_entry **v = NULL;
	size_t n = fd ? hz_sorted(&fd->hz, &v) : 0;
	struct rs rs;

	rs_begin(&rs, cl, "ssssqssss", "kind", "database", "application_name", "fingerprint", "count", "first_seen",
		 "last_seen", "query", "advice");
	for (size_t i = 0; i < n; i++) {
		const struct hz_entry *e = v[i];
		char hex[17], first[40], last[40];
		fp_hex(e->fp, hex);
		fmt_time(e->first_seen, first, sizeof(first));
		fmt_time(e->last_seen, last, sizeof(last));
		rs_row(&rs, hz_kind_name(e->kind), e->db, e->app, hex, (int64_t)e->count, first, last, e->text,
		       hz_advice(e->kind));
	}
	free(v);
	rs_end(&rs);
}
