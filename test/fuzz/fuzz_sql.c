/*
 * libFuzzer target for the console's SQL entry (src/surfaces/sql_engine.c,
 * sql_wire.c): statement text in, PostgreSQL messages out, over snapshots
 * of two small views declared here (one of every column type, a few rows
 * with NULLs, long texts and extreme numbers). The first input byte picks
 * the protocol (simple Query, a portal with two text parameters and text or
 * binary results, or a Describe); the rest is the statement text.
 * Invariants (abort on failure):
 *   - the answer is a sequence of whole messages, each type one the engine
 *     sends ('T', 'D', 'C', 'E', 'I', 't', 'n') and each length inside the
 *     buffer;
 *   - an error answer is exactly one ErrorResponse with a five-character
 *     SQLSTATE, and res.error says so;
 *   - a success ends with CommandComplete or EmptyQueryResponse (a Describe
 *     with RowDescription or NoData), and every DataRow has the column
 *     count of the RowDescription before it;
 *   - nothing writes outside the connection: the authorizer refuses (42501)
 *     what is not a read, so a statement that succeeds left the database
 *     empty of tables.
 * Each run has a 50 ms time limit and 16 MB of memory, as a console query
 * has its own; LeakSanitizer checks that nothing leaks.
 *
 * Build and run: FUZZ_TARGET=sql test/fuzz/run.sh [seconds].
 */
#include "surfaces/sql_engine.h"
#include "views/snapshot.h"
#include "views/view.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct view_col t_cols[] = {
	{ "name", 's', "", "" }, { "n4", 'i', "", "" }, { "n4null", 'I', "", "" }, { "n8", 'q', "", "" },
	{ "u8", 'N', "", "" }, { "ms", 'D', "ms", "" }, { "at", 'T', "time", "" }, { "flag", 'b', "", "" },
};

static void t_rows(struct sift *s, struct view_sink *sink)
{
	(void)s;
	(void)sink;
}

static const struct view t_view = { "queries", "", t_cols, VIEW_NCOLS(t_cols), t_rows };

static const struct view_col p_cols[] = { { "database", 's', "", "" }, { "user", 's', "", "" },
					  { "xacts", 'q', "", "" } };
static const struct view p_view = { "pools", "", p_cols, VIEW_NCOLS(p_cols), t_rows };

const struct view *const view_all[] = { &t_view, &p_view, NULL };

static struct view_snap snaps[2];
static struct sql_conn *conn;

static void setup(void)
{
	static char long_text[3000];

	memset(long_text, 'x', sizeof(long_text) - 1);
	view_snap_init(&snaps[0], &t_view, 1 << 20);
	view_snap_init(&snaps[1], &p_view, 1 << 20);
	for (int i = 0; i < 40; i++)
		view_row(&snaps[0].sink, i % 7 ? "select $1" : i % 2 ? long_text : NULL, i - 20, i % 3 ? i : -1,
			 (int64_t)(i % 5 ? i * 1000003LL : INT64_MIN + i), (uint64_t)i * 77u, i % 6 ? i / 7.0 : 0.0 / 0.0,
			 (int64_t)(i % 4 ? 1796586292000000LL + i : 0), i % 2);
	for (int i = 0; i < 5; i++)
		view_row(&snaps[1].sink, "siftdb", i % 2 ? "app" : "", (int64_t)i * 10);
	CHECK(!snaps[0].failed && !snaps[1].failed, "the snapshots fit");
	conn = sql_conn_open();
	CHECK(conn != NULL, "a connection opens");
}

/* The answer is whole messages of the kinds the engine sends. */
static void check_messages(const struct pktbuf *pb, const struct sql_result *res, const char *ends)
{
	uint32_t off = 0, errors = 0, last = 0;
	int ncols = -1;

	while (off < pb->len) {
		uint8_t type;
		uint32_t len;
		CHECK(pb->len - off >= 5, "a whole message header");
		type = pb->data[off];
		len = (uint32_t)pb->data[off + 1] << 24 | (uint32_t)pb->data[off + 2] << 16 |
		      (uint32_t)pb->data[off + 3] << 8 | pb->data[off + 4];
		CHECK(len >= 4 && len <= pb->len - off - 1, "a message length inside the buffer");
		CHECK(strchr("TDCEItn", type) && type, "a message type the engine sends");
		if (type == 'T')
			ncols = pb->data[off + 5] << 8 | pb->data[off + 6];
		if (type == 'D' && ncols >= 0)
			CHECK((pb->data[off + 5] << 8 | pb->data[off + 6]) == ncols, "DataRow has the RowDescription's columns");
		if (type == 'E') {
			const char *p = (const char *)pb->data + off + 5, *end = (const char *)pb->data + off + 1 + len;
			bool code = false;
			for (; p < end && *p; p += strlen(p) + 1)
				if (*p == 'C')
					code = strlen(p + 1) == 5;
			CHECK(code, "an ErrorResponse has a five-character SQLSTATE");
			errors++;
		}
		last = type;
		off += len + 1;
	}
	if (res->error && ends) {
		CHECK(errors == 1 && last == 'E' && strlen(res->sqlstate) == 5, "an error is one ErrorResponse, last");
	} else {
		CHECK(errors == 0, "no ErrorResponse in a success or in the head");
		CHECK(ends ? last && strchr(ends, last) : !last || last == 'T' || last == 'n',
		      "a run ends with CommandComplete or EmptyQueryResponse, a Describe with RowDescription or "
		      "NoData, a head is one of those");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int16_t binary[] = { 1 };
	struct sql_param params[2] = { { (const uint8_t *)"7", 1, 0, 0 }, { (const uint8_t *)"app", 3, 25, 0 } };
	struct sql_request req;
	struct sql_result res;
	char *sql;

	if (!conn)
		setup();
	if (size < 1)
		return 0;
	if (!(sql = malloc(size)))
		return 0;
	memcpy(sql, data + 1, size - 1);
	sql[size - 1] = 0;
	memset(&req, 0, sizeof(req));
	req.sql = sql;
	req.mode = data[0] % 3 == 0 ? SQL_SIMPLE : data[0] % 3 == 1 ? SQL_PORTAL : SQL_DESCRIBE;
	req.rowdesc = data[0] & 4;
	req.declared_types = data[0] & 8;
	req.params = params;
	req.nparams = data[0] & 16 ? 2 : 0;
	req.formats = data[0] & 32 ? binary : NULL;
	req.nformats = data[0] & 32 ? 1 : 0;
	req.snaps = snaps;
	req.nsnaps = 2;
	req.now = 1796586292.5;
	req.timeout_us = 50000;
	req.max_bytes = 16u << 20;
	sql_run(conn, &req, &res);
	check_messages(&res.out, &res, req.mode == SQL_DESCRIBE ? "Tn" : "CI");
	check_messages(&res.head, &res, NULL);
	if (!res.error && req.mode == SQL_SIMPLE) {
		/* whatever ran, the database holds no table: ask the same engine */
		struct sql_request q = req;
		struct sql_result r2;
		q.sql = "SELECT count(*) FROM sqlite_schema WHERE type <> 'table' OR name NOT LIKE 'sqlite_%'";
		q.mode = SQL_SIMPLE;
		sql_run(conn, &q, &r2);
		CHECK(!r2.error, "the schema can be read");
		/* "SELECT 0": the DataRow holds one text column "0" */
		CHECK(r2.out.len > 0 && memmem(r2.out.data, r2.out.len, "\0\0\0\1" "0", 5), "no object was created");
		sql_result_free(&r2);
	}
	sql_result_free(&res);
	free(sql);
	return 0;
}
