"""Three clients send 700 MB queries at once (issue 17, item 5).

Before the fix pgsift read a simple query whole when prepared statements
were tracked (transaction mode, the default): three 700 MB queries took it
from 49 MB to 2,149 MB. Now they stream through its buffer: its RSS stays
within 64 MB of its baseline (doc/prepared.md), each big query gets its own
answer, and other clients keep being served meanwhile."""

import socket
import struct
import threading
import time

import pytest

import wire
from conftest import Baseline, rss_kb
from harness import IS_PGBOUNCER, PASSWORDS

USER = "sift_scram"
SIZE = 700 << 20
BOUND_KB = 64 * 1024
CHUNK = b"x" * (1 << 20)


def send_big_query(p, tag, out):
    """A simple query of SIZE bytes: select 'tag' /* xxx...x */."""
    try:
        with wire.RawConn(p.host, p.port, timeout=600) as c:
            c.startup(USER, "siftdb", PASSWORDS[USER])
            head = f"select '{tag}' as tag /*".encode()
            tail = b"*/\0"
            filler = SIZE - len(head) - len(tail)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            c.send(b"Q" + struct.pack("!I", 4 + SIZE) + head)
            view = memoryview(CHUNK)
            while filler > 0:
                n = min(filler, len(CHUNK))
                c.sock.sendall(view[:n])
                filler -= n
            c.send(tail)
            msgs = []
            while True:
                t, payload = c.read_msg(timeout=600)
                msgs.append((t, payload))
                if t == b"Z":
                    break
            out[tag] = msgs
    except Exception as e:  # reported by the test
        out[tag] = e


@pytest.mark.timeout(600)
def test_three_700_mb_queries_stream(pg, pooler, pgbench_tables):
    p = pooler(default_pool_size=5)
    base = Baseline(p, warm=2, clients=5) if not IS_PGBOUNCER else None
    before = rss_kb(p.pid)
    peak = [before]
    out, small = {}, []
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(p.pid))
            time.sleep(0.05)

    def others():
        # a fresh client every 0.2 s: login and a query, timed
        while not done.is_set():
            t0 = time.monotonic()
            try:
                with wire.RawConn(p.host, p.port, timeout=30) as c:
                    c.startup(USER, "siftdb", PASSWORDS[USER])
                    rows, _ = c.query("select 'small'")
                small.append((time.monotonic() - t0, rows))
            except Exception as e:
                small.append((time.monotonic() - t0, e))
            time.sleep(0.2)

    threads = [threading.Thread(target=watch, daemon=True), threading.Thread(target=others, daemon=True)]
    threads += [threading.Thread(target=send_big_query, args=(p, f"big{i}", out), daemon=True) for i in range(3)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads[2:]:
        t.join(560)
    done.set()
    for t in threads[:2]:
        t.join(30)
    grown_mb = (peak[0] - before) / 1024
    print(f"\n3 x 700 MB in {time.monotonic() - t0:.0f} s; RSS {before // 1024} MB -> peak "
          f"{peak[0] // 1024} MB; {len(small)} small clients, slowest {max(s[0] for s in small):.2f} s")
    for i in range(3):
        msgs = out.get(f"big{i}")
        assert isinstance(msgs, list), msgs
        rows = [m for m in msgs if m[0] == b"D"]
        # its own answer, nothing else's
        assert rows == [(b"D", b"\x00\x01\x00\x00\x00\x04" + f"big{i}".encode())], msgs[:4]
        assert not wire.errors_in(msgs), msgs
    assert peak[0] - before <= BOUND_KB, f"pgsift grew by {grown_mb:.0f} MB"
    # the others were served all along, each within a few seconds
    assert len(small) >= 10 and all(isinstance(s[1], list) and s[1] == [["small"]] for s in small), small
    assert max(s[0] for s in small) < 5, sorted(s[0] for s in small)[-5:]
    if base:
        base.check()
