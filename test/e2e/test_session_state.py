"""Session state under transaction pooling (doc/session-state.md).

Every test runs the same per-client script through pgsift in transaction
mode (pool size 1 and 2, clients interleaving statement by statement, so
their transactions land on servers other clients used) and on direct
connections to PostgreSQL, and compares what each client sees after every
step."""

import psycopg
import pytest

from harness import PASSWORDS, exec_simple

USER = "sift_scram"

pytestmark = pytest.mark.pgsift_only("session state carried in transaction mode")

# what a client looks at after each step
PROBE = ("SELECT current_setting('search_path'), current_setting('statement_timeout'), "
         "current_setting('extra_float_digits'), current_setting('lock_timeout'), "
         "current_setting('myapp.tenant_id', true), current_setting('myapp.other', true), "
         "current_setting('work_mem'), current_setting('DateStyle')")


def _direct(pg, **kw):
    return psycopg.connect(pg.tcp_dsn(USER), autocommit=True, prepare_threshold=None, **kw)


def _through(p, **kw):
    return psycopg.connect(p.dsn(USER), autocommit=True, prepare_threshold=None, **kw)


def _probe(conn, simple):
    if simple:
        return tuple(exec_simple(conn, PROBE)[1][0])
    return tuple(conn.execute(PROBE).fetchone())


def _run(conn, sql, simple):
    """One step: its error's SQLSTATE, or None."""
    try:
        if simple:
            exec_simple(conn, sql)
        else:
            conn.execute(sql)
        return None
    except Exception as e:  # AdminError or psycopg.Error
        code = getattr(e, "sqlstate", None)
        return code or "error"


def _script(i):
    """Client i's steps: each a list of statement texts, run one by one
    (a transaction stays inside one step: on pool size 1 the next client
    would wait for it)."""
    return [
        [f"SET search_path = s{i}, public"],
        [f"SET myapp.tenant_id = 't{i}'"],
        ["SELECT 1"],
        [f"SELECT set_config('myapp.other', 'o{i}', false)"],
        [f"SET statement_timeout = {1000 + i}"],
        ["BEGIN", "SET work_mem = '7MB'", "SET LOCAL lock_timeout = 4321", "ROLLBACK"],
        ["SET SESSION lock_timeout TO '5s'"],
        ["BEGIN", f"SET myapp.tenant_id = 'rolled{i}'", "SELECT 1/0", "ROLLBACK"],
        [f"SET work_mem TO '{i + 2}MB'"],
        ["BEGIN", "SET DateStyle = 'German'", f"SET myapp.other = 'c{i}'", "COMMIT"],
        ["BEGIN", "SET lock_timeout = 999", "COMMIT"],
        ["RESET statement_timeout"],
        ["SET myapp.tenant_id TO DEFAULT"],
        [f"SET myapp.tenant_id = 'again{i}'"],
        [f"SET myapp.other = 'x{i}'; SELECT 1/0"],   # an implicit transaction that fails
        [f"SET myapp.other = 'y{i}'; SELECT 1"],
        ["RESET ALL"],
        [f"SET SCHEMA 'sch{i}'"],
        ["SET search_path TO DEFAULT"],
        [f"SELECT pg_catalog.set_config('search_path', 'q{i}, public', false) AS sp"],
        ["SET myapp.tenant_id = 'last'"],
        ["DISCARD ALL"],
        [f"SET extra_float_digits = {i % 3}"],
        ["SET myapp.bad = 1", "SET statement_timeout = 'nonsense'"],
    ]


def _compare(pg, p, nclients, simple, **connect_kw):
    direct = [_direct(pg, **connect_kw) for _ in range(nclients)]
    pooled = [_through(p, **connect_kw) for _ in range(nclients)]
    scripts = [_script(i) for i in range(nclients)]
    seen = 0
    for step in range(len(scripts[0])):
        for i in range(nclients):
            for sql in scripts[i][step]:
                if simple is False and ";" in sql:
                    continue  # the extended protocol runs one statement
                want_err = _run(direct[i], sql, simple)
                got_err = _run(pooled[i], sql, simple)
                assert got_err == want_err, (i, sql, got_err, want_err)
        for i in range(nclients):
            want = _probe(direct[i], simple)
            got = _probe(pooled[i], simple)
            assert got == want, (i, scripts[i][step], got, want)
            seen += 1
    for c in direct + pooled:
        c.close()
    return seen


@pytest.mark.timeout(240)
@pytest.mark.parametrize("pool_size", [1, 2])
@pytest.mark.parametrize("simple", [True, False], ids=["simple", "extended"])
def test_set_replayed_like_a_direct_connection(pg, pooler, pool_size, simple):
    p = pooler(default_pool_size=pool_size)
    assert _compare(pg, p, 4, simple) > 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("simple", [True, False], ids=["simple", "extended"])
def test_set_replayed_without_prepared_statement_tracking(pg, pooler, simple):
    # max_prepared_statements = 0: the relay reads the texts itself
    p = pooler(default_pool_size=1, max_prepared_statements=0)
    assert _compare(pg, p, 3, simple) > 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("pool_size", [1, 2])
def test_startup_options_replayed(pg, pooler, pool_size):
    p = pooler(default_pool_size=pool_size)
    conns, directs = [], []
    for i in range(5):
        opts = f"-c search_path=opt{i},public -c statement_timeout={2000 + i} -c lock_timeout={i + 1}s"
        kw = dict(options=opts, application_name=f"app{i}")
        conns.append(_through(p, **kw))
        directs.append(_direct(pg, **kw))
    for rnd in range(3):
        for i, (c, d) in enumerate(zip(conns, directs)):
            assert _probe(c, rnd % 2 == 0) == _probe(d, rnd % 2 == 0), i
            assert c.execute("SHOW application_name").fetchone()[0] == f"app{i}"
            if rnd == 1:
                for conn in (c, d):
                    conn.execute("SET statement_timeout = 77")
                    conn.execute("RESET lock_timeout")
            if rnd == 2:
                for conn in (c, d):
                    conn.execute("RESET ALL")


def test_startup_options_outside_the_tracked_set(pg, pooler):
    p = pooler(default_pool_size=1)
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter in options: work_mem"):
        _through(p, options="-c work_mem=8MB")
    with pytest.raises(psycopg.OperationalError, match="only '-c config=val' and '--config=val' are allowed"):
        _through(p, options="-Xfoo")
    p3 = pooler(default_pool_size=1, ignore_startup_parameters="work_mem")
    with _through(p3, options="-c work_mem=8MB") as c:
        assert c.execute("SHOW work_mem").fetchone()[0] == "4MB"


def test_ignored_replayable_parameter_is_dropped_as_pgbouncer_does(pg, pooler):
    # a pgbouncer.ini written for JDBC lists extra_float_digits: PgBouncer
    # drops it, and so does pgsift, whatever its value (even a long one)
    p = pooler(default_pool_size=1, ignore_startup_parameters="extra_float_digits")
    with _through(p, options="-c extra_float_digits=2") as c:
        assert c.execute("SHOW extra_float_digits").fetchone()[0] == "1"
    with _through(p, options="-c extra_float_digits=" + "1" * 4096) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    # not listed: replayed
    p2 = pooler(default_pool_size=1)
    with _through(p2, options="-c extra_float_digits=2") as c:
        assert c.execute("SHOW extra_float_digits").fetchone()[0] == "2"
    p2 = pooler(default_pool_size=1, ignore_startup_parameters="options")
    with _through(p2, options="-c work_mem=8MB -c search_path=kept") as c:
        assert c.execute("SHOW work_mem").fetchone()[0] == "4MB"
        assert c.execute("SHOW search_path").fetchone()[0] == "kept"


def test_bad_startup_value_refused_like_postgres(pg, pooler):
    p = pooler(default_pool_size=1)
    with pytest.raises(psycopg.Error, match="statement_timeout"):
        with _through(p, options="-c statement_timeout=abc") as c:
            c.execute("SELECT 1")
    with _through(p) as c:  # the server is fine for others
        assert c.execute("SHOW statement_timeout").fetchone()[0] == "0"


@pytest.mark.timeout(120)
def test_nothing_leaks_to_the_next_client(pg, pooler):
    # pin_session_state = 0: A's temp table, cursor and lock do not keep its
    # server (test_session_pinning.py covers pinning), so B gets it at once
    p = pooler(default_pool_size=1, pin_session_state=0)
    a = _through(p)
    b = _through(p)
    a.execute("SET search_path = leak_a, public")
    a.execute("SET myapp.tenant_id = 'A'")
    a.execute("CREATE TEMP TABLE tmp_a (x int)")
    a.execute("SELECT pg_advisory_lock(4242)")
    a.execute("BEGIN")
    a.execute("DECLARE cur_a CURSOR WITH HOLD FOR SELECT 1")
    a.execute("COMMIT")
    a.execute("LISTEN chan_a")
    pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    # pool size 1: B gets A's server, and none of A's state
    row = b.execute("SELECT pg_backend_pid(), current_setting('search_path'), "
                    "current_setting('myapp.tenant_id', true), to_regclass('pg_temp.tmp_a'), "
                    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
                    "(SELECT count(*) FROM pg_cursors), (SELECT count(*) FROM pg_listening_channels())").fetchone()
    assert row[0] == pid_a
    assert row[1:] == ('"$user", public', None, None, 0, 0, 0) or row[1:] == ('"$user", public', "", None, 0, 0, 0)
    # A's settings are still A's
    assert a.execute("SELECT current_setting('search_path'), current_setting('myapp.tenant_id')").fetchone() == \
        ("leak_a, public", "A")
    a.close()
    b.close()
    # SHOW HAZARDS says what pgsift did about each
    actions = {r["kind"]: r["action"] for r in p.admin_dicts("SHOW HAZARDS")}
    assert actions.get("set") == "replayed", actions
    for kind in ("temp_table", "advisory_lock", "hold_cursor"):
        assert actions.get(kind) == "reset", actions
    assert actions.get("listen") == "fanned_out", actions


@pytest.mark.timeout(120)
def test_set_in_simple_multi_statement_and_psql_script(pg, pooler, tmp_path):
    import subprocess
    from harness import PG_BIN, client_env
    p = pooler(default_pool_size=1)
    script = ("SET search_path = ps1, public;\n"
              "BEGIN; SET myapp.tenant_id = 'x'; ROLLBACK;\n"
              "SELECT current_setting('search_path'), current_setting('myapp.tenant_id', true);\n"
              "SELECT set_config('myapp.tenant_id', 'y', false);\n"
              "SELECT current_setting('myapp.tenant_id');\n")
    f = tmp_path / "s.sql"
    f.write_text(script)
    other = _through(p)
    outs = []
    for host, port in ((p.host, p.port), (pg.host, pg.port)):
        r = subprocess.run([str(PG_BIN / "psql"), "-X", "-At", "-h", host, "-p", str(port), "-U", USER,
                            "-d", "siftdb", "-f", str(f)], env=client_env(USER), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
        other.execute("SELECT 1")
    assert outs[0] == outs[1]
    assert other.execute("SHOW search_path").fetchone()[0] == '"$user", public'


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pool_size", [1, 2])
def test_set_config_with_a_bound_value(pg, pooler, pool_size):
    # the usual way applications set a tenant: set_config(name, $1, false)
    p = pooler(default_pool_size=pool_size)
    conns = [_through(p) for _ in range(5)]
    for rnd in range(4):
        for i, c in enumerate(conns):
            value = None if (rnd == 3 and i % 2) else f"tenant-{i}-{rnd}"
            c.execute("SELECT set_config('myapp.tenant_id', %s, false)", [value])
            c.execute("SELECT set_config('myapp.local', %s::text, true)", ["local"])
        for i, c in enumerate(conns):
            want = "" if (rnd == 3 and i % 2) else f"tenant-{i}-{rnd}"
            got = c.execute("SELECT current_setting('myapp.tenant_id'), "
                            "current_setting('myapp.local', true)").fetchone()
            assert got[0] == want, (i, rnd, got)
            assert got[1] in ("", None), (i, rnd, got)
    for c in conns:
        c.close()


def _run_rows(conn, sql, simple):
    """One statement: (its error's SQLSTATE or None, its rows)."""
    try:
        if simple:
            return None, exec_simple(conn, sql)[1]
        cur = conn.execute(sql)
        return None, cur.fetchall() if cur.description else None
    except Exception as e:
        return getattr(e, "sqlstate", None) or "error", None


def _prepare_script(i):
    return [
        [f"PREPARE q(int) AS SELECT $1 + {i}"],
        ["EXECUTE q(1)"],
        ["PREPARE q AS SELECT 1"],                 # 42P05
        ["EXECUTE nosuch"],                        # 26000
        ["EXECUTE q(1, 2)"],                       # 42601
        ["BEGIN", f"PREPARE r AS SELECT 'r{i}'", "ROLLBACK"],   # not transactional
        ["EXECUTE r"],
        [f"SET search_path = sp{i}, public"],
        ["PREPARE \"Mixed Case\" AS SELECT current_setting('search_path')"],
        ['EXECUTE "Mixed Case"'],
        ["DEALLOCATE q"],
        ["EXECUTE q(1)"],                          # 26000
        ["DEALLOCATE PREPARE r"],
        ["DEALLOCATE r"],                          # 26000
        ["PREPARE t AS SELECT count(*), string_agg(name, ',' ORDER BY name) FROM pg_prepared_statements"],
        ["EXECUTE t"],
        ["RESET ALL"],
        ["EXECUTE t"],                             # survives RESET ALL
        ["DEALLOCATE ALL"],
        ["EXECUTE t"],                             # 26000
        [f"PREPARE u AS SELECT {i}"],
        ["DISCARD ALL"],
        ["EXECUTE u"],                             # 26000
        [f"PREPARE v AS SELECT 'v{i}' -- a comment"],
        ["EXECUTE v"],
    ]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("pool_size", [1, 2])
@pytest.mark.parametrize("simple", [True, False], ids=["simple", "extended"])
def test_sql_prepare_mapped_like_a_direct_connection(pg, pooler, pool_size, simple):
    p = pooler(default_pool_size=pool_size)
    n = 4
    direct = [_direct(pg) for _ in range(n)]
    pooled = [_through(p) for _ in range(n)]
    scripts = [_prepare_script(i) for i in range(n)]
    for step in range(len(scripts[0])):
        for i in range(n):
            for sql in scripts[i][step]:
                want = _run_rows(direct[i], sql, simple)
                got = _run_rows(pooled[i], sql, simple)
                assert got == want, (i, sql, got, want)
    for c in direct + pooled:
        c.close()


def test_sql_prepare_php_style_psql_script(pg, pooler, tmp_path):
    import subprocess
    from harness import PG_BIN, client_env
    p = pooler(default_pool_size=1)
    f = tmp_path / "php.sql"
    f.write_text("PREPARE ins(int) AS SELECT $1 * 2;\n"
                 "EXECUTE ins(21);\n"
                 "BEGIN;\nEXECUTE ins(4);\nCOMMIT;\n"
                 "EXECUTE ins(5);\n"
                 "DEALLOCATE ins;\n")
    other = _through(p)
    outs = []
    for host, port in ((p.host, p.port), (pg.host, pg.port)):
        r = subprocess.run([str(PG_BIN / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port),
                            "-U", USER, "-d", "siftdb", "-f", str(f)], env=client_env(USER), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
        # another client of the one server sees no statement of psql's
        assert other.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'ins'").fetchone() == (0,)
    assert outs[0] == outs[1]


def test_set_inside_a_do_block_does_not_leak(pg, pooler):
    """A SET inside an anonymous block cannot be replayed: the server is
    reset before the next client gets it (pool size 1), so B never sees
    A's setting (A loses it at its next transaction: doc/session-state.md)."""
    p = pooler(default_pool_size=1)
    a = _through(p)
    b = _through(p)
    a.execute("DO $$BEGIN SET search_path = do_a, public; EXECUTE 'SET myapp.tenant_id = ''A'''; END$$")
    row = b.execute("SELECT current_setting('search_path'), current_setting('myapp.tenant_id', true)").fetchone()
    assert row in (('"$user", public', None), ('"$user", public', "")), row
