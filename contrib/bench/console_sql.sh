#!/usr/bin/env bash
# Does a heavy console SELECT stall pooled traffic? pgbench -S through
# pgsift (transaction mode, 8 clients), alone and with a console client that
# runs, again and again, a triple cross join of `queries` over 2,000
# fingerprints (each stopped by admin_sql_timeout = 1 s), in alternating
# rounds. Prints pgbench's own latency percentiles (from its -l log) and
# throughput per round and their medians, and the ratios with/without.
# A benchmark, not a test.
#
#   contrib/bench/console_sql.sh [rounds] [seconds-per-round]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-10}
contrib/deps.sh bench
. contrib/bench/lib.sh
trap bench_cleanup EXIT INT TERM

bench_build_release
bench_start_pg
bench_start_pgsift "admin_sql_timeout = 1" "max_fingerprints = 5000"
PSQL=("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$SIFT_PORT" -U postgres)

# 2,000 statement shapes (the column names differ, so the fingerprints do)
for i in $(seq 2000); do echo "select c$i from (select 1 as c$i) t;"; done >"$BENCH_TMP/shapes.sql"
"${PSQL[@]}" -d bench -f "$BENCH_TMP/shapes.sql" >/dev/null
HEAVY="SELECT count(*) FROM queries a, queries b, queries c WHERE a.calls + b.calls > c.calls"

# pgbench's -l lines: client xact latency_us ...; prints "p50_ms p99_ms tps"
percentiles() {
	cat "$1".* | awk '{print $3 / 1000}' | sort -g | awk -v secs="$SECS" '{a[NR] = $1}
		END {printf "%.3f %.3f %.0f\n", a[int(NR * 0.50) + 1], a[int(NR * 0.99) + 1], NR / secs}'
}

run() { # $1: name, $2: with the heavy query (1) or not (0)
	local heavy_pid=
	if [ "$2" = 1 ]; then
		(while :; do "${PSQL[@]}" -d pgsift -c "$HEAVY" >/dev/null 2>&1 || :; done) &
		heavy_pid=$!
		sleep 0.5
	fi
	"$PGBIN/pgbench" -n -S -c 8 -j 2 -T "$SECS" -l --log-prefix="$BENCH_TMP/$1" -h 127.0.0.1 -p "$SIFT_PORT" \
		-U postgres bench >/dev/null 2>&1
	[ -n "$heavy_pid" ] && { kill "$heavy_pid"; wait "$heavy_pid" 2>/dev/null || true; }
	percentiles "$BENCH_TMP/$1"
	rm -f "$BENCH_TMP/$1".*
}

echo "# pgbench -S, 8 clients, ${SECS}s rounds; a triple cross join of 2,000 fingerprints on the console"
printf '%-8s %-10s %10s %10s %10s\n' round mode p50_ms p99_ms tps
for r in $(seq "$ROUNDS"); do
	read -r p50 p99 tps < <(run "alone$r" 0)
	printf '%-8s %-10s %10s %10s %10s\n' "$r" alone "$p50" "$p99" "$tps"
	echo "$p50 $p99 $tps" >>"$BENCH_TMP/alone"
	read -r p50 p99 tps < <(run "heavy$r" 1)
	printf '%-8s %-10s %10s %10s %10s\n' "$r" heavy "$p50" "$p99" "$tps"
	echo "$p50 $p99 $tps" >>"$BENCH_TMP/heavy"
done
med() { awk -v c="$2" '{print $c}' "$BENCH_TMP/$1" | median; }
a50=$(med alone 1) a99=$(med alone 2) atps=$(med alone 3)
h50=$(med heavy 1) h99=$(med heavy 2) htps=$(med heavy 3)
echo "median  alone      $a50 $a99 $atps"
echo "median  heavy      $h50 $h99 $htps"
awk -v a="$a99" -v h="$h99" -v at="$atps" -v ht="$htps" 'BEGIN {
	printf "p99 with/without the heavy query: %.2fx (%+.3f ms); throughput %.2fx\n", h / a, h - a, ht / at }'
