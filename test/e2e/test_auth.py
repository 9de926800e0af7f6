"""Authentication on both sides of the pooler.

Client side: every auth_type with every kind of secret in auth_file that can
work.  The client user is sift_trust, which PostgreSQL trusts, so only the
pooler's check is exercised; its password for the pooler is 'trustpw'.

Server side: the pooler logs in to PostgreSQL with each of PostgreSQL's
methods (trust, password, md5, scram-sha-256), taking the password from the
database entry's password= or from auth_file."""

import psycopg
import pytest

from harness import PASSWORDS, md5_secret, scram_verifier

CLIENT = "sift_trust"
CLIENT_PW = PASSWORDS[CLIENT]

SECRETS = {
    "plaintext": CLIENT_PW,
    "md5": md5_secret(CLIENT, CLIENT_PW),
    "scram": scram_verifier(CLIENT_PW),
}

CLIENT_CASES = [
    (auth_type, kind)
    for auth_type in ("trust", "plain", "md5", "scram-sha-256")
    for kind in SECRETS
    # SCRAM cannot be checked against an md5 secret.
    if not (auth_type == "scram-sha-256" and kind == "md5")
]


@pytest.mark.parametrize("auth_type,kind", CLIENT_CASES,
                         ids=[f"{a}-{k}" for a, k in CLIENT_CASES])
def test_client_login(pooler, auth_type, kind):
    p = pooler(auth_type=auth_type, auth_entries={CLIENT: SECRETS[kind]})
    conn = p.connect(user=CLIENT, password=CLIENT_PW)
    assert conn.execute("select current_user, current_database()").fetchone() \
        == (CLIENT, "siftdb")
    if auth_type == "trust":
        # trust: any password (or none) is accepted for a user in auth_file ...
        other = p.connect(user=CLIENT, password="whatever")
        assert other.execute("select 1").fetchone() == (1,)
        # ... but a user missing from auth_file is not.
        with pytest.raises(psycopg.OperationalError):
            p.connect(user="not_in_auth_file", password="x")
    else:
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            p.connect(user=CLIENT, password="wrong-" + CLIENT_PW)
    assert conn.execute("select 2").fetchone() == (2,)


def test_client_login_over_unix_socket(pooler):
    p = pooler()
    conn = psycopg.connect(host=str(p.workdir), port=p.port, user="sift_scram",
                           password=PASSWORDS["sift_scram"], dbname="siftdb",
                           connect_timeout=10, autocommit=True)
    try:
        assert conn.execute("select current_user").fetchone() == ("sift_scram",)
    finally:
        conn.close()


# -- server side -----------------------------------------------------------------

SERVER_USERS = {
    # PostgreSQL pg_hba method -> role
    "trust": "sift_trust",
    "password": "sift_plain",
    "md5": "sift_md5",
    "scram-sha-256": "sift_scram",
}


@pytest.mark.parametrize("method", list(SERVER_USERS))
def test_server_login_with_password_from_auth_file(pooler, method):
    user = SERVER_USERS[method]
    p = pooler(auth_type="md5")
    conn = p.connect(user=user)
    assert conn.execute("select current_user").fetchone() == (user,)
    assert conn.execute("select count(*) from sift_items").fetchone()[0] >= 100


@pytest.mark.parametrize("method", [m for m in SERVER_USERS if m != "trust"])
def test_server_login_with_password_from_database_entry(pg, pooler, method):
    user = SERVER_USERS[method]
    pw = PASSWORDS[user]
    p = pooler(databases={
        "forced": f"host=127.0.0.1 port={pg.port} dbname=siftdb user={user} password={pw}",
        "forced_bad": f"host=127.0.0.1 port={pg.port} dbname=siftdb user={user} password=nope",
    })
    conn = p.connect(user=CLIENT, dbname="forced")
    assert conn.execute("select current_user, session_user").fetchone() == (user, user)
    # The password really is the one used: a wrong one fails the login.
    with pytest.raises(psycopg.OperationalError):
        bad = p.connect(user=CLIENT, dbname="forced_bad")
        bad.execute("select 1")
    assert conn.execute("select 3").fetchone() == (3,)


def test_server_login_md5_with_md5_secret_in_auth_file(pooler):
    p = pooler(auth_type="md5", auth_entries={"sift_md5": md5_secret("sift_md5", "md5pw")})
    conn = p.connect(user="sift_md5")
    assert conn.execute("select current_user").fetchone() == ("sift_md5",)


def test_server_login_scram_with_verifier_in_auth_file(pg, pooler):
    """With the same SCRAM verifier as PostgreSQL's in auth_file, a client that
    logged in with SCRAM lets the pooler log in to the server with SCRAM."""
    p = pooler(auth_type="scram-sha-256",
               auth_entries={"sift_scram": pg.verifiers["sift_scram"]})
    conn = p.connect(user="sift_scram")
    assert conn.execute("select current_user").fetchone() == ("sift_scram",)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        p.connect(user="sift_scram", password="wrong")
