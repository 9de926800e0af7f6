"""pgsift's spans in the application's OpenTelemetry traces (doc/tracing.md,
issue 21): the traceparent a sqlcommenter comment carries makes pgsift's
span a child of the application's, exported over OTLP/HTTP JSON to a
receiver the test starts (otlpkit.Receiver)."""

import os
import re
import secrets
import subprocess
import threading
import time

import pytest

from harness import PASSWORDS, REPO_ROOT, client_env, wait_for
from otlpkit import Receiver

pytestmark = pytest.mark.pgsift_only("spans are pgsift's own")

USER = "sift_scram"
NODE_DIR = REPO_ROOT / "test" / "drivers" / "otel"


@pytest.fixture
def receiver():
    rx = Receiver().start()
    yield rx
    rx.stop()


def traced_pooler(pooler, rx, **kw):
    kw.setdefault("otlp_flush_interval", "100ms")
    return pooler(otlp_endpoint=rx.url, **kw)


def traceparent(sampled=True):
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"


def python_comment(tp):
    # what opentelemetry-instrumentation-psycopg (sqlcommenter) writes:
    # URL-encoded values in single quotes, keys sorted
    return ("/*db_driver='psycopg%%3A3.1',dbapi_level='2.0',dbapi_threadsafety=2,"
            f"driver_paramstyle='pyformat',traceparent='{tp}'*/")


def analyzer_row(p):
    return p.admin_dicts("SHOW ANALYZER")[0]


# ---------------------------------------------------------------- psycopg 3

@pytest.mark.parametrize("where", ["trailing", "leading"])
def test_psycopg_sqlcommenter_comment(pooler, receiver, where):
    p = traced_pooler(pooler, receiver)
    c = p.connect()
    tps = []
    for i in range(3):
        tp = traceparent()
        tps.append(tp)
        q = f"select %s::int + 40 as answer, 'secret-literal' as s"
        sql = f"{q} {python_comment(tp)}" if where == "trailing" else f"{python_comment(tp)} {q}"
        assert c.execute(sql, (i,)).fetchone()[0] == 40 + i
    # simple protocol, and a failing statement
    tp_err = traceparent()
    with pytest.raises(Exception):
        c.execute(f"{python_comment(tp_err)} select 1/0 as boom".replace("%%", "%"), prepare=False)

    spans = receiver.wait_spans("pgsift", lambda s: len(s) >= 4)
    by_parent = {sp["parentSpanId"]: sp for sp in spans}
    for tp in tps + [tp_err]:
        _, trace_id, span_id, _ = tp.split("-")
        sp = by_parent[span_id]
        assert sp["traceId"] == trace_id
        a = sp["attrs"]
        assert a["db.system.name"] == "postgresql"
        assert a["db.namespace"] == "siftdb"
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == p.pg.port
        assert re.fullmatch(r"[0-9a-f]{16}", a["pgsift.fingerprint"])
        assert a["pgsift.pool.wait"] >= 0
        assert a["pgsift.backend_pid"] > 0
        assert "secret-literal" not in a["db.query.text"] and "40" not in a["db.query.text"]
        assert int(sp["endTimeUnixNano"]) >= int(sp["startTimeUnixNano"]) > 0
    ok = by_parent[tps[0].split("-")[2]]
    assert ok["attrs"]["db.operation.name"] == "SELECT"
    assert ok["name"] == "SELECT siftdb"
    assert ok["attrs"]["pgsift.pool"] == "siftdb/sift_scram"
    assert ok["attrs"]["db.response.returned_rows"] == 1
    assert "db.response.status_code" not in ok["attrs"]
    err = by_parent[tp_err.split("-")[2]]
    assert err["attrs"]["db.response.status_code"] == "22012"
    assert err["status"]["code"] == 2
    # the fingerprint is the statement's, as SHOW QUERIES has it
    fps = {r["fingerprint"] for r in p.admin_dicts("SHOW QUERIES") if "answer" in r["query"]}
    assert ok["attrs"]["pgsift.fingerprint"] in fps
    assert all(sp["resource"]["service.name"] == "pgsift" and sp["resource"]["host.name"]
               and sp["resource"]["service.instance.id"] and sp["resource"]["service.version"] for sp in spans)
    assert receiver.content_types == {"application/json"}
    row = analyzer_row(p)
    assert int(row["spans_made"]) >= 4 and int(row["spans_exported"]) >= 4
    assert int(row["spans_dropped"]) == 0


def test_unsampled_parent_and_sample_settings(pooler, receiver):
    p = traced_pooler(pooler, receiver, slow_query_ms=200)
    c = p.connect()
    quick, slow = traceparent(sampled=False), traceparent(sampled=False)
    c.execute(f"select 1 as quick {python_comment(quick)}".replace("%%", "%"))
    c.execute(f"select pg_sleep(0.3) {python_comment(slow)}".replace("%%", "%"))
    spans = receiver.wait_spans("pgsift")
    time.sleep(0.5)
    spans = receiver.spans("pgsift")
    # not sampled: only the slow one, as a root span linked to the app's span
    assert len(spans) == 1, spans
    sp = spans[0]
    _, tid, sid, _ = slow.split("-")
    assert "parentSpanId" not in sp and sp["traceId"] != tid
    assert sp["links"] == [{"traceId": tid, "spanId": sid}]
    assert sp["attrs"]["pgsift.slow"] is True
    assert int(analyzer_row(p)["spans_made"]) == 2
    # trace_always_slow off: nothing; trace_sample 1: every traced statement
    p.admin("SET trace_always_slow = 0")
    c.execute(f"select pg_sleep(0.3) {python_comment(traceparent(False))}".replace("%%", "%"))
    p.admin("SET trace_sample = 1")
    c.execute(f"select 2 as ratio_one {python_comment(traceparent(False))}".replace("%%", "%"))
    receiver.wait_spans("pgsift", lambda s: len(s) == 2)
    time.sleep(0.5)
    assert len(receiver.spans("pgsift")) == 2
    # off: no spans made at all
    p.admin("SET trace_sample = off")
    before = int(analyzer_row(p)["spans_made"])
    c.execute(f"select 3 {python_comment(traceparent())}".replace("%%", "%"))
    assert int(analyzer_row(p)["spans_made"]) == before
    with pytest.raises(Exception):
        p.admin("SET trace_sample = 1.5")


def test_untraced_ratio(pooler, receiver):
    p = traced_pooler(pooler, receiver)
    c = p.connect()
    c.execute("select 1 as untraced_default")
    time.sleep(0.4)
    assert receiver.spans("pgsift") == []
    p.admin("SET trace_untraced_ratio = 1")
    c.execute("select 2 as untraced_all")
    spans = receiver.wait_spans("pgsift")
    assert len(spans) == 1 and "parentSpanId" not in spans[0]
    assert re.fullmatch(r"[0-9a-f]{32}", spans[0]["traceId"])


# ---------------------------------------------------------------- Node.js + OpenTelemetry SDK

@pytest.fixture(scope="module")
def node_otel():
    if not (NODE_DIR / "node_modules" / "@opentelemetry" / "instrumentation-pg").is_dir():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "npm ci failed:\n" + r.stdout + r.stderr
    return NODE_DIR


HOLD = 1.0


@pytest.mark.timeout(240)
def test_node_opentelemetry_request(pooler, receiver, node_otel):
    # pool size 1: the request waits while another client holds the server
    p = traced_pooler(pooler, receiver, default_pool_size=1, nplusone_think_time_ms=500)
    holder = p.connect(autocommit=False)
    app = subprocess.Popen(["node", "traced.js", p.host, str(p.port), USER, PASSWORDS[USER], "siftdb",
                            receiver.url], cwd=node_otel, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert app.stdout.readline().strip() == "connected", app.stderr.read()
        holder.execute("select 1 as holding_the_server")  # a transaction: the server is the holder's
        app.stdin.write("go\n")
        app.stdin.flush()
        time.sleep(HOLD)
        release = time.time()
        holder.commit()
        out, err = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, out + err
    trace_id = re.search(r"trace ([0-9a-f]{32})", out).group(1)

    app_spans = receiver.wait_spans("otel-app", lambda s: len([x for x in s if x["name"].startswith("pg.query")]) >= 22)
    queries = {sp["spanId"]: sp for sp in app_spans if sp["name"].startswith("pg.query")}
    spans = receiver.wait_spans("pgsift", lambda s: len(s) >= 22)
    assert len(spans) == 22, [sp["attrs"].get("db.query.text") for sp in spans]
    parents = set()
    for sp in spans:
        # the application's trace, child of its pg.query span for the same statement
        assert sp["traceId"] == trace_id
        q = queries[sp["parentSpanId"]]
        app_text = q["attrs"].get("db.query.text") or q["attrs"].get("db.statement")
        mine = sp["attrs"]["db.query.text"]
        for word in ("generate_series", "order_line", "pg_sleep"):
            assert (word in app_text) == (word in mine), (app_text, mine)
        parents.add(sp["parentSpanId"])
        # no literal: the normalized text
        assert "20" not in mine and "0.3" not in mine, mine
        assert "traceparent" not in mine
        assert sp["kind"] == 3
        assert int(q["startTimeUnixNano"]) <= int(sp["endTimeUnixNano"]) <= int(q["endTimeUnixNano"]) + 50_000_000
    assert len(parents) == 22
    # the first statement waited for the holder's server at least as long as
    # the hold went on after the request started
    first = min(spans, key=lambda sp: int(sp["startTimeUnixNano"]))
    assert "generate_series" in first["attrs"]["db.query.text"]
    app_start = int(queries[first["parentSpanId"]]["startTimeUnixNano"]) / 1e9
    wait = first["attrs"]["pgsift.pool.wait"]
    assert wait >= release - app_start - 0.05 and wait >= HOLD / 2, (wait, release - app_start)
    assert any(e["name"] == "pgsift.pool.wait" for e in first["events"])
    others = [sp for sp in spans if sp is not first]
    assert all(sp["attrs"]["pgsift.pool.wait"] < HOLD / 2 for sp in others)
    # the N+1 loop: its last statement carries the finding
    np = [(sp, e) for sp in spans for e in sp["events"] if e["name"] == "N+1"]
    assert len(np) == 1, np
    sp, e = np[0]
    assert "order_line" in sp["attrs"]["db.query.text"]
    assert e["attrs"]["pgsift.nplusone.count"] == 20
    assert "order_line" in e["attrs"]["pgsift.nplusone.statement"]
    assert e["attrs"]["pgsift.nplusone.fingerprint"] == sp["attrs"]["pgsift.fingerprint"]
    assert e["attrs"]["pgsift.nplusone.time"] > 0 and e["attrs"]["pgsift.nplusone.suggestion"]
    loop = sorted((sp for sp in spans if "order_line" in sp["attrs"]["db.query.text"]),
                  key=lambda sp: int(sp["startTimeUnixNano"]))
    assert sp is loop[-1]
    sleep = [sp for sp in spans if "pg_sleep" in sp["attrs"]["db.query.text"]][0]
    assert int(sleep["endTimeUnixNano"]) - int(sleep["startTimeUnixNano"]) >= 300_000_000


# ---------------------------------------------------------------- collector down, slow, back

def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.timeout(300)
def test_collector_down_then_slow_then_back(pooler, pgbench_tables, tmp_path):
    from harness import PGBENCH
    rx = Receiver(mode="slow", delay=5.0)  # not started yet: the collector is down
    p = pooler(otlp_endpoint=rx.url, otlp_flush_interval="100ms", otlp_queue_spans=1000, otlp_batch_spans=200,
               trace_untraced_ratio=1, default_pool_size=4)

    def bench(name):
        prefix = tmp_path / name
        r = subprocess.run([PGBENCH, "-n", "-S", "-c", "4", "-j", "2", "-T", "4", "-l", "--log-prefix", str(prefix),
                            "-h", p.host, "-p", str(p.port), "-U", USER, "siftdb"],
                           env=client_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        lat = sorted(int(line.split()[2]) / 1000.0 for f in tmp_path.glob(name + ".*")
                     for line in f.read_text().splitlines())
        return lat[int(len(lat) * 0.99)], len(lat)

    try:
        p.admin("SET trace_sample = off")
        p99_off, n_off = bench("off")
        p.admin("SET trace_sample = parent")
        rss0 = rss_kb(p.pid)
        p99_down, n_down = bench("down")
        row = analyzer_row(p)
        assert int(row["spans_made"]) >= n_down
        assert int(row["spans_dropped"]) > 0 and int(row["span_export_errors"]) > 0
        assert int(row["spans_exported"]) == 0 and int(row["spans_queued"]) <= 1000
        rx.start()  # up, but answers after 5 s
        p99_slow, n_slow = bench("slow")
        rss1 = rss_kb(p.pid)
        row = analyzer_row(p)
        dropped_slow = int(row["spans_dropped"])
        assert int(row["spans_queued"]) <= 1000
        print(f"pgsift: pgbench -S p99 {p99_off:.2f} ms ({n_off} xacts) tracing off, {p99_down:.2f} ms ({n_down}) "
              f"collector down, {p99_slow:.2f} ms ({n_slow}) collector slow; RSS {rss0} -> {rss1} kB; {row}")
        # the relay never waits for the collector: no 5 s stalls, throughput of the same order
        assert p99_down < p99_off * 3 + 20 and p99_slow < p99_off * 3 + 20, (p99_off, p99_down, p99_slow)
        assert n_down > n_off / 3 and n_slow > n_off / 3, (n_off, n_down, n_slow)
        # the queue is bounded: memory does not follow the spans made
        assert rss1 - rss0 < 64 * 1024, (rss0, rss1)
        rx.mode = "ok"  # back: export resumes, the queue drains
        wait_for(lambda: int(analyzer_row(p)["spans_queued"]) == 0, timeout=60, what="the queue to drain")
        c = p.connect()
        c.execute("select 1 as after_the_outage")
        wait_for(lambda: any(sp["attrs"].get("db.query.text", "").endswith("after_the_outage")
                             for sp in rx.spans("pgsift")), timeout=60, what="export after the outage")
        row = analyzer_row(p)
        assert int(row["spans_exported"]) > 0 and int(row["spans_dropped"]) >= dropped_slow
        m = p.admin_dicts("SHOW ANALYZER")[0]
        assert int(m["spans_exported"]) > 0
    finally:
        rx.stop()


def test_retry_after_is_honoured(pooler):
    rx = Receiver(mode="fail", code=503, retry_after=2).start()
    try:
        p = pooler(otlp_endpoint=rx.url, otlp_flush_interval="100ms", trace_untraced_ratio=1)
        c = p.connect()
        c.execute("select 1 as retried")
        wait_for(lambda: rx.requests >= 1, what="the first try")
        t0 = time.monotonic()
        time.sleep(1.0)
        assert rx.requests == 1  # not before Retry-After
        rx.mode = "ok"
        rx.wait_spans("pgsift")
        assert time.monotonic() - t0 >= 0.9
        assert int(analyzer_row(p)["span_export_errors"]) == 1
        # a 400 is not retried: the batch is dropped and counted
        rx.mode, rx.code, rx.retry_after = "fail", 400, None
        before = rx.requests
        c.execute("select 2 as refused")
        wait_for(lambda: int(analyzer_row(p)["spans_dropped"]) >= 1, what="the drop")
        time.sleep(1.0)
        assert rx.requests == before + 1
    finally:
        rx.stop()


def test_hazard_and_slow_plan_in_spans(pooler, receiver):
    p = traced_pooler(pooler, receiver, slow_query_ms=100, slow_query_explain_interval=0)
    c = p.connect()
    c.execute(f"set work_mem = '64MB' {python_comment(traceparent())}".replace("%%", "%"))
    hz = receiver.wait_spans("pgsift")[0]
    assert hz["attrs"]["pgsift.hazard"] == "set"
    # the first slow run has its plan captured; the next one's span carries it
    c.execute(f"select pg_sleep(0.15) as napping {python_comment(traceparent())}".replace("%%", "%"))
    wait_for(lambda: any(r["plan_status"] == "ok" for r in p.admin_dicts("SHOW SLOW")
                         if "napping" in r["query"]), what="the plan")
    c.execute(f"select pg_sleep(0.15) as napping {python_comment(traceparent())}".replace("%%", "%"))
    spans = receiver.wait_spans("pgsift", lambda s: len(s) == 3)
    slow = [sp for sp in spans if "napping" in sp["attrs"]["db.query.text"]]
    assert all(sp["attrs"]["pgsift.slow"] for sp in slow)
    assert "pgsift.plan" not in slow[0]["attrs"] or slow[0]["attrs"]["pgsift.plan"]
    assert slow[1]["attrs"]["pgsift.plan"].startswith("Result"), slow[1]["attrs"]


def test_nplusone_exported_when_parent_not_sampled(pooler, receiver):
    p = traced_pooler(pooler, receiver, nplusone_think_time_ms=500)
    c = p.connect()
    trace_id = secrets.token_hex(16)

    def tp():
        return f"00-{trace_id}-{secrets.token_hex(8)}-00"

    c.execute(f"select id from generate_series(1, 8) id {python_comment(tp())}".replace("%%", "%"))
    for i in range(8):
        c.execute(f"select %s::int as item {python_comment(tp())}", (i,))
    c.execute(f"select 'done' as the_end {python_comment(tp())}".replace("%%", "%"))
    spans = receiver.wait_spans("pgsift")
    time.sleep(0.5)
    spans = receiver.spans("pgsift")
    # only the loop's last statement, as a root span linked to the app's span
    assert len(spans) == 1, [sp["attrs"]["db.query.text"] for sp in spans]
    sp = spans[0]
    assert "item" in sp["attrs"]["db.query.text"] and "parentSpanId" not in sp
    assert sp["links"][0]["traceId"] == trace_id
    (e,) = [e for e in sp["events"] if e["name"] == "N+1"]
    assert e["attrs"]["pgsift.nplusone.count"] == 8


# ---------------------------------------------------------------- exemplars

def test_openmetrics_exemplars_reach_prometheus(pooler, receiver, tmp_base):
    import json
    import shutil
    import urllib.parse
    import urllib.request

    import httpkit
    from harness import free_port
    from test_prometheus import Prometheus
    if not shutil.which("prometheus"):
        pytest.skip("needs Debian's prometheus")
    p = traced_pooler(pooler, receiver, http_port=free_port())
    port = int(p.settings["http_port"])
    c = p.connect()
    sent = set()
    for i in range(20):
        tp = traceparent()
        sent.add(tp.split("-")[1])
        c.execute(f"select %s::int as exemplary {python_comment(tp)}", (i,))
    # OpenMetrics: buckets carry the trace id of a traced observation
    status, headers, body = httpkit.get(port, "/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0"})
    text = body.decode()
    ex = re.findall(r'^pgsift_query_duration_seconds_bucket\{[^}]*\} \S+ # \{trace_id="([0-9a-f]{32})"\} (\S+) (\S+)$',
                    text, re.M)
    assert ex and {t for t, _, _ in ex} <= sent, text[:2000]
    xt = re.findall(r'^pgsift_pool_transaction_duration_seconds_bucket\{[^}]*\} \S+ # \{trace_id="([0-9a-f]{32})"\}',
                    text, re.M)
    assert xt and set(xt) <= sent, text[:2000]
    # the Prometheus text format has none
    assert " # {" not in httpkit.get(port, "/metrics")[2].decode()
    prom = Prometheus(tmp_base / f"prom-ex-{port}", [f"127.0.0.1:{port}"], flags=["--enable-feature=exemplar-storage"])
    try:
        def exemplars():
            q = urllib.parse.urlencode({"query": "pgsift_query_duration_seconds_bucket",
                                        "start": time.time() - 600, "end": time.time() + 60})
            with urllib.request.urlopen(f"http://127.0.0.1:{prom.port}/api/v1/query_exemplars?{q}", timeout=10) as r:
                data = json.load(r)["data"]
            return {e["labels"]["trace_id"] for series in data for e in series["exemplars"]}
        got = wait_for(exemplars, timeout=60, what="exemplars in Prometheus")
        spans = receiver.wait_spans("pgsift", lambda s: len(s) >= 20)
        assert got <= {sp["traceId"] for sp in spans}, (got, sent)
    finally:
        prom.stop()


def test_https_collector_checked_with_the_ca(pooler, tmp_base):
    from test_tls import make_cert, openssl
    d = tmp_base / "otlp_tls"
    d.mkdir(exist_ok=True)
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN=otlp test {ca}", cwd=d)
    make_cert(d, "collector", "localhost", "ca", san="IP:127.0.0.1,DNS:localhost")
    for f in d.iterdir():
        os.chmod(f, 0o644)
    rx = Receiver(tls=(str(d / "collector.crt"), str(d / "collector.key"))).start()
    try:
        p = pooler(otlp_endpoint=rx.url, otlp_flush_interval="100ms", server_tls_ca_file=d / "otherca.crt")
        c = p.connect()
        c.execute(f"select 1 as over_tls {python_comment(traceparent())}".replace("%%", "%"))
        wait_for(lambda: int(analyzer_row(p)["span_export_errors"]) >= 1, what="a refused certificate")
        assert rx.spans("pgsift") == []
        # the right CA, through RELOAD: the queued span goes out too
        p.settings["server_tls_ca_file"] = str(d / "ca.crt")
        p.write_ini()
        p.reload()
        c.execute(f"select 2 as over_tls {python_comment(traceparent())}".replace("%%", "%"))
        spans = rx.wait_spans("pgsift", timeout=60)
        assert any("over_tls" in sp["attrs"]["db.query.text"] for sp in spans)
    finally:
        rx.stop()


def test_endpoint_follows_sighup(pooler, receiver):
    other = Receiver().start()
    try:
        p = traced_pooler(pooler, receiver)
        c = p.connect()
        c.execute(f"select 1 as first_collector {python_comment(traceparent())}".replace("%%", "%"))
        receiver.wait_spans("pgsift")
        p.settings["otlp_endpoint"] = other.url
        p.settings["otlp_service_name"] = "pgsift-eu"
        p.write_ini()
        p.reload()
        wait_for(lambda: p.admin_dicts("SHOW CONFIG") and any(
            r["key"] == "otlp_service_name" and r["value"] == "pgsift-eu" for r in p.admin_dicts("SHOW CONFIG")),
            what="the reload")
        tp = traceparent()
        c.execute(f"select 2 as second_collector {python_comment(tp)}".replace("%%", "%"))
        other.wait_spans("pgsift-eu")
        time.sleep(0.5)
        (sp,) = other.spans("pgsift-eu")
        assert sp["parentSpanId"] == tp.split("-")[2]
        assert len(receiver.spans("pgsift")) == 1
    finally:
        other.stop()
