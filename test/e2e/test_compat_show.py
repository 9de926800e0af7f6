"""PgBouncer's smaller SHOW sets: SOCKETS, ACTIVE_SOCKETS, STATE, TOTALS,
MEM, DNS_HOSTS (columns: test_admin.py checks them against doc/admin.md)."""

import pytest

pytestmark = pytest.mark.pgsift_only("SHOW sets PgBouncer 1.18 lacks or words differently")

USER = "sift_scram"


def test_show_sockets_lists_clients_and_servers_with_shared_ids(pooler):
    p = pooler(pool_mode="session")
    conn = p.connect()
    conn.execute("select 1")
    socks = p.admin_dicts("SHOW SOCKETS")
    clients = {r["id"] for r in p.admin_dicts("SHOW CLIENTS")}
    servers = {r["id"] for r in p.admin_dicts("SHOW SERVERS")}
    mine = [r for r in socks if r["user"] == USER]
    assert sorted(r["type"] for r in mine) == ["C", "S"], socks
    assert {r["id"] for r in socks if r["type"] == "S"} == servers
    assert {r["id"] for r in mine if r["type"] == "C"} <= clients
    # the server was opened for the client: the next id of the same sequence
    c_id = int(next(r["id"] for r in mine if r["type"] == "C"))
    s_id = int(next(r["id"] for r in mine if r["type"] == "S"))
    assert s_id == c_id + 1
    active = p.admin_dicts("SHOW ACTIVE_SOCKETS")
    assert {(r["type"], r["id"]) for r in active} == {("C", str(c_id)), ("S", str(s_id))}
    conn.close()


def test_show_state_follows_pause_and_resume(pooler):
    p = pooler()
    p.connect().execute("select 1")
    state = lambda: {r["key"]: r["value"] for r in p.admin_dicts("SHOW STATE")}
    assert state() == {"active": "yes", "paused": "no", "suspended": "no"}
    p.admin("PAUSE")
    assert state() == {"active": "no", "paused": "yes", "suspended": "no"}
    p.admin("RESUME")
    assert state()["active"] == "yes"


def test_show_totals_sums_show_stats_and_counts_the_console(pooler):
    p = pooler()
    conn = p.connect()
    for _ in range(3):
        conn.execute("select 1")
    stats = p.admin_dicts("SHOW STATS")
    first = {r["name"]: int(r["value"]) for r in p.admin_dicts("SHOW TOTALS")}
    second = {r["name"]: int(r["value"]) for r in p.admin_dicts("SHOW TOTALS")}
    pooled = sum(int(r["total_query_count"]) for r in stats)
    assert pooled >= 3
    # the console counts as PgBouncer's admin database: SHOW TOTALS's own
    # connection is one more login, its command one more transaction and query
    assert first["total_query_count"] > pooled
    assert second["total_client_login_count"] == first["total_client_login_count"] + 1
    assert second["total_query_count"] == first["total_query_count"] + 1
    assert second["total_xact_count"] == first["total_xact_count"] + 1
    assert second["total_server_assignment_count"] == first["total_server_assignment_count"]


def test_show_mem_counts_client_objects(pooler):
    p = pooler()
    conns = [p.connect() for _ in range(3)]
    mem = {r["name"]: r for r in p.admin_dicts("SHOW MEM")}
    assert int(mem["client_cache"]["used"]) >= 3 + 1   # three clients and this console
    assert int(mem["client_cache"]["memtotal"]) == int(mem["client_cache"]["size"]) * (
        int(mem["client_cache"]["used"]) + int(mem["client_cache"]["free"]))
    for c in conns:
        c.close()


def test_show_dns_hosts_names_a_resolved_host(pg, pooler):
    p = pooler(databases={"siftdb": f"host=localhost port={pg.port} dbname=siftdb"})
    p.connect().execute("select 1")
    rows = p.admin_dicts("SHOW DNS_HOSTS")
    assert [r["hostname"] for r in rows] == ["localhost"], rows
    assert rows[0]["addrs"] in ("127.0.0.1", "::1")
    for empty in ("DNS_ZONES", "PEERS", "PEER_POOLS"):
        assert p.admin_dicts(f"SHOW {empty}") == []


def test_show_pools_names_the_console_as_its_clients_called_it(pooler):
    """The console's pool row carries the name its clients used: a script
    that connects to "pgbouncer" sees PgBouncer's admin pool "pgbouncer"."""
    p = pooler()
    rows = p.admin_dicts("SHOW POOLS", dbname="pgbouncer")
    console = [(r["database"], r["user"], r["cl_active"]) for r in rows if r["database"] in ("pgsift", "pgbouncer")]
    assert console == [("pgbouncer", "pgbouncer", "1")], rows
    rows = p.admin_dicts("SHOW POOLS")
    console = [(r["database"], r["cl_active"]) for r in rows if r["database"] in ("pgsift", "pgbouncer")]
    assert console == [("pgsift", "1")], rows
