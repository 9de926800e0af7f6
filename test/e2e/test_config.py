"""Configuration file handling: errors with FILE:LINE, warnings, reloads."""

import os
import re
import subprocess
import time

import psycopg
import pytest

from harness import (IS_PGBOUNCER, POOLER, POOLER_BIN, AdminError, pooler_popen_kwargs,
                     wait_for)


def file_line(p, needle):
    """The FILE:LINE: prefix pgsift must print for the ini line holding needle.

    PgBouncer 1.18 writes "(FILE:LINE)", so there the trailing colon is not
    required."""
    ref = f"{p.ini_path}:{p.ini_line_of(needle)}"
    return ref if IS_PGBOUNCER else ref + ":"


INVALID_VALUES = [
    pytest.param("listen_port", "abc", id="listen_port-abc"),
    pytest.param("pool_mode", "sometimes", id="pool_mode-sometimes"),
    pytest.param("auth_type", "nope", id="auth_type-nope"),
    pytest.param("default_pool_size", "lots", id="default_pool_size-lots"),
    pytest.param("max_client_conn", "-5", id="max_client_conn-negative",
                 marks=pytest.mark.pgsift_only("accepts a negative max_client_conn")),
]


@pytest.mark.parametrize("key,value", INVALID_VALUES)
def test_invalid_value_is_fatal_and_names_file_line_and_key(pooler, key, value):
    p = pooler(start=False, **{key: value})
    rc, log = p.run_to_exit(timeout=5 if IS_PGBOUNCER else 20)
    assert rc not in (0, None), f"{POOLER} exit code {rc} for {key} = {value}\n{log}"
    assert file_line(p, f"{key} = {value}") in log, log
    assert key in log, log
    assert "Sanitizer" not in log and "runtime error:" not in log


def test_unknown_section_is_fatal(pooler):
    p = pooler(start=False, extra_sections="[bogus_section]\nfoo = bar\n")
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None), log
    assert file_line(p, "[bogus_section]") in log, log
    assert "bogus_section" in log, log


@pytest.mark.pgsift_only("an unknown key is fatal, not a warning")
def test_unknown_key_is_a_warning_with_file_line(pooler):
    p = pooler(start=False, no_such_setting="1")
    p.start()
    ref = file_line(p, "no_such_setting")
    log = wait_for(lambda: ref in p.log() and p.log(), what="warning in the log")
    assert "no_such_setting" in log
    line = next(ln for ln in log.splitlines() if ref in ln)
    assert "no_such_setting" in line, line
    assert p.connect().execute("select 1").fetchone() == (1,)


def test_pgbouncer_section_name_is_accepted(pooler):
    p = pooler(section="pgbouncer", default_pool_size=3)
    conn = p.connect()
    assert conn.execute("select current_database()").fetchone() == ("siftdb",)
    rows = {r["key"]: r["value"] for r in p.admin_dicts("SHOW CONFIG")}
    assert rows["default_pool_size"] == "3"


def test_database_line_of_600_bytes_is_used_to_its_end(pg, pooler):
    entry = (f"host=127.0.0.1 port={pg.port}" + " " * 250 + "dbname=siftdb" + " " * 250
             + "timezone=Asia/Tokyo application_name=sift_far_end")
    p = pooler(databases={"longdb": entry})
    line = p.ini_path.read_text().splitlines()[p.ini_line_of("longdb =") - 1]
    assert len(line) > 550
    conn = p.connect(dbname="longdb")
    row = conn.execute("select current_database(), current_setting('TimeZone'), "
                       "current_setting('application_name'), pg_backend_pid()").fetchone()
    assert row[:3] == ("siftdb", "Asia/Tokyo", "sift_far_end")
    seen = pg.query("select application_name from pg_stat_activity where pid = %s", (row[3],))
    assert seen == [("sift_far_end",)]


def test_version_flag(pooler):
    r = subprocess.run([str(POOLER_BIN), "-V"], capture_output=True, text=True, timeout=30,
                       **pooler_popen_kwargs())
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    name = "PgBouncer" if IS_PGBOUNCER else "pgsift"
    assert re.search(name + r"\s+\d+\.\d+", out, re.I), out


def test_missing_config_file_is_fatal(pooler, tmp_base):
    missing = tmp_base / "does-not-exist.ini"
    r = subprocess.run([str(POOLER_BIN), str(missing)], capture_output=True, text=True,
                       timeout=30, **pooler_popen_kwargs())
    assert r.returncode != 0
    assert "does-not-exist.ini" in r.stdout + r.stderr


# -- reload ------------------------------------------------------------------------

def show_config(p):
    return {r["key"]: r["value"] for r in p.admin_dicts("SHOW CONFIG")}


def show_database(p, name):
    for r in p.admin_dicts("SHOW DATABASES"):
        if r["name"] == name:
            return r
    return None


@pytest.mark.parametrize("how", ["sighup", "admin-reload"])
def test_reload_applies_a_valid_new_file(pg, pooler, how):
    p = pooler(default_pool_size=5)
    before = p.connect()
    assert before.execute("select 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        p.connect(dbname="added_db")
    p.databases["added_db"] = f"host=127.0.0.1 port={pg.port} dbname=siftdb application_name=added"
    p.databases["siftdb"] = f"host=127.0.0.1 port={pg.port} dbname=siftdb pool_size=7"
    p.settings["default_pool_size"] = "9"
    p.write_ini()
    if how == "sighup":
        p.reload()
    else:
        p.admin("RELOAD")
    wait_for(lambda: show_config(p)["default_pool_size"] == "9", what="new default_pool_size")
    wait_for(lambda: show_database(p, "siftdb")["pool_size"] == "7", what="siftdb pool_size=7")
    conn = wait_for(lambda: p.connect(dbname="added_db"), what="added_db reachable",
                    ignore=(psycopg.OperationalError,))
    assert conn.execute("select current_database(), current_setting('application_name')") \
        .fetchone() == ("siftdb", "added")
    assert before.execute("select 2").fetchone() == (2,)
    assert p.alive()


def write_invalid_reload(pg, p):
    """Rewrite the ini: add a database and a bad default_pool_size."""
    p.databases["should_not_appear"] = f"host=127.0.0.1 port={pg.port} dbname=siftdb"
    settings = dict(p.settings)
    settings["default_pool_size"] = "abc"
    p.write_ini(p.ini_text(settings=settings))


def test_reload_of_an_invalid_file_keeps_serving(pg, pooler):
    p = pooler(default_pool_size=5)
    conn = p.connect()
    offset = len(p.log())
    write_invalid_reload(pg, p)
    p.reload()
    ref = file_line(p, "default_pool_size = abc")
    wait_for(lambda: ref in p.log()[offset:], what="the refused reload in the log")
    new_log = p.log()[offset:]
    assert "default_pool_size" in new_log
    if not IS_PGBOUNCER:
        assert re.search(r"reload", new_log, re.I), new_log
    assert p.alive()
    assert conn.execute("select 'old client'").fetchone() == ("old client",)
    fresh = p.connect()
    assert fresh.execute("select 'new client'").fetchone() == ("new client",)


@pytest.mark.pgsift_only("a failed reload applies part of the file and drops admin_users")
def test_reload_of_an_invalid_file_changes_nothing(pg, pooler):
    p = pooler(default_pool_size=5)
    p.connect().execute("select 1")
    offset = len(p.log())
    write_invalid_reload(pg, p)
    p.reload()
    wait_for(lambda: "default_pool_size" in p.log()[offset:], what="the refused reload")
    assert show_config(p)["default_pool_size"] == "5"
    assert show_database(p, "should_not_appear") is None
    with pytest.raises(psycopg.OperationalError):
        p.connect(dbname="should_not_appear")
    assert p.connect().execute("select 1").fetchone() == (1,)


@pytest.mark.pgsift_only("admin RELOAD of an invalid file answers success")
def test_admin_reload_of_an_invalid_file_reports_the_error(pg, pooler):
    p = pooler()
    write_invalid_reload(pg, p)
    with pytest.raises(AdminError) as ei:
        p.admin("RELOAD")
    assert re.search(r"reload|default_pool_size", ei.value.message, re.I), ei.value.message
    assert show_config(p)["default_pool_size"] == "5"
    assert p.connect().execute("select 1").fetchone() == (1,)


@pytest.mark.pgsift_only("pgsift's RELOAD answers a bad file with F0000")
def test_reloads_with_random_changes_under_load_disturb_no_client(pg, pooler):
    """Eight clients run short statements (some in transactions) while the
    file is rewritten and reloaded forty times (RELOAD_ROUNDS) with random changes
    (pool sizes of the database and the default, timeouts, a database
    entry added and removed, a bad value now and then): every statement of
    every client gets its own result, a bad file changes nothing, and the
    pool ends within its last size."""
    import random
    import threading

    p = pooler(default_pool_size=3, pool_mode="transaction")
    rnd = random.Random(5)
    stop = threading.Event()
    problems = []
    done = [0]

    def client(k):
        conn = p.connect()
        r = random.Random(k)
        try:
            while not stop.is_set():
                tag = f"r{k}-{r.randrange(1 << 30)}"
                if r.random() < 0.3:
                    with conn.transaction():
                        conn.execute("select pg_sleep(0.002)")
                        row = conn.execute("select %s::text", (tag,)).fetchone()
                else:
                    row = conn.execute("select %s::text", (tag,)).fetchone()
                if row != (tag,):
                    problems.append(f"client {k} got {row}, wanted {tag}")
                    return
                done[0] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            problems.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    size = 3
    for i in range(int(os.environ.get("RELOAD_ROUNDS", "40"))):
        settings = dict(p.settings)
        bad = rnd.random() < 0.15
        new_size = rnd.randrange(1, 6)
        settings["default_pool_size"] = "zero" if bad else str(new_size)
        settings["query_wait_timeout"] = str(rnd.choice([30, 60, 120]))
        dbs = dict(p.databases)
        db_size = rnd.choice([None, 2, 4])
        dbs["siftdb"] = f"host=127.0.0.1 port={pg.port} dbname=siftdb" + (f" pool_size={db_size}" if db_size else "")
        if rnd.random() < 0.5:
            dbs["extra_db"] = f"host=127.0.0.1 port={pg.port} dbname=siftdb"
        else:
            dbs.pop("extra_db", None)
        p.write_ini(p.ini_text(settings=settings, databases=dbs))
        try:
            p.admin("RELOAD")
            assert not bad, "a bad file was accepted"
            size = db_size or new_size
        except AdminError as e:
            assert bad and e.sqlstate == "F0000", (i, e.sqlstate, e.message)
        time.sleep(0.05)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(60)
    assert not problems, problems[:5]
    assert done[0] > 200, done[0]
    assert p.alive()
    wait_for(lambda: int(p.pool_row()["sv_active"]) + int(p.pool_row()["sv_idle"]) +
             int(p.pool_row()["sv_used"]) <= size, what=f"the pool within its last size {size}")


# -- %include ------------------------------------------------------------------------

def test_include_reads_database_entries_and_reload_rereads_them(pg, pooler):
    """A "%include file" line inside [databases] (PgBouncer's directive): the
    entries in the file are used; a RELOAD reads the file again; an error in
    the included file refuses the reload, names that file and its line, and
    changes nothing. A relative name is taken from the pooler's working
    directory, as PgBouncer does."""
    p = pooler(start=False)
    inc = p.workdir / "databases.ini"
    inc.write_text(f"incdb = host=127.0.0.1 port={pg.port} dbname=siftdb application_name=included\n")
    os.chmod(inc, 0o644)
    p.extra_sections = "[databases]\n%include databases.ini\n"
    p.write_ini()
    p.start()
    conn = p.connect(dbname="incdb")
    assert conn.execute("select current_setting('application_name')").fetchone() == ("included",)
    with pytest.raises(psycopg.OperationalError):
        p.connect(dbname="incdb2")

    inc.write_text(inc.read_text() + f"incdb2 = host=127.0.0.1 port={pg.port} dbname=siftdb\n")
    p.admin("RELOAD")
    assert p.connect(dbname="incdb2").execute("select 2").fetchone() == (2,)

    inc.write_text(inc.read_text() + "incdb3 = host=127.0.0.1 port=notaport dbname=siftdb\n")
    offset = len(p.log())
    if IS_PGBOUNCER:
        p.reload()
    else:
        with pytest.raises(AdminError) as ei:
            p.admin("RELOAD")
        assert ei.value.sqlstate == "F0000", ei.value
        assert "databases.ini:3:" in p.log()[offset:], p.log()[offset:]
    wait_for(lambda: "incdb3" in p.log()[offset:], what="the refused reload in the log")
    with pytest.raises(psycopg.OperationalError):
        p.connect(dbname="incdb3")
    assert p.connect(dbname="incdb2").execute("select 3").fetchone() == (3,)
    assert conn.execute("select 4").fetchone() == (4,)


@pytest.mark.pgsift_only("pgsift's own message")
def test_include_of_a_missing_file_is_fatal_at_its_line(pooler):
    p = pooler(start=False, extra_sections="[databases]\n%include /nonexistent-pgsift/databases.ini\n")
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None), log
    assert f"{file_line(p, '%include')} %include /nonexistent-pgsift/databases.ini: cannot open" in log, log


@pytest.mark.pgsift_only("pgsift --check-config")
def test_check_config_names_what_pgsift_treats_differently(tmp_path):
    """A pgbouncer.ini read by --check-config: keys pgsift ignores (with
    their line), keys it refuses, and settings whose behaviour differs."""
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text("[databases]\n"
                   "app = host=127.0.0.1 port=5432 pool_size=5\n"
                   "[users]\n"
                   "alice = query_timeout=30 pool_mode=transaction\n"
                   "[pgbouncer]\n"
                   "listen_port = 6432\n"
                   "auth_file = /dev/null\n"
                   "tcp_keepalive = 1\n"
                   "cancel_wait_timeout = 10\n"
                   "query_timeout = 60\n"
                   "pkt_buf = 4096\n")
    r = subprocess.run([str(POOLER_BIN), "--check-config", str(ini)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert f'ignored: {ini}:8: setting "tcp_keepalive" is not supported' in out, out
    assert f'ignored: {ini}:9: setting "cancel_wait_timeout" is not supported' in out, out
    assert "differs: query_timeout: " in out and "query_timeout_cancel = 0" in out, out
    assert "differs: [users] query_timeout: " in out, out
    assert "differs: pkt_buf: " in out, out
    assert out.rstrip().endswith("pgsift starts with this file (0 errors, 2 keys ignored)"), out
    # PgBouncer's behaviour asked for: query_timeout no longer differs
    ini.write_text(ini.read_text() + "query_timeout_cancel = 0\n")
    out = subprocess.run([str(POOLER_BIN), "--check-config", str(ini)], capture_output=True, text=True,
                         timeout=30).stdout
    assert "query_timeout:" not in out, out
    # a key pgsift refuses: it would not start
    ini.write_text(ini.read_text().replace("[pgbouncer]\n", "[pgbouncer]\nauth_type = hba\n"))
    r = subprocess.run([str(POOLER_BIN), "--check-config", str(ini)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "error: " in r.stdout and "auth_type" in r.stdout, r.stdout
    assert "pgsift does not start with this file" in r.stdout, r.stdout
