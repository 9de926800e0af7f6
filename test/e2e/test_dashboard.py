"""The dashboard in a real browser: headless Chromium (Debian's, driven by
python3-selenium and chromium-driver) loads GET / from a pgsift under a
real workload (pgbench, an ORM-style N+1 loop, a slow query, a hazard),
and the rendered page must say what the console says.

DASHBOARD_SCREENSHOT=doc/dashboard.png also writes the screenshot there
(doc/ keeps one: DASHBOARD_RATE=0 DASHBOARD_WARMUP=45 made it)."""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import PGBENCH, REPO_ROOT, client_env, free_port, wait_for
from test_findings import orm_loop, shop  # noqa: F401 - shop is a fixture

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - deps.sh installs it
    webdriver = None

pytestmark = [pytest.mark.pgsift_only("the dashboard is pgsift's own"),
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER and webdriver),
                                 reason="needs chromium, chromium-driver and python3-selenium"),
              pytest.mark.timeout(240)]


def browser(profile_dir, width=1600, height=2200):
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              f"--user-data-dir={profile_dir}", f"--window-size={width},{height}", "--hide-scrollbars",
              "--force-device-scale-factor=1"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


class Workload:
    """pgbench -S against a small pool (clients wait), an N+1 loop, a slow
    query and a hazard, until stop()."""

    def __init__(self, p):
        # paced, so that the browser and the loop below get the CPU they need
        # (DASHBOARD_RATE=0: as fast as it goes, clients wait for the pool)
        rate = os.environ.get("DASHBOARD_RATE", "1500")
        rate = ["-R", rate] if rate != "0" else []
        self.p = p
        self.stop_ev = threading.Event()
        self.errors = []
        self.bench = subprocess.Popen(
            [PGBENCH, "-n", "-S", "-h", p.host, "-p", str(p.port), "-U", "sift_scram", "-c", "6", "-T", "120",
             *rate, "siftdb"], env=client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self.app, daemon=True)
        self.thread.start()

    def app(self):
        try:
            web = self.p.connect(application_name="shop-web")
            reports = self.p.connect(application_name="reports")
            reports.execute("set statement_timeout = '30s'")
            n = 0
            while not self.stop_ev.is_set():
                orm_loop(web, tag="/* route='/orders' */ ")
                if n % 3 == 0:
                    # a report over pgbench_accounts, slow on any machine (an
                    # InitPlan sleeps once): a slow statement with a plan
                    reports.execute("select (select pg_sleep(0.06)), count(*), max(abalance) "
                                    "from pgbench_accounts where filler like %s", ("%zz%",)).fetchall()
                n += 1
                time.sleep(1.2)  # longer than the think time: each loop is one unit of work
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def stop(self):
        self.stop_ev.set()
        self.thread.join(30)
        self.bench.terminate()
        self.bench.wait(30)


# The page as the test reads it, taken in one go: the page redraws itself
# every 2 s, so elements found one by one could be replaced in between.
PAGE_JS = """
const q = (s, r) => (r || document).querySelector(s);
const all = (s, r) => Array.from((r || document).querySelectorAll(s));
const top = q('#top-queries tbody tr[data-fingerprint]');
const charts = {};
for (const pool of all('.pool')) {
  charts[pool.dataset.pool] = {};
  for (const kind of ['xacts', 'wait']) {
    const c = q('svg.chart.' + kind, pool);
    charts[pool.dataset.pool][kind] = c ? [Number(c.dataset.points), all('path.line', c).length] : [0, 0];
  }
}
return {
  status: q('#status').textContent,
  nplusone: all('#nplusone .finding').map(c => ({kind: c.dataset.kind, source: q('.source', c).textContent,
                                                  repeated: q('.repeated', c).textContent, text: c.textContent})),
  top: top ? {fingerprint: top.dataset.fingerprint, calls: Number(q('td.calls', top).dataset.value),
              hist: q('svg.hist', top) ? Number(q('svg.hist', top).dataset.buckets) : 0} : null,
  charts,
  advice: all('#advice .finding').map(c => c.dataset.pool),
  slow: q('#slow').textContent,
  hazards: q('#hazards').textContent,
  urls: performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).map(e => e.name),
};
"""


def test_dashboard_shows_what_the_console_shows(pooler, pgbench_tables, shop, tmp_base):  # noqa: F811
    # a think time well above a loaded machine's pauses inside one loop
    p = pooler(http_port=free_port(), default_pool_size=3, nplusone_think_time_ms=800, slow_query_ms=40,
               advisor_window=60, stats_bucket_seconds=5)
    port = int(p.settings["http_port"])
    work = Workload(p)
    shot = tmp_base / "dashboard.png"
    driver = browser(tmp_base / "chromium-profile")
    page = lambda: driver.execute_script(PAGE_JS)  # noqa: E731
    try:
        time.sleep(float(os.environ.get("DASHBOARD_WARMUP", "6")))  # history, an N+1, a slow query
        driver.get(f"http://127.0.0.1:{port}/")
        try:
            wait_for(lambda: page()["nplusone"], timeout=30, what="the N+1 finding on the page")
        except AssertionError:
            raise AssertionError("no N+1 card; page status: %r; SHOW NPLUSONE: %r; workload: %r" % (
                page()["status"], p.admin_dicts("SHOW NPLUSONE"), work.errors))
        # the pool charts fill in as the page refreshes
        wait_for(lambda: page()["charts"].get("siftdb/sift_scram", {}).get("xacts", [0])[0] >= 3, timeout=30,
                 what="three points in the throughput chart")
        time.sleep(4)
        if os.environ.get("DASHBOARD_SCREENSHOT"):  # the whole page
            driver.set_window_size(1600, driver.execute_script("return document.body.scrollHeight") + 20)
            time.sleep(2.5)
            driver.save_screenshot(str(REPO_ROOT / os.environ["DASHBOARD_SCREENSHOT"]))
        work.stop()
        assert not work.errors, work.errors

        # the N+1 row names the loop's tables: source np_parent, repeated np_child
        state = page()
        card = [c for c in state["nplusone"] if c["kind"] == "n+1"][0]
        assert "np_parent" in card["source"]
        assert "np_child where parent_id = $1" in card["repeated"]
        assert "route='/orders'" in card["text"] and "shop-web" in card["text"]

        # after the workload, the top query's calls are SHOW QUERIES' calls
        time.sleep(2.5)  # one more refresh, with nothing running

        def top_matches():
            top_row = page()["top"]
            show = {r["fingerprint"]: r for r in p.admin_dicts("SHOW QUERIES")}
            top = max(show.values(), key=lambda r: float(r["total_ms"]))
            return top_row and top_row["fingerprint"] == top["fingerprint"] and top_row["calls"] == int(top["calls"])
        wait_for(top_matches, timeout=15, what="the top query's calls to equal SHOW QUERIES'")

        # charts have data points; the advisor speaks; slow statements and hazards show
        state = page()
        assert state["top"]["hist"] >= 1
        for kind in ("xacts", "wait"):
            points, lines = state["charts"]["siftdb/sift_scram"][kind]
            assert points >= 3 and lines == 1, (kind, points, lines)
        assert "siftdb/sift_scram" in state["advice"]
        assert "pgbench_accounts" in state["slow"]
        assert "set" in state["hazards"]
        assert "live" in state["status"]
        # the page fetched nothing but pgsift's own files and API
        assert state["urls"] and all(u.startswith(f"http://127.0.0.1:{port}/") for u in state["urls"]), state["urls"]
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10000
    finally:
        work.stop()
        driver.quit()
