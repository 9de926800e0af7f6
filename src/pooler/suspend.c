/*
 * suspend: see suspend.h. A connection is held through conn->held, which
 * conn_update() honours, so no state machine needs to know about it.
 */
#include "pooler/suspend.h"

#include "pooler/client.h"
#include "pooler/listener.h"
#include "pooler/server.h"
#include "util/log.h"

/* What a walk over the connections does to each one; returns true to stop
 * the walk there. */
typedef bool (*conn_visit_fn)(struct conn *c, void *arg);

static struct conn *walk_clients(struct list *l, conn_visit_fn fn, void *arg)
{
	struct list *it;

	list_for_each(it, l) {
		struct client *cl = list_entry(it, struct client, node);
		if (!cl->admin && fn(&cl->c, arg))
			return &cl->c;
	}
	return NULL;
}

static struct conn *walk_servers(struct list *l, conn_visit_fn fn, void *arg)
{
	struct list *it;

	list_for_each(it, l) {
		struct server *sv = list_entry(it, struct server, node);
		if (fn(&sv->c, arg))
			return &sv->c;
	}
	return NULL;
}

/* Visits every client (not the console's) and server connection; returns
 * the one where fn stopped, or NULL. */
static struct conn *walk(struct sift *s, conn_visit_fn fn, void *arg)
{
	struct conn *c = walk_clients(&s->login_clients, fn, arg);
	struct list *it;

	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct list *const lists[] = { &p->idle_clients, &p->active_clients, &p->waiting_clients,
					       &p->login_clients };
		struct list *const slists[] = { &p->active_servers, &p->idle_servers, &p->tested_servers,
						&p->new_servers, &p->canceling_servers };
		for (size_t i = 0; !c && i < sizeof(lists) / sizeof(lists[0]); i++)
			c = walk_clients(lists[i], fn, arg);
		for (size_t i = 0; !c && i < sizeof(slists) / sizeof(slists[0]); i++)
			c = walk_servers(slists[i], fn, arg);
		if (c)
			break;
	}
	return c;
}

static bool set_held(struct conn *c, void *arg)
{
	c->held = *(const bool *)arg;
	conn_update(c);
	return false;
}

static bool is_unflushed(struct conn *c, void *arg)
{
	(void)arg;
	return c->fd >= 0 && (c->nseg > 0 || c->tls_wants_write);
}

bool suspend_start(struct sift *s)
{
	bool on = true;

	if (s->suspended)
		return false;
	s->suspended = true;
	s->suspend_start = s->now;
	listener_suspend(s, true);
	walk(s, set_held, &on);
	return true;
}

bool suspend_flushed(struct sift *s)
{
	bool late = s->cfg.suspend_timeout > 0 && s->now - s->suspend_start >= (int64_t)s->cfg.suspend_timeout;
	struct conn *c;

	while ((c = walk(s, is_unflushed, NULL))) {
		if (!late)
			return false;
		/* one at a time: closing one may move others between lists */
		if (c->kind == CONN_CLIENT)
			client_close((struct client *)c, "08006", "suspend_timeout");
		else
			server_close((struct server *)c, "suspend_timeout");
	}
	return true;
}

bool suspend_end(struct sift *s)
{
	bool on = false;

	if (!s->suspended)
		return false;
	s->suspended = false;
	walk(s, set_held, &on);
	listener_suspend(s, false);
	return true;
}
