#!/usr/bin/env bash
# What the analyzer costs: pgsift's own CPU time per transaction with
# analyzer = on and = off, measured in alternating rounds (on, off, on,
# off, ...) against one throwaway PostgreSQL, so machine drift hits both
# alike. Prints the medians and their ratio. A benchmark, not a test.
#
#   contrib/bench/analyzer_cost.sh [rounds] [seconds-per-round]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-6}
SECS=${2:-8}
CLIENTS=${CLIENTS:-20}
contrib/deps.sh demo
. contrib/bench/lib.sh
trap bench_cleanup EXIT INT TERM

bench_build_release
bench_start_pg
bench_start_pgsift
hz=$(getconf CLK_TCK)
admin() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$SIFT_PORT" -U postgres -d pgsift -c "$1" >/dev/null; }

run_round() { # $1 = on|off, $2 = -M mode; prints CPU microseconds per transaction
	admin "SET analyzer = $1"
	local t0 t1 tx
	t0=$(proc_cpu_ticks "$SIFT_PID")
	tx=$("$PGBIN/pgbench" -n -S -M "$2" -c "$CLIENTS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$SIFT_PORT" -U postgres bench 2>/dev/null |
		awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}')
	t1=$(proc_cpu_ticks "$SIFT_PID")
	awk -v d=$((t1 - t0)) -v hz="$hz" -v tx="$tx" 'BEGIN {printf "%.3f\n", d / hz * 1e6 / tx}'
}

for mode in simple extended; do
	: >"$BENCH_TMP/on" && : >"$BENCH_TMP/off"
	for r in $(seq "$ROUNDS"); do
		run_round on "$mode" >>"$BENCH_TMP/on"
		run_round off "$mode" >>"$BENCH_TMP/off"
	done
	on=$(median <"$BENCH_TMP/on")
	off=$(median <"$BENCH_TMP/off")
	printf 'pgbench -S -M %-8s %d clients: pgsift CPU per transaction: analyzer on %s us, off %s us, on/off = %s\n' \
		"$mode" "$CLIENTS" "$on" "$off" "$(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.3f", a / b}')"
done
