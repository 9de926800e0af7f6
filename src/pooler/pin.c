/*
 * pin: a client keeps its server while it holds session state pgsift
 * cannot replay. See pin.h and doc/session-state.md.
 */
#include "pooler/pin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/server.h"
#include "pooler/session_sql.h"
#include "util/log.h"
#include "util/proto.h"

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool has_word(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w);

	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;
		while (j < k && lower(p[i + j]) == w[j])
			j++;
		if (j == k)
			return true;
	}
	return false;
}

/* The statement's last word is w (SET ROLE NONE, SET SESSION
 * AUTHORIZATION DEFAULT: back to the login role, nothing to keep). */
static bool last_word_is(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w), e = n;

	while (e > 0 && (p[e - 1] == ' ' || p[e - 1] == ';' || (p[e - 1] >= '\t' && p[e - 1] <= '\r')))
		e--;
	if (e < k || (e > k && p[e - k - 1] != ' ' && p[e - k - 1] != '\t' && p[e - k - 1] != '\n'))
		return false;
	for (size_t j = 0; j < k; j++)
		if (lower(p[e - k + j]) != w[j])
			return false;
	return true;
}

unsigned pin_of_stmt(const struct ss_stmt *st, const char *p, size_t n)
{
	if (st->kind != SS_DIRTY)
		return 0;
	switch (st->dirty) {
	case SS_D_TEMP:
		return PIN_TEMP;
	case SS_D_HOLD:
		return PIN_CURSOR;
	case SS_D_LOCK:
		return PIN_LOCK;
	case SS_D_ROLE:
		return last_word_is(p, n, "none") || last_word_is(p, n, "default") ? 0 : PIN_ROLE;
	default:
		return 0;
	}
}

unsigned pin_of_text(const char *p, size_t n)
{
	struct ss_stmt st;
	size_t pos = 0, off, len;
	unsigned why = 0;

	if (!ss_sql_maybe(p, n))
		return 0;
	while (ss_sql_next(p, n, &pos, &off, &len)) {
		ss_sql_classify(p + off, len, &st);
		why |= pin_of_stmt(&st, p + off, len);
	}
	return why;
}

bool pin_may_release(const char *p, size_t n)
{
	static const char *const words[] = { "drop", "discard", "close", "reset", "role", "authorization", "unlock" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (has_word(p, n, words[i]))
			return true;
	return false;
}

int pin_cap(const struct sift *s, const struct pool *p)
{
	int half = pool_size_of(s, p) / 2;

	if (s->cfg.max_pinned_per_pool > 0)
		return s->cfg.max_pinned_per_pool;
	return half > 0 ? half : 1;
}

static void count(struct client *cl)
{
	if (cl->pin_counted || !cl->pool)
		return;
	cl->pin_counted = true;
	cl->pin_since = cl->sift->now;
	cl->pool->npinned++;
}

/* The time since pin_since goes to each kind of state that held the pin
 * (pin: the PIN_* bits it had), and pin_since starts again: called when
 * the kinds change and when the pin ends */
static void credit(struct client *cl, unsigned pin)
{
	for (unsigned i = 0; i < 4; i++)
		if ((pin & (1u << i)) && cl->sift->now > cl->pin_since)
			cl->pool->pinned_us[i] += (uint64_t)(cl->sift->now - cl->pin_since);
	cl->pin_since = cl->sift->now;
}

static void uncount_as(struct client *cl, unsigned pin)
{
	if (!cl->pin_counted)
		return;
	credit(cl, pin);
	cl->pin_counted = false;
	cl->pin_since = 0;
	cl->pool->npinned--;
}

static void uncount(struct client *cl)
{
	uncount_as(cl, cl->pin);
}

void pin_note(struct client *cl, unsigned why)
{
	if (!why || !cl->sift->cfg.pin_session_state)
		return;
	cl->pin_check = true;
	count(cl);
}

const char *pin_reasons(unsigned pin, char *buf, size_t len)
{
	static const char *const names[] = { "temp_table", "cursor", "advisory_lock", "role", "unknown" };
	size_t k = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(pin & (1u << i)))
			continue;
		int w = snprintf(buf + k, len - k, "%s%s", k ? "," : "", names[i]);
		if (w < 0 || (size_t)w >= len - k)
			break;
		k += (size_t)w;
	}
	return buf;
}

void pin_refusal_message(const struct client *cl, char *buf, size_t len)
{
	snprintf(buf, len,
		 "pgsift: max_pinned_per_pool (%d) clients of this pool already keep a server for their session "
		 "state; this statement would keep one more (temp table, WITH HOLD cursor, session advisory lock "
		 "or SET ROLE)",
		 cl->pool ? pin_cap(cl->sift, cl->pool) : 0);
}

void pin_refusal_sql(const struct client *cl, char *buf, size_t len)
{
	char msg[320];

	/* the message has no quote or dollar sign to escape */
	pin_refusal_message(cl, msg, sizeof(msg));
	snprintf(buf, len,
		 "DO $pgsift$BEGIN RAISE EXCEPTION USING ERRCODE = '53300', MESSAGE = '%s'; END$pgsift$", msg);
}

/* One query tells what is left: temp relations, WITH HOLD cursors (at the
 * end of a transaction only those survive), advisory locks (at the end of
 * a transaction only session locks are held, whoever took them: a
 * function's too), and a role other than the one pgsift logged in as. */
static bool send_probe(struct server *sv)
{
	char sql[768], user[2 * 64 + 4];
	uint32_t mark;

	if (!proto_quote_literal(sv->pool->user->name, user, sizeof(user)))
		return false;
	snprintf(sql, sizeof(sql),
		 "SELECT (SELECT count(*) FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema()), "
		 "(SELECT count(*) FROM pg_catalog.pg_cursors WHERE is_holdable), "
		 "(SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()), "
		 "(pg_catalog.current_setting('role') <> 'none' OR session_user <> %s)::int",
		 user);
	mark = conn_gen_mark(&sv->c);
	proto_query(&sv->c.gen, sql);
	if (!conn_gen_commit(&sv->c, mark))
		return false;
	sv->inject_pending++;
	sv->pin_probe = true;
	sv->pin_found = 0;
	return true;
}

bool pin_keep(struct server *sv, struct client *cl)
{
	if (!cl->sift->cfg.pin_session_state) { /* turned off by a reload: let go */
		uncount(cl);
		cl->pin = 0;
		cl->pin_check = false;
		return false;
	}
	if (cl->pin_check) {
		cl->pin_check = false;
		if (send_probe(sv))
			return true;
		client_log(cl, LOG_WARNING, "cannot probe its session state: the server is reset");
		sv->ss_dirty = true;
		uncount(cl);
		cl->pin = 0;
		return false;
	}
	return cl->pin != 0;
}

void pin_probe_reply(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len)
{
	uint32_t pos = 2;
	uint16_t ncols;

	if (type == 'E') {
		sv->pin_found = PIN_UNKNOWN;
		return;
	}
	if (type != 'D' || len < 2)
		return;
	ncols = (uint16_t)(body[0] << 8 | body[1]);
	for (unsigned i = 0; i < ncols && i < 4; i++) {
		int32_t l;
		if (pos + 4 > len)
			return;
		l = (int32_t)((uint32_t)body[pos] << 24 | (uint32_t)body[pos + 1] << 16 | (uint32_t)body[pos + 2] << 8 |
			      body[pos + 3]);
		pos += 4;
		if (l < 0)
			continue;
		if ((uint32_t)l > len - pos)
			return;
		/* a count in text: anything but "0" is state left */
		if (!(l == 1 && body[pos] == '0'))
			sv->pin_found |= (uint8_t)(1u << i);
		pos += (uint32_t)l;
	}
}

bool pin_probe_done(struct server *sv, struct client *cl)
{
	char why[PIN_REASONS_LEN];
	unsigned was = cl->pin;

	sv->pin_probe = false;
	if (cl->pin != sv->pin_found)
		client_log(cl, LOG_DEBUG, "session state on its server: %s",
			   sv->pin_found ? pin_reasons(sv->pin_found, why, sizeof(why)) : "none (not pinned)");
	if (cl->pin_counted && was != sv->pin_found)
		credit(cl, was);
	cl->pin = sv->pin_found;
	if (cl->pin) {
		sv->ss_dirty = true; /* DISCARD ALL when it leaves */
		count(cl);
		return false;
	}
	if (!cl->pin_check)
		uncount_as(cl, 0); /* credited above */
	return true;
}

void pin_refused_note(struct client *cl, unsigned why)
{
	for (unsigned i = 0; i < 4; i++)
		if (why & (1u << i))
			cl->pool->pin_refused[i]++;
}

void pin_client_gone(struct client *cl)
{
	uncount(cl);
	cl->pin = 0;
	cl->pin_check = false;
}
