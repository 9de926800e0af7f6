/*
 * fake_pg: see fake_pg.h.
 */
#include "fake_pg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FAKE_NAMES 16

struct fake {
	int fd;
	struct event *ev;
	uint8_t in[1 << 16];
	size_t inlen;
	size_t big_left;		/* bytes of a message too large to keep, still to skip */
	bool started, skipping, gone;
	char txn;
	char stmts[FAKE_NAMES][64];	/* named statements; "" unused */
	bool unnamed, portal;		/* the unnamed statement, the unnamed portal */
	uint8_t out[1 << 18];
	size_t outlen, outoff;		/* answers not written yet: the fake reads nothing meanwhile */
	struct event *wev;
};

static struct fake_world {
	int lfd;
	char dir[64];
	struct event *lev;
	struct fake *conns[8];
	int nconns;
	int fail_next;			/* given to the next message any fake connection reads */
	bool drop_next;			/* the next connection to answer a message closes instead */
} W;

static void fake_put(struct fake *f, uint8_t type, const void *body, size_t len)
{
	uint32_t l = (uint32_t)len + 4;

	if (f->outlen + 5 + len > sizeof(f->out))
		return; /* the fake's answers are small; a flood of them is cut */
#ifdef FUZZ_DEBUG
	fprintf(stderr, "  fake -> %c\n", type);
#endif
	f->out[f->outlen++] = type;
	f->out[f->outlen++] = (uint8_t)(l >> 24);
	f->out[f->outlen++] = (uint8_t)(l >> 16);
	f->out[f->outlen++] = (uint8_t)(l >> 8);
	f->out[f->outlen++] = (uint8_t)l;
	if (len)
		memcpy(f->out + f->outlen, body, len);
	f->outlen += len;
}

static void fake_str(struct fake *f, uint8_t type, const char *s)
{
	fake_put(f, type, s, strlen(s) + 1);
}

static void fake_error(struct fake *f, const char *sqlstate, const char *msg, bool fatal)
{
	char b[256];
	int n = snprintf(b, sizeof(b), "S%s%cC%s%cM%s%c", fatal ? "FATAL" : "ERROR", 0, sqlstate, 0, msg, 0);

	fake_put(f, 'E', b, (size_t)n + 1);
}

static void fake_ready(struct fake *f)
{
	fake_put(f, 'Z', &f->txn, 1);
}

static void fake_rowdesc(struct fake *f)
{
	static const uint8_t t[] = { 0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 };

	fake_put(f, 'T', t, sizeof(t));
}

static void fake_row(struct fake *f)
{
	static const uint8_t d[] = { 0, 1, 0, 0, 0, 1, '1' };

	fake_rowdesc(f);
	fake_put(f, 'D', d, sizeof(d));
}

static int fake_find(struct fake *f, const char *name)
{
	for (int i = 0; i < FAKE_NAMES; i++)
		if (f->stmts[i][0] && strcmp(f->stmts[i], name) == 0)
			return i;
	return -1;
}

/* An extended-protocol error: PostgreSQL skips to the next Sync. */
static void fake_ext_error(struct fake *f, const char *sqlstate, const char *msg)
{
	fake_error(f, sqlstate, msg, false);
	f->skipping = true;
	if (f->txn == 'T')
		f->txn = 'E';
}

static void fake_query(struct fake *f, const char *sql)
{
	if (!strncmp(sql, "err", 3) || !strcmp(sql, "PREPARE")) {
		fake_error(f, "42601", "syntax error", false);
		if (f->txn == 'T')
			f->txn = 'E';
	} else if (!*sql) {
		fake_put(f, 'I', NULL, 0);
	} else if (!strncasecmp(sql, "begin", 5)) {
		f->txn = 'T';
		fake_str(f, 'C', "BEGIN");
	} else if (!strncasecmp(sql, "commit", 6) || !strncasecmp(sql, "rollback", 8)) {
		f->txn = 'I';
		fake_str(f, 'C', "COMMIT");
	} else if (!strncasecmp(sql, "discard all", 11) || !strncasecmp(sql, "deallocate all", 14)) {
		memset(f->stmts, 0, sizeof(f->stmts));
		fake_str(f, 'C', sql[1] == 'i' || sql[1] == 'I' ? "DISCARD ALL" : "DEALLOCATE ALL");
	} else if (f->txn == 'E') {
		fake_error(f, "25P02", "current transaction is aborted", false);
	} else if (!strncasecmp(sql, "set ", 4)) {
		fake_str(f, 'C', "SET");
	} else if (!strncasecmp(sql, "do ", 3)) {
		fake_str(f, 'C', "DO");
	} else {
		fake_row(f);
		fake_str(f, 'C', "SELECT 1");
	}
	fake_ready(f);
}

static void fake_parse(struct fake *f, const uint8_t *b, size_t n)
{
	const char *name = (const char *)b, *text;
	size_t nl = strnlen(name, n);
	int slot;

	if (nl >= n) {
		fake_ext_error(f, "08P01", "invalid string in message");
		return;
	}
	text = name + nl + 1;
	if (strnlen(text, n - nl - 1) >= n - nl - 1 || !strncmp(text, "err", 3) || !strcmp(text, "PREPARE")) {
		fake_ext_error(f, "42601", "syntax error");
		return;
	}
	if (!*name) {
		f->unnamed = true;
		fake_put(f, '1', NULL, 0);
		return;
	}
	if (fake_find(f, name) >= 0) {
		fake_ext_error(f, "42P05", "prepared statement already exists");
		return;
	}
	for (slot = 0; slot < FAKE_NAMES && f->stmts[slot][0]; slot++)
		;
	if (slot == FAKE_NAMES || nl >= sizeof(f->stmts[0])) {
		fake_ext_error(f, "53400", "too many statements in the fake");
		return;
	}
	memcpy(f->stmts[slot], name, nl + 1);
	fake_put(f, '1', NULL, 0);
}

static bool fake_has(struct fake *f, const char *name)
{
	return *name ? fake_find(f, name) >= 0 : f->unnamed;
}

/* One whole message from pgsift (or libpq's probe). */
static void fake_message(struct fake *f, uint8_t type, const uint8_t *b, size_t n)
{
	char name[80];

#ifdef FUZZ_DEBUG
	fprintf(stderr, "fake <- %c %.*s%s\n", type, (int)(n > 40 ? 40 : n), type == 'Q' || type == 'P' ? (const char *)b : "",
		f->skipping ? " (skipping)" : "");
#endif
	if (W.fail_next && strchr("QFPBDEC", type) && !f->skipping) {
		W.fail_next--;
		/* Query and FunctionCall: ERROR, ReadyForQuery; the extended
		 * protocol's messages: ERROR, then skip to Sync */
		if (type == 'Q' || type == 'F') {
			fake_error(f, "XX000", "injected failure", false);
			fake_ready(f);
		} else {
			fake_ext_error(f, "XX000", "injected failure");
		}
		return;
	}
	if (f->skipping && type != 'S' && type != 'X')
		return;
	switch (type) {
	case 'Q':
		fake_query(f, n ? (const char *)b : "");
		break;
	case 'P':
		fake_parse(f, b, n);
		break;
	case 'B':
		snprintf(name, sizeof(name), "%s", (const char *)b + strnlen((const char *)b, n) + 1);
		if (!fake_has(f, name))
			fake_ext_error(f, "26000", "prepared statement does not exist");
		else if (f->txn == 'E')
			fake_ext_error(f, "25P02", "current transaction is aborted");
		else {
			f->portal = true;
			fake_put(f, '2', NULL, 0);
		}
		break;
	case 'D':
		snprintf(name, sizeof(name), "%s", (const char *)b + 1);
		if (n && b[0] == 'S' && fake_has(f, name)) {
			static const uint8_t none[] = { 0, 0 };
			fake_put(f, 't', none, 2);
			fake_rowdesc(f);
		} else if (n && b[0] == 'P' && f->portal) {
			fake_put(f, 'n', NULL, 0);
		} else {
			fake_ext_error(f, "26000", "no such statement or portal");
		}
		break;
	case 'E':
		if (!f->portal) {
			fake_ext_error(f, "34000", "portal does not exist");
		} else {
			static const uint8_t d[] = { 0, 1, 0, 0, 0, 1, '1' };
			fake_put(f, 'D', d, sizeof(d));
			if (n >= 5 && b[n - 1] == 1)
				fake_put(f, 's', NULL, 0);
			else
				fake_str(f, 'C', "SELECT 1");
		}
		break;
	case 'C':
		snprintf(name, sizeof(name), "%s", (const char *)b + 1);
		if (n && b[0] == 'S' && fake_find(f, name) >= 0)
			f->stmts[fake_find(f, name)][0] = 0;
		fake_put(f, '3', NULL, 0);
		break;
	case 'S':
		f->skipping = false;
		f->portal = false;
		fake_ready(f);
		break;
	case 'F': {
		static const uint8_t v[] = { 0, 0, 0, 1, '1' };
		fake_put(f, 'V', v, sizeof(v));
		fake_ready(f);
		break;
	}
	case 'H':
	case 'd':
	case 'c':
	case 'f':
		break; /* outside COPY, PostgreSQL ignores these */
	case 'X':
		f->gone = true;
		break;
	default:
		fake_error(f, "08P01", "invalid frontend message type", true);
		f->gone = true;
		break;
	}
}

static void fake_startup(struct fake *f)
{
	static const char *const params[][2] = {
		{ "server_version", "15.0" }, { "client_encoding", "UTF8" }, { "DateStyle", "ISO, MDY" },
		{ "TimeZone", "UTC" }, { "standard_conforming_strings", "on" }, { "application_name", "" },
		{ "integer_datetimes", "on" }, { "IntervalStyle", "postgres" },
	};
	static const uint8_t ok[] = { 0, 0, 0, 0 }, key[] = { 0, 0, 0, 42, 0, 0, 0, 7 };
	char b[128];

	fake_put(f, 'R', ok, sizeof(ok));
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		size_t a = strlen(params[i][0]) + 1, v = strlen(params[i][1]) + 1;
		memcpy(b, params[i][0], a);
		memcpy(b + a, params[i][1], v);
		fake_put(f, 'S', b, a + v);
	}
	fake_put(f, 'K', key, sizeof(key));
	f->txn = 'I';
	fake_ready(f);
	f->started = true;
}

static void fake_close(struct fake *f)
{
	for (int i = 0; i < W.nconns; i++)
		if (W.conns[i] == f) {
			W.conns[i] = W.conns[--W.nconns];
			break;
		}
	event_free(f->ev);
	event_free(f->wev);
	close(f->fd);
	free(f);
}

/* Writes queued answers; while some are left the fake reads nothing (as
 * PostgreSQL blocks on a full socket). false: the fake is gone. */
static bool fake_flush(struct fake *f)
{
	while (f->outoff < f->outlen) {
		ssize_t w = write(f->fd, f->out + f->outoff, f->outlen - f->outoff);
		if (w <= 0) {
			if (w < 0 && errno == EAGAIN)
				break;
			fake_close(f);
			return false;
		}
		f->outoff += (size_t)w;
	}
	if (f->outoff < f->outlen) {
		event_del(f->ev);
		event_add(f->wev, NULL);
		return true;
	}
	f->outoff = f->outlen = 0;
	event_del(f->wev);
	event_add(f->ev, NULL);
	if (f->gone) {
		fake_close(f);
		return false;
	}
	return true;
}

/* Answers the whole messages that are in. */
static void fake_process(struct fake *f)
{
	size_t pos = 0;

	while (!f->gone && f->outlen < sizeof(f->out) / 2) {
		size_t avail = f->inlen - pos;
		if (f->big_left) { /* a message larger than the fake keeps: its text is not looked at */
			size_t k = avail < f->big_left ? avail : f->big_left;
			pos += k;
			f->big_left -= k;
			if (f->big_left)
				break;
			continue;
		}
		if (!f->started) {
			uint32_t len;
			if (avail < 8)
				break;
			len = (uint32_t)f->in[pos] << 24 | f->in[pos + 1] << 16 | f->in[pos + 2] << 8 | f->in[pos + 3];
			if (len < 8 || len > 10000) {
				f->gone = true;
				break;
			}
			if (avail < len)
				break;
			pos += len;
			if (len == 16 && f->in[pos - 12] == 0x04 && f->in[pos - 11] == 0xd2) {
				f->gone = true; /* a CancelRequest: PostgreSQL closes at once */
				break;
			}
			fake_startup(f);
			continue;
		}
		if (avail < 5)
			break;
		uint32_t len = (uint32_t)f->in[pos + 1] << 24 | f->in[pos + 2] << 16 | f->in[pos + 3] << 8 | f->in[pos + 4];
		uint8_t type = f->in[pos];
		if (len < 4) {
			f->gone = true;
			break;
		}
		if ((size_t)len + 1 > sizeof(f->in)) {
			/* a large query: answered as one whose text is "x" */
			fake_message(f, type, (const uint8_t *)"x", type == 'Q' ? 2 : 0);
			f->big_left = (size_t)len + 1;
			continue;
		}
		if (avail < (size_t)len + 1)
			break;
		if (W.drop_next) {
			W.drop_next = false;
			f->gone = true;
			break;
		}
		fake_message(f, type, f->in + pos + 5, len - 4);
		pos += (size_t)len + 1;
	}
	memmove(f->in, f->in + pos, f->inlen - pos);
	f->inlen -= pos;
}

static void fake_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	ssize_t r;

	(void)what;
	r = read(fd, f->in + f->inlen, sizeof(f->in) - f->inlen);
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		fake_close(f);
		return;
	}
	f->inlen += (size_t)r;
	fake_process(f);
	fake_flush(f);
}

static void fake_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;

	(void)fd;
	(void)what;
	if (!fake_flush(f) || f->outlen)
		return;
	fake_process(f); /* what came while it waited */
	fake_flush(f);
}

static void fake_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event_base *base = arg;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct fake *f;

	(void)what;
	if (c < 0)
		return;
	if (W.nconns == 8 || !(f = calloc(1, sizeof(*f)))) {
		close(c);
		return;
	}
	f->fd = c;
	f->ev = event_new(base, c, EV_READ | EV_PERSIST, fake_read_cb, f);
	f->wev = event_new(base, c, EV_WRITE | EV_PERSIST, fake_write_cb, f);
	event_add(f->ev, NULL);
	W.conns[W.nconns++] = f;
}


bool fake_pg_listen(const char *dir)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	snprintf(W.dir, sizeof(W.dir), "%s", dir);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.5432", dir);
	unlink(un.sun_path);
	W.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	return W.lfd >= 0 && bind(W.lfd, (struct sockaddr *)&un, sizeof(un)) == 0 && listen(W.lfd, 64) == 0;
}

void fake_pg_attach(struct event_base *base)
{
	W.lev = event_new(base, W.lfd, EV_READ | EV_PERSIST, fake_accept_cb, base);
	event_add(W.lev, NULL);
	W.fail_next = 0;
	W.drop_next = false;
}

void fake_pg_detach(void)
{
	while (W.nconns)
		fake_close(W.conns[0]);
	event_free(W.lev);
	W.lev = NULL;
}

void fake_pg_fail_next(int n)
{
	W.fail_next = n;
}

void fake_pg_drop_next(void)
{
	W.drop_next = true;
}

void fake_pg_dump(FILE *out)
{
	for (int k = 0; k < W.nconns; k++)
		fprintf(out, "fake %d: inlen %zu big_left %zu skipping %d outlen %zu/%zu started %d\n", k,
			W.conns[k]->inlen, W.conns[k]->big_left, W.conns[k]->skipping, W.conns[k]->outoff,
			W.conns[k]->outlen, W.conns[k]->started);
}
