#!/usr/bin/env bash
# pgsift demo: a throwaway PostgreSQL in a temporary directory, pgsift in
# front of it, a short pgbench workload through it, and what the admin
# console says about it. Stays up until Ctrl-C, then cleans everything up.
#
#   contrib/demo.sh             # interactive: waits for Ctrl-C
#   contrib/demo.sh --no-wait   # runs the demo and exits (used by the tests)
#
# Ports: PG_PORT (default 55432), SIFT_PORT (default 6432) and HTTP_PORT
# (default 9127: the dashboard, /metrics and the JSON API).
set -euo pipefail
cd "$(dirname "$0")/.."
wait_for_ctrl_c=1
[ "${1:-}" = "--no-wait" ] && wait_for_ctrl_c=0

PG_PORT=${PG_PORT:-55432}
SIFT_PORT=${SIFT_PORT:-6432}
HTTP_PORT=${HTTP_PORT:-9127}
PGBIN=/usr/lib/postgresql/15/bin

contrib/deps.sh demo
if [ ! -x src/pgsift ] || [ -n "$(find src -newer src/pgsift -name '*.[ch]' 2>/dev/null | head -1)" ]; then
	echo "== building pgsift"
	[ -f Makefile ] || { autoreconf -fi >/dev/null 2>&1 && ./configure -q; }
	make -j"$(nproc)" >/dev/null
fi

tmp=$(mktemp -d /tmp/pgsift-demo.XXXXXX)
chmod 755 "$tmp"
as_pg=()
sift_user=()
if [ "$(id -u)" -eq 0 ]; then
	as_pg=(runuser -u postgres --) # PostgreSQL refuses to run as root
	sift_user=(-u postgres)        # so does pgsift: it switches after binding
	chown postgres "$tmp"
	mkdir "$tmp/pg" && chown postgres "$tmp/pg"
else
	mkdir "$tmp/pg"
fi
sift_pid=""
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "== cleaning up"
	[ -n "$sift_pid" ] && kill -INT "$sift_pid" 2>/dev/null && wait "$sift_pid" 2>/dev/null || true
	"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$tmp/pg/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup INT TERM EXIT

echo "== starting PostgreSQL 15 on port $PG_PORT (data in $tmp/pg)"
"${as_pg[@]}" "$PGBIN/initdb" -D "$tmp/pg/data" -U postgres -A trust >/dev/null
cat >>"$tmp/pg/data/postgresql.conf" <<CONF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp/pg'
fsync = off
CONF
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/postgres.log" -w start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres demo

echo "== starting pgsift on port $SIFT_PORT (transaction pooling, pool_size 5)"
cat >"$tmp/pgsift.ini" <<INI
[databases]
demo = host=127.0.0.1 port=$PG_PORT dbname=demo

[pgsift]
listen_addr = 127.0.0.1
listen_port = $SIFT_PORT
unix_socket_dir = $tmp
auth_type = trust
admin_users = postgres
pool_mode = transaction
default_pool_size = 5
max_client_conn = 200
stats_period = 5
logfile = $tmp/pgsift.log
http_listen_addr = 127.0.0.1
http_port = $HTTP_PORT
INI
src/pgsift -q "${sift_user[@]}" "$tmp/pgsift.ini" &
sift_pid=$!
for _ in $(seq 50); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$SIFT_PORT" && break; sleep 0.1; done

export PGHOST=127.0.0.1 PGPORT=$SIFT_PORT PGUSER=postgres
echo "== pgbench through pgsift: 40 clients share 5 server connections"
"$PGBIN/pgbench" -i -q demo 2>&1 | tail -1
"$PGBIN/pgbench" -c 40 -j 2 -T 5 -S demo 2>&1 | grep -E "clients|processed|tps"
echo "   and TPC-B with protocol-level prepared statements (-M prepared)"
"$PGBIN/pgbench" -c 40 -j 2 -T 5 -M prepared demo 2>&1 | grep -E "processed|tps"

echo "== what the application did: SHOW QUERIES, top 10 by total time (psql -p $SIFT_PORT pgsift)"
"$PGBIN/psql" -X -d pgsift -A -t -F $'\t' -c "SHOW QUERIES" |
	awk -F'\t' 'BEGIN {printf "%8s %10s %8s  %s\n", "calls", "total_ms", "p99_ms", "query"}
		NR <= 10 {printf "%8s %10.1f %8.3f  %s\n", $5, $6, $13, substr($22, 1, 90)}'
echo "== the console answers SQL too: the 5 shapes with the worst p99 (SELECT ... FROM queries)"
"$PGBIN/psql" -X -d pgsift -c "SELECT calls, round(p99_ms, 2) AS p99_ms, round(100.0 * total_ms / sum(total_ms) OVER (), 1) AS pct_time, substr(query, 1, 60) AS query FROM queries ORDER BY p99_ms DESC LIMIT 5"
echo "== an ORM-style request: list the tellers, then one query per teller (an N+1 loop)"
orm_request() {
	{
		echo "/* controller='tellers',action='index' */ SELECT tid FROM pgbench_tellers ORDER BY tid;"
		for tid in $(seq 1 10); do
			echo "/* controller='tellers',action='index' */ SELECT sum(delta) FROM pgbench_history WHERE tid = $tid;"
		done
	} | "$PGBIN/psql" -X -q -d demo -o /dev/null
}
for _ in 1 2 3; do orm_request; sleep 0.1; done
echo "   and the same page done right: one query with = ANY"
"$PGBIN/psql" -X -q -d demo -o /dev/null -c "SELECT tid, sum(delta) FROM pgbench_history WHERE tid = ANY('{1,2,3,4,5,6,7,8,9,10}') GROUP BY tid"
echo "== what pgsift flagged: SHOW NPLUSONE (psql -p $SIFT_PORT pgsift)"
"$PGBIN/psql" -X -d pgsift -A -t -F $'\t' -c "SHOW NPLUSONE" |
	awk -F'\t' '{printf "%s: %s runs, up to %s repeats, %.1f ms of wall time, in %s\n  source:   %s\n  repeated: %s\n  fix:      %s\n", $1, $7, $8, $13, $17, $18, $19, $20}'
echo "== a slow statement and its plan: SHOW SLOW, SHOW SLOW_PLANS"
"$PGBIN/psql" -X -q -d demo -o /dev/null -c "SELECT pg_sleep(0.6), count(*) FROM pgbench_accounts WHERE abalance > 0"
sleep 0.5
"$PGBIN/psql" -X -d pgsift -A -t -F $'\t' -c "SHOW SLOW" |
	awk -F'\t' 'NR <= 3 {printf "%10.1f ms  plan: %-7s %s\n", $2, $15, $13}'
"$PGBIN/psql" -X -d pgsift -A -t -F $'\t' -R $'\x1e' -c "SHOW SLOW_PLANS" |
	awk 'BEGIN {RS = "\x1e"; FS = "\t"} NF >= 8 {printf "  plan of %s (%s):\n", $6, $4; n = split($8, l, "\n"); for (i = 1; i <= n; i++) if (l[i] != "") print "    " l[i]}'
echo "== the admin console (psql -p $SIFT_PORT pgsift)"
"$PGBIN/psql" -X -d pgsift -c "SHOW POOLS" -c "SHOW STATS_TOTALS"
echo "== Prometheus metrics: curl -s localhost:$HTTP_PORT/metrics | head"
metrics=$(curl -s "localhost:$HTTP_PORT/metrics")
head -n 10 <<<"$metrics"
echo "   ... $(grep -vc '^#' <<<"$metrics") series; the statement shapes' latency histograms:"
grep -m 3 '^pgsift_query_duration_seconds_count' <<<"$metrics" || true
echo "== the same views as JSON: curl -s 'localhost:$HTTP_PORT/api/v1/pool_advice?limit=1'"
json=$(curl -s "localhost:$HTTP_PORT/api/v1/pool_advice?limit=1")
echo "${json:0:400} ..."
echo "== server connections PostgreSQL has from pgsift (for 40 clients):"
"$PGBIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -d demo -Atc \
	"select count(*) from pg_stat_activity where datname = 'demo' and backend_type = 'client backend' and pid <> pg_backend_pid()"

cat <<MSG

pgsift is running. Try it:
  app connection:  psql -h 127.0.0.1 -p $SIFT_PORT -U postgres demo
  admin console:   psql -h 127.0.0.1 -p $SIFT_PORT -U postgres pgsift   (SHOW HELP)
  dashboard:       http://127.0.0.1:$HTTP_PORT/
  metrics:         curl -s localhost:$HTTP_PORT/metrics | head
  JSON API:        curl -s localhost:$HTTP_PORT/api/v1/views
  log:             $tmp/pgsift.log
MSG
if [ $wait_for_ctrl_c -eq 1 ]; then
	echo "Press Ctrl-C to stop and clean up."
	while kill -0 "$sift_pid" 2>/dev/null; do sleep 1; done
fi
