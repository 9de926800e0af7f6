/*
 * admin_ext: the console's message loop. Simple-protocol Query messages
 * carry console commands (admin.c) or SQL; SQL also comes through the
 * extended protocol (Parse, Bind, Describe, Execute, Close, Sync, Flush),
 * as Grafana, psycopg and JDBC send it. SQL runs on the console's worker
 * threads (admin_sql.c): the client reads nothing more until the answer is
 * back, so its replies keep their order. `SHOW view` works in both
 * protocols; other console commands need the simple protocol.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "surfaces/admin.h"
#include "surfaces/admin_cmd.h"
#include "surfaces/admin_sql.h"
#include "pooler/client.h"
#include "util/proto.h"
#include "views/view.h"

#define CONSOLE_MSG_MAX (1u << 20)	/* a longer console message closes the connection */
#define CONSOLE_STMTS_MAX 64		/* named statements and portals, each */
#define CONSOLE_NAME_MAX 64
#define SQL_MAX_COLS_BIND 2000	/* result format codes in a Bind */

struct console_stmt {
	struct console_stmt *next;
	char name[CONSOLE_NAME_MAX];
	char *sql;
	const struct view *show;	/* SHOW view: rendered on the loop */
	uint32_t *oids;
	int noids;
	bool described;			/* the client was told its columns: expressions are text */
};

struct console_portal {
	struct console_portal *next;
	char name[CONSOLE_NAME_MAX];
	const struct view *show;
	struct admin_job *job;		/* not yet run */
	struct pktbuf head, rows;	/* run by a Describe: its RowDescription and rows */
	bool have_rows;
};

struct console_client {
	struct console_stmt *stmts;
	struct console_portal *portals;
	bool skip_to_sync;		/* an error in an extended-protocol batch */
	struct admin_job *job;		/* in flight */
	char job_kind;			/* 'Q' query, 'S' describe statement, 'P' describe portal, 'E' execute */
	struct console_stmt *job_stmt;
	struct console_portal *job_portal;
};

/* ---- state ---- */

static struct console_client *state_of(struct client *cl)
{
	if (!cl->console)
		cl->console = calloc(1, sizeof(*cl->console));
	return cl->console;
}

static void stmt_free(struct console_stmt *st)
{
	free(st->sql);
	free(st->oids);
	free(st);
}

static void portal_free(struct console_portal *p)
{
	admin_job_free(p->job);
	pkt_free(&p->head);
	pkt_free(&p->rows);
	free(p);
}

static struct console_stmt **find_stmt(struct console_client *cc, const char *name)
{
	struct console_stmt **pp = &cc->stmts;

	while (*pp && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

static struct console_portal **find_portal(struct console_client *cc, const char *name)
{
	struct console_portal **pp = &cc->portals;

	while (*pp && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

static int count_list(const void *head, size_t next_off)
{
	int n = 0;

	for (const char *p = head; p; p = *(const char *const *)(p + next_off))
		n++;
	return n;
}

static void console_closed(struct client *cl)
{
	struct console_client *cc = cl->console;

	if (!cc)
		return;
	if (cc->job)
		admin_sql_cancel(cc->job, true); /* the worker's answer is dropped */
	while (cc->stmts) {
		struct console_stmt *st = cc->stmts;
		cc->stmts = st->next;
		stmt_free(st);
	}
	while (cc->portals) {
		struct console_portal *p = cc->portals;
		cc->portals = p->next;
		portal_free(p);
	}
	free(cc);
	cl->console = NULL;
}

static void console_cancel(struct client *cl)
{
	if (cl->console && cl->console->job)
		admin_sql_cancel(cl->console->job, false);
}

/* ---- replies ---- */

static void ext_error(struct client *cl, const char *sqlstate, const char *msg)
{
	proto_error(&cl->c.gen, false, sqlstate, msg);
	if (cl->console)
		cl->console->skip_to_sync = true;
}

static void put_msg(struct client *cl, uint8_t type)
{
	pkt_begin(&cl->c.gen, type);
	pkt_end(&cl->c.gen);
}

/* Sends what the output holds; false when the client was closed. */
static bool send_out(struct client *cl, uint32_t mark)
{
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "cannot send console results");
		return false;
	}
	return true;
}

/* The answer of a worker is back. */
static void job_done(struct admin_job *j)
{
	struct client *cl = j->owner;
	struct console_client *cc = cl->console;
	struct pktbuf *pb = &cl->c.gen;
	uint32_t mark = conn_gen_mark(&cl->c);
	char kind = cc->job_kind;

	cc->job = NULL;
	cl->admin_wait = ADMIN_WAIT_NONE;
	cl->c.want_read = true;
	if (kind == 'P' && !j->res.error) {
		struct console_portal *p = cc->job_portal;
		pkt_put(pb, j->res.head.data, j->res.head.len);
		p->head = j->res.head; /* kept: a second Describe sends it again */
		p->rows = j->res.out;
		p->have_rows = true;
		memset(&j->res.head, 0, sizeof(j->res.head));
		memset(&j->res.out, 0, sizeof(j->res.out));
	} else {
		pkt_put(pb, j->res.out.data, j->res.out.len);
		if (j->res.error && kind != 'Q')
			cc->skip_to_sync = true;
	}
	if (kind == 'S' && !j->res.error)
		cc->job_stmt->described = true;
	if (kind == 'Q')
		proto_ready(pb, 'I');
	if (!send_out(cl, mark))
		return;
	admin_input(cl); /* what the client sent meanwhile */
}

/* Queues j for cl; the client waits for the answer. false when it could
 * not be queued (the error is in the output). */
static bool submit(struct client *cl, struct admin_job *j, char kind)
{
	struct console_client *cc = cl->console;
	char sqlstate[6] = "53200", err[256] = "out of memory";

	if (!j || !admin_sql_submit(j, job_done, NULL, sqlstate, err, sizeof(err))) {
		proto_error(&cl->c.gen, false, sqlstate, err);
		cc->skip_to_sync = kind != 'Q'; /* a simple Query has no Sync to wait for */
		return false;
	}
	cc->job = j;
	cc->job_kind = kind;
	cl->admin_wait = ADMIN_WAIT_SQL;
	cl->c.want_read = false;
	return true;
}

/* ---- simple protocol ---- */

static void on_query(struct client *cl, const char *q, uint32_t len)
{
	if (sql_is_sql(q, len)) {
		if (submit(cl, admin_job_new(cl->sift, cl, q, strnlen(q, len), SQL_SIMPLE), 'Q'))
			return; /* ReadyForQuery comes with the answer */
	} else
		admin_command(cl, q, len);
	if (cl->state != CL_FREE && !cl->admin_wait)
		proto_ready(&cl->c.gen, 'I');
}

/* "SHOW view" (any case, an optional ';'): the view, else NULL. */
static const struct view *show_statement(const char *q)
{
	char word[64];
	const char *p = q, *w;
	size_t n;

	while (isspace((unsigned char)*p))
		p++;
	if (strncasecmp(p, "show", 4) != 0 || !isspace((unsigned char)p[4]))
		return NULL;
	for (p += 4; isspace((unsigned char)*p); p++)
		;
	for (w = p; isalnum((unsigned char)*p) || *p == '_'; p++)
		;
	n = (size_t)(p - w);
	while (isspace((unsigned char)*p) || *p == ';')
		p++;
	if (*p || n == 0 || n >= sizeof(word))
		return NULL;
	memcpy(word, w, n);
	word[n] = 0;
	return view_find(word);
}

/* ---- extended protocol ---- */

static bool copy_name(char *out, const char *name)
{
	size_t n = strlen(name);

	if (n >= CONSOLE_NAME_MAX)
		return false;
	memcpy(out, name, n + 1);
	return true;
}

static void on_parse(struct client *cl, struct msg_reader *r)
{
	struct console_client *cc = cl->console;
	const char *name = mr_str(r), *q = mr_str(r);
	int n = mr_u16(r);
	struct console_stmt *st, **old;

	if (r->bad || mr_left(r) < (size_t)n * 4) {
		ext_error(cl, "08P01", "invalid Parse message");
		return;
	}
	old = find_stmt(cc, name);
	if (*old && *name) {
		char msg[CONSOLE_NAME_MAX + 48];
		snprintf(msg, sizeof(msg), "prepared statement \"%s\" already exists", name);
		ext_error(cl, "42P05", msg);
		return;
	}
	if (!*old && count_list(cc->stmts, offsetof(struct console_stmt, next)) >= CONSOLE_STMTS_MAX) {
		ext_error(cl, "53400", "too many prepared statements on the console (64)");
		return;
	}
	if (!(st = calloc(1, sizeof(*st))) || !copy_name(st->name, name)) {
		free(st);
		ext_error(cl, st ? "42622" : "53200", st ? "statement name too long" : "out of memory");
		return;
	}
	st->show = show_statement(q);
	if (!st->show && !sql_is_sql(q, strlen(q))) {
		stmt_free(st);
		ext_error(cl, "0A000", "console commands other than SHOW and SELECT need the simple query protocol");
		return;
	}
	st->sql = strdup(q);
	st->oids = n ? calloc((size_t)n, sizeof(*st->oids)) : NULL;
	for (int i = 0; i < n && st->oids; i++)
		st->oids[i] = mr_u32(r);
	st->noids = n;
	if (!st->sql || (n && !st->oids)) {
		stmt_free(st);
		ext_error(cl, "53200", "out of memory");
		return;
	}
	if (*old) { /* the unnamed statement is replaced */
		struct console_stmt *gone = *old;
		*old = gone->next;
		stmt_free(gone);
	}
	st->next = cc->stmts;
	cc->stmts = st;
	put_msg(cl, '1');
}

/* Reads Bind's parameters into p (pointing into the message). */
static bool read_params(struct msg_reader *r, const struct console_stmt *st, struct sql_param *p, int *np)
{
	int16_t fmts[SQL_MAX_PARAMS];
	int nf = mr_u16(r), n;

	if (nf > SQL_MAX_PARAMS)
		return false;
	for (int i = 0; i < nf; i++)
		fmts[i] = (int16_t)mr_u16(r);
	n = mr_u16(r);
	if (n > SQL_MAX_PARAMS || (nf > 1 && nf != n))
		return false;
	for (int i = 0; i < n; i++) {
		uint32_t len = mr_u32(r);
		p[i].oid = i < st->noids ? st->oids[i] : 0;
		p[i].format = nf == 0 ? 0 : nf == 1 ? fmts[0] : fmts[i];
		p[i].len = len == 0xffffffffu ? 0 : len;
		p[i].v = len == 0xffffffffu ? NULL : len ? mr_bytes(r, len) : (const uint8_t *)"";
	}
	*np = n;
	return !r->bad;
}

static void on_bind(struct client *cl, struct msg_reader *r)
{
	struct console_client *cc = cl->console;
	const char *pname = mr_str(r), *sname = mr_str(r);
	struct sql_param params[SQL_MAX_PARAMS];
	int16_t rf[SQL_MAX_COLS_BIND];
	struct console_stmt *st = *find_stmt(cc, sname);
	struct console_portal *p, **old = find_portal(cc, pname);
	int np = 0, nrf;

	if (!st) {
		char msg[CONSOLE_NAME_MAX + 48];
		snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist", sname);
		ext_error(cl, "26000", msg);
		return;
	}
	if (!read_params(r, st, params, &np) || (nrf = mr_u16(r)) > SQL_MAX_COLS_BIND) {
		ext_error(cl, "08P01", "invalid Bind message");
		return;
	}
	for (int i = 0; i < nrf; i++)
		rf[i] = (int16_t)mr_u16(r);
	if (r->bad) {
		ext_error(cl, "08P01", "invalid Bind message");
		return;
	}
	if (*old && *pname) {
		ext_error(cl, "42P03", "a portal of that name already exists");
		return;
	}
	if (st->show && ((nrf == 1 && rf[0]) || np)) {
		ext_error(cl, "0A000", "SHOW takes no parameters and answers in text only; use SELECT for binary results");
		return;
	}
	if (!(p = calloc(1, sizeof(*p))) || !copy_name(p->name, pname)) {
		free(p);
		ext_error(cl, "53200", "out of memory or portal name too long");
		return;
	}
	p->show = st->show;
	if (!st->show && (!(p->job = admin_job_new(cl->sift, cl, st->sql, strlen(st->sql), SQL_PORTAL)) ||
			  !admin_job_set_params(p->job, params, np) || !admin_job_set_formats(p->job, rf, nrf))) {
		portal_free(p);
		ext_error(cl, "53200", "out of memory");
		return;
	}
	if (p->job)
		p->job->req.declared_types = st->described;
	if (*old) {
		struct console_portal *gone = *old;
		*old = gone->next;
		portal_free(gone);
	}
	p->next = cc->portals;
	cc->portals = p;
	put_msg(cl, '2');
}

static void no_such(struct client *cl, bool portal, const char *name)
{
	char msg[CONSOLE_NAME_MAX + 48];

	snprintf(msg, sizeof(msg), "%s \"%s\" does not exist", portal ? "portal" : "prepared statement", name);
	ext_error(cl, portal ? "34000" : "26000", msg);
}

static void on_describe(struct client *cl, struct msg_reader *r)
{
	struct console_client *cc = cl->console;
	char kind = (char)mr_u8(r);
	const char *name = mr_str(r);

	if (kind == 'S') {
		struct console_stmt *st = *find_stmt(cc, name);
		struct admin_job *j;
		if (!st) {
			no_such(cl, false, name);
		} else if (st->show) {
			pkt_begin(&cl->c.gen, 't');
			pkt_put_u16(&cl->c.gen, 0);
			pkt_end(&cl->c.gen);
			admin_show_rowdesc(&cl->c.gen, st->show);
		} else if ((j = admin_job_new(cl->sift, cl, st->sql, strlen(st->sql), SQL_DESCRIBE)) &&
			   !admin_job_set_oids(j, st->oids, st->noids)) {
			admin_job_free(j);
			ext_error(cl, "53200", "out of memory");
		} else {
			cc->job_stmt = st;
			submit(cl, j, 'S');
		}
	} else if (kind == 'P') {
		struct console_portal *p = *find_portal(cc, name);
		if (!p) {
			no_such(cl, true, name);
		} else if (p->show) {
			admin_show_rowdesc(&cl->c.gen, p->show);
		} else if (p->have_rows || !p->job) {
			if (p->head.len)
				pkt_put(&cl->c.gen, p->head.data, p->head.len);
			else
				put_msg(cl, 'n'); /* described after it ran: no columns to tell */
		} else {
			struct admin_job *j = p->job;
			p->job = NULL;
			j->req.rowdesc = true;
			cc->job_portal = p;
			submit(cl, j, 'P');
		}
	} else
		ext_error(cl, "08P01", "invalid Describe message");
}

static void on_execute(struct client *cl, struct msg_reader *r)
{
	struct console_client *cc = cl->console;
	const char *name = mr_str(r);
	struct console_portal *p = *find_portal(cc, name);

	(void)mr_u32(r); /* a row limit: the console sends every row */
	if (r->bad) {
		ext_error(cl, "08P01", "invalid Execute message");
	} else if (!p) {
		no_such(cl, true, name);
	} else if (p->show) {
		admin_show_rows(cl, p->show);
	} else if (p->have_rows) {
		pkt_put(&cl->c.gen, p->rows.data, p->rows.len);
		pkt_reset(&p->rows);
		p->have_rows = false;
	} else if (p->job) {
		struct admin_job *j = p->job;
		p->job = NULL;
		cc->job_portal = p;
		submit(cl, j, 'E');
	} else
		command_complete(&cl->c.gen, "SELECT 0"); /* run already */
}

static void on_close(struct client *cl, struct msg_reader *r)
{
	struct console_client *cc = cl->console;
	char kind = (char)mr_u8(r);
	const char *name = mr_str(r);

	if (r->bad || (kind != 'S' && kind != 'P')) {
		ext_error(cl, "08P01", "invalid Close message");
		return;
	}
	if (kind == 'S') {
		struct console_stmt **pp = find_stmt(cc, name), *st = *pp;
		if (st) {
			*pp = st->next;
			stmt_free(st);
		}
	} else {
		struct console_portal **pp = find_portal(cc, name), *p = *pp;
		if (p) {
			*pp = p->next;
			portal_free(p);
		}
	}
	put_msg(cl, '3');
}

static void on_sync(struct client *cl)
{
	struct console_client *cc = cl->console;
	struct console_portal **pp = find_portal(cc, ""), *p = *pp;

	if (p) { /* the unnamed portal lasts until the end of the batch */
		*pp = p->next;
		portal_free(p);
	}
	cc->skip_to_sync = false;
	proto_ready(&cl->c.gen, 'I');
}

/* One message; false when the client was closed. */
static bool console_message(struct client *cl, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct console_client *cc = state_of(cl);
	struct msg_reader r;

	if (!cc) {
		client_close(cl, "53200", "out of memory");
		return false;
	}
	if (type == 'X') {
		client_close(cl, NULL, "client close request");
		return false;
	}
	if (cc->skip_to_sync && type != 'S')
		return true;
	mr_init(&r, body, len);
	switch (type) {
	case 'Q':
		on_query(cl, (const char *)body, len);
		break;
	case 'P':
		on_parse(cl, &r);
		break;
	case 'B':
		on_bind(cl, &r);
		break;
	case 'D':
		on_describe(cl, &r);
		break;
	case 'E':
		on_execute(cl, &r);
		break;
	case 'C':
		on_close(cl, &r);
		break;
	case 'S':
		on_sync(cl);
		break;
	case 'H':
		break; /* everything is flushed at the end of the input anyway */
	default:
		client_close(cl, "08P01", "invalid message type for the admin console");
		return false;
	}
	return cl->state != CL_FREE;
}

void admin_input(struct client *cl)
{
	struct iobuf *b;
	uint32_t mark = conn_gen_mark(&cl->c);

	while (!cl->admin_wait && (b = cl->c.in) && b->end - b->pos >= PROTO_HDR) {
		uint8_t type = b->data[b->pos];
		uint32_t len = proto_get_u32(b->data + b->pos + 1);
		const uint8_t *body;
		if (len < 4 || len > CONSOLE_MSG_MAX) {
			client_close(cl, "08P01", len < 4 ? "invalid message length" : "message too long for the admin console (1 MB)");
			return;
		}
		if (b->end - b->pos < len + 1) {
			if (!conn_reserve_in(&cl->c, len + 1)) {
				client_close(cl, "53200", "out of memory");
				return;
			}
			break;
		}
		body = b->data + b->pos + PROTO_HDR;
		b->pos += len + 1;
		if (!console_message(cl, type, body, len - 4))
			return;
	}
	if (!send_out(cl, mark))
		return;
	conn_trim(&cl->c);
	conn_update(&cl->c);
}

const struct console_ops admin_console_ops = { admin_welcome, admin_input, console_cancel, console_closed };
