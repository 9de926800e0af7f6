"""PostgreSQL restarted, killed and stopped under pgbench (issue 17, item 6,
and the fault suite).

pgbench runs 20 clients through a pool of 10 servers, so at any moment
about 10 clients are in a transaction on a server and 10 wait for one.
When PostgreSQL goes away, the clients in a transaction lose it (their
server is gone: unavoidable) and the ones waiting must stay queued until it
is back, then go on; the first query after PostgreSQL is up must come
within 2 s, no client may get an error older than the server's current
state, and every transaction pgbench saw committed must be in the table.

Run with POOLER=pgbouncer to see PgBouncer's numbers for the same cases
(test output prints them)."""

import time

import pytest

from conftest import Baseline, Pgbench, Prober, UpWatcher
from harness import IS_PGBOUNCER

CLIENTS, POOL = 20, 10


def history_rows(pg):
    return pg.query("select count(*) from pgbench_history", dbname="siftdb")[0][0]


def run_outage(pg, p, tmp_path, outage, seconds=25, before=8):
    """pgbench for `seconds`; outage(pg) `before` seconds in. Returns what
    the checks need."""
    rows0 = history_rows(pg)
    bench = Pgbench(p, tmp_path / "bench", clients=CLIENTS, seconds=seconds)
    time.sleep(before)
    assert bench.proc.poll() is None, bench.proc.communicate()
    watcher = UpWatcher(pg)
    watcher.start()
    prober = Prober(p, every=0.25)
    prober.start()
    outage(pg)
    deadline = time.time() + 90
    while watcher.up_at is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(4)               # probes after it is up
    probes = prober.stop()
    watcher.stop()
    bench.wait(timeout=seconds + 120)
    return bench, watcher, probes, history_rows(pg) - rows0


def check_outage(bench, watcher, probes, committed, allowed_aborts):
    up, down = watcher.up_at, watcher.down_at
    assert down and up, "PostgreSQL never went down and came back"
    aborted = bench.aborted()
    txs = bench.transactions()
    survivors = CLIENTS - len(aborted)
    first_after = min((t for _, t in txs if t >= up), default=None)
    print(f"\n{'pgbouncer' if IS_PGBOUNCER else 'pgsift'}: down {up - down:.2f} s, "
          f"{survivors}/{CLIENTS} clients survived (aborted: {aborted}), first transaction "
          f"{(first_after - up) if first_after else float('nan'):.2f} s after PostgreSQL was up, "
          f"{len(txs)} transactions, probes failed: {[r for r in probes if r[2]]}")
    # only clients that were in a transaction on a server may be lost
    assert len(aborted) <= allowed_aborts, bench.err[-3000:]
    # the first transaction after the restart comes within 2 s
    assert first_after is not None and first_after - up <= 2.0, (first_after, up)
    # the survivors went on after it
    went_on = {c for c, t in txs if t > up}
    assert set(range(CLIENTS)) - set(aborted) <= went_on, (went_on, aborted, bench.err[-3000:], bench.out[-2000:])
    # nothing lost: every transaction pgbench logged is in the table; a
    # COMMIT whose answer died with its server may be there too
    assert len(txs) <= committed <= len(txs) + len(aborted), (len(txs), committed)
    # no error older than the server's state: a login after it was up works
    stale = [r for r in probes if r[0] >= up and r[2] is not None]
    assert not stale, stale
    # and the probes that came during the outage either waited for it or
    # were told the server's state at that time
    for t0, t1, state in probes:
        if state is not None:
            assert state in ("57P01", "57P03", "08006", "08P01"), probes
            assert t1 <= up + 1.0, ("an error after PostgreSQL was back", t0, t1, state, up)


@pytest.mark.timeout(240)
@pytest.mark.pgsift_only("PgBouncer 1.18 retries a restarted server after server_login_retry (15 s)")
def test_pg_ctl_restart_fast_under_pgbench(pg, pooler, pgbench_tables, tmp_path):
    """Issue 17, item 6: `pg_ctl restart -m fast` under 20 pgbench clients on
    a pool of 10. Before the fix all 20 were aborted and new logins got the
    stale 57P03 for ~12 s after PostgreSQL was back."""
    p = pooler(default_pool_size=POOL, query_wait_timeout=60)
    base = Baseline(p, warm=3, clients=CLIENTS) if not IS_PGBOUNCER else None
    bench, watcher, probes, committed = run_outage(pg, p, tmp_path, lambda pg: pg.restart("fast"))
    # the clients on a server lose their transaction; one handed a server
    # in the instant PostgreSQL terminates it may lose its own
    check_outage(bench, watcher, probes, committed, allowed_aborts=POOL + 2)
    if base:
        base.check()


@pytest.mark.timeout(240)
@pytest.mark.pgsift_only("PgBouncer 1.18 retries a restarted server after server_login_retry (15 s)")
def test_postgres_killed_and_restarted_under_pgbench(pg, pooler, pgbench_tables, tmp_path):
    """`pg_ctl stop -m immediate` (every PostgreSQL process quits at once,
    as after a crash; the next start runs crash recovery), started again
    2 s later."""
    def kill_and_restart(pg):
        pg.stop("immediate")
        time.sleep(2)
        pg.start_again()

    p = pooler(default_pool_size=POOL, query_wait_timeout=60)
    base = Baseline(p, warm=3, clients=CLIENTS) if not IS_PGBOUNCER else None
    bench, watcher, probes, committed = run_outage(pg, p, tmp_path, kill_and_restart)
    check_outage(bench, watcher, probes, committed, allowed_aborts=POOL + 2)
    if base:
        base.check()


@pytest.mark.timeout(240)
@pytest.mark.pgsift_only("PgBouncer 1.18 retries a restarted server after server_login_retry (15 s)")
def test_postgres_stopped_for_20_seconds_under_pgbench(pg, pooler, pgbench_tables, tmp_path):
    """`pg_ctl stop -m fast`, 20 s without PostgreSQL, then started: the
    waiting clients (query_wait_timeout 60 s) all come through; the probes
    that log in during the outage wait for it too."""
    def stop_20s(pg):
        pg.stop("fast")
        time.sleep(20)
        pg.start_again()

    p = pooler(default_pool_size=POOL, query_wait_timeout=60)
    base = Baseline(p, warm=3, clients=CLIENTS) if not IS_PGBOUNCER else None
    bench, watcher, probes, committed = run_outage(pg, p, tmp_path, stop_20s, seconds=40)
    check_outage(bench, watcher, probes, committed, allowed_aborts=POOL + 2)
    if base:
        base.check()
