"""Cancel requests and the pooler's timeouts."""

import os
import threading
import uuid

import psycopg
import pytest

import wire
from harness import IS_PGBOUNCER, PASSWORDS, wait_for

USER = "sift_scram"


class Runner(threading.Thread):
    """Runs one statement on a connection in a thread; keeps result or error."""

    def __init__(self, conn, sql):
        super().__init__(daemon=True)
        self.conn, self.sql = conn, sql
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.conn.execute(self.sql).fetchall()
        except Exception as e:
            self.error = e

    def outcome(self, timeout=90):
        self.join(timeout)
        assert not self.is_alive(), f"statement still running after {timeout}s: {self.sql}"
        return self.result, self.error


def test_cancel_stops_only_the_cancelled_query(pg, pooler):
    p = pooler(default_pool_size=5)
    victim = p.connect()
    bystander = p.connect()
    tag = uuid.uuid4().hex[:8]
    long_q = Runner(victim, f"select pg_sleep(30) /* victim {tag} */")
    short_q = Runner(bystander, f"select pg_sleep(4), 'bystander done' /* bystander {tag} */")
    long_q.start()
    short_q.start()
    wait_for(lambda: pg.active_pid_running(f"victim {tag}"), what="victim query on a server")
    wait_for(lambda: pg.active_pid_running(f"bystander {tag}") or not short_q.is_alive(),
             what="bystander query on a server")
    victim.cancel()
    result, error = long_q.outcome()
    assert isinstance(error, psycopg.errors.QueryCanceled), (result, error)
    assert error.sqlstate == "57014"
    result, error = short_q.outcome()
    assert error is None, f"bystander was disturbed: {error!r}"
    assert result == [("", "bystander done")]
    # The cancelled connection keeps working, many times over.
    for i in range(20):
        assert victim.execute("select %s::int", (i,)).fetchone() == (i,)
    assert bystander.execute("select 1").fetchone() == (1,)


def test_cancel_inside_a_transaction_then_rollback(pg, pooler):
    p = pooler()
    conn = p.connect()
    tag = uuid.uuid4().hex[:8]
    conn.execute("begin")
    conn.execute("select 1")
    q = Runner(conn, f"select pg_sleep(30) /* txn {tag} */")
    q.start()
    wait_for(lambda: pg.active_pid_running(f"txn {tag}"), what="query on a server")
    conn.cancel()
    _, error = q.outcome()
    assert isinstance(error, psycopg.errors.QueryCanceled), error
    with pytest.raises(psycopg.errors.InFailedSqlTransaction):
        conn.execute("select 1")
    conn.execute("rollback")
    assert conn.execute("select 'after rollback'").fetchone() == ("after rollback",)


def test_cancel_request_with_a_wrong_key_cancels_nothing(pg, pooler):
    p = pooler()
    conn = p.connect()
    tag = uuid.uuid4().hex[:8]
    q = Runner(conn, f"select pg_sleep(3), 'finished' /* wrongkey {tag} */")
    q.start()
    wait_for(lambda: pg.active_pid_running(f"wrongkey {tag}") or not q.is_alive(),
             what="query on a server")
    pid = conn.pgconn.backend_pid
    import struct
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(struct.pack("!IIiI", 16, wire.CANCEL_REQUEST, pid, 12345))
        _, closed = raw.read_until_closed(timeout=30)
        assert closed
    result, error = q.outcome()
    assert error is None, error
    assert result == [("", "finished")]


def _hold_the_only_server(p, tag):
    """A client in a transaction on the pool's only server; returns it."""
    holder = p.connect(autocommit=False)
    holder.execute(f"select 'holding {tag}'")
    return holder


@pytest.mark.pgsift_only("PgBouncer 1.18 ignores a cancel for a waiting client")
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_cancel_of_a_query_waiting_for_a_server_is_an_error_not_a_disconnect(pooler, protocol):
    """As PostgreSQL cancels a statement: 57014 as an ERROR, the connection
    stays and works once a server is free; the holder is not disturbed."""
    p = pooler(default_pool_size=1, pool_mode="transaction")
    tag = uuid.uuid4().hex[:8]
    holder = _hold_the_only_server(p, tag)
    waiter = p.connect()
    sql = "select 'never ran'" if protocol == "simple" else "select %s::text"
    args = None if protocol == "simple" else ("never ran",)
    q = Runner(waiter, sql) if args is None else _RunnerArgs(waiter, sql, args)
    q.start()
    wait_for(lambda: int(p.pool_row()["cl_waiting"]) == 1, what="the query waiting for a server")
    waiter.cancel()
    result, error = q.outcome(timeout=30)
    assert isinstance(error, psycopg.errors.QueryCanceled), (result, error)
    assert error.sqlstate == "57014"
    assert int(p.pool_row()["cl_waiting"]) == 0
    assert holder.execute("select 'still mine'").fetchone() == ("still mine",)
    holder.commit()
    for i in range(5):
        assert waiter.execute("select %s::int", (i,)).fetchone() == (i,)


class _RunnerArgs(Runner):
    def __init__(self, conn, sql, args):
        super().__init__(conn, sql)
        self.args = args

    def run(self):
        try:
            self.result = self.conn.execute(self.sql, self.args).fetchall()
        except Exception as e:
            self.error = e


@pytest.mark.pgsift_only("PgBouncer 1.18 ignores a cancel for a waiting client")
def test_cancelled_waiting_batch_is_dropped_up_to_its_sync(pooler):
    """An extended-protocol batch cancelled while waiting, whose Sync comes
    only after the cancel: its messages are dropped, the error comes once,
    ReadyForQuery comes for the Sync, and the connection goes on."""
    import struct

    p = pooler(default_pool_size=1, pool_mode="transaction")
    holder = _hold_the_only_server(p, "batch")
    with wire.RawConn(p.host, p.port, timeout=30) as raw:
        raw.startup(USER, "siftdb", PASSWORDS[USER])
        raw.send(wire.message(b"P", b"\0select 'dropped'\0\0\0") + wire.message(b"B", b"\0\0\0\0\0\0\0\0")
                 + wire.message(b"E", b"\0\0\0\0\0"))
        wait_for(lambda: int(p.pool_row()["cl_waiting"]) == 1,
                 what="the batch waiting for a server")
        pid, key = raw.backend_key
        with wire.RawConn(p.host, p.port) as c:
            c.send(struct.pack("!IIII", 16, wire.CANCEL_REQUEST, pid, key))
            c.read_until_closed(timeout=30)
        t, payload = raw.read_msg(timeout=30)
        assert t == b"E" and wire.parse_error_fields(payload)["C"] == "57014", (t, payload)
        # more of the same batch, then its Sync: dropped, one ReadyForQuery
        raw.send(wire.message(b"B", b"\0\0\0\0\0\0\0\0") + wire.message(b"E", b"\0\0\0\0\0")
                 + wire.message(b"S"))
        t, payload = raw.read_msg(timeout=30)
        assert (t, payload) == (b"Z", b"I"), (t, payload)
        holder.commit()
        rows, err = raw.query("select 'after the cancel'")
        assert err is None and rows == [["after the cancel"]]


def test_query_wait_timeout_disconnects_the_waiting_client(pooler):
    p = pooler(default_pool_size=1, query_wait_timeout=2)
    holder = p.connect()
    holder.execute("begin")
    holder.execute("select 1")
    waiter = p.connect()
    with pytest.raises(psycopg.OperationalError) as ei:
        waiter.execute("select 'should not run'")
    assert "query_wait_timeout" in str(ei.value)
    assert waiter.closed or waiter.broken
    # The holder's transaction is untouched.
    assert holder.execute("select 2").fetchone() == (2,)
    holder.execute("commit")
    assert p.connect().execute("select 3").fetchone() == (3,)


def test_idle_transaction_timeout_closes_client_and_rolls_back(pg, pooler):
    p = pooler(idle_transaction_timeout=2)
    table = f"itt_{uuid.uuid4().hex[:8]}"
    setup = p.connect()
    setup.execute(f"create table {table} (id int)")
    try:
        conn = p.connect()
        conn.execute("begin")
        conn.execute(f"insert into {table} values (1)")
        wait_for(lambda: not [r for r in pg.backends(USER) if r[1] == "idle in transaction"],
                 timeout=60, what="the idle-in-transaction server to be released")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("commit")
        assert setup.execute(f"select count(*) from {table}").fetchone() == (0,)
        assert setup.execute("select 1").fetchone() == (1,)
    finally:
        setup.execute(f"drop table {table}")


def test_client_idle_timeout_closes_idle_clients(pooler):
    p = pooler(client_idle_timeout=2)
    with wire.RawConn(p.host, p.port, timeout=60) as raw:
        raw.startup(USER, "siftdb", PASSWORDS[USER])
        msgs, closed = raw.read_until_closed(timeout=60)
    assert closed, "idle client was not disconnected"
    errors = wire.errors_in(msgs)
    assert errors and "client_idle_timeout" in errors[0].get("M", ""), msgs
    assert p.connect().execute("select 1").fetchone() == (1,)


@pytest.mark.pgsift_only("query_timeout closes the connection instead of cancelling")
def test_query_timeout_cancels_and_client_stays_usable(pooler):
    p = pooler(query_timeout=1)
    conn = p.connect()
    with pytest.raises(psycopg.errors.QueryCanceled) as ei:
        conn.execute("select pg_sleep(30)")
    assert ei.value.sqlstate == "57014"
    assert conn.execute("select 'usable'").fetchone() == ("usable",)
    assert conn.execute("select pg_sleep(0.1), 'short'").fetchone() == ("", "short")


def test_server_idle_timeout_closes_idle_servers(pg, pooler):
    p = pooler(server_idle_timeout=1)
    pg.wait_no_backends(USER)
    conn = p.connect()
    conns = [p.connect() for _ in range(3)]
    for c in conns:
        c.execute("begin")
        c.execute("select 1")
    assert pg.count_backends(USER) == 3   # busy servers are never idle-closed
    for c in conns:
        c.execute("commit")
    pg.wait_no_backends(USER, timeout=60)
    # Clients stay connected and get a fresh server.
    assert conn.execute("select 1").fetchone() == (1,)


def test_server_lifetime_replaces_old_server_connections(pg, pooler):
    p = pooler(server_lifetime=1, default_pool_size=1)
    conn = p.connect()
    first = conn.execute("select pg_backend_pid()").fetchone()[0]

    def new_server():
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        return pid != first

    wait_for(new_server, timeout=60, interval=0.3, what="a new server connection")
    wait_for(lambda: first not in [r[0] for r in pg.backends(USER)], timeout=60,
             what=f"old server {first} to be closed")


@pytest.mark.pgsift_only("min_pool_size is kept only while the pool has clients")
def test_min_pool_size_opens_servers_without_clients(pg, pooler):
    p = pooler(min_pool_size=2)
    pg.wait_no_backends(USER)
    conn = p.connect()
    conn.execute("select 1")
    conn.close()
    wait_for(lambda: pg.count_backends(USER) >= 2, timeout=20 if IS_PGBOUNCER else 60,
             what="min_pool_size servers to be opened")
    assert pg.count_backends(USER) <= 5
    assert p.connect().execute("select 1").fetchone() == (1,)


def test_late_and_racing_cancels_never_reach_another_client(pooler):
    """Six clients cancel their own short queries at random moments, often
    just as the query ends, when in transaction mode the server may already
    be running another client's statement; four clients that never cancel
    share the same two servers. A cancel must reach only the query of the
    client that sent it: the bystanders never see 57014 (nor any other
    error), every client gets its own results, and a cancelled client (its
    query running or still waiting for a server) keeps its connection."""
    import random
    import time

    p = pooler(default_pool_size=2, pool_mode="transaction")
    stop = threading.Event()
    problems = []
    counts = {"cancelled": 0, "done": 0, "bystander": 0}
    lock = threading.Lock()

    def canceller(k):
        rnd = random.Random(k)
        conn = p.connect()
        try:
            for i in range(int(os.environ.get("CANCEL_ROUNDS", "60"))):
                tag = f"c{k}-{i}"
                r = Runner(conn, f"select pg_sleep({rnd.uniform(0, 0.02):.4f}), '{tag}'")
                r.start()
                time.sleep(rnd.uniform(0, 0.03))
                conn.cancel()
                result, error = r.outcome()
                if error is None:
                    if result != [("", tag)]:
                        problems.append(f"canceller {k} got {result}, wanted {tag}")
                    with lock:
                        counts["done"] += 1
                elif isinstance(error, psycopg.errors.QueryCanceled):
                    with lock:
                        counts["cancelled"] += 1
                else:
                    problems.append(f"canceller {k}: {error!r}")
                    return
                # a cancel that came too late is harmless to this client too
                if conn.execute("select %s::text", (tag,)).fetchone() != (tag,):
                    problems.append(f"canceller {k}: wrong result after {tag}")
        except Exception as e:  # noqa: BLE001 - reported below
            problems.append(f"canceller {k}: {e!r}")

    def bystander(k):
        rnd = random.Random(100 + k)
        conn = p.connect()
        try:
            while not stop.is_set():
                tag = f"b{k}-{rnd.randrange(1 << 30)}"
                row = conn.execute("select pg_sleep(0.002), %s::text", (tag,)).fetchone()
                if row != ("", tag):
                    problems.append(f"bystander {k} got {row}, wanted {tag}")
                    return
                with lock:
                    counts["bystander"] += 1
        except Exception as e:  # noqa: BLE001 - a cancel that reached the wrong client shows here
            problems.append(f"bystander {k}: {e!r}")

    bystanders = [threading.Thread(target=bystander, args=(k,), daemon=True) for k in range(4)]
    cancellers = [threading.Thread(target=canceller, args=(k,), daemon=True) for k in range(6)]
    for t in bystanders + cancellers:
        t.start()
    for t in cancellers:
        t.join(120)
    stop.set()
    for t in bystanders:
        t.join(30)
    print(f"outcomes: {counts}")
    assert not problems, problems[:5]
    # both outcomes of the race happened, and the bystanders did real work
    assert counts["cancelled"] > 10 and counts["done"] > 10 and counts["bystander"] > 100, counts
