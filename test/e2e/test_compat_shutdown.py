"""PgBouncer's signals and SHUTDOWN modes: SIGUSR1 pauses and SIGUSR2 resumes
every database; SHUTDOWN WAIT_FOR_CLIENTS keeps the console on the Unix
socket, refuses new logins and exits when the last client leaves."""

import signal
import threading

import psycopg
import pytest

from harness import AdminError, wait_for

pytestmark = pytest.mark.pgsift_only("PgBouncer 1.25 behaviour (the reference PgBouncer here is 1.18)")


def test_sigusr1_pauses_and_sigusr2_resumes(pooler):
    p = pooler()
    conn = p.connect()
    conn.execute("select 1")
    p.signal(signal.SIGUSR1)
    wait_for(lambda: all(r["paused"] == "1" for r in p.admin_dicts("SHOW DATABASES")
                         if r["name"] == "siftdb"), timeout=30, what="siftdb paused")
    result = []
    t = threading.Thread(target=lambda: result.append(conn.execute("select 2").fetchone()), daemon=True)
    t.start()
    t.join(1.5)
    assert t.is_alive() and not result, "a query ran while paused"
    p.signal(signal.SIGUSR2)
    t.join(30)
    assert result == [(2,)]
    assert p.alive()


def test_shutdown_wait_for_clients_keeps_the_console_and_exits_after_the_last_client(pooler):
    p = pooler()
    conn = p.connect()
    conn.execute("select 1")
    p.admin("SHUTDOWN WAIT_FOR_CLIENTS")
    # the client already in keeps working; nobody new gets in over TCP
    assert conn.execute("select 2").fetchone() == (2,)
    with pytest.raises(psycopg.OperationalError):
        p.connect()
    # the console still answers on the Unix socket, and RESUME is refused
    unix = psycopg.connect(host=str(p.workdir), port=p.port, user="sift_admin", dbname="pgsift",
                           password="adminpw", autocommit=True)
    from harness import exec_simple
    assert exec_simple(unix, "SHOW VERSION")[1]
    with pytest.raises(AdminError, match="pooler is shutting down"):
        exec_simple(unix, "RESUME")
    unix.close()
    assert p.alive()
    conn.close()
    assert p.wait_exit(timeout=60) == 0
