"""PgBouncer 1.25 settings of this branch: client-count limits per user and
per database, login_notify_message, query_wait_notify."""

import threading

import psycopg
import pytest

import wire
from harness import PASSWORDS

pytestmark = pytest.mark.pgsift_only("PgBouncer 1.25 settings; the reference PgBouncer here is 1.18")

USER = "sift_scram"
OTHER = "sift_md5"


def test_max_user_client_connections_of_a_user_entry(pooler):
    p = pooler(users={USER: "max_user_client_connections=1"})
    first = p.connect()
    with pytest.raises(psycopg.OperationalError,
                       match=r"client connections exceeded \(max_user_client_connections\)"):
        p.connect()
    assert p.connect(user=OTHER).execute("select 1").fetchone() == (1,)   # other users are not limited
    row = next(r for r in p.admin_dicts("SHOW USERS") if r["name"] == USER)
    assert (row["max_user_client_connections"], row["current_client_connections"]) == ("1", "1")
    first.close()
    assert p.connect().execute("select 2").fetchone() == (2,)


def test_max_db_client_connections_of_a_database_entry(pg, pooler):
    p = pooler(databases={"small": f"host=127.0.0.1 port={pg.port} dbname=siftdb max_db_client_connections=1"})
    p.connect(dbname="small")
    with pytest.raises(psycopg.OperationalError,
                       match=r"client connections exceeded \(max_db_client_connections\)"):
        p.connect(dbname="small", user=OTHER)
    assert p.connect().execute("select 1").fetchone() == (1,)             # siftdb has no limit
    row = next(r for r in p.admin_dicts("SHOW DATABASES") if r["name"] == "small")
    assert (row["max_client_connections"], row["current_client_connections"]) == ("1", "1")


def test_login_notify_message_is_a_notice_before_ready(pooler):
    p = pooler(login_notify_message="maintenance at 23:00")
    with wire.RawConn(p.host, p.port, timeout=30) as raw:
        msgs = raw.startup(USER, "siftdb", PASSWORDS[USER])
    notices = [pl for t, pl in msgs if t == b"N"]
    assert notices and b"maintenance at 23:00" in notices[0], msgs
    assert [t for t, _ in msgs][-1] == b"Z"


def test_query_wait_notify_tells_a_queued_client_once(pooler):
    p = pooler(default_pool_size=1, query_wait_notify=1)
    holder = p.connect()
    holder.execute("begin")
    holder.execute("select 1")
    waiter = p.connect()
    notices, result = [], []
    waiter.add_notice_handler(lambda d: notices.append(d.message_primary))
    t = threading.Thread(target=lambda: result.append(waiter.execute("select 2").fetchone()), daemon=True)
    t.start()
    from harness import wait_for
    wait_for(lambda: notices, timeout=30, what="the queue notice")
    holder.execute("commit")
    t.join(30)
    assert result == [(2,)]
    assert notices == ["No server connection available in postgres backend, client being queued"], notices


def test_auth_query_lets_in_a_user_not_in_auth_file(pg, pooler):
    """auth_user + auth_query (PgBouncer's default query) + auth_dbname: the
    secret of a user missing from auth_file is read from PostgreSQL; a wrong
    password and an unknown user are refused alike."""
    with pg.connect() as c:
        c.autocommit = True
        c.execute("DROP ROLE IF EXISTS sift_dyn")
        c.execute("SET password_encryption = 'scram-sha-256'")
        c.execute("CREATE ROLE sift_dyn LOGIN PASSWORD 'dynpw'")
    try:
        p = pooler(settings={"auth_user": "postgres", "auth_dbname": "authdb"},
                   databases={"authdb": f"host={pg.sockdir} port={pg.port} dbname=postgres",
                              "dyndb": f"host=127.0.0.1 port={pg.port} dbname=siftdb user=sift_trust"})
        conn = p.connect(user="sift_dyn", dbname="dyndb", password="dynpw")
        assert conn.execute("select current_user").fetchone() == ("sift_trust",)
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "sift_dyn"'):
            p.connect(user="sift_dyn", dbname="dyndb", password="wrong")
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "nobody"'):
            p.connect(user="nobody", dbname="dyndb", password="dynpw")
    finally:
        with pg.connect() as c:
            c.autocommit = True
            c.execute("DROP ROLE IF EXISTS sift_dyn")


def test_user_pool_size_wins_over_the_database_entry(pg, pooler):
    """[users] pool_size caps that user's pools below the database's size."""
    p = pooler(users={USER: "pool_size=1"},
               databases={"siftdb": f"host=127.0.0.1 port={pg.port} dbname=siftdb pool_size=5"})
    holder = p.connect()
    holder.execute("begin")
    holder.execute("select 1")
    waiter = p.connect()
    result = []
    t = threading.Thread(target=lambda: result.append(waiter.execute("select 2").fetchone()), daemon=True)
    t.start()
    t.join(1.5)
    assert t.is_alive(), "a second server was opened beyond the user's pool_size"
    assert p.connect(user=OTHER).execute("select 3").fetchone() == (3,)   # other users: the entry's 5
    holder.execute("commit")
    t.join(30)
    assert result == [(2,)]
    row = next(r for r in p.admin_dicts("SHOW USERS") if r["name"] == USER)
    assert row["pool_size"] == "1"


def test_options_startup_parameter_sets_a_tracked_parameter(pooler):
    p = pooler()
    conn = p.connect(options="-c TimeZone=Asia/Tokyo")
    assert conn.execute("show timezone").fetchone() == ("Asia/Tokyo",)
    other = p.connect()
    assert other.execute("show timezone").fetchone() != ("Asia/Tokyo",)


def test_a_password_of_60000_bytes_in_auth_file(pooler):
    """auth_file secrets and password messages up to PgBouncer's 65,531-byte
    bound: sift_trust (trust on the server) with a 60,000-byte password."""
    long_pw = "p" * 60000
    p = pooler(auth_type="plain", auth_entries={"sift_trust": long_pw})
    conn = p.connect(user="sift_trust", password=long_pw)
    assert conn.execute("select current_user").fetchone() == ("sift_trust",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        p.connect(user="sift_trust", password=long_pw[:-1] + "q")
