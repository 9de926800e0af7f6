"""Clients that stop reading a 200 MB result.

pgsift relays with backpressure: it stops reading a server while the
client's queue is full, so a client that stops reading costs at most a
buffer, not the result. Other clients go on meanwhile; a client that reads
again gets every row, in order; one that goes away frees its server (which
is closed: it was in the middle of a result) and pgsift's RSS and fds go
back to their baseline."""

import socket
import struct
import threading
import time

import pytest

import wire
from conftest import Baseline, rss_kb
from harness import IS_PGBOUNCER, PASSWORDS

USER = "sift_scram"
ROWS = 200000
QUERY = f"select g, repeat('x', 1000) from generate_series(1, {ROWS}) g"   # ~200 MB


def stalled_reader(p):
    """Logs in, sends the query, reads nothing; small receive buffer."""
    c = wire.RawConn(p.host, p.port, timeout=120)
    c.startup(USER, "siftdb", PASSWORDS[USER])
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    c.send_msg(b"Q", QUERY.encode() + b"\0")
    return c


def others_meanwhile(p, seconds):
    lat = []
    end = time.monotonic() + seconds
    with wire.RawConn(p.host, p.port, timeout=30) as c:
        c.startup(USER, "siftdb", PASSWORDS[USER])
        while time.monotonic() < end:
            t0 = time.monotonic()
            rows, _ = c.query("select 'other'")
            assert rows == [["other"]]
            lat.append(time.monotonic() - t0)
            time.sleep(0.1)
    return lat


def peak_rss_while(p, seconds):
    peak = rss_kb(p.pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        peak = max(peak, rss_kb(p.pid))
        time.sleep(0.05)
    return peak


@pytest.mark.timeout(180)
@pytest.mark.parametrize("then", ["reads_again", "goes_away"])
def test_clients_that_stop_reading_a_200_mb_result(pg, pooler, then):
    p = pooler(default_pool_size=4)
    with wire.RawConn(p.host, p.port, timeout=30) as warm:
        warm.startup(USER, "siftdb", PASSWORDS[USER])
        warm.query("select 1")
    base = Baseline(p) if not IS_PGBOUNCER else None
    before = rss_kb(p.pid)
    readers = [stalled_reader(p) for _ in range(2)]
    lat = []
    t = threading.Thread(target=lambda: lat.extend(others_meanwhile(p, 4)))
    t.start()
    peak = peak_rss_while(p, 4)
    t.join(30)
    print(f"\nRSS {before} kB -> peak {peak} kB while 2 clients do not read; others: "
          f"{len(lat)} queries, slowest {max(lat):.3f} s")
    # a stalled client holds a buffer or two, not its result
    assert peak - before < 16 * 1024, (before, peak)
    assert len(lat) >= 10 and max(lat) < 1.0, lat
    if then == "reads_again":
        for c in readers:
            n, expect = 0, 1
            while True:
                typ, payload = c.read_msg(timeout=120)
                if typ == b"D":
                    (ln,) = struct.unpack("!I", payload[2:6])
                    assert int(payload[6:6 + ln]) == expect, (expect, payload[:20])
                    expect += 1
                    n += 1
                elif typ == b"E":
                    raise AssertionError(wire.parse_error_fields(payload))
                elif typ == b"Z":
                    break
            assert n == ROWS
            c.close()
    else:
        for c in readers:
            c.sock.close()
    if base:
        base.check()
    with wire.RawConn(p.host, p.port, timeout=30) as c:
        c.startup(USER, "siftdb", PASSWORDS[USER])
        assert c.query("select 'after'")[0] == [["after"]]
