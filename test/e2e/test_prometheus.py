"""A real Prometheus (Debian's) scrapes two pgsift instances every second
under pgbench and an N+1 workload; its HTTP API must agree with the
console: histogram_quantile(0.95) within one bucket of SHOW QUERIES' p95,
transaction counts equal to SHOW STATS, the N+1 counter present, and
sum by (fingerprint) of both instances' calls equal to both SHOW QUERIES."""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import httpkit
from harness import PGBENCH, client_env, free_port, wait_for
from test_findings import orm_loop, shop  # noqa: F401 - shop is a fixture

pytestmark = [pytest.mark.pgsift_only("/metrics is pgsift's own"),
              pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian's prometheus"),
              pytest.mark.timeout(240)]

# the buckets of pgsift_query_duration_seconds (analyzer/lbuckets.h), seconds
BOUNDS = [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5,
          1, 2.5, 5, 10, 30, float("inf")]


def bucket_of(seconds):
    return next(i for i, b in enumerate(BOUNDS) if seconds <= b * (1 + 1e-9))


class Prometheus:
    def __init__(self, workdir, targets):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: pgsift\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(self.ready, timeout=60, what="prometheus to be ready", ignore=(OSError,))

    def ready(self):
        assert self.proc.poll() is None, (self.dir / "prometheus.log").read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
            return r.status == 200

    def query(self, expr):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, expr):
        res = self.query(expr)
        assert len(res) == 1, (expr, res)
        return float(res[0]["value"][1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def pgbench(p, seconds, *extra):
    r = subprocess.run([PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", "sift_scram", "-c", "4", "-T",
                        str(seconds), *extra, "siftdb"], env=client_env(), capture_output=True, text=True,
                       timeout=seconds + 120)
    assert r.returncode == 0, r.stdout + r.stderr


def queries(p):
    return {r["fingerprint"]: r for r in p.admin_dicts("SHOW QUERIES")}


def test_prometheus_agrees_with_the_console(pooler, pgbench_tables, shop, tmp_base):  # noqa: F811
    p1 = pooler(http_port=free_port(), nplusone_think_time_ms=200, default_pool_size=4)
    p2 = pooler(http_port=free_port(), nplusone_think_time_ms=200, default_pool_size=4)
    prom = Prometheus(tmp_base / "prometheus", [f"127.0.0.1:{p.settings['http_port']}" for p in (p1, p2)])
    try:
        wait_for(lambda: len(prom.query('up{job="pgsift"} == 1')) == 2, timeout=30,
                 what="both targets up (scraped as OpenMetrics)")
        pgbench(p1, 6, "-S")
        pgbench(p2, 3, "-S")
        c = p1.connect(application_name="prom-orm")
        orm_loop(c)
        c.close()
        time.sleep(0.5)  # the N+1 unit ends on the think time
        q1, q2 = queries(p1), queries(p2)
        stats = {r["database"]: r for r in p1.admin_dicts("SHOW STATS_TOTALS")}["siftdb"]
        xacts = int(stats["xact_count"])
        inst1 = f"127.0.0.1:{p1.settings['http_port']}"
        # Prometheus has a scrape taken after the workload
        wait_for(lambda: prom.query(f'pgsift_stats_sql_transactions_pooled_total{{instance="{inst1}",'
                                    f'database="siftdb"}} == {xacts}'), timeout=30,
                 what=f"Prometheus to see {xacts} transactions")

        # p95 of pgbench's SELECT: within one bucket of SHOW QUERIES' p95
        fp, row = max(q1.items(), key=lambda kv: int(kv[1]["calls"]))
        assert row["query"].startswith("select abalance from pgbench_accounts"), row
        est = prom.scalar(f'histogram_quantile(0.95, pgsift_query_duration_seconds_bucket'
                          f'{{instance="{inst1}",fingerprint="{fp}"}})')
        show = float(row["p95_ms"]) / 1e3
        assert abs(bucket_of(est) - bucket_of(show)) <= 1, (est, show)
        assert prom.scalar(f'pgsift_query_duration_seconds_count{{instance="{inst1}",fingerprint="{fp}"}}') == int(
            row["calls"])

        # the N+1 pattern is a counter with its source and repeated shapes
        np_rows = [r for r in p1.admin_dicts("SHOW NPLUSONE") if r["kind"] == "n+1"]
        assert np_rows, p1.admin_dicts("SHOW NPLUSONE")
        got = wait_for(lambda: prom.query(
            f'pgsift_nplusone_occurrences_total{{instance="{inst1}",kind="n+1"}}'), timeout=20,
            what="the N+1 counter in Prometheus")
        assert {(g["metric"]["source_fingerprint"], g["metric"]["fingerprint"]) for g in got} == {
            (r["source_fingerprint"], r["fingerprint"]) for r in np_rows}
        assert got[0]["metric"]["application_name"] == "prom-orm"

        # two instances merged by fingerprint: the sum of both consoles
        want = {f: int(q1.get(f, {}).get("calls", 0)) + int(q2.get(f, {}).get("calls", 0))
                for f in set(q1) | set(q2)}

        def merged():
            return {g["metric"]["fingerprint"]: float(g["value"][1]) for g in prom.query(
                'sum by (fingerprint) (pgsift_query_duration_seconds_count{fingerprint!="other"})')}
        wait_for(lambda: merged() == want, timeout=20,  # until a scrape of each came after its workload
                 what="the merged calls to equal both consoles'")
        assert want[fp] > int(q1[fp]["calls"]) > 0
        assert prom.scalar('sum(pgsift_query_duration_seconds_count{fingerprint="other"})') == 0
        # a rate over the merged series is what the doc's scale-out query reads
        assert prom.scalar(f'sum by (fingerprint) (rate(pgsift_query_duration_seconds_count'
                           f'{{fingerprint="{fp}"}}[1m]))') > 0
    finally:
        prom.stop()
