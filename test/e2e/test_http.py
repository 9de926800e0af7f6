"""The HTTP listener (doc/metrics.md): /metrics against SHOW STATS and SHOW
QUERIES, OpenMetrics, PgBouncer exporter names, the top-N fingerprints and
"other", the JSON API, basic auth, TLS, draining, and malformed HTTP that
must get 4xx and leave pooled traffic alone."""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import psycopg
import pytest

import httpkit
from harness import PASSWORDS, exec_simple, free_port, scram_verifier, wait_for

pytestmark = pytest.mark.pgsift_only("the HTTP listener is pgsift's own")

USER = "sift_scram"


def http_pooler(pooler, **settings):
    settings.setdefault("http_port", free_port())
    return pooler(**settings)


def fingerprint_of(p, text_part):
    rows = [r for r in p.admin_dicts("SHOW QUERIES") if text_part in r["query"]]
    assert len(rows) == 1, rows
    return rows[0]


# ---------------------------------------------------------------- /metrics

def test_metrics_match_show_stats_and_show_queries(pooler):
    p = http_pooler(pooler)
    port = int(p.settings["http_port"])
    c = p.connect()
    for i in range(30):
        c.execute("select %s::int + 1 as metrics_probe", (i,)).fetchone()
    with c.transaction():
        c.execute("select 1 as in_txn")
        c.execute("select 2 as in_txn")
    q = fingerprint_of(p, "metrics_probe")
    stats = {r["database"]: r for r in p.admin_dicts("SHOW STATS_TOTALS")}["siftdb"]
    s = httpkit.metrics(port)

    assert httpkit.value(s, "pgsift_stats_sql_transactions_pooled_total", database="siftdb") == int(stats["xact_count"])
    assert httpkit.value(s, "pgsift_stats_queries_pooled_total", database="siftdb") == int(stats["query_count"])
    assert httpkit.value(s, "pgsift_stats_server_assignments_total", database="siftdb") == int(
        stats["server_assignment_count"])
    assert httpkit.value(s, "pgsift_stats_client_wait_seconds_total", database="siftdb") == pytest.approx(
        int(stats["wait_time"]) / 1e6)
    # the statement's histogram: counts grow with le, the last one is calls
    fp = q["fingerprint"]
    buckets = sorted(((float(l["le"]), v) for _, l, v in
                      httpkit.pick(s, "pgsift_query_duration_seconds_bucket", fingerprint=fp)))
    assert len(buckets) == 20 and buckets[-1][0] == float("inf")
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
    assert buckets[-1][1] == int(q["calls"]) == 30
    assert httpkit.value(s, "pgsift_query_duration_seconds_count", fingerprint=fp) == 30
    assert httpkit.value(s, "pgsift_query_duration_seconds_sum", fingerprint=fp) == pytest.approx(
        float(q["total_ms"]) / 1e3, rel=1e-3, abs=1e-5)
    info = httpkit.pick(s, "pgsift_query_info", fingerprint=fp)
    assert len(info) == 1 and info[0][1]["query"] == q["query"] and info[0][1]["database"] == "siftdb"
    assert info[0][1]["user"] == USER and info[0][1]["kind"] == "select"
    # per pool: one wait sample per assignment, one transaction per xact
    assert httpkit.value(s, "pgsift_pool_client_wait_seconds_count", database="siftdb", user=USER) == int(
        stats["server_assignment_count"])
    assert httpkit.value(s, "pgsift_pool_transaction_duration_seconds_count", database="siftdb",
                         user=USER) == int(stats["xact_count"])
    assert httpkit.value(s, "pgsift_pool_transaction_duration_seconds_sum", database="siftdb",
                         user=USER) == pytest.approx(int(stats["xact_time"]) / 1e6, abs=1e-6)
    assert httpkit.value(s, "pgsift_pools_client_active_connections", database="siftdb", user=USER) == 1
    assert httpkit.value(s, "process_open_fds") > 5 and httpkit.value(s, "process_resident_memory_bytes") > 1e6
    assert not [x for x in s if x[0].startswith("pgbouncer_")]
    # the exposition is what Prometheus' own linter accepts
    if shutil.which("promtool"):
        _, _, body = httpkit.get(port, "/metrics")
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr


def test_pgbouncer_exporter_names_on_request(pooler):
    p = http_pooler(pooler, metrics_pgbouncer_names=1)
    port = int(p.settings["http_port"])
    p.connect().execute("select 1").fetchone()
    s = httpkit.metrics(port)
    for name in ("pools_client_waiting_connections", "pools_server_active_connections",
                 "pools_client_maxwait_seconds", "stats_queries_pooled_total",
                 "stats_sql_transactions_pooled_total", "stats_server_in_transaction_seconds_total",
                 "databases_pool_size", "used_clients", "config_max_client_connections", "up"):
        ours = sorted((tuple(sorted(l.items())), v) for _, l, v in httpkit.pick(s, "pgsift_" + name))
        theirs = sorted((tuple(sorted(l.items())), v) for _, l, v in httpkit.pick(s, "pgbouncer_" + name))
        assert ours and ours == theirs, name
    assert httpkit.value(s, "pgbouncer_databases_pool_size", name="siftdb") == 5


def test_openmetrics_when_asked(pooler):
    p = http_pooler(pooler)
    port = int(p.settings["http_port"])
    p.connect().execute("select 1").fetchone()
    status, headers, body = httpkit.get(port, "/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert text.endswith("# EOF\n")
    assert "# TYPE pgsift_stats_queries_pooled counter\n" in text
    assert "\npgsift_stats_queries_pooled_total{database=\"siftdb\"} " in text
    assert "# TYPE pgsift_query info\n" in text and "# TYPE pgsift_query_duration_seconds histogram\n" in text
    # families are declared once
    types = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE ")]
    assert len(types) == len(set(types))


def test_top_fingerprints_and_other_only_grow(pooler):
    p = http_pooler(pooler, metrics_top_fingerprints=3)
    port = int(p.settings["http_port"])
    c = p.connect()
    # seven shapes (aliases and constants do not make a shape)
    heavy = [f"select pg_sleep(%s), {f}(1)" for f in ("abs", "sign", "sqrt")]
    light = [f"select pg_sleep(%s), {f}(1)" for f in ("ceil", "floor", "exp", "ln")]
    for sql in heavy:
        for _ in range(5):
            c.execute(sql, (0.002,)).fetchone()
    for k, sql in enumerate(light):
        for _ in range(k + 1):
            c.execute(sql, (0,)).fetchone()
    s = httpkit.metrics(port)
    shown = {l["fingerprint"] for _, l, _ in httpkit.pick(s, "pgsift_query_duration_seconds_count")}
    heavy_fps = {fingerprint_of(p, f"{f}($2)")["fingerprint"] for f in ("abs", "sign", "sqrt")}
    assert shown == heavy_fps | {"other"}
    other = httpkit.value(s, "pgsift_query_duration_seconds_count", fingerprint="other")
    assert other == 1 + 2 + 3 + 4
    assert len(httpkit.pick(s, "pgsift_query_info")) == 3
    # a light shape becomes the heaviest: it gets a series of its own, with
    # all its calls, and "other" keeps what it counted (a counter never drops)
    for _ in range(10):
        c.execute(light[3], (0.004,)).fetchone()
    promoted = fingerprint_of(p, "ln($2)")
    s2 = httpkit.metrics(port)
    shown2 = {l["fingerprint"] for _, l, _ in httpkit.pick(s2, "pgsift_query_duration_seconds_count")}
    assert promoted["fingerprint"] in shown2 and len(shown2) == 4 and "other" in shown2
    assert httpkit.value(s2, "pgsift_query_duration_seconds_count",
                         fingerprint=promoted["fingerprint"]) == int(promoted["calls"]) == 14
    assert httpkit.value(s2, "pgsift_query_duration_seconds_count", fingerprint="other") == other + 10
    assert len(httpkit.pick(s2, "pgsift_query_info")) == 3


# ---------------------------------------------------------------- JSON API

def test_json_api_reads_the_views(pooler):
    p = http_pooler(pooler)
    port = int(p.settings["http_port"])
    c = p.connect(application_name="json-app")
    for i in range(12):
        c.execute("select %s::int as json_probe", (i,)).fetchone()
    c.execute("select 'x' as json_other").fetchone()
    status, views = httpkit.get_json(port, "/api/v1/views")
    assert status == 200
    names = [v["name"] for v in views["views"]]
    _, rows = p.admin("SHOW VIEWS")
    assert names == [r[0] for r in rows]
    q = [v for v in views["views"] if v["name"] == "queries"][0]
    assert q["columns"][0]["name"] == "fingerprint" and q["columns"][4] == {
        "name": "calls", "type": "int8", "unit": "count", "description": q["columns"][4]["description"]}

    status, top = httpkit.get_json(port, "/api/v1/queries?order=-calls&limit=1")
    assert status == 200 and len(top["rows"]) == 1 and top["total"] >= 2
    row = top["rows"][0]
    want = fingerprint_of(p, "json_probe")
    assert row["fingerprint"] == want["fingerprint"] and row["calls"] == int(want["calls"]) == 12
    assert isinstance(row["total_ms"], float) and row["application_name"] == "json-app"
    assert row["last_seen"].endswith("Z") and row["sample"] is None
    status, got = httpkit.get_json(port, "/api/v1/queries?where=query~JSON_OTHER&where=calls<2")
    assert status == 200 and [r["query"] for r in got["rows"]] == ["select $1 as json_other"]
    status, got = httpkit.get_json(port, "/api/v1/config?where=key=http_port")
    assert got["rows"] == [{"key": "http_port", "value": str(port), "default": "0", "changeable": "no"}]
    status, got = httpkit.get_json(port, "/api/v1/pools?where=database=siftdb&order=user.desc")
    assert status == 200 and all(r["database"] == "siftdb" for r in got["rows"]) and got["rows"]

    for path, code, words in (("/api/v1/nosuch", 404, "no view nosuch"),
                              ("/api/v1/queries?order=nosuch", 400, "no column nosuch"),
                              ("/api/v1/queries?where=calls%3F3", 400, "expected one of"),
                              ("/api/v1/queries?limit=abc", 400, "limit"),
                              ("/api/v1/queries?limit=999999999", 400, "limit"),
                              ("/api/v1/queries?bogus=1", 400, "unknown parameter bogus"),
                              ("/api/v1/queries/x", 404, "no view")):
        status, body = httpkit.get_json(port, path)
        assert status == code and words in body["error"], (path, status, body)


def test_dashboard_files_and_their_headers(pooler):
    p = http_pooler(pooler)
    port = int(p.settings["http_port"])
    status, headers, body = httpkit.get(port, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"app.js" in body and "default-src 'self'" in headers["Content-Security-Policy"]
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css"), ("/index.html", "text/html")):
        status, headers, body = httpkit.get(port, path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
    assert httpkit.get(port, "/nope.js")[0] == 404
    assert httpkit.get(port, "/healthz")[2] == b"ok\n"


# ---------------------------------------------------------------- bad HTTP

class Traffic:
    """A pooled client running `select` in a loop, counting errors."""

    def __init__(self, p):
        self.conn = p.connect()
        self.ok = 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                assert self.conn.execute("select 41 + 1").fetchone() == (42,)
                self.ok += 1
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(e))
                return
            time.sleep(0.005)

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        return self.ok, self.errors


def test_malformed_requests_get_4xx_and_pooled_traffic_goes_on(pooler):
    p = http_pooler(pooler, http_timeout=1)
    port = int(p.settings["http_port"])
    t = Traffic(p)
    cases = [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", (400, 413)),
        (b"DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (405,)),
        (b"POST /api/v1/views HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", (405,)),
        (b"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n", (400, 501)),
        (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400,)),
        (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400,)),
        (b"GET /app.js/../../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400,)),
        (b"GET /app.js%00.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400,)),
        (b"GET /..%5c..%5cetc%5cpasswd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400,)),
        (b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (404,)),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n", (400, 413)),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40 + b"\r\n\r\n", (400, None)),
    ]
    for data, codes in cases:
        answer = httpkit.raw(port, data, timeout=5)
        assert httpkit.status_of(answer) in codes, (data[:60], answer[:200])
        assert b"root:" not in answer
    # slowloris: headers trickled one byte at a time are cut off after
    # http_timeout although each byte comes well within it
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    start, closed = time.monotonic(), False
    while time.monotonic() - start < 8:
        try:
            s.sendall(b"X")
            s.settimeout(0.2)
            if s.recv(100) == b"":
                closed = True
                break
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
    s.close()
    assert closed and time.monotonic() - start < 4, "a trickling client kept its connection"
    ok, errors = t.finish()
    assert not errors and ok > 10, (ok, errors)
    assert httpkit.get(port, "/healthz")[0] == 200


def test_connections_are_bounded(pooler):
    p = http_pooler(pooler, http_max_connections=3, http_timeout=20)
    port = int(p.settings["http_port"])
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    time.sleep(0.3)
    late = socket.create_connection(("127.0.0.1", port), timeout=10)
    late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    late.settimeout(0.7)
    with pytest.raises(socket.timeout):
        late.recv(100)  # waits in the backlog while three are open
    assert p.connect().execute("select 1").fetchone() == (1,)
    idle[0].close()
    late.settimeout(10)
    answer = late.recv(1000)
    assert httpkit.status_of(answer) == 200, answer
    for s in idle[1:] + [late]:
        s.close()


# ---------------------------------------------------------------- auth, TLS

def test_basic_auth_for_stats_and_admin_users(pooler):
    p = http_pooler(pooler, http_auth="basic",
                    auth_entries={"sift_stats": scram_verifier(PASSWORDS["sift_stats"])})
    port = int(p.settings["http_port"])
    status, headers, _ = httpkit.get(port, "/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=\"pgsift\"")
    assert httpkit.get(port, "/metrics", auth=("sift_stats", "wrong"))[0] == 401
    assert httpkit.get(port, "/metrics", auth=("sift_scram", PASSWORDS["sift_scram"]))[0] == 401  # not a stats user
    assert httpkit.get(port, "/", auth=("nobody", "x"))[0] == 401
    for _ in range(3):  # a SCRAM secret, then the cached check
        assert httpkit.get(port, "/metrics", auth=("sift_stats", PASSWORDS["sift_stats"]))[0] == 200
    assert httpkit.get(port, "/api/v1/views", auth=("sift_admin", PASSWORDS["sift_admin"]))[0] == 200
    assert httpkit.raw(port, b"GET / HTTP/1.1\r\nAuthorization: Basic %%%%\r\nConnection: close\r\n\r\n"
                       ).startswith(b"HTTP/1.1 401")


def test_http_over_tls(pooler, tmp_base):
    import ssl
    from test_tls import make_cert, openssl
    d = tmp_base / "http_tls"
    d.mkdir(exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=pgsift http test ca", cwd=d)
    make_cert(d, "server", "localhost", "ca", san="IP:127.0.0.1,DNS:localhost")
    for f in d.iterdir():
        os.chmod(f, 0o644)
    p = http_pooler(pooler, http_tls=1, client_tls_key_file=d / "server.key", client_tls_cert_file=d / "server.crt")
    port = int(p.settings["http_port"])
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    status, _, body = httpkit.get(port, "/healthz", scheme="https", context=ctx)
    assert status == 200 and body == b"ok\n"
    assert httpkit.status_of(httpkit.raw(port, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=3)) is None
    assert p.connect().execute("select 1").fetchone() == (1,)


def test_http_tls_needs_a_certificate(pooler):
    p = pooler(http_port=free_port(), http_tls=1, start=False)
    rc, log = p.run_to_exit()
    assert rc == 1 and "http_tls needs client_tls_key_file" in log


def test_http_port_in_use_stops_startup(pooler):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        p = pooler(http_port=s.getsockname()[1], start=False)
        rc, log = p.run_to_exit()
    assert rc == 1 and "http_listen_addr 127.0.0.1 port" in log


# ---------------------------------------------------------------- lifecycle

def test_answers_while_draining_and_stops_last(pooler):
    p = http_pooler(pooler)
    port = int(p.settings["http_port"])
    c = p.connect()
    c.execute("select 1").fetchone()
    p.signal(signal.SIGTERM)
    wait_for(lambda: httpkit.get(port, "/healthz")[0] == 503, what="/healthz to say draining")
    s = httpkit.metrics(port)  # a scrape during the drain sees the instance
    assert httpkit.value(s, "pgsift_pools_client_active_connections", database="siftdb", user=USER) == 1
    assert c.execute("select 2").fetchone() == (2,)
    c.close()
    assert p.wait_exit() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def series_bound(pools, databases, top, pgbouncer_names=False):
    """doc/metrics.md's bound on the number of series."""
    k = 2 if pgbouncer_names else 1
    return (12 * pools + 17 * databases + 33) * k + 50 * pools + 10 * databases + 27 * top + 36


@pytest.mark.timeout(300)
def test_series_stay_under_the_documented_bound_with_5000_fingerprints(pooler):
    p = http_pooler(pooler, max_fingerprints=6000, metrics_pgbouncer_names=1)
    port = int(p.settings["http_port"])
    c = p.connect()
    for k in range(5000):  # 5000 shapes (the tables do not exist: the errors count too)
        try:
            c.execute(f"select 1 from sift_missing_{k}")
        except psycopg.errors.UndefinedTable:
            pass
    _, rows = p.admin("SHOW ANALYZER")
    assert int(rows[0][1]) >= 5000
    status, _, body = httpkit.get(port, "/metrics")
    samples = httpkit.parse(body.decode())
    shown = {l["fingerprint"] for _, l, _ in httpkit.pick(samples, "pgsift_query_duration_seconds_count")}
    assert len(shown) == 101 and "other" in shown  # the top 100 and the rest
    other = httpkit.value(samples, "pgsift_query_duration_seconds_count", fingerprint="other")
    total = sum(v for _, _, v in httpkit.pick(samples, "pgsift_query_duration_seconds_count"))
    assert other >= 4900 and total >= 5000
    assert len(samples) <= series_bound(pools=1, databases=1, top=100, pgbouncer_names=True), len(samples)


def test_two_instances_share_a_port_with_so_reuseport(pooler):
    p1 = http_pooler(pooler, so_reuseport=1)
    p2 = http_pooler(pooler, so_reuseport=1, start=False)
    p2.port = p1.port
    p2.settings["listen_port"] = str(p1.port)
    p2.write_ini()
    p2.start()  # returns once the port accepts: p1 already does, so wait for p2 itself
    wait_for(lambda: httpkit.get(int(p2.settings["http_port"]), "/healthz")[0] == 200, ignore=(OSError,),
             what="the second instance's HTTP listener")
    conns = [psycopg.connect(p1.dsn(), autocommit=True) for _ in range(24)]
    try:
        for c in conns:
            c.execute("select 1 as spread").fetchone()
        per = [httpkit.value(httpkit.metrics(int(p.settings["http_port"])), "pgsift_pools_client_active_connections",
                             database="siftdb", user=USER) for p in (p1, p2)]
        assert sum(per) == 24 and min(per) > 0, per  # the kernel spread them
    finally:
        for c in conns:
            c.close()


# ---------------------------------------------------------------- sql=

def sql(port, text, **params):
    from urllib.parse import urlencode
    return httpkit.get_json(port, "/api/v1/sql?" + urlencode(dict(sql=text, **params)))


def test_sql_through_the_console_engine(pooler):
    p = http_pooler(pooler, admin_sql_timeout="300ms")
    port = int(p.settings["http_port"])
    c = p.connect(application_name="sql-app")
    for i in range(7):
        c.execute("select %s::int as sql_probe", (i,)).fetchone()
    want = fingerprint_of(p, "sql_probe")
    status, got = sql(port, "select q.fingerprint, q.calls, q.total_ms, q.application_name, h.count as under_30s "
                            "from queries q join query_histogram h using (fingerprint, database, user) "
                            "where h.le_ms = 30000 and q.query like '%sql_probe%'")
    assert status == 200, got
    assert got["rows"] == [{"fingerprint": want["fingerprint"], "calls": 7, "total_ms": got["rows"][0]["total_ms"],
                            "application_name": "sql-app", "under_30s": 7}]
    assert isinstance(got["rows"][0]["total_ms"], float) and got["total"] == 1
    assert [c["type"] for c in got["columns"]] == ["text", "int8", "float8", "text", "int8"]
    status, got = sql(port, "select name from views order by name", limit="3")
    assert status == 200 and len(got["rows"]) == 3 and got["total"] > 20
    for text, code, state in (("delete from queries", 403, "42501"), ("select nosuch from queries", 400, "42703"),
                              ("select from where", 400, None)):
        status, got = sql(port, text)
        assert status == code and got["error"] and (state is None or got["sqlstate"] == state), (text, got)
    assert httpkit.get_json(port, "/api/v1/sql")[0] == 400
    assert httpkit.get_json(port, "/api/v1/sql?sql=select%201&where=x=1")[0] == 400
    # the time limit stops a runaway statement; pooled traffic never waited for it
    t = Traffic(p)
    heavy = "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r"
    status, got = sql(port, heavy)
    assert status == 503 and got["sqlstate"] == "57014", got
    # a requester that leaves mid-statement: its answer is dropped, nothing else happens
    from urllib.parse import quote
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /api/v1/sql?sql={quote(heavy)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s.close()
    time.sleep(0.6)
    ok, errors = t.finish()
    assert not errors and ok > 5, (ok, errors)
    assert sql(port, "select 1 as one")[1]["rows"] == [{"one": 1}]
