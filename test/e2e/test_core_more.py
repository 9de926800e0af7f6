"""More core behaviour: reloading a changed database entry, IPv6 and wildcard
listening, client_login_timeout, statistics, streaming of large results and
the admin console over the Unix socket."""

import re
import socket
import struct
import subprocess
import threading

import psycopg
import pytest

import wire
from harness import IS_PGBOUNCER, PSQL, client_env, wait_for

USER = "sift_scram"


class Looper(threading.Thread):
    """Runs a small query in a loop on its own connection and counts them."""

    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn = conn
        self.count = 0
        self.error = None
        self.stop_event = threading.Event()

    def run(self):
        try:
            while not self.stop_event.is_set():
                v = self.conn.execute("select %s::int", (self.count,)).fetchone()[0]
                if v != self.count:
                    raise AssertionError(f"got {v} for {self.count}")
                self.count += 1
        except Exception as e:
            self.error = e

    def finish(self):
        self.stop_event.set()
        self.join(30)
        assert not self.is_alive(), "the looping client is stuck"
        assert self.error is None, f"looping client failed: {self.error!r}"


# -- reload of a changed database entry -------------------------------------------------

def server_rows(p, database="siftdb"):
    return [r for r in p.admin_dicts("SHOW SERVERS") if r["database"] == database]


@pytest.mark.pgsift_only("a reload changing an entry's application_name keeps its server "
                         "connections")
def test_reload_of_a_changed_entry_replaces_its_server_after_release(pg, pooler):
    p = pooler(default_pool_size=1)
    conn = p.connect()
    conn.execute("begin")
    old_pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    p.databases["siftdb"] = (f"host=127.0.0.1 port={pg.port} dbname=siftdb "
                             "application_name=sift_reloaded")
    p.write_ini()
    p.reload()
    wait_for(lambda: [r["close_needed"] for r in server_rows(p)] == ["1"], timeout=15,
             what="the held server marked close_needed after the reload")
    # The open transaction goes on, on the same backend, to its COMMIT.
    assert conn.execute("select pg_backend_pid()").fetchone() == (old_pid,)
    assert conn.execute("select 'still here'").fetchone() == ("still here",)
    conn.execute("commit")
    # Released: that server connection is closed, not reused.
    wait_for(lambda: old_pid not in [r[0] for r in pg.backends(USER)], timeout=15,
             what=f"old backend {old_pid} to be closed")
    new_pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    assert new_pid != old_pid


@pytest.mark.pgsift_only("a reload changing an entry's timezone keeps its server connections")
def test_reload_of_a_changed_entry_gives_new_clients_the_new_parameters(pg, pooler):
    """timezone= of an entry changes from UTC to Asia/Tokyo: a client that
    connects after the reload gets Asia/Tokyo, as a new server connection
    logged in with the new parameters reports it."""
    base = f"host=127.0.0.1 port={pg.port} dbname=siftdb"
    p = pooler(default_pool_size=1, databases={"siftdb": base + " timezone=UTC"})
    before = p.connect()
    old_pid, tz = before.execute("select pg_backend_pid(), current_setting('TimeZone')").fetchone()
    assert tz == "UTC"
    before.close()
    p.databases["siftdb"] = base + " timezone=Asia/Tokyo"
    p.write_ini()
    p.reload()
    wait_for(lambda: old_pid not in [r[0] for r in pg.backends(USER)], timeout=15,
             what=f"the idle server {old_pid} of the changed entry to be closed")
    after = p.connect()
    assert after.pgconn.parameter_status(b"TimeZone") == b"Asia/Tokyo"
    assert after.execute("select current_setting('TimeZone')").fetchone() == ("Asia/Tokyo",)


# -- listening ----------------------------------------------------------------------------

def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port_both():
    """A port free on both 127.0.0.1 and ::1 a moment ago."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s4:
            s4.bind(("127.0.0.1", 0))
            port = s4.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                    s6.bind(("::1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free on both loopback addresses")


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_listen_on_ipv4_and_ipv6_loopback(pooler):
    port = free_port_both()
    p = pooler(listen_addr="127.0.0.1,::1", listen_port=port, start=False)
    p.port = port
    p.start()
    v6 = psycopg.connect(p.dsn(host="::1"), autocommit=True)
    try:
        assert v6.execute("select 'over ipv6'").fetchone() == ("over ipv6",)
        addrs = {r["addr"] for r in p.admin_dicts("SHOW CLIENTS") if r["user"] == USER}
        assert "::1" in addrs, addrs
    finally:
        v6.close()
    assert p.connect().execute("select 'over ipv4'").fetchone() == ("over ipv4",)


def test_listen_on_star_accepts_on_loopback(pooler):
    p = pooler(listen_addr="*")
    assert p.connect().execute("select 'star'").fetchone() == ("star",)
    if have_ipv6_loopback():
        with socket.create_connection(("::1", p.port), timeout=10):
            pass


# -- client_login_timeout ---------------------------------------------------------------------

def silent(raw):
    pass


def half_startup(raw):
    pkt = wire.startup_packet({"user": USER, "database": "siftdb"})
    raw.send(pkt[:len(pkt) // 2])


def no_password(raw):
    raw.send(wire.startup_packet({"user": USER, "database": "siftdb"}))
    t, payload = raw.read_msg()
    assert t == b"R" and struct.unpack("!I", payload[:4])[0] != 0, (t, payload)


@pytest.mark.parametrize("stall", [silent, half_startup, no_password],
                         ids=["nothing-sent", "half-startup-packet", "no-password-answer"])
def test_client_login_timeout_closes_stalled_logins(pooler, stall):
    p = pooler(client_login_timeout=1)
    other = p.connect()
    with wire.RawConn(p.host, p.port, timeout=20) as raw:
        stall(raw)
        # Another client works meanwhile.
        assert other.execute("select 'meanwhile'").fetchone() == ("meanwhile",)
        msgs, closed = raw.read_until_closed(timeout=15)
    assert closed, f"a stalled login is still open after 15 s: {msgs}"
    assert [t for t, _ in msgs if t not in (b"E", b"E2")] == [], msgs
    assert other.execute("select 'after'").fetchone() == ("after",)
    assert p.connect().execute("select 'new'").fetchone() == ("new",)


# -- statistics -----------------------------------------------------------------------------

def stats_row(p, command, database):
    for r in p.admin_dicts(command):
        if r["database"] == database:
            return r
    return None


def test_stats_period_logs_and_averages(pooler):
    p = pooler(stats_period=1)
    looper = Looper(p.connect())
    looper.start()
    try:
        row = wait_for(lambda: (r := stats_row(p, "SHOW STATS", "siftdb"))
                       and float(r["avg_query_count"]) > 0 and r,
                       timeout=15, what="avg_query_count > 0 while queries run")
        assert float(row["avg_xact_count"]) > 0, row
        averages = stats_row(p, "SHOW STATS_AVERAGES", "siftdb")
        assert averages is not None
        # a log line with the statistics of the last period
        if IS_PGBOUNCER:
            pattern = r"stats: \d+ xacts/s, \d+ queries/s"
        else:
            pattern = r"stats: siftdb: [1-9]\d* xacts/s, [1-9]\d* queries/s"
        wait_for(lambda: re.search(pattern, p.log()), timeout=15,
                 what="a stats line in the log")
    finally:
        looper.finish()
    assert looper.count > 0


def test_stats_totals_count_transactions_exactly(pg, pooler):
    p = pooler(stats_period=1,
               databases={"sift_statsdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})

    def totals():
        return stats_row(p, "SHOW STATS_TOTALS", "sift_statsdb")

    conn = p.connect(dbname="sift_statsdb")
    for i in range(7):
        assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
    wait_for(lambda: (r := totals()) and int(r["xact_count"]) >= 7, timeout=15,
             what="7 transactions in SHOW STATS_TOTALS")
    row = totals()
    assert int(row["xact_count"]) == 7, row
    assert int(row["query_count"]) == 7, row
    # An explicit transaction of four statements is one transaction.
    with conn.transaction():
        conn.execute("select 1")
        conn.execute("select 2")
    for i in range(3):
        conn.execute("select %s::int", (i,))
    wait_for(lambda: int(totals()["xact_count"]) >= 11, timeout=15,
             what="11 transactions in SHOW STATS_TOTALS")
    row = totals()
    assert int(row["xact_count"]) == 11, row
    assert int(row["query_count"]) == 7 + 4 + 3, row
    # Nothing was counted for the other entry.
    other = stats_row(p, "SHOW STATS_TOTALS", "siftdb")
    assert other is None or int(other["xact_count"]) == 0, other


# -- large results ----------------------------------------------------------------------------

def rss_peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


@pytest.mark.timeout(60)
def test_large_result_streams_while_others_keep_working(pooler):
    p = pooler()
    big = p.connect()
    looper = Looper(p.connect())
    looper.start()
    peak_before = rss_peak_kb(p.pid)
    try:
        rows = 0
        length_ok = True
        cur = big.cursor()
        progress = []
        for (v,) in cur.stream("select repeat('x', 1000) from generate_series(1, 200000)"):
            rows += 1
            if len(v) != 1000:
                length_ok = False
            if rows % 50000 == 0:
                progress.append(looper.count)
        progress.append(looper.count)
    finally:
        looper.finish()
    assert rows == 200000
    assert length_ok
    # The other client completed queries while the big result was streaming.
    assert progress[-1] - progress[0] > 0, progress
    assert big.execute("select 'after'").fetchone() == ("after",)
    if not IS_PGBOUNCER:
        grown_mb = (rss_peak_kb(p.pid) - peak_before) / 1024
        assert grown_mb < 100, f"pgsift's peak memory grew by {grown_mb:.0f} MB for a 200 MB result"


# -- admin console over the Unix socket ----------------------------------------------------------

def test_admin_console_over_unix_socket_with_psql(pooler):
    p = pooler()
    r = subprocess.run([PSQL, "-X", "-A", "-t", "-h", str(p.workdir), "-p", str(p.port),
                        "-U", "sift_admin", p.admin_db, "-c", "SHOW VERSION"],
                       env=client_env("sift_admin"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ("PgBouncer" if IS_PGBOUNCER else "pgsift") in r.stdout, r.stdout
    # The console shows that client as a Unix-socket one.
    r = subprocess.run([PSQL, "-X", "-A", "-t", "-F", "|", "-h", str(p.workdir), "-p", str(p.port),
                        "-U", "sift_admin", p.admin_db, "-c", "SHOW CLIENTS"],
                       env=client_env("sift_admin"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "|unix|" in r.stdout, r.stdout
