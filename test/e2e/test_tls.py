"""TLS between clients and the pooler (client_tls_* settings), with
certificates made by the openssl command for this run."""

import os
import socket
import ssl
import struct
import subprocess
import threading

import psycopg
import pytest

import wire
from harness import IS_PGBOUNCER, PASSWORDS, exec_simple, wait_for

USER = "sift_scram"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_cert(d, name, cn, ca, san=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", str(ext), cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_base):
    """A CA, a server certificate for 127.0.0.1 and localhost, a client
    certificate for sift_scram, and a second CA that signed none of them."""
    d = tmp_base / "tls"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o755)
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN=pgsift test {ca}",
                cwd=d)
    make_cert(d, "server", "localhost", "ca", san="IP:127.0.0.1,DNS:localhost")
    make_cert(d, "client", USER, "ca")
    for f in d.iterdir():
        os.chmod(f, 0o644)  # the pooler may run as another user
    os.chmod(d / "client.key", 0o600)  # libpq insists; the tests hold it
    return d


def tls_settings(certs, mode="require", **more):
    s = {"client_tls_sslmode": mode, "client_tls_key_file": str(certs / "server.key"),
         "client_tls_cert_file": str(certs / "server.crt")}
    s.update(more)
    return s


def test_require_serves_tls_clients_and_refuses_plain_ones(pooler, certs):
    p = pooler(**tls_settings(certs))
    conn = p.connect(sslmode="require")
    assert conn.pgconn.ssl_in_use
    assert conn.execute("select 'over tls'").fetchone() == ("over tls",)
    if not IS_PGBOUNCER:
        rows = [r for r in p.admin_dicts("SHOW CLIENTS") if r["database"] == "siftdb"]
        assert rows and rows[0]["tls"].startswith("TLSv1.3/"), rows
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        p.connect(sslmode="disable")
    if not IS_PGBOUNCER:
        with wire.RawConn(p.host, p.port) as raw:
            with pytest.raises(wire.ServerError) as ei:
                raw.startup(USER, "siftdb", PASSWORDS[USER])
        assert ei.value.sqlstate == "28000" and ei.value.message == "SSL required", ei.value.fields
    assert conn.execute("select 2").fetchone() == (2,)


def test_the_client_can_verify_the_pooler(pooler, certs):
    """verify-full against the CA that signed the certificate works (the
    name 127.0.0.1 is in it); against another CA the client refuses."""
    p = pooler(**tls_settings(certs, mode="prefer"))
    conn = p.connect(sslmode="verify-full", sslrootcert=str(certs / "ca.crt"))
    assert conn.pgconn.ssl_in_use
    assert conn.execute("select 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        p.connect(sslmode="verify-full", sslrootcert=str(certs / "otherca.crt"))
    plain = p.connect(sslmode="disable")  # prefer: plain clients are let in
    assert not plain.pgconn.ssl_in_use
    assert plain.execute("select 'plain'").fetchone() == ("plain",)


def test_verify_ca_asks_clients_for_a_certificate(pooler, certs):
    p = pooler(**tls_settings(certs, mode="verify-ca", client_tls_ca_file=str(certs / "ca.crt")))
    with pytest.raises(psycopg.OperationalError):
        p.connect(sslmode="require")
    conn = p.connect(sslmode="require", sslcert=str(certs / "client.crt"), sslkey=str(certs / "client.key"))
    assert conn.execute("select 'with a certificate'").fetchone() == ("with a certificate",)


def test_large_results_many_clients_and_cancel_over_tls(pooler, certs):
    """Results much larger than a TLS record and the pooler's buffers, a
    COPY in, eight clients at once each seeing only its own rows, and a
    cancel (sent in the clear, as libpq does) of a TLS client's query."""
    p = pooler(**tls_settings(certs), default_pool_size=3)
    conn = p.connect(sslmode="require")
    big = conn.execute("select repeat('x', 3000000) || 'end'").fetchone()[0]
    assert len(big) == 3000003 and big.endswith("xend")
    rows = conn.execute("select g, md5(g::text) from generate_series(1, 50000) g").fetchall()
    assert len(rows) == 50000 and rows[-1][1] == conn.execute("select md5('50000')").fetchone()[0]
    with conn.transaction():
        conn.execute("create temp table tls_copy (v text) on commit drop")
        with conn.cursor().copy("copy tls_copy from stdin") as cp:
            for i in range(20000):
                cp.write_row((f"row {i} " + "y" * 80,))
        assert conn.execute("select count(*), sum(length(v)) from tls_copy").fetchone()[0] == 20000

    errors = []

    def worker(k):
        try:
            c = p.connect(sslmode="require")
            for i in range(40):
                got = c.execute("select %s::int, repeat(%s, 2000)", (k * 1000 + i, str(k))).fetchone()
                if got != (k * 1000 + i, str(k) * 2000):
                    errors.append((k, i, got[0]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]

    done = []
    runner = threading.Thread(target=lambda: done.append(
        pytest.raises(psycopg.errors.QueryCanceled, conn.execute, "select pg_sleep(60)")), daemon=True)
    runner.start()
    wait_for(lambda: p.pg.active_pid_running("pg_sleep(60)"), what="the query running")
    conn.cancel()
    runner.join(60)
    assert done, "the cancel did not end the query"
    assert conn.execute("select 'after cancel'").fetchone() == ("after cancel",)


def ssl_request(raw):
    raw.send(struct.pack("!II", 8, 80877103))
    return raw.read_bytes(1)


@pytest.mark.pgsift_only("pgsift's own checks of the TLS negotiation")
def test_bad_tls_negotiations_are_closed_and_harm_no_one(pooler, certs):
    """Bytes sent in the clear right after the SSLRequest (which would pass
    as encrypted: CVE-2021-23214), garbage instead of a ClientHello, and an
    SSLRequest inside TLS each end that connection only."""
    p = pooler(**tls_settings(certs))
    bystander = p.connect(sslmode="require")
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(struct.pack("!II", 8, 80877103) + b"\x16\x03\x01junk")
        msgs, closed = raw.read_until_closed(timeout=30)
        assert closed
        assert any(t == b"E" and b"C08P01" in pl and b"unencrypted data after SSL request" in pl
                   for t, pl in msgs), msgs
    with wire.RawConn(p.host, p.port) as raw:
        assert ssl_request(raw) == b"S"
        raw.send(b"this is not a TLS ClientHello" * 10)
        msgs, closed = raw.read_until_closed(timeout=30)
        assert closed
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((p.host, p.port), timeout=30) as s:
        s.sendall(struct.pack("!II", 8, 80877103))
        assert s.recv(1) == b"S"
        with ctx.wrap_socket(s) as t:
            t.sendall(struct.pack("!II", 8, 80877103))
            data = b""
            while True:
                chunk = t.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data[:1] == b"E" and b"C08P01" in data, data
    assert bystander.execute("select 'unharmed'").fetchone() == ("unharmed",)
    assert p.connect(sslmode="require").execute("select 1").fetchone() == (1,)
    assert p.alive()


@pytest.mark.pgsift_only("pgsift's own messages")
@pytest.mark.parametrize("case", ["no key", "missing cert", "bad protocol", "verify without ca"])
def test_unusable_tls_settings_stop_startup(pooler, certs, case):
    settings = {
        "no key": {"client_tls_sslmode": "require", "client_tls_cert_file": str(certs / "server.crt")},
        "missing cert": tls_settings(certs, client_tls_cert_file=str(certs / "nonexistent.crt")),
        "bad protocol": tls_settings(certs, client_tls_protocols="tlsv1.2,sslv3"),
        "verify without ca": tls_settings(certs, mode="verify-full"),
    }[case]
    want = {"no key": "needs client_tls_key_file", "missing cert": "nonexistent.crt",
            "bad protocol": 'unknown protocol "sslv3"', "verify without ca": "needs client_tls_ca_file"}[case]
    p = pooler(start=False, **settings)
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None), log
    assert want in log, log
    assert "Sanitizer" not in log and "runtime error:" not in log


def test_admin_console_over_tls(pooler, certs):
    p = pooler(**tls_settings(certs))
    with psycopg.connect(p.dsn("sift_admin", p.admin_db, sslmode="require"), autocommit=True) as console:
        assert console.pgconn.ssl_in_use
        cols, rows = exec_simple(console, "SHOW VERSION")
        assert rows


@pytest.mark.pgsift_only("PgBouncer 1.18 stalls here: its issue #1530, fixed later by its PR #1531")
def test_a_message_split_across_tls_records_is_read_whole(pooler, certs):
    """A Query whose first bytes come in one TLS record (after a whole
    Query) and the rest in a full 16 KB record: the pooler's buffer then
    has less room than the record, so OpenSSL keeps a few decrypted bytes
    back that the socket will not signal again. They must still be read
    (the client would wait for its answer forever otherwise)."""
    p = pooler(**tls_settings(certs))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with wire.RawConn(p.host, p.port, timeout=20) as raw:
        assert ssl_request(raw) == b"S"
        raw.sock = ctx.wrap_socket(raw.sock)
        raw.startup(USER, "siftdb", PASSWORDS[USER])
        for cut in (1, 2, 3, 4, 7):
            q1 = wire.message(b"Q", b"select 1\0")
            n = 16384 + cut - 6 - len("select length('')")
            q2 = wire.message(b"Q", f"select length('{'z' * n}')".encode() + b"\0")
            assert len(q2) == 16384 + cut
            raw.send(q1 + q2[:cut])  # one record each: Python's ssl sends a call's bytes as records
            answers = [raw.read_msg()]
            while answers[-1][0] != b"Z":  # the first query's answer
                answers.append(raw.read_msg())
            raw.send(q2[cut:])
            answers.append(raw.read_msg())
            while answers[-1][0] != b"Z":
                answers.append(raw.read_msg())
            rows = [pl for t, pl in answers if t == b"D"]
            assert len(rows) == 2 and rows[1].endswith(str(n).encode()), rows
