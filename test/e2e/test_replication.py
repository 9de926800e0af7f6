"""Replication connections through the pooler (PgBouncer 1.23+'s): a client
whose startup packet has replication=database|true gets a server connection
of its own, opened with the same parameter, relayed as in session mode
whatever pool_mode says (CopyBoth included) and closed when the client
leaves. pg_basebackup, pg_recvlogical and a logical subscription go through
it; the transaction pool's servers are neither taken nor left dirty."""

import os
import subprocess
import threading
import uuid

import psycopg
import pytest

import harness
from harness import REPL_PASSWORD, REPL_USER, exec_simple, wait_for

pytestmark = pytest.mark.pgsift_only("replication connections arrived in PgBouncer 1.23")

AUTH = {REPL_USER: REPL_PASSWORD}


def repl_connect(p, mode="database", user=REPL_USER, password=REPL_PASSWORD, dbname="siftdb", **kw):
    return psycopg.connect(p.dsn(user, dbname, password, replication=mode, **kw), autocommit=True)


def simple(conn, sql):
    """Walsender commands take the simple protocol only."""
    return exec_simple(conn, sql)[1]


def walsenders(pg):
    return pg.query("select pid, application_name from pg_stat_activity where backend_type = 'walsender'")


def repl_env():
    env = dict(os.environ)
    env["PGPASSWORD"] = REPL_PASSWORD
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def show(p, what):
    return p.admin_dicts(f"SHOW {what}")


def test_basebackup_through_pooler(pooler, pg, tmp_path):
    """pg_basebackup (BASE_BACKUP's COPY stream, plus a second connection
    that streams WAL with START_REPLICATION) makes a complete backup."""
    # pg_basebackup and pg_receivewal ask for the database "replication"
    p = pooler(auth_entries=AUTH, pool_mode="transaction",
               databases={"replication": f"host=127.0.0.1 port={pg.port} dbname=replication"})
    target = tmp_path / "backup"
    r = subprocess.run([str(harness.PG_BIN / "pg_basebackup"), "-d",
                        f"host={p.host} port={p.port} user={REPL_USER} dbname=siftdb",
                        "-D", str(target), "-X", "stream", "--checkpoint=fast", "--no-sync"],
                       env=repl_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "PG_VERSION").read_text().strip() == "15"
    assert (target / "backup_manifest").stat().st_size > 0
    assert any((target / "pg_wal").iterdir())
    # the walsenders were the client's own: they end with it
    wait_for(lambda: not walsenders(pg), what="the walsenders to end")
    assert not [s for s in show(p, "SERVERS") if s["replication"] != "none"]
    assert "login attempt: db=replication user=sift_repl tls=no replication=yes" in p.log()


def test_logical_subscription_through_pooler(pooler, pg):
    """CREATE SUBSCRIPTION whose connection string points at the pooler: the
    slot is made through it (CREATE_REPLICATION_SLOT), the initial copy and
    the stream (START_REPLICATION ... LOGICAL, CopyBoth) go through it, in a
    pool whose pool_mode is transaction."""
    tag = uuid.uuid4().hex[:8]
    pub, sub, slot = f"pub_{tag}", f"sub_{tag}", f"slot_{tag}"
    with pg.connect() as c:
        c.autocommit = True
        c.execute(f"CREATE DATABASE {pub}")
        c.execute(f"CREATE DATABASE {sub}")
    try:
        with pg.connect(dbname=pub) as c:
            c.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
            c.execute(f"GRANT SELECT, INSERT ON items TO {REPL_USER}")
            c.execute("INSERT INTO items VALUES (1, 'before')")
            c.execute("CREATE PUBLICATION items_pub FOR TABLE items")
        with pg.connect(dbname=sub) as c:
            c.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        p = pooler(auth_entries=AUTH, databases={pub: f"host=127.0.0.1 port={pg.port} dbname={pub}"})
        with repl_connect(p, dbname=pub) as rc:
            rows = simple(rc, f"CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput")
            assert rows[0][0] == slot
        conninfo = f"host={p.host} port={p.port} user={REPL_USER} password={REPL_PASSWORD} dbname={pub}"
        with pg.connect(dbname=sub) as c:
            c.autocommit = True
            c.execute(f"CREATE SUBSCRIPTION items_sub CONNECTION '{conninfo}' PUBLICATION items_pub "
                      f"WITH (slot_name = {slot}, create_slot = false)")
        try:
            def sub_rows():
                return pg.query("select id, v from items order by id", dbname=sub)
            wait_for(lambda: sub_rows() == [(1, "before")], timeout=60, what="the initial copy")
            with p.connect(REPL_USER, pub, REPL_PASSWORD) as c:
                c.execute("INSERT INTO items VALUES (2, 'after')")
            wait_for(lambda: sub_rows() == [(1, "before"), (2, "after")], timeout=60,
                     what="the insert to be replicated")
            clients = [c for c in show(p, "CLIENTS") if c["replication"] == "logical"]
            assert clients and all(c["state"] == "active" for c in clients)
            assert [s for s in show(p, "SERVERS") if s["replication"] == "logical"]
        finally:
            with pg.connect(dbname=sub) as c:
                c.autocommit = True
                c.execute("DROP SUBSCRIPTION items_sub")  # drops the slot through the pooler
        assert not pg.query("select 1 from pg_replication_slots where slot_name = %s", (slot,))
    finally:
        with pg.connect() as c:
            c.autocommit = True
            c.execute(f"DROP DATABASE IF EXISTS {sub} WITH (FORCE)")
            c.execute(f"DROP DATABASE IF EXISTS {pub} WITH (FORCE)")


def test_pg_recvlogical_streams_changes(pooler, pg):
    """pg_recvlogical --start: CopyBoth in both directions (the stream and
    the client's feedback messages)."""
    p = pooler(auth_entries=AUTH)
    slot = f"recv_{uuid.uuid4().hex[:8]}"
    table = f"recv_{uuid.uuid4().hex[:8]}"
    with pg.connect(dbname="siftdb") as c:
        c.execute(f"CREATE TABLE {table} (a int)")
        c.execute(f"GRANT ALL ON {table} TO PUBLIC")
    with pg.connect(dbname="siftdb") as c:  # not in a transaction that wrote
        c.execute("select pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
    proc = subprocess.Popen([str(harness.PG_BIN / "pg_recvlogical"), "-d",
                             f"host={p.host} port={p.port} user={REPL_USER} dbname=siftdb",
                             f"--slot={slot}", "--file=-", "--no-loop", "--start", "-s", "1"],
                            env=repl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: walsenders(pg), what="pg_recvlogical's walsender")
        with p.connect() as c:
            c.execute(f"INSERT INTO {table} VALUES (42)")
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(b"BEGIN ")
        assert lines[1] == f"table public.{table}: INSERT: a[integer]:42\n".encode()
        assert lines[2].startswith(b"COMMIT ")
        # the standby status updates (client CopyData) moved the slot on
        wait_for(lambda: pg.query("select confirmed_flush_lsn >= pg_current_wal_lsn() - 1024 * 1024 "
                                  "from pg_replication_slots where slot_name = %s", (slot,))[0][0],
                 what="feedback to reach the server")
    finally:
        proc.kill()
        proc.communicate(timeout=10)
        wait_for(lambda: not walsenders(pg), what="the walsender to end")
        with pg.connect(dbname="siftdb") as c:
            c.execute("select pg_drop_replication_slot(%s)", (slot,))
            c.execute(f"DROP TABLE {table}")


def test_replication_and_transaction_clients_side_by_side(pooler, pg):
    """A replication client keeps one walsender for its whole session (the
    same backend for every command, a SET stays) while transaction-mode
    clients of the same pool share the pool's servers; nothing crosses."""
    p = pooler(auth_entries=AUTH, pool_mode="transaction", default_pool_size=2)
    stop = threading.Event()
    errors = []

    def normal_client(i):
        try:
            with p.connect(REPL_USER, "siftdb", REPL_PASSWORD) as c:
                n = 0
                while not stop.is_set():
                    v = c.execute("select %s::int, current_setting('application_name')", (i * 100000 + n,)).fetchone()
                    assert v == (i * 100000 + n, ""), v
                    n += 1
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=normal_client, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        with repl_connect(p, application_name="walreader") as rc:
            pid = int(simple(rc, "select pg_backend_pid()")[0][0])
            simple(rc, "SET application_name = 'walreader2'")
            for _ in range(20):
                assert simple(rc, "IDENTIFY_SYSTEM")[0][3] == "siftdb"
                assert int(simple(rc, "select pg_backend_pid()")[0][0]) == pid
                assert simple(rc, "SHOW application_name") == [["walreader2"]]
            kind = pg.query("select backend_type from pg_stat_activity where pid = %s", (pid,))
            assert kind == [("walsender",)]
            row = [c for c in show(p, "CLIENTS") if c["replication"] == "logical"]
            assert len(row) == 1 and row[0]["state"] == "active"
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    wait_for(lambda: not walsenders(pg), what="the walsender to end with its client")


def test_replication_does_not_take_or_poison_pool_servers(pooler, pg):
    """The pool's idle servers are never handed to a replication client, and
    its walsender never joins the pool: when the pool is full, the longest
    idle server is closed to make room ("evicted"), and after the client
    leaves, the pool's clients get ordinary backends."""
    p = pooler(auth_entries=AUTH, pool_mode="transaction", default_pool_size=2)
    conns = [p.connect(REPL_USER, "siftdb", REPL_PASSWORD) for _ in range(2)]
    barrier = threading.Barrier(2)

    def hold(c):
        barrier.wait()
        c.execute("select pg_sleep(0.3)")

    ts = [threading.Thread(target=hold, args=(c,)) for c in conns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    pool_pids = {int(s["remote_pid"]) for s in show(p, "SERVERS")}
    assert len(pool_pids) == 2
    with repl_connect(p) as rc:
        pid = int(simple(rc, "select pg_backend_pid()")[0][0])
        assert pid not in pool_pids
        assert "closing because: evicted" in p.log()
        servers = show(p, "SERVERS")
        assert sorted(s["replication"] for s in servers) == ["logical", "none"]
    wait_for(lambda: not walsenders(pg), what="the walsender to end with its client")
    for c in conns:
        for _ in range(3):
            other = c.execute("select pg_backend_pid(), (select backend_type from pg_stat_activity "
                              "where pid = pg_backend_pid())").fetchone()
            assert other[0] != pid and other[1] == "client backend"
    assert [s["replication"] for s in show(p, "SERVERS")] == ["none"] * len(show(p, "SERVERS"))


def test_replication_waits_for_room_in_pool_size(pooler, pg):
    """Replication servers count against pool_size: a third replication
    client of a pool of 2 waits until one of the first two leaves."""
    p = pooler(auth_entries=AUTH, default_pool_size=2)
    a, b = repl_connect(p), repl_connect(p)
    got = {}

    def third():
        with repl_connect(p) as c:
            got["rows"] = simple(c, "IDENTIFY_SYSTEM")

    t = threading.Thread(target=third, daemon=True)
    t.start()
    wait_for(lambda: [c for c in show(p, "CLIENTS") if c["state"] == "waiting"], what="the third to wait")
    waiting = [c for c in show(p, "CLIENTS") if c["state"] == "waiting"]
    assert len(waiting) == 1 and waiting[0]["replication"] == "logical"
    assert "rows" not in got and len(walsenders(pg)) == 2
    a.close()
    t.join(20)
    assert got["rows"][0][3] == "siftdb"
    b.close()
    wait_for(lambda: not walsenders(pg), what="the walsenders to end")


def test_physical_replication_and_startup_parameters(pooler, pg):
    """replication=true: the walsender takes no SET, so the client's startup
    parameters (application_name, options) are in its server's startup
    packet; SQL is refused by PostgreSQL, as without a pooler."""
    p = pooler(auth_entries=AUTH, pool_mode="statement")
    with repl_connect(p, "true", application_name="physrep", options="-c wal_sender_timeout=17s") as rc:
        assert simple(rc, "SHOW application_name") == [["physrep"]]
        assert simple(rc, "SHOW wal_sender_timeout") == [["17s"]]
        assert simple(rc, "IDENTIFY_SYSTEM")[0][3] is None
        with pytest.raises(harness.AdminError) as e:
            simple(rc, "select 1")
        assert e.value.sqlstate == "0A000"
        row = [c for c in show(p, "CLIENTS") if c["replication"] == "physical"]
        assert len(row) == 1 and row[0]["application_name"] == "physrep"
        assert simple(rc, "IDENTIFY_SYSTEM")[0][3] is None


def test_replication_refused_by_server(pooler, pg):
    """A user without the REPLICATION role: PostgreSQL refuses the walsender;
    the client gets "login failed" with PostgreSQL's reason, and the pool's
    ordinary clients are not affected (the refusal is about this kind of
    connection only)."""
    p = pooler(auth_entries=AUTH)
    with p.connect() as c:
        assert c.execute("select 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError) as e:
        repl_connect(p, user="sift_scram", password=harness.PASSWORDS["sift_scram"])
    assert "login failed" in str(e.value)
    assert "must be superuser or replication role" in str(e.value)
    with pytest.raises(psycopg.OperationalError) as e:
        repl_connect(p, "true", user="sift_scram", password=harness.PASSWORDS["sift_scram"])
    assert "no pg_hba.conf entry for replication connection" in str(e.value)
    with p.connect() as c:
        assert c.execute("select 2").fetchone() == (2,)
    assert "closing because: login failed (age=" in p.log()


def test_replication_values(pooler):
    """PostgreSQL's spellings of the replication parameter: database, its
    booleans (a false one is an ordinary connection), nothing else."""
    p = pooler(auth_entries=AUTH)
    for value in ("maybe", "o"):
        with pytest.raises(psycopg.OperationalError) as e:
            repl_connect(p, value)
        assert f'invalid value for parameter "replication": "{value}"' in str(e.value)
    for value, mode in (("database", "logical"), ("on", "physical"), ("1", "physical"), ("YES", "physical"),
                        ("t", "physical"), ("off", "none"), ("0", "none"), ("false", "none")):
        with repl_connect(p, value) as c:
            assert simple(c, "IDENTIFY_SYSTEM" if mode != "none" else "select 3")
            mine = [r for r in show(p, "CLIENTS") if r["user"] == REPL_USER]
            assert [r["replication"] for r in mine] == [mode], value


def test_client_that_gives_up_waiting_leaves_nothing_behind(pooler, pg):
    """A replication client that leaves while it waits for room gets no
    server afterwards; the next one does."""
    p = pooler(auth_entries=AUTH, default_pool_size=1)
    with repl_connect(p) as a:
        simple(a, "IDENTIFY_SYSTEM")
        with pytest.raises(psycopg.OperationalError):
            repl_connect(p, connect_timeout=2)
        wait_for(lambda: not [c for c in show(p, "CLIENTS") if c["state"] == "waiting"],
                 what="the client that gave up to be gone")
    wait_for(lambda: not walsenders(pg), what="the walsender to end")
    with repl_connect(p) as b:
        assert simple(b, "IDENTIFY_SYSTEM")[0][3] == "siftdb"
        assert len(walsenders(pg)) == 1
    wait_for(lambda: not walsenders(pg), what="the walsender to end")
    assert not show(p, "SERVERS") or all(s["replication"] == "none" for s in show(p, "SERVERS"))


def test_reconnect_ends_replication_sessions(pooler, pg):
    """RECONNECT (or a reload that changes the entry) closes a replication
    server at once: a stream has no transaction boundary to wait for."""
    p = pooler(auth_entries=AUTH)
    rc = repl_connect(p)
    simple(rc, "IDENTIFY_SYSTEM")
    p.admin("RECONNECT siftdb")
    wait_for(lambda: not walsenders(pg), what="the walsender to be closed")
    with pytest.raises(harness.AdminError, match="server closed the connection"):
        simple(rc, "IDENTIFY_SYSTEM")
    rc.close()
    assert "closing because: database configuration changed" in p.log()


def test_server_that_never_answers(pooler):
    """The replication client's own server hangs in its login: a client that
    gives up closes it, and server_connect_timeout closes a client that
    waits for it, with the reason (nothing is left behind either way)."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts; nobody ever answers
    try:
        port = silent.getsockname()[1]
        p = pooler(auth_entries=AUTH, server_connect_timeout=3,
                   databases={"silent": f"host=127.0.0.1 port={port} dbname=x"})
        with pytest.raises(psycopg.OperationalError):
            repl_connect(p, dbname="silent", connect_timeout=1)
        wait_for(lambda: "closing because: replication client disconnected" in p.log(),
                 what="its server to be closed")
        assert not show(p, "SERVERS")
        with pytest.raises(psycopg.OperationalError) as e:
            repl_connect(p, dbname="silent", connect_timeout=10)
        assert "server connection lost: connect timeout" in str(e.value)
        assert not show(p, "SERVERS")
        assert not [c for c in show(p, "CLIENTS") if c["database"] == "silent"]
    finally:
        silent.close()
