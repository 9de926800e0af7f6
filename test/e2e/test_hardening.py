"""Smaller gaps found under attack (issue 17, item 9): values SET must
refuse, startup packets that are refused at once, lengths reported as they
are, console errors that do not echo invalid UTF-8, and literal samples that
go away when log_query_samples does."""

import struct
import time

import pytest

from harness import PASSWORDS, AdminError, wait_for
from wire import RawConn, ServerError, errors_in, message

pytestmark = pytest.mark.pgsift_only("pgsift's own checks")


def show_config(p):
    return {r["key"]: r["value"] for r in p.admin_dicts("SHOW CONFIG")}


@pytest.mark.parametrize("value", ["'  '", "''", "0.0000001", "'0.4us'", "'0.0001ms'"])
def test_set_refuses_blank_and_below_the_unit(pooler, value):
    p = pooler()
    before = show_config(p)["query_wait_timeout"]
    with pytest.raises(AdminError) as e:
        p.admin(f"SET query_wait_timeout = {value}")
    assert e.value.sqlstate == "22023", e.value
    assert show_config(p)["query_wait_timeout"] == before


@pytest.mark.parametrize("value,shown", [("0", "0"), ("'0.0'", "0"), ("'0ms'", "0"), ("'1us'", "0.000001"),
                                         ("'1.5'", "1.5")])
def test_set_takes_zero_when_written_and_small_units(pooler, value, shown):
    p = pooler()
    p.admin(f"SET query_wait_timeout = {value}")
    assert show_config(p)["query_wait_timeout"] == shown


def test_blank_time_in_the_config_file_is_an_error(pooler):
    p = pooler(start=False, query_wait_timeout="0.0000001")
    rc, log = p.run_to_exit()
    assert rc == 1 and "query_wait_timeout" in log, log


@pytest.mark.parametrize("name,value", [("client_tls_protocols", "garbage"),
                                        ("client_tls_ciphers", "NOT-A-CIPHER"),
                                        ("server_tls_protocols", "tlsv9"),
                                        ("server_tls_ciphers", "NOT-A-CIPHER")])
def test_set_refuses_bad_tls_lists_while_tls_is_off(pooler, name, value):
    p = pooler(client_tls_sslmode="disable", server_tls_sslmode="disable")
    before = show_config(p)[name]
    with pytest.raises(AdminError) as e:
        p.admin(f"SET {name} = '{value}'")
    assert e.value.sqlstate == "22023" and name in e.value.message, e.value
    assert show_config(p)[name] == before
    p.admin(f"SET {name} = 'tlsv1.2,tlsv1.3'" if "protocols" in name else f"SET {name} = 'HIGH:!aNULL'")


def test_startup_packet_shorter_than_8_bytes_is_refused_at_once(pooler):
    p = pooler(client_login_timeout=30)
    for length in (0, 4, 7):
        with RawConn(p.host, p.port, timeout=10) as c:
            t0 = time.monotonic()
            c.send(struct.pack("!I", length))
            msgs, closed = c.read_until_closed(timeout=10)
            assert closed and time.monotonic() - t0 < 5
            errs = errors_in(msgs)
            assert errs and errs[0]["C"] == "08P01" and "invalid startup packet length" in errs[0]["M"], msgs


def test_length_0xffffffff_is_reported_as_it_is(pooler):
    p = pooler()
    with RawConn(p.host, p.port, timeout=10) as c:
        c.startup("sift_scram", "siftdb", password="scrampw")
        c.send(b"Q" + struct.pack("!I", 0xffffffff))
        msgs, closed = c.read_until_closed(timeout=10)
    errs = errors_in(msgs)
    assert closed and errs[0]["C"] == "08P01", msgs
    assert "message of 4294967296 bytes is longer than max_packet_size" in errs[0]["M"], errs


def test_console_errors_do_not_echo_invalid_utf8(pooler):
    p = pooler()
    with RawConn(p.host, p.port, timeout=10) as c:
        c.startup("sift_admin", "pgsift", password="adminpw")
        c.send(message(b"Q", b"SHOW \xff\xfeoops\x80\0"))
        t, payload = c.read_msg()
        assert t == b"E"
        payload.decode("utf-8")       # valid UTF-8 now
        assert b"\\xff\\xfeoops\\x80" in payload, payload
        assert c.read_msg()[0] == b"Z"
        # the console is still usable
        rows, err = c.query("SHOW VERSION")
        assert err is None and rows


def test_login_errors_do_not_echo_invalid_utf8(pooler):
    p = pooler()
    body = struct.pack("!I", 196608) + b"user\0sift_scram\0database\0db\xc3x\0\0"
    with RawConn(p.host, p.port, timeout=10) as c:
        c.send(struct.pack("!I", len(body) + 4) + body)
        # an unknown database is told after the login (names cannot be probed)
        with pytest.raises(ServerError) as ei:
            c.finish_login("sift_scram", PASSWORDS["sift_scram"])
    assert "no such database: db\\xc3x" in ei.value.fields.get("M", ""), ei.value.fields


def _slow_with_sample(p, marker):
    conn = p.connect()
    conn.execute(f"select pg_sleep(0.15), '{marker}' as secret")
    wait_for(lambda: any(r["sample"] and marker in r["sample"] for r in p.admin_dicts("SHOW SLOW")),
             what="a slow entry with its sample")


@pytest.mark.parametrize("how", ["set", "reload", "reset"])
def test_samples_go_when_log_query_samples_does(pooler, how):
    p = pooler(log_query_samples=1, slow_query_ms=100, slow_query_explain=0)
    _slow_with_sample(p, "card-4111")
    if how == "set":
        p.admin("SET log_query_samples = 0")
    elif how == "reload":
        p.settings["log_query_samples"] = "0"
        p.write_ini()
        p.admin("RELOAD")
    else:
        p.admin("RESET QUERIES")
    slow = p.admin_dicts("SHOW SLOW")
    assert slow and all(r["sample"] is None for r in slow), slow
    assert all(r["sample"] is None for r in p.admin_dicts("SHOW QUERIES"))
