"""Django through pgsift in transaction mode (doc/session-state.md): a
`connection.cursor().execute("SET search_path ...")` sticks for Django's
connection, as it does on a direct connection, while other clients take
the same server between its statements (pool size 1). Django runs in a
process of its own (settings.configure() is once per process), with
Debian's python3-django and its psycopg2 backend."""

import subprocess
import textwrap

import psycopg
import pytest

from harness import PASSWORDS

pytestmark = pytest.mark.pgsift_only("session state carried in transaction mode")

USER = "sift_scram"

DJANGO_APP = textwrap.dedent("""
    import sys
    import django
    from django.conf import settings

    host, port, user, password = sys.argv[1:5]
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "siftdb", "USER": user,
                               "PASSWORD": password, "HOST": host, "PORT": port, "CONN_MAX_AGE": None,
                               "OPTIONS": {"connect_timeout": 10}}},
        INSTALLED_APPS=[], USE_TZ=True)
    django.setup()
    from django.db import connection, transaction

    def say(*words):
        print(*words, flush=True)

    with connection.cursor() as c:
        c.execute("SET search_path TO dj_tenant, public")
        c.execute("SELECT pg_backend_pid()")
        say("pid", c.fetchone()[0])
    for line in sys.stdin:                      # the test lets another client in between
        step = line.strip()
        if step == "read":
            with connection.cursor() as c:
                c.execute("SELECT current_setting('search_path'), (SELECT min(v) FROM marker)")
                say("read", *c.fetchone())
        elif step == "atomic":
            with transaction.atomic(), connection.cursor() as c:
                c.execute("INSERT INTO marker VALUES ('written by django')")
                c.execute("SELECT count(*) FROM dj_tenant.marker")
                say("atomic", c.fetchone()[0])
        elif step == "quit":
            break
    """)


def _marker_schemas(pg):
    with pg.connect(dbname="siftdb") as c:
        for schema, value in (("dj_tenant", "tenant"), ("public", "public")):
            c.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            c.execute(f"DROP TABLE IF EXISTS {schema}.marker")
            c.execute(f"CREATE TABLE {schema}.marker (v text)")
            c.execute(f"INSERT INTO {schema}.marker VALUES ('{value}')")
            c.execute(f"GRANT USAGE ON SCHEMA {schema} TO {USER}")
            c.execute(f"GRANT ALL ON {schema}.marker TO {USER}")


@pytest.mark.timeout(120)
def test_django_set_search_path_sticks_for_its_connection(pg, pooler, tmp_path):
    _marker_schemas(pg)
    p = pooler(default_pool_size=1)
    app = tmp_path / "django_app.py"
    app.write_text(DJANGO_APP)
    dj = subprocess.Popen(["/usr/bin/python3", str(app), p.host, str(p.port), USER, PASSWORDS[USER]],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def ask(step):
            dj.stdin.write(step + "\n")
            dj.stdin.flush()
            line = dj.stdout.readline().split(maxsplit=1)
            assert line and line[0] == step, (line, dj.stderr.read() if dj.poll() is not None else "")
            return line[1].strip()

        pid = dj.stdout.readline().split()
        assert pid and pid[0] == "pid", dj.stderr.read()
        # another client on the same (only) server, with its own search_path
        with psycopg.connect(p.dsn(USER), autocommit=True) as other:
            other.execute("SET search_path TO public")
            assert other.execute("SELECT pg_backend_pid()").fetchone()[0] == int(pid[1])
            assert other.execute("SELECT v FROM marker").fetchone() == ("public",)
            # Django's connection still resolves marker in dj_tenant
            assert ask("read") == "dj_tenant, public tenant"
            assert other.execute("SELECT current_setting('search_path'), v FROM marker").fetchone() == \
                ("public", "public")
            # inside transaction.atomic() too, and the write lands in dj_tenant
            assert ask("atomic") == "2"
            assert other.execute("SELECT count(*) FROM marker").fetchone() == (1,)
            assert ask("read") == "dj_tenant, public tenant"
        ask_quit = dj.communicate("quit\n", timeout=30)
        assert dj.returncode == 0, ask_quit
    finally:
        if dj.poll() is None:
            dj.kill()
            dj.wait()
