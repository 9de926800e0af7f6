/*
 * advisor_pool: see advisor_pool.h.
 *
 * The probe is one libpq connection per pool at a time, driven by a
 * libevent event on PQsocket(): PQconnectPoll says which readiness to wait
 * for next (the socket may change between polls, so the event is assigned
 * anew each time), then PQsendQuery / PQconsumeInput / PQisBusy. Nothing
 * here blocks the loop; a probe that takes longer than PROBE_TIMEOUT fails.
 */
#include "pooler/advisor_pool.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "pooler/objects.h"
#include "pooler/pool.h"

#define PROBE_EVERY 60000000LL	/* usec between probes of the server */
#define PROBE_TIMEOUT 10	/* seconds */
#define MIN_WINDOW 1000000LL	/* usec: advisor_window below 1 s reads as 1 s */

static void probe_start(struct advisor *a);

struct advisor {
	struct adv_pool m;
	int64_t window;		/* advisor_window that m was last set for */
	struct pool *pool;
	PGconn *pg;
	struct event ev;
	bool ev_added;
	bool connecting;	/* PQconnectPoll phase, else the query phase */
	int64_t probe_at;	/* monotonic usec the last probe started; 0: never */
	int pg_max, pg_reserved, pg_used;
	char pg_status[200];
};

static int64_t window_of(const struct sift *s)
{
	return s->cfg.advisor_window < MIN_WINDOW ? MIN_WINDOW : s->cfg.advisor_window;
}

/* A pool's state at its first use; NULL when out of memory. */
static struct advisor *adv_new(struct pool *p)
{
	struct advisor *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->window = p->sift->cfg.advisor_window;
	adv_init(&a->m, window_of(p->sift));
	a->pool = p;
	a->pg_max = a->pg_reserved = a->pg_used = -1;
	snprintf(a->pg_status, sizeof(a->pg_status), "pending");
	p->adv = a;
	return a;
}

/* The pool's state, made at its first use; NULL when out of memory.
 * Inline: three calls a transaction. */
static inline struct advisor *adv_of(struct pool *p)
{
	struct advisor *a = p->adv;

	if (!a)
		return adv_new(p);
	if (a->window != p->sift->cfg.advisor_window) { /* changed by SET or RELOAD */
		a->window = p->sift->cfg.advisor_window;
		adv_set_window(&a->m, window_of(p->sift));
	}
	return a;
}

void advisor_on_link(struct pool *p, int64_t wait_us)
{
	struct advisor *a;

	an_pool_link(p, wait_us);
	if (!(a = adv_of(p)))
		return;
	adv_assign(&a->m, p->sift->now, pool_size_of(p->sift, p), (uint64_t)(wait_us > 0 ? wait_us : 0));
	/* refreshed while the pool is used, once SHOW POOL_ADVICE asked */
	if (!a->pg && a->probe_at && p->sift->now - a->probe_at >= PROBE_EVERY)
		probe_start(a);
}

void advisor_on_unlink(struct server *sv)
{
	struct pool *p = sv->pool;
	struct advisor *a;
	int64_t hold = sv->sift->now - sv->link_time;

	if (!sv->link_time)
		return;
	sv->link_time = 0;
	if ((a = adv_of(p)))
		adv_release(&a->m, sv->sift->now, pool_size_of(sv->sift, p), (uint64_t)(hold > 0 ? hold : 0));
}

void advisor_on_request(struct pool *p)
{
	struct advisor *a = adv_of(p);

	if (a)
		adv_arrival(&a->m, p->sift->now, pool_size_of(p->sift, p));
}

void advisor_on_wait(struct pool *p)
{
	struct advisor *a;

	an_pool_wait(p);
	a = adv_of(p);
	if (a)
		adv_queued(&a->m, p->sift->now, pool_size_of(p->sift, p));
}

void advisor_on_reserve(struct pool *p)
{
	struct advisor *a = adv_of(p);

	if (a)
		adv_reserve(&a->m, p->sift->now, pool_size_of(p->sift, p));
}

void advisor_on_login(struct server *sv)
{
	struct advisor *a = adv_of(sv->pool);
	int64_t t = sv->sift->now - sv->created;

	if (a)
		adv_connect(&a->m, sv->sift->now, pool_size_of(sv->sift, sv->pool), (uint64_t)(t > 0 ? t : 0));
}

/* ---- the probe of PostgreSQL ---- */

static void probe_end(struct advisor *a)
{
	if (a->ev_added)
		event_del(&a->ev);
	a->ev_added = false;
	if (a->pg)
		PQfinish(a->pg);
	a->pg = NULL;
}

static void probe_fail(struct advisor *a, const char *what, const char *why)
{
	char msg[200];
	size_t n;

	snprintf(msg, sizeof(msg), "%s: %s", what, why && *why ? why : "unknown error");
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = 0;
	for (char *c = msg; *c; c++)
		if (*c == '\n')
			*c = ' ';
	snprintf(a->pg_status, sizeof(a->pg_status), "%s", msg);
	log_info("%s/%s: advisor cannot read max_connections: %s", a->pool->db->name, a->pool->user->name, msg);
	probe_end(a);
}

static void probe_cb(evutil_socket_t fd, short what, void *arg);

static void probe_wait(struct advisor *a, short what)
{
	struct timeval tv = { PROBE_TIMEOUT, 0 };

	if (a->ev_added)
		event_del(&a->ev);
	event_assign(&a->ev, a->pool->sift->base, PQsocket(a->pg), what, probe_cb, a);
	a->ev_added = event_add(&a->ev, &tv) == 0;
	if (!a->ev_added)
		probe_fail(a, "probe", "cannot add an event");
}

static void probe_result(struct advisor *a)
{
	PGresult *res;
	bool got = false;

	while ((res = PQgetResult(a->pg))) {
		if (!got && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 3) {
			a->pg_max = atoi(PQgetvalue(res, 0, 0));
			a->pg_reserved = atoi(PQgetvalue(res, 0, 1));
			a->pg_used = atoi(PQgetvalue(res, 0, 2));
			snprintf(a->pg_status, sizeof(a->pg_status), "ok");
			got = true;
		} else if (!got) {
			char why[160];
			snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
			PQclear(res);
			probe_fail(a, "query", why);
			return;
		}
		PQclear(res);
	}
	probe_end(a);
}

static void probe_query(struct advisor *a)
{
	static const char q[] = "SELECT current_setting('max_connections')::int, "
				"current_setting('superuser_reserved_connections')::int, "
				"(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
				"AND pid <> pg_backend_pid())::int";
	int rc;

	a->connecting = false;
	if (!PQsendQuery(a->pg, q)) {
		probe_fail(a, "query", PQerrorMessage(a->pg));
		return;
	}
	rc = PQflush(a->pg);
	if (rc < 0)
		probe_fail(a, "query", PQerrorMessage(a->pg));
	else
		probe_wait(a, rc ? EV_READ | EV_WRITE : EV_READ);
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct advisor *a = arg;

	(void)fd;
	a->ev_added = false; /* not persistent: fired means no longer pending */
	sift_now(a->pool->sift);
	if (what & EV_TIMEOUT) {
		probe_fail(a, a->connecting ? "connect" : "query", "timed out");
		return;
	}
	if (a->connecting) {
		switch (PQconnectPoll(a->pg)) {
		case PGRES_POLLING_READING:
			probe_wait(a, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			probe_wait(a, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			probe_query(a);
			return;
		default:
			probe_fail(a, "connect", PQerrorMessage(a->pg));
			return;
		}
	}
	if (PQflush(a->pg) == 1) {
		probe_wait(a, EV_READ | EV_WRITE);
		return;
	}
	if (!PQconsumeInput(a->pg)) {
		probe_fail(a, "query", PQerrorMessage(a->pg));
		return;
	}
	if (PQisBusy(a->pg))
		probe_wait(a, EV_READ);
	else
		probe_result(a);
}

/* Starts a probe of the pool's server with the pool's login. */
static void probe_start(struct advisor *a)
{
	struct pool *p = a->pool;
	char host[64], port[16];
	const char *keys[8], *vals[8];
	int n;

	a->probe_at = p->sift->now;
	n = pool_libpq_params(p->sift, p, keys, vals, host, port);
	keys[n] = "application_name", vals[n++] = "pgsift advisor";
	keys[n] = NULL, vals[n] = NULL;
	a->pg = PQconnectStartParams(keys, vals, 0);
	if (!a->pg || PQstatus(a->pg) == CONNECTION_BAD) {
		probe_fail(a, "connect", a->pg ? PQerrorMessage(a->pg) : "out of memory");
		return;
	}
	a->connecting = true;
	probe_wait(a, EV_WRITE); /* libpq: after PQconnectStart, wait for write */
}

void advisor_pool_free(struct pool *p)
{
	struct advisor *a = p->adv;

	if (!a)
		return;
	probe_end(a);
	free(a);
	p->adv = NULL;
}

/* ---- the report ---- */

static int reserve_of(const struct sift *s, const struct pool *p)
{
	return p->db->conf.reserve_pool_size >= 0 ? p->db->conf.reserve_pool_size : s->cfg.reserve_pool_size;
}

/* The most servers this pool may have: what PostgreSQL has room for plus
 * what the pool holds now, within max_db_connections; 0: unknown. */
static int cap_of(const struct sift *s, const struct pool *p, const struct advisor *a)
{
	int cap = 0, maxdb = p->db->conf.max_db_connections >= 0 ? p->db->conf.max_db_connections
								  : s->cfg.max_db_connections;

	if (a->pg_max > 0) {
		cap = a->pg_max - (a->pg_reserved > 0 ? a->pg_reserved : 0) - a->pg_used + p->nservers;
		if (cap < 1)
			cap = 1;
	}
	if (maxdb > 0) {
		int room = maxdb - (p->db->nservers - p->nservers);
		if (room < 1)
			room = 1;
		if (cap == 0 || room < cap)
			cap = room;
	}
	return cap;
}

static const char *confidence_of(uint64_t xacts, uint64_t min)
{
	if (xacts < min)
		return "none";
	if (xacts < 10 * min)
		return "low";
	return xacts < 100 * min ? "medium" : "high";
}

void advisor_report(struct pool *p, struct advisor_row *r)
{
	struct sift *s = p->sift;
	struct advisor *a = adv_of(p);
	struct adv_input in;
	struct adv_slot *sl;
	int64_t cov;

	memset(r, 0, sizeof(*r));
	r->size = pool_size_of(s, p);
	r->reserve = reserve_of(s, p);
	r->servers = p->nservers;
	r->pg_max = r->pg_used = -1;
	r->pg_status = "out of memory";
	r->confidence = "none";
	r->advice.current_p99_ms = r->advice.predicted_p99_ms = NAN;
	if (!a || !(sl = malloc(sizeof(*sl)))) {
		snprintf(r->advice.reason, sizeof(r->advice.reason), "out of memory");
		return;
	}
	if (!a->pg && (!a->probe_at || s->now - a->probe_at >= PROBE_EVERY))
		probe_start(a);
	adv_tick(&a->m, s->now, r->size);
	cov = adv_window(&a->m, s->now, sl);
	adv_measure(sl, cov, &r->win);
	cov = adv_since_start(&a->m, s->now, sl);
	adv_measure(sl, cov, &r->all);
	free(sl);
	r->pg_max = a->pg_max;
	r->pg_used = a->pg_used;
	r->pg_status = a->pg_status;
	memset(&in, 0, sizeof(in));
	in.m = r->win;
	in.size = r->size;
	in.target_wait_ms = s->cfg.advisor_target_wait_ms;
	in.headroom = s->cfg.advisor_headroom / 100.0;
	in.min_xacts = (uint64_t)s->cfg.advisor_min_transactions;
	in.cap = cap_of(s, p, a);
	adv_advise(&in, &r->advice);
	if (!r->advice.advised)
		r->advice.current_p99_ms = r->advice.predicted_p99_ms = NAN;
	r->confidence = confidence_of(r->win.xacts, in.min_xacts);
}
