"""Signals under load: SIGHUP with broken configurations, SIGTERM and
SIGINT while pgbench runs (README: SIGHUP reloads; SIGTERM stops accepting
and exits when the last client has left; SIGINT exits once running
transactions are done).

What users rely on: a broken file never replaces the running configuration
nor disturbs a client; SIGTERM never cuts a client; SIGINT never cuts a
transaction (a pgbench client may only fail at the BEGIN of a new one), and
every transaction a client saw committed is in the table."""

import signal
import socket
import time

import psycopg
import pytest

from conftest import Pgbench
from harness import IS_PGBOUNCER, wait_for

CLIENTS, POOL = 10, 5
BEGIN = 4   # the tpcb-like script: 4 \set lines, then BEGIN (command 4) ... END (command 10)

BROKEN = [
    ("a line that is not a setting", "this is not ini\n"),
    ("an unknown setting", "no_such_setting = 1\n"),
    ("an invalid value", "default_pool_size = many\n"),
    ("an auth_file that does not exist", "auth_file = /nonexistent/userlist.txt\n"),
    ("an %include of a missing file", "%include /nonexistent/more.ini\n"),
]


def history_rows(pg):
    return pg.query("select count(*) from pgbench_history", dbname="siftdb")[0][0]


def config_value(p, name):
    for row in p.admin_dicts("SHOW CONFIG"):
        if row["key"] == name:
            return row["value"]
    raise AssertionError(f"no {name} in SHOW CONFIG")


def aborted_commands(bench):
    import re
    return [int(m) for m in re.findall(r"aborted in command (\d+)", bench.err)]


@pytest.mark.timeout(120)
@pytest.mark.pgsift_only("PgBouncer 1.18 applies a reload whose auth_file is missing: new logins are refused")
def test_sighup_with_broken_configs_under_load(pg, pooler, pgbench_tables, tmp_path):
    p = pooler(default_pool_size=POOL)
    good = p.ini_path.read_text()
    bench = Pgbench(p, tmp_path / "bench", clients=CLIENTS, seconds=12)
    time.sleep(1)
    for what, line in BROKEN:
        text = good.replace(f"[{p.section}]\n", f"[{p.section}]\n{line}", 1)
        assert text != good
        p.ini_path.write_text(text)
        p.reload()
        time.sleep(1)
        assert p.alive(), f"the pooler died on a reload of a file with {what}"
        assert config_value(p, "default_pool_size") == str(POOL), what
        # a new client still logs in and is served
        with psycopg.connect(p.dsn("sift_scram"), autocommit=True) as c:
            assert c.execute("select 'new'").fetchone() == ("new",), what
    # a good file is applied
    p.ini_path.write_text(good.replace("default_pool_size = 5", "default_pool_size = 6"))
    p.reload()
    wait_for(lambda: config_value(p, "default_pool_size") == "6", timeout=10, what="the good file applied")
    bench.wait()
    assert bench.proc.returncode == 0 and not bench.aborted(), bench.err[-2000:]
    assert len(bench.transactions()) > 100
    if not IS_PGBOUNCER:
        # the syntax error, the invalid value and the missing %include (an
        # unknown setting is ignored with a warning, as PgBouncer does)
        assert p.log().count("the running configuration is kept") >= 3, p.log()[-3000:]


@pytest.mark.timeout(120)
@pytest.mark.pgsift_only("PgBouncer 1.18's SIGTERM is an immediate shutdown")
def test_sigterm_under_load_waits_for_the_clients(pg, pooler, pgbench_tables, tmp_path):
    p = pooler(default_pool_size=POOL)
    rows0 = history_rows(pg)
    bench = Pgbench(p, tmp_path / "bench", clients=CLIENTS, seconds=8)
    time.sleep(2)
    p.signal(signal.SIGTERM)
    time.sleep(0.5)
    # no new client gets in
    refused = False
    try:
        with socket.create_connection((p.host, p.port), timeout=2):
            pass
    except OSError:
        refused = True
    assert refused, "a new connection was accepted after SIGTERM"
    # the clients that were there go on to their end, then pgsift exits
    bench.wait()
    assert bench.proc.returncode == 0 and not bench.aborted(), bench.err[-2000:]
    t_end = time.monotonic()
    rc = p.wait_exit(timeout=15)
    assert rc == 0 and time.monotonic() - t_end < 5, rc
    txs = bench.transactions()
    assert history_rows(pg) - rows0 == len(txs)


@pytest.mark.timeout(120)
def test_sigint_under_load_finishes_running_transactions(pg, pooler, pgbench_tables, tmp_path):
    p = pooler(default_pool_size=POOL)
    rows0 = history_rows(pg)
    bench = Pgbench(p, tmp_path / "bench", clients=CLIENTS, seconds=30)
    time.sleep(2)
    t0 = time.monotonic()
    p.signal(signal.SIGINT)
    rc = p.wait_exit(timeout=15)
    took = time.monotonic() - t0
    bench.wait()
    assert rc == 0 and took < 5, (rc, took)
    # clients fail only when they start a new transaction
    cmds = aborted_commands(bench)
    assert cmds and all(c == BEGIN for c in cmds), bench.err[-2000:]
    # every transaction a client saw committed is there, and nothing else
    txs = bench.transactions()
    assert history_rows(pg) - rows0 == len(txs)
