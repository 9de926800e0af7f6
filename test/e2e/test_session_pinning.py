"""State that cannot be replayed is pinned (doc/session-state.md, Pinning).

In transaction mode a client that creates a temp table, a WITH HOLD cursor,
a session advisory lock or runs SET ROLE keeps its server until that state
is gone or it leaves. Each test runs the same steps through pgsift (pool
size 1 and 2, clients interleaving) and on direct connections, and compares
what every client sees; SHOW CLIENTS / SERVERS / POOLS say who is pinned."""

import subprocess
import threading
import time

import psycopg
import pytest

import harness
import httpkit
from harness import AdminError, client_env, exec_simple, free_port, wait_for

USER = "sift_scram"

pytestmark = pytest.mark.pgsift_only("pinning of session state in transaction mode")

# kind: (steps that create it, a statement the owner repeats, what another
# client looks at, steps that remove it (the last one unpins))
KINDS = {
    "temp_table": (["CREATE TEMP TABLE pin_t (x int)", "INSERT INTO pin_t VALUES (1)"],
                   "SELECT count(*) FROM pin_t",
                   "SELECT to_regclass('pg_temp.pin_t') IS NULL",
                   ["DROP TABLE pin_t"]),
    "cursor": (["BEGIN", "DECLARE pin_c CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 9) g", "COMMIT"],
               "FETCH 1 FROM pin_c",
               "SELECT count(*) FROM pg_cursors",
               ["CLOSE pin_c"]),
    "advisory_lock": (["SELECT pg_advisory_lock(7701)", "SELECT pg_advisory_lock(7701)"],
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
                      "SELECT pg_try_advisory_xact_lock(7701)",
                      ["SELECT pg_advisory_unlock(7701)", "SELECT pg_advisory_unlock(7701)"]),
    "role": (["SET ROLE pin_role"],
             "SELECT current_user",
             "SELECT current_user",
             ["RESET ROLE"]),
}


@pytest.fixture(scope="module")
def pin_role(pg):
    with pg.connect() as c:
        c.autocommit = True
        if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = 'pin_role'").fetchone():
            c.execute("CREATE ROLE pin_role")
        c.execute("GRANT pin_role TO sift_scram")
    return "pin_role"


def _direct(pg, app):
    return psycopg.connect(pg.tcp_dsn(USER), autocommit=True, prepare_threshold=None, application_name=app)


def _through(p, app, **kw):
    return psycopg.connect(p.dsn(USER, application_name=app, **kw), autocommit=True, prepare_threshold=None)


def _run(conn, sql, simple):
    """One statement: ('ok', rows) or ('err', SQLSTATE)."""
    try:
        if simple:
            return "ok", [tuple(r) for r in exec_simple(conn, sql)[1]]
        cur = conn.execute(sql)
        return "ok", [tuple(str(v) if v is not None else None for v in r) for r in cur.fetchall()] \
            if cur.description else []
    except AdminError as e:
        return "err", e.sqlstate
    except psycopg.Error as e:
        return "err", e.sqlstate


def _norm(res):
    """Simple and extended results compare as text."""
    kind, val = res
    if kind == "ok":
        return kind, [tuple(None if v is None else str(v) for v in r) for r in val]
    return res


def _client(p, app):
    rows = [r for r in p.admin_dicts("SHOW CLIENTS") if r["application_name"] == app]
    assert len(rows) == 1, rows
    return rows[0]


def _pinned(p, app):
    return _client(p, app)["pinned"]


def _wait_pinned(p, app, want):
    """The probe that tells what is pinned runs after the client got its
    ReadyForQuery: SHOW CLIENTS says so a moment later."""
    wait_for(lambda: _pinned(p, app) == want, what=f"{app} pinned = {want!r}")
    return True


def _server_of(p, app):
    c = _client(p, app)
    rows = [r for r in p.admin_dicts("SHOW SERVERS") if r["ptr"] == c["link"]]
    return rows[0] if rows else None


class Pair:
    """The same client on a direct connection and through pgsift: each
    statement runs on both and must give the same answer."""

    def __init__(self, pg, p, app, simple):
        self.direct = _direct(pg, app)
        self.pooled = _through(p, app)
        self.simple = simple

    def run(self, sql):
        # the direct twin locks other keys: it must not wait for the pooled one
        want = _norm(_run(self.direct, sql.replace("(77", "(88"), self.simple))
        got = _norm(_run(self.pooled, sql, self.simple))
        assert got == want, (sql, got, want)
        return got

    def pid(self):
        return self.pooled.execute("SELECT pg_backend_pid()").fetchone()[0]

    def close(self):
        self.direct.close()
        self.pooled.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("simple", [True, False], ids=["simple", "extended"])
def test_pinned_and_released_like_a_direct_connection(pg, pooler, pin_role, kind, simple):
    """Pool size 2, A and B interleaving: A keeps its server (and its state,
    across transactions) while B works beside it and never sees A's state;
    the statement that removes the state lets the server go."""
    p = pooler(default_pool_size=2)
    create, use, other, release = KINDS[kind]
    a, b = Pair(pg, p, "pin_a", simple), Pair(pg, p, "pin_b", simple)
    b.run(other)
    for sql in create:
        a.run(sql)
        b.run(other)
    assert _wait_pinned(p, "pin_a", kind)
    assert _wait_pinned(p, "pin_b", "")
    pid = a.pid()
    for _ in range(3):  # separate transactions: the same server, the state intact
        a.run(use)
        b.run(other)
        b.run("SELECT 1")
        assert a.pid() == pid
    assert _server_of(p, "pin_a")["pinned"] == kind
    pool = p.pool_row()
    assert pool["cl_pinned"] == "1", pool
    for sql in release[:-1]:
        a.run(sql)
        assert _wait_pinned(p, "pin_a", kind)
    a.run(release[-1])
    wait_for(lambda: p.pool_row()["cl_pinned"] == "0", what="cl_pinned back to 0")
    assert _wait_pinned(p, "pin_a", "")
    assert _client(p, "pin_a")["link"] == ""  # the server went back to the pool
    b.run(other)
    a.run("SELECT 1")
    a.close()
    b.close()


@pytest.mark.timeout(120)
def test_pool_size_1_next_client_waits_for_the_release(pg, pooler):
    """Pool size 1: B's statement waits while A is pinned, runs on A's server
    once A drops its temp table, and sees nothing of A."""
    p = pooler(default_pool_size=1, query_wait_timeout=60)
    a = _through(p, "pin_a")
    b = _through(p, "pin_b")
    a.execute("CREATE TEMP TABLE pin_t (x int)")
    a.execute("INSERT INTO pin_t VALUES (1), (2)")
    pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    got = []
    t = threading.Thread(target=lambda: got.append(
        b.execute("SELECT pg_backend_pid(), to_regclass('pg_temp.pin_t')").fetchone()))
    t.start()
    wait_for(lambda: p.pool_row()["cl_waiting"] == "1", what="B waits")
    assert a.execute("SELECT count(*) FROM pin_t").fetchone()[0] == 2
    a.execute("DROP TABLE pin_t")
    t.join(30)
    assert got == [(pid, None)]
    assert p.pool_row()["cl_pinned"] == "0"


@pytest.mark.timeout(120)
def test_client_leaving_while_pinned_leaves_a_clean_server(pg, pooler, pin_role):
    p = pooler(default_pool_size=1)
    a = _through(p, "pin_a")
    a.execute("CREATE TEMP TABLE pin_t (x int)")
    a.execute("SELECT pg_advisory_lock(7702)")
    a.execute("BEGIN")
    a.execute("DECLARE pin_c CURSOR WITH HOLD FOR SELECT 1")
    a.execute("COMMIT")
    a.execute("SET ROLE pin_role")
    assert _wait_pinned(p, "pin_a", "temp_table,cursor,advisory_lock,role")
    pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    a.close()
    wait_for(lambda: p.pool_row()["cl_pinned"] == "0", what="A no longer counted")
    b = _through(p, "pin_b")
    row = b.execute("SELECT pg_backend_pid(), to_regclass('pg_temp.pin_t'), current_user, "
                    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), "
                    "(SELECT count(*) FROM pg_cursors)").fetchone()
    assert row == (pid, None, USER, 0, 0)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("simple", [True, False], ids=["simple", "extended"])
@pytest.mark.parametrize("mps", [200, 0], ids=["ps", "no_ps"])
def test_cap_refuses_the_statement_that_would_pin(pg, pooler, simple, mps):
    """max_pinned_per_pool = 1: B's pinning statement gets 53300 (outside and
    inside a transaction block, where the block fails as PostgreSQL fails
    it), nothing of it happens, and B keeps working; with and without
    prepared statement tracking (max_prepared_statements = 0)."""
    p = pooler(default_pool_size=3, max_pinned_per_pool=1, max_prepared_statements=mps)
    a = _through(p, "pin_a")
    b = _through(p, "pin_b")
    a.execute("CREATE TEMP TABLE pin_t (x int)")
    assert p.pool_row()["cl_pinned"] == "1"

    def run(sql, params=None):
        if simple:
            rows = exec_simple(b, sql)[1]
        else:
            cur = b.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        return [tuple(str(v) for v in r) for r in rows]

    for sql, params in (("CREATE TEMP TABLE pin_b (x int)", None), ("SELECT pg_advisory_lock(%s)", [7703])):
        if simple and params:
            sql, params = sql % params[0], None
        with pytest.raises((AdminError, psycopg.Error)) as e:
            run(sql, params)
        assert e.value.sqlstate == "53300", e.value
        assert "max_pinned_per_pool" in str(e.value)
        assert run("SELECT 1") == [("1",)]
    # inside a transaction block: the block fails
    run("BEGIN")
    run("SELECT 1")
    with pytest.raises((AdminError, psycopg.Error)) as e:
        run("SELECT pg_advisory_lock(7704)")
    assert e.value.sqlstate == "53300"
    with pytest.raises((AdminError, psycopg.Error)) as e:
        run("SELECT 1")
    assert e.value.sqlstate == "25P02"
    run("ROLLBACK")
    assert b.execute("SELECT to_regclass('pg_temp.pin_b'), (SELECT count(*) FROM pg_locks "
                     "WHERE locktype = 'advisory')").fetchone() == (None, 0)
    assert _pinned(p, "pin_b") == "" and p.pool_row()["cl_pinned"] == "1"
    # once A lets go, B may pin
    a.execute("DROP TABLE pin_t")
    wait_for(lambda: p.pool_row()["cl_pinned"] == "0", what="A released")
    run("CREATE TEMP TABLE pin_b (x int)")
    assert _wait_pinned(p, "pin_b", "temp_table")
    with pytest.raises(psycopg.Error) as e:
        a.execute("SELECT pg_advisory_lock(7705)")
    assert e.value.sqlstate == "53300"
    # SHOW HAZARDS counts the refusal of each kind and the time pinned
    rows = {r["kind"]: r for r in p.admin_dicts("SHOW HAZARDS")}
    assert rows["temp_table"]["refused"] == "1", rows["temp_table"]
    assert float(rows["temp_table"]["pinned_s"]) > 0, rows["temp_table"]


@pytest.mark.timeout(120)
def test_pin_session_state_off_is_the_old_behaviour(pg, pooler):
    """Off: nothing is pinned; the server is reset (DISCARD ALL) before the
    next client gets it, so the state is lost to its owner but never seen
    by another client."""
    p = pooler(default_pool_size=1, pin_session_state=0)
    a = _through(p, "pin_a")
    b = _through(p, "pin_b")
    a.execute("CREATE TEMP TABLE pin_t (x int)")
    a.execute("SELECT pg_advisory_lock(7706)")
    pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert p.pool_row()["cl_pinned"] == "0" and _pinned(p, "pin_a") == ""
    assert b.execute("SELECT pg_backend_pid(), to_regclass('pg_temp.pin_t'), "
                     "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')").fetchone() == (pid, None, 0)
    with pytest.raises(psycopg.errors.UndefinedTable):
        a.execute("SELECT * FROM pin_t")
    actions = {r["kind"]: r["action"] for r in p.admin_dicts("SHOW HAZARDS")}
    assert actions.get("temp_table") == "reset" and actions.get("advisory_lock") == "reset", actions


@pytest.mark.timeout(120)
def test_hazards_and_metrics_say_pinned(pg, pooler):
    p = pooler(default_pool_size=4, http_port=free_port())
    a = _through(p, "pin_a")
    a.execute("CREATE TEMP TABLE pin_t (x int)")
    a.execute("SELECT pg_try_advisory_lock(7707)")
    actions = {r["kind"]: r["action"] for r in p.admin_dicts("SHOW HAZARDS")}
    assert actions.get("temp_table") == "pinned" and actions.get("advisory_lock") == "pinned", actions
    status, _, body = httpkit.get(int(p.settings["http_port"]), "/metrics")
    samples = httpkit.parse(body.decode())
    assert httpkit.value(samples, "pgsift_pool_pinned_clients", database="siftdb", user=USER) == 1
    # a failed pg_try_advisory_lock pins nothing (another client holds it)
    b = _through(p, "pin_b")
    assert b.execute("SELECT pg_try_advisory_lock(7707)").fetchone() == (False,)
    assert _wait_pinned(p, "pin_b", "")
    a.execute("DROP TABLE pin_t")
    assert _wait_pinned(p, "pin_a", "advisory_lock")
    a.execute("SELECT pg_advisory_unlock_all()")
    wait_for(lambda: p.pool_row()["cl_pinned"] == "0", what="released")
    # the time A was pinned stays in SHOW HAZARDS, and stops growing
    def pinned_s():
        return {r["kind"]: float(r["pinned_s"]) for r in p.admin_dicts("SHOW HAZARDS")}
    first = pinned_s()
    assert first["temp_table"] > 0 and first["advisory_lock"] >= first["temp_table"], first
    time.sleep(0.3)
    assert pinned_s() == first


@pytest.mark.timeout(180)
def test_pgbench_select_only_pins_nothing(pg, pooler, pgbench_tables):
    p = pooler(default_pool_size=2)
    r = subprocess.run([harness.PGBENCH, "-S", "-n", "-c", "4", "-t", "200", "-h", p.host, "-p", str(p.port),
                        "-U", USER, "siftdb"], env=client_env(), capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stdout + r.stderr
    pool = p.pool_row()
    assert pool["cl_pinned"] == "0", pool
    assert "session state on its server" not in p.log()


@pytest.mark.timeout(120)
def test_asyncpg_named_statements_pin_and_release(pg, pooler):
    """asyncpg prepares every statement under a name and runs it again with
    Bind/Execute only: the lock taken by the cached statement pins, its
    unlock releases, and taking it again through the cache pins again."""
    import asyncio

    import asyncpg
    from harness import PASSWORDS

    p = pooler(default_pool_size=2)

    async def main():
        a = await asyncpg.connect(host=p.host, port=p.port, user=USER, password=PASSWORDS[USER],
                                  database="siftdb", timeout=30, server_settings={"application_name": "pin_a"})
        try:
            pid = await a.fetchval("SELECT pg_backend_pid()")
            for _ in range(2):  # the second round runs the cached (named) statements
                assert await a.fetchval("SELECT pg_advisory_lock($1)", 7708) is None
                await asyncio.to_thread(_wait_pinned, p, "pin_a", "advisory_lock")
                assert await a.fetchval("SELECT pg_backend_pid()") == pid
                assert await a.fetchval("SELECT pg_advisory_unlock($1)", 7708) is True
                await asyncio.to_thread(_wait_pinned, p, "pin_a", "")
        finally:
            await a.close()

    asyncio.run(main())
    wait_for(lambda: p.pool_row()["cl_pinned"] == "0", what="cl_pinned back to 0")


@pytest.mark.timeout(120)
def test_asyncpg_refused_at_the_cap_and_keeps_working(pg, pooler):
    """asyncpg's extended protocol (named statements): the refusal comes back
    as 53300, in and out of a transaction block, and the connection works on."""
    import asyncio

    import asyncpg
    from harness import PASSWORDS

    p = pooler(default_pool_size=2, max_pinned_per_pool=1)
    a = _through(p, "pin_a")
    a.execute("CREATE TEMP TABLE pin_t (x int)")

    async def main():
        b = await asyncpg.connect(host=p.host, port=p.port, user=USER, password=PASSWORDS[USER],
                                  database="siftdb", timeout=30)
        try:
            for _ in range(2):
                with pytest.raises(asyncpg.PostgresError) as e:
                    await asyncio.wait_for(b.fetchval("SELECT pg_advisory_lock($1)", 7709), 20)
                assert e.value.sqlstate == "53300"
                assert await b.fetchval("SELECT 1 + $1::int", 1) == 2
            await b.execute("BEGIN")
            with pytest.raises(asyncpg.PostgresError) as e:
                await asyncio.wait_for(b.fetchval("SELECT pg_advisory_lock($1)", 7709), 20)
            assert e.value.sqlstate == "53300"
            with pytest.raises(asyncpg.PostgresError) as e:
                await b.fetchval("SELECT 1 + $1::int", 1)
            assert e.value.sqlstate == "25P02"
            await b.execute("ROLLBACK")
            assert await b.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        finally:
            await b.close()

    asyncio.run(main())
    assert p.pool_row()["cl_pinned"] == "1"
