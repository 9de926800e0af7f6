"""LISTEN fanned out under transaction pooling (doc/session-state.md,
"LISTEN fanned out").

Clients LISTEN through pgsift in transaction mode, where they have no
server of their own between transactions; one listener connection per pool
LISTENs for them and pgsift copies each notification to every client that
listens on its channel, while the client idles, in the server's order, as
a direct connection would deliver them."""

import asyncio
import select
import threading
import time

import psycopg
import pytest

from harness import PASSWORDS, wait_for

USER = "sift_scram"

pytestmark = pytest.mark.pgsift_only("LISTEN fanned out in transaction mode")


def _through(p, **kw):
    return psycopg.connect(p.dsn(USER), autocommit=True, prepare_threshold=None, **kw)


def _direct(pg, **kw):
    return psycopg.connect(pg.tcp_dsn(USER), autocommit=True, prepare_threshold=None, **kw)


class Inbox:
    """Notifications of one connection, read while it idles (libpq's own
    reading, no query sent) and while psycopg runs queries (its handler)."""

    def __init__(self, conn):
        self.conn = conn
        self.got = []
        conn.add_notify_handler(lambda n: self.got.append((n.channel, n.payload, n.pid)))

    def drain(self):
        pg = self.conn.pgconn
        pg.consume_input()
        while (n := pg.notifies()) is not None:
            self.got.append((n.relname.decode(), n.extra.decode(), n.be_pid))

    def wait(self, count, timeout=20.0):
        """Reads until count notifications came (or timeout); returns them
        without the pid."""
        end = time.monotonic() + timeout
        self.drain()
        while len(self.got) < count and time.monotonic() < end:
            r, _, _ = select.select([self.conn.fileno()], [], [], max(0.0, end - time.monotonic()))
            if r:
                self.drain()
        return [(c, pl) for c, pl, _ in self.got]

    def quiet(self, seconds=0.5):
        """Nothing more arrives for a while: what came, without the pid."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.conn.fileno()], [], [], max(0.0, end - time.monotonic()))
            if r:
                self.drain()
        return [(c, pl) for c, pl, _ in self.got]


def _listeners(p):
    rows = p.admin_dicts("SHOW LISTENERS")
    for r in rows:
        for k, v in r.items():
            if k not in ("database", "user", "state", "paused"):
                r[k] = int(v) if v is not None else None
    return rows


# channel spellings as PostgreSQL reads them: unquoted is folded, quoted kept
SPELL = [("LISTEN Chan_A", "chan_a"), ('LISTEN "Chan_B"', "Chan_B"), ("listen chan_c", "chan_c")]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("pool_size", [1, 2])
def test_fifty_clients_three_channels(pg, pooler, pool_size):
    p = pooler(default_pool_size=pool_size)
    clients = []
    for i in range(50):
        c = _through(p)
        mine = {SPELL[i % 3][1]}
        c.execute(SPELL[i % 3][0])
        if i % 5 == 0:  # some listen on two channels
            c.execute(SPELL[(i + 1) % 3][0])
            mine.add(SPELL[(i + 1) % 3][1])
        clients.append((Inbox(c), mine))
    # a direct connection listening on all three: what PostgreSQL delivers
    d = _direct(pg)
    dbox = Inbox(d)
    for sql, _ in SPELL:
        d.execute(sql)
    sender = _through(p)
    sent = []
    for k in range(30):
        ch = SPELL[k % 3][1]
        sender.execute("SELECT pg_notify(%s, %s)", (ch, f"payload {k} é"))
        sent.append((ch, f"payload {k} é"))
    assert dbox.wait(len(sent)) == sent
    for box, mine in clients:
        want = [n for n in sent if n[0] in mine]
        assert box.wait(len(want)) == want
    # nothing more, and nothing twice
    for box, mine in clients[:5]:
        assert box.quiet(0.3) == [n for n in sent if n[0] in mine]
    rows = _listeners(p)
    assert len(rows) == 1 and rows[0]["channels"] == 3 and rows[0]["clients"] == 50, rows
    assert rows[0]["subscriptions"] == 60 and rows[0]["state"] == "listening"
    # the listener is not one of the pool's servers
    pool = p.pool_row()
    assert sum(int(pool[k]) for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")) <= pool_size
    # pg_listening_channels() on a pooled server does not show them
    assert sender.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0] == 0
    for box, _ in clients:
        box.conn.close()
    wait_for(lambda: _listeners(p) == [], what="the listener closes when nobody listens")


@pytest.mark.timeout(120)
def test_own_notify_delivered_once(pg, pooler):
    p = pooler(default_pool_size=1)
    a = _through(p)
    box = Inbox(a)
    a.execute("LISTEN selfchan")
    pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    a.execute("NOTIFY selfchan, 'mine'")
    got = box.wait(1)
    assert got == [("selfchan", "mine")]
    # the notifying backend's pid, as PostgreSQL sets it (the pooled server)
    assert box.got[0][2] == pid
    assert box.quiet(0.5) == [("selfchan", "mine")]


@pytest.mark.timeout(120)
def test_notifies_generator_while_idle(pg, pooler):
    """psycopg 3's conn.notifies() in autocommit, waiting while idle."""
    p = pooler(default_pool_size=1)
    a = _through(p)
    a.execute("LISTEN idlechan")
    got = []

    def reader():
        for n in a.notifies():
            got.append((n.channel, n.payload))
            if n.payload == "stop":
                break

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)  # the reader idles in libpq
    with _direct(pg) as s:
        for k in range(5):
            s.execute("SELECT pg_notify('idlechan', %s)", (str(k),))
            time.sleep(0.05)
        s.execute("NOTIFY idlechan, 'stop'")
    t.join(20)
    assert not t.is_alive()
    assert got == [("idlechan", str(k)) for k in range(5)] + [("idlechan", "stop")]


@pytest.mark.timeout(120)
def test_asyncpg_add_listener(pg, pooler):
    import asyncpg
    p = pooler(default_pool_size=1)

    async def run():
        got = {0: [], 1: []}
        conns = []
        for i in range(2):  # the second Parse of the same LISTEN text is one pgsift knows
            c = await asyncpg.connect(host=p.host, port=p.port, user=USER, database="siftdb",
                                      password=PASSWORDS[USER], timeout=30)
            conns.append(c)
            await c.add_listener("Async Chan", lambda conn, pid, ch, payload, i=i: got[i].append((ch, payload)))
        sender = await asyncpg.connect(host=pg.host, port=pg.port, user=USER, database="siftdb",
                                       password=PASSWORDS[USER], timeout=30)
        for k in range(3):
            await sender.execute(f"NOTIFY \"Async Chan\", 'a{k}'")
        for _ in range(100):
            if all(len(v) == 3 for v in got.values()):
                break
            await asyncio.sleep(0.1)
        assert got[0] == got[1] == [("Async Chan", f"a{k}") for k in range(3)], got
        await conns[0].remove_listener("Async Chan", lambda *a: None)
        await conns[0].execute("UNLISTEN *")
        await sender.execute("NOTIFY \"Async Chan\", 'after'")
        for _ in range(50):
            if len(got[1]) == 4:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        assert got[1][-1] == ("Async Chan", "after") and len(got[0]) == 3, got
        for c in conns + [sender]:
            await c.close()

    asyncio.run(run())


@pytest.mark.timeout(120)
def test_listen_in_transaction_rollback_and_commit(pg, pooler):
    p = pooler(default_pool_size=2)
    s = _direct(pg)
    results = []
    for target in ("direct", "pgsift"):
        a = _direct(pg) if target == "direct" else _through(p)
        box = Inbox(a)
        a.execute("BEGIN")
        a.execute("LISTEN txchan")
        a.execute("ROLLBACK")
        s.execute("NOTIFY txchan, 'after rollback'")
        first = box.quiet(0.5)
        with a.transaction():
            a.execute("LISTEN txchan")
            a.execute("LISTEN other_chan")
            a.execute("UNLISTEN other_chan")
        s.execute("NOTIFY txchan, 'after commit'")
        s.execute("NOTIFY other_chan, 'never'")
        second = box.wait(1)
        # a failed implicit transaction drops its LISTEN
        with pytest.raises(psycopg.errors.DivisionByZero):
            a.execute("LISTEN failchan; SELECT 1/0")
        s.execute("NOTIFY failchan, 'failed'")
        a.execute("UNLISTEN *")
        s.execute("NOTIFY txchan, 'after unlisten all'")
        results.append((first, second, box.quiet(0.5)))
        a.close()
    assert results[0] == results[1] == ([], [("txchan", "after commit")], [("txchan", "after commit")]), results


@pytest.mark.timeout(120)
def test_extended_protocol_listen(pg, pooler):
    """LISTEN through Parse/Bind/Execute (psycopg with parameters, a named
    statement when prepared)."""
    p = pooler(default_pool_size=1)
    a = psycopg.connect(p.dsn(USER), autocommit=True, prepare_threshold=0)
    box = Inbox(a)
    a.execute("LISTEN extchan", prepare=True)
    a.execute("LISTEN ext2", prepare=False)
    with _direct(pg) as s:
        s.execute("NOTIFY extchan, '1'")
        s.execute("NOTIFY ext2, '2'")
    assert box.wait(2) == [("extchan", "1"), ("ext2", "2")]


@pytest.mark.timeout(240)
def test_slow_client_closed_at_the_bound(pg, pooler):
    p = pooler(default_pool_size=1, notify_buffer=1048576)
    slow = _through(p)
    slow.execute("LISTEN slowchan")  # and never reads again
    fast = _through(p)
    box = Inbox(fast)
    fast.execute("LISTEN slowchan")
    n = 4000
    result = []
    reader = threading.Thread(target=lambda: result.append(box.wait(n, timeout=150)), daemon=True)
    reader.start()
    with _direct(pg) as s:
        s.execute("SELECT pg_notify('slowchan', lpad(i::text, 7000, 'x')) FROM generate_series(1, %s) i", (n,))
    reader.join(160)
    got = result[0]
    assert [int(pl.lstrip("x")) for _, pl in got] == list(range(1, n + 1))
    wait_for(lambda: _listeners(p)[0]["clients_closed"] == 1, what="the slow client closed")
    assert _listeners(p)[0]["paused"] in ("f", "false", "0", False)
    with pytest.raises(psycopg.OperationalError):
        for _ in range(10000):
            slow.pgconn.consume_input()
            while slow.pgconn.notifies() is not None:
                pass
            select.select([slow.fileno()], [], [], 0.1)
    assert "53400" in slow.pgconn.error_message.decode() or "notify_buffer" in p.log()
    assert fast.execute("SELECT 1").fetchone() == (1,)
    assert "more than notify_buffer bytes" in p.log()


@pytest.mark.timeout(120)
def test_listener_killed_is_reestablished(pg, pooler):
    p = pooler(default_pool_size=1)
    a = _through(p)
    box = Inbox(a)
    a.execute("LISTEN killchan")
    pid = _listeners(p)[0]["backend_pid"]
    assert pid
    with _direct(pg) as s:
        s.execute("NOTIFY killchan, 'before'")
        assert box.wait(1) == [("killchan", "before")]
        s.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_for(lambda: _listeners(p)[0]["state"] == "listening" and _listeners(p)[0]["backend_pid"] not in (None, pid),
                 what="a new listener connection")
        assert _listeners(p)[0]["reconnects"] == 1
        s.execute("NOTIFY killchan, 'after'")
        assert box.wait(2) == [("killchan", "before"), ("killchan", "after")]
    # the client's own session went on
    assert a.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.timeout(120)
def test_session_mode_unchanged(pg, pooler):
    p = pooler(pool_mode="session", default_pool_size=2)
    a = _through(p)
    box = Inbox(a)
    a.execute("LISTEN sesschan")
    assert a.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0] == 1
    with _direct(pg) as s:
        s.execute("NOTIFY sesschan, 'x'")
    assert box.wait(1) == [("sesschan", "x")]
    assert _listeners(p) == []
    a.close()


@pytest.mark.timeout(120)
def test_held_until_the_transaction_ends(pg, pooler):
    """A notification that comes while the client is in a transaction
    reaches it after the transaction, as PostgreSQL delivers it."""
    p = pooler(default_pool_size=2)
    s = _direct(pg)
    seen = []
    for target in ("direct", "pgsift"):
        a = _direct(pg) if target == "direct" else _through(p)
        box = Inbox(a)
        a.execute("LISTEN heldchan")
        a.execute("BEGIN")
        a.execute("SELECT 1")
        s.execute("NOTIFY heldchan, 'during'")
        time.sleep(0.3)
        a.execute("SELECT 2")
        during = list(box.got)
        a.execute("COMMIT")
        after = box.wait(1)
        seen.append((during, after))
        a.close()
    assert seen[0] == seen[1] == ([], [("heldchan", "during")]), seen


@pytest.mark.timeout(120)
def test_named_statements_without_prepared_tracking(pg, pooler):
    """max_prepared_statements = 0: named statements go to the server as
    they are; their LISTEN is followed all the same."""
    import asyncpg
    p = pooler(default_pool_size=1, max_prepared_statements=0)

    async def run():
        got = []
        c = await asyncpg.connect(host=p.host, port=p.port, user=USER, database="siftdb",
                                  password=PASSWORDS[USER], timeout=30)
        await c.add_listener("np_chan", lambda conn, pid, ch, payload: got.append(payload))
        s = await asyncpg.connect(host=pg.host, port=pg.port, user=USER, database="siftdb",
                                  password=PASSWORDS[USER], timeout=30)
        await s.execute("NOTIFY np_chan, 'x'")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.1)
        assert got == ["x"]
        await c.close()
        await s.close()

    asyncio.run(run())


@pytest.mark.timeout(120)
def test_pinned_client_receives_while_idle(pg, pooler):
    """A client pinned to its server (a temp table) gets its notifications
    between its transactions too, though it keeps its server."""
    p = pooler(default_pool_size=2)
    a = _through(p)
    box = Inbox(a)
    a.execute("CREATE TEMP TABLE pin_me (x int)")
    a.execute("LISTEN pinchan")
    with _direct(pg) as s:
        s.execute("NOTIFY pinchan, 'p1'")
        assert box.wait(1) == [("pinchan", "p1")]
        s.execute("NOTIFY pinchan, 'p2'")
        assert box.wait(2) == [("pinchan", "p1"), ("pinchan", "p2")]
    assert a.execute("SELECT count(*) FROM pin_me").fetchone() == (0,)
    a.close()
