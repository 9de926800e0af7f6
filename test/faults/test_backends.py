"""Backends terminated under the pooler (pg_terminate_backend): while idle
in the pool, idle in a transaction, and in the middle of a query.

Only the client whose transaction or query was on the terminated backend
may get an error (PostgreSQL's 57P01, or pgsift's 08006 when the
connection is gone), nothing it did half-way may stay, every other client
goes on, and the pool is whole again at once."""

import threading
import time

import psycopg
import pytest

from conftest import Baseline
from harness import wait_for

USER = "sift_scram"
LOST = ("57P01", "08006")   # the server's admin shutdown, or pgsift's "server connection lost"


def connect(p):
    c = psycopg.connect(p.dsn(USER), autocommit=True, prepare_threshold=None)
    p._conns.append(c)
    return c


def terminate(pg, where="", params=()):
    return pg.query("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                    f"where usename = %s and pid <> pg_backend_pid() {where}", (USER, *params))[0][0]


@pytest.fixture
def table(pg):
    with pg.connect(dbname="siftdb") as c:
        c.execute("create table if not exists fault_rows (id int primary key, who text)")
        c.execute("grant all on fault_rows to public")
        c.execute("truncate fault_rows")
    return "fault_rows"


def test_backends_terminated_while_idle_in_the_pool(pg, pooler):
    p = pooler(default_pool_size=5, server_check_delay=30)
    conns = [connect(p) for _ in range(10)]
    barrier = threading.Barrier(10)

    def hold(c):
        barrier.wait()
        c.execute("select pg_sleep(0.2)")
    ts = [threading.Thread(target=hold, args=(c,)) for c in conns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    base = Baseline(p)
    assert int(p.pool_row()["sv_idle"]) == 5
    assert terminate(pg) == 5
    # pgsift sees each close (PostgreSQL's FATAL, then EOF) and drops it
    wait_for(lambda: int(p.pool_row()["sv_idle"]) == 0, timeout=5, interval=0.05,
             what="pgsift to drop the terminated servers")
    t0 = time.monotonic()
    for i, c in enumerate(conns):
        assert c.execute("select %s::int", (i,)).fetchone() == (i,)
    assert time.monotonic() - t0 < 5
    base.check()


def test_backend_terminated_while_idle_in_transaction(pg, pooler, table):
    p = pooler(default_pool_size=5)
    a, b = connect(p), connect(p)
    a.execute("begin")
    a.execute(f"insert into {table} values (1, 'a')")
    b.execute("begin")
    b.execute(f"insert into {table} values (2, 'b')")
    pid_a = a.execute("select pg_backend_pid()").fetchone()[0]
    assert terminate(pg, "and pid = %s", (pid_a,)) == 1
    with pytest.raises(psycopg.Error) as ei:
        a.execute("commit")
    assert ei.value.sqlstate in LOST or isinstance(ei.value, psycopg.OperationalError), ei.value
    b.execute("commit")
    rows = pg.query(f"select id, who from {table} order by id", dbname="siftdb")
    assert rows == [(2, "b")], rows            # a's insert never committed, b's did
    again = connect(p)
    again.execute(f"insert into {table} values (3, 'again')")
    assert pg.query(f"select count(*) from {table}", dbname="siftdb")[0][0] == 2


def test_backend_terminated_mid_query(pg, pooler):
    p = pooler(default_pool_size=5)
    victim, other = connect(p), connect(p)
    err = []

    def run():
        try:
            victim.execute("select pg_sleep(30), 'victim_marker'")
        except psycopg.Error as e:
            err.append(e)
    t = threading.Thread(target=run)
    t.start()
    wait_for(lambda: pg.active_pid_running("victim_marker"), timeout=10, interval=0.05, what="the query to run")
    t0 = time.monotonic()
    assert terminate(pg, "and query like %s", ("%victim_marker%",)) == 1
    t.join(10)
    assert not t.is_alive() and time.monotonic() - t0 < 5
    assert err and (err[0].sqlstate in LOST or isinstance(err[0], psycopg.OperationalError)), err
    assert "terminat" in str(err[0]) or "lost" in str(err[0]), err[0]
    assert other.execute("select 'other'").fetchone() == ("other",)
    assert connect(p).execute("select 'new'").fetchone() == ("new",)
