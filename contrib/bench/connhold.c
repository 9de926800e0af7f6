/*
 * connhold: opens many libpq connections at once, asynchronously
 * (PQconnectStart/PQconnectPoll over epoll), optionally runs one query on
 * each, reports how long that took, and with -H holds them open until
 * SIGINT/SIGTERM. Used by contrib/bench/run.sh to measure a pooler's memory
 * with 10,000 idle clients and the time for 10,000 clients to connect and
 * each run one query. A benchmark helper, not part of pgsift.
 *
 *   cc -O2 $(pkg-config --cflags libpq) connhold.c $(pkg-config --libs libpq)
 *   connhold [-n conns] [-p in-flight] [-q query] [-H] 'conninfo'
 *
 * Prints one line: "ok=N failed=N seconds=S" (with -H: "ready ok=... ",
 * printed once every connection is up, then it waits for a signal), and the
 * first error message on stderr if any connection failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

enum cstate { C_IDLE, C_CONNECTING, C_QUERYING, C_DONE, C_FAILED };

struct conn {
	PGconn *pg;
	enum cstate state;
	int fd;
};

static volatile sig_atomic_t stop;
static char first_error[512];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(struct conn *c, int ep, const char *why)
{
	if (!first_error[0])
		snprintf(first_error, sizeof(first_error), "%s", why ? why : "unknown error");
	if (c->fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	c->state = C_FAILED;
}

/* Registers c's socket for the events libpq asked for (re-adding if the
 * socket changed, as it may while libpq tries addresses). */
static void watch(struct conn *c, int ep, uint32_t events, long idx)
{
	struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)idx};
	int fd = PQsocket(c->pg);

	if (fd != c->fd) {
		if (c->fd >= 0)
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	} else {
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	}
}

/* Advances one connection; returns true when it has left the in-flight set. */
static bool step(struct conn *c, int ep, long idx, const char *query)
{
	if (c->state == C_CONNECTING) {
		switch (PQconnectPoll(c->pg)) {
		case PGRES_POLLING_READING:
			watch(c, ep, EPOLLIN, idx);
			return false;
		case PGRES_POLLING_WRITING:
			watch(c, ep, EPOLLOUT, idx);
			return false;
		case PGRES_POLLING_OK:
			if (!query) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->state = C_DONE;
				return true;
			}
			if (PQsetnonblocking(c->pg, 1) != 0 || !PQsendQuery(c->pg, query) || PQflush(c->pg) != 0) {
				fail(c, ep, PQerrorMessage(c->pg));
				return true;
			}
			c->state = C_QUERYING;
			watch(c, ep, EPOLLIN, idx);
			return false;
		default:
			fail(c, ep, PQerrorMessage(c->pg));
			return true;
		}
	}
	if (c->state == C_QUERYING) {
		if (!PQconsumeInput(c->pg)) {
			fail(c, ep, PQerrorMessage(c->pg));
			return true;
		}
		while (!PQisBusy(c->pg)) {
			PGresult *r = PQgetResult(c->pg);
			if (!r) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->state = C_DONE;
				return true;
			}
			if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
				fail(c, ep, PQresultErrorMessage(r));
				PQclear(r);
				return true;
			}
			PQclear(r);
		}
	}
	return false;
}

static bool start(struct conn *c, int ep, long idx, const char *conninfo)
{
	c->fd = -1;
	c->pg = PQconnectStart(conninfo);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		fail(c, ep, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return false;
	}
	c->state = C_CONNECTING;
	watch(c, ep, EPOLLOUT, idx); /* PQconnectStart's contract: poll for write first */
	return true;
}

int main(int argc, char **argv)
{
	long n = 100, inflight_max = 200;
	const char *query = NULL;
	bool hold = false;
	int opt;

	while ((opt = getopt(argc, argv, "n:p:q:H")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'p': inflight_max = atol(optarg); break;
		case 'q': query = optarg; break;
		case 'H': hold = true; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || n < 1 || inflight_max < 1)
		goto usage;

	const char *conninfo = argv[optind];
	struct conn *conns = calloc((size_t)n, sizeof(*conns));
	struct epoll_event evs[256];
	int ep = epoll_create1(0);
	long next = 0, inflight = 0, ok = 0, failed = 0;
	double t0 = now();

	if (!conns || ep < 0) {
		perror("connhold");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!stop && (next < n || inflight > 0)) {
		while (next < n && inflight < inflight_max) {
			if (start(&conns[next], ep, next, conninfo))
				inflight++;
			else
				failed++;
			next++;
		}
		int k = epoll_wait(ep, evs, 256, 1000);
		if (k < 0 && errno != EINTR) {
			perror("epoll_wait");
			return 1;
		}
		for (int i = 0; i < k; i++) {
			long idx = (long)evs[i].data.u64;
			struct conn *c = &conns[idx];
			if (c->state != C_CONNECTING && c->state != C_QUERYING)
				continue;
			if (step(c, ep, idx, query)) {
				inflight--;
				if (c->state == C_DONE)
					ok++;
				else
					failed++;
			}
		}
	}
	double secs = now() - t0;

	printf("%sok=%ld failed=%ld seconds=%.3f\n", hold ? "ready " : "", ok, failed, secs);
	fflush(stdout);
	if (first_error[0])
		fprintf(stderr, "connhold: first error: %s", first_error);
	while (hold && !stop)
		pause();
	for (long i = 0; i < n; i++)
		if (conns[i].pg)
			PQfinish(conns[i].pg);
	free(conns);
	return failed ? 2 : 0;

usage:
	fprintf(stderr, "usage: %s [-n conns] [-p in-flight] [-q query] [-H] conninfo\n", argv[0]);
	return 2;
}
