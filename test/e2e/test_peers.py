"""[peers] and peer_id: processes of an so_reuseport group share a port, so
a client's cancel request (a new connection) lands on any of them; the
cancel key names the process that handed it out (PgBouncer's layout: its
2nd and 3rd byte), and a process forwards a cancel for another peer to
that peer's [peers] entry."""

import struct
import threading
import time

import psycopg
import pytest

from harness import PASSWORDS, exec_simple, wait_for
from wire import RawConn

pytestmark = pytest.mark.pgsift_only("peering arrived in PgBouncer 1.21; the reference here is checked separately")


def group(pooler, n=3, peers_of=None):
    """n pgsift processes on one port, peer_id 1..n, each with the others
    (or peers_of(own, all)) in [peers] by their Unix socket directories."""
    ps = [pooler(start=False, so_reuseport=1, peer_id=i + 1) for i in range(n)]
    for p in ps[1:]:
        p.port = ps[0].port
        p.settings["listen_port"] = str(ps[0].port)
    for i, p in enumerate(ps):
        lines = peers_of(i + 1, ps) if peers_of else [
            f"{j + 1} = host={q.workdir} port={q.port}" for j, q in enumerate(ps) if q is not p]
        p.extra_sections = "[peers]\n" + "\n".join(lines) + "\n"
        p.write_ini()
        p.start()
        # start() sees the shared port accept at once: wait for this process
        wait_for(lambda: (p.workdir / f".s.PGSQL.{p.port}").exists(), what="its Unix socket")
    return ps


def own_admin(p, sql):
    """A console command on this very process (its Unix socket: the TCP
    port is shared)."""
    with psycopg.connect(p.dsn("sift_admin", p.admin_db, host=str(p.workdir)), autocommit=True) as c:
        cols, rows = exec_simple(c, sql)
    return [dict(zip(cols, r)) for r in rows]


def peer_of_key(pid):
    return ((pid >> 16) & 0xFF) | (((pid >> 8) & 0xFF) << 8)


def test_a_cancel_landing_on_another_process_is_forwarded(pooler):
    ps = group(pooler)
    for p in ps:
        assert [r["peer_id"] for r in own_admin(p, "SHOW PEERS")] == [
            str(i + 1) for i, q in enumerate(ps) if q is not p]
    conn = ps[0].connect()
    pid = conn.info.backend_pid
    assert peer_of_key(pid) in (1, 2, 3), "the cancel key names the process"
    for _ in range(10):
        err = []

        def run():
            try:
                conn.execute("select pg_sleep(20)")
            except psycopg.errors.QueryCanceled as e:
                err.append(e)
        t = threading.Thread(target=run, daemon=True)
        t0 = time.monotonic()
        t.start()
        time.sleep(0.3)
        conn.cancel()
        t.join(10)
        assert err and "due to user request" in str(err[0]), "the cancel did not reach the statement"
        assert time.monotonic() - t0 < 10
    assert conn.execute("select 1").fetchone() == (1,)


def cancel_raw(p, pid, key):
    with RawConn(p.host, p.port) as raw:
        raw.send(struct.pack("!IIII", 16, 80877102, pid, key))
        raw.read_until_closed(timeout=10)


def test_keys_carry_the_peer_id_and_a_loop_or_an_unknown_peer_ends(pooler):
    # process 1 believes peer 2 is itself: a cancel for peer 2 goes round
    # until its time to live (3 forwardings) is spent
    ps = group(pooler, n=1, peers_of=lambda own, all_: [f"2 = host={all_[0].workdir} port={all_[0].port}"])
    p = ps[0]
    with RawConn(p.host, p.port) as raw:
        raw.startup("sift_scram", "siftdb", PASSWORDS["sift_scram"])
        pid, key = raw.backend_key
    assert peer_of_key(pid) == 1 and key & 3 == 3
    other = (pid & 0xFF0000FF) | (2 << 16)
    cancel_raw(p, other, key)
    deadline = time.monotonic() + 10
    while "forwarded too many times" not in p.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "cancel request for peer 2 dropped: forwarded too many times" in p.log()
    cancel_raw(p, (pid & 0xFF0000FF) | (7 << 16), key)
    deadline = time.monotonic() + 10
    while "no such entry in [peers]" not in p.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "cancel request for peer 7 dropped: no such entry in [peers]" in p.log()
    assert p.alive()


@pytest.mark.parametrize("entry,want", [
    ("0 = host=/tmp", "a peer's name is its peer_id"),
    ("70000 = host=/tmp", "a peer's name is its peer_id"),
    ("1 = port=6432", "host is missing"),
    ("1 = host=/tmp dbname=x", 'unknown key "dbname"'),
    ("1 = host=/tmp port=0", 'invalid port "0"'),
])
def test_bad_peers_entries_stop_startup(pooler, entry, want):
    p = pooler(start=False, extra_sections=f"[peers]\n{entry}\n")
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None), log
    assert want in log, log


def test_peer_id_range(pooler):
    p = pooler(start=False, peer_id=65536)
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None) and "peer_id" in log, log


def test_a_key_from_before_peer_id_was_set_is_still_served(pooler):
    p = pooler()
    conn = p.connect()
    conn.execute("select 1")
    p.admin("SET peer_id = 5")
    err = []

    def run():
        try:
            conn.execute("select pg_sleep(20)")
        except psycopg.errors.QueryCanceled as e:
            err.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(0.3)
    conn.cancel()
    t.join(10)
    assert err, "the cancel of a client that logged in before peer_id was set was lost"
    # a client that logs in now gets a key naming peer 5
    assert peer_of_key(p.connect().info.backend_pid) == 5
