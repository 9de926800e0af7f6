"""Bad input from a client: each offender gets a clear error (SQLSTATE and a
message that says what was wrong), its socket is closed, and a client that
connected before the bad input keeps working."""

import re
import struct

import psycopg
import pytest

import wire
from harness import IS_PGBOUNCER, PASSWORDS, md5_secret

USER = "sift_trust"   # PostgreSQL trusts it; the pooler checks 'trustpw'


@pytest.fixture
def setup(pooler):
    """A pooler with max_packet_size 65536 and a good client already in."""
    p = pooler(max_packet_size=65536)
    good = p.connect()
    assert good.execute("select 1").fetchone() == (1,)
    return p, good


def assert_good_client_alive(good):
    assert good.execute("select 'still here'").fetchone() == ("still here",)
    assert good.execute("select count(*) from sift_items").fetchone()[0] >= 100


def expect_fatal(raw, sqlstate, message_re, timeout=30):
    """Read until the pooler closes the socket; the first error must carry
    sqlstate and a message matching message_re (case-insensitive)."""
    msgs, closed = raw.read_until_closed(timeout=timeout)
    assert closed, f"the offender's socket was not closed; got {msgs}"
    errors = wire.errors_in(msgs)
    assert errors, f"no ErrorResponse before close; got {msgs}"
    err = errors[0]
    assert "v2" not in err, f"error sent in protocol-2 format: {err}"
    assert err.get("C") == sqlstate, err
    assert re.search(message_re, err.get("M", ""), re.I), err
    return err


def test_protocol_2_startup_packet(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(wire.startup_packet({"user": USER, "database": "siftdb"}, wire.PROTO_V2))
        expect_fatal(raw, "08P01", r"protocol")
    assert_good_client_alive(good)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,   # a TLS ClientHello
    b"\x00\x00\x00\x10\x12\x34\x56\x78" + b"\xab" * 8,                 # unknown protocol code
], ids=["http", "tls-hello", "unknown-code"])
def test_garbage_instead_of_startup_packet(setup, garbage):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(garbage)
        expect_fatal(raw, "08P01", r"startup|packet|protocol|length|header")
    assert_good_client_alive(good)


def test_startup_packet_with_huge_length(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(struct.pack("!II", 0x7FFFFFFF, wire.PROTO_V3) + b"user\0x\0")
        expect_fatal(raw, "08P01", r"length|too large|too long|size|packet|header")
    assert_good_client_alive(good)


@pytest.mark.parametrize("length", [0, 4, 7])
def test_startup_packet_with_length_below_8(setup, length):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        # Enough bytes follow that the pooler need not wait for more.
        raw.send(struct.pack("!II", length, wire.PROTO_V3) + b"user\0x\0\0")
        expect_fatal(raw, "08P01", r"length|short|packet|startup|header")
    assert_good_client_alive(good)


def logged_in(p):
    raw = wire.RawConn(p.host, p.port)
    raw.startup(USER, "siftdb", PASSWORDS[USER])
    rows, err = raw.query("select 1")
    assert rows == [["1"]] and err is None
    return raw


def test_message_larger_than_max_packet_size(setup):
    p, good = setup
    with logged_in(p) as raw:
        # Header announcing 64 kB + 100 bytes, then the start of the body.
        raw.send(b"Q" + struct.pack("!I", 65536 + 100) + b"select '" + b"x" * 1000)
        expect_fatal(raw, "08P01", r"max_packet_size|too large|too long|length|size|packet|header")
    assert_good_client_alive(good)


def test_message_within_max_packet_size_is_fine(setup):
    """The limit is not off by a lot: a 60 kB query passes."""
    p, good = setup
    with logged_in(p) as raw:
        rows, err = raw.query("select length('" + "y" * 60000 + "')")
        assert err is None and rows == [["60000"]]
    assert_good_client_alive(good)


@pytest.mark.parametrize("length", [0, 3])
def test_message_length_below_4(setup, length):
    p, good = setup
    with logged_in(p) as raw:
        raw.send(b"Q" + struct.pack("!I", length) + b"select 1;\0")
        expect_fatal(raw, "08P01", r"length|packet|header|invalid")
    assert_good_client_alive(good)


@pytest.mark.parametrize("type_byte", [b"z", b"\x01", b"!"])
def test_unknown_message_type_after_login(setup, type_byte):
    p, good = setup
    with logged_in(p) as raw:
        raw.send(wire.message(type_byte, b"abc\0"))
        expect_fatal(raw, "08P01", r"unknown|unexpected|invalid|unsupported|message type|pkt")
    assert_good_client_alive(good)


AUTH_CASES = {
    # auth_type -> (user, secret written in auth_file; None: PostgreSQL's verifier)
    "md5": ("sift_md5", md5_secret("sift_md5", "md5pw")),
    "plain": ("sift_plain", "plainpw"),
    "scram-sha-256": ("sift_scram", None),
}


@pytest.mark.parametrize("auth_type", list(AUTH_CASES))
def test_wrong_password(pg, pooler, auth_type):
    user, secret = AUTH_CASES[auth_type]
    secret = secret or pg.verifiers[user]
    p = pooler(auth_type=auth_type, auth_entries={user: secret})
    good = p.connect(user=user)
    assert good.execute("select current_user").fetchone() == (user,)
    with wire.RawConn(p.host, p.port) as raw:
        with pytest.raises(wire.ServerError) as ei:
            raw.startup(user, "siftdb", "not-the-password")
        _, closed = raw.read_until_closed(timeout=30)
        assert closed
    err = ei.value
    if IS_PGBOUNCER:
        assert err.sqlstate in ("28P01", "08P01"), err.fields
    else:
        assert err.sqlstate == "28P01", err.fields
    # PgBouncer 1.18 says "SASL authentication failed" for SCRAM.
    failed = "authentication failed" if IS_PGBOUNCER else "password authentication failed"
    assert failed in err.message, err.fields
    with pytest.raises(psycopg.OperationalError, match=failed):
        p.connect(user=user, password="also-wrong")
    assert_good_client_alive(good)


def test_unknown_user(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        with pytest.raises(wire.ServerError) as ei:
            raw.startup("nobody_here", "siftdb", "x")
        _, closed = raw.read_until_closed(timeout=30)
        assert closed
    err = ei.value
    if IS_PGBOUNCER:
        assert err.sqlstate in ("28P01", "08P01"), err.fields
    else:
        assert err.sqlstate == "28P01", err.fields
    assert "password authentication failed" in err.message, err.fields
    assert_good_client_alive(good)


def test_unknown_database(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        with pytest.raises(wire.ServerError) as ei:
            raw.startup(USER, "no_such_db", PASSWORDS[USER])
        _, closed = raw.read_until_closed(timeout=30)
        assert closed
    err = ei.value
    if IS_PGBOUNCER:
        assert err.sqlstate in ("3D000", "08P01"), err.fields
    else:
        assert err.sqlstate == "3D000", err.fields
    assert "no_such_db" in err.message, err.fields
    with pytest.raises(psycopg.OperationalError, match="no_such_db"):
        p.connect(user=USER, dbname="no_such_db")
    assert_good_client_alive(good)


def test_startup_without_user(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(wire.startup_packet({"database": "siftdb"}))
        msgs, closed = raw.read_until_closed(timeout=30)
    assert closed
    errors = wire.errors_in(msgs)
    assert errors and errors[0].get("C") in ("08P01", "28000"), msgs
    assert re.search(r"user", errors[0].get("M", ""), re.I), errors
    assert_good_client_alive(good)


def test_ssl_request_is_declined_and_startup_follows(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(wire.request_packet(wire.SSL_REQUEST))
        assert raw.read_bytes(1) == b"N"
        raw.startup(USER, "siftdb", PASSWORDS[USER])
        assert raw.query("select 7") == ([["7"]], None)
    # libpq with sslmode=prefer goes the same way.
    c = p.connect(sslmode="prefer")
    assert c.execute("select 8").fetchone() == (8,)
    with pytest.raises(psycopg.OperationalError):
        p.connect(sslmode="require")
    assert_good_client_alive(good)


def test_gssenc_request_is_declined_and_startup_follows(setup):
    p, good = setup
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(wire.request_packet(wire.GSSENC_REQUEST))
        assert raw.read_bytes(1) == b"N"
        raw.startup(USER, "siftdb", PASSWORDS[USER])
        assert raw.query("select 9") == ([["9"]], None)
    assert_good_client_alive(good)


def test_disconnect_in_the_middle_of_a_message(setup):
    """A client vanishing mid-message is not an error anyone else sees."""
    p, good = setup
    for _ in range(5):
        with logged_in(p) as raw:
            raw.send(b"Q" + struct.pack("!I", 1000) + b"select ")
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(struct.pack("!I", 100) + b"\0\3")
    assert_good_client_alive(good)
    c = p.connect()
    assert c.execute("select 1").fetchone() == (1,)
