"""Fixtures of the end-to-end suite.

  pg        session-scoped real PostgreSQL 15 (harness.PostgresServer)
  pooler    factory: pooler(settings=..., databases=..., **main_section_settings)
            starts pgsift (or PgBouncer with POOLER=pgbouncer) and returns a
            harness.Pooler; on teardown it is stopped with SIGINT and must exit
            0 with no sanitizer report in its log.

Markers (see pytest.ini):
  pgsift_only(reason)      pgsift behaviour PgBouncer 1.18 lacks: xfail
                           (non-strict) under POOLER=pgbouncer, plain test
                           under pgsift.
  skip_pgbouncer(reason)   skipped under POOLER=pgbouncer (would hang or
                           cannot be exercised there).
  timeout(seconds)         per-test time limit (default 150 s, E2E_TEST_TIMEOUT).
"""

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

import harness
from harness import IS_PGBOUNCER, POOLER, Pooler, PostgresServer

DEFAULT_TEST_TIMEOUT = float(os.environ.get("E2E_TEST_TIMEOUT", "150"))


def pytest_report_header(config):
    return [f"pooler under test: {POOLER} ({harness.POOLER_BIN})",
            f"postgres binaries: {harness.PG_BIN}"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        m = item.get_closest_marker("pgsift_only")
        if m and IS_PGBOUNCER:
            reason = m.args[0] if m.args else "pgsift-specific behaviour"
            item.add_marker(pytest.mark.xfail(reason=f"PgBouncer 1.18: {reason}",
                                              strict=False))
        m = item.get_closest_marker("skip_pgbouncer")
        if m and IS_PGBOUNCER:
            reason = m.args[0] if m.args else "not applicable to PgBouncer"
            item.add_marker(pytest.mark.skip(reason=f"PgBouncer 1.18: {reason}"))


# -- per-test time limit (SIGALRM in the main thread) -------------------------

class TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    m = item.get_closest_marker("timeout")
    limit = float(m.args[0]) if m and m.args else DEFAULT_TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise TestTimeout(f"test exceeded its time limit of {limit:.0f} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- attach pooler logs to failure reports ----------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, p in enumerate(getattr(item, "_sift_poolers", [])):
            report.sections.append((f"{POOLER} #{i} log ({p.log_path})",
                                    harness.tail(p.log(), 150)))


# -- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="session")
def tmp_base():
    base = Path(tempfile.mkdtemp(prefix="pgsift-e2e-"))
    harness.make_service_dir(base)
    yield base
    if not os.environ.get("E2E_KEEP_TMP"):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(tmp_base):
    server = PostgresServer(tmp_base / "pg")
    harness.make_service_dir(server.base)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


_counter = [0]


@pytest.fixture
def pooler(pg, tmp_base, request):
    """Factory: pooler(settings=None, databases=None, users=None,
    auth_entries=None, section=None, extra_sections="", start=True, **kw).

    Keyword settings go to the main section (value None removes a default);
    databases maps name -> connstring (None removes); auth_entries maps
    user -> secret (None removes)."""
    started = []
    request.node._sift_poolers = started

    def factory(settings=None, databases=None, users=None, auth_entries=None,
                section=None, extra_sections="", start=True, **kw):
        _counter[0] += 1
        all_settings = dict(settings or {})
        all_settings.update(kw)
        p = Pooler(pg, tmp_base / f"pooler{_counter[0]:03d}", settings=all_settings,
                   databases=databases, users=users, auth_entries=auth_entries,
                   section=section, extra_sections=extra_sections)
        started.append(p)
        p.write_ini()
        p.write_auth_file()
        if start:
            p.start()
        return p

    yield factory

    problems = []
    for p in started:
        problems += p.teardown_problems()
    if problems:
        pytest.fail("pooler teardown: " + "; ".join(problems) + "\n--- log tail ---\n"
                    + "\n".join(harness.tail(p.log(), 60) for p in started), pytrace=False)


@pytest.fixture(scope="module")
def pgbench_tables(pg):
    """pgbench -i (scale 1) directly against PostgreSQL, once per module."""
    import subprocess
    r = subprocess.run([harness.PGBENCH, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(pg.port),
                        "-U", "sift_scram", "siftdb"], env=harness.client_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return True
