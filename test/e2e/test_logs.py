"""Structured logs (log_format = json) and syslog: every line one JSON
object; every finding one event whose fields are its view's columns;
literal values only with log_query_samples."""

import json
import os
import socket
import time

import pytest

from harness import wait_for
from test_findings import PARENTS, orm_loop, shop  # noqa: F401 - shop is a fixture

pytestmark = pytest.mark.pgsift_only("log_format and the finding events are pgsift's own")


def json_lines(p):
    lines = [ln for ln in p.log().splitlines() if ln.strip()]
    out = []
    for ln in lines:
        if ln.startswith("==") or "Sanitizer" in ln:
            continue
        obj = json.loads(ln)  # every line parses
        assert {"time", "level", "pid", "event"} <= obj.keys(), obj
        assert obj["time"].endswith("Z") and obj["pid"] == p.pid, obj
        out.append(obj)
    return out


def view_columns(p, view):
    return [r["name"] for r in p.admin_dicts("SHOW COLUMNS") if r["view"] == view]


def test_json_lines_with_connection_fields_and_finding_events(pooler, shop):  # noqa: F811
    p = pooler(log_format="json", slow_query_ms=50, slow_query_explain=0, nplusone_think_time_ms=200)
    c = p.connect(application_name="json-log-app")
    orm_loop(c)
    c.execute("select pg_sleep(0.08), 'hunter2-literal' as secret").fetchone()
    c.execute("set search_path = public")  # a hazard under transaction pooling
    c.close()
    # the N+1 unit ends, and the client's last line is written, as it leaves
    wait_for(lambda: any(o["event"] == "nplusone" for o in json_lines(p)) and any(
        o.get("application_name") == "json-log-app" for o in json_lines(p) if o["event"] == "client"),
        what="the N+1 event and the client's closing line")
    objs = json_lines(p)
    client = [o for o in objs if o["event"] == "client"]
    assert client and all(o["database"] == "siftdb" and o["user"] == "sift_scram" and
                          o["client_addr"].startswith("127.0.0.1:") and "msg" in o for o in client), client
    assert any(o.get("application_name") == "json-log-app" for o in client)
    fixed = {"time", "level", "pid", "event"}
    for event, view in (("nplusone", "nplusone"), ("slow_query", "slow"), ("hazard", "hazards")):
        got = [o for o in objs if o["event"] == event]
        assert len(got) >= 1, (event, [o["event"] for o in objs])
        cols = view_columns(p, view)
        for o in got:
            assert set(o) - fixed <= set(cols), (event, set(o) - fixed - set(cols))
    np_ev = [o for o in objs if o["event"] == "nplusone"][0]
    assert np_ev["kind"] == "n+1" and np_ev["last_count"] == PARENTS and np_ev["occurrences"] == 1
    assert np_ev["application_name"] == "json-log-app" and "suggestion" in np_ev
    assert np_ev["query"].startswith("select val from np_child where parent_id = $1")
    slow = [o for o in objs if o["event"] == "slow_query"]
    assert any(o["duration_ms"] >= 80 and o["query"].startswith("select pg_sleep($1), $2") for o in slow), slow
    assert "sample" not in slow[0]
    hz = [o for o in objs if o["event"] == "hazard"][0]
    assert hz["kind"] == "set" and hz["count"] == 1 and hz["advice"]
    # no literal value reaches the log unless log_query_samples is on
    assert "hunter2" not in p.log()


def test_literal_samples_only_with_log_query_samples(pooler):
    p = pooler(log_format="json", slow_query_ms=50, slow_query_explain=0, log_query_samples=1)
    c = p.connect()
    c.execute("select pg_sleep(0.08), 'hunter2-literal' as secret").fetchone()
    wait_for(lambda: any(o["event"] == "slow_query" for o in json_lines(p)), what="the slow event")
    slow = [o for o in json_lines(p) if o["event"] == "slow_query"]
    assert "hunter2-literal" in slow[0]["sample"]


def test_text_lines_stay_pgbouncer_like_and_set_switches_to_json(pooler):
    p = pooler(slow_query_ms=50, slow_query_explain=0)
    c = p.connect()
    c.execute("select pg_sleep(0.06)").fetchone()
    wait_for(lambda: "slow_query: time=" in p.log(), what="the slow event as text")
    line = [ln for ln in p.log().splitlines() if "slow_query: " in ln][0]
    assert " LOG slow_query: time=" in line and " duration_ms=" in line and ' query="select pg_sleep($1)"' in line
    assert " C-" in p.log() and "login attempt" in p.log()
    before = len(p.log().splitlines())
    p.admin("SET log_format = json")
    p.connect().execute("select 1").fetchone()
    wait_for(lambda: len(p.log().splitlines()) > before + 1, what="lines after SET")
    after = [ln for ln in p.log().splitlines()[before:] if ln.startswith("{")]
    assert after and all(json.loads(ln)["event"] for ln in after)


@pytest.mark.skipif(os.geteuid() != 0 or os.path.exists("/dev/log"),
                    reason="needs root and no syslog daemon: the test listens on /dev/log itself")
def test_syslog_gets_the_lines(pooler):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("/dev/log")
    os.chmod("/dev/log", 0o666)
    try:
        s.settimeout(10)
        p = pooler(syslog=1, syslog_ident="siftlog", syslog_facility="local3")
        p.connect().execute("select 1").fetchone()
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(b"login attempt" in g for g in got):
            got.append(s.recv(65536))
        started = [g for g in got if b"started, listening" in g]
        assert started, got
        # <facility * 8 + severity>: local3 (19) and info (6)
        assert started[0].startswith(b"<158>") and b"siftlog[%d]: LOG pgsift" % p.pid in started[0], started[0]
        assert any(b"login attempt" in g for g in got)
    finally:
        s.close()
        os.unlink("/dev/log")
