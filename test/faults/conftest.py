"""The fault suite: a real PostgreSQL killed, restarted and stopped under
load, backends terminated, floods of clients, clients that stop reading,
broken reloads and signals under load (issue 17, "A fault suite that
stays"). Each case asserts what users rely on: nothing lost or mixed up,
errors only where unavoidable and with the right SQLSTATE, bounded
recovery, RSS and file descriptors back to their baseline.

The harness is the end-to-end suite's (test/e2e/harness.py, wire.py): real
PostgreSQL 15, the real pooler (pgsift, or PgBouncer with POOLER=pgbouncer
for a comparison), real clients (pgbench, psycopg, raw sockets). The
PostgreSQL of this suite runs under pg_ctl, one per test module, so that
tests can restart, stop and kill it.

Fixtures:
  pg        module-scoped PostgreSQL under pg_ctl (CtlPostgres); every test
            finds it up (pg.ensure_up()) and may stop, restart or kill it
  pooler    the e2e suite's factory (test/e2e/conftest.py), on this pg
  pgbench_tables   pgbench -i in siftdb, once per module
"""

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))

import harness  # noqa: E402
import wire  # noqa: E402
from harness import PG_BIN, PostgresServer, run_as_service, wait_for  # noqa: E402

# the e2e suite's fixtures and hooks (time limits, logs in failure reports)
# A sanitizer build keeps freed memory in quarantine (256 MB by default) and
# hands it back to the system late: RSS would say nothing about leaks or
# bounds. Smaller quarantine, prompt release (use-after-free is still caught
# for recently freed memory).
if "quarantine_size_mb" not in os.environ.get("ASAN_OPTIONS", ""):
    os.environ["ASAN_OPTIONS"] = ":".join(
        x for x in (os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0"),
                    "quarantine_size_mb=8", "allocator_release_to_os_interval_ms=200") if x)

_spec = importlib.util.spec_from_file_location("e2e_conftest", E2E / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
tmp_base = _e2e.tmp_base
pooler = _e2e.pooler
pytest_runtest_call = _e2e.pytest_runtest_call
pytest_runtest_makereport = _e2e.pytest_runtest_makereport
pytest_collection_modifyitems = _e2e.pytest_collection_modifyitems
pytest_report_header = _e2e.pytest_report_header

PG_CTL = str(PG_BIN / "pg_ctl")


class CtlPostgres(PostgresServer):
    """PostgreSQL started and stopped with pg_ctl, as an operator does."""

    def _spawn(self):
        self.proc = None
        # a commit a client saw must survive PostgreSQL being killed (not
        # the machine: fsync stays off)
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("synchronous_commit = on\n")
        self.ctl("start", "-w", "-t", "60", "-l", str(self.logpath))

    def ctl(self, *args, check=True):
        r = run_as_service([PG_CTL, "-D", str(self.datadir), *args],
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}\n"
                               + harness.tail(self.logpath.read_text(errors="replace"), 40))
        return r

    def restart(self, mode="fast"):
        self.ctl("restart", "-m", mode, "-w", "-t", "60", "-l", str(self.logpath))

    def stop(self, mode="fast"):
        if (self.datadir / "postmaster.pid").exists():
            self.ctl("stop", "-m", mode, "-w", "-t", "60", check=False)

    def start_again(self):
        self.ctl("start", "-w", "-t", "60", "-l", str(self.logpath))

    def is_up(self):
        try:
            with self.connect() as c:
                c.execute("select 1")
            return True
        except psycopg.OperationalError:
            return False

    def ensure_up(self):
        if not self.is_up():
            if not (self.datadir / "postmaster.pid").exists():
                self.start_again()
            wait_for(self.is_up, timeout=60, interval=0.2, what="PostgreSQL up")


@pytest.fixture(scope="module")
def pg(tmp_base, request):
    server = CtlPostgres(tmp_base / f"pg-{request.module.__name__}")
    harness.make_service_dir(server.base)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _pg_up(request):
    if "pg" in request.fixturenames:
        request.getfixturevalue("pg").ensure_up()


@pytest.fixture(scope="module")
def pgbench_tables(pg):
    r = subprocess.run([harness.PGBENCH, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(pg.port),
                        "-U", "sift_scram", "siftdb"], env=harness.client_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return True


# -- what a process holds ------------------------------------------------------

def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def _sanitized():
    try:
        return b"__asan_init" in Path(harness.POOLER_BIN).read_bytes()
    except OSError:
        return False


# How far above its baseline the pooler's RSS may stay once a fault is over:
# the allocator keeps some of what a burst used (glibc: pgsift trims its
# heap; under AddressSanitizer, shadow memory and the allocator's own free
# lists stay). A leak grows past this with every repetition.
SANITIZED = _sanitized()
RSS_SLACK_KB = (48 if SANITIZED else 16) * 1024


def server_count(p, database="siftdb"):
    return sum(1 for r in p.admin_dicts("SHOW SERVERS") if r["database"] == database)


class Baseline:
    """RSS and fds of the pooler, and its server connections, at a quiet
    moment after a warm-up (warm: a pgbench run of `warm` seconds, so that
    buffers and the analyzer's tables hold what the load needs); check()
    waits for them to come back (fds: the servers may have been replaced,
    so they are compared net of server connections)."""

    def __init__(self, p, database="siftdb", warm=0, clients=20, extra=()):
        self.p, self.database = p, database
        if warm:
            r = subprocess.run([harness.PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", "sift_scram",
                                "-c", str(clients), "-j", "2", "-T", str(warm), *extra, database],
                               env=harness.client_env(), capture_output=True, text=True, timeout=warm + 60)
            assert r.returncode == 0, r.stdout + r.stderr
            time.sleep(1)
        self.rss = rss_kb(p.pid)
        self.fds = fd_count(p.pid) - server_count(p, database)

    def check(self, rss_slack_kb=RSS_SLACK_KB, timeout=30):
        def back():
            fds = fd_count(self.p.pid) - server_count(self.p, self.database)
            return fds <= self.fds and rss_kb(self.p.pid) <= self.rss + rss_slack_kb
        try:
            wait_for(back, timeout=timeout, interval=0.5, what="RSS and fds back to baseline")
            print(f"[baseline rss {self.rss} kB fds {self.fds}; back to rss {rss_kb(self.p.pid)} kB "
                  f"fds {fd_count(self.p.pid) - server_count(self.p, self.database)}]")
        except AssertionError:
            raise AssertionError(
                f"baseline rss {self.rss} kB fds {self.fds}; now rss {rss_kb(self.p.pid)} kB "
                f"fds {fd_count(self.p.pid) - server_count(self.p, self.database)} (net of servers)")


# -- load and observers --------------------------------------------------------

class Pgbench:
    """pgbench in the background with a per-transaction log (-l)."""

    def __init__(self, p, workdir, clients=20, seconds=25, extra=(), user="sift_scram"):
        self.logdir = Path(workdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.prefix = self.logdir / "tx"
        self.cmd = [harness.PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", user,
                    "-c", str(clients), "-j", "2", "-T", str(seconds), "-l",
                    f"--log-prefix={self.prefix}", *extra, "siftdb"]
        self.clients = clients
        self.proc = subprocess.Popen(self.cmd, env=harness.client_env(user), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.started = time.time()

    def wait(self, timeout=180):
        self.out, self.err = self.proc.communicate(timeout=timeout)
        return self

    def aborted(self):
        """Client numbers pgbench gave up on (an error ended them)."""
        import re
        return sorted({int(m) for m in re.findall(r"client (\d+) (?:script \d+ )?aborted", self.err)})

    def errors(self):
        return [line for line in self.err.splitlines() if "error" in line.lower()]

    def transactions(self):
        """(client, end time as epoch seconds) of every transaction logged."""
        out = []
        for f in self.logdir.glob("tx.*"):
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 6:
                    out.append((int(parts[0]), int(parts[4]) + int(parts[5]) / 1e6))
        return out


class UpWatcher(threading.Thread):
    """Polls PostgreSQL directly (not through the pooler) every 50 ms from
    start(); .up_at is the first moment it answered after .down_at, the
    first moment it did not."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg = pg
        self.down_at = None
        self.up_at = None
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set() and self.up_at is None:
            t = time.time()
            try:
                with psycopg.connect(host=str(self.pg.sockdir), port=self.pg.port, user="postgres",
                                     dbname="postgres", connect_timeout=2) as c:
                    c.execute("select 1")
                if self.down_at is not None:
                    self.up_at = t
            except psycopg.Error:
                if self.down_at is None:
                    self.down_at = t
            time.sleep(0.05)

    def stop(self):
        self.stop_flag.set()
        self.join(10)


class Prober(threading.Thread):
    """Opens a new connection through the pooler every `every` seconds and
    runs one query; records (start, end, sqlstate or None) for each."""

    def __init__(self, p, every=0.2, user="sift_scram", timeout=60):
        super().__init__(daemon=True)
        self.p, self.every, self.user, self.timeout = p, every, user, timeout
        self.results = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = []

    def _one(self):
        t0 = time.time()
        state = None
        try:
            with wire.RawConn(self.p.host, self.p.port, timeout=self.timeout) as c:
                c.startup(self.user, "siftdb", harness.PASSWORDS[self.user])
                c.query("select 1")
        except wire.ServerError as e:
            state = e.sqlstate
        except (OSError, wire.Closed) as e:
            state = f"closed: {e!r}"
        with self.lock:
            self.results.append((t0, time.time(), state))

    def run(self):
        while not self.stop_flag.is_set():
            th = threading.Thread(target=self._one, daemon=True)
            th.start()
            self.threads.append(th)
            time.sleep(self.every)

    def stop(self):
        self.stop_flag.set()
        self.join(10)
        for th in self.threads:
            th.join(self.timeout + 15)
        return sorted(self.results)


def kill_quietly(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


# -- many clients at once (asyncio, trust login) --------------------------------

class AsyncClient:
    """A minimal frontend on asyncio streams for floods of clients: a trust
    login, simple queries, the first error's fields."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    @classmethod
    async def connect(cls, p, user="sift_scram", timeout=60):
        import asyncio
        r, w = await asyncio.wait_for(asyncio.open_connection(p.host, p.port), timeout)
        c = cls(r, w)
        w.write(wire.startup_packet({"user": user, "database": "siftdb"}))
        await c.until_ready(timeout)
        return c

    async def msg(self, timeout):
        import asyncio
        import struct
        hdr = await asyncio.wait_for(self.r.readexactly(5), timeout)
        (n,) = struct.unpack("!I", hdr[1:])
        return hdr[:1], await asyncio.wait_for(self.r.readexactly(n - 4), timeout)

    async def until_ready(self, timeout):
        """Messages up to ReadyForQuery; raises wire.ServerError on an error."""
        rows, err = [], None
        while True:
            t, body = await self.msg(timeout)
            if t == b"E" and err is None:
                err = wire.parse_error_fields(body)
                if err.get("S") == "FATAL":
                    raise wire.ServerError(err)
            elif t == b"D":
                rows.append(body)
            elif t == b"Z":
                if err:
                    raise wire.ServerError(err)
                return rows

    async def query(self, sql, timeout=60):
        self.w.write(wire.message(b"Q", sql.encode() + b"\0"))
        return await self.until_ready(timeout)

    def close(self):
        try:
            self.w.write(wire.message(b"X"))
            self.w.close()
        except Exception:
            pass


def raise_fd_limit(need):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        assert hard >= need, f"this test needs {need} open files; the hard limit is {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else hard, hard))
