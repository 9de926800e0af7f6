"""The analyzer: SHOW QUERIES groups statements by fingerprint and counts
exactly what was sent, through real clients (pgbench, psycopg, libpq)."""

import subprocess

import pytest

from harness import PGBENCH, PGSIFT_BIN, AdminError, client_env, exec_simple

pytestmark = pytest.mark.pgsift_only("SHOW QUERIES is pgsift's own")

USER = "sift_scram"

# pgbench 15's built-in TPC-B script, statement by statement
TPCB = [
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance + {delta} WHERE aid = {aid};",
    "SELECT abalance FROM pgbench_accounts WHERE aid = {aid};",
    "UPDATE pgbench_tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};",
    "UPDATE pgbench_branches SET bbalance = bbalance + {delta} WHERE bid = {bid};",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({tid}, {bid}, {aid}, {delta}, CURRENT_TIMESTAMP);",
    "END;",
]


def fingerprints(sql):
    """pgsift --fingerprint: [(hex, normalized text)] per statement."""
    r = subprocess.run([str(PGSIFT_BIN), "--fingerprint"], input=sql, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [tuple(line.split("\t", 1)) for line in r.stdout.splitlines()]


def queries(p, database):
    return {r["fingerprint"]: r for r in p.admin_dicts("SHOW QUERIES") if r["database"] == database}


def check_plausible(row):
    f = {k: float(row[k]) for k in ("total_ms", "mean_ms", "min_ms", "max_ms", "p50_ms", "p95_ms", "p99_ms",
                                    "stddev_ms")}
    calls = int(row["calls"])
    assert 0 < f["min_ms"] <= f["max_ms"], row
    assert f["min_ms"] <= f["mean_ms"] <= f["max_ms"], row
    assert abs(f["total_ms"] - f["mean_ms"] * calls) <= 0.01 * f["total_ms"] + 0.01, row
    # percentiles: ordered, inside [min, max] up to the histogram's 2% error
    assert f["p50_ms"] <= f["p95_ms"] <= f["p99_ms"], row
    assert f["min_ms"] * 0.98 - 0.001 <= f["p50_ms"] and f["p99_ms"] <= f["max_ms"] * 1.02 + 0.001, row
    assert f["stddev_ms"] >= 0


@pytest.mark.timeout(240)
def test_pgbench_simple_and_extended_give_the_same_seven_shapes(pg, pooler, pgbench_tables):
    p = pooler(databases={"qdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})
    clients, per_client = 2, 40
    for mode in ("simple", "extended"):
        r = subprocess.run([PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", USER, "-c", str(clients),
                            "-j", "1", "-t", str(per_client), "-M", mode, "qdb"],
                           env=client_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    # literal values and $n parameters give one fingerprint per statement
    literal = fingerprints("\n".join(TPCB).format(delta=-42, aid=7, tid=3, bid=1))
    params = fingerprints("\n".join(TPCB).format(delta="$1", aid="$2", tid="$3", bid="$4"))
    assert [h for h, _ in literal] == [h for h, _ in params]
    got = queries(p, "qdb")
    runs = 2 * clients * per_client
    assert {h for h, _ in literal} <= set(got), sorted(r["query"] for r in got.values())
    # besides the script, pgbench only asks about the tables, once per run
    for h, row in got.items():
        if h not in dict(literal):
            assert int(row["calls"]) == 2 and row["kind"] == "select", row
    for h, text in literal:
        row = got[h]
        assert row["query"] == text
        assert int(row["calls"]) == runs, row
        assert int(row["errors"]) == 0, row
        check_plausible(row)
    # CommandComplete tags: one row per UPDATE/SELECT/INSERT
    for i in (1, 2, 3, 4, 5):
        assert int(got[literal[i][0]]["rows"]) == runs, got[literal[i][0]]
    assert got[literal[2][0]]["kind"] == "select" and got[literal[5][0]]["kind"] == "insert"


def test_known_shapes_from_a_script(pg, pooler):
    with pg.connect(dbname="siftdb") as admin:
        admin.execute("drop table if exists qtest")
        admin.execute("create table qtest (x int)")
        admin.execute("grant all on qtest to sift_scram")
    p = pooler(databases={"qdb2": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})
    c = p.connect(dbname="qdb2", application_name="known-shapes")
    for i in range(10):  # extended protocol, one parameter
        assert c.execute("select %s::int + 1", (i,)).fetchone()[0] == i + 1
    for i in range(7):  # simple protocol, literals differ
        exec_simple(c, f"select {i} as answer")
    for _ in range(3):  # one simple query, two statements
        exec_simple(c, "select 1 from qtest; select 'x' from qtest where x > 0")
    for n in range(1, 6):  # IN lists of five lengths are one shape
        exec_simple(c, "select 1 where 3 in (" + ", ".join(str(v) for v in range(n)) + ")")
    for _ in range(2):
        with pytest.raises(AdminError) as e:
            exec_simple(c, "select 1/0")
        assert e.value.sqlstate == "22012"
    exec_simple(c, "insert into qtest select generate_series(1, 5)")
    exec_simple(c, "/* controller='orders',route='%2Forders' */ select count(*) from pg_am")

    expect = {}
    for sql, calls in [("select $1::int + 1", 10), ("select 0 as answer", 7), ("select 1 from qtest", 3),
                       ("select 'x' from qtest where x > 0", 3), ("select 1 where 3 in (1, 2)", 5),
                       ("select 1/0", 2),
                       ("insert into qtest select generate_series(1, 5)", 1), ("select count(*) from pg_am", 1)]:
        (h, text), = fingerprints(sql)
        expect[h] = (text, calls)
    got = queries(p, "qdb2")
    assert set(got) == set(expect), sorted(r["query"] for r in got.values())
    for h, (text, calls) in expect.items():
        assert got[h]["query"] == text
        assert int(got[h]["calls"]) == calls, got[h]
        assert got[h]["user"] == USER and got[h]["application_name"] == "known-shapes"
    div = got[fingerprints("select 1/0")[0][0]]
    assert int(div["errors"]) == 2 and div["error_codes"] == "22012:2"
    assert int(got[fingerprints("insert into qtest select generate_series(1, 5)")[0][0]]["rows"]) == 5
    tagged = got[fingerprints("select count(*) from pg_am")[0][0]]
    assert "route='%2Forders'" in tagged["tag"]
    assert all(r["sample"] is None for r in got.values()), "literals stored without log_query_samples"


def test_statements_that_come_back_with_other_values(pg, pooler):
    """The analyzer skips the lexer for a text it saw with other literal
    values: texts that differ only there count as one shape, texts that
    differ anywhere else (a digit in a quoted name, a sign, a comment, a
    float) are told apart as the fingerprint tells them apart."""
    with pg.connect(dbname="siftdb") as admin:
        for t in ("qt1", "qt2"):
            admin.execute(f'drop table if exists "{t}"')
            admin.execute(f'create table "{t}" (x int, s text)')
            admin.execute(f'grant all on "{t}" to sift_scram')
    p = pooler(databases={"qdb3": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})
    c = p.connect(dbname="qdb3")
    sent = []
    for round_ in range(3):
        for i in (5, 17, 123456):
            sent += [f'select x from "qt1" where x = {i} and s = \'v{i}\'',
                     f'select x from "qt2" where x = {i} and s = \'it\'\'s {round_}\'',
                     f'select x from "qt1" where x = -{i}',
                     f'select x from "qt1" where x = {i}.5',
                     f"/* req={i} */ select s from \"qt2\" where x in ({i}, {i + 1})",
                     f"select s from \"qt2\" where x in ({i}, {i + 1}, 3)"]
    for sql in sent:
        exec_simple(c, sql)
    expect = {}
    for sql in sent:
        (h, text), = fingerprints(sql)
        expect.setdefault(h, [text, 0])[1] += 1
    got = queries(p, "qdb3")
    assert set(got) == set(expect), sorted(r["query"] for r in got.values())
    for h, (text, calls) in expect.items():
        assert got[h]["query"] == text and int(got[h]["calls"]) == calls, got[h]
    # the comment of the last call is the tag
    (h, _), = fingerprints('select s from "qt2" where x in (1, 2)')
    assert got[h]["tag"] == "req=123456"


def test_samples_only_with_log_query_samples(pg, pooler):
    p = pooler(log_query_samples="on")
    c = p.connect()
    exec_simple(c, "select 'secret-literal' as s")
    (h, _), = fingerprints("select 'x' as s")
    row = queries(p, "siftdb")[h]
    assert row["sample"] == "select 'secret-literal' as s"


def test_table_is_bounded_and_counts_evictions(pooler):
    p = pooler(max_fingerprints=5)
    c = p.connect()
    hot = "select 1 from pg_class where false"
    for i in range(40):
        exec_simple(c, hot)
        with pytest.raises(AdminError):  # a new shape each time (an unknown function)
            exec_simple(c, f"select oneoff_{i}()")
    (info,) = p.admin_dicts("SHOW ANALYZER")
    assert int(info["fingerprints"]) <= 5 and int(info["max_fingerprints"]) == 5
    assert int(info["evictions"]) >= 30
    got = queries(p, "siftdb")
    (h, _), = fingerprints(hot)
    assert h in got and int(got[h]["calls"]) == 40, "the hot shape was evicted by one-offs"


def test_reset_and_off(pooler):
    p = pooler()
    c = p.connect()
    exec_simple(c, "select 1 from pg_class where false")
    assert queries(p, "siftdb")
    p.admin("RESET QUERIES")
    assert not queries(p, "siftdb")
    p.admin("SET analyzer = off")
    exec_simple(c, "select 1 from pg_class where false")
    assert not queries(p, "siftdb")
    p.admin("SET analyzer = on")
    exec_simple(c, "select 1 from pg_namespace where false")
    (_, text), = fingerprints("select 1 from pg_namespace where false")
    assert [r["query"] for r in queries(p, "siftdb").values()] == [text]


def test_wait_time_is_kept_apart(pooler):
    p = pooler(default_pool_size=1)
    a, b = p.connect(), p.connect()
    a.execute("begin")
    a.execute("select 1")
    import threading
    t = threading.Thread(target=lambda: exec_simple(b, "select 5 from pg_database where false"))
    t.start()
    import time
    time.sleep(0.5)
    a.execute("commit")
    t.join(10)
    (h, _), = fingerprints("select 5 from pg_database where false")
    row = queries(p, "siftdb")[h]
    assert float(row["wait_ms"]) >= 300, row       # it waited for a's transaction
    assert float(row["max_ms"]) < float(row["wait_ms"]), row  # and that is not execution time
