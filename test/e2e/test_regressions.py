"""Regression tests for the defects a code review found (fixed in 452ee60).

Each test reproduces one defect against the real PostgreSQL of the suite, or
against a fake server (fakeserver.py) where the defect needs a server that
misbehaves: it failed on the old behaviour and passes now."""

import os
import signal
import socket
import struct
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import pq

import wire
from fakeserver import FakeServer, notification, one_row, ready
from harness import IS_PGBOUNCER, PASSWORDS, wait_for

USER = "sift_scram"
TRUST = "sift_trust"   # PostgreSQL trusts it; the pooler checks 'trustpw' (md5)


class Runner(threading.Thread):
    """Runs fn() in a thread; keeps its result or exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.fn()
        except Exception as e:   # noqa: BLE001 - reported by the test
            self.error = e

    def outcome(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), f"still running after {timeout}s"
        return self.result, self.error


def run(fn):
    r = Runner(fn)
    r.start()
    return r


def raw_login(p, user=TRUST, dbname="siftdb", extra=None, timeout=15):
    raw = wire.RawConn(p.host, p.port, timeout=timeout)
    try:
        raw.startup(user, dbname, PASSWORDS[user], extra=extra)
    except BaseException:
        raw.close()
        raise
    return raw


def read_until_ready(raw, timeout=15):
    """Messages (type, payload) up to and including the next ReadyForQuery."""
    msgs = []
    deadline = time.monotonic() + timeout
    while True:
        t, payload = raw.read_msg(timeout=max(0.1, deadline - time.monotonic()))
        msgs.append((t, payload))
        if t == b"Z":
            return msgs


def assert_pooler_serves(p):
    """Another pool and the admin console still answer (pgsift does not spin)."""
    with psycopg.connect(p.dsn(USER), autocommit=True) as c:
        assert c.execute("select 'other pool'").fetchone() == ("other pool",)
    cols, rows = p.admin("SHOW VERSION")
    assert rows and rows[0][0], (cols, rows)


def class_08(err):
    return (err or {}).get("C", "").startswith("08")


@pytest.fixture
def fake():
    """Factory of fake PostgreSQL servers, closed at teardown."""
    servers = []

    def factory(**kw):
        fs = FakeServer(**kw)
        servers.append(fs)
        return fs

    yield factory
    for fs in servers:
        fs.close()
    for fs in servers:
        assert fs.errors == [], fs.errors


def pg_exec(pg, sql, params=None, dbname="postgres"):
    """Run one statement as superuser, directly on PostgreSQL; no result."""
    with pg.connect(dbname=dbname) as c:
        c.execute(sql, params)


@pytest.fixture
def table(pg):
    """A fresh table (x int) in siftdb that every role may use; dropped after."""
    name = f"rx_{uuid.uuid4().hex[:10]}"
    pg_exec(pg, f"create table {name} (x int)", dbname="siftdb")
    pg_exec(pg, f"grant all on {name} to public", dbname="siftdb")
    yield name
    pg_exec(pg, f"drop table if exists {name}", dbname="siftdb")


def row_count(pg, table):
    return pg.query(f"select count(*) from {table}", dbname="siftdb")[0][0]


# -- 1, 11: server messages with a bad length ---------------------------------------

BAD_LENGTH = b"N" + b"\xff\xff\xff\xff" + b"SERROR\0Mxxxxxxxx\0\0"


@pytest.mark.pgsift_only("the server is closed, but the waiting client is not told")
@pytest.mark.timeout(90)
def test_server_length_ffffffff_during_login(pooler, fake):
    """A server whose login reply carries a message length of 0xFFFFFFFF: the
    client gets a class-08 error instead of pgsift spinning forever."""
    fs = fake(login_reply=lambda conn: wire.message(b"R", struct.pack("!I", 0)) + BAD_LENGTH)
    p = pooler(databases={"fake": f"host=127.0.0.1 port={fs.port} dbname=fake"})
    with wire.RawConn(p.host, p.port, timeout=15) as raw:
        with pytest.raises(wire.ServerError) as ei:
            raw.startup(TRUST, "fake", PASSWORDS[TRUST])
    assert class_08(ei.value.fields), ei.value.fields
    assert_pooler_serves(p)


@pytest.mark.timeout(90)
def test_server_length_ffffffff_in_reply_to_a_query(pooler, fake):
    fs = fake(on_query=lambda conn, sql: BAD_LENGTH if "bad length" in sql else None)
    p = pooler(databases={"fake": f"host=127.0.0.1 port={fs.port} dbname=fake"})
    with raw_login(p, dbname="fake") as raw:
        assert raw.query("select 1") == ([["1"]], None)
        raw.send_msg(b"Q", b"select 'bad length'\0")
        msgs, closed = raw.read_until_closed(timeout=15)
    assert closed, f"client not disconnected; got {msgs}"
    errors = wire.errors_in(msgs)
    assert errors and class_08(errors[0]), msgs
    assert_pooler_serves(p)
    # the pool recovers with a new server connection
    with raw_login(p, dbname="fake") as raw:
        assert raw.query("select 1") == ([["1"]], None)


def test_server_message_above_max_packet_size(pooler):
    p = pooler(max_packet_size=65536)
    good = p.connect()
    assert good.execute("select 1").fetchone() == (1,)
    with raw_login(p) as victim:
        victim.send_msg(b"Q", b"select repeat('x', 200000)\0")
        msgs, closed = victim.read_until_closed(timeout=20)
    assert closed, f"client not disconnected; got {[t for t, _ in msgs]}"
    assert b"D" not in [t for t, _ in msgs]
    errors = wire.errors_in(msgs)
    assert errors and class_08(errors[0]), msgs
    assert good.execute("select length(repeat('y', 1000))").fetchone() == (1000,)
    assert p.connect().execute("select 'fresh'").fetchone() == ("fresh",)


# -- 2: a cancel that timed out after it was sent -------------------------------------

def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skip_pgbouncer("its cancel waits for the stopped postmaster; no time-out to test")
@pytest.mark.timeout(120)
def test_timed_out_cancel_never_hits_the_next_client(pg, pooler):
    """The postmaster is stopped while A cancels, so the CancelRequest is
    sent but not acted on before pgsift gives up.  The server must not serve
    B: when the postmaster resumes, the cancel would stop B's query."""
    p = pooler(default_pool_size=1, server_connect_timeout=4, query_wait_timeout=60)
    a = p.connect(application_name="rx_a")
    b = p.connect(application_name="rx_b")
    a.execute("select 1")            # the pool's one server exists now
    tag = uuid.uuid4().hex[:8]
    ra = run(lambda: a.execute(f"select pg_sleep(2) /* cancelled {tag} */").fetchall())
    wait_for(lambda: pg.active_pid_running(f"cancelled {tag}"), what="A's query on the server")
    postmaster = pg.proc.pid

    def resume():
        try:
            os.kill(postmaster, signal.SIGCONT)
        except ProcessLookupError:
            pass

    # whatever blocks below (a C call ignores the test's time limit), the
    # postmaster is resumed
    safety = threading.Timer(60, resume)
    safety.daemon = True
    safety.start()
    rb = None
    os.kill(postmaster, signal.SIGSTOP)
    try:
        wait_for(lambda: proc_state(postmaster) == "T", timeout=10, interval=0.02,
                 what="the postmaster to stop")
        run(a.cancel)                # PQcancel blocks until pgsift is done with it
        wait_for(lambda: "cancel request timed out" in p.log(), timeout=30,
                 what="pgsift to give up on the cancel")
        ra.outcome(30)               # A's query ran to its end

        rb = run(lambda: b.execute("select pg_sleep(4), 'B done'").fetchall())

        def b_linked_or_waiting():
            for c in p.admin_dicts("SHOW CLIENTS"):
                if c.get("application_name") == "rx_b":
                    return c.get("link") or c.get("state") == "waiting"
            return False

        wait_for(b_linked_or_waiting, timeout=15, interval=0.05, what="B to ask for a server")
        time.sleep(0.5)              # (old behaviour) B's query reaches the backend
    finally:
        resume()
        safety.cancel()
    result, error = rb.outcome(60)
    assert error is None, f"B got {error!r} (sqlstate {getattr(error, 'sqlstate', None)})"
    assert result == [("", "B done")]
    assert a.execute("select 'A fine'").fetchone() == ("A fine",)


# -- 3: session mode reuses servers after a clean Terminate -----------------------------

def test_session_mode_reuses_the_server_after_terminate(pooler):
    p = pooler(pool_mode="session", default_pool_size=2)
    pids = []
    for _ in range(3):
        with psycopg.connect(p.dsn(USER), autocommit=True) as c:   # close sends Terminate
            pids.append(c.execute("select pg_backend_pid()").fetchone()[0])

        def back_in_pool():
            row = p.pool_row("siftdb", USER)
            return row and int(row["sv_idle"]) == 1 and int(row["sv_active"]) == 0

        wait_for(back_in_pool, timeout=15, interval=0.05,
                 what="the server to be reset and back in the pool")
    assert len(set(pids)) == 1, f"three successive clients got backends {pids}"


# -- 4: transaction mode: extended COPY FROM STDIN, lone Flush -------------------------

def test_extended_protocol_copy_from_stdin_releases_the_server(pg, pooler, table):
    """PQexecParams-style COPY: Parse/Bind/Describe/Execute/Sync, then the
    data, CopyDone and another Sync; PostgreSQL ignores the Sync sent during
    copy-in, so only one ReadyForQuery comes."""
    p = pooler(default_pool_size=1, query_wait_timeout=5)
    a = pq.PGconn.connect(p.dsn(TRUST).encode())
    try:
        assert a.status == pq.ConnStatus.OK, a.error_message
        a.send_query_params(f"copy {table} from stdin".encode(), None)
        r = a.get_result()
        assert r.status == pq.ExecStatus.COPY_IN, (r.status, a.error_message)
        assert a.put_copy_data(b"1\n2\n3\n") == 1
        assert a.put_copy_end() == 1
        statuses = []
        while (r := a.get_result()) is not None:
            statuses.append((r.status, r.command_status))
        assert statuses == [(pq.ExecStatus.COMMAND_OK, b"COPY 3")], statuses
        assert a.transaction_status == pq.TransactionStatus.IDLE

        b = p.connect(user=TRUST)
        assert b.execute(f"select count(*) from {table}").fetchone() == (3,)
        # A is not stuck either, and releases its server again
        a.send_query(b"select 1")
        while (r := a.get_result()) is not None:
            assert r.status == pq.ExecStatus.TUPLES_OK, a.error_message
        assert b.execute("select 'b again'").fetchone() == ("b again",)
    finally:
        a.finish()
    assert row_count(pg, table) == 3


def parse(sql):
    return wire.message(b"P", b"\0" + sql.encode() + b"\0" + b"\0\0")


BIND = wire.message(b"B", b"\0\0" + b"\0\0" * 3)
EXECUTE = wire.message(b"E", b"\0" + b"\0\0\0\0")
SYNC = wire.message(b"S")
FLUSH = wire.message(b"H")


def test_lone_flush_after_sync_does_not_pin_the_server(pooler):
    p = pooler(default_pool_size=1, query_wait_timeout=5)
    with raw_login(p) as raw:
        for i, batch in enumerate((parse("select 11") + BIND + EXECUTE + SYNC + FLUSH,
                                   wire.message(b"Q", b"select 12\0") + FLUSH)):
            raw.send(batch)
            msgs = read_until_ready(raw)
            assert [t for t, _ in msgs if t == b"E"] == [], msgs
            # a second client of the one-server pool is served
            other = p.connect(user=TRUST)
            assert other.execute("select %s::int", (i,)).fetchone() == (i,)
            other.close()
        assert raw.query("select 13") == ([["13"]], None)


# -- 5: a startup parameter value the server refuses ---------------------------------

@pytest.mark.pgsift_only("a refused startup parameter is only logged and the statement runs")
def test_invalid_timezone_startup_parameter_ends_the_client_before_its_statement(
        pg, pooler, table):
    p = pooler(default_pool_size=1)
    tokyo = p.connect(user=TRUST)
    tokyo.execute("set timezone = 'Asia/Tokyo'")   # stays on the one server
    assert tokyo.execute("show timezone").fetchone() == ("Asia/Tokyo",)
    tokyo.close()
    with raw_login(p, extra={"TimeZone": "Mars/Olympus_Mons"}) as raw:
        raw.send_msg(b"Q", f"insert into {table} values (1)".encode() + b"\0")
        msgs, closed = raw.read_until_closed(timeout=20)
    assert closed, f"client not disconnected; got {msgs}"
    assert not [t for t, _ in msgs if t == b"C"], f"the statement ran: {msgs}"
    errors = wire.errors_in(msgs)
    assert errors and errors[0].get("C") == "22023", msgs
    assert row_count(pg, table) == 0
    other = p.connect(user=TRUST)
    assert other.execute("select 'still fine'").fetchone() == ("still fine",)


# -- 6: a hung server check query ------------------------------------------------------

def server_pids(p, user=USER):
    return {int(r["remote_pid"]) for r in p.admin_dicts("SHOW SERVERS")
            if r.get("user") == user and r.get("remote_pid")}


@pytest.mark.pgsift_only("check queries are not bounded by server_connect_timeout")
@pytest.mark.timeout(90)
def test_hung_check_query_is_bounded_by_server_connect_timeout(pg, pooler):
    p = pooler(default_pool_size=3, server_check_delay=0, server_connect_timeout=2,
               query_wait_timeout=10)
    with psycopg.connect(p.dsn(USER), autocommit=True) as a:
        stuck = a.execute("select pg_backend_pid()").fetchone()[0]
    assert server_pids(p) == {stuck}
    os.kill(stuck, signal.SIGSTOP)
    try:
        b = p.connect()
        result, error = run(lambda: b.execute("select pg_backend_pid()").fetchone()).outcome(30)
        assert error is None, f"the waiting client got {error!r}"
        assert result[0] != stuck
        wait_for(lambda: stuck not in server_pids(p), timeout=15, interval=0.1,
                 what=f"the stuck server (backend {stuck}) to be closed")
    finally:
        os.kill(stuck, signal.SIGCONT)
    assert b.execute("select 'b fine'").fetchone() == ("b fine",)


# -- 7: client_login_timeout counts from the connect ---------------------------------

def test_client_login_timeout_counts_from_the_connect(pooler):
    p = pooler(client_login_timeout=2)
    pkt = wire.startup_packet({"user": USER, "database": "siftdb",
                               "application_name": "trickle" * 4})
    s = socket.create_connection((p.host, p.port), timeout=10)
    t0 = time.monotonic()
    sent = 0
    closed_after = None
    try:
        while time.monotonic() - t0 < 15 and closed_after is None:
            if sent < len(pkt) - 1:            # never the whole packet
                try:
                    s.sendall(pkt[sent:sent + 1])
                    sent += 1
                except OSError:
                    closed_after = time.monotonic() - t0
                    break
            s.settimeout(0.8)
            try:
                while s.recv(4096):            # an error message, then EOF
                    pass
                closed_after = time.monotonic() - t0
            except socket.timeout:
                pass
            except OSError:
                closed_after = time.monotonic() - t0
    finally:
        s.close()
    assert closed_after is not None, f"still connected after 15 s ({sent} bytes sent)"
    assert closed_after < 10, f"disconnected only after {closed_after:.1f} s"
    assert sent >= 2


# -- 8: the * entry creates databases only after authentication ------------------------

@pytest.mark.pgsift_only("autodb entries are created before authentication")
@pytest.mark.timeout(120)
def test_autodb_not_created_by_failed_logins(pg, pooler):
    # 300 failed logins from one address: pgsift's auth_fail_limit would refuse most
    no_limit = {} if IS_PGBOUNCER else {"auth_fail_limit": 0}
    p = pooler(databases={"*": f"host=127.0.0.1 port={pg.port}"}, **no_limit)
    before = sorted(r["name"] for r in p.admin_dicts("SHOW DATABASES"))
    tag = uuid.uuid4().hex[:6]
    for i in range(300):
        with wire.RawConn(p.host, p.port, timeout=15) as raw:
            with pytest.raises(wire.ServerError) as ei:
                raw.startup(TRUST, f"rx_{tag}_{i:04d}", "wrong-password")
        assert ei.value.sqlstate == "28P01", ei.value.fields
    after = sorted(r["name"] for r in p.admin_dicts("SHOW DATABASES"))
    assert after == before
    name = "postgres"              # not in [databases]: made from the * entry
    assert name not in before
    with raw_login(p, dbname=name) as raw:
        assert raw.query("select current_database()") == ([[name]], None)
    names = [r["name"] for r in p.admin_dicts("SHOW DATABASES")]
    assert name in names
    assert sorted(n for n in names if n != name) == before


def test_star_entry_dbname_is_used(pg, pooler):
    """A dbname= in the * entry names the server database for every name."""
    p = pooler(databases={"*": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})
    with raw_login(p, dbname="any_name_" + uuid.uuid4().hex[:6]) as raw:
        assert raw.query("select current_database()") == ([["siftdb"]], None)


# -- 9: client_idle_timeout counts from the moment the client became idle ------------

@pytest.mark.pgsift_only("client_idle_timeout counts from the client's last request")
def test_client_idle_timeout_counts_from_becoming_idle(pooler):
    p = pooler(client_idle_timeout=2)
    c = p.connect()
    assert c.execute("select pg_sleep(3), 'slept'").fetchone() == ("", "slept")
    time.sleep(0.5)
    assert c.execute("select 'after a short idle'").fetchone() == ("after a short idle",)


# -- 10: a console command pipelined with the login ---------------------------------

def test_admin_command_pipelined_with_the_startup_packet(pooler):
    p = pooler(auth_type="trust")
    with wire.RawConn(p.host, p.port, timeout=15) as raw:
        raw.send(wire.startup_packet({"user": "sift_admin", "database": p.admin_db})
                 + wire.message(b"Q", b"show version\0"))
        msgs = read_until_ready(raw)                      # the login
        assert (b"R", struct.pack("!I", 0)) in msgs, msgs
        msgs = read_until_ready(raw)                      # the command
    types = [t for t, _ in msgs]
    assert b"D" in types and b"E" not in types, msgs


# -- 12: a failed server login reaches waiting and new clients at once ----------------

RX_ROLE, RX_PASSWORD = "sift_rx", "rxpw"


@pytest.mark.pgsift_only("waiting clients wait for query_wait_timeout")
@pytest.mark.timeout(120)
def test_failed_server_login_reaches_waiting_and_new_clients_at_once(pg, pooler):
    if not pg.query("select 1 from pg_roles where rolname = %s", (RX_ROLE,)):
        pg_exec(pg, f"create role {RX_ROLE} login password '{RX_PASSWORD}'")
    p = pooler(query_wait_timeout=30, server_login_retry=30,
               databases={"rxdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb "
                                  f"user={RX_ROLE} password={RX_PASSWORD}"})
    try:
        with raw_login(p, dbname="rxdb") as first:
            assert first.query("select current_user") == ([[RX_ROLE]], None)
        waiter = raw_login(p, dbname="rxdb")      # logged in, holds no server
        try:
            pg_exec(pg, f"alter role {RX_ROLE} password 'changed-{uuid.uuid4().hex[:6]}'")
            pg.query("select pg_terminate_backend(pid) from pg_stat_activity "
                     "where usename = %s and pid <> pg_backend_pid()", (RX_ROLE,))
            wait_for(lambda: not server_pids(p, RX_ROLE), timeout=15,
                     what="the pool to have no server")
            t0 = time.monotonic()
            waiter.send_msg(b"Q", b"select 'waiting'\0")
            msgs, closed = waiter.read_until_closed(timeout=20)
            elapsed = time.monotonic() - t0
        finally:
            waiter.close()
        assert closed, f"waiting client not told within 20 s; got {msgs}"
        assert elapsed < 10, f"waiting client told after {elapsed:.1f} s"
        errors = wire.errors_in(msgs)
        assert errors and errors[0].get("C") == "28P01", msgs
        # a new client inside server_login_retry gets the same error at login
        t0 = time.monotonic()
        with wire.RawConn(p.host, p.port, timeout=15) as raw:
            with pytest.raises(wire.ServerError) as ei:
                raw.startup(TRUST, "rxdb", PASSWORDS[TRUST])
                raw.query("select 'should not run'")
        assert time.monotonic() - t0 < 10
        assert ei.value.sqlstate == "28P01", ei.value.fields
    finally:
        pg_exec(pg, f"alter role {RX_ROLE} password '{RX_PASSWORD}'")
    assert_pooler_serves(p)


# -- 13: bytes a server sends after its ReadyForQuery -------------------------------

def test_notification_after_ready_is_not_delivered_to_the_next_client(pooler, fake):
    """The server's reply to the first client ends with ReadyForQuery and a
    NotificationResponse in the same write, while a second client waits for
    the one server of the pool: the notification belongs to no one and must
    not reach the second client."""
    go = threading.Event()

    def on_query(conn, sql):
        if "first" in sql:
            go.wait(30)
            return one_row() + ready() + notification(4242, "rx_channel", "late")
        return None

    fs = fake(on_query=on_query)
    p = pooler(default_pool_size=1,
               databases={"fake": f"host=127.0.0.1 port={fs.port} dbname=fake"})
    with raw_login(p, dbname="fake") as first, raw_login(p, dbname="fake") as second:
        first.send_msg(b"Q", b"select 'first'\0")
        wait_for(lambda: fs.conns and fs.conns[0].queries, timeout=15, interval=0.05,
                 what="the first query at the server")
        second.send_msg(b"Q", b"select 'second'\0")
        try:
            wait_for(lambda: int(p.pool_row("fake", TRUST)["cl_waiting"]) == 1, timeout=15,
                     interval=0.05, what="the second client to wait for the server")
        finally:
            go.set()
        read_until_ready(first)
        msgs = read_until_ready(second)
        more, _ = second.read_until_closed(timeout=1)     # anything trailing
    assert len(fs.conns) == 1, "both clients should share the one server"
    types = [t for t, _ in msgs + more]
    assert b"A" not in types, f"the next client got the notification: {msgs + more}"
    assert types.count(b"D") == 1, msgs
