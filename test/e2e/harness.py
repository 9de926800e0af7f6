"""Real-process harness for the end-to-end tests: PostgreSQL and the pooler.

Nothing here is mocked.  `PostgresServer` runs initdb and a real postgres 15;
`Pooler` writes an ini file and an auth_file and runs either pgsift or PgBouncer
in the foreground.  The pooler under test is chosen by the POOLER environment
variable ("pgsift", the default, or "pgbouncer").

Environment variables read here:
  POOLER          pgsift (default) | pgbouncer
  PGSIFT_BIN      pgsift binary; default <repo>/src/pgsift; a relative path is
                  taken relative to the repository root
  PGBOUNCER_BIN   default: pgbouncer from PATH, else /usr/sbin/pgbouncer
  PG_BIN          PostgreSQL binaries, default /usr/lib/postgresql/15/bin
  E2E_KEEP_TMP    when set, the temporary directory is kept after the run
"""

import base64
import hashlib
import hmac
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[2]

POOLER = os.environ.get("POOLER", "pgsift").strip().lower() or "pgsift"
if POOLER not in ("pgsift", "pgbouncer"):
    raise RuntimeError(f"POOLER must be pgsift or pgbouncer, not {POOLER!r}")
IS_PGBOUNCER = POOLER == "pgbouncer"


def _resolve(path):
    p = Path(path)
    return p if p.is_absolute() else (REPO_ROOT / p)


PGSIFT_BIN = _resolve(os.environ.get("PGSIFT_BIN") or "src/pgsift")
PGBOUNCER_BIN = Path(os.environ.get("PGBOUNCER_BIN")
                     or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer")
POOLER_BIN = PGBOUNCER_BIN if IS_PGBOUNCER else PGSIFT_BIN
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

IS_ROOT = os.geteuid() == 0


def _reachable_by_service(path):
    """As root the pooler runs as postgres, which cannot run a binary under
    a private directory (a clone in /root, say): such a binary is copied to
    a directory postgres can read, removed at exit."""
    if not IS_ROOT or not path.exists():
        return path
    r = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True)
    if r.returncode == 0:
        return path
    import atexit
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="pgsift-bin-"))
    os.chmod(d, 0o755)
    atexit.register(shutil.rmtree, d, True)
    shutil.copy2(path, d / path.name)
    return d / path.name


POOLER_BIN = _reachable_by_service(POOLER_BIN)
PSQL = str(PG_BIN / "psql")
PGBENCH = str(PG_BIN / "pgbench")

SERVICE_USER = "postgres" if IS_ROOT else pwd.getpwuid(os.geteuid()).pw_name

# Admin console database name.  pgsift also accepts "pgbouncer".
ADMIN_DB = "pgbouncer" if IS_PGBOUNCER else "pgsift"
CONFIG_SECTION = "pgbouncer" if IS_PGBOUNCER else "pgsift"

# Roles created in PostgreSQL (and listed in the pooler's auth_file).
PASSWORDS = {
    "sift_scram": "scrampw",    # stored as SCRAM, pg_hba scram-sha-256
    "sift_md5": "md5pw",        # stored as md5, pg_hba md5
    "sift_plain": "plainpw",    # pg_hba password (cleartext on the wire)
    "sift_trust": "trustpw",    # pg_hba trust; password only known to the pooler
    "sift_admin": "adminpw",    # pooler admin_users (not a PostgreSQL role)
    "sift_stats": "statspw",    # pooler stats_users (not a PostgreSQL role)
}
PG_ROLES = ("sift_scram", "sift_md5", "sift_plain", "sift_trust")
# A REPLICATION role (pg_hba `replication` lines), in no auth_file unless a
# test puts it there (test_replication.py).
REPL_USER, REPL_PASSWORD = "sift_repl", "replpw"

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

DEFAULT_TIMEOUT = 30.0


# --------------------------------------------------------------------------
# small helpers

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=DEFAULT_TIMEOUT, interval=0.1, what="condition", ignore=()):
    """Poll pred() until it returns a truthy value; return that value.

    Exceptions of the types in `ignore` count as "not yet"; any other
    exception ends the wait at once.  Raises AssertionError naming `what`
    when the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except ignore as e:
            last_exc = e
        if time.monotonic() > deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def service_user_popen_kwargs():
    """Popen keyword arguments that run a child as the postgres user when we
    are root (PostgreSQL and PgBouncer refuse to run as root).

    Popen(user=...) is used instead of `runuser` for long-running children so
    that the Popen pid is the real process: runuser turns SIGINT into SIGTERM
    and follows with SIGKILL, which would break the signal tests."""
    if not IS_ROOT:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def pooler_popen_kwargs():
    """PgBouncer and pgsift refuse to run as root (without -u), so as root
    the pooler runs as postgres."""
    return service_user_popen_kwargs()


def chown_service(path):
    if IS_ROOT:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def make_service_dir(path):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    chown_service(path)
    return path


def run_as_service(cmd, **kw):
    """Run a one-shot command as the service user (runuser when root)."""
    if IS_ROOT:
        cmd = ["runuser", "-u", "postgres", "--"] + list(cmd)
    return subprocess.run(cmd, **kw)


def md5_secret(user, password):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def scram_verifier(password, salt=None, iterations=4096):
    """A PostgreSQL-format SCRAM-SHA-256 verifier for password."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def sanitizer_findings(text):
    return [m for m in SANITIZER_MARKERS if m in text]


def tail(text, n=120):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# PostgreSQL

class PostgresServer:
    """A real PostgreSQL 15 in a temporary directory."""

    def __init__(self, base):
        self.base = Path(base)
        self.datadir = self.base / "pgdata"
        self.sockdir = self.base / "pgsock"
        self.logpath = self.base / "postgres.log"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc = None
        self.verifiers = {}

    # -- lifecycle
    def start(self):
        make_service_dir(self.sockdir)
        r = run_as_service(
            [str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            capture_output=True, text=True, cwd=str(self.base))
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(f"""
# written by test/e2e/harness.py
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
max_connections = 300
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
log_min_messages = warning
log_connections = off
timezone = 'UTC'
# end backends whose pooler connection went away even while they sleep
client_connection_check_interval = '1s'
# replication through the pooler (test_replication.py)
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
""")
        with open(self.datadir / "pg_hba.conf", "w") as f:
            f.write(self.hba_text())
        self._spawn()
        wait_for(self._ready, timeout=60, interval=0.2, what="PostgreSQL to accept connections",
                 ignore=(psycopg.OperationalError,))
        self._setup_roles()

    def _spawn(self):
        """Starts the postmaster (test/faults/ starts it with pg_ctl)."""
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.datadir)],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(self.base), **service_user_popen_kwargs())
        logf.close()

    def _ready(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError("postgres exited:\n" + self.logpath.read_text(errors="replace"))
        with self.connect() as c:
            c.execute("select 1")
        return True

    @staticmethod
    def hba_text():
        lines = ["# written by test/e2e/harness.py",
                 "local all postgres trust"]
        for user, method in (("sift_trust", "trust"), ("sift_plain", "password"),
                             ("sift_md5", "md5"), ("sift_scram", "scram-sha-256")):
            lines.append(f"local all {user} {method}")
            lines.append(f"host all {user} 127.0.0.1/32 {method}")
        lines.append(f"local replication {REPL_USER} scram-sha-256")
        lines.append(f"host replication {REPL_USER} 127.0.0.1/32 scram-sha-256")
        lines.append("local all all scram-sha-256")
        lines.append("host all all 127.0.0.1/32 scram-sha-256")
        return "\n".join(lines) + "\n"

    def _setup_roles(self):
        with self.connect() as c:
            c.execute("CREATE ROLE sift_scram LOGIN PASSWORD 'scrampw'")
            c.execute("SET password_encryption = 'md5'")
            c.execute("CREATE ROLE sift_md5 LOGIN PASSWORD 'md5pw'")
            c.execute("RESET password_encryption")
            c.execute("CREATE ROLE sift_plain LOGIN PASSWORD 'plainpw'")
            c.execute("CREATE ROLE sift_trust LOGIN")
            c.execute(f"CREATE ROLE {REPL_USER} LOGIN REPLICATION PASSWORD '{REPL_PASSWORD}'")
            c.execute("CREATE DATABASE siftdb OWNER sift_scram")
            for (name, secret) in c.execute(
                    "select rolname, rolpassword from pg_authid where rolname like 'sift_%'"):
                self.verifiers[name] = secret
        with self.connect(dbname="siftdb") as c:
            c.execute("GRANT ALL ON SCHEMA public TO PUBLIC")
            c.execute("CREATE TABLE sift_items (id int PRIMARY KEY, owner text, payload text)")
            c.execute("ALTER TABLE sift_items OWNER TO sift_scram")
            c.execute("GRANT ALL ON sift_items TO PUBLIC")
            c.execute("INSERT INTO sift_items SELECT g, 'seed', md5(g::text) "
                      "FROM generate_series(1, 100) g")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- access as superuser over the unix socket
    def connect(self, dbname="postgres", **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(host=str(self.sockdir), port=self.port, user="postgres",
                               dbname=dbname, connect_timeout=10, **kw)

    def query(self, sql, params=None, dbname="postgres"):
        with self.connect(dbname=dbname) as c:
            return c.execute(sql, params).fetchall()

    def tcp_dsn(self, user="sift_scram", dbname="siftdb", password=None):
        password = password if password is not None else PASSWORDS.get(user, "")
        return (f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} "
                f"password={password} connect_timeout=10")

    def backends(self, user, dbname="siftdb"):
        """Rows (pid, state, application_name, query) of client backends."""
        return self.query(
            "select pid, state, application_name, query from pg_stat_activity "
            "where datname = %s and usename = %s and backend_type = 'client backend' "
            "and pid <> pg_backend_pid()", (dbname, user))

    def count_backends(self, user, dbname="siftdb"):
        return len(self.backends(user, dbname))

    def wait_no_backends(self, user, dbname="siftdb", timeout=DEFAULT_TIMEOUT):
        wait_for(lambda: self.count_backends(user, dbname) == 0, timeout=timeout,
                 what=f"no backends of {user} on {dbname}")

    def active_pid_running(self, marker):
        """pid of the backend whose active query contains marker, else None."""
        rows = self.query(
            "select pid from pg_stat_activity where state = 'active' "
            "and query like %s and pid <> pg_backend_pid()", (f"%{marker}%",))
        return rows[0][0] if rows else None


# --------------------------------------------------------------------------
# The pooler

class AdminError(Exception):
    def __init__(self, sqlstate, message):
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate
        self.message = message


class Pooler:
    """One pooler process (pgsift or PgBouncer) with its own ini and auth_file.

    Attributes: host, port, admin_db, ini_path, auth_path, workdir, pid, proc.
    settings: the ordered main-section settings written to the ini.
    databases: ordered name -> connstring for [databases].
    users: name -> settings string for [users] (section omitted when empty).
    auth_entries: user -> secret written to auth_file."""

    def __init__(self, pg, workdir, settings=None, databases=None, users=None,
                 auth_entries=None, section=None, extra_sections=""):
        self.pg = pg
        self.workdir = make_service_dir(workdir)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.admin_db = ADMIN_DB
        self.section = section or CONFIG_SECTION
        self.ini_path = self.workdir / "pooler.ini"
        self.auth_path = self.workdir / "userlist.txt"
        self.log_path = self.workdir / "pooler.log"
        self.extra_sections = extra_sections
        self.proc = None
        self.exit_checked = False
        self._conns = []
        self.databases = {"siftdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb"}
        if databases:
            for k, v in databases.items():
                if v is None:
                    self.databases.pop(k, None)
                else:
                    self.databases[k] = v
        self.users = dict(users or {})
        self.auth_entries = dict(PASSWORDS)
        if auth_entries:
            for k, v in auth_entries.items():
                if v is None:
                    self.auth_entries.pop(k, None)
                else:
                    self.auth_entries[k] = v
        self.settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": str(self.workdir),
            "auth_type": "md5",
            "auth_file": str(self.auth_path),
            "pool_mode": "transaction",
            "default_pool_size": "5",
            "max_client_conn": "500",
            "admin_users": "sift_admin",
            "stats_users": "sift_stats",
        }
        for k, v in (settings or {}).items():
            if v is None:
                self.settings.pop(k, None)
            else:
                self.settings[k] = str(v)

    # -- configuration files
    def ini_text(self, settings=None, databases=None, section=None, extra_main_lines=()):
        settings = self.settings if settings is None else settings
        databases = self.databases if databases is None else databases
        out = ["[databases]"]
        out += [f"{k} = {v}" for k, v in databases.items()]
        out.append("")
        if self.users:
            out.append("[users]")
            out += [f"{k} = {v}" for k, v in self.users.items()]
            out.append("")
        out.append(f"[{section or self.section}]")
        out += [f"{k} = {v}" for k, v in settings.items()]
        out += list(extra_main_lines)
        out.append("")
        if self.extra_sections:
            out.append(self.extra_sections)
        return "\n".join(out) + "\n"

    def write_ini(self, text=None):
        self.ini_path.write_text(self.ini_text() if text is None else text)
        os.chmod(self.ini_path, 0o644)

    def write_auth_file(self):
        lines = [f'"{u}" "{s}"' for u, s in self.auth_entries.items()]
        self.auth_path.write_text("\n".join(lines) + "\n")
        os.chmod(self.auth_path, 0o644)

    def ini_line_of(self, needle):
        """1-based line number of the first ini line that contains needle."""
        for i, line in enumerate(self.ini_path.read_text().splitlines(), 1):
            if needle in line:
                return i
        raise KeyError(needle)

    # -- process
    def command(self, *args):
        return [str(POOLER_BIN), *args, str(self.ini_path)]

    def _env(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env["HOME"] = str(self.workdir)
        return env

    def spawn(self, *args, as_invoker=False):
        """Start the pooler process (foreground mode) without waiting.

        as_invoker: run it as the user running the tests, root included
        (the tests of -u); else as the service user when that is root."""
        if not POOLER_BIN.exists():
            raise RuntimeError(f"pooler binary not found: {POOLER_BIN} "
                               "(set PGSIFT_BIN, or POOLER=pgbouncer)")
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(*args), stdout=logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=str(self.workdir), env=self._env(),
            **({} if as_invoker else pooler_popen_kwargs()))
        logf.close()
        self.exit_checked = False
        return self.proc

    def start(self, *args, timeout=DEFAULT_TIMEOUT, as_invoker=False):
        if not self.ini_path.exists():
            self.write_ini()
        if not self.auth_path.exists():
            self.write_auth_file()
        self.spawn(*args, as_invoker=as_invoker)
        wait_for(self._accepting, timeout=timeout, interval=0.05,
                 what=f"{POOLER} to accept on port {self.port}")
        return self

    def _accepting(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{POOLER} exited with {self.proc.returncode} before "
                               f"accepting:\n{tail(self.log())}")
        try:
            with socket.create_connection((self.host, self.port), timeout=2):
                return True
        except OSError:
            return False

    def run_to_exit(self, *args, timeout=DEFAULT_TIMEOUT, as_invoker=False):
        """Run the pooler and wait for it to exit by itself (config errors).

        Returns (returncode, log text).  Kills it and returns None as code
        when it is still running at the deadline."""
        if not self.ini_path.exists():
            self.write_ini()
        if not self.auth_path.exists():
            self.write_auth_file()
        self.spawn(*args, as_invoker=as_invoker)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            rc = None
        self.exit_checked = True
        return rc, self.log()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def wait_exit(self, timeout=DEFAULT_TIMEOUT):
        """Wait for the process to exit; return its exit code (negative = signal)."""
        wait_for(lambda: self.proc.poll() is not None, timeout=timeout,
                 interval=0.05, what=f"{POOLER} pid {self.pid} to exit")
        self.exit_checked = True
        return self.proc.returncode

    def stop(self, timeout=60):
        """SIGINT, wait, and return the exit code (None when it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def close_clients(self):
        for c in self._conns:
            try:
                c.close()
            except Exception:
                pass
        self._conns.clear()

    def teardown_problems(self):
        """Stop the pooler and return a list of problems (empty when clean)."""
        problems = []
        self.close_clients()
        if self.proc is None:
            return problems
        already_exited = self.proc.poll() is not None
        rc = self.stop()
        if not self.exit_checked:
            if rc is None:
                problems.append(f"{POOLER} did not exit within 60 s of SIGINT")
            elif rc != 0:
                how = "before teardown" if already_exited else "after SIGINT"
                problems.append(f"{POOLER} exited {how} with code {rc}")
        found = sanitizer_findings(self.log())
        if found:
            problems.append(f"{POOLER} log contains sanitizer reports: {found}")
        return problems

    # -- clients
    def dsn(self, user="sift_scram", dbname="siftdb", password=None, **params):
        """A libpq conninfo string for a TCP connection through the pooler."""
        if password is None:
            password = PASSWORDS.get(user, "")
        parts = {"host": self.host, "port": self.port, "user": user, "dbname": dbname,
                 "password": password, "connect_timeout": 10}
        parts.update(params)
        return " ".join(f"{k}={_conninfo_quote(v)}" for k, v in parts.items())

    def connect(self, user="sift_scram", dbname="siftdb", password=None,
                autocommit=True, **params):
        """A psycopg connection through the pooler (closed at teardown).

        prepare_threshold=None: psycopg would otherwise create named prepared
        statements after 5 executions, which also runs the suite under
        PgBouncer 1.18 (no prepared statements in transaction mode) and keeps
        the parse counters of other tests still; test_prepared.py covers
        psycopg's default threshold."""
        conn = psycopg.connect(self.dsn(user, dbname, password, **params),
                               autocommit=autocommit, prepare_threshold=None)
        self._conns.append(conn)
        return conn

    def admin(self, sql, user="sift_admin", dbname=None, password=None):
        """Run one statement on the admin console with the simple protocol.

        Returns (column_names, rows) with text values (None for NULL).
        Raises AdminError(sqlstate, message) on an ErrorResponse."""
        with psycopg.connect(self.dsn(user, dbname or self.admin_db, password),
                             autocommit=True) as conn:
            return exec_simple(conn, sql)

    def admin_dicts(self, sql, **kw):
        cols, rows = self.admin(sql, **kw)
        return [dict(zip(cols, r)) for r in rows]

    def pool_row(self, database="siftdb", user="sift_scram"):
        for row in self.admin_dicts("SHOW POOLS"):
            if row.get("database") == database and row.get("user") == user:
                return row
        return None


def client_env(user="sift_scram"):
    """Environment for libpq command-line clients (psql, pgbench) logging
    in as user with its test password."""
    env = dict(os.environ)
    env["PGPASSWORD"] = PASSWORDS[user]
    env["PGCONNECT_TIMEOUT"] = "10"
    env.pop("PGSERVICE", None)
    return env


def exec_simple(conn, sql):
    """PQexec on a psycopg connection: (column names, rows) or AdminError."""
    from psycopg import pq
    res = conn.pgconn.exec_(sql.encode())
    if res.status in (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.NONFATAL_ERROR):
        code = res.error_field(pq.DiagnosticField.SQLSTATE)
        msg = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY)
        raise AdminError(code.decode() if code else None,
                         (msg or res.error_message).decode(errors="replace"))
    if res.status == pq.ExecStatus.BAD_RESPONSE or res.status == pq.ExecStatus.EMPTY_QUERY:
        raise AdminError(None, conn.pgconn.error_message.decode(errors="replace"))
    cols = [res.fname(i).decode() for i in range(res.nfields)]
    rows = []
    for r in range(res.ntuples):
        row = []
        for c in range(res.nfields):
            v = res.get_value(r, c)
            row.append(None if v is None else v.decode(errors="replace"))
        rows.append(row)
    return cols, rows


def _conninfo_quote(v):
    s = str(v)
    if s == "" or re.search(r"[\s'\\]", s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return s


# --------------------------------------------------------------------------
# doc/admin.md parsing

ADMIN_DOC = REPO_ROOT / "doc" / "admin.md"


def documented_show_columns(command, path=ADMIN_DOC):
    """Column names documented for `SHOW <command>` in doc/admin.md.

    The section starts at a heading `### SHOW <COMMAND>` (backticks allowed)
    and its first markdown table lists the columns, one per row, in order.
    Returns a list (empty when the section has no table) or None when the
    section does not exist."""
    text = Path(path).read_text()
    lines = text.splitlines()
    want = f"SHOW {command}".upper()
    start = None
    for i, line in enumerate(lines):
        m = re.match(r"^#{2,4}\s+(.*?)\s*$", line)
        if m and m.group(1).replace("`", "").strip().upper() == want:
            start = i + 1
            break
    if start is None:
        return None
    cols = []
    in_table = False
    header_seen = False
    for line in lines[start:]:
        if re.match(r"^#{1,4}\s", line):
            break
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if not header_seen:
                header_seen = True
                in_table = True
                continue
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                continue
            cols.append(cells[0].replace("`", "").strip())
        elif in_table:
            break
    return cols
