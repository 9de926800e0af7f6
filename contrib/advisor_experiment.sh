#!/usr/bin/env bash
# The pool sizing advisor, end to end (doc/advisor.md, "The experiment").
#
# A synthetic workload of known arrival rate and hold time: pgbench -R RATE
# (Poisson arrivals) running `SELECT pg_sleep(HOLD)` through pgsift in
# transaction mode. Four phases of PHASE seconds each, with
# advisor_window = WINDOW seconds (< PHASE, so each reading covers one phase):
#   1. undersized pool (SMALL servers)  -> SHOW POOL_ADVICE
#   2. SET default_pool_size = advised  -> measured wait p99 (target: 5 ms)
#   3. oversized pool (LARGE servers)   -> SHOW POOL_ADVICE
#   4. SET default_pool_size = advised  -> throughput and wait p99
# Prints one line per phase and the advice rows.
#
#   contrib/advisor_experiment.sh            # uses ./src/pgsift (or $PGSIFT)
#   RATE=200 HOLD=0.02 SMALL=5 LARGE=40 PHASE=30 WINDOW=20 contrib/advisor_experiment.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=contrib/bench/lib.sh
. "$ROOT/contrib/bench/lib.sh"
trap bench_cleanup EXIT

RATE=${RATE:-200}
HOLD=${HOLD:-0.02}
SMALL=${SMALL:-5}
LARGE=${LARGE:-40}
PHASE=${PHASE:-30}
WINDOW=${WINDOW:-20}
CLIENTS=${CLIENTS:-60}
PGSIFT=${PGSIFT:-$ROOT/src/pgsift}
[ -x "$PGSIFT" ] || bench_build_release

bench_start_pg
POOL_SIZE=$SMALL bench_start_pgsift "advisor_window = $WINDOW" "advisor_target_wait_ms = 5" \
	"advisor_min_transactions = 100" "query_wait_timeout = 0"
echo "SELECT pg_sleep($HOLD);" >"$BENCH_TMP/sleep.sql"

admin() {
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$SIFT_PORT" -U postgres -d pgsift "$@"
}

# Prints the named columns of the bench pool's SHOW POOL_ADVICE row.
advice() {
	admin --csv -c "SHOW POOL_ADVICE" | /usr/bin/python3 -c '
import csv, sys
rows = [r for r in csv.DictReader(sys.stdin) if r["database"] == "bench"]
print(" ".join(rows[0][c] for c in sys.argv[1:]))' "$@"
}

# Runs one phase of load; prints "tps latency_avg_ms".
phase() {
	"$PGBIN/pgbench" -n -h 127.0.0.1 -p "$SIFT_PORT" -U postgres -c "$CLIENTS" -j 2 -R "$RATE" -T "$PHASE" \
		-f "$BENCH_TMP/sleep.sql" bench >"$BENCH_TMP/pgbench.out" 2>&1 ||
		{ cat "$BENCH_TMP/pgbench.out"; exit 1; }
	awk '/^tps/ {tps=$3} /^latency average/ {lat=$4} END {print tps, lat}' "$BENCH_TMP/pgbench.out"
}

COLS="pool_size xacts arrival_rate arrival_cv2 hold_p50_ms hold_p99_ms hold_cv2 wait_p99_ms current_predicted_wait_p99_ms busy_peak utilization pg_max_connections recommended_size predicted_wait_p99_ms confidence"
report() { # $1 = label, $2 = "tps lat"
	local a
	a=$(advice $COLS)
	printf '%-22s tps=%-8s latency_ms=%-8s | %s\n' "$1" "${2% *}" "${2#* }" "$a"
}

echo "workload: pgbench -R $RATE, SELECT pg_sleep($HOLD), $CLIENTS clients, $PHASE s per phase, advisor_window $WINDOW s"
echo "columns after '|': $COLS"
echo "offered load: $(/usr/bin/python3 -c "print(round($RATE * $HOLD, 2))") erlangs (+ per-transaction overhead)"
r=$(phase)
report "1 undersized ($SMALL)" "$r"
reason1=$(advice reason)
advised=$(advice recommended_size)
[ -n "$advised" ] || { echo "no advice: $reason1"; exit 1; }
admin -c "SET default_pool_size = $advised"
r=$(phase)
report "2 advised ($advised)" "$r"

admin -c "SET default_pool_size = $LARGE"
r=$(phase)
report "3 oversized ($LARGE)" "$r"
reason3=$(advice reason)
advised3=$(advice recommended_size)
admin -c "SET default_pool_size = $advised3"
r=$(phase)
report "4 advised ($advised3)" "$r"
echo "reason after phase 1: $reason1"
echo "reason after phase 3: $reason3"
echo "reason after phase 4: $(advice reason)"
