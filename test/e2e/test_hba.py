"""auth_type = hba: the method of each login comes from the first line of
auth_hba_file (pg_hba.conf format) that matches its connection type,
database, user and address; peer (Unix sockets) and cert (TLS client
certificates) logins may go through a map of auth_ident_file. A file with
a line pgsift does not understand stops the start-up, and a RELOAD keeps
the rules in force."""

import getpass
import os
import struct

import psycopg
import pytest

from harness import PASSWORDS, AdminError, make_service_dir
from test_tls import certs, make_cert, tls_settings  # noqa: F401 (the certs fixture)
from wire import RawConn, ServerError

pytestmark = pytest.mark.pgsift_only("auth_hba_file arrived in PgBouncer 1.7; the reference here is checked separately")

ADMIN_RULE = "host pgsift sift_admin 127.0.0.1/32 md5\n"


class Rules:
    """auth_hba_file and auth_ident_file in a directory the pooler can read."""

    def __init__(self, base, hba, ident=""):
        self.dir = make_service_dir(base)
        self.hba = self.dir / "hba.conf"
        self.ident = self.dir / "ident.conf"
        self.write(hba, ident)

    def write(self, hba, ident=None):
        self.hba.write_text(hba)
        os.chmod(self.hba, 0o644)
        if ident is not None:
            self.ident.write_text(ident)
            os.chmod(self.ident, 0o644)

    def settings(self):
        return {"auth_type": "hba", "auth_hba_file": str(self.hba), "auth_ident_file": str(self.ident)}


@pytest.fixture
def rules(tmp_base, request):
    return lambda hba, ident="": Rules(tmp_base / f"hba-{request.node.name}", hba, ident)


def refused(fn):
    with pytest.raises(psycopg.OperationalError) as e:
        fn()
    return str(e.value)


def auth_requests(p, user, password, source=None):
    """The authentication request codes pgsift sends a raw login from source."""
    with RawConn(p.host, p.port, source=source) as raw:
        msgs = raw.startup(user, "siftdb", password)
        assert raw.query("select 1")[0] == [["1"]]
    return [struct.unpack("!I", m[:4])[0] for t, m in msgs if t == b"R"]


def test_host_lines_pick_the_method_by_database_user_and_address(pooler, rules):
    r = rules(ADMIN_RULE +
              "# a comment, and a blank line\n\n"
              "host    siftdb  sift_md5                127.0.0.1/32    reject\n"
              "host    siftdb  sift_plain              127.0.0.2/32    password\n"
              "host    siftdb  sift_trust              127.0.0.1/32    trust\n"
              'host    siftdb  sift_scram,"sift_plain" 127.0.0.0 255.0.0.0 scram-sha-256\n')
    p = pooler(**r.settings())
    assert p.connect("sift_scram").execute("select current_user").fetchone() == ("sift_scram",)
    assert "password authentication failed" in refused(lambda: p.connect("sift_scram", password="wrong"))
    # trust: no password asked
    assert p.connect("sift_trust", password="").execute("select 1").fetchone() == (1,)
    # the address picks the line: cleartext from 127.0.0.2, SCRAM from 127.0.0.1
    assert 3 in auth_requests(p, "sift_plain", PASSWORDS["sift_plain"], source="127.0.0.2")
    assert 10 in auth_requests(p, "sift_plain", PASSWORDS["sift_plain"])
    msg = refused(lambda: p.connect("sift_md5"))
    assert 'pg_hba.conf rejects connection for host "127.0.0.1", user "sift_md5", database "siftdb"' in msg
    with RawConn(p.host, p.port) as raw:
        with pytest.raises(ServerError) as e:
            raw.startup("sift_scram", "otherdb", PASSWORDS["sift_scram"])
    assert e.value.sqlstate == "28000"
    assert 'no pg_hba.conf entry for host "127.0.0.1", user "sift_scram", database "otherdb", no encryption' \
        in e.value.message
    # the console is under the same rules
    assert p.admin("SHOW VERSION")[1]


def test_peer_on_the_unix_socket_with_and_without_a_map(pooler, rules):
    me = getpass.getuser()
    r = rules(ADMIN_RULE +
              "local   siftdb  sift_scram,sift_plain   peer map=apps\n"
              "local   siftdb  all                     peer\n",
              f"# MAPNAME SYSTEM-USERNAME PG-USERNAME\napps {me} sift_scram\n")
    p = pooler(**r.settings())
    unix = str(p.workdir)
    # the OS user of this test may log in as sift_scram, without a password
    conn = p.connect("sift_scram", password="", host=unix)
    assert conn.execute("select current_user").fetchone() == ("sift_scram",)
    # the map does not name sift_plain; no map: the OS user must be the user
    for user in ("sift_plain", "sift_md5"):
        assert f'Peer authentication failed for user "{user}"' in refused(
            lambda: p.connect(user, password="", host=unix))
    assert "ident map apps cannot be matched" in p.log()
    # peer lines are local lines: over TCP nothing matches
    assert "no pg_hba.conf entry" in refused(lambda: p.connect("sift_scram"))
    # the map changed by a RELOAD: every name ("all") for this OS user
    r.write(r.hba.read_text(), f"apps {me} all\n")
    p.admin("RELOAD")
    assert p.connect("sift_plain", password="", host=unix).execute("select 1").fetchone() == (1,)


@pytest.fixture(scope="module")
def mapped_cert(certs):  # noqa: F811
    make_cert(certs, "mapped", "app.example.org", "ca")
    os.chmod(certs / "mapped.key", 0o600)
    os.chmod(certs / "mapped.crt", 0o644)
    return certs


def test_cert_lines_with_a_map_and_md5_without_tls(pooler, rules, mapped_cert):
    c = mapped_cert
    r = rules(ADMIN_RULE +
              "hostssl siftdb  all   127.0.0.1/32  cert map=web\n"
              "hostnossl siftdb all  127.0.0.1/32  md5\n",
              "web  app.example.org  sift_scram\nweb \"other.example.org\" all\n")
    p = pooler(**tls_settings(c, mode="allow", client_tls_ca_file=str(c / "ca.crt")), **r.settings())
    cert = {"sslmode": "require", "sslcert": str(c / "mapped.crt"), "sslkey": str(c / "mapped.key")}
    conn = p.connect("sift_scram", password="", **cert)
    assert conn.execute("select current_user").fetchone() == ("sift_scram",)
    # the map lets this certificate log in as sift_scram only
    assert 'certificate authentication failed for user "sift_md5"' in refused(
        lambda: p.connect("sift_md5", password="", **cert))
    assert "ident map: web does not have a match" in p.log()
    # TLS without a certificate: the cert line still matches, and fails
    assert "certificate authentication failed" in refused(
        lambda: p.connect("sift_scram", password="", sslmode="require"))
    # a certificate of a CA pgsift does not trust: the handshake goes on, the login fails
    make_cert(c, "stranger", "app.example.org", "otherca")
    os.chmod(c / "stranger.key", 0o600)
    assert "certificate authentication failed" in refused(lambda: p.connect(
        "sift_scram", password="", sslmode="require", sslcert=str(c / "stranger.crt"),
        sslkey=str(c / "stranger.key")))
    # without TLS the md5 line applies
    assert p.connect("sift_md5", sslmode="disable").execute("select 1").fetchone() == (1,)


def test_a_bad_line_on_reload_keeps_the_rules_in_force(pooler, rules):
    good = ADMIN_RULE + "host siftdb sift_scram 127.0.0.1/32 scram-sha-256\n"
    r = rules(good)
    p = pooler(**r.settings())
    p.connect("sift_scram").execute("select 1")
    bad_files = [
        (good + "host siftdb all 127.0.0.1/32 kerberos\n", None, ':3: authentication method "kerberos" is not supported'),
        (good + "host siftdb all db.example.org md5\n", None, ":3: invalid address"),
        (good + "local siftdb all peer map=nosuch\n", None, ':3: map "nosuch" is not in auth_ident_file'),
        (good + "local siftdb +admins peer\n", None, ":3: \"+admins\": group membership is not supported"),
        (good, "m /^(.*)$ \\1\n", "auth_ident_file " + str(r.ident) + ":1: regular expressions are not supported"),
    ]
    for hba, ident, want in bad_files:
        r.write(hba, ident)
        with pytest.raises(AdminError) as e:
            p.admin("RELOAD")
        assert e.value.sqlstate == "F0000"
        assert want in p.log()
        r.write(good, "")
        # the old rules still apply
        assert p.connect("sift_scram").execute("select 1").fetchone() == (1,)
    # a good file is taken
    r.write(ADMIN_RULE + "host siftdb sift_scram 127.0.0.1/32 reject\n")
    p.admin("RELOAD")
    assert "rejects connection" in refused(lambda: p.connect("sift_scram"))


@pytest.mark.parametrize("case", ["bad line", "no file", "no auth_hba_file"])
def test_an_unusable_hba_file_stops_startup(pooler, rules, case):
    r = rules("host siftdb all 127.0.0.1/33 md5\n")
    settings = r.settings()
    if case == "no file":
        settings["auth_hba_file"] = str(r.dir / "missing.conf")
    elif case == "no auth_hba_file":
        del settings["auth_hba_file"]
    want = {"bad line": f"auth_hba_file {r.hba}:1: invalid prefix length",
            "no file": "cannot open auth_hba_file", "no auth_hba_file": "auth_type hba needs auth_hba_file"}[case]
    p = pooler(start=False, **settings)
    rc, log = p.run_to_exit(timeout=20)
    assert rc not in (0, None), log
    assert want in log, log


def test_set_on_the_console_reads_the_rules_again(pooler, rules):
    r = rules(ADMIN_RULE + "host siftdb sift_scram 127.0.0.1/32 scram-sha-256\n")
    p = pooler(**r.settings())
    p.connect("sift_scram").execute("select 1")
    bad = r.dir / "bad.conf"
    bad.write_text("host siftdb all 127.0.0.1/32 radius\n")
    os.chmod(bad, 0o644)
    with pytest.raises(AdminError, match='auth_hba_file .*bad.conf:1: authentication method "radius"'):
        p.admin(f"SET auth_hba_file = '{bad}'")
    assert p.admin_dicts("SHOW CONFIG")  # the console still lets us in
    assert p.connect("sift_scram").execute("select 1").fetchone() == (1,)
    other = r.dir / "other.conf"
    other.write_text(ADMIN_RULE + "host siftdb sift_scram 127.0.0.1/32 reject\n")
    os.chmod(other, 0o644)
    p.admin(f"SET auth_hba_file = '{other}'")
    assert "rejects connection" in refused(lambda: p.connect("sift_scram"))
    # back to md5 from the auth_file: the rules no longer apply
    p.admin("SET auth_type = md5")
    assert p.connect("sift_scram").execute("select 1").fetchone() == (1,)


def test_replication_keyword_matches_physical_replication_only(pooler, rules):
    """As in PostgreSQL: a physical replication login (replication=true)
    matches only lines whose database is the replication keyword; a logical
    one (replication=database) matches its database name."""
    from harness import REPL_PASSWORD, REPL_USER, exec_simple

    r = rules(ADMIN_RULE +
              f"host replication {REPL_USER} 127.0.0.1/32 scram-sha-256\n"
              f"host siftdb {REPL_USER} 127.0.0.1/32 reject\n")
    p = pooler(auth_entries={REPL_USER: REPL_PASSWORD}, **r.settings())

    def repl(mode):
        return psycopg.connect(p.dsn(REPL_USER, "siftdb", REPL_PASSWORD, replication=mode), autocommit=True)

    with repl("true") as c:
        assert exec_simple(c, "IDENTIFY_SYSTEM")[1][0][3] is None
    for mode in ("database", None):
        msg = refused(lambda: repl(mode) if mode else p.connect(REPL_USER, password=REPL_PASSWORD))
        assert "pg_hba.conf rejects connection" in msg and REPL_USER in msg
