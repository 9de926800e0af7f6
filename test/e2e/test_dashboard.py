"""The dashboard in a real browser: headless Chromium (Debian's, driven by
python3-selenium and chromium-driver) loads GET / from a pgsift under a
real workload (pgbench, an ORM-style N+1 loop, a slow query, a hazard),
and the rendered page must say what the console says.

DASHBOARD_SCREENSHOT=doc/dashboard.png also writes the screenshot there
(doc/ keeps one)."""

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
    from selenium.webdriver.common.by import By
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
        self.p = p
        self.stop_ev = threading.Event()
        self.errors = []
        self.bench = subprocess.Popen(
            [PGBENCH, "-n", "-S", "-h", p.host, "-p", str(p.port), "-U", "sift_scram", "-c", "6", "-T", "120",
             "siftdb"], env=client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
                    reports.execute("select aid, abalance from pgbench_accounts where filler like %s "
                                    "order by abalance desc limit 5", ("%zz%",)).fetchall()
                n += 1
                time.sleep(0.25)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def stop(self):
        self.stop_ev.set()
        self.thread.join(30)
        self.bench.terminate()
        self.bench.wait(30)


def test_dashboard_shows_what_the_console_shows(pooler, pgbench_tables, shop, tmp_base):  # noqa: F811
    p = pooler(http_port=free_port(), default_pool_size=3, nplusone_think_time_ms=200, slow_query_ms=20,
               advisor_window=60, stats_bucket_seconds=5)
    port = int(p.settings["http_port"])
    work = Workload(p)
    shot = tmp_base / "dashboard.png"
    driver = browser(tmp_base / "chromium-profile")
    try:
        time.sleep(float(os.environ.get("DASHBOARD_WARMUP", "6")))  # history, an N+1, a slow query
        driver.get(f"http://127.0.0.1:{port}/")
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#nplusone .finding"), timeout=30,
                 what="the N+1 finding on the page")
        # the pool charts fill in as the page refreshes
        wait_for(lambda: int(driver.find_element(By.CSS_SELECTOR, 'svg.chart.xacts').get_attribute(
            "data-points")) >= 3, timeout=30, what="three points in the throughput chart")
        time.sleep(4)
        if os.environ.get("DASHBOARD_SCREENSHOT"):  # the whole page
            driver.set_window_size(1600, driver.execute_script("return document.body.scrollHeight") + 20)
            time.sleep(2.5)
            driver.save_screenshot(str(REPO_ROOT / os.environ["DASHBOARD_SCREENSHOT"]))
        work.stop()
        assert not work.errors, work.errors

        # the N+1 row names the loop's tables: source np_parent, repeated np_child
        card = [c for c in driver.find_elements(By.CSS_SELECTOR, "#nplusone .finding")
                if c.get_attribute("data-kind") == "n+1"][0]
        assert "np_parent" in card.find_element(By.CSS_SELECTOR, ".source").text
        assert "np_child where parent_id = $1" in card.find_element(By.CSS_SELECTOR, ".repeated").text
        assert "route='/orders'" in card.text and "shop-web" in card.text

        # after the workload, the top query's calls are SHOW QUERIES' calls
        time.sleep(2.5)  # one more refresh, with nothing running

        def top_matches():
            row = driver.find_element(By.CSS_SELECTOR, "#top-queries tbody tr")
            fp = row.get_attribute("data-fingerprint")
            calls = int(row.find_element(By.CSS_SELECTOR, "td.calls").get_attribute("data-value"))
            show = {r["fingerprint"]: r for r in p.admin_dicts("SHOW QUERIES")}
            top = max(show.values(), key=lambda r: float(r["total_ms"]))
            return fp == top["fingerprint"] and calls == int(top["calls"])
        wait_for(top_matches, timeout=15, what="the top query's calls to equal SHOW QUERIES'")
        hist = driver.find_element(By.CSS_SELECTOR, "#top-queries tbody tr svg.hist")
        assert int(hist.get_attribute("data-buckets")) >= 1

        # charts have data points; the pool waited, and the advisor speaks
        for kind in ("xacts", "wait"):
            chart = driver.find_element(By.CSS_SELECTOR, f'.pool[data-pool="siftdb/sift_scram"] svg.chart.{kind}')
            assert int(chart.get_attribute("data-points")) >= 3
            assert chart.find_elements(By.CSS_SELECTOR, "path.line")
        assert driver.find_elements(By.CSS_SELECTOR, '#advice .finding[data-pool="siftdb/sift_scram"]')
        slow = driver.find_element(By.CSS_SELECTOR, "#slow").text
        assert "pgbench_accounts" in slow
        assert "set" in driver.find_element(By.CSS_SELECTOR, "#hazards").text
        assert "live" in driver.find_element(By.ID, "status").text
        # the page fetched nothing but pgsift's own files and API
        urls = driver.execute_script(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
            ".map(e => e.name)")
        assert urls and all(u.startswith(f"http://127.0.0.1:{port}/") for u in urls), urls
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10000
    finally:
        work.stop()
        driver.quit()
