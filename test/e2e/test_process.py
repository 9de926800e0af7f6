"""The process around the pooler: who it runs as, its pidfile, a second
instance on the same config.

As PgBouncer, pgsift refuses to run as root; root may start it with -u USER,
and it then opens its listening sockets (a port below 1024 included) and
switches to USER, giving USER the files it made (log, pidfile, Unix socket)
so that a later start as USER works. The pidfile is locked for the life of
the process: a second instance refuses to start and leaves the first one's
pidfile and socket alone."""

import os
import pwd
import socket
import subprocess

import psycopg
import pytest

from harness import IS_ROOT, POOLER_BIN, pooler_popen_kwargs, wait_for

pytestmark = pytest.mark.skip_pgbouncer("pgsift's own process handling")

as_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (the suite run as root, as test/run in CI)")


def proc_ids(pid):
    """(uids, gids, groups) from /proc/PID/status."""
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields["Uid"], fields["Gid"], fields["Groups"]


def free_low_port():
    for port in range(1000, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


def second_instance(p, *args):
    """Run pgsift again on p's config; (returncode, output)."""
    try:
        r = subprocess.run([str(POOLER_BIN), *args, str(p.ini_path)], capture_output=True, text=True,
                           timeout=20, cwd=str(p.workdir), **pooler_popen_kwargs())
    except subprocess.TimeoutExpired as e:
        return None, f"still running after 20 s: {e.stdout!r} {e.stderr!r}"
    return r.returncode, r.stdout + r.stderr


# -- 4. root -----------------------------------------------------------------------------

@as_root
def test_root_without_u_is_refused(pooler):
    p = pooler(start=False, logfile="pgsift.log", pidfile="pgsift.pid")
    rc, out = p.run_to_exit(as_invoker=True)
    assert rc == 1, out
    assert "refusing to run as root" in out and "-u USER" in out, out
    # nothing was made: no root-owned log or pidfile to trip a later start
    assert not (p.workdir / "pgsift.log").exists()
    assert not (p.workdir / "pgsift.pid").exists()
    with pytest.raises(OSError):
        socket.create_connection((p.host, p.port), timeout=2).close()
    rc, out = p.run_to_exit("-u", "root", as_invoker=True)
    assert rc == 1 and "pgsift does not run as root" in out, out


@as_root
def test_root_with_u_switches_user_after_binding(pooler):
    pw = pwd.getpwnam("postgres")
    port = free_low_port()     # only root can bind it
    p = pooler(start=False, listen_port=port, logfile="pgsift.log", pidfile="pgsift.pid")
    p.port = port
    p.start("-u", "postgres", as_invoker=True)
    wait_for(lambda: (p.workdir / "pgsift.pid").read_text().strip() == str(p.pid),
             what="the pidfile to hold the pid")
    uids, gids, groups = proc_ids(p.pid)
    assert uids == [str(pw.pw_uid)] * 4 and gids == [str(pw.pw_gid)] * 4, (uids, gids)
    assert "0" not in groups, groups
    for name in ("pgsift.log", "pgsift.pid", f".s.PGSQL.{port}"):
        st = os.stat(p.workdir / name)
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), name
    conn = p.connect()
    assert conn.execute("select 1").fetchone() == (1,)
    conn.close()
    p.close_clients()
    assert p.stop() == 0
    assert not (p.workdir / "pgsift.pid").exists()
    assert not (p.workdir / f".s.PGSQL.{port}").exists()


@as_root
def test_user_setting_works_as_u(pooler):
    """PgBouncer's `user = ...` in the config does what -u does."""
    pw = pwd.getpwnam("postgres")
    p = pooler(start=False, user="postgres")
    p.start(as_invoker=True)
    wait_for(lambda: "switched to user postgres" in p.log(), what="the switch")
    assert proc_ids(p.pid)[0] == [str(pw.pw_uid)] * 4
    assert p.connect().execute("select 3").fetchone() == (3,)


@as_root
def test_files_root_made_do_not_break_a_start_as_the_user(pooler, tmp_base):
    """The report: a start as root left a root-owned log, and the normal
    start after it failed. With -u every file is the user's."""
    p = pooler(start=False, logfile="pgsift.log", pidfile="pgsift.pid")
    p.start("-u", "postgres", as_invoker=True)
    assert p.stop() == 0
    p.start()                       # as postgres, on the same log and pidfile
    assert p.connect().execute("select 2").fetchone() == (2,)
    assert "switched to user postgres" in p.log()


# -- 8. a second instance -----------------------------------------------------------------

def test_second_instance_leaves_the_first_ones_pidfile(pooler):
    p = pooler(logfile="pgsift.log", pidfile="pgsift.pid")
    pidfile = p.workdir / "pgsift.pid"
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == str(p.pid),
             what="the pidfile to hold the pid")
    rc, out = second_instance(p)
    assert rc == 1, out
    assert f"held by a running pgsift (pid {p.pid})" in out, out
    assert pidfile.read_text().strip() == str(p.pid)
    assert p.connect().execute("select 1").fetchone() == (1,)
    # the first one removes its own pidfile when it stops
    p.close_clients()
    assert p.stop() == 0
    assert not pidfile.exists()


def test_stale_pidfile_is_taken_over(pooler):
    p = pooler(start=False, pidfile="pgsift.pid")
    pidfile = p.workdir / "pgsift.pid"
    pidfile.write_text("999999\n")      # left by a crash: nobody holds it
    os.chmod(pidfile, 0o666)
    p.start()
    wait_for(lambda: pidfile.read_text().strip() == str(p.pid), what="the pidfile to hold the new pid")
    assert p.stop() == 0
    assert not pidfile.exists()


def test_failed_start_does_not_remove_a_pidfile(pooler):
    """A start that fails (here at bind, the port is taken) removes nothing
    it did not make: the other process's pidfile stays."""
    p = pooler(pidfile="other.pid")
    q = pooler(start=False, pidfile=str(p.workdir / "other.pid"), listen_port=p.port)
    rc, out = q.run_to_exit()
    assert rc == 1, out
    assert (p.workdir / "other.pid").read_text().strip() == str(p.pid)


def test_second_instance_leaves_the_first_ones_unix_socket(pooler):
    """Unix socket only, no pidfile: the second instance must not unlink the
    socket the first one serves."""
    p = pooler(start=False, listen_addr="")
    p.spawn()

    def unix_login():
        conn = psycopg.connect(host=str(p.workdir), port=p.port, user="sift_scram",
                               password="scrampw", dbname="siftdb", connect_timeout=10)
        try:
            return conn.execute("select 1").fetchone() == (1,)
        finally:
            conn.close()

    wait_for(unix_login, what="a login on the unix socket", ignore=(psycopg.OperationalError,))
    rc, out = second_instance(p)
    assert rc == 1, out
    assert "is in use by another process" in out, out
    assert unix_login()
