/*
 * libFuzzer target for the client side of the relay after login: what a
 * logged-in client sends, in any order and any sizes, through the real
 * pooler (client.c, pool.c, server.c, prepared*.c, the analyzer's hooks)
 * to a fake PostgreSQL in the same event loop (below: it answers the
 * protocol as PostgreSQL does, with errors and their skip-to-Sync, named
 * statements and portals, transactions). Everything but main.c is linked;
 * the few sift_* functions main.c gives are here.
 *
 * Input: a settings byte (pool mode, max_prepared_statements, chunk size),
 * then operations, each an opcode byte and its fields: a message built from
 * small dictionaries of names and texts (so the fuzzer reaches deep states
 * quickly) or raw bytes, writes in chunks of any size, pauses in reading
 * the client's output (backpressure), a cancel request, a server that
 * fails the next message, a server that goes away.
 *
 * Invariants (abort on failure), besides AddressSanitizer, UBSan and
 * LeakSanitizer (every object is freed when the input is done):
 *   - the client receives well-formed backend messages only;
 *   - it never gets more ReadyForQuery than it sent Query, Sync and
 *     FunctionCall messages;
 *   - after the client has gone, the pool holds no client and every server
 *     left is idle and clean (nothing half-relayed).
 *
 * Build and run: FUZZ_TARGET=client test/fuzz/run.sh [seconds].
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fake_pg.h"
#include "fuzz_check.h"
#include "pooler/auth.h"
#include "pooler/client.h"
#include "pooler/objects.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "pooler/tls.h"
#include "util/log.h"

/* ---- what main.c gives the pooler ---- */

bool sift_reload(struct sift *s)
{
	(void)s;
	return false;
}

void sift_shutdown(struct sift *s, int mode)
{
	s->shutdown = mode;
}

bool sift_apply_setting(struct sift *s, const char *name, char *err, size_t errlen)
{
	(void)s;
	(void)name;
	snprintf(err, errlen, "not in the fuzzer");
	return false;
}

bool sift_tls_setup(struct sift *s, const struct config *cfg, char *err, size_t errlen)
{
	(void)s;
	(void)cfg;
	(void)err;
	(void)errlen;
	return true;
}

/* ---- input ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t in_u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t in_u16(struct in *in)
{
	return (uint16_t)(in_u8(in) << 8 | in_u8(in));
}

/* ---- the world of one input ---- */

static struct sift S;
static char dir[64];			/* where the fake PostgreSQL listens */
static int cfd = -1;			/* the client's end of its socket */
static uint8_t pending[1 << 18];	/* bytes built, not yet written */
static size_t npending;
static uint32_t sent_requests;		/* Query, Sync, FunctionCall sent after login */
static uint32_t got_ready;
static uint8_t rbuf[1 << 16];		/* what the client received, not yet parsed */
static size_t rlen;
static bool logged_in;
static uint32_t backend_pid, backend_key;

static void run_loop(int rounds)
{
	for (int i = 0; i < rounds; i++)
		event_base_loop(S.base, EVLOOP_NONBLOCK);
}

/* Parses what the client received: well-formed backend messages only. */
static void check_received(void)
{
	static const char types[] = "123ACDEGHIKNRSTVWZcdnpstv";
	size_t pos = 0;

	while (rlen - pos >= 5) {
		uint8_t t = rbuf[pos];
		uint32_t len = (uint32_t)rbuf[pos + 1] << 24 | rbuf[pos + 2] << 16 | rbuf[pos + 3] << 8 | rbuf[pos + 4];
		CHECK(t && strchr(types, t), "a backend message type");
		CHECK(len >= 4 && len < (1u << 24), "a backend message length");
		if (rlen - pos < (size_t)len + 1) {
			CHECK((size_t)len + 1 <= sizeof(rbuf), "a message the checker can hold");
			break;
		}
		if (t == 'Z') {
			CHECK(len == 5, "ReadyForQuery's length");
			if (logged_in)
				got_ready++;
			logged_in = true;
		}
		if (t == 'K' && len == 12) {
			backend_pid = (uint32_t)rbuf[pos + 5] << 24 | rbuf[pos + 6] << 16 | rbuf[pos + 7] << 8 | rbuf[pos + 8];
			backend_key = (uint32_t)rbuf[pos + 9] << 24 | rbuf[pos + 10] << 16 | rbuf[pos + 11] << 8 | rbuf[pos + 12];
		}
		pos += (size_t)len + 1;
	}
	memmove(rbuf, rbuf + pos, rlen - pos);
	rlen -= pos;
	CHECK(got_ready <= sent_requests, "no more ReadyForQuery than requests");
}

/* Reads what pgsift sent the client (unless reading is paused). */
static void drain(void)
{
	for (;;) {
		ssize_t r = read(cfd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (r <= 0)
			return;
		rlen += (size_t)r;
		check_received();
	}
}

/* Counts the Query, Sync and FunctionCall messages in what the client
 * wrote, framed as pgsift frames them (raw bytes included). */
static struct {
	uint8_t hdr[5];
	size_t hlen, left;
	bool dead;
} wr;

static void count_written(const uint8_t *p, size_t n)
{
	while (n && !wr.dead) {
		if (wr.left) {
			size_t k = n < wr.left ? n : wr.left;
			p += k;
			n -= k;
			wr.left -= k;
			continue;
		}
		wr.hdr[wr.hlen++] = *p++;
		n--;
		if (wr.hlen < 5)
			continue;
		uint32_t len = (uint32_t)wr.hdr[1] << 24 | wr.hdr[2] << 16 | wr.hdr[3] << 8 | wr.hdr[4];
		wr.hlen = 0;
		if (len < 4) {
			wr.dead = true; /* pgsift closes the client here */
			break;
		}
		wr.left = len - 4;
		if (wr.hdr[0] == 'Q' || wr.hdr[0] == 'S' || wr.hdr[0] == 'F')
			sent_requests++;
	}
}

static void write_chunks(size_t chunk, bool reading)
{
	size_t off = 0;
	int idle = 0;

	if (chunk < npending / 256)
		chunk = npending / 256; /* at most a few hundred writes: the fuzzer stays fast */
	while (off < npending) {
		size_t k = npending - off < chunk ? npending - off : chunk;
		ssize_t w = write(cfd, pending + off, k);
		if (w < 0 && errno != EAGAIN)
			break; /* pgsift closed the client */
		if (w > 0) {
			if (logged_in)
				count_written(pending + off, (size_t)w);
			off += (size_t)w;
			idle = 0;
		} else if (++idle > 200) {
			break; /* pgsift does not read the client: teardown() says whether it should have */
		}
		run_loop(2);
		if (reading)
			drain();
		else if (w <= 0)
			break; /* the client does not read and pgsift stopped reading it: as far as it goes */
	}
	npending = 0;
}

static void put(const void *p, size_t n)
{
	if (npending + n <= sizeof(pending)) {
		memcpy(pending + npending, p, n);
		npending += n;
	}
}

static void put_u32(uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	put(b, 4);
}

static void put_u16(uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(b, 2);
}

static void put_str(const char *s)
{
	put(s, strlen(s) + 1);
}

static const char *const names[] = { "", "s1", "s2", "S1", "pgsift_1", "pgsift_check", "s3", "p1" };
static const char *const texts[] = {
	"select 1", "select $1::int", "begin", "commit", "rollback", "err", "", "DEALLOCATE ALL", "DEALLOCATE s1",
	"DISCARD ALL", "PREPARE x AS select 1", "EXECUTE x", "select 1; EXECUTE pgsift_1", "deallocate pgsift_1",
	"select 'a;b'; select 2", "copy t from stdin", "select 1 /* pgsift_1 */", "DO $$ BEGIN END $$", "SET x = 1",
	"PREPARE TRANSACTION 'g'", "-- c\rEXECUTE y", "select 'x' -- ;",
};

static const char *pick(struct in *in, const char *const *list, size_t n)
{
	return list[in_u8(in) % n];
}

/* A text from the dictionary, or a long one (to stream past the buffer). */
static void put_text(struct in *in)
{
	uint8_t sel = in_u8(in);

	if (sel < 0xf0) {
		put_str(texts[sel % (sizeof(texts) / sizeof(texts[0]))]);
		return;
	}
	size_t n = (size_t)in_u16(in) * 2 + 100, room = sizeof(pending) - npending;
	if (room < 200) {
		put_str("select 1");
		return;
	}
	if (n > room - 100)
		n = room - 100;
	put(sel & 1 ? "EXECUTE x /*" : "select 1 /*", 12);
	memset(pending + npending, sel & 2 ? ';' : 'x', n);
	npending += n;
	put_str(sel & 4 ? "*/ ; select pgsift_1" : "*/");
}

/* Starts a message of type t; end_msg() patches its length. */
static size_t begin_msg(uint8_t t)
{
	size_t at = npending;

	put(&t, 1);
	put_u32(0);
	return at;
}

static void end_msg(size_t at)
{
	uint32_t len = (uint32_t)(npending - at - 1);

	if (at + 5 > npending)
		return;
	pending[at + 1] = (uint8_t)(len >> 24);
	pending[at + 2] = (uint8_t)(len >> 16);
	pending[at + 3] = (uint8_t)(len >> 8);
	pending[at + 4] = (uint8_t)len;
}

static void op_message(struct in *in, uint8_t op)
{
	size_t at;
	uint8_t k;

	switch (op % 12) {
	case 0:
		at = begin_msg('Q');
		put_text(in);
		end_msg(at);
		break;
	case 1:
		at = begin_msg('P');
		put_str(pick(in, names, 8));
		put_text(in);
		k = in_u8(in) % 3;
		put_u16(k);
		for (uint8_t i = 0; i < k; i++)
			put_u32(i ? 25 : 23);
		end_msg(at);
		break;
	case 2:
		at = begin_msg('B');
		put_str(in_u8(in) & 1 ? "p1" : "");
		put_str(pick(in, names, 8));
		put_u16(0);
		k = in_u8(in) % 3;
		put_u16(k);
		for (uint8_t i = 0; i < k; i++) {
			uint16_t vl = in_u8(in) & 0x80 ? in_u16(in) % 20000 : 1;
			put_u32(vl);
			if (npending + vl < sizeof(pending)) {
				memset(pending + npending, '7', vl);
				npending += vl;
			}
		}
		put_u16(0);
		end_msg(at);
		break;
	case 3:
		at = begin_msg('D');
		put(in_u8(in) & 1 ? "P" : "S", 1);
		put_str(pick(in, names, 8));
		end_msg(at);
		break;
	case 4:
		at = begin_msg('E');
		put_str(in_u8(in) & 1 ? "p1" : "");
		put_u32(in_u8(in) & 1);
		end_msg(at);
		break;
	case 5:
		at = begin_msg('C');
		put(in_u8(in) & 1 ? "P" : "S", 1);
		put_str(pick(in, names, 8));
		end_msg(at);
		break;
	case 6:
		end_msg(begin_msg('S'));
		break;
	case 7:
		end_msg(begin_msg('H'));
		break;
	case 8:
		at = begin_msg('F');
		put_u32(1);
		put_u16(0);
		put_u16(0);
		put_u16(0);
		end_msg(at);
		break;
	case 9: {
		static const uint8_t copy_types[] = { 'd', 'c', 'f' };
		at = begin_msg(copy_types[in_u8(in) % 3]);
		put_str("copy");
		end_msg(at);
		break;
	}
	default: {
		/* raw bytes: a header of the fuzzer's choosing, then what follows */
		uint8_t raw[16];
		k = in_u8(in) % sizeof(raw);
		for (uint8_t i = 0; i < k; i++)
			raw[i] = in_u8(in);
		put(raw, k);
		break;
	}
	}
}

/* A cancel request on a connection of its own, for the client's keys. */
static void op_cancel(void)
{
	int sv[2];
	uint8_t pkt[16] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e };
	struct peer_addr a = { .family = AF_UNIX };

	if (!backend_pid || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		return;
	for (int i = 0; i < 4; i++) {
		pkt[8 + i] = (uint8_t)(backend_pid >> (24 - 8 * i));
		pkt[12 + i] = (uint8_t)(backend_key >> (24 - 8 * i));
	}
	client_accept(&S, sv[1], &a);
	if (write(sv[0], pkt, sizeof(pkt)) != sizeof(pkt)) {
		/* ignored: the pooler sees what it sees */
	}
	run_loop(4);
	close(sv[0]);
	run_loop(2);
}

static bool setup(uint8_t settings)
{
	static const int maxps[] = { 0, 1, 3, 200 };
	char conf[768], err[256];
	struct config_diag d = { 0 };
	int sv[2];
	struct peer_addr a = { .family = AF_UNIX };
	uint8_t startup[64];
	size_t n = 0;

	memset(&S, 0, sizeof(S));
	list_init(&S.dbs);
	list_init(&S.users);
	list_init(&S.pools);
	list_init(&S.login_clients);
	list_init(&S.admin_clients);
	list_init(&S.free_clients);
	list_init(&S.free_servers);
	list_init(&S.orphan_cancels);
	snprintf(conf, sizeof(conf),
		 "[databases]\nfuzzdb = host=%s port=5432 dbname=fuzzdb\n[pgsift]\nauth_type = trust\n"
		 "pool_mode = %s\ndefault_pool_size = %d\nmax_prepared_statements = %d\nslow_query_ms = -1\n"
		 "log_connections = 0\nlog_disconnections = 0\nlog_pooler_errors = 0\n"
		 "max_fingerprints = 64\nslow_query_log_size = 4\n",
		 dir, settings & 4 ? "session" : settings & 8 ? "statement" : "transaction", 1 + (settings >> 6 & 1),
		 maxps[settings & 3]);
	CHECK(config_load_string(conf, strlen(conf), "fuzz.ini", &S.cfg, &d), "the fuzzer's config loads");
	config_diag_free(&d);
	CHECK(params_setup(&S, S.cfg.track_extra_parameters, err, sizeof(err)) && db_sync_config(&S, err, sizeof(err)),
	      "the fuzzer's databases");
	iobuf_pool_init(&S.bufs, 16384, 64);
	sift_now(&S);
	S.start_wall = sift_wall_usec();
	S.wall_offset = S.start_wall - S.now;
	CHECK(an_init(&S.an, (uint32_t)S.cfg.max_fingerprints), "the analyzer's tables");
	S.an.last_decay = S.now;
	S.base = event_base_new();
	S.ev_reap = event_new(S.base, -1, 0, sift_reap_cb, &S);
	fake_pg_attach(S.base);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return false;
	cfd = sv[0];
	client_accept(&S, sv[1], &a);
	/* StartupMessage: protocol 3.0, user fuzz, database fuzzdb */
	static const char params[] = "user\0fuzz\0database\0fuzzdb\0";
	n = 8 + sizeof(params); /* sizeof counts the list's final NUL */
	memset(startup, 0, 8);
	startup[3] = (uint8_t)n;
	startup[5] = 3;
	memcpy(startup + 8, params, sizeof(params));
	npending = rlen = 0;
	sent_requests = got_ready = 0;
	memset(&wr, 0, sizeof(wr));
	logged_in = false;
	backend_pid = backend_key = 0;
	put(startup, n);
	write_chunks(n, true);
	for (int i = 0; i < 50 && !logged_in; i++) {
		run_loop(1);
		drain();
	}
	return logged_in;
}

static void close_list(struct list *l)
{
	while (!list_empty(l))
		client_close(list_entry(l->next, struct client, node), NULL, "fuzz input done");
}

static void teardown(void)
{
	struct list *it;

	if (cfd >= 0)
		close(cfd);
	cfd = -1;
	run_loop(8);
	/* the client is gone: no client left, and servers idle and clean */
	list_for_each(it, &S.pools) {
		struct pool *p = list_entry(it, struct pool, node);
#ifdef FUZZ_DEBUG
		for (struct list *j = p->waiting_clients.next; j != &p->waiting_clients; j = j->next) {
			struct client *c = list_entry(j, struct client, node);
			fprintf(stderr, "waiting client: in %u/%u cap %u pkt_left %u want_read %d ev %d\n",
				c->c.in ? c->c.in->pos : 0, c->c.in ? c->c.in->end : 0, c->c.in ? c->c.in->cap : 0,
				c->c.pkt_left, c->c.want_read, c->c.ev_flags);
		}
		for (struct list *j = p->active_clients.next; j != &p->active_clients; j = j->next) {
			struct client *c = list_entry(j, struct client, node);
			fprintf(stderr, "active client: in %u/%u pkt_left %u want_read %d ev %d srv nseg %d srv state %d rq %u stalled %d uncertain %u deferred %u next type %c sv in %u/%u sv pkt_left %u sv ev %d\n",
				c->c.in ? c->c.in->pos : 0, c->c.in ? c->c.in->end : 0, c->c.pkt_left, c->c.want_read,
				c->c.ev_flags, c->server->c.nseg, c->server->state, c->server->rq.n, c->server->rq.stalled,
				c->server->rq.uncertain, c->server->rq.deferred, c->c.in ? c->c.in->data[c->c.in->pos] : '-',
				c->server->c.in ? c->server->c.in->pos : 0, c->server->c.in ? c->server->c.in->end : 0,
				c->server->c.pkt_left, c->server->c.ev_flags);
			{
				struct ps_rq *q = &c->server->rq;
				fprintf(stderr, "rq: n %u since_barrier %u nundo %u err %d:", q->n, q->since_barrier, q->nundo, q->err);
				for (uint32_t k = 0; k < q->n; k++) {
					struct ps_rq_ent *e = &q->e[(q->head + k) & (q->cap - 1)];
					fprintf(stderr, " %d/%x", e->kind, e->flags);
				}
				fprintf(stderr, "\n");
			}
			fake_pg_dump(stderr);
		}
		for (struct list *j = p->idle_clients.next; j != &p->idle_clients; j = j->next)
			fprintf(stderr, "idle client\n");
#endif
		CHECK(list_empty(&p->active_clients) && list_empty(&p->waiting_clients) && list_empty(&p->idle_clients),
		      "no client left in the pool after it closed");
		CHECK(list_empty(&p->active_servers), "no server left linked");
		for (struct list *j = p->idle_servers.next; j != &p->idle_servers; j = j->next) {
			struct server *sv = list_entry(j, struct server, node);
			CHECK(sv->rq.n == 0 && !sv->rq.scan && sv->c.pkt_left == 0 && sv->txn == 'I',
			      "an idle server is clean");
		}
	}
	close_list(&S.login_clients);
	list_for_each(it, &S.pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct list *cls[] = { &p->active_clients, &p->waiting_clients, &p->idle_clients, &p->login_clients };
		struct list *svs[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->new_servers,
				       &p->canceling_servers };
		for (size_t i = 0; i < 4; i++)
			close_list(cls[i]);
		for (size_t i = 0; i < 5; i++)
			while (!list_empty(svs[i]))
				server_close(list_entry(svs[i]->next, struct server, node), "fuzz input done");
	}
	while (!list_empty(&S.orphan_cancels))
		cancel_req_free(list_entry(S.orphan_cancels.next, struct cancel_req, node));
	run_loop(4);
	fake_pg_detach();
	sift_reap_cb(-1, 0, &S);
	objects_free_all(&S);
	ps_registry_free(&S);
	an_free(&S.an);
	event_free(S.ev_reap);
	event_base_free(S.base);
	iobuf_pool_destroy(&S.bufs);
	config_free(&S.cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[128];

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	CHECK(log_setup(NULL, 0, true, err, sizeof(err)), "quiet logging");
	snprintf(dir, sizeof(dir), "/tmp/pgsift-fuzz-client.%d", (int)getpid());
	mkdir(dir, 0700);
	CHECK(fake_pg_listen(dir), "the fake server listens");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint8_t settings = in_u8(&in);
	size_t chunk = 1 + (size_t)(settings >> 4 & 3) * 700;
	bool reading = true;

	if (!setup(settings)) {
		teardown();
		return 0;
	}
	while (in.n) {
		uint8_t op = in_u8(&in);
		switch (op >> 4) {
		case 0x0:
		case 0x1:
		case 0x2:
		case 0x3:
		case 0x4:
		case 0x5:
		case 0x6:
		case 0x7:
		case 0x8:
		case 0x9:
			op_message(&in, op);
			break;
		case 0xa: /* send what is built, in chunks of this size */
			write_chunks(1 + (size_t)(op & 0xf) * (op & 8 ? 2000 : 3), reading);
			break;
		case 0xb: /* the client stops or starts reading */
			reading = op & 1;
			if (reading)
				drain();
			break;
		case 0xc:
			op_cancel();
			break;
		case 0xd:
			fake_pg_fail_next(1 + (op & 3));
			break;
		case 0xe:
			fake_pg_drop_next();
			break;
		default:
			run_loop(4);
			if (reading)
				drain();
			break;
		}
	}
	write_chunks(chunk, true);
	for (int i = 0; i < 20; i++) {
		run_loop(1);
		drain();
	}
	teardown();
	return 0;
}
