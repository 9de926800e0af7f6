"""The admin console: documented SHOW columns and the control commands."""

import os
import threading

import psycopg
import pytest

from harness import (ADMIN_DOC, IS_PGBOUNCER, AdminError, documented_show_columns,
                     wait_for)

USER = "sift_scram"

# every SHOW command doc/admin.md documents (PgBouncer's and pgsift's own)
SHOW_COMMANDS = sorted({line[len("### SHOW "):].strip() for line in ADMIN_DOC.read_text().splitlines()
                        if line.startswith("### SHOW ")})


@pytest.mark.pgsift_only("columns of PgBouncer 1.18 may differ from pgsift's doc/admin.md")
@pytest.mark.parametrize("command", SHOW_COMMANDS)
def test_show_columns_match_doc_admin_md(pooler, command):
    assert ADMIN_DOC.exists(), f"{ADMIN_DOC} does not exist"
    documented = documented_show_columns(command)
    assert documented is not None, f"{ADMIN_DOC} has no '### SHOW {command}' section"
    p = pooler()
    # Have a client and a server so every list has something in it.
    p.connect().execute("select 1")
    cols, rows = p.admin(f"SHOW {command}")
    if command == "HELP" and documented == []:
        return  # documented without a table: succeeding is the contract
    assert cols == documented, f"SHOW {command}: columns differ from {ADMIN_DOC.name}"


def test_show_version_names_the_pooler(pooler):
    p = pooler()
    cols, rows = p.admin("SHOW VERSION")
    assert len(rows) == 1
    assert ("PgBouncer" if IS_PGBOUNCER else "pgsift") in rows[0][0]


def test_admin_db_is_also_reachable_as_pgbouncer(pooler):
    p = pooler()
    cols, rows = p.admin("SHOW VERSION", dbname="pgbouncer")
    assert len(rows) == 1


class Runner(threading.Thread):
    def __init__(self, conn, sql):
        super().__init__(daemon=True)
        self.conn, self.sql = conn, sql
        self.result, self.error = None, None

    def run(self):
        try:
            self.result = self.conn.execute(self.sql).fetchall()
        except Exception as e:
            self.error = e


def test_show_pools_counts_a_known_situation(pooler):
    p = pooler(default_pool_size=1)
    a = p.connect()
    b = p.connect()
    a.execute("begin")
    a.execute("select 1")
    waiting = Runner(b, "select 'b ran'")
    waiting.start()
    row = wait_for(lambda: (r := p.pool_row()) and r["cl_waiting"] == "1" and r,
                   what="b waiting in SHOW POOLS")
    assert (row["cl_active"], row["sv_active"], row["sv_idle"]) == ("1", "1", "0"), row
    assert waiting.is_alive()
    a.execute("commit")
    waiting.join(60)
    assert waiting.error is None and waiting.result == [("b ran",)]
    row = wait_for(lambda: (r := p.pool_row()) and r["sv_active"] == "0" and r,
                   what="server released")
    assert (row["cl_active"], row["cl_waiting"], row["sv_idle"]) == ("2", "0", "1"), row


def test_show_clients_and_servers_list_a_transaction(pooler):
    p = pooler()
    a = p.connect(application_name="show_me")
    a.execute("begin")
    a.execute("select 1")
    clients = [r for r in p.admin_dicts("SHOW CLIENTS")
               if r["user"] == USER and r["database"] == "siftdb"]
    assert len(clients) == 1 and clients[0]["state"] == "active", clients
    servers = [r for r in p.admin_dicts("SHOW SERVERS")
               if r["user"] == USER and r["database"] == "siftdb"]
    assert [s["state"] for s in servers] == ["active"], servers
    a.execute("commit")
    servers = wait_for(lambda: [r for r in p.admin_dicts("SHOW SERVERS")
                                if r["database"] == "siftdb" and r["state"] == "idle"],
                       what="idle server")
    assert len(servers) == 1


def test_show_stats_counts_queries(pooler):
    p = pooler(stats_period=1)
    conn = p.connect()
    for i in range(25):
        conn.execute("select %s::int", (i,))

    def counted():
        for r in p.admin_dicts("SHOW STATS"):
            if r["database"] == "siftdb" and int(r["total_query_count"]) >= 25:
                return r
        return None

    row = wait_for(counted, timeout=30, what="25 queries in SHOW STATS")
    assert int(row["total_xact_count"]) >= 25


def test_pause_holds_queries_and_resume_releases_them(pooler):
    p = pooler()
    conn = p.connect()
    assert conn.execute("select 1").fetchone() == (1,)
    p.admin("PAUSE siftdb")
    held = Runner(conn, "select 'after resume'")
    held.start()
    wait_for(lambda: (r := p.pool_row()) and r["cl_waiting"] == "1",
             what="query waiting while paused")
    assert held.is_alive()
    p.admin("RESUME siftdb")
    held.join(60)
    assert held.error is None and held.result == [("after resume",)]
    assert conn.execute("select 2").fetchone() == (2,)


def test_kill_drops_the_database_clients(pooler):
    p = pooler()
    victim = p.connect()
    victim.execute("select 1")
    p.admin("KILL siftdb")
    with pytest.raises(psycopg.OperationalError):
        victim.execute("select 1")
    p.admin("RESUME siftdb")
    fresh = wait_for(lambda: p.connect(), what="connection after RESUME",
                     ignore=(psycopg.OperationalError,))
    assert fresh.execute("select 'alive'").fetchone() == ("alive",)


def test_kill_leaves_other_databases_alone(pg, pooler):
    p = pooler(databases={"otherdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})
    victim = p.connect()
    other = p.connect(dbname="otherdb")
    victim.execute("select 1")
    other.execute("select 1")
    p.admin("KILL siftdb")
    with pytest.raises(psycopg.OperationalError):
        victim.execute("select 1")
    assert other.execute("select 'other alive'").fetchone() == ("other alive",)
    p.admin("RESUME siftdb")


def test_set_default_pool_size_shows_in_show_config(pooler):
    p = pooler(default_pool_size=5)
    p.admin("SET default_pool_size = 13")
    cfg = {r["key"]: r["value"] for r in p.admin_dicts("SHOW CONFIG")}
    assert cfg["default_pool_size"] == "13"
    with pytest.raises(AdminError):
        p.admin("SET no_such_setting = 1")


def test_stats_user_can_show_but_not_control(pooler):
    p = pooler()
    cols, rows = p.admin("SHOW POOLS", user="sift_stats")
    assert "database" in cols and rows
    for cmd in ("PAUSE", "PAUSE siftdb", "SHUTDOWN", "SET default_pool_size = 1", "RELOAD"):
        with pytest.raises(AdminError) as ei:
            p.admin(cmd, user="sift_stats")
        assert "admin" in ei.value.message.lower(), (cmd, ei.value)
    assert p.alive()
    # Nothing was paused.
    assert p.connect().execute("select 1").fetchone() == (1,)


def test_non_admin_user_is_refused_by_the_admin_db(pooler):
    p = pooler()
    with pytest.raises(psycopg.OperationalError, match="(?i)not allowed|permission|admin"):
        psycopg.connect(p.dsn(USER, p.admin_db), autocommit=True)
    # Not even with the admin user's name and a wrong password.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(p.dsn("sift_admin", p.admin_db, password="wrong"), autocommit=True)
    assert p.connect().execute("select 1").fetchone() == (1,)


def test_shutdown_makes_the_pooler_exit(pooler):
    p = pooler()
    p.connect().execute("select 1")
    p.close_clients()
    try:
        p.admin("SHUTDOWN")
    except (AdminError, psycopg.OperationalError):
        pass  # the console connection may be closed under the command
    assert p.wait_exit(timeout=60) == 0


ADMIN_WORDS = ["SHOW", "SET", "RESUME", "RESET", "RELOAD", "QUERIES", "POOLS", "CLIENTS", "SERVERS",
               "STATS", "CONFIG", "HELP", "VERSION", "DATABASES", "siftdb", "pgsift", "nosuchdb",
               "default_pool_size", "pool_size", "FOR", "DATABASE", "=", "'", "\"", ";", ",", "(",
               ")", "-1", "0", "99999999999999999999", "default", "on", "", "x" * 300, "\u00e9",
               "--", "/*", "*/", "\\", "$1"]


@pytest.mark.pgsift_only("pgsift's own console grammar")
def test_random_admin_input_gets_errors_and_no_harm(pooler):
    """Random statements built from the console's words and stray tokens
    (no PAUSE, KILL, SHUTDOWN: they are meant to disrupt): each gets a
    result or an ErrorResponse with a SQLSTATE, the same console connection
    keeps answering, and the application's clients keep working. Rounds:
    ADMIN_FUZZ_ROUNDS (default 300)."""
    import random

    from harness import exec_simple

    p = pooler()
    app = p.connect()
    rnd = random.Random(11)
    rounds = int(os.environ.get("ADMIN_FUZZ_ROUNDS", "300"))
    with psycopg.connect(p.dsn("sift_admin", p.admin_db), autocommit=True) as console:
        errors = 0
        for i in range(rounds):
            words = [rnd.choice(ADMIN_WORDS) for _ in range(rnd.randrange(1, 7))]
            if words[0].upper() == "SET" and rnd.random() < 0.9:
                words[0] = "SHOW"  # few SETs, and those mostly invalid
            sql = " ".join(words)
            try:
                exec_simple(console, sql)
            except AdminError as e:
                if e.sqlstate is None and not e.message.strip():
                    continue  # an empty query ("", a lone comment): EmptyQueryResponse
                errors += 1
                assert len(e.sqlstate or "") == 5, (sql, e.sqlstate, e.message)
            cols, rows = exec_simple(console, "SHOW VERSION")
            assert rows, f"console stopped answering after {sql!r}"
            assert app.execute("select %s::int", (i,)).fetchone() == (i,)
        assert errors > rounds // 3, errors


@pytest.mark.pgsift_only("pgsift's own console messages")
@pytest.mark.parametrize("sql", ["PAUSE siftdb extra", "RESUME siftdb extra words", "KILL siftdb extra"])
def test_control_command_with_extra_words_is_a_syntax_error(pooler, sql):
    """Every console statement gets a reply: a control command with words
    after its database is refused with 42601 (it used to get only
    ReadyForQuery, which libpq reports as a broken connection), and
    nothing is paused or killed."""
    p = pooler()
    app = p.connect()
    with pytest.raises(AdminError) as ei:
        p.admin(sql)
    assert ei.value.sqlstate == "42601" and "syntax" in ei.value.message
    assert app.execute("select 1").fetchone() == (1,)
    dbs = {r["name"]: r for r in p.admin_dicts("SHOW DATABASES")}
    assert dbs["siftdb"]["paused"] == "0"
