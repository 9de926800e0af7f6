#!/usr/bin/env bash
# Repeatable user-space cost of one setting: valgrind's instruction count of
# pgsift per pgbench -S transaction (4 clients, 10,000 transactions, pool 4,
# transaction mode), with SETTING = A and with SETTING = B, for -M simple,
# extended and prepared. A benchmark, not a test: instruction counts do not
# depend on the machine's load, so two values compare on a noisy machine.
#
#   contrib/bench/callgrind.sh analyzer on off
#   contrib/bench/callgrind.sh max_prepared_statements 200 0
#
# (pgbench -M prepared fails in transaction mode with
# max_prepared_statements = 0; its count then covers what ran.)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 3 ] || { echo "usage: $0 SETTING A B" >&2; exit 2; }
setting=$1
shift
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
contrib/deps.sh demo
. contrib/bench/lib.sh
trap bench_cleanup EXIT INT TERM

bench_build_release
bench_start_pg
for value in "$@"; do
	for mode in simple extended prepared; do
		POOL_SIZE=4 SIFT_NAME=cg bench_pgsift_config "$setting = $value"
		port=$SIFT_PORT
		out="$BENCH_TMP/callgrind.$value.$mode"
		# as root, valgrind runs as postgres too (see callgrind_table.sh)
		"${EXEC_AS_PG[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$PGSIFT" -q "$SIFT_INI" 2>"$out.log" &
		vpid=$!
		for _ in $(seq 300); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
		tx=$("$PGBIN/pgbench" -n -S -M "$mode" -c 4 -j 1 -t 2500 -h 127.0.0.1 -p "$port" -U postgres bench 2>/dev/null |
			awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}' || true)
		kill -INT "$vpid"
		wait "$vpid" || true
		total=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
		tx=${tx:-0}
		per=$([ "$tx" -gt 0 ] && echo $((total / tx)) || echo "-")
		echo "$setting=$value mode=$mode transactions=$tx instructions=$total per_transaction=$per"
	done
done
