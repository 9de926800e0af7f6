"""Pipelining through the pooler: psycopg pipelines, asyncpg executemany and
raw libpq pipeline sequences (Parse/Bind/Execute with Flush and Sync).

In transaction mode a server connection may go back to the pool only at a
ReadyForQuery that says "idle" with nothing the client sent still unanswered.
These tests run on pool_size 1 with a second client hammering the same single
server, so a server released too early (mid-pipeline, between an error and its
Sync, after a Flush) shows up as a wrong result, a result delivered to the
wrong client, or the second client running in the middle of another client's
implicit transaction."""

import asyncio
import threading
import uuid

import asyncpg
import psycopg
import pytest
from psycopg import pq

from harness import PASSWORDS, wait_for

USER = "sift_scram"


def pg_exec(pg, sql):
    """Run a statement without a result directly on PostgreSQL (superuser)."""
    with pg.connect(dbname="siftdb") as c:
        c.execute(sql)


def new_table(pg, prefix):
    """A fresh table (id int primary key) owned by the test user."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_exec(pg, f"create table {name} (id int primary key)")
    pg_exec(pg, f"alter table {name} owner to {USER}")
    return name


def drop_table(pg, name):
    pg_exec(pg, f"drop table if exists {name}")


class Hammer(threading.Thread):
    """Runs small queries in a loop on its own client connection.

    Each query echoes a token and reads the transaction-local setting
    sift.tag, which only the pipelined client sets (with is_local = true):
    seeing it means this query ran inside another client's transaction."""

    def __init__(self, conn, name="hammer"):
        super().__init__(daemon=True)
        self.conn, self.name_ = conn, name
        self.stop_event = threading.Event()
        self.count = 0
        self.problems = []
        self.error = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                token = f"{self.name_}-{self.count}"
                row = self.conn.execute(
                    "select %s::text, current_setting('sift.tag', true)", (token,)).fetchone()
                if row[0] != token:
                    self.problems.append(f"{token}: got {row[0]!r}")
                if row[1] not in (None, ""):
                    self.problems.append(f"{token}: ran inside a transaction tagged {row[1]!r}")
                self.count += 1
        except Exception as e:  # reported by the test
            self.error = e

    def finish(self):
        self.stop_event.set()
        self.join(30)
        assert not self.is_alive(), "the concurrent client is stuck"
        assert self.error is None, f"concurrent client failed: {self.error!r}"
        assert self.problems == [], self.problems[:10]


# -- psycopg pipeline ----------------------------------------------------------------

def psycopg_pipeline(conn, table, tag):
    """Three Sync-separated segments; the second one fails in its middle.

    Returns (results, raised): results maps each statement's label to the
    rows fetched from its cursor, or to "no result" when fetching raised
    (a statement that failed or was skipped); raised lists the
    (exception name, sqlstate) of every error psycopg raised while sending
    or syncing.  Where psycopg raises the pipeline's error (at a later
    execute() or at sync()) depends on timing, so only the list matters."""
    raised = []
    pending = []   # (label, cursor)

    def ex(label, sql, params=None):
        cur = conn.cursor()
        try:
            cur.execute(sql, params)
        except psycopg.Error as e:
            raised.append((type(e).__name__, e.sqlstate))
        pending.append((label, cur))

    def sync(pl):
        try:
            pl.sync()
        except psycopg.Error as e:
            raised.append((type(e).__name__, e.sqlstate))

    with conn.pipeline() as pl:
        # segment 1: one implicit transaction that commits
        ex("tag1", "select set_config('sift.tag', %s, true)", (tag,))
        ex("ins1", f"insert into {table} values (1) returning id")
        ex("pid1", "select pg_backend_pid()")
        ex("tag1b", "select current_setting('sift.tag')")
        ex("pid1b", "select pg_backend_pid()")
        sync(pl)
        # segment 2: fails at 1/0; the rest is skipped and all of it rolls back
        ex("tag2", "select set_config('sift.tag', %s, true)", (tag,))
        ex("ins2", f"insert into {table} values (2) returning id")
        ex("div0", "select 1/0")
        ex("ins3", f"insert into {table} values (3) returning id")
        ex("tag2b", "select current_setting('sift.tag')")
        sync(pl)
        # segment 3: works again
        ex("ins4", f"insert into {table} values (4) returning id")
        ex("all", f"select array_agg(id order by id) from {table}")
        ex("tag3", "select coalesce(current_setting('sift.tag', true), '')")
    results = {}
    for label, cur in pending:
        try:
            results[label] = cur.fetchall()
        except psycopg.Error:
            results[label] = "no result"
    return results, [r for r in raised if r[0] != "PipelineAborted"]


def expected_pipeline(tag):
    """What PostgreSQL specifies for psycopg_pipeline() (checked against a
    direct connection in the test)."""
    return {
        "tag1": [(tag,)], "ins1": [(1,)], "tag1b": [(tag,)],
        "tag2": [(tag,)], "ins2": [(2,)],        # ran, then rolled back at Sync
        "div0": "no result", "ins3": "no result", "tag2b": "no result",
        "ins4": [(4,)], "all": [([1, 4],)], "tag3": [("",)],
    }


def check_pipeline(results, raised, tag):
    """Problems found in one run of psycopg_pipeline() (empty list when right)."""
    problems = []
    pids = results.pop("pid1"), results.pop("pid1b")
    if pids[0] != pids[1] or not isinstance(pids[0], list):
        problems.append(f"one implicit transaction on two backends: {pids}")
    if results != expected_pipeline(tag):
        problems.append(f"results {results}")
    if raised != [("DivisionByZero", "22012")]:
        problems.append(f"raised {raised}")
    return problems


def test_psycopg_pipeline_with_an_error_matches_postgresql(pg, pooler):
    p = pooler(default_pool_size=1)
    table = new_table(pg, "pl")
    try:
        # PostgreSQL itself, without a pooler in between, is the oracle.
        with psycopg.connect(pg.tcp_dsn(), autocommit=True, prepare_threshold=None) as direct:
            assert check_pipeline(*psycopg_pipeline(direct, table, "direct"), "direct") == []
            direct.execute(f"delete from {table}")
        conn = p.connect()
        hammer = Hammer(p.connect())
        hammer.start()
        try:
            for i in range(12):
                tag = f"piped-{i}"
                assert check_pipeline(*psycopg_pipeline(conn, table, tag), tag) == [], i
                conn.execute(f"delete from {table}")
                # after the pipeline the connection is an ordinary one again
                assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
        finally:
            hammer.finish()
        assert hammer.count > 0
    finally:
        drop_table(pg, table)


def test_two_pipelining_clients_on_one_server(pg, pooler):
    p = pooler(default_pool_size=1)
    tables = [new_table(pg, "pl2"), new_table(pg, "pl2")]
    problems = []

    def client(k):
        try:
            conn = p.connect()
            for i in range(8):
                tag = f"c{k}-{i}"
                found = check_pipeline(*psycopg_pipeline(conn, tables[k], tag), tag)
                problems.extend((k, i, f) for f in found)
                conn.execute(f"delete from {tables[k]}")
        except Exception as e:
            problems.append((k, repr(e)))

    try:
        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a pipelining client is stuck"
        assert problems == [], problems[:4]
    finally:
        for t in tables:
            drop_table(pg, t)


# -- raw libpq pipeline sequences ---------------------------------------------------

def result_of(pgconn):
    """Next result of a libpq pipeline as a plain tuple, or None."""
    r = pgconn.get_result()
    if r is None:
        return None
    status = pq.ExecStatus(r.status).name
    if r.status == pq.ExecStatus.TUPLES_OK:
        return (status, [tuple(None if r.get_value(i, j) is None else r.get_value(i, j).decode()
                               for j in range(r.nfields)) for i in range(r.ntuples)])
    if r.status == pq.ExecStatus.FATAL_ERROR:
        return (status, r.error_field(pq.DiagnosticField.SQLSTATE).decode())
    return (status,)


def send(pgconn, sql, flush_request=True):
    pgconn.send_query_params(sql.encode(), None)
    if flush_request:
        pgconn.send_flush_request()
    assert pgconn.flush() == 0


def one_result(pgconn):
    """The result of one query, then libpq's end-of-query NULL."""
    r = result_of(pgconn)
    assert result_of(pgconn) is None
    return r


class Runner(threading.Thread):
    def __init__(self, conn, sql):
        super().__init__(daemon=True)
        self.conn, self.sql = conn, sql
        self.result, self.error = None, None

    def run(self):
        try:
            self.result = self.conn.execute(self.sql).fetchall()
        except Exception as e:
            self.error = e


def test_flush_without_sync_keeps_the_server_until_sync(pooler):
    p = pooler(default_pool_size=1)
    a = p.connect()
    b = p.connect()
    assert b.execute("select 1").fetchone() == (1,)
    g = a.pgconn
    g.enter_pipeline_mode()
    # Parse/Bind/Describe/Execute + Flush: results come back, no ReadyForQuery.
    send(g, "select pg_backend_pid()::text, set_config('sift.tag', 'a-open', true)")
    status, rows = one_result(g)
    assert status == "TUPLES_OK"
    pid = rows[0][0]
    waiting = Runner(b, "select pg_backend_pid()::text, current_setting('sift.tag', true)")
    waiting.start()
    wait_for(lambda: (r := p.pool_row()) and r["cl_waiting"] == "1",
             what="the second client to wait for the only server")
    # Still our implicit transaction on the same backend.
    send(g, "select pg_backend_pid()::text, current_setting('sift.tag')")
    assert one_result(g) == ("TUPLES_OK", [(pid, "a-open")])
    assert waiting.is_alive(), "the second client ran before the pipeline's Sync"
    g.pipeline_sync()
    assert g.flush() == 0
    assert result_of(g) == ("PIPELINE_SYNC",)
    g.exit_pipeline_mode()
    waiting.join(30)
    assert waiting.error is None, waiting.error
    # Same single server, and the transaction-local setting ended at Sync.
    assert waiting.result in ([(pid, "")], [(pid, None)]), waiting.result
    assert a.execute("select 'a again'").fetchone() == ("a again",)


def test_error_without_sync_keeps_the_server_until_sync(pooler):
    p = pooler(default_pool_size=1)
    a = p.connect()
    b = p.connect()
    assert b.execute("select 1").fetchone() == (1,)
    g = a.pgconn
    g.enter_pipeline_mode()
    send(g, "select pg_backend_pid()::text")
    status, rows = one_result(g)
    pid = rows[0][0]
    send(g, "select 1/0")
    assert one_result(g) == ("FATAL_ERROR", "22012")
    # The server now skips everything until Sync; it is still ours.
    waiting = Runner(b, "select pg_backend_pid()::text, 'b ran'")
    waiting.start()
    wait_for(lambda: (r := p.pool_row()) and r["cl_waiting"] == "1",
             what="the second client to wait for the only server")
    send(g, "select 'skipped'")
    assert one_result(g) == ("PIPELINE_ABORTED",)
    assert waiting.is_alive(), "the second client ran between an error and its Sync"
    g.pipeline_sync()
    assert g.flush() == 0
    assert result_of(g) == ("PIPELINE_SYNC",)
    # After the Sync the pipeline works again (same connection, new segment).
    send(g, "select 'after sync'", flush_request=False)
    g.pipeline_sync()
    assert g.flush() == 0
    assert one_result(g) == ("TUPLES_OK", [("after sync",)])
    assert result_of(g) == ("PIPELINE_SYNC",)
    g.exit_pipeline_mode()
    waiting.join(30)
    assert waiting.error is None, waiting.error
    assert waiting.result == [(pid, "b ran")]


@pytest.mark.pgsift_only("releases the server at the first ReadyForQuery of a multi-Sync "
                         "pipeline, so results reach the wrong client")
def test_libpq_pipeline_results_in_order_with_a_concurrent_client(pooler):
    """Ten Sync segments sent at once, the fourth failing: every result comes
    back in order, exactly as PostgreSQL specifies for pipelines."""
    p = pooler(default_pool_size=1)
    conn = p.connect()
    hammer = Hammer(p.connect())
    hammer.start()
    try:
        for rnd in range(10):
            g = conn.pgconn
            g.enter_pipeline_mode()
            expected = []
            for seg in range(10):
                if seg == 3:
                    send(g, f"select 'r{rnd}s{seg}a'", flush_request=False)
                    send(g, "select 1/0", flush_request=False)
                    send(g, f"select 'r{rnd}s{seg}c'", flush_request=False)
                    expected += [("TUPLES_OK", [(f"r{rnd}s{seg}a",)]), ("FATAL_ERROR", "22012"),
                                 ("PIPELINE_ABORTED",)]
                else:
                    for k in range(3):
                        send(g, f"select 'r{rnd}s{seg}q{k}'", flush_request=False)
                        expected.append(("TUPLES_OK", [(f"r{rnd}s{seg}q{k}",)]))
                g.pipeline_sync()
                expected.append(("PIPELINE_SYNC",))
            assert g.flush() == 0
            got = []
            for want in expected:
                r = result_of(g)
                got.append(r)
                if want != ("PIPELINE_SYNC",):
                    assert result_of(g) is None
            g.exit_pipeline_mode()
            assert got == expected, f"round {rnd}"
            assert conn.execute("select %s::int", (rnd,)).fetchone() == (rnd,)
    finally:
        hammer.finish()


# -- asyncpg -----------------------------------------------------------------------------

def test_asyncpg_executemany_is_atomic_and_isolated(pg, pooler):
    """executemany sends every Bind/Execute and a single Sync: one implicit
    transaction.  A duplicate key in the middle rolls back the whole batch,
    while another client's batch on the same single server is untouched."""
    p = pooler(default_pool_size=1)
    table = new_table(pg, "em")

    async def connect():
        return await asyncpg.connect(host=p.host, port=p.port, user=USER,
                                     password=PASSWORDS[USER], database="siftdb",
                                     statement_cache_size=0, timeout=30)

    async def failing(conn):
        rows = [(100000 + i,) for i in range(3000)]
        rows[2500] = (100000 + 10,)   # duplicate key late in the batch
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.executemany(f"insert into {table} values ($1)", rows)
        return await conn.fetchval(
            f"select count(*) from {table} where id >= 100000 and id < 200000")

    async def good(conn, base):
        await conn.executemany(f"insert into {table} values ($1)",
                               [(base + i,) for i in range(3000)])
        return await conn.fetchval(
            f"select count(*) from {table} where id >= $1 and id < $2", base, base + 3000)

    async def main():
        c1, c2, c3 = await connect(), await connect(), await connect()
        try:
            out = await asyncio.gather(failing(c1), good(c2, 0), good(c3, 200000))
            return out + [await c1.fetchval("select 'c1 alive'")]
        finally:
            for c in (c1, c2, c3):
                await c.close()

    try:
        results = asyncio.run(main())
        assert results == [0, 3000, 3000, "c1 alive"], results
        assert pg.query(f"select count(*) from {table}", dbname="siftdb") == [(6000,)]
    finally:
        drop_table(pg, table)
