"""Findings (doc/analyzer.md): N+1 patterns, slow statements with their plans,
transaction-pooling hazards, through real clients (psycopg 3, pgbench) and a
real PostgreSQL."""

import subprocess
import threading
import time

import pytest

from harness import PGBENCH, PGSIFT_BIN, AdminError, client_env, exec_simple, wait_for

pytestmark = pytest.mark.pgsift_only("N+1, slow log and hazards are pgsift's own")

USER = "sift_scram"
PARENTS = 20


def fingerprint(sql):
    r = subprocess.run([str(PGSIFT_BIN), "--fingerprint"], input=sql, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    return tuple(line.split("\t", 1))


@pytest.fixture(scope="module")
def shop(pg):
    """parents 1..50, three children each."""
    with pg.connect(dbname="siftdb") as c:
        c.execute("drop table if exists np_child, np_parent")
        c.execute("create table np_parent (id int primary key, name text)")
        c.execute("create table np_child (id serial primary key, parent_id int not null, val text)")
        c.execute("create index on np_child (parent_id)")
        c.execute("insert into np_parent select g, 'p' || g from generate_series(1, 50) g")
        c.execute("insert into np_child (parent_id, val) select g % 50 + 1, 'c' || g "
                  "from generate_series(1, 150) g")
        c.execute("analyze np_parent")
        c.execute("analyze np_child")
        c.execute("grant all on np_parent, np_child to public")


def findings(p, app=None):
    rows = p.admin_dicts("SHOW NPLUSONE")
    return [r for r in rows if app is None or r["application_name"] == app]


def orm_loop(c, n=PARENTS, tag=""):
    ids = [r[0] for r in c.execute("select id from np_parent where id <= %s order by id", (n,))]
    for i in ids:
        c.execute(tag + "select val from np_child where parent_id = %s", (i,)).fetchall()
    return ids


# ---------------------------------------------------------------- N+1

def test_orm_loop_is_flagged_with_source_shape_and_count(pooler, shop):
    # a think time well above the default: on a loaded test machine the
    # client may pause for more than 10 ms inside its own loop, which would
    # (rightly) cut the run in two and change the counts this test checks
    p = pooler(nplusone_think_time_ms=200)
    c = p.connect(application_name="orm-app")
    orm_loop(c, tag="/* controller='orders',route='%%2Forders' */ ")
    rows = wait_for(lambda: [r for r in findings(p, "orm-app") if r["kind"] == "n+1"],
                    what="the N+1 finding")
    assert len(rows) == 1, rows
    f = rows[0]
    src_fp, src_text = fingerprint("select id from np_parent where id <= $1 order by id")
    rep_fp, rep_text = fingerprint("select val from np_child where parent_id = $1")
    assert (f["source_fingerprint"], f["source_query"]) == (src_fp, src_text)
    assert (f["fingerprint"], f["query"]) == (rep_fp, rep_text)
    assert int(f["occurrences"]) == 1
    assert int(f["max_count"]) == PARENTS and int(f["last_count"]) == PARENTS
    assert int(f["repeated_calls"]) == PARENTS
    assert f["database"] == "siftdb" and f["client_addr"].startswith("127.0.0.1:")
    assert "route='%2Forders'" in f["tag"]
    assert float(f["run_total_ms"]) >= float(f["repeated_total_ms"]) > 0
    assert "ANY" in f["suggestion"]
    # a second request adds an occurrence; the loop inside a transaction too
    c.execute("begin")
    orm_loop(c, n=12)
    c.execute("commit")
    f = wait_for(lambda: [r for r in findings(p, "orm-app") if r["kind"] == "n+1"
                          and int(r["occurrences"]) == 2], what="a second occurrence")[0]
    assert int(f["max_count"]) == PARENTS and int(f["last_count"]) == 12
    # one structured log line per new finding, not per occurrence
    lines = [ln for ln in p.log().splitlines() if "nplusone: kind=n+1" in ln]
    assert len(lines) == 1, lines
    # its fields are the view's columns (log_events.c)
    assert f"source_fingerprint={src_fp}" in lines[0] and f" fingerprint={rep_fp}" in lines[0]
    assert " last_count=20" in lines[0] and " occurrences=1" in lines[0], lines[0]


def test_any_and_join_are_not_flagged(pooler, shop):
    p = pooler()
    c = p.connect(application_name="batched-app")
    for _ in range(3):
        ids = [r[0] for r in c.execute("select id from np_parent where id <= %s order by id", (PARENTS,))]
        c.execute("select parent_id, val from np_child where parent_id = any(%s)", (ids,)).fetchall()
        c.execute("select p.id, ch.val from np_parent p join np_child ch on ch.parent_id = p.id "
                  "where p.id <= %s", (PARENTS,)).fetchall()
        time.sleep(0.05)
    # a loop shorter than nplusone_min_repeats is not flagged either
    orm_loop(c, n=4)
    time.sleep(0.3)
    assert findings(p) == []


def test_min_repeats_setting(pooler, shop):
    p = pooler(nplusone_min_repeats=30)
    c = p.connect(application_name="orm-app")
    orm_loop(c)                      # 20 < 30
    time.sleep(0.3)
    assert findings(p) == []
    p.admin("SET nplusone_min_repeats = 10")
    orm_loop(c)
    wait_for(lambda: findings(p, "orm-app"), what="the N+1 finding")


def test_repeated_and_duplicate_lookups_in_one_transaction(pooler, shop):
    p = pooler()
    c = p.connect(application_name="loose-app")
    c.execute("begin")
    c.execute("select id from np_parent where id <= %s", (6,)).fetchall()
    for i in range(1, 7):            # two lookups per row: no single run, one shape repeated
        c.execute("select val from np_child where parent_id = %s", (i,)).fetchall()
        c.execute("select name from np_parent where id = %s", (1,)).fetchall()  # always the same
    c.execute("commit")
    kinds = wait_for(lambda: {(r["kind"], r["query"]) for r in findings(p, "loose-app")},
                     what="findings")
    child = fingerprint("select val from np_child where parent_id = $1")[1]
    same = fingerprint("select name from np_parent where id = $1")[1]
    assert ("repeated", child) in kinds and ("repeated", same) in kinds, kinds
    assert ("duplicate", same) in kinds, kinds
    assert ("duplicate", child) not in kinds, kinds  # different parameter values
    assert not any(k == "n+1" for k, _ in kinds), kinds


@pytest.mark.timeout(300)
def test_pgbench_produces_no_nplusone(pg, pooler, pgbench_tables):
    p = pooler(default_pool_size=5, max_client_conn=200)
    for mode in ("simple", "extended", "prepared"):
        for script in ([], ["-S"], ["-N"]):
            r = subprocess.run([PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", USER, "-c", "50",
                                "-j", "2", "-t", "20", "-M", mode, *script, "siftdb"],
                               env=client_env(), capture_output=True, text=True, timeout=240)
            assert r.returncode == 0, r.stdout + r.stderr
    time.sleep(0.3)
    assert findings(p) == []
    statements = int(p.admin_dicts("SHOW ANALYZER")[0]["statements"])
    assert statements > 9 * 50 * 20, statements


def test_web_requests_on_shared_connections_are_not_flagged(pooler, shop):
    """Each request: one parent, one child query, on one of a few shared
    connections (an application-side pool), requests a few ms apart: short
    think time glues requests together on each connection."""
    p = pooler()
    conns = [p.connect(application_name="web-app") for _ in range(3)]
    locks = [threading.Lock() for _ in conns]

    def request(i):
        k = i % len(conns)
        with locks[k]:
            c = conns[k]
            (pid,) = c.execute("select id from np_parent where id = %s", (i % 50 + 1,)).fetchone()
            c.execute("select val from np_child where parent_id = %s", (pid,)).fetchall()

    for i in range(60):              # one after another, 3 ms apart
        request(i)
        time.sleep(0.003)
    threads = []
    for i in range(60, 120):         # and overlapping, from threads
        t = threading.Thread(target=request, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.002)
    for t in threads:
        t.join(30)
    time.sleep(0.3)
    assert findings(p) == []


# ---------------------------------------------------------------- slow statements

def slow_rows(p):
    return p.admin_dicts("SHOW SLOW")


def plans(p):
    return {r["fingerprint"]: r for r in p.admin_dicts("SHOW SLOW_PLANS")}


@pytest.mark.timeout(240)
def test_slow_statements_and_plans_without_stalling_pgbench(pg, pooler, pgbench_tables):
    p = pooler(slow_query_ms=250, slow_query_explain_interval=0, default_pool_size=8)
    bench = subprocess.Popen([PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", USER, "-c", "4", "-j", "1",
                              "-T", "4", "siftdb"], env=client_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    c = p.connect(application_name="slow-app")
    exec_simple(c, "select pg_sleep(0.4), count(*) from sift_items")            # slow, simple protocol
    exec_simple(c, "select pg_sleep(0.01)")                                      # fast
    c.execute("select pg_sleep(%t), count(*) from sift_items where id > %t", (0.4, 5))   # slow, text params
    c.execute("select pg_sleep(%b)", (0.3,))                                     # slow, binary parameter
    exec_simple(c, "do $$ begin perform pg_sleep(0.3); end $$")                  # slow, no plan
    out, _ = bench.communicate(timeout=120)
    assert bench.returncode == 0, out
    assert "number of failed transactions: 0" in out or "failed" not in out, out
    processed = int(out.split("number of transactions actually processed:")[1].split()[0].split("/")[0])
    assert processed > 0, out

    simple_fp, _ = fingerprint("select pg_sleep($1), count(*) from sift_items")
    ext_fp, _ = fingerprint("select pg_sleep($1), count(*) from sift_items where id > $2")
    bin_fp, _ = fingerprint("select pg_sleep($1)")
    do_fp, _ = fingerprint("do $$ begin perform pg_sleep(0.3); end $$")
    rows = slow_rows(p)
    got = [r["fingerprint"] for r in rows if r["application_name"] == "slow-app"]
    # newest first, the fast one absent
    assert got == [do_fp, bin_fp, ext_fp, simple_fp], rows
    by_fp = {r["fingerprint"]: r for r in rows}
    assert float(by_fp[simple_fp]["duration_ms"]) >= 390
    assert by_fp[simple_fp]["rows"] == "1" and by_fp[simple_fp]["user"] == USER
    assert by_fp[simple_fp]["sample"] is None

    pl = wait_for(lambda: (lambda x: x if all(x.get(f, {}).get("status") not in (None, "pending")
                                              for f in (simple_fp, ext_fp, bin_fp)) else None)(plans(p)),
                  what="plans captured")
    assert pl[simple_fp]["status"] == "ok" and "sift_items" in pl[simple_fp]["plan"], str(pl[simple_fp])
    assert pl[ext_fp]["status"] == "ok" and "sift_items" in pl[ext_fp]["plan"], str(pl[ext_fp])
    assert "id > 5" in pl[ext_fp]["plan"], pl[ext_fp]            # its bound parameter
    assert pl[bin_fp]["status"] == "skipped" and "binary" in pl[bin_fp]["plan"], pl[bin_fp]
    assert do_fp not in pl
    assert by_fp[do_fp]["plan_status"] == "none" and by_fp[simple_fp]["plan_status"] == "ok"


def test_slow_query_ms_settings(pooler):
    p = pooler(slow_query_ms=-1)
    c = p.connect()
    exec_simple(c, "select pg_sleep(0.05)")
    assert slow_rows(p) == []
    p.admin("SET slow_query_ms = 0")            # everything
    exec_simple(c, "select 1")
    exec_simple(c, "select 2")
    assert len(slow_rows(p)) == 2
    p.admin("SET slow_query_explain = off")
    exec_simple(c, "select 3 from pg_class")
    newest = slow_rows(p)[0]
    assert newest["query"] == "select $1 from pg_class" and newest["plan_status"] == "none", newest


def test_slow_ring_is_bounded_and_samples_only_when_asked(pooler):
    p = pooler(slow_query_ms=0, slow_query_log_size=3, log_query_samples="on", slow_query_explain="off")
    c = p.connect()
    for i in range(5):
        exec_simple(c, f"select {i} as secret")
    rows = slow_rows(p)
    assert [r["sample"] for r in rows] == ["select 4 as secret", "select 3 as secret", "select 2 as secret"]


# ---------------------------------------------------------------- hazards

HAZARDS = [
    ("set", "SET search_path = public"),
    ("set", "RESET statement_timeout"),
    ("listen", "LISTEN np_channel"),
    ("advisory_lock", "SELECT pg_advisory_lock(4242)"),
    ("prepare", "PREPARE np_stmt AS SELECT 1"),
    ("temp_table", "CREATE TEMP TABLE np_tmp (x int)"),
    ("hold_cursor", "DECLARE np_cur CURSOR WITH HOLD FOR SELECT 1"),
    ("set_role", "SET ROLE sift_scram"),
]
SAFE = [
    "BEGIN", "SET LOCAL statement_timeout = 1000", "SELECT pg_advisory_xact_lock(4243)",
    "CREATE TEMP TABLE np_tmp2 (x int) ON COMMIT DROP", "DECLARE np_cur2 CURSOR FOR SELECT 1", "COMMIT",
    "SET application_name = 'hazard-app'", "SET TIME ZONE 'UTC'", "SELECT pg_advisory_unlock(4242)",
    "DEALLOCATE ALL", "CLOSE np_cur", "RESET ROLE",
]


def run_hazards(c, transaction_mode=True):
    for kind, sql in HAZARDS:
        exec_simple(c, sql)
    for sql in SAFE:
        # in transaction mode a server left with a cursor, temp table, lock
        # or LISTEN runs DISCARD ALL before it serves again
        # (doc/session-state.md): what refers to them is gone
        if transaction_mode and sql == "CLOSE np_cur":
            continue
        exec_simple(c, sql)
    if not transaction_mode:
        exec_simple(c, "DROP TABLE np_tmp")
    c.execute("BEGIN")
    c.execute("select 1")
    time.sleep(1.0)                  # idle in transaction
    c.execute("COMMIT")


def test_each_hazard_kind_is_reported(pooler):
    # one server; SQL PREPARE is carried (doc/session-state.md) and still reported
    p = pooler(idle_in_transaction_warn_ms=500, default_pool_size=1)
    c = p.connect(application_name="hazard-app")
    run_hazards(c)
    rows = p.admin_dicts("SHOW HAZARDS")
    got = {(r["kind"], r["query"]) for r in rows}
    want = {(k, fingerprint(sql)[1]) for k, sql in HAZARDS}
    want.add(("set_role", fingerprint("RESET ROLE")[1]))
    want.add(("idle_in_transaction", fingerprint("select 1")[1]))
    assert got == want, (got ^ want)
    for r in rows:
        assert r["database"] == "siftdb" and r["application_name"] == "hazard-app" and int(r["count"]) == 1, r
        assert r["advice"], r
    assert sum("hazard: kind=" in ln for ln in p.log().splitlines()) == len(want)


def test_idle_in_transaction_is_seen_while_it_lasts(pooler):
    p = pooler(idle_in_transaction_warn_ms=200)
    c = p.connect(application_name="sleepy")
    c.execute("BEGIN")
    c.execute("select 42 from pg_class limit 1")
    rows = wait_for(lambda: [r for r in p.admin_dicts("SHOW HAZARDS") if r["kind"] == "idle_in_transaction"],
                    timeout=10, what="the idle-in-transaction hazard while the client is idle")
    assert rows[0]["application_name"] == "sleepy"
    c.execute("COMMIT")


def test_session_mode_flags_nothing(pooler):
    p = pooler(pool_mode="session", idle_in_transaction_warn_ms=200)
    c = p.connect(application_name="hazard-app")
    run_hazards(c, transaction_mode=False)
    time.sleep(0.3)
    assert p.admin_dicts("SHOW HAZARDS") == []


def test_plan_capture_without_a_plaintext_password_stores_the_error(pooler):
    """The pool logs in with an md5 secret, which libpq cannot use: the
    capture fails, its error is kept, and the client is not affected."""
    from harness import md5_secret
    p = pooler(slow_query_ms=100, auth_entries={"sift_md5": md5_secret("sift_md5", "md5pw")})
    c = p.connect(user="sift_md5")
    exec_simple(c, "select pg_sleep(0.2), 1 as x")
    fp, _ = fingerprint("select pg_sleep(0.2), 1 as x")
    row = wait_for(lambda: (lambda r: r if r and r["status"] != "pending" else None)(plans(p).get(fp)),
                   what="the capture's result")
    assert row["status"] == "error" and "password" in row["plan"], row
    assert row["user"] == "sift_md5"
    assert exec_simple(c, "select 7")[1] == [["7"]]


def traced(trace_id, sql):
    return f"/*traceparent='00-{trace_id:032x}-{trace_id:016x}-01'*/ " + sql


def test_a_new_trace_id_or_application_name_ends_the_unit(pooler, shop):
    """Two requests back to back on one connection, each looking up three
    children: one run of six when glued together, none when the trace id
    or the application_name says they are two requests."""
    child = "select val from np_child where parent_id = %s"
    parent = "select id from np_parent where id <= %s order by id"

    def two_requests(c, first, second, between=None):
        c.execute(first(parent), (3,)).fetchall()
        for i in (1, 2, 3):
            c.execute(first(child), (i,)).fetchall()
        if between:
            between()
        for i in (4, 5, 6):
            c.execute(second(child), (i,)).fetchall()

    p = pooler(nplusone_think_time_ms=1000)
    c = p.connect(application_name="trace-app")
    two_requests(c, lambda s: traced(1, s), lambda s: traced(1, s))   # one trace: a run of 6
    wait_for(lambda: [r for r in findings(p) if r["kind"] == "n+1" and r["max_count"] == "6"],
             what="the glued run")
    p2 = pooler(nplusone_think_time_ms=1000)
    c2 = p2.connect(application_name="trace-app")
    two_requests(c2, lambda s: traced(1, s), lambda s: traced(2, s))  # two traces
    c3 = p2.connect(application_name="app-one")
    two_requests(c3, lambda s: s, lambda s: s, between=lambda: c3.execute("set application_name = 'app-two'"))
    time.sleep(1.3)
    assert findings(p2) == []


def test_named_prepared_statement_is_explained_with_its_parameters(pooler):
    # one server, so the named statement stays where it was prepared
    p = pooler(slow_query_ms=150, default_pool_size=1)
    c = p.connect(application_name="prepared-app")
    sql = "select pg_sleep(%t), count(*) from sift_items where id > %t"
    c.execute(sql, (0.01, 1), prepare=True)
    c.execute(sql, (0.2, 3), prepare=True)
    fp, _ = fingerprint("select pg_sleep($1), count(*) from sift_items where id > $2")
    row = wait_for(lambda: (lambda r: r if r and r["status"] != "pending" else None)(plans(p).get(fp)),
                   what="the plan")
    assert row["status"] == "ok" and "id > 3" in row["plan"], row
    (slow,) = [r for r in slow_rows(p) if r["application_name"] == "prepared-app"]
    assert slow["fingerprint"] == fp and float(slow["duration_ms"]) >= 190


def test_plan_capture_never_executes_the_statement(pg, pooler):
    """Captures use an explicit option list, EXPLAIN (ANALYZE false): a
    parenthesized SELECT is explained (plain "EXPLAIN (select ...)" is a
    syntax error), and a text starting with "(analyze)" never runs."""
    with pg.connect(dbname="siftdb") as a:
        a.execute("drop table if exists np_victim")
        a.execute("create table np_victim as select 1 as x")
        a.execute("grant all on np_victim to public")
    p = pooler(slow_query_ms=0, slow_query_explain_interval=0)
    c = p.connect()
    with pytest.raises(Exception):
        exec_simple(c, "(analyze) delete from np_victim")
    exec_simple(c, "(select x from np_victim)")
    fp, _ = fingerprint("(select x from np_victim)")
    row = wait_for(lambda: (lambda r: r if r and r["status"] != "pending" else None)(plans(p).get(fp)),
                   what="the plan of a parenthesized select")
    assert row["status"] == "ok" and "np_victim" in row["plan"], row
    time.sleep(0.5)
    assert pg.query("select count(*) from np_victim", dbname="siftdb") == [(1,)]


def test_unnamed_statement_that_usually_comes_next_is_explained(pooler):
    """A driver's unnamed statement that follows the one it followed before
    is recognised without the lexer and its text kept by reference to the
    analyzer's statement cache, not copied: its plan is still captured with
    its own text and the parameters of that execution."""
    p = pooler(slow_query_ms=150, slow_query_explain_interval=0)
    c = p.connect(application_name="next-app")
    lead = "select count(*) from sift_items where id < %t"
    sql = "select pg_sleep(%t), count(*) from sift_items where id > %t"
    for delay, low in ((0.0, 1), (0.0, 2), (0.2, 7)):     # unnamed each time (fewer than 5)
        c.execute(lead, (3,))
        c.execute(sql, (delay, low))
    fp, _ = fingerprint("select pg_sleep($1), count(*) from sift_items where id > $2")
    row = wait_for(lambda: (lambda r: r if r and r["status"] != "pending" else None)(plans(p).get(fp)),
                   what="the plan")
    assert row["status"] == "ok" and "id > 7" in row["plan"], row


@pytest.mark.timeout(120)
def test_unnamed_statement_text_replaced_while_it_runs_is_not_explained_with_another(pooler):
    """The same, but while the slow statement runs another client sends
    thousands of new statement texts, which replace the cache entry its text
    was kept by: the capture is skipped with the reason, never made with
    another statement's text."""
    p = pooler(slow_query_ms=150, slow_query_explain_interval=0, default_pool_size=4)
    a = p.connect(application_name="victim-app")
    b = p.connect(application_name="churn-app")
    lead = "select count(*) from sift_items where id < %t"
    sql = "select pg_sleep(%t), count(*) from sift_items where id > %t"
    for low in (1, 2):
        a.execute(lead, (3,))
        a.execute(sql, (0.0, low))

    def victim():
        a.execute(lead, (3,))
        a.execute(sql, (1.5, 7))

    t = threading.Thread(target=victim)
    t.start()
    time.sleep(0.3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(3000):                   # new texts, prefixes apart: every cache set takes several
        name = "".join(letters[(i // 26 ** k) % 26] for k in range(3))
        exec_simple(b, f"select true as churn_{name}")
    t.join(30)
    fp, _ = fingerprint("select pg_sleep($1), count(*) from sift_items where id > $2")
    row = wait_for(lambda: (lambda r: r if r and r["status"] != "pending" else None)(plans(p).get(fp)),
                   what="the plan")
    assert row["status"] == "skipped" and "no longer available" in row["plan"], row
    slow = [r for r in slow_rows(p) if r["application_name"] == "victim-app"]
    assert [r["fingerprint"] for r in slow] == [fp] and float(slow[0]["duration_ms"]) >= 1490, slow
