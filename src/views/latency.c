/*
 * latency views: the fixed-bucket histograms /metrics exports
 * (analyzer/lbuckets.h), per statement shape and per pool, and the
 * process' own resources (`process`). doc/metrics.md.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "views/families.h"
#include "pooler/objects.h"
#include "pooler/sift.h"

/* One row per bucket, cumulative as Prometheus counts them. */
static void lb_rows(struct view_sink *sink, const char *fp, const char *db, const char *user, const char *hist,
		    const struct lbuckets *b)
{
	uint64_t cum = 0;

	for (int i = 0; i < LB_N; i++) {
		double le = i < LB_N - 1 ? (double)lb_bounds_us[i] / 1e3 : INFINITY;
		cum += b->n[i];
		if (hist)
			view_row(sink, db, user, hist, le, (int64_t)cum, (double)b->sum_us / 1e3);
		else
			view_row(sink, fp, db, user, le, (int64_t)cum, (double)b->sum_us / 1e3);
	}
}

static const struct view_col query_histogram_cols[] = {
	{ "fingerprint", 's', "",
	  "The statement's shape, as in `queries`; `other` for every shape outside the top `metrics_top_fingerprints` by total time, together." },
	{ "database", 's', "",
	  "Database entry the clients used; NULL for `other`." },
	{ "user", 's', "",
	  "User the clients logged in as; NULL for `other`." },
	{ "le_ms", 'D', "ms",
	  "Upper bound of the bucket (Prometheus' `le`): 0.025 ms to 30 s, 1-2.5-5 per decade; NULL for the last bucket, +Inf." },
	{ "count", 'q', "count",
	  "Executions that took at most `le_ms`, cumulative as Prometheus buckets are; the last bucket's is every execution." },
	{ "sum_ms", 'D', "ms",
	  "Sum of the execution times (the same on each row of a shape)." },
};

/* The top shapes by total time, then the rest as `other`; ranking here is
 * what decides which shapes /metrics shows (qstats_export_top). */
static void query_histogram_rows(struct sift *s, struct view_sink *sink)
{
	struct qstats *qs = &s->an.qs;
	uint32_t top = (uint32_t)s->cfg.metrics_top_fingerprints;
	struct qentry **list;
	size_t n = qstats_sorted(qs, &list);

	qstats_export_top(qs, top, list, n);
	for (size_t i = 0; i < n && i < top; i++) {
		const struct qentry *e = list[i];
		char hex[17];
		fp_hex(e->fp, hex);
		lb_rows(sink, hex, ((const struct db *)e->db)->name, ((const struct user *)e->user)->name, NULL, &e->lb);
	}
	free(list);
	lb_rows(sink, "other", NULL, NULL, NULL, &qs->other);
}

const struct view view_query_histogram = {
	"query_histogram", "One row per latency bucket of the statement shapes /metrics shows on their own, and of the rest together.",
	query_histogram_cols, VIEW_NCOLS(query_histogram_cols), query_histogram_rows
};

static const struct view_col pool_histogram_cols[] = {
	{ "database", 's', "",
	  "Database entry of the pool." },
	{ "user", 's', "",
	  "User the pool's servers log in as." },
	{ "histogram", 's', "",
	  "`wait`: a client's wait for a server, per assignment (0 when one was free; as `stats`' wait_time counts it); `transaction`: a transaction's time on a server, from its first statement to the idle ReadyForQuery (as xact_time counts it)." },
	{ "le_ms", 'D', "ms",
	  "Upper bound of the bucket, as in `query_histogram`; NULL for +Inf." },
	{ "count", 'q', "count",
	  "Waits or transactions that took at most `le_ms`, cumulative." },
	{ "sum_ms", 'D', "ms",
	  "Their total time (the same on each row of a histogram)." },
};

static void pool_histogram_rows(struct sift *s, struct view_sink *sink)
{
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		lb_rows(sink, NULL, p->db->name, p->user->name, "wait", &p->wait_lb);
		lb_rows(sink, NULL, p->db->name, p->user->name, "transaction", &p->xact_lb);
	}
}

const struct view view_pool_histogram = {
	"pool_histogram", "One row per latency bucket of each pool's client wait and transaction time.",
	pool_histogram_cols, VIEW_NCOLS(pool_histogram_cols), pool_histogram_rows
};

/* ---- process ---- */

static const struct view_col process_cols[] = {
	{ "pid", 'i', "", "Process ID." },
	{ "start_time", 'T', "time", "When pgsift started (UTC)." },
	{ "cpu_seconds", 'D', "s", "User and system CPU time used since the start." },
	{ "resident_bytes", 'q', "bytes", "Resident memory (RSS)." },
	{ "virtual_bytes", 'q', "bytes", "Virtual memory size." },
	{ "open_fds", 'i', "count", "Open file descriptors (sockets included)." },
	{ "max_fds", 'q', "count", "The limit on open file descriptors (RLIMIT_NOFILE)." },
	{ "threads", 'i', "count", "Threads (the event loop, and the console's SQL workers once started)." },
};

struct proc_stat {
	double cpu_s;
	int64_t rss, vsize;
	int threads;
};

/* /proc/self/stat: fields 14-15 (CPU ticks), 20 (threads), 23-24 (sizes). */
static void read_proc_stat(struct proc_stat *ps)
{
	char buf[1024], *p;
	unsigned long ut = 0, st = 0, vsize = 0;
	long threads = 0, rss = 0;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	memset(ps, 0, sizeof(*ps));
	if (f)
		fclose(f);
	buf[n] = 0;
	/* the command name (field 2) may hold blanks: parse after its ')' */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld %*d %*u %lu %ld",
		   &ut, &st, &threads, &vsize, &rss) != 5)
		return;
	ps->cpu_s = tick > 0 ? (double)(ut + st) / (double)tick : 0;
	ps->vsize = (int64_t)vsize;
	ps->rss = (int64_t)rss * (page > 0 ? page : 4096);
	ps->threads = (int)threads;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void process_rows(struct sift *s, struct view_sink *sink)
{
	struct proc_stat ps;
	struct rlimit rl;
	int64_t max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (int64_t)rl.rlim_cur : -1;

	read_proc_stat(&ps);
	view_row(sink, (int)getpid(), s->start_wall, ps.cpu_s, ps.rss, ps.vsize, count_fds(), max_fds, ps.threads);
}

const struct view view_process = { "process", "One row about the pgsift process: CPU, memory, file descriptors.",
				   process_cols, VIEW_NCOLS(process_cols), process_rows };
