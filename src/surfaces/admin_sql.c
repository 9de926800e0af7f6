/*
 * admin_sql: see admin_sql.h.
 */
#include "surfaces/admin_sql.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/log.h"
#include "views/view.h"

/* A view's copy, shared by the jobs that read it (loop thread only). */
struct shared_snap {
	struct view_snap sn;
	int refs;		/* jobs holding it, and one while it is the view's recent copy */
	int64_t taken;		/* monotonic usec */
	int64_t cost;		/* usec the copy took */
};

#define SNAP_REUSE_FACTOR 100		/* a copy serves for 100 times its cost... */
#define SNAP_REUSE_MAX 2000000		/* ... at most 2 s */

struct admin_workers {
	struct sift *sift;
	pthread_t th[ADMIN_SQL_WORKERS];
	int nth;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct admin_job *queue, **queue_tail;	/* waiting for a worker */
	struct admin_job *running[ADMIN_SQL_WORKERS];
	struct admin_job *done;			/* answered, for the loop */
	bool stop;
	struct shared_snap **recent;		/* per view: the copy new jobs may share */
	int nviews;
	int pipe[2];				/* a byte per answer: wakes the loop */
	struct event *ev;
};

/* ---- jobs ---- */

/* A clock of our own: the loop's sift->now stays what it was for this
 * callback. */
static int64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct admin_job *admin_job_new(struct sift *s, void *owner, const char *sql, size_t len, enum sql_mode mode)
{
	struct admin_job *j = calloc(1, sizeof(*j));
	int nviews = 0;

	while (view_all[nviews])
		nviews++;
	if (!j)
		return NULL;
	j->sift = s;
	j->owner = owner;
	j->sql = strndup(sql, len);
	j->snaps = calloc((size_t)nviews, sizeof(*j->snaps));
	j->held = calloc((size_t)nviews, sizeof(*j->held));
	if (!j->sql || !j->snaps || !j->held) {
		admin_job_free(j);
		return NULL;
	}
	atomic_init(&j->cancel, 0);
	j->req.sql = j->sql;
	j->req.mode = mode;
	j->req.snaps = j->snaps;
	j->req.nsnaps = nviews;
	j->req.cancel = &j->cancel;
	return j;
}

bool admin_job_set_params(struct admin_job *j, const struct sql_param *p, int n)
{
	size_t total = 0, off = 0;

	for (int i = 0; i < n; i++)
		total += p[i].v ? p[i].len : 0;
	if (n && (!(j->params = calloc((size_t)n, sizeof(*p))) || !(j->param_data = malloc(total + 1))))
		return false;
	for (int i = 0; i < n; i++) {
		j->params[i] = p[i];
		if (p[i].v) {
			memcpy(j->param_data + off, p[i].v, p[i].len);
			j->params[i].v = j->param_data + off;
			off += p[i].len;
		}
	}
	j->req.params = j->params;
	j->req.nparams = n;
	return true;
}

bool admin_job_set_formats(struct admin_job *j, const int16_t *f, int n)
{
	if (n && !(j->formats = malloc((size_t)n * sizeof(*f))))
		return false;
	if (n)
		memcpy(j->formats, f, (size_t)n * sizeof(*f));
	j->req.formats = j->formats;
	j->req.nformats = n;
	return true;
}

bool admin_job_set_oids(struct admin_job *j, const uint32_t *o, int n)
{
	if (n && !(j->oids = malloc((size_t)n * sizeof(*o))))
		return false;
	if (n)
		memcpy(j->oids, o, (size_t)n * sizeof(*o));
	j->req.param_oids = j->oids;
	j->req.nparam_oids = n;
	return true;
}

static void snap_release(struct shared_snap *ss)
{
	if (ss && --ss->refs == 0) {
		view_snap_free(&ss->sn);
		free(ss);
	}
}

void admin_job_free(struct admin_job *j)
{
	if (!j)
		return;
	for (int i = 0; j->held && i < j->req.nsnaps; i++)
		snap_release(j->held[i]);
	free(j->held);
	free(j->snaps);
	free(j->sql);
	free(j->params);
	free(j->param_data);
	free(j->formats);
	free(j->oids);
	sql_result_free(&j->res);
	free(j);
}

/* Does the text name the view (as a word, in any case)? A superset of what
 * the statement reads: a word in a string literal takes a snapshot too. */
static bool names_view(const char *sql, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = sql; (p = strcasestr(p, name)); p += n) {
		bool before = p > sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		bool after = isalnum((unsigned char)p[n]) || p[n] == '_';
		if (!before && !after)
			return true;
	}
	return false;
}

/* A fresh copy of view i, or the recent one while it is young enough;
 * NULL (no copy kept) when it does not fit in max_bytes. */
static struct shared_snap *snapshot_of(struct admin_workers *w, struct sift *s, int i, size_t max_bytes)
{
	struct shared_snap *ss = w->recent[i];
	int64_t now = mono_usec();

	if (ss && ss->sn.bytes <= max_bytes &&
	    now - ss->taken < (ss->cost * SNAP_REUSE_FACTOR < SNAP_REUSE_MAX ? ss->cost * SNAP_REUSE_FACTOR
									: SNAP_REUSE_MAX)) {
		ss->refs++;
		return ss;
	}
	if (!(ss = calloc(1, sizeof(*ss))))
		return NULL;
	view_snap_init(&ss->sn, view_all[i], max_bytes);
	ss->taken = now;
	if (!view_snap_take(&ss->sn, s)) {
		view_snap_free(&ss->sn);
		free(ss);
		return NULL;
	}
	ss->cost = mono_usec() - now;
	ss->refs = 2; /* the job's, and the recent copy's */
	snap_release(w->recent[i]);
	w->recent[i] = ss;
	return ss;
}

/* Gives the job the views its text names; false when they do not fit. */
static bool take_snapshots(struct admin_workers *w, struct admin_job *j, size_t max_bytes, size_t *used)
{
	*used = 0;
	for (int i = 0; i < j->req.nsnaps; i++) {
		if (!names_view(j->sql, view_all[i]->name))
			continue;
		if (!(j->held[i] = snapshot_of(w, j->sift, i, max_bytes - *used)))
			return false;
		j->snaps[i] = j->held[i]->sn; /* read only, by one worker */
		*used += j->snaps[i].bytes;
	}
	return true;
}

/* ---- the workers ---- */

static void *worker_main(void *arg)
{
	struct admin_workers *w = arg;
	struct sql_conn *conn;
	int me = ADMIN_SQL_WORKERS;

	/* the relay goes first: this thread only takes what CPU is left */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
		log_debug("admin_sql: cannot lower the worker's priority: %s", strerror(errno));
	conn = sql_conn_open();
	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct admin_job *j;
		while (!w->stop && !w->queue)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		j = w->queue;
		w->queue = j->next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		for (me = 0; me < ADMIN_SQL_WORKERS && w->running[me]; me++)
			;
		if (me < ADMIN_SQL_WORKERS)
			w->running[me] = j;
		pthread_mutex_unlock(&w->mu);
		if (conn)
			sql_run(conn, &j->req, &j->res);
		else {
			pkt_init(&j->res.out, UINT32_MAX);
			proto_error(&j->res.out, false, "53200", "out of memory: no SQL connection for the console");
			j->res.error = true;
		}
		pthread_mutex_lock(&w->mu);
		if (me < ADMIN_SQL_WORKERS)
			w->running[me] = NULL;
		j->next = w->done;
		w->done = j;
		if (write(w->pipe[1], "x", 1) < 0 && errno != EAGAIN)
			log_debug("admin_sql: wake-up write failed: %s", strerror(errno));
	}
	pthread_mutex_unlock(&w->mu);
	sql_conn_close(conn);
	return NULL;
}

/* Answers that came back: handed to their clients, oldest first. */
static void answers_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_workers *w = arg;
	struct admin_job *list, *rev = NULL;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	while (list) { /* the done list is newest first */
		struct admin_job *j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev) {
		struct admin_job *j = rev;
		rev = j->next;
		if (j->owner)
			j->done(j);
		admin_job_free(j);
	}
}

static struct admin_workers *workers_start(struct sift *s)
{
	struct admin_workers *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->sift = s;
	w->queue_tail = &w->queue;
	while (view_all[w->nviews])
		w->nviews++;
	if (!(w->recent = calloc((size_t)w->nviews, sizeof(*w->recent)))) {
		free(w);
		return NULL;
	}
	w->pipe[0] = w->pipe[1] = -1;
	if (!sql_engine_global_init() || pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w->recent);
		free(w);
		return NULL;
	}
	pthread_cond_init(&w->cv, NULL);
	if (pipe2(w->pipe, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    !(w->ev = event_new(s->base, w->pipe[0], EV_READ | EV_PERSIST, answers_cb, w)) || event_add(w->ev, NULL) != 0) {
		s->sqlw = w;
		admin_sql_shutdown(s);
		return NULL;
	}
	for (; w->nth < ADMIN_SQL_WORKERS; w->nth++)
		if (pthread_create(&w->th[w->nth], NULL, worker_main, w) != 0)
			break;
	if (w->nth == 0) {
		s->sqlw = w;
		admin_sql_shutdown(s);
		return NULL;
	}
	return w;
}

bool admin_sql_submit(struct admin_job *j, admin_job_done_cb done, void *arg, char *sqlstate, char *err, size_t errlen)
{
	struct sift *s = j->sift;
	size_t max = (size_t)s->cfg.admin_sql_memory << 20, used;
	struct admin_workers *w = s->sqlw;

	if (!w && !(w = s->sqlw = workers_start(s))) {
		snprintf(sqlstate, 6, "53000");
		snprintf(err, errlen, "cannot start the console's SQL workers");
		admin_job_free(j);
		return false;
	}
	int64_t t0 = mono_usec();

	if (!take_snapshots(w, j, max, &used)) {
		snprintf(sqlstate, 6, "53200");
		snprintf(err, errlen, "out of memory: the views this query reads take more than admin_sql_memory (%d MB)",
			 s->cfg.admin_sql_memory);
		admin_job_free(j);
		return false;
	}
	log_debug("admin_sql: views copied for a query in %lld us (%zu kB)", (long long)(mono_usec() - t0), used >> 10);
	j->req.now = (double)sift_wall_usec() / 1e6;
	j->req.timeout_us = s->cfg.admin_sql_timeout;
	j->req.max_bytes = max - used;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->mu);
	j->next = NULL;
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return true;
}

void admin_sql_cancel(struct admin_job *j, bool owner_gone)
{
	if (owner_gone)
		j->owner = NULL;
	atomic_store(&j->cancel, 1);
}

void admin_sql_shutdown(struct sift *s)
{
	struct admin_workers *w = s->sqlw;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	for (int i = 0; i < ADMIN_SQL_WORKERS; i++)
		if (w->running[i])
			atomic_store(&w->running[i]->cancel, 1);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nth; i++)
		pthread_join(w->th[i], NULL);
	while (w->queue) {
		struct admin_job *j = w->queue;
		w->queue = j->next;
		admin_job_free(j);
	}
	while (w->done) {
		struct admin_job *j = w->done;
		w->done = j->next;
		admin_job_free(j);
	}
	if (w->ev)
		event_free(w->ev);
	if (w->pipe[0] >= 0)
		close(w->pipe[0]);
	if (w->pipe[1] >= 0)
		close(w->pipe[1]);
	for (int i = 0; i < w->nviews; i++)
		snap_release(w->recent[i]);
	free(w->recent);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	s->sqlw = NULL;
}
