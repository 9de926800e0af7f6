"""SUSPEND and RESUME on the console, as in PgBouncer: SUSPEND sends what is
queued, then reads no client or server socket and accepts no connection
(the console's own clients go on) until RESUME; a socket that cannot be
flushed within suspend_timeout is closed."""

import socket
import threading
import time

import psycopg
import pytest

from harness import PASSWORDS, AdminError, exec_simple, wait_for
from wire import RawConn

pytestmark = pytest.mark.pgsift_only("SUSPEND is PgBouncer's; the reference here is checked separately")


def console(p):
    return psycopg.connect(p.dsn("sift_admin", p.admin_db), autocommit=True)


def state(con):
    return dict(exec_simple(con, "SHOW STATE")[1])


def test_suspend_holds_every_socket_and_resume_goes_on(pooler):
    p = pooler()
    conn = p.connect()
    conn.execute("select 1")
    con = console(p)
    result = []
    running = threading.Thread(target=lambda: result.append(
        conn.execute("select pg_sleep(0.3), 'done'").fetchone()[1]), daemon=True)
    running.start()
    time.sleep(0.1)
    assert exec_simple(con, "SUSPEND") == ([], [])
    assert state(con) == {"active": "no", "paused": "no", "suspended": "yes"}
    with pytest.raises(AdminError, match="already suspended") as e:
        exec_simple(con, "SUSPEND")
    assert e.value.sqlstate == "55000"
    # the statement ends on the server, but its answer is not read
    newcomer = []
    late = threading.Thread(target=lambda: newcomer.append(
        p.connect().execute("select 'in'").fetchone()[0]), daemon=True)
    late.start()
    running.join(1.5)
    late.join(0.5)
    assert running.is_alive() and not result, "a reply was relayed while suspended"
    assert late.is_alive() and not newcomer, "a connection was accepted while suspended"
    # the console that suspended goes on answering
    assert exec_simple(con, "SHOW VERSION")[1]
    assert exec_simple(con, "RESUME") == ([], [])
    running.join(30)
    late.join(30)
    assert result == ["done"] and newcomer == ["in"]
    assert state(con)["active"] == "yes"
    with pytest.raises(AdminError, match="not paused"):
        exec_simple(con, "RESUME")
    assert conn.execute("select 2").fetchone() == (2,)
    con.close()


def test_suspend_takes_no_argument(pooler):
    p = pooler()
    with pytest.raises(AdminError) as e:
        p.admin("SUSPEND siftdb")
    assert e.value.sqlstate == "42601"
    assert p.admin_dicts("SHOW STATE")[2] == {"key": "suspended", "value": "no"}


def test_a_client_that_does_not_read_is_closed_after_suspend_timeout(pooler):
    p = pooler(settings={"suspend_timeout": "1", "pool_mode": "session"})
    good = p.connect()
    good.execute("select 1")
    raw = RawConn(p.host, p.port)
    raw.startup("sift_scram", "siftdb", PASSWORDS["sift_scram"])
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # 20 MB of rows that this client never reads: pgsift's queue to it
    # stays full, so SUSPEND can only answer by closing it
    raw.send_msg(b"Q", b"select repeat('x', 1000) from generate_series(1, 20000)\0")
    wait_for(lambda: p.pool_row()["sv_active"] == "1", what="the big query running")
    time.sleep(0.5)
    con = console(p)
    t0 = time.monotonic()
    assert exec_simple(con, "SUSPEND") == ([], [])
    assert time.monotonic() - t0 >= 0.8
    assert "suspend_timeout" in p.log()
    exec_simple(con, "RESUME")
    assert good.execute("select 2").fetchone() == (2,)
    con.close()
    raw.close()
