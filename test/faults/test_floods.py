"""Floods of clients: 500 clients on a pool of 5 with query_wait_timeout,
and a storm of 5,000 connections at once.

What users rely on: every answer goes to the client that asked (each query
returns its own client's number), a client that waits too long is told so
with 08P01 at query_wait_timeout (not before, not much after), nobody else
gets an error, and when the flood is over pgsift's RSS and file
descriptors are back where they were."""

import asyncio
import time

import pytest

import wire
from conftest import AsyncClient, Baseline, raise_fd_limit, rss_kb
from harness import IS_PGBOUNCER

WAIT = 3.0


async def one(p, i, sleep, out):
    t0 = time.monotonic()
    c = None
    try:
        c = await AsyncClient.connect(p)
        t1 = time.monotonic()
        rows = await c.query(f"select pg_sleep({sleep}), {i}")
        out[i] = ("ok", rows, time.monotonic() - t1)
    except wire.ServerError as e:
        out[i] = ("error", e.fields, time.monotonic() - t0)
    except Exception as e:  # a connection lost without a word
        out[i] = ("lost", repr(e), time.monotonic() - t0)
    finally:
        if c:
            c.close()


def row_value(rows):
    """The second column of the single row: the client's own number."""
    import struct
    body = rows[0]
    (n,) = struct.unpack("!H", body[:2])
    pos = 2
    vals = []
    for _ in range(n):
        (ln,) = struct.unpack("!i", body[pos:pos + 4])
        pos += 4
        vals.append(body[pos:pos + ln].decode())
        pos += ln
    return vals[1]


@pytest.mark.timeout(180)
def test_500_clients_on_a_pool_of_5_with_query_wait_timeout(pg, pooler):
    p = pooler(default_pool_size=5, query_wait_timeout=int(WAIT), max_client_conn=1000, auth_type="trust")
    base = Baseline(p) if not IS_PGBOUNCER else None
    raise_fd_limit(2000)
    out = {}

    async def flood():
        await asyncio.gather(*(one(p, i, 0.1, out) for i in range(500)))
    t0 = time.monotonic()
    asyncio.run(flood())
    took = time.monotonic() - t0
    served = [i for i, r in out.items() if r[0] == "ok"]
    timed_out = [i for i, r in out.items() if r[0] == "error" and r[1].get("C") == "08P01"
                 and "query_wait_timeout" in r[1].get("M", "")]
    other = {i: r for i, r in out.items() if i not in served and i not in timed_out}
    print(f"\n500 clients: {len(served)} served, {len(timed_out)} timed out, {len(other)} other, {took:.1f} s")
    assert len(out) == 500 and not other, list(other.items())[:5]
    # each answer is its own client's
    assert all(row_value(out[i][1]) == str(i) for i in served)
    # pool 5 x 0.1 s for the length of the wait: about 150 are served
    assert 50 <= len(served) <= 300 and timed_out, (len(served), len(timed_out))
    # told at query_wait_timeout: not before, and not much after
    waits = sorted(out[i][2] for i in timed_out)
    assert waits[0] >= WAIT - 0.05 and waits[-1] <= WAIT + 2.5, (waits[0], waits[-1])
    assert took < 30
    if base:
        base.check()
    assert asyncio.run(_one_query(p)) == "1"


async def _one_query(p):
    c = await AsyncClient.connect(p)
    try:
        rows = await c.query("select 0, 1")
        return row_value(rows)
    finally:
        c.close()


@pytest.mark.timeout(300)
def test_a_storm_of_5000_connections(pg, pooler):
    n = 5000
    p = pooler(default_pool_size=10, max_client_conn=n + 100, auth_type="trust", listen_backlog=4096)
    raise_fd_limit(n + 1000)
    asyncio.run(_one_query(p))
    base = Baseline(p) if not IS_PGBOUNCER else None
    out = {}

    async def storm():
        await asyncio.gather(*(one(p, i, 0, out) for i in range(n)))
    settled = []
    for storm_no in range(2):
        out.clear()
        t0 = time.monotonic()
        asyncio.run(storm())
        took = time.monotonic() - t0
        bad = {i: r for i, r in out.items() if r[0] != "ok"}
        print(f"\n{n} connections: {n - len(bad)} served in {took:.1f} s")
        assert len(out) == n and not bad, (len(bad), list(bad.items())[:5])
        assert all(row_value(r[1]) == str(i) for i, r in out.items())
        assert took < 120
        if base:
            base.check(timeout=60)
            time.sleep(5)           # what the pooler gives back after a burst
            settled.append(rss_kb(p.pid))
    # a second storm leaves no more behind than the first
    if base:
        print(f"RSS baseline {base.rss} kB, after each storm {settled}")
        assert settled[1] <= settled[0] + 8 * 1024, settled
    assert asyncio.run(_one_query(p)) == "1"
