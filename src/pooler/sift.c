/*
 * sift: the context's own functions (sift.h): its clock and the reaping of
 * closed objects once the loop is done with them. main.c sets the context
 * up; the pooler, and programs that run it without main.c (the client
 * fuzz target), link these.
 */
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "pooler/client.h"
#include "pooler/replication.h"
#include "pooler/server.h"
#include "pooler/sift.h"

int64_t sift_now(struct sift *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return s->now;
}

int64_t sift_wall_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void sift_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sift *s = arg;

	(void)fd;
	(void)what;
	s->reap_scheduled = false;
	while (!list_empty(&s->free_clients))
		client_free(list_entry(s->free_clients.next, struct client, node));
	while (!list_empty(&s->free_servers))
		server_free(list_entry(s->free_servers.next, struct server, node));
	/* a connection closed: room for a replication client that waits? */
	if (s->repl_login)
		repl_retry_waiting(s);
}

void sift_schedule_reap(struct sift *s)
{
	if (!s->reap_scheduled && s->ev_reap) {
		s->reap_scheduled = true;
		event_active(s->ev_reap, 0, 0);
	}
}
