/*
 * explain: asks PostgreSQL for the plan of a statement (plain EXPLAIN,
 * never ANALYZE) on pgsift's own libpq connection, without ever blocking
 * the event loop: PQconnectStartParams + PQconnectPoll driven by socket
 * events, then PQsendQueryParams (the extended protocol: one statement,
 * its text parameters bound), then PQconsumeInput/PQgetResult as the
 * replies arrive. One connection per capture, closed when it is done; a
 * capture that takes longer than EX_TIMEOUT_SEC is abandoned.
 */
#ifndef PGSIFT_EXPLAIN_H
#define PGSIFT_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EX_TIMEOUT_SEC 15
#define EX_MAX_JOBS 4		/* captures in flight at once */

struct event_base;
struct ex_job;

/* Called once per capture: ok with the plan (one line per plan row), or
 * not ok with the error text. */
typedef void ex_done_fn(void *arg, uint32_t slot, uint64_t id, bool ok, const char *text);

struct explainer {
	struct event_base *base;
	struct ex_job *jobs;
	int njobs;
	ex_done_fn *done;
	void *arg;
	uint64_t started, failed;
};

void ex_init(struct explainer *ex, struct event_base *base, ex_done_fn *done, void *arg);
/* Abandons the captures in flight (done is not called). */
void ex_free(struct explainer *ex);

/* Starts a capture. keys/vals: libpq connection parameters (NULL-ended);
 * sql: the statement (EXPLAIN is prepended); params: nparams text values
 * (NULL = SQL NULL). Everything is copied. Returns false with the reason
 * in err when it could not start (done is then not called). */
bool ex_start(struct explainer *ex, const char *const *keys, const char *const *vals, const char *sql, int nparams,
	      const char *const *params, uint32_t slot, uint64_t id, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
