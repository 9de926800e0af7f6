/*
 * notify: LISTEN fanned out. See notify.h and doc/session-state.md.
 *
 * Per pool (struct nf_pool): the listener server, its channels, and the
 * clients whose ReadyForQuery waits for the listener. Per channel: the
 * clients listening on it (struct nf_sub, in the channel's list and in
 * the client's). Channels are few per pool: lists, not hashes.
 */
#include "pooler/notify.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/server.h"
#include "pooler/session_sql.h"
#include "util/log.h"
#include "util/proto.h"

#define NF_OPS_MAX 1024		/* LISTEN/UNLISTEN per transaction that are followed */
#define NF_STALL_USEC 5000000	/* a client over notify_buffer that read nothing this long: closed */
#define NF_STALL_CHECK 1000000	/* how often the listener's pause is looked at */

enum nf_state { NF_RETRY, NF_CONNECTING, NF_UP };

struct nf_chan {
	struct list node;	/* nf_pool->chans */
	struct list subs;	/* struct nf_sub.cnode */
	uint32_t nsubs;
	bool have;		/* the listener LISTENs on it (confirmed) */
	bool sent;		/* a LISTEN or UNLISTEN of it is in flight */
	bool sent_listen;	/* ... a LISTEN */
	char name[];
};

struct nf_sub {
	struct list cnode;	/* chan->subs */
	struct list lnode;	/* nf_client->subs */
	struct client *cl;
	struct nf_chan *ch;
};

struct nf_op {
	uint8_t op;		/* SS_LISTEN, SS_UNLISTEN, SS_UNLISTEN_ALL */
	char *channel;
};

struct nf_client {
	struct client *cl;
	struct list subs;	/* struct nf_sub.lnode */
	struct list wnode;	/* nf_pool->waiters while held */
	struct server *held;	/* whose relay waits for the listener */
	struct nf_op *ops;	/* this transaction's changes */
	uint32_t nops, capops;
	struct pktbuf q;	/* notifications not yet in the output queue */
	struct list onode;	/* nf_pool->over while over notify_buffer */
	int64_t over_since;	/* 0: not over; else since when it read nothing */
	uint64_t over_bytes;	/* waiting_bytes() then */
};

struct nf_pool {
	struct pool *p;
	struct server *sv;	/* the listener; NULL while retrying */
	struct list chans;
	struct list waiters;	/* struct nf_client.wnode */
	struct list over;	/* struct nf_client.onode: over notify_buffer, the listener is not read */
	struct event *timer;	/* connect timeout, or the next attempt */
	uint8_t state;		/* enum nf_state */
	bool down;		/* the last attempt failed: nobody is held */
	bool inflight;		/* a batch of LISTEN/UNLISTEN awaits its ReadyForQuery */
	bool in_input;		/* busy (reading the listener, resuming clients): lp is not freed, no sync */
	uint32_t nsubs, nclients;
	uint64_t received, delivered, reconnects, clients_closed;
};

static void pool_timer_cb(evutil_socket_t fd, short what, void *arg);
static bool pool_sync(struct nf_pool *lp);
static void stall_check(struct nf_pool *lp);

/* ---- objects ---- */

static struct nf_pool *pool_of(struct pool *p)
{
	struct nf_pool *lp = p->nf;

	if (lp)
		return lp;
	if (!(lp = calloc(1, sizeof(*lp))))
		return NULL;
	if (!(lp->timer = evtimer_new(p->sift->base, pool_timer_cb, lp))) {
		free(lp);
		return NULL;
	}
	lp->p = p;
	lp->state = NF_RETRY;
	list_init(&lp->chans);
	list_init(&lp->waiters);
	list_init(&lp->over);
	p->nf = lp;
	return lp;
}

static struct nf_client *client_of(struct client *cl)
{
	struct nf_client *nc = cl->nf;

	if (nc || !cl->pool)
		return nc;
	if (!(nc = calloc(1, sizeof(*nc))))
		return NULL;
	list_init(&nc->subs);
	list_init(&nc->wnode);
	list_init(&nc->onode);
	pkt_init(&nc->q, 1u << 30);
	nc->cl = cl;
	cl->nf = nc;
	return nc;
}

static struct nf_chan *chan_find(struct nf_pool *lp, const char *name)
{
	struct list *it;

	list_for_each(it, &lp->chans) {
		struct nf_chan *ch = list_entry(it, struct nf_chan, node);
		if (!strcmp(ch->name, name))
			return ch;
	}
	return NULL;
}

static struct nf_sub *sub_find(struct nf_client *nc, const char *name)
{
	struct list *it;

	list_for_each(it, &nc->subs) {
		struct nf_sub *sb = list_entry(it, struct nf_sub, lnode);
		if (!strcmp(sb->ch->name, name))
			return sb;
	}
	return NULL;
}

static void sub_del(struct nf_pool *lp, struct nf_sub *sb)
{
	list_del(&sb->cnode);
	list_del(&sb->lnode);
	sb->ch->nsubs--;
	lp->nsubs--;
	lp->nclients -= list_empty(&sb->cl->nf->subs);
	free(sb);
}

static bool subscribe(struct nf_pool *lp, struct client *cl, struct nf_client *nc, const char *name)
{
	struct nf_chan *ch = chan_find(lp, name);
	struct nf_sub *sb;

	if (sub_find(nc, name))
		return true;
	if (!ch) {
		size_t n = strlen(name);
		if (!(ch = calloc(1, sizeof(*ch) + n + 1)))
			return false;
		memcpy(ch->name, name, n + 1);
		list_init(&ch->subs);
		list_append(&lp->chans, &ch->node);
	}
	if (!(sb = calloc(1, sizeof(*sb))))
		return false;
	sb->cl = cl;
	sb->ch = ch;
	lp->nclients += list_empty(&nc->subs);
	list_append(&ch->subs, &sb->cnode);
	list_append(&nc->subs, &sb->lnode);
	ch->nsubs++;
	lp->nsubs++;
	return true;
}

static void ops_clear(struct nf_client *nc)
{
	for (uint32_t i = 0; i < nc->nops; i++)
		free(nc->ops[i].channel);
	nc->nops = 0;
}

/* ---- the listener connection ---- */

static void arm(struct nf_pool *lp, usec_t delay)
{
	struct timeval tv = { (time_t)(delay / 1000000), (suseconds_t)(delay % 1000000) };

	evtimer_add(lp->timer, &tv);
}

/* The clients held for the listener go on; a channel it does not LISTEN
 * on yet keeps one held unless the listener is down. */
static bool must_wait(const struct nf_pool *lp, const struct nf_client *nc)
{
	const struct list *it;

	if (lp->down)
		return false;
	list_for_each(it, &nc->subs) {
		const struct nf_sub *sb = list_entry(it, const struct nf_sub, lnode);
		/* an UNLISTEN in flight: the LISTEN that follows it is waited for */
		if (!sb->ch->have || (sb->ch->sent && !sb->ch->sent_listen))
			return true;
	}
	return false;
}

static void resume_waiters(struct nf_pool *lp)
{
	struct list *it;
	bool again = true, busy = lp->in_input;

	/* a resumed relay may close or hold other clients (start over each
	 * time), or commit an UNLISTEN *: lp is not freed meanwhile */
	lp->in_input = true;
	while (again) {
		again = false;
		list_for_each(it, &lp->waiters) {
			struct nf_client *nc = list_entry(it, struct nf_client, wnode);
			struct server *sv = nc->held;
			if (must_wait(lp, nc))
				continue;
			list_del(&nc->wnode);
			nc->held = NULL;
			if (sv && sv->state == SV_ACTIVE)
				server_resume(sv);
			again = true;
			break;
		}
	}
	lp->in_input = busy;
}

static void launch(struct nf_pool *lp)
{
	struct sift *s = lp->p->sift;

	lp->sv = server_launch_listener(lp->p);
	if (!lp->sv) {
		lp->down = true;
		lp->state = NF_RETRY;
		arm(lp, s->cfg.server_login_retry > 0 ? s->cfg.server_login_retry : 1000000);
		resume_waiters(lp);
		return;
	}
	lp->state = NF_CONNECTING;
	if (s->cfg.server_connect_timeout > 0)
		arm(lp, s->cfg.server_connect_timeout);
}

/* Frees the pool's listening state: no client listens any more. */
static void pool_close(struct nf_pool *lp)
{
	struct server *sv = lp->sv;

	lp->p->nf = NULL;
	lp->sv = NULL;
	if (sv)
		server_close(sv, "no client listens any more");
	while (!list_empty(&lp->waiters)) {
		struct nf_client *nc = list_entry(lp->waiters.next, struct nf_client, wnode);
		list_del(&nc->wnode);
		if (nc->held && nc->held->state == SV_ACTIVE)
			server_resume(nc->held);
		nc->held = NULL;
	}
	while (!list_empty(&lp->over)) {
		struct nf_client *nc = list_entry(lp->over.next, struct nf_client, onode);
		list_del(&nc->onode);
		nc->over_since = 0;
	}
	while (!list_empty(&lp->chans)) {
		struct nf_chan *ch = list_entry(lp->chans.next, struct nf_chan, node);
		list_del(&ch->node);
		free(ch);
	}
	event_free(lp->timer);
	free(lp);
}

/* Appends LISTEN "name"; / UNLISTEN "name"; to pb's query text. */
static void put_cmd(struct pktbuf *pb, bool listen, const char *name)
{
	pkt_put(pb, listen ? "LISTEN \"" : "UNLISTEN \"", listen ? 8 : 10);
	for (const char *c = name; *c; c++) {
		if (*c == '"')
			pkt_put_u8(pb, '"');
		pkt_put_u8(pb, (uint8_t)*c);
	}
	pkt_put(pb, "\";", 2);
}

/* Brings the listener in line with the channels clients want: one query
 * at a time. false when lp was freed (nobody listens). */
static bool pool_sync(struct nf_pool *lp)
{
	struct server *sv = lp->sv;
	struct list *it, *next;
	uint32_t mark;
	bool any = false;

	if (lp->in_input)
		return true;
	if (lp->nsubs == 0 && list_empty(&lp->waiters)) {
		pool_close(lp);
		return false;
	}
	if (!sv) {
		if (!evtimer_pending(lp->timer, NULL))
			launch(lp);
		return true;
	}
	if (lp->state != NF_UP || lp->inflight)
		return true;
	mark = conn_gen_mark(&sv->c);
	pkt_begin(&sv->c.gen, 'Q');
	for (it = lp->chans.next; it != &lp->chans; it = next) {
		struct nf_chan *ch = list_entry(it, struct nf_chan, node);
		bool want = ch->nsubs > 0;
		next = it->next;
		if (!want && !ch->have) {
			list_del(&ch->node);
			free(ch);
			continue;
		}
		if (want == ch->have)
			continue;
		put_cmd(&sv->c.gen, want, ch->name);
		ch->sent = true;
		ch->sent_listen = want;
		any = true;
	}
	pkt_put_u8(&sv->c.gen, 0);
	pkt_end(&sv->c.gen);
	if (!any) {
		sv->c.gen.len = mark;
		return true;
	}
	lp->inflight = true;
	if (!conn_gen_commit(&sv->c, mark) || conn_flush(&sv->c) == CONN_IO_ERROR)
		server_close(sv, "cannot send LISTEN to the listener connection");
	else
		conn_update(&sv->c);
	return lp->p->nf == lp;
}

/* ---- a client that does not read ---- */

/* Notification bytes pgsift holds for cl: queued, and generated output
 * not yet sent (what the socket took is the client's to read). */
static uint64_t waiting_bytes(const struct client *cl)
{
	uint64_t n = cl->nf->q.len;

	for (int i = 0; i < cl->c.nseg; i++)
		if (cl->c.seg[i].gen)
			n += cl->c.seg[i].len;
	return n;
}

/* Reads the listener again (no client is over notify_buffer any more). */
static void listener_resume(struct nf_pool *lp)
{
	struct server *sv = lp->sv;

	if (!sv || lp->state != NF_UP)
		return;
	sv->c.want_read = true;
	conn_update(&sv->c);
	/* what was read before the pause: from the loop (the caller may be
	 * anywhere, and the input may free lp) */
	if (sv->c.in && sv->c.in->pos < sv->c.in->end)
		arm(lp, 0);
}

static void over_end(struct nf_pool *lp, struct nf_client *nc)
{
	if (!nc->over_since)
		return;
	nc->over_since = 0;
	list_del(&nc->onode);
	if (lp && list_empty(&lp->over))
		listener_resume(lp);
}

/* A client over notify_buffer that read nothing for NF_STALL_USEC (what
 * pgsift holds for it did not shrink) does not read: closed. */
static void stall_check(struct nf_pool *lp)
{
	struct list *it;
	bool again = true;
	int64_t now = lp->p->sift->now;

	lp->in_input = true; /* closing clients does not free lp here */
	while (again) {
		again = false;
		list_for_each(it, &lp->over) {
			struct nf_client *nc = list_entry(it, struct nf_client, onode);
			uint64_t w = waiting_bytes(nc->cl);
			if (w < nc->over_bytes) { /* it reads */
				nc->over_bytes = w;
				nc->over_since = now;
			}
			if (now - nc->over_since < NF_STALL_USEC)
				continue;
			lp->clients_closed++;
			client_close(nc->cl, "53400", "notifications not read: more than notify_buffer bytes wait for this client");
			again = true;
			break;
		}
	}
	lp->in_input = false;
	if (!list_empty(&lp->over))
		arm(lp, NF_STALL_CHECK);
	else
		listener_resume(lp);
	(void)pool_sync(lp);
}

/* The timer while the listener is up: the stall check, or the input read
 * before a pause. */
static void up_timer(struct nf_pool *lp)
{
	struct server *sv = lp->sv;

	if (!list_empty(&lp->over))
		stall_check(lp);
	else if (sv && sv->c.in && sv->c.in->pos < sv->c.in->end)
		notify_server_input(sv);
}

static void pool_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nf_pool *lp = arg;

	(void)fd;
	(void)what;
	sift_now(lp->p->sift);
	if (lp->state == NF_UP) {
		up_timer(lp);
		return;
	}
	if (lp->state == NF_CONNECTING && lp->sv) {
		server_close(lp->sv, "listener connection: connect timeout (server_connect_timeout)");
		return;
	}
	if (!lp->sv)
		(void)pool_sync(lp);
}

void notify_server_ready(struct server *sv)
{
	struct nf_pool *lp = sv->pool->nf;

	if (!lp || lp->sv != sv) {
		server_close(sv, "listener connection not needed any more");
		return;
	}
	evtimer_del(lp->timer);
	lp->state = NF_UP;
	lp->down = false;
	sv->state = SV_IDLE;
	sv->c.want_read = list_empty(&lp->over);
	if (!sv->c.want_read)
		arm(lp, NF_STALL_CHECK);
	server_log(sv, LOG_INFO, "listener connection for LISTEN up, backend pid %u", sv->backend_pid);
	if (pool_sync(lp))
		conn_update(&sv->c);
}

void notify_server_closed(struct server *sv)
{
	struct nf_pool *lp = sv->pool->nf;
	struct list *it;
	bool was_up;

	if (!lp || lp->sv != sv)
		return;
	was_up = lp->state == NF_UP;
	lp->sv = NULL;
	lp->state = NF_RETRY;
	lp->inflight = false;
	list_for_each(it, &lp->chans) {
		struct nf_chan *ch = list_entry(it, struct nf_chan, node);
		ch->have = ch->sent = false;
	}
	evtimer_del(lp->timer);
	if (was_up) { /* notifications until it is back are lost */
		log_warning("%s/%s: listener connection lost: LISTENing again", lp->p->db->name, lp->p->user->name);
		lp->reconnects++;
		arm(lp, 0);
		return;
	}
	lp->down = true;
	arm(lp, sv->sift->cfg.server_login_retry > 0 ? sv->sift->cfg.server_login_retry : 1000000);
	if (!lp->in_input)
		resume_waiters(lp);
}

/* ---- delivery ---- */

/* May bytes be added to the client's output now (between two messages,
 * outside a transaction, nothing of its own in flight)? */
static bool between_messages(const struct client *cl)
{
	const struct server *sv = cl->server;

	if (cl->state != CL_IDLE && cl->state != CL_WAITING && cl->state != CL_ACTIVE)
		return false;
	return !sv || (sv->txn == 'I' && !cl->pending_z && !cl->unsynced && !sv->c.pkt_left && !sv->inject_pending);
}

/* Moves len bytes into the client's output queue; false when the queue
 * has no room for another segment now. */
static bool to_output(struct client *cl, const uint8_t *msg, uint32_t len)
{
	uint32_t mark = conn_gen_mark(&cl->c);

	pkt_put(&cl->c.gen, msg, len);
	if (!cl->c.gen.failed && conn_gen_commit(&cl->c, mark))
		return true;
	cl->c.gen.len = mark;
	return false;
}

void notify_client_flush(struct client *cl)
{
	struct nf_client *nc = cl->nf;

	if (!nc) {
		cl->nf_queued = false;
		return;
	}
	if (nc->q.len && between_messages(cl) && to_output(cl, nc->q.data, nc->q.len)) {
		if (nc->q.cap > 65536)
			pkt_free(&nc->q);
		else
			pkt_reset(&nc->q);
		conn_update(&cl->c);
	}
	/* called again when the output drained, while over the bound */
	if (nc->over_since && waiting_bytes(cl) <= (uint64_t)cl->sift->cfg.notify_buffer / 2)
		over_end(cl->pool->nf, nc);
	cl->nf_queued = nc->q.len > 0 || nc->over_since;
}

static void deliver(struct nf_pool *lp, struct client *cl, const uint8_t *msg, uint32_t len)
{
	struct nf_client *nc = cl->nf;

	/* over the bound: the listener is not read until the client drained
	 * (PostgreSQL queues what comes meanwhile), or the client is closed */
	if (!nc->over_since && waiting_bytes(cl) + len > (uint64_t)cl->sift->cfg.notify_buffer) {
		nc->over_since = cl->sift->now;
		nc->over_bytes = waiting_bytes(cl) + len;
		list_append(&lp->over, &nc->onode);
		lp->sv->c.want_read = false;
		if (!evtimer_pending(lp->timer, NULL))
			arm(lp, NF_STALL_CHECK);
	}
	lp->delivered++;
	if (nc->q.len == 0 && between_messages(cl) && to_output(cl, msg, len)) {
		cl->nf_queued = nc->over_since != 0;
		if (conn_flush(&cl->c) == CONN_IO_ERROR)
			client_close(cl, NULL, "client write failed");
		return;
	}
	pkt_put(&nc->q, msg, len);
	if (nc->q.failed) {
		client_close(cl, "53200", "out of memory queueing notifications");
		return;
	}
	cl->nf_queued = true;
}

/* A NotificationResponse (msg: the whole message) from the listener. */
static void fan_out(struct nf_pool *lp, const uint8_t *msg, uint32_t total)
{
	const char *chan = (const char *)msg + PROTO_HDR + 4;
	struct nf_chan *ch;
	struct list *it, *next;

	if (total < PROTO_HDR + 6 || !memchr(chan, 0, total - PROTO_HDR - 4))
		return;
	lp->received++;
	if (!(ch = chan_find(lp, chan)))
		return;
	for (it = ch->subs.next; it != &ch->subs; it = next) {
		struct nf_sub *sb = list_entry(it, struct nf_sub, cnode);
		next = it->next; /* a client closed here drops only its own entry */
		deliver(lp, sb->cl, msg, total);
	}
}

/* The ReadyForQuery of a batch: what it sent is now what the listener has. */
static void confirmed(struct nf_pool *lp)
{
	struct list *it;

	lp->inflight = false;
	list_for_each(it, &lp->chans) {
		struct nf_chan *ch = list_entry(it, struct nf_chan, node);
		if (ch->sent)
			ch->have = ch->sent_listen;
		ch->sent = false;
	}
}

/* One whole message from the listener; false when it was closed. */
static bool listener_message(struct nf_pool *lp, struct server *sv, uint8_t type, const uint8_t *msg, uint32_t total)
{
	struct proto_err_fields ef;

	switch (type) {
	case 'A':
		fan_out(lp, msg, total);
		return true;
	case 'Z':
		if (lp->inflight)
			confirmed(lp);
		return true;
	case 'E':
		proto_parse_error(msg + PROTO_HDR, total - PROTO_HDR, &ef);
		server_log(sv, LOG_WARNING, "listener connection: %s", ef.message);
		return true;
	case 'C':
	case 'N':
	case 'S':
		return true;
	default:
		server_close(sv, "unexpected message on the listener connection");
		return false;
	}
}

void notify_server_input(struct server *sv)
{
	struct nf_pool *lp = sv->pool->nf;
	struct iobuf *b;

	if (!lp || lp->sv != sv) {
		server_close(sv, "listener connection not needed any more");
		return;
	}
	lp->in_input = true;
	while ((b = sv->c.in) && b->end - b->pos >= PROTO_HDR && sv->state != SV_FREE) {
		uint8_t type = b->data[b->pos];
		uint32_t len = proto_get_u32(b->data + b->pos + 1), total = len + 1;
		if (len < 4 || (uint64_t)len + 1 > (uint64_t)sv->sift->cfg.max_packet_size) {
			server_close(sv, "invalid message length on the listener connection");
			break;
		}
		if (b->end - b->pos < total) {
			if (total > b->cap && !conn_reserve_in(&sv->c, total))
				server_close(sv, "out of memory reading the listener connection");
			break;
		}
		b->pos += total;
		if (!listener_message(lp, sv, type, b->data + b->pos - total, total))
			break;
	}
	lp->in_input = false;
	if (sv->state != SV_FREE) {
		conn_trim(&sv->c);
		conn_update(&sv->c);
	}
	resume_waiters(lp);
	(void)pool_sync(lp);
}

/* ---- the client's side ---- */

void notify_client_op(struct client *cl, int op, const char *channel)
{
	struct nf_client *nc = client_of(cl);
	struct nf_op *o;

	if (!nc)
		return;
	if (nc->nops == nc->capops) {
		uint32_t cap = nc->capops ? nc->capops * 2 : 4;
		struct nf_op *n = cap <= NF_OPS_MAX ? realloc(nc->ops, cap * sizeof(*n)) : NULL;
		if (!n) {
			client_log(cl, LOG_WARNING, "LISTEN/UNLISTEN not followed: over %d in one transaction", NF_OPS_MAX);
			return;
		}
		nc->ops = n;
		nc->capops = cap;
	}
	o = &nc->ops[nc->nops];
	o->op = (uint8_t)op;
	o->channel = channel ? strdup(channel) : NULL;
	if (channel && !o->channel)
		return;
	nc->nops++;
	cl->nf_pend = true;
}

/* The transaction's LISTEN/UNLISTEN become the client's channels. */
static bool commit(struct nf_pool *lp, struct client *cl, struct nf_client *nc)
{
	bool ok = true;

	for (uint32_t i = 0; i < nc->nops; i++) {
		const struct nf_op *o = &nc->ops[i];
		struct nf_sub *sb;
		if (o->op == SS_LISTEN)
			ok = subscribe(lp, cl, nc, o->channel) && ok;
		else if (o->op == SS_UNLISTEN && (sb = sub_find(nc, o->channel)))
			sub_del(lp, sb);
		else if (o->op == SS_UNLISTEN_ALL)
			while (!list_empty(&nc->subs))
				sub_del(lp, list_entry(nc->subs.next, struct nf_sub, lnode));
	}
	ops_clear(nc);
	return ok;
}

bool notify_ready(struct server *sv, struct client *cl, char status, bool failed)
{
	struct nf_client *nc = cl->nf;
	struct nf_pool *lp;

	if (status != 'I')
		return false;
	cl->nf_pend = false;
	if (!nc)
		return false;
	if (failed || !(lp = pool_of(cl->pool))) {
		ops_clear(nc);
		return false;
	}
	if (!commit(lp, cl, nc))
		client_log(cl, LOG_WARNING, "out of memory: a LISTEN is not followed");
	if (!pool_sync(lp) || !must_wait(lp, nc))
		return false;
	nc->held = sv;
	list_append(&lp->waiters, &nc->wnode);
	return true;
}

void notify_client_free(struct client *cl)
{
	struct nf_client *nc = cl->nf;
	struct nf_pool *lp = cl->pool ? cl->pool->nf : NULL;

	if (!nc)
		return;
	cl->nf_pend = cl->nf_queued = false;
	list_del(&nc->wnode);
	over_end(lp, nc);
	while (!list_empty(&nc->subs)) {
		struct nf_sub *sb = list_entry(nc->subs.next, struct nf_sub, lnode);
		if (lp)
			sub_del(lp, sb);
		else {
			list_del(&sb->cnode);
			list_del(&sb->lnode);
			free(sb);
		}
	}
	cl->nf = NULL;
	ops_clear(nc);
	free(nc->ops);
	pkt_free(&nc->q);
	free(nc);
	if (lp)
		(void)pool_sync(lp);
}

void notify_pool_free(struct pool *p)
{
	if (p->nf)
		pool_close(p->nf);
}

void notify_info(const struct pool *p, struct notify_info *out)
{
	const struct nf_pool *lp = p->nf;
	const struct list *it;

	memset(out, 0, sizeof(*out));
	out->state = "";
	if (!lp)
		return;
	out->state = lp->state == NF_UP ? "listening" : lp->state == NF_CONNECTING ? "connecting" : "retrying";
	out->backend_pid = lp->sv && lp->state == NF_UP ? lp->sv->backend_pid : 0;
	list_for_each(it, &lp->chans) {
		const struct nf_chan *ch = list_entry(it, const struct nf_chan, node);
		out->channels += ch->nsubs > 0;
	}
	out->subscriptions = lp->nsubs;
	out->clients = lp->nclients;
	out->received = lp->received;
	out->delivered = lp->delivered;
	out->reconnects = lp->reconnects;
	out->clients_closed = lp->clients_closed;
	out->paused = !list_empty(&lp->over);
}
