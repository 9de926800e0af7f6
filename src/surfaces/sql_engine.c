/*
 * sql_engine: see sql_engine.h. The virtual tables and the allocator are
 * here; turning SQLite's values into PostgreSQL messages is in sql_wire.c.
 */
#include "surfaces/sql_engine.h"

#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "surfaces/sql_wire.h"

/* ---- memory: SQLite's allocations counted against the running request ---- */

struct sql_budget {
	size_t used, limit;
	bool over;
};

/* The budget of the request running on this thread, NULL between requests.
 * Thread-local by necessity: SQLite's allocator is process-wide. */
static __thread struct sql_budget *tl_budget;

#define HDR 16u /* keeps the size, and 16-byte alignment */

static void *m_malloc(int n)
{
	size_t sz = n > 0 ? (size_t)n : 0;
	uint64_t *p;

	if (tl_budget && tl_budget->used + sz > tl_budget->limit) {
		tl_budget->over = true;
		return NULL;
	}
	if (!(p = malloc(sz + HDR)))
		return NULL;
	p[0] = sz;
	if (tl_budget)
		tl_budget->used += sz;
	return (char *)p + HDR;
}

static int m_size(void *q)
{
	return q ? (int)((uint64_t *)((char *)q - HDR))[0] : 0;
}

static void m_free(void *q)
{
	size_t sz;

	if (!q)
		return;
	sz = (size_t)m_size(q);
	if (tl_budget)
		tl_budget->used = tl_budget->used > sz ? tl_budget->used - sz : 0;
	free((char *)q - HDR);
}

static void *m_realloc(void *q, int n)
{
	size_t old = q ? (size_t)m_size(q) : 0, sz = n > 0 ? (size_t)n : 0;
	uint64_t *p;

	if (tl_budget && sz > old && tl_budget->used + (sz - old) > tl_budget->limit) {
		tl_budget->over = true;
		return NULL;
	}
	if (!(p = realloc(q ? (char *)q - HDR : NULL, sz + HDR)))
		return NULL;
	p[0] = sz;
	if (tl_budget)
		tl_budget->used = tl_budget->used - (old < tl_budget->used ? old : tl_budget->used) + sz;
	return (char *)p + HDR;
}

static int m_roundup(int n)
{
	return (n + 7) & ~7;
}

static int m_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void m_shutdown(void *arg)
{
	(void)arg;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;

static void global_init(void)
{
	static const sqlite3_mem_methods mem = { m_malloc, m_free, m_realloc, m_size, m_roundup, m_init, m_shutdown, NULL };

	init_ok = sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) == SQLITE_OK &&
		  sqlite3_config(SQLITE_CONFIG_MULTITHREAD) == SQLITE_OK && sqlite3_initialize() == SQLITE_OK;
}

bool sql_engine_global_init(void)
{
	pthread_once(&init_once, global_init);
	return init_ok;
}

/* ---- the connection ---- */

struct sql_conn {
	sqlite3 *db;
	const struct sql_request *req;	/* while one runs */
	int64_t deadline;		/* monotonic usec, 0: none */
	bool timed_out, cancelled;
	int denied;			/* the authorizer's last refused action, 0: none */
	char denied_what[64];
	struct sql_module_aux {
		struct sql_conn *conn;
		int view;
	} aux[64];
};

static int64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- virtual tables over snapshots ---- */

struct vtab {
	sqlite3_vtab base;
	const struct sql_module_aux *aux;
};

struct vcursor {
	sqlite3_vtab_cursor base;
	const struct view_snap *sn;
	uint32_t row;
};

static const char *decl_type(char t)
{
	switch (t) {
	case 'i':
	case 'I':
	case 'q':
	case 'N':
		return "INT8";
	case 'D':
		return "FLOAT8";
	case 'T':
		return "TIMESTAMPTZ";
	case 'b':
		return "BOOL";
	default:
		return "TEXT";
	}
}

static int vt_connect(sqlite3 *db, void *paux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	const struct sql_module_aux *aux = paux;
	const struct view *v = view_all[aux->view];
	char decl[8192];
	size_t n = (size_t)snprintf(decl, sizeof(decl), "CREATE TABLE x(");
	struct vtab *t;

	(void)argc;
	(void)argv;
	(void)err;
	for (int c = 0; c < v->ncols && n < sizeof(decl); c++)
		n += (size_t)snprintf(decl + n, sizeof(decl) - n, "%s\"%s\" %s", c ? ", " : "", v->cols[c].name,
				      decl_type(v->cols[c].type));
	if (n + 2 >= sizeof(decl))
		return SQLITE_ERROR;
	memcpy(decl + n, ")", 2);
	if (sqlite3_declare_vtab(db, decl) != SQLITE_OK)
		return SQLITE_ERROR;
	if (!(t = sqlite3_malloc(sizeof(*t))))
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->aux = aux;
	*out = &t->base;
	return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *t)
{
	sqlite3_free(t);
	return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *t, sqlite3_index_info *info)
{
	(void)t;
	info->estimatedCost = 1e6; /* a full scan of a snapshot: no index */
	info->estimatedRows = 1000;
	return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *t, sqlite3_vtab_cursor **out)
{
	struct vcursor *c = sqlite3_malloc(sizeof(*c));

	(void)t;
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *c)
{
	sqlite3_free(c);
	return SQLITE_OK;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc, sqlite3_value **argv)
{
	struct vcursor *c = (struct vcursor *)cur;
	const struct sql_module_aux *aux = ((struct vtab *)cur->pVtab)->aux;
	const struct sql_request *req = aux->conn->req;

	(void)idx;
	(void)idxstr;
	(void)argc;
	(void)argv;
	c->row = 0;
	c->sn = req && aux->view < req->nsnaps ? &req->snaps[aux->view] : NULL;
	return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
	((struct vcursor *)cur)->row++;
	return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
	const struct vcursor *c = (const struct vcursor *)cur;

	return !c->sn || c->row >= c->sn->nrows;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct vcursor *c = (const struct vcursor *)cur;
	const struct view_val *x = &view_snap_row(c->sn, c->row)[col];

	switch (x->kind) {
	case VK_INT:
		if (c->sn->sink.view->cols[col].type == 'T')
			sqlite3_result_double(ctx, (double)x->u.i / 1e6); /* seconds since the epoch */
		else if (c->sn->sink.view->cols[col].type == 'N')
			sqlite3_result_int64(ctx, (int64_t)(uint64_t)x->u.i);
		else
			sqlite3_result_int64(ctx, x->u.i);
		break;
	case VK_DOUBLE:
		sqlite3_result_double(ctx, x->u.d);
		break;
	case VK_TEXT:
		sqlite3_result_text(ctx, x->u.s, -1, SQLITE_STATIC); /* the snapshot outlives the statement */
		break;
	default:
		sqlite3_result_null(ctx);
		break;
	}
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((struct vcursor *)cur)->row;
	return SQLITE_OK;
}

static const sqlite3_module view_module = {
	.iVersion = 0,
	.xCreate = NULL, /* eponymous only: the table exists under the module's name */
	.xConnect = vt_connect,
	.xBestIndex = vt_best_index,
	.xDisconnect = vt_disconnect,
	.xDestroy = vt_disconnect,
	.xOpen = vt_open,
	.xClose = vt_close,
	.xFilter = vt_filter,
	.xNext = vt_next,
	.xEof = vt_eof,
	.xColumn = vt_column,
	.xRowid = vt_rowid,
};

/* ---- what a statement may do ---- */

static int authorize_cb(void *arg, int action, const char *a, const char *b, const char *dbname, const char *trigger)
{
	struct sql_conn *c = arg;

	(void)dbname;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		if (b && strcasecmp(b, "load_extension") != 0)
			return SQLITE_OK;
		break;
	default:
		break;
	}
	if (!c->denied) {
		c->denied = action;
		snprintf(c->denied_what, sizeof(c->denied_what), "%s", b ? b : a ? a : "");
	}
	return SQLITE_DENY;
}

static int progress_cb(void *arg)
{
	struct sql_conn *c = arg;

	if (c->req && c->req->cancel && atomic_load(c->req->cancel)) {
		c->cancelled = true;
		return 1;
	}
	if (c->deadline && mono_usec() > c->deadline) {
		c->timed_out = true;
		return 1;
	}
	return 0;
}

static void now_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct sql_conn *c = sqlite3_user_data(ctx);

	(void)argc;
	(void)argv;
	sqlite3_result_double(ctx, c->req ? c->req->now : 0.0);
}

static bool conn_setup(struct sql_conn *c)
{
	static const int off[] = { SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, SQLITE_DBCONFIG_ENABLE_TRIGGER,
				   SQLITE_DBCONFIG_ENABLE_VIEW, SQLITE_DBCONFIG_TRUSTED_SCHEMA, SQLITE_DBCONFIG_DQS_DML,
				   SQLITE_DBCONFIG_DQS_DDL };

	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (sqlite3_db_config(c->db, off[i], 0, (int *)NULL) != SQLITE_OK)
			return false;
	if (sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL) != SQLITE_OK)
		return false;
	sqlite3_limit(c->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(c->db, SQLITE_LIMIT_SQL_LENGTH, 1 << 20);
	for (int i = 0; view_all[i]; i++) {
		if (i >= (int)(sizeof(c->aux) / sizeof(c->aux[0])))
			return false;
		c->aux[i].conn = c;
		c->aux[i].view = i;
		if (sqlite3_create_module(c->db, view_all[i]->name, &view_module, &c->aux[i]) != SQLITE_OK)
			return false;
	}
	if (sqlite3_create_function(c->db, "now", 0, SQLITE_UTF8, c, now_fn, NULL, NULL) != SQLITE_OK)
		return false;
	/* each table is connected now, before the authorizer: a first use is
	 * reported as a write to sqlite_master, which would be refused */
	for (int i = 0; view_all[i]; i++) {
		char q[128];
		snprintf(q, sizeof(q), "SELECT 1 FROM \"%s\" LIMIT 0", view_all[i]->name);
		if (sqlite3_exec(c->db, q, NULL, NULL, NULL) != SQLITE_OK)
			return false;
	}
	sqlite3_set_authorizer(c->db, authorize_cb, c);
	sqlite3_progress_handler(c->db, 1000, progress_cb, c);
	return true;
}

struct sql_conn *sql_conn_open(void)
{
	struct sql_conn *c;

	if (!sql_engine_global_init() || !(c = calloc(1, sizeof(*c))))
		return NULL;
	if (sqlite3_open_v2(":memory:", &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    !conn_setup(c)) {
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	return c;
}

void sql_conn_close(struct sql_conn *c)
{
	if (!c)
		return;
	sqlite3_close(c->db);
	free(c);
}

/* ---- running a request ---- */

/* The SQLSTATE for SQLite's error on c (PostgreSQL's codes for the same
 * mistakes), and the message into msg. */
static const char *error_state(struct sql_conn *c, int rc, const struct sql_budget *bg, char *msg, size_t msglen)
{
	const char *m = sqlite3_errmsg(c->db);

	snprintf(msg, msglen, "%s", m);
	if (c->timed_out) {
		snprintf(msg, msglen, "canceling statement due to statement timeout (admin_sql_timeout)");
		return "57014";
	}
	if (c->cancelled) {
		snprintf(msg, msglen, "canceling statement due to user request");
		return "57014";
	}
	if (bg->over || (rc & 0xff) == SQLITE_NOMEM) {
		snprintf(msg, msglen, "out of memory: the query needs more than admin_sql_memory");
		return "53200";
	}
	if (c->denied || (rc & 0xff) == SQLITE_AUTH || (rc & 0xff) == SQLITE_READONLY || strstr(m, "may not be modified")) {
		snprintf(msg, msglen, "permission denied: the admin console is read-only (only SELECT may run)");
		return "42501";
	}
	if ((rc & 0xff) == SQLITE_TOOBIG)
		return "54000";
	if ((rc & 0xff) == SQLITE_MISMATCH)
		return "42804";
	if (strstr(m, "no such table"))
		return "42P01";
	if (strstr(m, "no such column"))
		return "42703";
	if (strstr(m, "no such function") || strstr(m, "wrong number of arguments"))
		return "42883";
	if (strstr(m, "ambiguous column"))
		return "42702";
	if (strstr(m, "misuse of aggregate") || strstr(m, "misuse of window"))
		return "42803";
	if (strstr(m, "integer overflow"))
		return "22003";
	if (strstr(m, "syntax error") || strstr(m, "incomplete input") || strstr(m, "unrecognized token"))
		return "42601";
	return "42000";
}

static void fail(struct sql_conn *c, int rc, const struct sql_budget *bg, struct sql_result *res)
{
	char msg[512];
	const char *st = error_state(c, rc, bg, msg, sizeof(msg));

	/* the answers of the statements before it stay, as PostgreSQL sends them */
	proto_error(&res->out, false, st, msg);
	res->error = true;
	memcpy(res->sqlstate, st, 6);
}

static void fail_with(struct sql_result *res, const char *sqlstate, const char *msg)
{
	proto_error(&res->out, false, sqlstate, msg);
	res->error = true;
	memcpy(res->sqlstate, sqlstate, 6);
}

/* Runs one prepared statement per the request; false on an error (in res). */
static bool run_stmt(struct sql_conn *c, sqlite3_stmt *st, const struct sql_request *req, struct sql_budget *bg,
		     struct sql_result *res)
{
	struct sql_rows rows;
	int rc;
	bool ok;

	if (!sqlite3_stmt_readonly(st)) {
		fail_with(res, "42501", "permission denied: the admin console is read-only (only SELECT may run)");
		return false;
	}
	if (req->mode == SQL_PORTAL && !sql_wire_bind(st, req->params, req->nparams, res))
		return false;
	sql_rows_init(&rows, st, req->declared_types);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!sql_rows_add(&rows, st, bg->limit > bg->used ? bg->limit - bg->used : 0)) {
			bg->over = true;
			rc = SQLITE_NOMEM;
			break;
		}
	if (rc != SQLITE_DONE) {
		fail(c, rc, bg, res);
		sql_rows_free(&rows);
		return false;
	}
	ok = sql_wire_result(&rows, req, res);
	sql_rows_free(&rows);
	return ok;
}

static void run_all(struct sql_conn *c, const struct sql_request *req, struct sql_budget *bg, struct sql_result *res)
{
	const char *p = req->sql, *tail;
	bool any = false;

	while (*p) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v3(c->db, p, -1, 0, &st, &tail);
		if (rc != SQLITE_OK) {
			fail(c, rc, bg, res);
			return;
		}
		p = tail;
		if (!st)
			continue; /* blanks or a comment */
		any = true;
		if (req->mode == SQL_DESCRIBE) {
			sql_wire_describe(st, req, res);
			sqlite3_finalize(st);
			return;
		}
		if (!run_stmt(c, st, req, bg, res)) {
			sqlite3_finalize(st);
			return;
		}
		sqlite3_finalize(st);
		if (req->mode == SQL_PORTAL)
			break; /* one statement per portal, as PostgreSQL */
	}
	if (!any)
		sql_wire_empty(req, res);
}

void sql_run(struct sql_conn *c, const struct sql_request *req, struct sql_result *res)
{
	struct sql_budget bg = { 0, req->max_bytes, false };

	memset(res, 0, sizeof(*res));
	pkt_init(&res->head, UINT32_MAX);
	pkt_init(&res->out, UINT32_MAX);
	c->req = req;
	c->deadline = req->timeout_us > 0 ? mono_usec() + req->timeout_us : 0;
	c->timed_out = c->cancelled = false;
	c->denied = 0;
	tl_budget = &bg;
	run_all(c, req, &bg, res);
	tl_budget = NULL;
	c->req = NULL;
	if (res->out.failed || res->head.failed) { /* the answer outgrew memory: only the error goes */
		pkt_reset(&res->out);
		pkt_reset(&res->head);
		res->out.failed = res->head.failed = false;
		res->error = false;
		fail_with(res, "53200", "out of memory building the result");
	}
}

void sql_result_free(struct sql_result *res)
{
	pkt_free(&res->head);
	pkt_free(&res->out);
}

/* ---- routing: is it SQL? ---- */

static const char *skip_blanks(const char *p, const char *end)
{
	for (;;) {
		while (p < end && (isspace((unsigned char)*p) || *p == '('))
			p++;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			const char *q = p + 2;
			while (q + 1 < end && !(q[0] == '*' && q[1] == '/'))
				q++;
			p = q + 1 < end ? q + 2 : end;
		} else
			return p;
	}
}

bool sql_is_sql(const char *text, size_t len)
{
	static const char *const words[] = { "select", "with", "values", "insert", "update", "delete", "replace",
					     "attach", "detach", "pragma", "create", "drop", "alter", "vacuum",
					     "reindex", "analyze", "begin", "commit", "end", "rollback", "savepoint",
					     "release", "explain" };
	const char *end = text + strnlen(text, len), *p = skip_blanks(text, end), *w = p;

	while (p < end && (isalpha((unsigned char)*p) || *p == '_'))
		p++;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if ((size_t)(p - w) == strlen(words[i]) && strncasecmp(w, words[i], (size_t)(p - w)) == 0)
			return true;
	return false;
}
