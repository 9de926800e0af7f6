"""Asynchronous server messages (notices, notifications) reach the right
client, and statement pooling refuses transaction blocks."""

import select
import threading
import uuid

import psycopg
import pytest

import wire
from harness import IS_PGBOUNCER, PASSWORDS, wait_for

USER = "sift_scram"


# -- notices ------------------------------------------------------------------------

def test_notices_reach_only_the_client_that_raised_them(pooler):
    """Two clients share one server (pool_size 1) and raise NOTICEs from DO
    blocks in a loop; each notice handler sees exactly its own notices."""
    p = pooler(default_pool_size=1)
    rounds = 40
    seen = {0: [], 1: []}
    problems = []

    def client(k):
        try:
            conn = p.connect()
            conn.add_notice_handler(
                lambda d, k=k: seen[k].append((d.severity_nonlocalized, d.sqlstate,
                                               d.message_primary)))
            for i in range(rounds):
                conn.execute(f"do $$ begin raise notice 'from c{k} #{i}'; "
                             f"raise notice 'again c{k} #{i}'; end $$")
                if i % 5 == 0:   # a notice inside a transaction block too
                    with conn.transaction():
                        conn.execute(f"do $$ begin raise notice 'txn c{k} #{i}'; end $$")
        except Exception as e:
            problems.append((k, repr(e)))

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
    for k in (0, 1):
        want = []
        for i in range(rounds):
            want += [f"from c{k} #{i}", f"again c{k} #{i}"]
            if i % 5 == 0:
                want.append(f"txn c{k} #{i}")
        assert [m for (_, _, m) in seen[k]] == want, f"client {k}"
        assert {(sev, code) for (sev, code, _) in seen[k]} == {("NOTICE", "00000")}


def test_warning_from_a_failing_statement_stays_with_its_client(pooler):
    """A WARNING followed by an ERROR in one statement: both reach the
    client that ran it; the other client on the same server sees neither."""
    p = pooler(default_pool_size=1)
    a, b = p.connect(), p.connect()
    got_a, got_b = [], []
    a.add_notice_handler(lambda d: got_a.append(d.message_primary))
    b.add_notice_handler(lambda d: got_b.append(d.message_primary))
    with pytest.raises(psycopg.errors.RaiseException, match="boom for a"):
        a.execute("do $$ begin raise warning 'careful, a'; raise exception 'boom for a'; end $$")
    assert b.execute("select 'b fine'").fetchone() == ("b fine",)
    assert got_a == ["careful, a"]
    assert got_b == []
    assert a.execute("select 'a fine'").fetchone() == ("a fine",)


# -- LISTEN / NOTIFY in session pooling -------------------------------------------------

def wait_notifies(conn, timeout=15):
    """Notifications that arrive on an idle connection, waiting on its socket
    the way LISTEN applications do.  Returns a list of PGnotify."""
    pgconn = conn.pgconn
    got = []

    def poll():
        r, _, _ = select.select([pgconn.socket], [], [], 0.2)
        if r:
            pgconn.consume_input()
        while (n := pgconn.notifies()) is not None:
            got.append(n)
        return got

    wait_for(poll, timeout=timeout, interval=0, what="a notification on the idle listener")
    return got


def test_listen_notify_in_session_mode(pooler):
    p = pooler(pool_mode="session")
    listener = p.connect()
    other = p.connect()          # a client that must not get the notification
    sender = p.connect()
    channel = f"sift_chan_{uuid.uuid4().hex[:8]}"
    listener.execute(f"listen {channel}")
    other.execute(f"listen {channel}_other")
    payload = f"payload ü {uuid.uuid4().hex}"
    sender_pid = sender.execute("select pg_backend_pid()").fetchone()[0]
    sender.execute("select pg_notify(%s, %s)", (channel, payload))
    notes = wait_notifies(listener)
    assert [(n.relname.decode(), n.extra.decode(), n.be_pid) for n in notes] == \
        [(channel, payload, sender_pid)]
    # A second one, sent from a transaction: delivered at COMMIT only.
    with sender.transaction():
        sender.execute(f"notify {channel}, 'second'")
    notes = wait_notifies(listener)
    assert [(n.relname.decode(), n.extra.decode()) for n in notes] == [(channel, "second")]
    # The other client got nothing and still works.
    assert other.execute("select 'other ok'").fetchone() == ("other ok",)
    other.pgconn.consume_input()
    assert other.pgconn.notifies() is None
    assert listener.execute("select 'listener ok'").fetchone() == ("listener ok",)


# -- statement pooling ---------------------------------------------------------------

def test_statement_mode_runs_single_statements(pg, pooler):
    p = pooler(pool_mode="statement", default_pool_size=2)
    conn = p.connect()
    assert conn.execute("select 1").fetchone() == (1,)
    assert conn.execute("select %s::text || 'x'", ("param",)).fetchone() == ("paramx",)
    # Several statements in one Query message form one implicit transaction
    # that ends with the message: allowed.
    cur = conn.execute("select 'first'; select 'second'")
    assert cur.fetchall() == [("first",)]
    assert cur.nextset()
    assert cur.fetchall() == [("second",)]
    for i in range(20):
        assert conn.execute("select %s::int", (i,)).fetchone() == (i,)


def test_statement_mode_refuses_a_transaction_block(pooler):
    p = pooler(pool_mode="statement", default_pool_size=2)
    bystander = p.connect()
    assert bystander.execute("select 1").fetchone() == (1,)
    with wire.RawConn(p.host, p.port) as raw:
        raw.startup(USER, "siftdb", PASSWORDS[USER])
        rows, err = raw.query("select 'single'")
        assert (rows, err) == ([["single"]], None)
        raw.send_msg(b"Q", b"begin\0")
        msgs, closed = raw.read_until_closed(timeout=30)
    assert closed, f"the connection stays open after BEGIN: {msgs}"
    errors = wire.errors_in(msgs)
    assert len(errors) == 1, msgs
    code = errors[0].get("C", "")
    assert len(code) == 5, errors[0]
    assert "statement pooling" in errors[0].get("M", ""), errors[0]
    if not IS_PGBOUNCER:
        assert code == "25001", errors[0]
    # A driver that opens transactions implicitly gets an error too.
    txn = psycopg.connect(p.dsn(), autocommit=False)
    try:
        with pytest.raises(psycopg.Error):
            txn.execute("select 1")
            txn.execute("select 2")
    finally:
        txn.close()
    # Others never noticed.
    for i in range(5):
        assert bystander.execute("select %s::int", (i,)).fetchone() == (i,)
    assert p.connect().execute("select 'new client'").fetchone() == ("new client",)
