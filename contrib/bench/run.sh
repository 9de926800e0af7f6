#!/usr/bin/env bash
# The benchmark: pgsift against PgBouncer and a direct connection to one
# throwaway PostgreSQL 15, on this machine, in one run. See doc/performance.md.
#
#   contrib/bench/run.sh [--quick | --full] [--out DIR]     (or: make bench)
#
# Contenders: direct (pgbench straight to PostgreSQL), pgbouncer (the Debian
# package, transaction mode), pgsift (transaction mode, analyzer on) and
# pgsift_off (the same with analyzer = off); both poolers have pool_size 20.
# pgbench runs in rounds that alternate the contenders (A B C A B C ...) so
# that drift on a noisy machine hits them alike; the report gives medians
# and ratios. Results (results.md, results.csv, raw.csv, chart.png) go to
# contrib/bench/results/<timestamp>/ unless --out is given.
# Installs what it needs (contrib/deps.sh bench); runs as root (PostgreSQL
# and PgBouncer then run as the postgres user) or as an ordinary user.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

MODE=quick
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MODE=quick ;;
	--full) MODE=full ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick | --full] [--out DIR]" >&2; exit 2 ;;
	esac
	shift
done
OUT=${OUT:-$ROOT/contrib/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$MODE}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

contrib/deps.sh bench
. contrib/bench/lib.sh
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Each of 10,000 clients is a socket in connhold and one in the pooler.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
NOFILE=$(ulimit -n)
IDLE_N=${IDLE_N:-10000}
[ "$NOFILE" -lt $((IDLE_N + 200)) ] && IDLE_N=$((NOFILE - 200))

if [ "$MODE" = quick ]; then
	ROUNDS=${ROUNDS:-2} SECS=${SECS:-2} PG_SCALE=${PG_SCALE:-1} STRACE_T=${STRACE_T:-100}
	# workload mode clients contenders (a subset that fits in 3 minutes)
	CELLS="S simple 1 direct,pgbouncer,pgsift
S simple 10 direct,pgbouncer,pgsift
S simple 100 direct,pgbouncer,pgsift,pgsift_off
S simple 1000 direct,pgbouncer,pgsift
S extended 100 direct,pgbouncer,pgsift,pgsift_off
S prepared 10 direct,pgbouncer,pgsift
tpcb simple 10 direct,pgbouncer,pgsift"
else
	ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} PG_SCALE=${PG_SCALE:-10} STRACE_T=${STRACE_T:-300}
	CELLS=$(for w in S tpcb; do for m in simple extended prepared; do for c in 1 10 100 1000; do
		echo "$w $m $c direct,pgbouncer,pgsift,pgsift_off"
	done; done; done)
fi
POOL_SIZE=20
# Direct at 1,000 clients needs 1,000 backends, plus the poolers' pools.
PG_MAX_CONN=1100
LISTEN_BACKLOG=4096
export PG_SCALE PG_MAX_CONN POOL_SIZE LISTEN_BACKLOG

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

log "mode $MODE: $ROUNDS rounds of ${SECS}s per contender, scale $PG_SCALE, fd limit $NOFILE; results in $OUT"
bench_build_release
cc -O2 -Wall $(pkg-config --cflags libpq) contrib/bench/connhold.c -o "$BENCH_TMP/connhold" $(pkg-config --libs libpq)
bench_start_pg
SIFT_NAME=pgsift bench_start_pgsift "listen_backlog = $LISTEN_BACKLOG"
PORT_pgsift=$SIFT_PORT PID_pgsift=$SIFT_PID
SIFT_NAME=pgsift_off bench_start_pgsift "listen_backlog = $LISTEN_BACKLOG" "analyzer = off"
PORT_pgsift_off=$SIFT_PORT PID_pgsift_off=$SIFT_PID
bench_start_pgbouncer
PORT_pgbouncer=$BOUNCER_PORT PID_pgbouncer=$BOUNCER_PID
PORT_direct=$PG_PORT PID_direct=""
hz=$(getconf CLK_TCK)

{
	echo "# pgsift benchmark ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "pgsift: $(git describe --always --dirty 2>/dev/null || echo unknown); $(pgbouncer --version | head -1); $("$PGBIN/postgres" --version)"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "settings: pool_size $POOL_SIZE, transaction mode, $ROUNDS rounds x ${SECS}s, pgbench scale $PG_SCALE, max_connections $PG_MAX_CONN, fd limit $NOFILE"
} >"$OUT/env.txt"

# One pgbench run; appends a line to raw.csv.
RAW=$OUT/raw.csv
echo "workload,mode,clients,contender,round,status,tps,txns,cpu_ticks,p50_us,p99_us,error" >"$RAW"
run_pgbench() { # workload mode clients contender round
	local w=$1 m=$2 c=$3 who=$4 r=$5 port pid j=2 args=() out logs t0=0 t1=0 status=ok err="" secs=$SECS
	port=PORT_$who pid=PID_$who
	port=${!port} pid=${!pid}
	[ "$c" -lt 2 ] && j=1
	# pgbench's -T includes connecting, and 1,000 backends take several
	# seconds to fork on 2 cores: give direct that time on top.
	[ "$who" = direct ] && [ "$c" -ge 1000 ] && secs=$((SECS + 8))
	[ "$w" = S ] && args=(-S)
	logs=$BENCH_TMP/pgblog
	rm -rf "$logs" && mkdir "$logs"
	[ -n "$pid" ] && t0=$(proc_cpu_ticks "$pid")
	out=$("$PGBIN/pgbench" -n "${args[@]}" -M "$m" -c "$c" -j "$j" -T "$secs" -l --log-prefix="$logs/l" \
		-h 127.0.0.1 -p "$port" -U postgres bench 2>&1) || status=FAIL
	[ -n "$pid" ] && t1=$(proc_cpu_ticks "$pid")
	local tps txns failed pct
	tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
	txns=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]; exit}' <<<"$out")
	failed=$(awk -F': ' '/number of failed transactions/ {split($2, a, " "); print a[1]; exit}' <<<"$out")
	[ -n "${failed:-}" ] && [ "$failed" != 0 ] && status=FAIL
	grep -q 'aborted' <<<"$out" && status=FAIL
	if [ "$status" = FAIL ]; then
		err=$(grep -m1 -iE 'error|fatal|abort' <<<"$out" | tr ',"' ';'"'" | cut -c1-160)
	elif [ -z "${tps:-}" ] || [ "${txns:-0}" = 0 ]; then
		status=FAIL err="no transaction completed within -T $secs ($(grep -m1 'initial connection time' <<<"$out" | tr -d ','))"
	fi
	pct=$(cat "$logs"/l* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ {print $3}' | sort -n |
		awk '{a[NR] = $1} END {if (NR) printf "%d,%d", a[int((NR - 1) * 0.50) + 1], a[int((NR - 1) * 0.99) + 1]; else printf ","}')
	echo "$w,$m,$c,$who,$r,$status,${tps:-},${txns:-},$((t1 - t0)),$pct,${err}" >>"$RAW"
	log "$(printf '%-4s %-8s %4s clients  %-10s round %s: %s tps %s' "$w" "$m" "$c" "$who" "$r" "${tps:-?}" "$status")"
}

while read -r w m c who_list; do
	IFS=, read -r -a who <<<"$who_list"
	for r in $(seq "$ROUNDS"); do
		for x in "${who[@]}"; do run_pgbench "$w" "$m" "$c" "$x" "$r"; done
	done
done <<<"$CELLS"

# 10,000 clients: pooler memory when they are idle, and the time for them to
# connect and each run one query. Not for direct: PostgreSQL would need
# 10,000 backends (max_connections is 1,100 here).
EXTRA=$OUT/extra.csv
echo "metric,contender,value,note" >"$EXTRA"
for who in pgbouncer pgsift; do
	port=PORT_$who pid=PID_$who
	port=${!port} pid=${!pid}
	ci="hostaddr=127.0.0.1 port=$port user=postgres dbname=bench"
	rss0=$(proc_rss_kb "$pid")
	"$BENCH_TMP/connhold" -n "$IDLE_N" -p 200 -H "$ci" >"$BENCH_TMP/hold.out" 2>"$BENCH_TMP/hold.err" &
	hold=$!
	for _ in $(seq 1200); do grep -q ready "$BENCH_TMP/hold.out" && break; kill -0 "$hold" 2>/dev/null || break; sleep 0.1; done
	sleep 1
	rss=$(proc_rss_kb "$pid")
	line=$(cat "$BENCH_TMP/hold.out")
	kill -TERM "$hold" 2>/dev/null || true
	wait "$hold" || true
	echo "rss_idle_kb,$who,$rss,$IDLE_N idle clients: $line $(tr ',\n' '; ' <"$BENCH_TMP/hold.err"); before: $rss0 kB" >>"$EXTRA"
	log "$who: RSS with $IDLE_N idle clients $rss kB (before $rss0 kB): $line"
	sleep 1
	t0=$(proc_cpu_ticks "$pid")
	line=$("$BENCH_TMP/connhold" -n "$IDLE_N" -p 200 -q "SELECT 1" "$ci" 2>"$BENCH_TMP/hold.err") || true
	sleep 0.5 # let the pooler finish the disconnects
	t1=$(proc_cpu_ticks "$pid")
	echo "connect_cpu_us,$who,$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$IDLE_N" 'BEGIN {printf "%.1f", d / hz * 1e6 / n}'),pooler CPU per client (connect + SELECT 1 + disconnect)" >>"$EXTRA"
	secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$line")
	grep -q 'failed=0' <<<"$line" || secs="FAIL"
	echo "connect_query_s,$who,$secs,$line $(tr ',\n' '; ' <"$BENCH_TMP/hold.err")" >>"$EXTRA"
	log "$who: $IDLE_N clients connect + SELECT 1: $line"
done
echo "rss_idle_kb,direct,,not run: needs $IDLE_N backends (max_connections = $PG_MAX_CONN)" >>"$EXTRA"
echo "connect_query_s,direct,,not run: needs $IDLE_N backends (max_connections = $PG_MAX_CONN)" >>"$EXTRA"

# System calls per transaction: a fresh pooler under strace -c -f, driven by
# pgbench -S at 100 clients for T1 and then (another instance) T2
# transactions per client; the difference over 100 * (T2 - T1) transactions
# leaves out startup and connection setup.
strace_run() { # who transactions-per-client -> strace -c output file
	local who=$1 t=$2 f=$BENCH_TMP/strace.$1.$2 port cmd=() spid pid
	if [ "$who" = pgbouncer ]; then
		bench_pgbouncer_config
		port=$BOUNCER_PORT
		cmd=("${AS_BOUNCER[@]}" pgbouncer -q "$BOUNCER_INI")
	else
		port=$(free_port)
		sed "s/^listen_port = .*/listen_port = $port/; s|^logfile = .*|logfile = $BENCH_TMP/strace.log|" \
			"$BENCH_TMP/pgsift.ini" >"$BENCH_TMP/strace.ini"
		cmd=("$PGSIFT" -q "${SIFT_USER[@]}" "$BENCH_TMP/strace.ini")
	fi
	strace -c -f -o "$f" "${cmd[@]}" &
	spid=$!
	for _ in $(seq 200); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.05; done
	"$PGBIN/pgbench" -n -S -M simple -c 100 -j 2 -t "$t" -h 127.0.0.1 -p "$port" -U postgres bench >"$f.pgbench" 2>&1 ||
		log "strace run of $who failed: $(tail -3 "$f.pgbench")"
	pid=$(cat "/proc/$spid/task/$spid/children" 2>/dev/null | awk '{print $1}')
	[ -n "$pid" ] && kill -INT "$pid"
	wait "$spid" || true
	echo "$f"
}
if command -v strace >/dev/null; then
	T1=20 T2=$((20 + STRACE_T))
	for who in pgbouncer pgsift; do
		a=$(strace_run "$who" "$T1")
		b=$(strace_run "$who" "$T2")
		/usr/bin/python3 contrib/bench/report.py syscalls "$a" "$b" $((100 * (T2 - T1))) "$who" >>"$EXTRA"
		log "$who: $(grep "^syscalls_per_tx,$who," "$EXTRA" | cut -d, -f3-)"
	done
fi

/usr/bin/python3 contrib/bench/report.py report "$OUT"
if command -v gnuplot >/dev/null; then
	(cd "$OUT" && gnuplot chart.gp) || log "gnuplot failed"
fi
cat "$OUT/results.md"
log "written: $OUT/results.md results.csv raw.csv extra.csv chart.png"
