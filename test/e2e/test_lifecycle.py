"""Server connections dying, and the pooler's signals."""

import signal

import psycopg
import pytest

from harness import wait_for

USER = "sift_scram"


def test_server_terminated_mid_transaction(pg, pooler):
    p = pooler()
    bystander = p.connect()
    assert bystander.execute("select 1").fetchone() == (1,)
    victim = p.connect()
    victim.execute("begin")
    pid = victim.execute("select pg_backend_pid()").fetchone()[0]
    assert pg.query("select pg_terminate_backend(%s)", (pid,)) == [(True,)]
    with pytest.raises(psycopg.Error):
        victim.execute("select 1")
        victim.execute("commit")
    # Everybody else keeps working, including on the same pool.
    for i in range(10):
        assert bystander.execute("select %s::int", (i,)).fetchone() == (i,)
    fresh = p.connect()
    assert fresh.execute("select pg_backend_pid()").fetchone()[0] != pid
    assert pid not in [r[0] for r in pg.backends(USER)]


def test_idle_server_terminated_is_replaced(pg, pooler):
    p = pooler(default_pool_size=1)
    conn = p.connect()
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    assert pg.query("select pg_terminate_backend(%s)", (pid,)) == [(True,)]
    wait_for(lambda: pid not in [r[0] for r in pg.backends(USER)], what="backend gone")

    # The dead idle server may cost at most one failed statement (PgBouncer
    # finds out on use); after that the client works on a new server.
    def works():
        try:
            return conn.execute("select pg_backend_pid()").fetchone()[0]
        except psycopg.OperationalError:
            return None

    new_pid = None
    for _ in range(2):
        new_pid = works()
        if new_pid:
            break
    if new_pid is None:
        conn = p.connect()
        new_pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    assert new_pid != pid


@pytest.mark.pgsift_only("SIGTERM shuts down at once instead of waiting for clients")
def test_sigterm_waits_for_clients_to_leave(pooler):
    p = pooler()
    conn = p.connect()
    assert conn.execute("select 1").fetchone() == (1,)
    p.signal(signal.SIGTERM)
    # Still serving the client that is connected.
    for i in range(5):
        assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
    assert p.alive()
    conn.close()
    assert p.wait_exit(timeout=60) == 0


def test_sigint_waits_for_the_open_transaction(pooler):
    p = pooler()
    conn = p.connect()
    conn.execute("begin")
    conn.execute("select 1")
    p.signal(signal.SIGINT)
    assert conn.execute("select 'inside'").fetchone() == ("inside",)
    assert p.alive()
    conn.execute("commit")
    assert p.wait_exit(timeout=60) == 0


@pytest.mark.skip_pgbouncer("SIGQUIT is not handled (core dump)")
def test_sigquit_exits_at_once(pooler):
    p = pooler()
    conn = p.connect()
    conn.execute("begin")
    conn.execute("select 1")
    p.signal(signal.SIGQUIT)
    assert p.wait_exit(timeout=30) == 0
    with pytest.raises(psycopg.OperationalError):
        conn.execute("select 1")
