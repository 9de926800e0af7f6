/*
 * explain: see explain.h.
 */
#include "analyzer/explain.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EX_PREFIX "EXPLAIN (ANALYZE false) "

enum ex_state { EX_CONNECTING, EX_SENDING, EX_READING };

struct ex_job {
	struct ex_job *next;
	struct explainer *ex;
	PGconn *conn;
	struct event *ev, *timer;
	enum ex_state state;
	char *sql;
	int nparams;
	char **params;
	char *out;		/* plan lines */
	size_t outlen;
	char *err;		/* first error */
	uint32_t slot;
	uint64_t id;
};

static void job_cb(evutil_socket_t fd, short what, void *arg);

void ex_init(struct explainer *ex, struct event_base *base, ex_done_fn *done, void *arg)
{
	memset(ex, 0, sizeof(*ex));
	ex->base = base;
	ex->done = done;
	ex->arg = arg;
}

static void job_free(struct ex_job *j)
{
	struct ex_job **pp;

	for (pp = &j->ex->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	j->ex->njobs--;
	if (j->ev)
		event_free(j->ev);
	if (j->timer)
		event_free(j->timer);
	if (j->conn)
		PQfinish(j->conn);
	for (int i = 0; i < j->nparams; i++)
		free(j->params[i]);
	free(j->params);
	free(j->sql);
	free(j->out);
	free(j->err);
	free(j);
}

void ex_free(struct explainer *ex)
{
	while (ex->jobs)
		job_free(ex->jobs);
}

/* The capture is over: report and free. */
static void finish(struct ex_job *j, bool ok, const char *text)
{
	struct explainer *ex = j->ex;

	if (!ok)
		ex->failed++;
	ex->done(ex->arg, j->slot, j->id, ok, text);
	job_free(j);
}

static void fail_conn(struct ex_job *j, const char *what)
{
	char msg[600];
	const char *pe = j->conn ? PQerrorMessage(j->conn) : "";
	size_t n;

	snprintf(msg, sizeof(msg), "%s%s%s", what, *pe ? ": " : "", pe);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = 0;
	finish(j, false, msg);
}

/* Waits for the socket to be readable or writable. */
static bool arm(struct ex_job *j, short what)
{
	int fd = PQsocket(j->conn);

	if (j->ev)
		event_free(j->ev);
	j->ev = fd >= 0 ? event_new(j->ex->base, fd, what, job_cb, j) : NULL;
	return j->ev && event_add(j->ev, NULL) == 0;
}

static void append(struct ex_job *j, const char *line)
{
	size_t n = strlen(line);
	char *o = realloc(j->out, j->outlen + n + 2);

	if (!o)
		return;
	j->out = o;
	if (j->outlen)
		o[j->outlen++] = '\n';
	memcpy(o + j->outlen, line, n + 1);
	j->outlen += n;
}

static void take_result(struct ex_job *j, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(r); i++)
			append(j, PQgetvalue(r, i, 0));
	} else if (!j->err) {
		const char *m = PQresultErrorMessage(r);
		size_t n;
		j->err = strdup(*m ? m : PQresStatus(st));
		n = j->err ? strlen(j->err) : 0;
		while (n && j->err[n - 1] == '\n')
			j->err[--n] = 0;
	}
	PQclear(r);
}

static void on_read(struct ex_job *j)
{
	PGresult *r;

	if (!PQconsumeInput(j->conn)) {
		fail_conn(j, "reading the plan failed");
		return;
	}
	while (!PQisBusy(j->conn)) {
		if (!(r = PQgetResult(j->conn))) {
			if (j->err)
				finish(j, false, j->err);
			else
				finish(j, true, j->out ? j->out : "");
			return;
		}
		take_result(j, r);
	}
	if (!arm(j, EV_READ))
		fail_conn(j, "cannot wait for the plan");
}

static void on_flush(struct ex_job *j)
{
	int rc = PQflush(j->conn);

	if (rc < 0)
		fail_conn(j, "sending EXPLAIN failed");
	else if (rc == 1 ? !arm(j, EV_WRITE) : (j->state = EX_READING, !arm(j, EV_READ)))
		fail_conn(j, "cannot wait for the server");
}

static void on_connected(struct ex_job *j)
{
	if (PQsetnonblocking(j->conn, 1) != 0 ||
	    !PQsendQueryParams(j->conn, j->sql, j->nparams, NULL, (const char *const *)j->params, NULL, NULL, 0)) {
		fail_conn(j, "sending EXPLAIN failed");
		return;
	}
	j->state = EX_SENDING;
	on_flush(j);
}

static void on_connect_poll(struct ex_job *j)
{
	switch (PQconnectPoll(j->conn)) {
	case PGRES_POLLING_READING:
		if (!arm(j, EV_READ))
			fail_conn(j, "cannot wait for the server");
		break;
	case PGRES_POLLING_WRITING:
		if (!arm(j, EV_WRITE))
			fail_conn(j, "cannot wait for the server");
		break;
	case PGRES_POLLING_OK:
		on_connected(j);
		break;
	default:
		fail_conn(j, "connection for EXPLAIN failed");
		break;
	}
}

static void job_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ex_job *j = arg;

	(void)fd;
	(void)what;
	switch (j->state) {
	case EX_CONNECTING:
		on_connect_poll(j);
		break;
	case EX_SENDING:
		on_flush(j);
		break;
	case EX_READING:
		on_read(j);
		break;
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg, false, "EXPLAIN timed out");
}

static bool copy_params(struct ex_job *j, int nparams, const char *const *params)
{
	j->params = calloc(nparams ? (size_t)nparams : 1, sizeof(char *));
	if (!j->params)
		return false;
	j->nparams = nparams;
	for (int i = 0; i < nparams; i++)
		if (params[i] && !(j->params[i] = strdup(params[i])))
			return false;
	return true;
}

bool ex_start(struct explainer *ex, const char *const *keys, const char *const *vals, const char *sql, int nparams,
	      const char *const *params, uint32_t slot, uint64_t id, char *err, size_t errlen)
{
	struct ex_job *j;
	struct timeval tv = { EX_TIMEOUT_SEC, 0 };
	size_t n = strlen(sql);

	if (ex->njobs >= EX_MAX_JOBS) {
		snprintf(err, errlen, "%d captures already in flight", EX_MAX_JOBS);
		return false;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	j->ex = ex;
	j->slot = slot;
	j->id = id;
	j->next = ex->jobs;
	ex->jobs = j;
	ex->njobs++;
	/* the explicit option list also keeps a statement that begins with
	 * "(" from being read as EXPLAIN's own options */
	if ((j->sql = malloc(n + sizeof(EX_PREFIX))))
		memcpy(j->sql, EX_PREFIX, sizeof(EX_PREFIX) - 1), memcpy(j->sql + sizeof(EX_PREFIX) - 1, sql, n + 1);
	if (!j->sql || !copy_params(j, nparams, params)) {
		snprintf(err, errlen, "out of memory");
		job_free(j);
		return false;
	}
	j->conn = PQconnectStartParams(keys, vals, 0);
	if (!j->conn || PQstatus(j->conn) == CONNECTION_BAD) {
		snprintf(err, errlen, "cannot start a connection: %s", j->conn ? PQerrorMessage(j->conn) : "out of memory");
		job_free(j);
		return false;
	}
	j->timer = evtimer_new(ex->base, timeout_cb, j);
	if (!j->timer || evtimer_add(j->timer, &tv) != 0 || !arm(j, EV_WRITE)) {
		snprintf(err, errlen, "cannot watch the connection");
		job_free(j);
		return false;
	}
	ex->started++;
	return true;
}
