"""Transaction pooling with real clients: pgbench, psql, many async drivers."""

import asyncio
import re
import subprocess
import threading
import uuid

import asyncpg
import psycopg
import pytest

from harness import IS_PGBOUNCER, PASSWORDS, PGBENCH, PSQL, client_env, wait_for

USER = "sift_scram"


class ServerSampler(threading.Thread):
    """Samples, as superuser and directly on PostgreSQL, how many client
    backends `user` has on siftdb; keeps the maximum."""

    def __init__(self, pg, user):
        super().__init__(daemon=True)
        self.pg, self.user = pg, user
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
                        "and usename = %s and backend_type = 'client backend' "
                        "and pid <> pg_backend_pid()", (self.user,)).fetchone()
                    self.max_seen = max(self.max_seen, n)
                    self.samples += 1
                    self.stop_event.wait(0.01)
        except Exception as e:  # reported by the test
            self.error = e

    def finish(self):
        self.stop_event.set()
        self.join(30)
        assert self.error is None, f"sampler failed: {self.error!r}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["simple", "extended"])
@pytest.mark.parametrize("script", ["tpcb", "select-only"])
def test_pgbench_50_clients_on_5_servers(pg, pooler, pgbench_tables, script, mode):
    p = pooler(default_pool_size=5)
    pg.wait_no_backends(USER)
    clients, per_client = 50, 50
    cmd = [PGBENCH, "-n", "-h", p.host, "-p", str(p.port), "-U", USER,
           "-c", str(clients), "-j", "2", "-t", str(per_client), "-M", mode]
    if script == "select-only":
        cmd.append("-S")
    cmd.append("siftdb")
    sampler = ServerSampler(pg, USER)
    sampler.start()
    try:
        r = subprocess.run(cmd, env=client_env(), capture_output=True, text=True, timeout=240)
    finally:
        sampler.finish()
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "error" not in out.lower(), out
    total = clients * per_client
    assert f"number of transactions actually processed: {total}/{total}" in out, out
    assert sampler.max_seen >= 1, "the sampler never saw a server connection"
    assert sampler.max_seen <= 5, \
        f"{sampler.max_seen} server connections for a pool of 5 ({sampler.samples} samples)"


# -- psql --------------------------------------------------------------------

def psql(p, *args, user=USER, stdin=None):
    cmd = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-h", p.host, "-p", str(p.port),
           "-U", user, "-d", "siftdb", *args]
    return subprocess.run(cmd, env=client_env(user), capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_psql_single_command(pooler):
    p = pooler()
    r = psql(p, "-A", "-t", "-c", "select 1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_psql_multi_statement_script(pooler, tmp_path):
    p = pooler()
    table = f"psql_script_{uuid.uuid4().hex[:8]}"
    script = tmp_path / "script.sql"
    script.write_text(f"""
create table {table} (id int primary key, v text);
begin;
insert into {table} select g, 'row ' || g from generate_series(1, 50) g;
update {table} set v = v || '!' where id % 2 = 0;
commit;
begin;
insert into {table} values (1000, 'rolled back');
rollback;
select count(*), count(*) filter (where v like '%!') from {table};
select v from {table} where id = 1000;
drop table {table};
""")
    r = psql(p, "-q", "-A", "-t", "-F", ",", "-f", str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["50,25"], r.stdout


def test_psql_backslash_copy_round_trip(pooler, tmp_path):
    p = pooler()
    table = f"psql_copy_{uuid.uuid4().hex[:8]}"
    src = tmp_path / "in.csv"
    dst = tmp_path / "out.csv"
    src.write_text("".join(f'{i},"value {i} with ""quotes"" and, commas"\n' for i in range(1, 2001)))
    r = psql(p, "-c", f"create table {table} (id int primary key, v text)")
    assert r.returncode == 0, r.stderr
    try:
        r = psql(p, "-c", f"\\copy {table} from '{src}' with (format csv)")
        assert r.returncode == 0, r.stderr
        assert "COPY 2000" in r.stdout
        r = psql(p, "-c", f"\\copy (select * from {table} order by id) to '{dst}' with (format csv)")
        assert r.returncode == 0, r.stderr
        assert dst.read_text() == src.read_text()
        r = psql(p, "-A", "-t", "-c", f"select count(*), sum(id) from {table}")
        assert r.stdout.strip() == f"2000|{sum(range(1, 2001))}"
    finally:
        psql(p, "-c", f"drop table if exists {table}")


# -- max_client_conn -----------------------------------------------------------

def test_max_client_conn_refuses_the_extra_client(pooler):
    p = pooler(max_client_conn=3)
    first = [p.connect() for _ in range(3)]
    for c in first:
        assert c.execute("select 1").fetchone() == (1,)
    import wire
    with wire.RawConn(p.host, p.port) as raw:
        with pytest.raises(wire.ServerError) as ei:
            raw.startup(USER, "siftdb", PASSWORDS[USER])
        msgs, closed = raw.read_until_closed(timeout=30)
        assert closed, "the refused client's socket stays open"
    err = ei.value
    if IS_PGBOUNCER:
        assert err.sqlstate in ("53300", "08P01")
    else:
        assert err.sqlstate == "53300", err.fields
    assert "max_client_conn" in err.message or "too many" in err.message.lower(), err.fields
    # The same refusal seen through libpq:
    with pytest.raises(psycopg.OperationalError, match="max_client_conn|too many"):
        p.connect()
    for c in first:
        assert c.execute("select 2").fetchone() == (2,)
    # A slot freed is a slot usable again.
    first[0].close()
    again = wait_for(lambda: p.connect(), what="a connection after one was closed",
                     ignore=(psycopg.OperationalError,))
    assert again.execute("select 3").fetchone() == (3,)


# -- no cross-client leaks -------------------------------------------------------

N_ASYNCPG = 100
N_PSYCOPG = 100
ROUNDS = 12


class Activity:
    """Watches pg_stat_activity for active queries carrying a marker."""

    MARK = re.compile(r"cancel-me (c\d+-\d+)")

    def __init__(self, pg):
        self.pg = pg
        self.active = set()
        self.running = True

    async def run(self):
        conn = await psycopg.AsyncConnection.connect(
            host=str(self.pg.sockdir), port=self.pg.port, user="postgres", dbname="postgres",
            autocommit=True)
        try:
            while self.running:
                cur = await conn.execute(
                    "select query from pg_stat_activity where state = 'active' "
                    "and query like '%%cancel-me%%' and pid <> pg_backend_pid()")
                found = set()
                for (q,) in await cur.fetchall():
                    found.update(self.MARK.findall(q))
                self.active = found
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    async def wait_active(self, marker, timeout=90):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while marker not in self.active:
            if loop.time() > deadline:
                raise AssertionError(f"query {marker} never became active on a server")
            await asyncio.sleep(0.05)


async def asyncpg_client(p, i, problems, done):
    name = f"c{i}"
    conn = await asyncpg.connect(host=p.host, port=p.port, user=USER, password=PASSWORDS[USER],
                                 database="siftdb", statement_cache_size=0, timeout=60,
                                 server_settings={"application_name": f"app-{name}"})
    try:
        for k in range(ROUNDS):
            token = f"{name}-{k}"
            v = await conn.fetchval("select $1::text", token)
            if v != token:
                problems.append(f"{token}: got value {v!r}")
            a = await conn.fetchval("select current_setting('application_name')")
            if a != f"app-{name}":
                problems.append(f"{token}: got application_name {a!r}")
            if k % 3 == i % 3:
                try:
                    await conn.fetchval("select ($1::text)::int", token)
                    problems.append(f"{token}: bad cast did not fail")
                except asyncpg.InvalidTextRepresentationError as e:
                    if token not in str(e):
                        problems.append(f"{token}: got someone else's error {e}")
            if k % 4 == i % 4:
                try:
                    await conn.fetchval("select 1/0")
                    problems.append(f"{token}: 1/0 did not fail")
                except asyncpg.DivisionByZeroError:
                    pass
        done.append(name)
    except Exception as e:
        problems.append(f"{name}: unexpected {type(e).__name__}: {e}")
    finally:
        await conn.close()


async def psycopg_client(p, i, problems, done, activity):
    name = f"c{i}"
    conn = await psycopg.AsyncConnection.connect(
        p.dsn(USER, application_name=f"app-{name}"), autocommit=True, prepare_threshold=None)
    cancels = i % 4 == 0
    try:
        for k in range(ROUNDS):
            token = f"{name}-{k}"
            cur = await conn.execute("select %s::text", (token,))
            v = (await cur.fetchone())[0]
            if v != token:
                problems.append(f"{token}: got value {v!r}")
            cur = await conn.execute("select current_setting('application_name')")
            a = (await cur.fetchone())[0]
            if a != f"app-{name}":
                problems.append(f"{token}: got application_name {a!r}")
            if k % 3 == i % 3:
                try:
                    await conn.execute("select (%s::text)::int", (token,))
                    problems.append(f"{token}: bad cast did not fail")
                except psycopg.errors.InvalidTextRepresentation as e:
                    if token not in str(e):
                        problems.append(f"{token}: got someone else's error {e}")
            if k % 4 == i % 4:
                try:
                    await conn.execute("select 1/0")
                    problems.append(f"{token}: 1/0 did not fail")
                except psycopg.errors.DivisionByZero:
                    pass
            if cancels and k == (i // 4) % ROUNDS:
                marker = f"cancel-me {token}"
                task = asyncio.ensure_future(conn.execute(f"select pg_sleep(60) /* {marker} */"))
                try:
                    await activity.wait_active(token)
                    await asyncio.to_thread(conn.cancel)
                    await task
                    problems.append(f"{token}: cancelled pg_sleep returned normally")
                except psycopg.errors.QueryCanceled:
                    done.append(f"cancelled {token}")
                finally:
                    if not task.done():
                        task.cancel()
        done.append(name)
    except Exception as e:
        problems.append(f"{name}: unexpected {type(e).__name__}: {e}")
    finally:
        await conn.close()


@pytest.mark.timeout(300)
def test_200_clients_get_only_their_own_results_errors_and_cancels(pg, pooler):
    p = pooler(default_pool_size=10)
    problems, done = [], []
    activity = Activity(pg)

    async def main():
        watcher = asyncio.ensure_future(activity.run())
        try:
            jobs = [asyncpg_client(p, i, problems, done) for i in range(N_ASYNCPG)]
            jobs += [psycopg_client(p, N_ASYNCPG + i, problems, done, activity)
                     for i in range(N_PSYCOPG)]
            await asyncio.gather(*jobs)
        finally:
            activity.running = False
            await watcher

    asyncio.run(main())
    assert problems == [], f"{len(problems)} problems, first ones: {problems[:20]}"
    cancelled = [d for d in done if d.startswith("cancelled ")]
    finished = [d for d in done if not d.startswith("cancelled ")]
    assert len(finished) == N_ASYNCPG + N_PSYCOPG
    assert len(cancelled) == len([i for i in range(N_PSYCOPG) if (N_ASYNCPG + i) % 4 == 0])
