"""Shared prepared statements removed behind pgsift's back heal (issue 17,
item 7).

A DEALLOCATE run inside a DO block or a function removes pgsift's internal
statements from the server it runs on, and pgsift cannot see it (the
command tag says DO or SELECT). With one server in the pool every client
lands on that server: before the fix each later Bind of the statement
failed with 26000 until the server connection was replaced. Now the first
request that meets the missing statement fails once and the server's
statements are parsed again, so every later request works."""

import psycopg
import pytest
from psycopg import pq

USER = "sift_scram"
SQL = b"select $1::int + 17"

pytestmark = pytest.mark.pgsift_only("protocol-level prepared statements in transaction mode")


def raw(p):
    conn = psycopg.connect(p.dsn(USER), autocommit=True, prepare_threshold=None)
    p._conns.append(conn)
    return conn


def prepare_and_run(conn, name=b"s", value=b"25"):
    """PQprepare then PQexecPrepared: (sqlstate or None, value or None, hint)."""
    r = conn.pgconn.prepare(name, SQL)
    if r.status != pq.ExecStatus.COMMAND_OK:
        return r.error_field(pq.DiagnosticField.SQLSTATE).decode(), None, None
    return run_prepared(conn, name, value)


def run_prepared(conn, name=b"s", value=b"25"):
    r = conn.pgconn.exec_prepared(name, [value])
    if r.status != pq.ExecStatus.TUPLES_OK:
        hint = r.error_field(pq.DiagnosticField.MESSAGE_HINT)
        return (r.error_field(pq.DiagnosticField.SQLSTATE).decode(), None,
                hint.decode() if hint else None)
    return None, r.get_value(0, 0).decode(), None


POISONS = {
    "do_block": ["DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$"],
    # the name is read at run time: no pgsift_ in any text pgsift relays
    "function_one_name": [
        "CREATE OR REPLACE FUNCTION sift_dealloc_one() RETURNS int LANGUAGE plpgsql AS $$ "
        "DECLARE n text; BEGIN "
        "FOR n IN SELECT name FROM pg_prepared_statements LOOP EXECUTE format('DEALLOCATE %I', n); END LOOP; "
        "RETURN 1; END $$",
        "SELECT sift_dealloc_one()",
    ],
}


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_statements_deallocated_behind_pgsifts_back_heal(pg, pooler, poison):
    p = pooler(default_pool_size=1)
    first = raw(p)
    assert prepare_and_run(first) == (None, "42", None)
    # the one server now has the shared statement
    vandal = raw(p)
    for sql in POISONS[poison]:
        r = vandal.pgconn.exec_(sql.encode())
        assert r.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK), r.error_message

    outcomes = []
    for i in range(30):
        c = raw(p)
        outcomes.append(prepare_and_run(c, value=str(i).encode()))
        c.close()
    failures = [o for o in outcomes if o[0] is not None]
    # at most the first request that met the missing statement fails, with
    # PostgreSQL's SQLSTATE and a hint saying what happened
    assert len(failures) <= 1, outcomes
    for state, _, hint in failures:
        assert state == "26000" and hint and "DEALLOCATE" in hint, failures
    assert outcomes[1:] == [(None, str(i + 17), None) for i in range(1, 30)], outcomes
    # the client that prepared before the DEALLOCATE keeps its statement
    assert run_prepared(first, value=b"1") == (None, "18", None)
    # and so does one that prepared it before and binds it only now
    assert run_prepared(first, value=b"2") == (None, "19", None)


def test_a_statement_deallocated_inside_a_transaction_heals_after_it(pg, pooler):
    """The failing request is inside the client's transaction: it cannot be
    retried there (the transaction is aborted, as PostgreSQL would), but the
    next transaction works."""
    p = pooler(default_pool_size=1)
    c = raw(p)
    assert prepare_and_run(c) == (None, "42", None)
    assert c.pgconn.exec_(b"BEGIN").status == pq.ExecStatus.COMMAND_OK
    r = c.pgconn.exec_(b"DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$")
    assert r.status == pq.ExecStatus.COMMAND_OK
    state, _, hint = run_prepared(c)
    assert state == "26000" and "DEALLOCATE" in hint
    assert c.pgconn.exec_(b"ROLLBACK").status == pq.ExecStatus.COMMAND_OK
    for i in range(5):
        assert run_prepared(c, value=str(i).encode()) == (None, str(i + 17), None)
    other = raw(p)
    assert prepare_and_run(other, name=b"t") == (None, "42", None)
