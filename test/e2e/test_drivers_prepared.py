"""Prepared statements through pgsift with node-postgres and JDBC at their
defaults (doc/prepared.md): several connections share a smaller pool in
transaction mode, and every result must be the connection's own.

The Node workload is test/drivers/node/prepared.js (npm package `pg`,
installed into test/drivers/node/node_modules from the npm registry on first
use); the JDBC one is test/drivers/jdbc/Prepared.java (Debian's
libpostgresql-jdbc-java, compiled with javac into a temporary folder)."""

import subprocess
from pathlib import Path

import pytest

from harness import PASSWORDS, REPO_ROOT

USER = "sift_scram"
DRIVERS = REPO_ROOT / "test" / "drivers"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")

pytestmark = pytest.mark.pgsift_only("protocol-level prepared statements in transaction mode")


@pytest.fixture(scope="module")
def node_pg():
    node_dir = DRIVERS / "node"
    if not (node_dir / "node_modules" / "pg").is_dir():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=node_dir,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "npm ci failed:\n" + r.stdout + r.stderr
    return node_dir


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
    assert JDBC_JAR.exists(), "libpostgresql-jdbc-java is not installed (contrib/deps.sh test)"
    out = tmp_path_factory.mktemp("jdbc")
    r = subprocess.run(["javac", "-d", str(out), str(DRIVERS / "jdbc" / "Prepared.java"),
                        str(DRIVERS / "jdbc" / "SessionState.java")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def _stats(p):
    for row in p.admin_dicts("SHOW STATS"):
        if row["database"] == "siftdb":
            return row
    raise AssertionError("no SHOW STATS row")


@pytest.mark.timeout(300)
def test_node_postgres_named_queries(pooler, node_pg):
    p = pooler(default_pool_size=3)
    r = subprocess.run(["node", "prepared.js", p.host, str(p.port), USER, PASSWORDS[USER], "siftdb",
                        "12", "15"], cwd=node_pg, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok "), r.stdout
    st = _stats(p)
    # each connection prepares each named query once; servers far fewer times
    assert int(st["total_client_parse_count"]) >= 12 * 3, st
    assert int(st["total_server_parse_count"]) <= 3 * 4 + 12, st


@pytest.mark.timeout(300)
@pytest.mark.parametrize("threshold", [None, 1])
def test_jdbc_prepare_threshold(pooler, jdbc_classes, threshold):
    # pgjdbc sends extra_float_digits at startup: pgsift takes and replays
    # it (doc/session-state.md), no ignore_startup_parameters needed
    p = pooler(default_pool_size=3)
    url = f"jdbc:postgresql://{p.host}:{p.port}/siftdb"
    if threshold is not None:
        url += f"?prepareThreshold={threshold}"
    r = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{jdbc_classes}", "Prepared", url, USER, PASSWORDS[USER],
                        "10", "20"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok "), r.stdout
    st = _stats(p)
    # JDBC names its statements once the threshold is reached
    assert int(st["total_client_parse_count"]) > 0, st
    assert int(st["total_bind_count"]) > 0, st


@pytest.mark.timeout(300)
@pytest.mark.parametrize("pool_size", [1, 2])
def test_jdbc_session_settings_stick(pooler, jdbc_classes, pool_size):
    # doc/session-state.md: JDBC at its defaults, SETs per connection
    p = pooler(default_pool_size=pool_size)
    url = f"jdbc:postgresql://{p.host}:{p.port}/siftdb"
    r = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{jdbc_classes}", "SessionState", url, USER, PASSWORDS[USER],
                        "6", "12"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok "), r.stdout
