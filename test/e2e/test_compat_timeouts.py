"""PgBouncer's per-user and per-database timeouts ([users] and [databases]
entries over the global settings), transaction_timeout, and query_timeout's
two behaviours (cancel, pgsift's default; close, PgBouncer's)."""

import time

import psycopg
import pytest

from harness import wait_for

pytestmark = pytest.mark.pgsift_only("PgBouncer 1.18 has no per-user timeouts")

USER = "sift_scram"
OTHER = "sift_md5"


def db_line(pg, extra=""):
    return {"siftdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb {extra}".strip()}


def hold_the_only_server(p, user=USER):
    """A client in an open transaction on a pool of size 1."""
    holder = p.connect(user=user)
    holder.execute("begin")
    holder.execute("select 1")
    return holder


def test_user_query_wait_timeout_wins_over_database_and_global(pg, pooler):
    p = pooler(settings={"query_wait_timeout": 200},
               databases=db_line(pg, "pool_size=1 query_wait_timeout=150"),
               users={USER: "query_wait_timeout=1"})
    holder = hold_the_only_server(p)
    waiter = p.connect()
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="query_wait_timeout"):
        waiter.execute("select 1")
    assert time.monotonic() - t0 < 60
    holder.execute("commit")
    assert p.connect().execute("select 2").fetchone() == (2,)


def test_database_query_wait_timeout_wins_over_global(pg, pooler):
    p = pooler(settings={"query_wait_timeout": 200},
               databases=db_line(pg, "pool_size=1 query_wait_timeout=1"))
    hold_the_only_server(p)
    with pytest.raises(psycopg.OperationalError, match="query_wait_timeout"):
        p.connect().execute("select 1")


def test_query_timeout_closes_a_client_still_waiting(pg, pooler):
    p = pooler(settings={"query_timeout": 1, "query_wait_timeout": 200},
               databases=db_line(pg, "pool_size=1"))
    hold_the_only_server(p)
    with pytest.raises(psycopg.OperationalError, match="query_timeout"):
        p.connect().execute("select 1")


def test_transaction_timeout_closes_a_long_transaction(pooler):
    p = pooler(settings={"transaction_timeout": 2})
    conn = p.connect()
    conn.execute("begin")
    conn.execute("select 1")
    time.sleep(1)
    conn.execute("select 2")            # within the limit: still fine
    wait_for(lambda: "transaction timeout" in p.log(), timeout=60, what="transaction timeout in the log")
    with pytest.raises(psycopg.OperationalError, match="transaction timeout"):
        conn.execute("select 3")
    # short autocommit statements never hit it
    other = p.connect()
    for _ in range(3):
        other.execute("select 1")
        time.sleep(1)


def test_user_transaction_timeout_wins_over_global(pooler):
    p = pooler(settings={"transaction_timeout": 100}, users={USER: "transaction_timeout=1"})
    conn = p.connect()
    other = p.connect(user=OTHER)
    for c in (conn, other):
        c.execute("begin")
        c.execute("select 1")
    wait_for(lambda: "transaction timeout" in p.log(), timeout=60, what="transaction timeout in the log")
    with pytest.raises(psycopg.OperationalError, match="transaction timeout"):
        conn.execute("select 2")
    assert other.execute("select 2").fetchone() == (2,)   # the global 100 s for the others
    other.execute("commit")


def test_idle_transaction_timeout_counts_from_the_end_of_the_last_query(pooler):
    p = pooler(settings={"idle_transaction_timeout": 2})
    conn = p.connect()
    conn.execute("begin")
    conn.execute("select pg_sleep(2.5)")   # longer than the limit, but not idle
    time.sleep(1)
    assert conn.execute("select 1").fetchone() == (1,)
    conn.execute("commit")


def test_user_idle_transaction_timeout_wins_over_global(pooler):
    p = pooler(settings={"idle_transaction_timeout": 100}, users={USER: "idle_transaction_timeout=1"})
    conn = p.connect()
    conn.execute("begin")
    conn.execute("select 1")
    wait_for(lambda: "idle transaction timeout" in p.log(), timeout=60, what="idle transaction timeout")
    with pytest.raises(psycopg.OperationalError):
        conn.execute("select 2")


def test_user_client_idle_timeout_wins_over_global(pooler):
    p = pooler(settings={"client_idle_timeout": 1000}, users={USER: "client_idle_timeout=1"})
    conn = p.connect()
    other = p.connect(user=OTHER)
    conn.execute("select 1")
    other.execute("select 1")
    wait_for(lambda: "client_idle_timeout" in p.log(), timeout=60, what="client_idle_timeout in the log")
    with pytest.raises(psycopg.OperationalError):
        conn.execute("select 1")
    assert other.execute("select 2").fetchone() == (2,)


def test_user_query_timeout_cancels_by_default(pooler):
    p = pooler(users={USER: "query_timeout=1"})
    conn = p.connect()
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("select pg_sleep(30)")
    assert conn.execute("select 'usable'").fetchone() == ("usable",)
    # the other users have no query_timeout
    assert p.connect(user=OTHER).execute("select pg_sleep(1.5), 1").fetchone() == ("", 1)


def test_query_timeout_cancel_0_closes_the_client_as_pgbouncer(pg, pooler):
    p = pooler(settings={"query_timeout": 1, "query_timeout_cancel": 0})
    conn = p.connect()
    with pytest.raises(psycopg.OperationalError, match="query timeout"):
        conn.execute("select pg_sleep(30)")
    assert conn.closed or conn.broken
    assert "query timeout" in p.log()
    # the server connection that ran it is closed too, the pool carries on
    wait_for(lambda: not [r for r in pg.backends(USER) if r[1] == "active" and "pg_sleep" in (r[3] or "")], timeout=60,
             what="the sleeping backend to go away")
    assert p.connect().execute("select 1").fetchone() == (1,)


def test_query_timeout_closes_a_client_waiting_for_the_first_server(pooler):
    """A server that accepts the connection and never answers the login:
    the client waiting for the pool's first server is closed after
    query_timeout (PgBouncer's behaviour), long before client_login_timeout."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)          # never accepted: connects, then silence
    try:
        port = silent.getsockname()[1]
        p = pooler(settings={"query_timeout": 2, "server_connect_timeout": 30, "client_login_timeout": 60},
                   databases={"silentdb": f"host=127.0.0.1 port={port} dbname=x"})
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="query_timeout"):
            p.connect(dbname="silentdb", connect_timeout=20)
        assert time.monotonic() - t0 < 15
    finally:
        silent.close()


def test_pool_idle_timeout_removes_an_unused_pool_and_keeps_its_counters(pg, pooler):
    p = pooler(settings={"pool_idle_timeout": 1, "server_idle_timeout": 1},
               databases={"keepdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb user={OTHER} min_pool_size=1"})
    conn = p.connect()
    conn.execute("select 1")
    conn.close()
    wait_for(lambda: f"cleaning up idle pool siftdb/{USER}" in p.log(), timeout=60, what="the idle pool to go")
    assert [r for r in p.admin_dicts("SHOW POOLS") if r["database"] == "siftdb"] == []
    stats = {r["database"]: r for r in p.admin_dicts("SHOW STATS")}
    assert int(stats["siftdb"]["total_query_count"]) >= 1      # its counters stay
    # a pool that keeps min_pool_size connections is not idle
    assert "cleaning up idle pool keepdb" not in p.log()
    assert [r for r in p.admin_dicts("SHOW POOLS") if r["database"] == "keepdb"]
    # the next client gets a new pool
    assert p.connect().execute("select 2").fetchone() == (2,)
