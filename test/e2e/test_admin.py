"""The admin console: documented SHOW columns and the control commands."""

import os
import threading

import psycopg
import pytest

from harness import (ADMIN_DOC, IS_PGBOUNCER, PASSWORDS, AdminError, documented_show_columns,
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


@pytest.mark.pgsift_only("pgsift's SHOW HELP and doc/admin.md")
def test_every_command_in_show_help_is_documented(pooler):
    """Each command SHOW HELP lists has its section in doc/admin.md."""
    p = pooler()
    details = []
    with psycopg.connect(p.dsn("sift_admin", p.admin_db), autocommit=True) as console:
        console.add_notice_handler(lambda d: details.append((d.message_primary, d.message_detail or "")))
        console.execute("SHOW HELP")
    # as PgBouncer sends it: the list in the detail field
    assert details and details[0][0] == "Console usage" and details[0][1], details
    details = [details[0][1]]
    headings = [line[4:] for line in ADMIN_DOC.read_text().splitlines() if line.startswith("### ")]
    commands = []
    for line in details[0].splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "SHOW":
            commands += [f"SHOW {w}" for w in words[1].split("|")]
            continue
        key = []
        for w in words:
            if any(c in w for c in "[<|="):
                break
            key.append(w)
        commands.append(" ".join(key))
    assert len(commands) > 30, commands
    missing = [c for c in commands if not any(h == c or h.startswith(c + " ") for h in headings)]
    assert not missing, f"{ADMIN_DOC.name} has no section for {missing}"


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


def test_disable_refuses_new_clients_and_enable_lets_them_in(pg, pooler):
    """DISABLE db: clients already connected keep working, new ones are
    refused with PostgreSQL's error for a database that does not allow
    connections, other entries are untouched, SHOW DATABASES says so, a
    RELOAD keeps it; ENABLE db lets clients in again."""
    p = pooler(databases={"otherdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb"})
    stays = p.connect()
    stays.execute("select 1")
    p.admin("DISABLE siftdb")
    import wire
    with wire.RawConn(p.host, p.port) as raw:
        with pytest.raises(wire.ServerError) as ei:
            raw.startup(USER, "siftdb", PASSWORDS[USER])
        msgs, closed = raw.read_until_closed(timeout=30)
        assert closed, "the refused client's socket stays open"
    if not IS_PGBOUNCER:
        assert ei.value.sqlstate == "55000", ei.value.fields
        assert ei.value.message == 'database "siftdb" is disabled and not currently accepting connections'
    with pytest.raises(psycopg.OperationalError):
        p.connect()
    assert stays.execute("select 'still here'").fetchone() == ("still here",)
    assert p.connect(dbname="otherdb").execute("select 2").fetchone() == (2,)
    dbs = {r["name"]: r for r in p.admin_dicts("SHOW DATABASES")}
    assert (dbs["siftdb"]["disabled"], dbs["otherdb"]["disabled"]) == ("1", "0")
    assert dbs["siftdb"]["paused"] == "0"
    p.admin("RELOAD")
    with pytest.raises(psycopg.OperationalError):
        p.connect()
    p.admin("ENABLE siftdb")
    assert p.connect().execute("select 'back'").fetchone() == ("back",)
    dbs = {r["name"]: r for r in p.admin_dicts("SHOW DATABASES")}
    assert dbs["siftdb"]["disabled"] == "0"


def backend_pid(conn):
    return conn.execute("select pg_backend_pid()").fetchone()[0]


def test_reconnect_replaces_servers_as_they_are_released(pg, pooler):
    """RECONNECT db: an idle server connection is closed at once; one in a
    transaction finishes it undisturbed (close_needed in SHOW SERVERS) and
    is closed when released; the next transactions run on a new server.
    Another database's servers stay."""
    p = pooler(default_pool_size=1, databases={"otherdb": f"host=127.0.0.1 port={pg.port} dbname=postgres"})
    a = p.connect()
    idle_pid = backend_pid(a)
    other = p.connect(dbname="otherdb")
    other_pid = backend_pid(other)
    p.admin("RECONNECT siftdb")
    wait_for(lambda: idle_pid not in [r[0] for r in pg.backends("sift_scram")],
             what="the idle server closed")
    a.execute("begin")
    busy_pid = backend_pid(a)
    assert busy_pid != idle_pid
    p.admin("RECONNECT siftdb")
    assert backend_pid(a) == busy_pid  # the transaction runs on
    servers = [r for r in p.admin_dicts("SHOW SERVERS") if r["database"] == "siftdb"]
    assert [r["close_needed"] for r in servers] == ["1"], servers
    a.execute("commit")
    wait_for(lambda: busy_pid not in [r[0] for r in pg.backends("sift_scram")],
             what="the released server closed")
    assert backend_pid(a) not in (idle_pid, busy_pid)
    assert backend_pid(other) == other_pid


def test_wait_close_answers_when_reconnected_servers_are_gone(pooler):
    """WAIT_CLOSE answers at once when nothing is left to close, and after
    a RECONNECT only when the server held by an open transaction has been
    released and closed."""
    p = pooler(default_pool_size=1)
    p.admin("WAIT_CLOSE")
    a = p.connect()
    a.execute("begin")
    busy_pid = backend_pid(a)
    p.admin("RECONNECT")
    from harness import exec_simple

    console = psycopg.connect(p.dsn("sift_admin", p.admin_db), autocommit=True)
    done = []
    waiter = threading.Thread(target=lambda: done.append(exec_simple(console, "WAIT_CLOSE siftdb")), daemon=True)
    waiter.start()
    wait_for(lambda: (r := [s for s in p.admin_dicts("SHOW SERVERS") if s["close_needed"] == "1"]) and r,
             what="the server marked")
    assert waiter.is_alive() and not done
    assert backend_pid(a) == busy_pid
    a.execute("commit")
    waiter.join(60)
    assert done == [([], [])], "WAIT_CLOSE did not answer"
    assert all(s["close_needed"] == "0" for s in p.admin_dicts("SHOW SERVERS"))
    assert exec_simple(console, "SHOW VERSION")[1], "the console answers after WAIT_CLOSE"
    console.close()
    assert backend_pid(a) != busy_pid


@pytest.mark.pgsift_only("pgsift's own console messages")
@pytest.mark.parametrize("sql,sqlstate", [
    ("DISABLE", "42601"), ("ENABLE", "42601"), ("DISABLE nosuchdb", "3D000"),
    ("DISABLE pgsift", "42601"), ("ENABLE siftdb extra", "42601"), ("RECONNECT siftdb extra", "42601"),
    ("RECONNECT nosuchdb", "3D000"), ("WAIT_CLOSE siftdb extra", "42601"), ("WAIT_CLOSE pgsift", "42601")])
def test_bad_disable_reconnect_wait_close_are_refused(pooler, sql, sqlstate):
    p = pooler()
    app = p.connect()
    pid = backend_pid(app)
    with pytest.raises(AdminError) as ei:
        p.admin(sql)
    assert ei.value.sqlstate == sqlstate, ei.value
    assert backend_pid(app) == pid  # nothing was reconnected
    assert p.connect().execute("select 1").fetchone() == (1,)  # nor disabled


@pytest.mark.parametrize("cmd", ["DISABLE siftdb", "ENABLE siftdb", "RECONNECT", "WAIT_CLOSE"])
def test_stats_user_cannot_disable_or_reconnect(pooler, cmd):
    p = pooler()
    with pytest.raises(AdminError):
        p.admin(cmd, user="sift_stats")
    assert p.connect().execute("select 1").fetchone() == (1,)


@pytest.mark.pgsift_only("KILL_CLIENT is PgBouncer 1.21's")
def test_kill_client_closes_that_client_and_rolls_back_its_transaction(pooler):
    """KILL_CLIENT id (the id column of SHOW CLIENTS): that client gets
    57P01 and is closed; its open transaction is rolled back (its lock goes
    with its server connection); the other clients and the console go on."""
    p = pooler()
    victim = p.connect(application_name="victim")
    bystander = p.connect(application_name="bystander")
    bystander.execute("create table if not exists kill_client_t (v int)")
    victim.execute("begin")
    victim.execute("lock table kill_client_t")
    clients = {r["application_name"]: r for r in p.admin_dicts("SHOW CLIENTS")}
    p.admin(f"KILL_CLIENT {clients['victim']['id']}")
    with pytest.raises(psycopg.OperationalError, match="administrator command"):
        victim.execute("select 1")
    wait_for(lambda: bystander.execute("begin; lock table kill_client_t nowait; commit") or True,
             what="the killed client's lock released", ignore=(psycopg.errors.LockNotAvailable,))
    bystander.execute("rollback")
    assert bystander.execute("select 'bystander'").fetchone() == ("bystander",)
    assert "victim" not in {r["application_name"] for r in p.admin_dicts("SHOW CLIENTS")}
    bystander.execute("drop table kill_client_t")


@pytest.mark.pgsift_only("KILL_CLIENT is PgBouncer 1.21's")
@pytest.mark.parametrize("arg,sqlstate", [("", "42601"), ("abc", "42601"), ("-1", "42601"), ("1 2", "42601"),
                                          ("99999999999999999999999", "42601"), ("424242", "42704")])
def test_kill_client_of_no_client_is_refused(pooler, arg, sqlstate):
    p = pooler()
    app = p.connect()
    with pytest.raises(AdminError) as ei:
        p.admin(f"KILL_CLIENT {arg}")
    assert ei.value.sqlstate == sqlstate, ei.value
    assert app.execute("select 1").fetchone() == (1,)


@pytest.mark.pgsift_only("KILL_CLIENT is PgBouncer 1.21's")
def test_kill_client_of_the_console_itself_is_refused(pooler):
    from harness import exec_simple

    p = pooler()
    with psycopg.connect(p.dsn("sift_admin", p.admin_db), autocommit=True) as console:
        cols, rows = exec_simple(console, "SHOW CLIENTS")
        own = [dict(zip(cols, r)) for r in rows if dict(zip(cols, r))["database"] == "pgsift"]
        assert len(own) == 1
        with pytest.raises(AdminError) as ei:
            exec_simple(console, f"KILL_CLIENT {own[0]['id']}")
        assert ei.value.sqlstate == "55000"
        assert exec_simple(console, "SHOW VERSION")[1]
