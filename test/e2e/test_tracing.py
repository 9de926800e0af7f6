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
