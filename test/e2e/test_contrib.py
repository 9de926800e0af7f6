"""What users import: contrib/prometheus (scrape config, alert rules and
their promtool unit tests) and contrib/grafana/pgsift.json (every PromQL
expression parses and names only metrics a running pgsift exports)."""

import json
import re
import shutil
import subprocess

import pytest

import httpkit
from harness import REPO_ROOT, free_port

PROM = REPO_ROOT / "contrib" / "prometheus"
GRAFANA = REPO_ROOT / "contrib" / "grafana" / "pgsift.json"
OURS = re.compile(r"\b((?:pgsift|pgbouncer|process)_[a-zA-Z0-9_]+)\b")

pytestmark = [pytest.mark.pgsift_only("pgsift's contrib files"),
              pytest.mark.skipif(not shutil.which("promtool"), reason="needs Debian's prometheus (promtool)")]


def promtool(*args, cwd=PROM):
    r = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def exported(pg, tmp_base):
    """The metric names a running pgsift exports (every family is declared
    even before it has a series), as Prometheus stores them."""
    from harness import Pooler
    p = Pooler(pg, tmp_base / "contrib-pooler", settings={"http_port": free_port(), "metrics_pgbouncer_names": 1})
    p.start()
    try:
        p.connect().execute("select 1").fetchone()
        _, _, body = httpkit.get(int(p.settings["http_port"]), "/metrics")
    finally:
        problems = p.teardown_problems()
    assert not problems, problems
    names = set()
    for line in body.decode().splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if not m:
            continue
        name, kind = m.groups()
        names |= {name + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return names


def test_alert_rules_pass_promtool(exported):
    promtool("check", "rules", "pgsift-rules.yml")
    promtool("check", "config", "prometheus.yml")
    out = promtool("test", "rules", "pgsift-rules.test.yml")
    assert "SUCCESS" in out
    rules = (PROM / "pgsift-rules.yml").read_text()
    used = set(OURS.findall(rules))
    assert used and used <= exported, used - exported
    for alert in ("PgsiftPoolLatencyBudgetBurn", "PgsiftPoolLatencyBudgetSlowBurn", "PgsiftClientsWaiting",
                  "PgsiftNewNplusone", "PgsiftPoolUndersized"):
        assert f"alert: {alert}\n" in rules
        assert f"alertname: {alert}\n" in (PROM / "pgsift-rules.test.yml").read_text()


def grafana_exprs(dash):
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            yield panel["title"], t["expr"]
    for v in dash["templating"]["list"]:
        m = re.fullmatch(r"label_values\((.*), *\w+\)", v["query"]["query"])
        assert m, v["query"]
        yield "variable " + v["name"], m.group(1)


def test_grafana_dashboard_queries_parse_and_name_exported_metrics(exported, tmp_path):
    dash = json.loads(GRAFANA.read_text())
    assert dash["uid"] == "pgsift" and dash["panels"]
    exprs = list(grafana_exprs(dash))
    assert len(exprs) >= 20
    subst = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$instance": ".*", "$database": ".*",
             "$job": ".*"}
    lines = ["groups:", "  - name: grafana", "    rules:"]
    for i, (title, expr) in enumerate(exprs):
        for k, v in subst.items():
            expr = expr.replace(k, v)
        assert "$" not in expr, (title, expr)
        used = set(OURS.findall(expr))
        assert used, (title, expr)
        assert used <= exported, (title, used - exported)
        lines += [f"      - record: grafana:check:{i}", "        expr: " + json.dumps(expr)]
    (tmp_path / "grafana-rules.yml").write_text("\n".join(lines) + "\n")
    out = promtool("check", "rules", str(tmp_path / "grafana-rules.yml"), cwd=tmp_path)
    assert f"SUCCESS: {len(exprs)} rules found" in out


def test_every_metric_family_is_documented(exported):
    """doc/metrics.md names each family: in full, or as `_tail` after the
    first of its group."""
    doc = (REPO_ROOT / "doc" / "metrics.md").read_text()
    families = {n[:-len(s)] if n.endswith(s) else n for n in exported
                for s in ("_bucket",) if n.endswith(s)} | {n for n in exported
                                                          if not n.endswith(("_bucket", "_sum", "_count"))}
    missing = []
    for name in sorted(families):
        if name.startswith("pgbouncer_"):
            name = "pgsift_" + name[len("pgbouncer_"):]
        parts = name.split("_")
        tails = ["_".join(parts[i:]) for i in range(1, len(parts))]
        if f"`{name}" not in doc and not any(f"`_{t}`" in doc for t in tails):
            missing.append(name)
    assert not missing, missing
