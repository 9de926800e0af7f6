"""Who gets a server connection, in which order, and how many there may be:
FIFO queueing, the reserve pool, server_check_query, max_db_connections and
max_user_connections."""

import threading
import uuid

import psycopg
import pytest

from harness import wait_for

USER = "sift_scram"
USER2 = "sift_md5"


def pg_exec(pg, sql):
    with pg.connect(dbname="siftdb") as c:
        c.execute(sql)


def new_table(pg, prefix, columns):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_exec(pg, f"create table {name} ({columns})")
    pg_exec(pg, f"alter table {name} owner to {USER}")
    pg_exec(pg, f"grant all on {name} to public")
    for (seq,) in pg.query("select pg_get_serial_sequence(%s, 'id')", (name,), dbname="siftdb"):
        if seq:
            pg_exec(pg, f"grant all on sequence {seq} to public")
    return name


def drop_table(pg, name):
    pg_exec(pg, f"drop table if exists {name}")


class Runner(threading.Thread):
    def __init__(self, conn, sql, params=None):
        super().__init__(daemon=True)
        self.conn, self.sql, self.params = conn, sql, params
        self.result, self.error = None, None

    def run(self):
        try:
            self.result = self.conn.execute(self.sql, self.params).fetchall()
        except Exception as e:
            self.error = e

    def outcome(self, timeout=30):
        self.join(timeout)
        assert not self.is_alive(), f"still running after {timeout}s: {self.sql}"
        assert self.error is None, self.error
        return self.result


class BackendSampler(threading.Thread):
    """Samples, directly on PostgreSQL, the client backends on siftdb of the
    given users; keeps the maximum seen."""

    def __init__(self, pg, users):
        super().__init__(daemon=True)
        self.pg, self.users = pg, list(users)
        self.stop_event = threading.Event()
        self.max_seen = 0
        self.samples = 0
        self.error = None

    def run(self):
        try:
            with self.pg.connect() as conn:
                while not self.stop_event.is_set():
                    (n,) = conn.execute(
                        "select count(*) from pg_stat_activity where datname = 'siftdb' "
                        "and usename = any(%s) and backend_type = 'client backend' "
                        "and pid <> pg_backend_pid()", (self.users,)).fetchone()
                    self.max_seen = max(self.max_seen, n)
                    self.samples += 1
                    self.stop_event.wait(0.01)
        except Exception as e:
            self.error = e

    def finish(self):
        self.stop_event.set()
        self.join(30)
        assert self.error is None, f"sampler failed: {self.error!r}"


def waiting_count(p, database="siftdb", user=USER):
    row = p.pool_row(database, user)
    return int(row["cl_waiting"]) if row else 0


# -- FIFO ---------------------------------------------------------------------------

def test_waiting_clients_are_served_in_arrival_order(pg, pooler):
    p = pooler(default_pool_size=1)
    table = new_table(pg, "fifo", "id serial primary key, who text")
    try:
        holder = p.connect()
        holder.execute("begin")
        holder.execute("select 1")
        runners = []
        for n, who in enumerate(["B", "C", "D", "E"], 1):
            conn = p.connect()
            r = Runner(conn, f"insert into {table} (who) values (%s) returning id", (who,))
            r.start()
            runners.append(r)
            wait_for(lambda n=n: waiting_count(p) == n, what=f"{n} clients waiting")
        assert all(r.is_alive() for r in runners)
        holder.execute("commit")
        ids = [r.outcome()[0][0] for r in runners]
        assert ids == sorted(ids), f"served out of order: {ids}"
        assert holder.execute(f"select string_agg(who, '' order by id) from {table}") \
            .fetchone() == ("BCDE",)
    finally:
        drop_table(pg, table)


# -- reserve pool ---------------------------------------------------------------------

def test_reserve_pool_serves_a_client_that_waited(pg, pooler):
    pg.wait_no_backends(USER)
    p = pooler(default_pool_size=1, reserve_pool_size=1, reserve_pool_timeout=1)
    sampler = BackendSampler(pg, [USER])
    sampler.start()
    try:
        holder = p.connect()
        holder.execute("begin")
        held_pid = holder.execute("select pg_backend_pid()").fetchone()[0]
        waiter = Runner(p.connect(), "select pg_backend_pid(), 'served'")
        waiter.start()
        # Served while the holder's transaction is still open.
        (other_pid, word), = waiter.outcome(timeout=20)
        assert word == "served"
        assert other_pid != held_pid
        assert holder.execute("select pg_backend_pid()").fetchone() == (held_pid,)
        assert pg.query("select state from pg_stat_activity where pid = %s",
                        (held_pid,)) == [("idle in transaction",)]
        # A third client finds both servers busy or idle, never a third one.
        holder2 = p.connect()
        assert holder2.execute("select 'third'").fetchone() == ("third",)
        holder.execute("commit")
    finally:
        sampler.finish()
    assert 1 <= sampler.max_seen <= 2, f"{sampler.max_seen} servers for pool 1 + reserve 1"


# -- server_check_query ------------------------------------------------------------------

def run_sequential_transactions(conn, n):
    for i in range(n):
        with conn.transaction():
            conn.execute("select %s::int", (i,))
        # the client's own results are never mixed with the check's
        assert conn.execute("select %s::text", (f"t{i}",)).fetchone() == (f"t{i}",)


def test_server_check_query_runs_before_reuse(pg, pooler):
    table = new_table(pg, "checks", "id serial primary key, at timestamptz default now()")
    try:
        p = pooler(default_pool_size=1, server_check_delay=0,
                   server_check_query=f"insert into {table} default values")
        conn = p.connect()
        run_sequential_transactions(conn, 5)
        # 10 reuses of one server (the first use of a new server needs no check)
        (n,) = pg.query(f"select count(*) from {table}", dbname="siftdb")[0]
        assert n >= 1, "server_check_query never ran"
        assert n <= 10, f"{n} checks for 10 reuses"
    finally:
        drop_table(pg, table)


def test_server_check_delay_0_checks_every_reuse(pg, pooler):
    table = new_table(pg, "checks", "id serial primary key")
    try:
        p = pooler(default_pool_size=1, server_check_delay=0,
                   server_check_query=f"insert into {table} default values")
        conn = p.connect()
        conn.execute("select 1")       # opens the only server: no check
        before = pg.query(f"select count(*) from {table}", dbname="siftdb")[0][0]
        for i in range(6):
            assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
        after = pg.query(f"select count(*) from {table}", dbname="siftdb")[0][0]
        assert after - before == 6, f"{after - before} checks for 6 reuses"
    finally:
        drop_table(pg, table)


def test_server_check_query_not_run_within_server_check_delay(pg, pooler):
    table = new_table(pg, "checks", "id serial primary key")
    try:
        p = pooler(default_pool_size=1, server_check_query=f"insert into {table} default values")
        conn = p.connect()
        run_sequential_transactions(conn, 5)
        assert pg.query(f"select count(*) from {table}", dbname="siftdb") == [(0,)]
    finally:
        drop_table(pg, table)


# -- max_db_connections / max_user_connections ----------------------------------------------

def hammer_clients(p, logins, rounds=3):
    """Each (user, dbname) login runs `rounds` short transactions.  Returns
    the list of problems."""
    problems = []

    def client(user, dbname, k):
        try:
            with psycopg.connect(p.dsn(user, dbname), autocommit=True) as conn:
                for i in range(rounds):
                    with conn.transaction():
                        row = conn.execute("select pg_sleep(0.2), current_user, %s::text",
                                           (f"{k}-{i}",)).fetchone()
                    if row[1:] != (user, f"{k}-{i}"):
                        problems.append(f"{user}/{dbname} #{k}: got {row}")
        except Exception as e:
            problems.append(f"{user}/{dbname} #{k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(u, d, k), daemon=True)
               for k, (u, d) in enumerate(logins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if any(t.is_alive() for t in threads):
        problems.append("clients still running after 60 s")
    return problems


@pytest.mark.timeout(90)
def test_max_db_connections_caps_servers_across_users(pg, pooler):
    pg.wait_no_backends(USER)
    pg.wait_no_backends(USER2)
    p = pooler(default_pool_size=5, max_db_connections=2, query_wait_timeout=40)
    sampler = BackendSampler(pg, [USER, USER2])
    sampler.start()
    try:
        problems = hammer_clients(p, [(USER, "siftdb")] * 8 + [(USER2, "siftdb")] * 8)
    finally:
        sampler.finish()
    assert problems == [], problems[:5]
    assert 1 <= sampler.max_seen <= 2, \
        f"{sampler.max_seen} server connections to siftdb with max_db_connections = 2"


@pytest.mark.timeout(90)
def test_max_user_connections_caps_servers_across_databases(pg, pooler):
    pg.wait_no_backends(USER)
    dbs = {"userdb_a": f"host=127.0.0.1 port={pg.port} dbname=siftdb",
           "userdb_b": f"host=127.0.0.1 port={pg.port} dbname=siftdb"}
    p = pooler(databases=dbs, default_pool_size=5, max_user_connections=2,
               query_wait_timeout=40)
    sampler = BackendSampler(pg, [USER])
    sampler.start()
    try:
        problems = hammer_clients(p, [(USER, "userdb_a")] * 8 + [(USER, "userdb_b")] * 8)
    finally:
        sampler.finish()
    assert problems == [], problems[:5]
    assert 1 <= sampler.max_seen <= 2, \
        f"{sampler.max_seen} server connections of {USER} with max_user_connections = 2"


def fill_pool_then_leave(p, user, dbname, n):
    """n clients of (user, dbname) hold transactions at the same time (so the
    pool opens n servers), then commit and disconnect: the pool keeps n idle
    server connections."""
    conns = [psycopg.connect(p.dsn(user, dbname), autocommit=True) for _ in range(n)]
    try:
        pids = set()
        for c in conns:
            c.execute("begin")
            pids.add(c.execute("select pg_backend_pid()").fetchone()[0])
        assert len(pids) == n
        for c in conns:
            c.execute("commit")
    finally:
        for c in conns:
            c.close()
    return pids


def test_max_db_connections_frees_idle_servers_of_another_pool(pg, pooler):
    pg.wait_no_backends(USER)
    pg.wait_no_backends(USER2)
    p = pooler(default_pool_size=5, max_db_connections=2, query_wait_timeout=15)
    idle_pids = fill_pool_then_leave(p, USER, "siftdb", 2)
    assert set(r[0] for r in pg.backends(USER)) == idle_pids
    # Another user's pool on the same entry needs a server: one of the idle
    # ones is closed to make room.
    with psycopg.connect(p.dsn(USER2, "siftdb"), autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone() == (USER2,)
    assert pg.count_backends(USER) + pg.count_backends(USER2) <= 2


def test_max_user_connections_frees_idle_servers_of_another_pool(pg, pooler):
    pg.wait_no_backends(USER)
    dbs = {"userdb_a": f"host=127.0.0.1 port={pg.port} dbname=siftdb",
           "userdb_b": f"host=127.0.0.1 port={pg.port} dbname=siftdb"}
    p = pooler(databases=dbs, default_pool_size=5, max_user_connections=2,
               query_wait_timeout=15)
    idle_pids = fill_pool_then_leave(p, USER, "userdb_a", 2)
    assert set(r[0] for r in pg.backends(USER)) == idle_pids
    # The same user on the other entry needs a server: one of the idle ones
    # of userdb_a is closed to make room.
    with psycopg.connect(p.dsn(USER, "userdb_b"), autocommit=True) as conn:
        assert conn.execute("select current_database()").fetchone() == ("siftdb",)
    assert pg.count_backends(USER) <= 2
