"""COPY through the pooler, and session parameters under transaction pooling."""

import uuid

import psycopg
import pytest


def test_copy_in_and_out_round_trip_with_a_row_over_64k(pooler):
    p = pooler()
    conn = p.connect()
    other = p.connect()
    table = f"copy_rt_{uuid.uuid4().hex[:8]}"
    conn.execute(f"create table {table} (id int primary key, note text, data bytea)")
    try:
        rows = [(i, f"row {i}\twith tab, \\backslash and \"quote\"", bytes([i % 256]) * (i % 50))
                for i in range(1, 4001)]
        big = "x" * 70_000 + "-end"
        rows.append((5000, big, b"\x00\xff" * 40_000))
        with conn.cursor() as cur:
            with cur.copy(f"COPY {table} (id, note, data) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            assert cur.rowcount == len(rows)
        # Another client, on the same pool, is not disturbed by the COPY.
        assert other.execute("select 41 + 1").fetchone() == (42,)
        with conn.cursor() as cur:
            out = []
            with cur.copy(f"COPY (select id, note, data from {table} order by id) TO STDOUT") as copy:
                copy.set_types(["int4", "text", "bytea"])
                for r in copy.rows():
                    out.append((r[0], r[1], bytes(r[2])))
        assert len(out) == len(rows)
        assert out == rows
        # Binary format too.
        with conn.cursor() as cur:
            with cur.copy(f"COPY (select id, note from {table} where id = 5000) "
                          "TO STDOUT (FORMAT binary)") as copy:
                copy.set_types(["int4", "text"])
                assert list(copy.rows()) == [(5000, big)]
        assert conn.execute(f"select count(*), max(length(note)) from {table}").fetchone() \
            == (len(rows), len(big))
    finally:
        conn.execute(f"drop table {table}")


def test_copy_error_mid_stream_leaves_connection_usable(pooler):
    p = pooler()
    conn = p.connect()
    table = f"copy_err_{uuid.uuid4().hex[:8]}"
    conn.execute(f"create table {table} (id int primary key)")
    try:
        with pytest.raises(psycopg.errors.UniqueViolation):
            with conn.cursor() as cur:
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for i in list(range(1000)) + [5]:
                        copy.write_row((i,))
        assert conn.execute(f"select count(*) from {table}").fetchone() == (0,)
        assert conn.execute("select 'still fine'").fetchone() == ("still fine",)
    finally:
        conn.execute(f"drop table {table}")


def probe(conn):
    return conn.execute(
        "select pg_backend_pid(), current_setting('TimeZone'), "
        "current_setting('application_name')").fetchone()


def test_set_timezone_follows_its_client_across_server_connections(pooler):
    """A's SET outside a transaction is A's alone, and stays A's when A lands
    on another server connection (pool of 2, LIFO reuse of idle servers)."""
    p = pooler(default_pool_size=2)
    a = p.connect(application_name="client_a")
    b = p.connect(application_name="client_b")
    e = p.connect(application_name="client_e")
    a.execute("SET TimeZone = 'Asia/Tokyo'")
    e.execute("SET TimeZone = 'America/New_York'")
    expected = {"a": ("Asia/Tokyo", "client_a"), "b": ("UTC", "client_b"),
                "e": ("America/New_York", "client_e")}
    conns = {"a": a, "b": b, "e": e}
    seen_pids = {k: set() for k in conns}
    for _ in range(10):
        for name in ("a", "b", "e", "b", "a"):
            pid, tz, app = probe(conns[name])
            seen_pids[name].add(pid)
            assert (tz, app) == expected[name], f"client {name} on server {pid}"
            assert conns[name].execute("show timezone").fetchone()[0] == expected[name][0]
    pid_a1 = probe(a)[0]

    # Occupy both servers with two open transactions, then free the one that
    # is not A's last server: A's next transaction must use the other one.
    c = p.connect()
    d = p.connect()
    c.execute("begin")
    pc = c.execute("select pg_backend_pid()").fetchone()[0]
    d.execute("begin")
    pd = d.execute("select pg_backend_pid()").fetchone()[0]
    assert pc != pd
    assert pid_a1 in (pc, pd), "pool of 2 should be the two servers seen"
    holder, freed = (c, d) if pc == pid_a1 else (d, c)
    freed.execute("commit")
    pid_a2, tz, app = probe(a)
    assert pid_a2 != pid_a1
    assert (tz, app) == expected["a"]
    # B now gets the server that A just used: A's TimeZone must not follow.
    pid_b, tz, app = probe(b)
    assert pid_b == pid_a2
    assert (tz, app) == expected["b"]
    pid_e, tz, app = probe(e)
    assert (tz, app) == expected["e"]
    holder.execute("commit")
    for _ in range(5):
        for name in ("e", "a", "b"):
            pid, tz, app = probe(conns[name])
            assert (tz, app) == expected[name]
    # A transaction-local SET does not stick to anyone.
    b.execute("begin")
    b.execute("SET LOCAL TimeZone = 'Europe/Paris'")
    assert probe(b)[1] == "Europe/Paris"
    b.execute("commit")
    assert probe(b)[1] == "UTC"
    assert probe(a)[1] == "Asia/Tokyo"
