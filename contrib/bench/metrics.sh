#!/usr/bin/env bash
# What a /metrics scrape costs pgsift: an optimized pgsift with 50 pools
# (50 database entries, one user) and 100 statement shapes (two per pool)
# is scraped SCRAPES times in a row, ROUNDS times; prints the series, the
# size, and pgsift's own CPU time per scrape (user + system, from
# /proc/PID/stat; the median of the rounds). The aim (issue 16): under
# 10 ms. A benchmark, not a test: the figures move with the machine's load.
#
#   contrib/bench/metrics.sh [rounds] [scrapes-per-round]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SCRAPES=${2:-200}
POOLS=${POOLS:-50}
SHAPES_PER_POOL=${SHAPES_PER_POOL:-2}
contrib/deps.sh demo
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
. contrib/bench/lib.sh
trap bench_cleanup EXIT INT TERM

bench_build_release
bench_start_pg
HTTP_PORT=$(free_port)
bench_pgsift_config "http_port = $HTTP_PORT"
for i in $(seq -w 1 "$POOLS"); do # one database entry, so one pool, each
	sed -i "/^\[databases\]/a db$i = host=127.0.0.1 port=$PG_PORT dbname=bench" "$SIFT_INI"
done
"$PGSIFT" -q "${SIFT_USER[@]}" "$SIFT_INI" &
SIFT_PID=$!
BENCH_PIDS+=("$SIFT_PID")
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$SIFT_PORT" && break; sleep 0.05; done

# the shapes: a table each (distinct names make distinct fingerprints)
n=$((POOLS * SHAPES_PER_POOL))
for k in $(seq 1 "$n"); do echo "create table t$k (x int);"; done |
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >/dev/null
k=0
for i in $(seq -w 1 "$POOLS"); do
	sql=""
	for _ in $(seq 1 "$SHAPES_PER_POOL"); do
		k=$((k + 1))
		sql+="select count(*) from t$k; select count(*) from t$k;"
	done
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$SIFT_PORT" -U postgres "db$i" -c "$sql" >/dev/null
done

url="http://127.0.0.1:$HTTP_PORT/metrics"
curl -sf "$url" >"$BENCH_TMP/metrics.txt"
series=$(grep -vc '^#' "$BENCH_TMP/metrics.txt")
fps=$(grep -c '^pgsift_query_info{' "$BENCH_TMP/metrics.txt")
hz=$(getconf CLK_TCK)
: >"$BENCH_TMP/cpu"
: >"$BENCH_TMP/wall"
for _ in $(seq "$ROUNDS"); do
	t0=$(proc_cpu_ticks "$SIFT_PID")
	w0=$(date +%s%N)
	for _ in $(seq "$SCRAPES"); do curl -sf -o /dev/null "$url"; done
	w1=$(date +%s%N)
	t1=$(proc_cpu_ticks "$SIFT_PID")
	awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$SCRAPES" 'BEGIN {printf "%.3f\n", d / hz * 1e3 / n}' >>"$BENCH_TMP/cpu"
	awk -v d=$((w1 - w0)) -v n="$SCRAPES" 'BEGIN {printf "%.3f\n", d / 1e6 / n}' >>"$BENCH_TMP/wall"
done
printf '/metrics at %d fingerprints and %d pools: %d series, %d bytes\n' "$fps" "$POOLS" "$series" \
	"$(wc -c <"$BENCH_TMP/metrics.txt")"
printf 'pgsift CPU per scrape: median %s ms over %d rounds of %d scrapes (rounds: %s); wall per scrape (curl included): %s ms\n' \
	"$(median <"$BENCH_TMP/cpu")" "$ROUNDS" "$SCRAPES" "$(tr '\n' ' ' <"$BENCH_TMP/cpu" | sed 's/ $//')" \
	"$(median <"$BENCH_TMP/wall")"
