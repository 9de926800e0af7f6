"""The admin console's SQL (doc/admin.md, "SQL on the console"): SELECT over
the views through psql, psycopg 3 (extended protocol) and JDBC, compared with
SHOW output of the same moment; the refused forms; the time and memory
limits; a heavy console query beside pgbench; statistics per time bucket."""

import csv
import datetime
import io
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from harness import PASSWORDS, PGBENCH, REPO_ROOT, AdminError, client_env, exec_simple, wait_for

pytestmark = pytest.mark.skip_pgbouncer("SQL on the console is pgsift's own")

USER = "sift_scram"
ADMIN = "sift_admin"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
PSQL = "/usr/lib/postgresql/15/bin/psql"


def psql(p, sql, user=ADMIN):
    """psql --csv against the console: (header, rows) or AssertionError."""
    r = subprocess.run([PSQL, "-X", "--csv", "-v", "ON_ERROR_STOP=1", p.dsn(user, p.admin_db), "-c", sql],
                       capture_output=True, text=True, timeout=60, env=client_env(user))
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    return rows[0], rows[1:]


def psql_error(p, sql, user=ADMIN):
    """The SQLSTATE psql reports for sql (VERBOSITY verbose prints it)."""
    r = subprocess.run([PSQL, "-X", "-v", "VERBOSITY=verbose", p.dsn(user, p.admin_db), "-c", sql],
                       capture_output=True, text=True, timeout=60, env=client_env(user))
    assert r.returncode != 0, r.stdout
    # "ERROR:  42501: permission denied: ..."
    line = next(l for l in r.stderr.splitlines() if l.startswith("ERROR:"))
    return line.split()[1].rstrip(":"), line


@pytest.fixture(scope="module")
def shop(pg):
    with pg.connect(dbname="siftdb") as c:
        c.execute("drop table if exists sq_child, sq_parent")
        c.execute("create table sq_parent (id int primary key, name text)")
        c.execute("create table sq_child (id serial primary key, parent_id int not null, val text)")
        c.execute("insert into sq_parent select g, 'p' || g from generate_series(1, 50) g")
        c.execute("insert into sq_child (parent_id, val) select g % 50 + 1, 'c' || g from generate_series(1, 150) g")
        c.execute("grant all on sq_parent, sq_child to public")


def workload(p):
    """Statements of several shapes and speeds, an N+1 loop, idle clients
    with three application names; the clients stay open (returned)."""
    c = p.connect(application_name="orders-api")
    for i in range(30):
        c.execute("select %s::int + 1", (i,))
    for i in range(12):
        c.execute("select pg_sleep(%s)", (0.002 * (i % 4),))
    for i in range(6):
        c.execute("select count(*) from sq_child where parent_id > %s", (i,))
    ids = [r[0] for r in c.execute("select id from sq_parent where id <= %s order by id", (15,))]
    for i in ids:
        c.execute("select val from sq_child where parent_id = %s", (i,)).fetchall()
    others = [p.connect(application_name=name) for name in ("billing", "billing", "reports")]
    for o in others:
        o.execute("select 1")
    return [c] + others


@pytest.fixture
def busy(pooler, shop):
    p = pooler(pool_mode="transaction", nplusone_think_time_ms=500, stats_users="sift_stats",
               ignore_startup_parameters="extra_float_digits")
    conns = workload(p)
    wait_for(lambda: any(r["kind"] == "n+1" and "sq_child where parent_id = $1" in r["query"]
                         for r in p.admin_dicts("SHOW NPLUSONE")), what="the N+1 finding")
    yield p, conns


def show(p, what):
    return p.admin_dicts("SHOW " + what)


# ---------------------------------------------------------------- psql

def test_top5_by_p99_matches_show_queries(busy):
    p, _ = busy
    head, rows = psql(p, "SELECT fingerprint, calls, p99_ms FROM queries ORDER BY p99_ms DESC, fingerprint LIMIT 5")
    want = sorted(show(p, "QUERIES"), key=lambda r: (-float(r["p99_ms"]), r["fingerprint"]))[:5]
    assert head == ["fingerprint", "calls", "p99_ms"]
    assert len(rows) == 5
    assert [r[0] for r in rows] == [w["fingerprint"] for w in want]
    assert [int(r[1]) for r in rows] == [int(w["calls"]) for w in want]
    # SHOW rounds to three decimals; SELECT gives the float8 itself
    assert [round(float(r[2]), 3) for r in rows] == [float(w["p99_ms"]) for w in want]


def test_join_nplusone_with_queries_on_the_repeated_fingerprint(busy):
    p, _ = busy
    head, rows = psql(p, "SELECT n.kind, n.fingerprint, q.calls, q.query, n.max_count "
                         "FROM nplusone n JOIN queries q ON q.fingerprint = n.fingerprint "
                         "AND q.database = n.database WHERE n.kind = 'n+1' AND q.query LIKE '%parent_id = $1'")
    assert len(rows) == 1, rows
    kind, fp, calls, query, max_count = rows[0]
    finding = next(r for r in show(p, "NPLUSONE") if r["kind"] == "n+1" and r["query"].endswith("parent_id = $1"))
    q = next(r for r in show(p, "QUERIES") if r["fingerprint"] == finding["fingerprint"])
    assert fp == finding["fingerprint"] and query == q["query"] == finding["query"]
    assert int(calls) == int(q["calls"]) == 15 and int(max_count) == 15
    assert "sq_child" in query


def test_aggregate_over_clients_by_application_name(busy):
    p, _ = busy
    head, rows = psql(p, "SELECT application_name, count(*) AS n FROM clients WHERE type = 'C' "
                         "AND database = 'siftdb' GROUP BY application_name ORDER BY application_name")
    counts = {}
    for r in show(p, "CLIENTS"):
        if r["database"] == "siftdb":
            counts[r["application_name"]] = counts.get(r["application_name"], 0) + 1
    assert head == ["application_name", "n"]
    assert {a: int(n) for a, n in rows} == counts == {"orders-api": 1, "billing": 2, "reports": 1}


def test_window_function_over_query_history(busy):
    p, _ = busy
    # the latest bucket with this database's statements: the one in progress,
    # or the one before it when a bucket boundary passed since the workload
    latest = "(SELECT max(bucket_start) FROM query_history WHERE database = 'siftdb')"
    head, rows = psql(p, "SELECT fingerprint, calls, rank() OVER (ORDER BY calls DESC, fingerprint) AS rnk, "
                         "sum(calls) OVER () AS all_calls FROM query_history WHERE database = 'siftdb' "
                         f"AND bucket_start = {latest} ORDER BY rnk")
    assert rows, "no bucket holds the workload's statements"
    hist = [r for r in show(p, "QUERY_HISTORY") if r["database"] == "siftdb"]
    last = max(r["bucket_start"] for r in hist)
    want = sorted((r for r in hist if r["bucket_start"] == last), key=lambda r: (-int(r["calls"]), r["fingerprint"]))
    assert [r[0] for r in rows] == [w["fingerprint"] for w in want]
    assert [int(r[2]) for r in rows] == list(range(1, len(want) + 1))
    assert {int(r[3]) for r in rows} == {sum(int(w["calls"]) for w in want)}
    # a bucket holds at most what SHOW QUERIES counts since the start
    queries = {r["fingerprint"]: int(r["calls"]) for r in show(p, "QUERIES") if r["database"] == "siftdb"}
    for r in rows:
        assert int(r[1]) <= queries[r[0]]


def test_discovery_views_and_columns(busy):
    p, _ = busy
    _, views = psql(p, "SELECT name FROM views ORDER BY name")
    names = {r[0] for r in views}
    assert {"queries", "pools", "nplusone", "query_history", "pool_history", "views", "columns"} <= names
    _, cols = psql(p, "SELECT name, sql_type, unit FROM columns WHERE view = 'queries' ORDER BY position")
    cols = [tuple(c) for c in cols]
    assert cols[0] == ("fingerprint", "text", "")
    assert ("calls", "int8", "count") in cols and ("p99_ms", "float8", "ms") in cols
    assert ("last_seen", "timestamptz", "time") in cols
    assert [c[0] for c in cols] == [k for k in show(p, "QUERIES")[0].keys()]


def test_multi_statement_query_returns_every_result(busy):
    p, _ = busy
    with psycopg.connect(p.dsn(ADMIN, p.admin_db), autocommit=True) as conn:
        res = conn.pgconn.exec_(b"SELECT 1 AS a; SELECT count(*) AS n FROM pools")
        # libpq keeps the last result of a multi-statement Query
        assert res.fname(0) == b"n" and int(res.get_value(0, 0)) == len(show(p, "POOLS"))


def test_stats_users_may_select_and_others_may_not(busy):
    p, _ = busy
    _, rows = psql(p, "SELECT count(*) FROM queries", user="sift_stats")
    assert int(rows[0][0]) == len(show(p, "QUERIES"))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(p.dsn(USER, p.admin_db), autocommit=True).close()


# ---------------------------------------------------------------- typed values

def test_psycopg_extended_protocol_with_a_parameter_gets_typed_values(busy):
    p, _ = busy
    with psycopg.connect(p.dsn(ADMIN, p.admin_db), autocommit=True) as conn:
        rows = conn.execute("SELECT fingerprint, calls, mean_ms, last_seen, partial FROM queries "
                            "WHERE calls >= %s ORDER BY calls DESC, fingerprint", (10,)).fetchall()
        assert rows, "no query with 10 calls or more"
        want = sorted((r for r in show(p, "QUERIES") if int(r["calls"]) >= 10),
                      key=lambda r: (-int(r["calls"]), r["fingerprint"]))
        assert [r[0] for r in rows] == [w["fingerprint"] for w in want]
        fp, calls, mean_ms, last_seen, partial = rows[0]
        assert isinstance(calls, int) and calls == int(want[0]["calls"])
        assert isinstance(mean_ms, float) and round(mean_ms, 3) == float(want[0]["mean_ms"])
        assert isinstance(last_seen, datetime.datetime) and last_seen.tzinfo is not None
        shown = datetime.datetime.strptime(want[0]["last_seen"], "%Y-%m-%d %H:%M:%S UTC").replace(
            tzinfo=datetime.timezone.utc)
        assert shown <= last_seen < shown + datetime.timedelta(seconds=1)
        # binary results, and the same statement named and run again
        cur = conn.cursor(binary=True)
        brow = cur.execute("SELECT calls, last_seen, mean_ms FROM queries WHERE fingerprint = %s",
                           (fp,)).fetchone()
        assert brow == (calls, last_seen, mean_ms)
        for _ in range(3):
            assert conn.execute("SELECT count(*) FROM queries WHERE calls >= %s", (10,),
                                prepare=True).fetchone()[0] == len(want)
        # an error in a batch, then the connection goes on
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_view WHERE x = %s", (1,))
        assert conn.execute("SHOW VERSION").fetchone()[0].startswith("pgsift ")


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
    assert JDBC_JAR.exists(), "libpostgresql-jdbc-java is not installed (contrib/deps.sh test)"
    out = tmp_path_factory.mktemp("jdbc_console")
    r = subprocess.run(["javac", "-d", str(out), str(REPO_ROOT / "test" / "drivers" / "jdbc" / "ConsoleSql.java")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.mark.timeout(300)
def test_jdbc_gets_typed_values(busy, jdbc_classes):
    p, _ = busy
    url = f"jdbc:postgresql://{p.host}:{p.port}/{p.admin_db}"
    env = dict(os.environ, TZ="UTC")  # java.sql.Timestamp prints in the JVM's zone
    r = subprocess.run(["java", "-Duser.timezone=UTC", "-cp", f"{JDBC_JAR}:{jdbc_classes}", "ConsoleSql", url, ADMIN,
                        PASSWORDS[ADMIN], "10"], capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("ok"), r.stdout
    types = next(l for l in r.stdout.splitlines() if l.startswith("types\t")).split("\t")[1].split()
    assert types[:2] == ["VARCHAR", "BIGINT"] and types[2] in ("TIMESTAMP", "TIMESTAMP_WITH_TIMEZONE") \
        and types[3] == "DOUBLE", types
    lines = [l.split("\t") for l in r.stdout.splitlines() if l.startswith("row\t")]
    want = sorted((w for w in show(p, "QUERIES") if int(w["calls"]) >= 10),
                  key=lambda w: (-int(w["calls"]), w["fingerprint"]))
    assert want and [l[1] for l in lines] == [w["fingerprint"] for w in want]
    for l, w in zip(lines, want):
        # the sixth run: a named statement, results in binary where pgjdbc asks for it
        assert l[2] == f"java.lang.Long:{w['calls']}", l
        assert l[3].startswith("java.sql.Timestamp:" + w["last_seen"][:19]), (l, w["last_seen"])
        assert l[4].startswith("java.lang.Double:") and round(float(l[4].split(":")[1]), 3) == float(w["mean_ms"])


# ---------------------------------------------------------------- refused forms

REFUSED = [
    "INSERT INTO queries (fingerprint) VALUES ('x')",
    "DELETE FROM pools",
    "ATTACH DATABASE '/tmp/pgsift-attack.db' AS x",
    "PRAGMA writable_schema = 1",
    "SELECT load_extension('/tmp/x.so')",
    "WITH t AS (SELECT 1) INSERT INTO queries (fingerprint) SELECT 'x' FROM t",
    "CREATE TABLE t (a int)",
    "BEGIN",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_forms_get_42501_and_the_console_goes_on(busy, sql):
    p, _ = busy
    with psycopg.connect(p.dsn(ADMIN, p.admin_db), autocommit=True) as conn:
        with pytest.raises(AdminError) as e:
            exec_simple(conn, sql)
        assert e.value.sqlstate == "42501", e.value
        assert "read-only" in str(e.value)
        _, rows = exec_simple(conn, "SELECT count(*) FROM pools")
        assert int(rows[0][0]) == len(show(p, "POOLS"))
    assert not os.path.exists("/tmp/pgsift-attack.db")


@pytest.mark.parametrize("sql,state", [
    ("SELECT * FROM no_such_view", "42P01"),
    ("SELECT no_such_column FROM queries", "42703"),
    ("SELECT calls FROM queries WHERE", "42601"),
    ("SELECT no_such_function(1)", "42883"),
    ("SELECT abs(-9223372036854775807 - 1)", "22003"),
])
def test_errors_map_to_postgresql_sqlstates(busy, sql, state):
    p, _ = busy
    got, line = psql_error(p, sql)
    assert got == state, line


def test_timeout_gives_57014_and_pgbench_does_not_stall(pooler, pgbench_tables, tmp_path):
    p = pooler(pool_mode="transaction", admin_sql_timeout="1", default_pool_size=4)
    # 2,000 shapes: a triple cross join of queries cannot end within a second
    c = p.connect()
    for i in range(2000):
        c.execute(f"select c{i} from (select 1 as c{i}) t")
    heavy = "SELECT count(*) FROM queries a, queries b, queries c WHERE a.calls + b.calls > c.calls"
    with pytest.raises(AdminError) as e:
        p.admin(heavy)
    assert e.value.sqlstate == "57014", e.value

    def bench(name, with_heavy):
        stop = threading.Event()
        heavy_errors = []

        def console_loop():
            while not stop.is_set():
                try:
                    p.admin(heavy)
                except AdminError as err:
                    heavy_errors.append(err.sqlstate)

        t = threading.Thread(target=console_loop)
        if with_heavy:
            t.start()
        prefix = tmp_path / name
        r = subprocess.run([PGBENCH, "-n", "-S", "-c", "4", "-j", "2", "-T", "6", "-l", "--log-prefix", str(prefix),
                            "-h", p.host, "-p", str(p.port), "-U", USER, "siftdb"],
                           env=client_env(), capture_output=True, text=True, timeout=120)
        stop.set()
        if with_heavy:
            t.join()
        assert r.returncode == 0, r.stdout + r.stderr
        lat = []
        for f in tmp_path.glob(name + ".*"):
            for line in f.read_text().splitlines():
                lat.append(int(line.split()[2]) / 1000.0)  # usec -> ms
        lat.sort()
        return lat[int(len(lat) * 0.99)], len(lat), heavy_errors

    p99_alone, n_alone, _ = bench("alone", False)
    p99_heavy, n_heavy, heavy_errors = bench("heavy", True)
    print(f"pgbench -S p99: {p99_alone:.3f} ms alone, {p99_heavy:.3f} ms beside the heavy console query "
          f"({n_alone} and {n_heavy} transactions; {len(heavy_errors)} heavy queries stopped)")
    assert heavy_errors and set(heavy_errors) == {"57014"}
    # a relay that waited for the console would stall for up to a second at
    # every heavy query; the workers only take the CPU that is left
    assert p99_heavy < p99_alone * 3 + 20, (p99_alone, p99_heavy)


def test_memory_limit_gives_53200(pooler):
    # the time limit far away, so that only the memory limit can stop it on
    # a loaded machine (under ASan); 100-byte rows pass 1 MB in ~10,000 rows
    p = pooler(admin_sql_memory="1", admin_sql_timeout="60")
    with pytest.raises(AdminError) as e:
        p.admin("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 1000000) "
                "SELECT group_concat(printf('%0100d', x)) FROM r")
    assert e.value.sqlstate == "53200", e.value
    _, rows = p.admin("SELECT 1")
    assert rows == [["1"]]


def test_cancel_request_stops_a_console_query(pooler):
    p = pooler(admin_sql_timeout="30")
    conn = psycopg.connect(p.dsn(ADMIN, p.admin_db), autocommit=True)
    try:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r")
        assert time.monotonic() - t0 < 10
        assert conn.execute("SELECT 2").fetchone() == (2,)
    finally:
        conn.close()


# ---------------------------------------------------------------- history

def test_a_workload_that_changes_shape_shows_in_two_buckets(pooler):
    p = pooler(pool_mode="transaction", stats_bucket_seconds="2")
    c = p.connect()
    # start right after a bucket boundary, so each half fits its bucket
    while time.time() % 2 > 0.2:
        time.sleep(0.02)
    first = time.time()
    for i in range(40):
        c.execute("select %s::int as shape_a", (i,))
    assert time.time() - first < 1.5, "the first half did not fit its bucket"
    time.sleep(2 - time.time() % 2 + 0.1)
    second = time.time()
    for i in range(25):
        c.execute("select %s::text as shape_b", (str(i),))
    assert time.time() - second < 1.5
    rows = [r for r in p.admin_dicts("SHOW QUERY_HISTORY") if r["database"] == "siftdb"]
    q = {r["fingerprint"]: r["query"] for r in p.admin_dicts("SHOW QUERIES")}
    by_shape = {}
    for r in rows:
        text = q.get(r["fingerprint"], "")
        shape = "a" if "shape_a" in text else "b" if "shape_b" in text else None
        if shape:
            by_shape.setdefault(shape, []).append(r)
    assert [int(r["calls"]) for r in by_shape["a"]] == [40], by_shape
    assert [int(r["calls"]) for r in by_shape["b"]] == [25], by_shape
    a, b = by_shape["a"][0], by_shape["b"][0]
    assert a["bucket_start"] != b["bucket_start"]
    # the same through SQL, with now() in seconds
    _, rows = p.admin("SELECT fingerprint, sum(calls) FROM query_history WHERE bucket_start > now() - 600 "
                      "AND database = 'siftdb' GROUP BY 1 ORDER BY 2 DESC")
    sums = {fp: int(n) for fp, n in rows}
    assert sums[a["fingerprint"]] == 40 and sums[b["fingerprint"]] == 25


def test_pool_history_counts_transactions_per_bucket(pooler):
    p = pooler(pool_mode="transaction", stats_bucket_seconds="2")
    c = p.connect()
    for i in range(17):
        c.execute("select 1")
    _, rows = p.admin("SELECT sum(xacts), max(servers_active_peak) FROM pool_history WHERE database = 'siftdb'")
    assert int(rows[0][0]) == 17 and int(rows[0][1]) == 1


# ---------------------------------------------------------------- percentiles

def test_percentiles_never_exceed_max_nor_miss_a_rare_slow_call(pooler):
    p = pooler(pool_mode="transaction", advisor_min_transactions="1")
    c = p.connect()
    for i in range(8):
        c.execute("select pg_sleep(0.004)")
    c.execute("select pg_sleep(1.5)")  # 9 calls of one shape, one of them 1.5 s
    (q,) = [r for r in p.admin_dicts("SHOW QUERIES") if "pg_sleep" in r["query"]]
    assert int(q["calls"]) == 9
    assert float(q["p99_ms"]) == float(q["max_ms"]) >= 1500
    assert float(q["min_ms"]) <= float(q["p50_ms"]) < 100
    for r in p.admin_dicts("SHOW QUERIES"):
        assert float(r["min_ms"]) <= float(r["p50_ms"]) <= float(r["p95_ms"]) <= float(r["p99_ms"]) \
            <= float(r["max_ms"]), r
    (adv,) = [r for r in p.admin_dicts("SHOW POOL_ADVICE") if r["database"] == "siftdb"]
    # 9 transactions, one held 1.5 s: its p99 is that one, not the 8th
    assert float(adv["hold_p99_ms"]) >= 1500, adv
    assert float(adv["hold_p50_ms"]) < 100, adv


# ---------------------------------------------------------------- the docs

def test_every_worked_example_in_doc_admin_md_runs(busy):
    p, _ = busy
    text = (REPO_ROOT / "doc" / "admin.md").read_text()
    section = text.split("## SQL on the console", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```sql\n")[1:]]
    statements = [s.strip() for b in blocks for s in b.split(";\n") if s.strip() and not
                  all(l.startswith("--") for l in s.strip().splitlines())]
    assert len(statements) >= 6
    for sql in statements:
        try:
            p.admin(sql)
        except AdminError as e:
            raise AssertionError(f"{sql}\n-> {e}")


def test_an_error_in_a_multi_statement_query_keeps_the_results_before_it(busy):
    p, _ = busy
    from psycopg import pq
    with psycopg.connect(p.dsn(ADMIN, p.admin_db), autocommit=True) as conn:
        conn.pgconn.send_query(b"SELECT 1 AS a; SELECT * FROM no_such_view; SELECT 3")
        results = []
        while (res := conn.pgconn.get_result()) is not None:
            results.append(res)
        assert [r.status for r in results] == [pq.ExecStatus.TUPLES_OK, pq.ExecStatus.FATAL_ERROR]
        assert results[0].get_value(0, 0) == b"1"
        assert results[1].error_field(pq.DiagnosticField.SQLSTATE) == b"42P01"
        assert exec_simple(conn, "SELECT 4")[1] == [["4"]]
