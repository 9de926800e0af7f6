"""The pool sizing advisor: SHOW POOL_ADVICE and live pool resizing
(doc/advisor.md). Real PostgreSQL, real clients; each test runs a few
seconds of pg_sleep transactions."""

import threading
import time

import pytest

from harness import AdminError, documented_show_columns, wait_for

pytestmark = pytest.mark.pgsift_only("SHOW POOL_ADVICE and SET ... FOR DATABASE are pgsift's")


def advice_row(pooler, database="siftdb", user="sift_scram"):
    for row in pooler.admin_dicts("SHOW POOL_ADVICE"):
        if row["database"] == database and row["user"] == user:
            return row
    return None


class Load:
    """n client connections, each running `select pg_sleep(sleep)` in a loop
    until stopped; every error is kept (a dropped client fails the test)."""

    def __init__(self, pooler, n, sleep):
        self.conns = [pooler.connect() for _ in range(n)]
        self.sleep = sleep
        self.stop_flag = threading.Event()
        self.errors = []
        self.done = [0] * n
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]

    def _run(self, i):
        try:
            while not self.stop_flag.is_set():
                self.conns[i].execute("select pg_sleep(%s)" % self.sleep)
                self.done[i] += 1
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            self.errors.append(repr(e))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)


def test_columns_refusal_and_max_connections(pooler, pg):
    p = pooler(advisor_min_transactions=100)
    conn = p.connect()
    for _ in range(5):
        conn.execute("select 1")
    cols, _ = p.admin("SHOW POOL_ADVICE")
    assert cols == documented_show_columns("POOL_ADVICE")
    row = advice_row(p)
    assert row["xacts"] == "5" and row["pool_size"] == "5"
    assert row["recommended_size"] is None and row["predicted_wait_p99_ms"] is None
    assert row["confidence"] == "none"
    assert row["reason"].startswith("too little data: 5 transactions"), row["reason"]
    # max_connections is read through libpq in the background
    want = pg.query("show max_connections")[0][0]
    row = wait_for(lambda: (r := advice_row(p)) and r["pg_status"] == "ok" and r,
                   what="the advisor's probe of PostgreSQL")
    assert row["pg_max_connections"] == str(want)
    assert int(row["pg_connections"]) >= 1  # at least the pool's own server


def test_probe_failure_is_reported(pooler, pg):
    # a SCRAM verifier in auth_file: pgsift logs in to PostgreSQL by SCRAM
    # pass-through, but libpq (the probe) has no password to use
    p = pooler(auth_type="scram-sha-256", advisor_min_transactions=1,
               auth_entries={"sift_scram": pg.verifiers["sift_scram"]})
    conn = p.connect()
    for _ in range(3):
        conn.execute("select 1")
    row = wait_for(lambda: (r := advice_row(p)) and r["pg_status"] != "pending" and r,
                   what="a probe result")
    assert row["pg_status"].startswith("connect: "), row["pg_status"]
    assert "password" in row["pg_status"]
    assert row["pg_max_connections"] is None and row["pg_connections"] is None
    # the pool keeps working and the advice is still given, without the cap
    conn.execute("select 1")
    assert row["recommended_size"] is not None


def test_undersized_pool_gets_a_larger_size(pooler):
    p = pooler(default_pool_size=1, advisor_min_transactions=40, advisor_target_wait_ms=5)
    with Load(p, 6, 0.02) as load:
        time.sleep(2.5)
    assert not load.errors, load.errors
    row = advice_row(p)
    assert int(row["xacts"]) >= 40
    assert float(row["wait_p99_ms"]) > 5
    assert int(row["queued"]) > 0 and float(row["utilization"]) > 0.8
    assert int(row["busy_peak"]) == 1
    assert 15 <= float(row["hold_p50_ms"]) <= 60, row["hold_p50_ms"]
    assert int(row["recommended_size"]) > 1, row
    assert float(row["predicted_wait_p99_ms"]) <= 5
    # near or above 1 erlang on 1 server: a long predicted wait, or none at all
    cur = row["current_predicted_wait_p99_ms"]
    assert cur is None or float(cur) > 5, cur
    assert row["reason"].startswith("undersized"), row["reason"]
    assert row["confidence"] in ("low", "medium", "high")


def server_count(p):
    r = p.pool_row()
    return sum(int(r[k]) for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))


def test_live_resize_without_dropping_clients(pooler):
    p = pooler(default_pool_size=1)
    with Load(p, 6, 0.05) as load:
        wait_for(lambda: sum(load.done) >= 3, what="first transactions")
        assert server_count(p) == 1
        p.admin("SET default_pool_size = 4")
        wait_for(lambda: server_count(p) == 4, what="growing to 4 servers")
        p.admin("SET default_pool_size = 2")
        wait_for(lambda: server_count(p) == 2, what="shrinking to 2 servers")
        # a database's own size overrides default_pool_size
        p.admin("SET pool_size = 3 FOR DATABASE siftdb")
        wait_for(lambda: server_count(p) == 3, what="the database's own size")
        dbs = {r["name"]: r for r in p.admin_dicts("SHOW DATABASES")}
        assert dbs["siftdb"]["pool_size"] == "3"
        before = sum(load.done)
        time.sleep(0.5)
        assert sum(load.done) > before
        assert server_count(p) <= 3
    assert not load.errors, load.errors
    # back to the default
    p.admin("SET pool_size = default FOR DATABASE siftdb")
    dbs = {r["name"]: r for r in p.admin_dicts("SHOW DATABASES")}
    assert dbs["siftdb"]["pool_size"] == "2"


@pytest.mark.parametrize("sql,state", [
    ("SET pool_size = 0 FOR DATABASE siftdb", "22023"),
    ("SET pool_size = lots FOR DATABASE siftdb", "22023"),
    ("SET pool_size = 3 FOR DATABASE nosuchdb", "3D000"),
    ("SET pool_size = 3 FOR DATABASE pgsift", "42601"),
    ("SET pool_mode = session FOR DATABASE siftdb", "42704"),
    ("SET default_pool_size = 0", "22023"),
])
def test_bad_resize_is_refused(pooler, sql, state):
    p = pooler()
    with pytest.raises(AdminError) as ei:
        p.admin(sql)
    assert ei.value.sqlstate == state
    dbs = {r["name"]: r for r in p.admin_dicts("SHOW DATABASES")}
    assert dbs["siftdb"]["pool_size"] == "5"
