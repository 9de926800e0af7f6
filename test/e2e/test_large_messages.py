"""Client messages larger than the buffer (issue 17, item 5).

A simple query or a Parse of the unnamed statement streams through
pgsift's buffer however large it is: pgsift's memory does not grow with it,
and its checks (SQL PREPARE/EXECUTE and pgsift's internal statement names,
doc/prepared.md) run on the text as it passes. A message pgsift must keep
whole (a named Parse, whose text is shared; a Bind whose names do not fit
the buffer) is bounded at 4 MiB, and a longer one is refused with 54000
naming the limit. Three clients sending 700 MB queries at once are in the
fault suite (test/faults/test_large_queries.py)."""

import struct
import threading
import time

import psycopg
import pytest

import wire
from harness import PASSWORDS

USER = "sift_scram"
LIMIT = 4 << 20

pytestmark = pytest.mark.pgsift_only("pgsift's checks and limits on large messages")


def m_parse(name, sql):
    return wire.message(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))


def m_bind(portal, stmt):
    return wire.message(b"B", portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!HHH", 0, 0, 0))


def m_execute():
    return wire.message(b"E", b"\0" + struct.pack("!I", 0))


SYNC = wire.message(b"S")


def login(p):
    c = wire.RawConn(p.host, p.port, timeout=60)
    c.startup(USER, "siftdb", PASSWORDS[USER])
    return c


def replies(c, timeout=60):
    """Messages up to ReadyForQuery, notices and parameter changes left out."""
    out = []
    while True:
        t, payload = c.read_msg(timeout=timeout)
        if t in (b"N", b"S"):
            continue
        out.append((t, payload))
        if t == b"Z":
            return out


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def pad(n):
    return "/*" + "x" * n + "*/"


def send_refused(c, data):
    """Sends data that pgsift refuses before it has all of it: pgsift closes
    while we write, which may reset the connection under our feet."""
    def writer():
        try:
            c.send(data)
        except OSError:
            pass
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    return t


def test_a_64_mb_query_streams(pooler):
    """RSS does not follow the query's size, and the answer is right."""
    p = pooler(default_pool_size=2)
    with login(p) as warm:
        warm.query("select 1")
    before = rss_kb(p.pid)
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(p.pid))
            time.sleep(0.02)
    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        with login(p) as c:
            c.send_msg(b"Q", f"select 'big' as x {pad(64 << 20)}".encode() + b"\0")
            msgs = replies(c, timeout=120)
    finally:
        done.set()
        w.join()
    assert (b"D", b"\x00\x01\x00\x00\x00\x03big") in msgs, msgs[:4]
    grown_mb = (peak[0] - before) / 1024
    assert grown_mb < 16, f"pgsift grew by {grown_mb:.0f} MB relaying a 64 MB query"


@pytest.mark.parametrize("sql,state", [
    (f"select 1 {pad(40000)}; EXECUTE pgsift_1", "26000"),
    (f"select 1 {pad(40000)} ; PREPARE q AS select 2", "0A000"),
    (f"EXECUTE q {pad(40000)}", "0A000"),
])
def test_refused_text_larger_than_the_buffer_gets_an_error_and_the_session_stays(pg, pooler, sql, state):
    """The check runs on the text as it streams; the refusal is an ERROR in
    place of the query (the server fails it: nothing of it runs), the
    transaction is aborted as with any error, the connection stays."""
    p = pooler(default_pool_size=1)
    with login(p) as c:
        c.query("begin")
        c.send_msg(b"Q", sql.encode() + b"\0")
        msgs = replies(c)
        errors = wire.errors_in(msgs)
        assert [e.get("C") for e in errors] == [state], msgs
        assert "pgsift" in errors[0].get("M") or "PREPARE" in errors[0].get("M"), errors
        assert msgs[-1] == (b"Z", b"E"), msgs        # the transaction is aborted
        c.send_msg(b"Q", b"rollback\0")
        assert replies(c)[-1] == (b"Z", b"I")
        rows, _ = c.query("select 'still here'")
        assert rows == [["still here"]]
    assert not pg.query("select 1 from pg_prepared_statements")


def test_refused_unnamed_parse_larger_than_the_buffer_closes_only_that_client(pooler):
    p = pooler(default_pool_size=1)
    with login(p) as other, login(p) as c:
        c.send(m_parse("", f"EXECUTE pgsift_1 {pad(40000)}") + m_bind("", "") + m_execute() + SYNC)
        msgs, closed = c.read_until_closed(timeout=30)
        assert closed
        errors = wire.errors_in(msgs)
        assert errors and errors[0].get("C") == "26000" and errors[0].get("S") == "FATAL", msgs
        rows, _ = other.query("select 'other'")
        assert rows == [["other"]]


def test_large_unnamed_parse_streams_and_runs(pooler):
    p = pooler(default_pool_size=1)
    with login(p) as c:
        c.send(m_parse("", f"select 'unnamed' {pad(200000)}") + m_bind("", "") + m_execute() + SYNC)
        msgs = replies(c)
    assert [t for t, _ in msgs] == [b"1", b"2", b"D", b"C", b"Z"], msgs


def test_named_parse_above_the_limit_is_refused_naming_it(pooler):
    p = pooler(default_pool_size=1)
    with login(p) as other, login(p) as c:
        send_refused(c, m_parse("big", f"select 1 {pad(LIMIT)}") + SYNC)
        msgs, closed = c.read_until_closed(timeout=30)
        assert closed
        errors = wire.errors_in(msgs)
        assert errors and errors[0].get("C") == "54000", msgs
        assert str(LIMIT) in errors[0].get("M") and "Parse" in errors[0].get("M"), errors
        rows, _ = other.query("select 'other'")
        assert rows == [["other"]]


def test_named_parse_below_the_limit_works(pooler):
    p = pooler(default_pool_size=1)
    with login(p) as c:
        c.send(m_parse("big", f"select 'named' {pad(LIMIT - 1000)}") + m_bind("", "big") + m_execute() + SYNC)
        msgs = replies(c)
    assert [t for t, _ in msgs] == [b"1", b"2", b"D", b"C", b"Z"], msgs


def test_bind_with_names_above_the_limit_is_refused(pooler):
    p = pooler(default_pool_size=1)
    with login(p) as c:
        send_refused(c, m_bind("p" * (LIMIT + 10), "s") + SYNC)
        msgs, closed = c.read_until_closed(timeout=30)
    assert closed
    errors = wire.errors_in(msgs)
    assert errors and errors[0].get("C") == "54000" and "Bind" in errors[0].get("M"), msgs


def test_bind_of_an_internal_name_larger_than_the_buffer(pooler):
    """Found by the client fuzzer: a Bind of a pgsift_* name is answered by
    a stand-in that fails (26000); when the Bind was larger than the buffer,
    pgsift skipped past the end of its buffer (a heap overflow, then a
    crash). Its rest must be dropped, and the session go on."""
    p = pooler(default_pool_size=1)
    value = b"7" * 40000
    bind = wire.message(b"B", b"\0pgsift_1\0" + struct.pack("!HH", 0, 1) + struct.pack("!I", len(value))
                        + value + struct.pack("!H", 0))
    with login(p) as c:
        c.send(bind + m_execute() + SYNC)
        msgs = replies(c)
        errors = wire.errors_in(msgs)
        assert [e.get("C") for e in errors] == ["26000"], msgs
        assert msgs[-1][0] == b"Z"
        rows, _ = c.query("select 'after'")
        assert rows == [["after"]]
