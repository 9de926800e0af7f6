/*
 * admin_sql: the console's SQL, run off the event loop.
 *
 * A console statement becomes a job: on the loop, the views the text names
 * are copied into snapshots (views/snapshot.h), then a worker thread runs
 * the statement over them with its own SQLite connection (sql_engine.h)
 * and posts the answer back through a pipe the loop watches. The relay
 * never waits for a console query; the loop's cost is the snapshot copy
 * (about 2 ms for 5,000 fingerprints). A copy is shared by the statements
 * that come while it is younger than 100 times what it cost to take (at
 * most 2 s), so however fast statements come, copying takes at most 1% of
 * the loop.
 *
 * ADMIN_SQL_WORKERS threads, started at the first job, take jobs in the
 * order they came; a console client has at most one job at a time and
 * reads nothing more until it is answered, and every job has its time and
 * memory limits (admin_sql_timeout, admin_sql_memory), so one admin cannot
 * keep the others waiting for long. Workers run at the lowest CPU priority
 * (nice 19): on a busy machine the relay goes first.
 */
#ifndef PGSIFT_ADMIN_SQL_H
#define PGSIFT_ADMIN_SQL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "pooler/sift.h"
#include "surfaces/sql_engine.h"

#define ADMIN_SQL_WORKERS 2

struct admin_job;
struct shared_snap;

/* Called on the loop when the job is done (never for an owner that left:
 * admin_sql_cancel(j, true)): the answer is in job->res. The callee frees
 * nothing; the job is freed after it returns. */
typedef void (*admin_job_done_cb)(struct admin_job *job);

struct admin_job {
	struct admin_job *next;
	struct sift *sift;
	void *owner;			/* the console client, an HTTP request...; NULL once it left */
	struct sql_request req;
	struct view_snap *snaps;	/* one per view of view_all: req.snaps (shallow copies) */
	struct shared_snap **held;	/* the copies they come from, NULL for views not read */
	char *sql;			/* owned copies of what req points to */
	struct sql_param *params;
	uint8_t *param_data;
	int16_t *formats;
	uint32_t *oids;
	atomic_int cancel;		/* the client left, cancelled, or pgsift stops */
	struct sql_result res;
	admin_job_done_cb done;
	void *arg;			/* the caller's */
};

/* A job for owner running sql (copied) in mode. NULL when out of memory.
 * The caller may set params, formats and oids (admin_job_set_*) before
 * admin_sql_submit(). */
struct admin_job *admin_job_new(struct sift *s, void *owner, const char *sql, size_t len, enum sql_mode mode);
bool admin_job_set_params(struct admin_job *j, const struct sql_param *p, int n) __attribute__((warn_unused_result));
bool admin_job_set_formats(struct admin_job *j, const int16_t *f, int n) __attribute__((warn_unused_result));
bool admin_job_set_oids(struct admin_job *j, const uint32_t *o, int n) __attribute__((warn_unused_result));
void admin_job_free(struct admin_job *j);

/* Takes the snapshots the text needs and queues j; done runs later on the
 * loop. false (j freed, reason in err) when the snapshots do not fit
 * admin_sql_memory (53200) or the workers cannot start (53000). */
bool admin_sql_submit(struct admin_job *j, admin_job_done_cb done, void *arg, char *sqlstate, char *err,
		      size_t errlen) __attribute__((warn_unused_result));

/* Stops the job of an owner that leaves (its answer is dropped, done is not
 * called), or of a client that sent a CancelRequest (its answer is 57014). */
void admin_sql_cancel(struct admin_job *j, bool owner_gone);

/* Stops the workers, cancelling what runs; the loop is no longer running. */
void admin_sql_shutdown(struct sift *s);

#endif
