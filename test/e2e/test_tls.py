"""TLS between clients and the pooler (client_tls_* settings), with
certificates made by the openssl command for this run."""

import contextlib
import os
import re
import socket
import ssl
import struct
import subprocess
import threading

import psycopg
import pytest

import wire
from harness import IS_PGBOUNCER, PASSWORDS, AdminError, exec_simple, wait_for

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
    make_cert(d, "renewed", "localhost", "ca", san="IP:127.0.0.1,DNS:localhost")
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


def errors_of_clients_in_parallel(p, query, expected, n=8, rounds=30):
    """n clients over TLS run query (with %s for k * 1000 + i and str(k))
    rounds times each, at once; the rows that are not expected(k, i), and the
    exceptions."""
    errors = []

    def worker(k):
        try:
            c = p.connect(sslmode="require")
            for i in range(rounds):
                got = c.execute(query, (k * 1000 + i, str(k))).fetchone()
                if got != expected(k, i):
                    errors.append((k, i, got[0]))
        except Exception as e:  # noqa: BLE001 - reported by the caller
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


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

    errors = errors_of_clients_in_parallel(p, "select %s::int, repeat(%s, 2000)",
                                           lambda k, i: (k * 1000 + i, str(k) * 2000), rounds=40)
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


SSL_REQUEST = struct.pack("!II", 8, 80877103)


def ssl_request(raw):
    raw.send(SSL_REQUEST)
    return raw.read_bytes(1)


def unverified_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@contextlib.contextmanager
def tls_socket(p):
    """A socket to the pooler after an SSLRequest and the handshake (the
    certificate not checked)."""
    with socket.create_connection((p.host, p.port), timeout=30) as s:
        s.sendall(SSL_REQUEST)
        assert s.recv(1) == b"S"
        with unverified_ctx().wrap_socket(s) as t:
            yield t


@pytest.mark.pgsift_only("pgsift's own checks of the TLS negotiation")
def test_bad_tls_negotiations_are_closed_and_harm_no_one(pooler, certs):
    """Bytes sent in the clear right after the SSLRequest (which would pass
    as encrypted: CVE-2021-23214), garbage instead of a ClientHello, and an
    SSLRequest inside TLS each end that connection only."""
    p = pooler(**tls_settings(certs))
    bystander = p.connect(sslmode="require")
    with wire.RawConn(p.host, p.port) as raw:
        raw.send(SSL_REQUEST + b"\x16\x03\x01junk")
        msgs, closed = raw.read_until_closed(timeout=30)
        assert closed
        assert any(t == b"E" and b"C08P01" in pl and b"unencrypted data after SSL request" in pl
                   for t, pl in msgs), msgs
    with wire.RawConn(p.host, p.port) as raw:
        assert ssl_request(raw) == b"S"
        raw.send(b"this is not a TLS ClientHello" * 10)
        msgs, closed = raw.read_until_closed(timeout=30)
        assert closed
    with tls_socket(p) as t:
        t.sendall(SSL_REQUEST)
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
@pytest.mark.parametrize("case", ["no key", "missing cert", "bad protocol", "verify without ca", "bad ciphers",
                                  "missing server ca", "server key alone"])
def test_unusable_tls_settings_stop_startup(pooler, certs, case):
    settings = {
        "no key": {"client_tls_sslmode": "require", "client_tls_cert_file": str(certs / "server.crt")},
        "missing cert": tls_settings(certs, client_tls_cert_file=str(certs / "nonexistent.crt")),
        "bad protocol": tls_settings(certs, client_tls_protocols="tlsv1.2,sslv3"),
        "verify without ca": tls_settings(certs, mode="verify-full"),
        "bad ciphers": tls_settings(certs, client_tls_ciphers="NO-SUCH-CIPHER"),
        "missing server ca": {"server_tls_sslmode": "verify-full",
                              "server_tls_ca_file": str(certs / "nonexistent-ca.crt")},
        "server key alone": {"server_tls_key_file": str(certs / "client.key")},
    }[case]
    want = {"no key": "needs client_tls_key_file", "missing cert": "nonexistent.crt",
            "bad protocol": 'unknown protocol "sslv3"', "verify without ca": "needs client_tls_ca_file",
            "bad ciphers": "client_tls_ciphers NO-SUCH-CIPHER", "missing server ca": "nonexistent-ca.crt",
            "server key alone": "server_tls_key_file and server_tls_cert_file go together"}[case]
    p = pooler(start=False, **settings)
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None), log
    assert want in log, log
    assert "Sanitizer" not in log and "runtime error:" not in log


def served_certificate(p):
    """The certificate (DER) the pooler shows a client that asks for TLS."""
    with tls_socket(p) as t:
        return t.getpeercert(binary_form=True)


def der_of(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())


@pytest.mark.pgsift_only("pgsift's own RELOAD and SET answers")
def test_reload_and_set_renew_the_certificate_and_refuse_bad_files(pooler, certs):
    """A renewed certificate is served from the next RELOAD on (the files are
    read again even when the settings keep their names), clients already
    connected keep theirs; files that do not load refuse the RELOAD (F0000)
    or the SET (22023) and change nothing."""
    p = pooler(**tls_settings(certs, mode="prefer"))
    assert served_certificate(p) == der_of(certs / "server.crt")
    old = p.connect(sslmode="require")
    p.settings.update(client_tls_cert_file=str(certs / "renewed.crt"), client_tls_key_file=str(certs / "renewed.key"))
    p.write_ini()
    p.admin("RELOAD")
    assert served_certificate(p) == der_of(certs / "renewed.crt")
    assert old.execute("select 'kept'").fetchone() == ("kept",)

    p.settings.update(client_tls_key_file=str(certs / "server.key"))  # not the renewed certificate's key
    p.write_ini()
    with pytest.raises(AdminError) as ei:
        p.admin("RELOAD")
    assert ei.value.sqlstate == "F0000"
    assert re.search(r"TLS setup failed: client_tls_key_file .*server\.key.*mismatch.*reload refused", p.log()), p.log()[-2000:]
    assert served_certificate(p) == der_of(certs / "renewed.crt")

    with pytest.raises(AdminError) as ei:
        p.admin(f"SET client_tls_cert_file = '{certs / 'nonexistent.crt'}'")
    assert ei.value.sqlstate == "22023" and "nonexistent.crt" in ei.value.message, ei.value
    # the system's reason, not only OpenSSL's "system lib"
    assert "nonexistent.crt: No such file or directory" in ei.value.message, ei.value
    cfg = {r["key"]: r["value"] for r in p.admin_dicts("SHOW CONFIG")}
    assert cfg["client_tls_cert_file"] == str(certs / "renewed.crt")
    assert served_certificate(p) == der_of(certs / "renewed.crt")

    p.admin("SET client_tls_sslmode = require")
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        p.connect(sslmode="disable")
    p.admin("SET client_tls_sslmode = disable")
    assert not p.connect(sslmode="prefer").pgconn.ssl_in_use
    assert old.execute("select 'still kept'").fetchone() == ("still kept",)


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
    with wire.RawConn(p.host, p.port, timeout=20) as raw:
        assert ssl_request(raw) == b"S"
        raw.sock = unverified_ctx().wrap_socket(raw.sock)
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


# -- TLS between the pooler and PostgreSQL (server_tls_*) ------------------------------

class FakeServer(threading.Thread):
    """A TCP listener that answers each connection's SSLRequest with the
    given bytes, and what comes next (a ClientHello) with after, if any,
    then waits for the peer to close."""

    def __init__(self, answer, after=b""):
        super().__init__(daemon=True)
        self.answer, self.after = answer, after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = []

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(20)
                try:
                    self.requests.append(conn.recv(8))
                    conn.sendall(self.answer)
                    if self.after and conn.recv(4096):
                        conn.sendall(self.after)
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass

    def close(self):
        self.sock.close()


@pytest.mark.pgsift_only("pgsift's own messages")
@pytest.mark.parametrize("answer,after,mode,want", [
    (b"N", b"", "require", "server does not support SSL, but SSL was required"),
    (b"S\x00\x00\x00\x08junk", b"", "prefer", "the server sent data after its answer to SSLRequest"),
    (b"S", b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4, "prefer", "TLS handshake with the server failed"),
    (b"S", b"", "prefer", "server_connect_timeout"),
    (b"E", b"", "prefer", "unexpected answer from the server to SSLRequest"),
])
def test_bad_tls_answers_from_a_server_fail_its_login(pooler, answer, after, mode, want):
    """A server that refuses TLS under require, one that sends bytes after
    its 'S' (they were sent in the clear: CVE-2021-23222), one that does not
    speak TLS after 'S', one that says nothing more (server_connect_timeout
    ends the wait), and one that answers something else: the login fails
    with the reason, the client gets it, and the pooler serves on."""
    fake = FakeServer(answer, after)
    fake.start()
    try:
        p = pooler(server_tls_sslmode=mode, server_connect_timeout=3,
                   databases={"fakedb": f"host=127.0.0.1 port={fake.port} dbname=x"})
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect(dbname="fakedb", connect_timeout=8)
        if want == "server_connect_timeout":
            # a server that does not answer may be restarting: the client
            # waits for later attempts, as in PgBouncer
            assert "timeout expired" in str(ei.value), ei.value
            assert p.log().count("closing because: connect timeout (server_connect_timeout)") >= 2, p.log()
        else:
            assert want in str(ei.value), ei.value
        assert fake.requests and fake.requests[0] == SSL_REQUEST, fake.requests
        if mode == "prefer":  # (the test cluster has no TLS here: require refuses it too)
            assert p.connect().execute("select 'others unharmed'").fetchone() == ("others unharmed",)
        assert p.admin("SHOW VERSION")[1] and p.alive()
    finally:
        fake.close()


@pytest.fixture(scope="module")
def pg_tls(pg, certs):
    """The test cluster with ssl = on (the server certificate of certs), for
    this module's tests that use it; off again afterwards."""
    owner = pg.datadir.stat()
    for name in ("server.crt", "server.key"):
        dst = pg.datadir / f"pgsift_test_{name}"
        dst.write_bytes((certs / name).read_bytes())
        os.chown(dst, owner.st_uid, owner.st_gid)
        os.chmod(dst, 0o600)
    with pg.connect() as c:
        for sql in ("alter system set ssl_cert_file = 'pgsift_test_server.crt'",
                    "alter system set ssl_key_file = 'pgsift_test_server.key'",
                    "alter system set ssl = on", "select pg_reload_conf()"):
            c.execute(sql)
    wait_for(lambda: psycopg.connect(pg.tcp_dsn() + " sslmode=require").close() is None,
             what="PostgreSQL taking TLS", ignore=(psycopg.OperationalError,))
    yield pg
    with pg.connect() as c:
        for sql in ("alter system reset ssl", "alter system reset ssl_cert_file", "alter system reset ssl_key_file",
                    "select pg_reload_conf()"):
            c.execute(sql)


SSL_OF_BACKEND = "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()"


def test_servers_use_tls_when_postgresql_offers_it(pooler, pg_tls):
    """prefer: TLS to a server that offers it; results of every size pass
    through it. disable: plain."""
    p = pooler(default_pool_size=2, server_tls_sslmode="prefer")
    conn = p.connect()
    assert conn.execute(SSL_OF_BACKEND).fetchone() == (True, "TLSv1.3")
    if not IS_PGBOUNCER:
        servers = [s for s in p.admin_dicts("SHOW SERVERS") if s["database"] == "siftdb"]
        assert servers and all(s["tls"].startswith("TLSv1.3/") for s in servers), servers
    big = conn.execute("select repeat('s', 3000000) || 'end'").fetchone()[0]
    assert len(big) == 3000003
    rows = conn.execute("select g, md5(g::text) from generate_series(1, 30000) g").fetchall()
    assert len(rows) == 30000 and rows[29999][0] == 30000
    assert conn.execute("select length(%s)", ("q" * 100000,)).fetchone() == (100000,)
    disabled = pooler(server_tls_sslmode="disable")
    assert disabled.connect().execute(SSL_OF_BACKEND).fetchone()[0] is False


@pytest.mark.pgsift_only("PgBouncer 1.18 defaults to disable (prefer since 1.21)")
def test_the_default_is_prefer(pooler, pg_tls):
    assert pooler().connect().execute(SSL_OF_BACKEND).fetchone() == (True, "TLSv1.3")


@pytest.mark.pgsift_only("PgBouncer 1.18 leaves the client waiting until connect_timeout on an untrusted certificate")
def test_verify_full_checks_the_server_certificate(pooler, pg_tls, certs):
    p = pooler(server_tls_sslmode="verify-full", server_tls_ca_file=str(certs / "ca.crt"))
    assert p.connect().execute(SSL_OF_BACKEND).fetchone()[0] is True
    wrong = pooler(server_tls_sslmode="verify-ca", server_tls_ca_file=str(certs / "otherca.crt"))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        wrong.connect()


def test_tls_on_both_sides_with_many_clients(pooler, pg_tls, certs):
    """Clients over TLS to the pooler, the pooler over TLS to PostgreSQL,
    eight clients on three servers: each sees its own rows."""
    p = pooler(**tls_settings(certs), default_pool_size=3, server_tls_sslmode="require")
    errors = errors_of_clients_in_parallel(
        p, "select %s::int, repeat(%s, 3000), (select ssl from pg_stat_ssl where pid = pg_backend_pid())",
        lambda k, i: (k * 1000 + i, str(k) * 3000, True))
    assert not errors, errors[:5]


@pytest.mark.pgsift_only("PgBouncer 1.18 keeps server connections made with the old TLS settings")
def test_changing_server_tls_settings_replaces_server_connections(pooler, pg_tls, certs):
    """SET (or a reload with) other server_tls_* values: connections made
    with the old ones are closed as they become idle ("database
    configuration changed", PgBouncer's words) and the next ones use the
    new settings; a login failure seen under the old settings does not
    hold back the next attempt."""
    p = pooler(server_tls_sslmode="disable", server_login_retry=60)
    conn = p.connect()
    assert conn.execute(SSL_OF_BACKEND).fetchone()[0] is False
    p.admin("SET server_tls_sslmode = require")
    wait_for(lambda: "database configuration changed" in p.log(), timeout=30,
             what="the plain server connection to be closed")
    assert conn.execute(SSL_OF_BACKEND).fetchone() == (True, "TLSv1.3")
    # a certificate nobody trusts: the login fails ...
    p.admin(f"SET server_tls_ca_file = '{certs / 'otherca.crt'}'")
    p.admin("SET server_tls_sslmode = verify-ca")
    wait_for(lambda: p.admin_dicts("SHOW SERVERS") == [], timeout=30, what="the servers to be replaced")
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        p.connect().execute("select 1")
    # ... and the right CA is used at once, not after server_login_retry
    p.admin(f"SET server_tls_ca_file = '{certs / 'ca.crt'}'")
    assert p.connect().execute(SSL_OF_BACKEND).fetchone()[0] is True


@pytest.mark.pgsift_only("PgBouncer 1.18 words the refusal differently")
def test_auth_type_cert_logs_in_the_user_its_certificate_names(pooler, certs):
    """auth_type = cert: the client certificate (verified against
    client_tls_ca_file) must name the user; no password is asked."""
    p = pooler(**tls_settings(certs, mode="verify-ca", client_tls_ca_file=str(certs / "ca.crt")),
               auth_type="cert")   # auth_file: the passwords pgsift logs in to PostgreSQL with
    mine = {"sslmode": "require", "sslcert": str(certs / "client.crt"), "sslkey": str(certs / "client.key")}
    conn = p.connect(password="not asked", **mine)
    assert conn.execute("select current_user").fetchone() == (USER,)
    # the certificate names sift_scram, not sift_md5
    with pytest.raises(psycopg.OperationalError, match='certificate authentication failed for user "sift_md5"'):
        p.connect(user="sift_md5", **mine)
    # no certificate: the TLS handshake itself is refused (verify-ca)
    with pytest.raises(psycopg.OperationalError):
        p.connect(sslmode="require")
