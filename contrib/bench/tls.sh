#!/usr/bin/env bash
# TLS between clients and the pooler: pgbench -S (simple protocol, every
# client over TLS, sslmode=require) through pgsift and through PgBouncer,
# both with client_tls_sslmode = require and the same self-signed
# certificate, and through pgsift without TLS for scale, in alternating
# rounds against one throwaway PostgreSQL (plain, as both poolers reach it).
# Prints the medians of throughput and of each pooler's CPU time per
# transaction, and the ratios. A benchmark, not a test.
#
#   contrib/bench/tls.sh [rounds] [seconds-per-round]     (CLIENTS=20)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SECS=${2:-5}
CLIENTS=${CLIENTS:-20}
contrib/deps.sh bench
command -v openssl >/dev/null || contrib/deps.sh test
. contrib/bench/lib.sh
trap bench_cleanup EXIT INT TERM

bench_build_release
bench_start_pg

tls=$BENCH_TMP/tls
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tls/server.key" \
	-out "$tls/server.crt" -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
chmod 755 "$tls"
chmod 644 "$tls/server.crt" "$tls/server.key" # PgBouncer runs as postgres when we are root
TLS_LINES=("client_tls_sslmode = require" "client_tls_key_file = $tls/server.key"
	"client_tls_cert_file = $tls/server.crt" "server_tls_sslmode = disable")

SIFT_NAME=pgsift_tls bench_start_pgsift "${TLS_LINES[@]}"
TLS_PORT=$SIFT_PORT TLS_PID=$SIFT_PID
SIFT_NAME=pgsift_plain bench_start_pgsift "server_tls_sslmode = disable"
PLAIN_PORT=$SIFT_PORT PLAIN_PID=$SIFT_PID
bench_pgbouncer_config
printf '%s\n' "${TLS_LINES[@]}" >>"$BOUNCER_INI"
"${AS_BOUNCER[@]}" pgbouncer -q "$BOUNCER_INI" &
BOUNCER_PID=$!
BENCH_PIDS+=("$BOUNCER_PID")
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$BOUNCER_PORT" && break; sleep 0.05; done
hz=$(getconf CLK_TCK)

round() { # $1 name, $2 port, $3 pid, $4 sslmode; appends "tps cpu_us_per_tx" to $BENCH_TMP/$1
	local t0 t1 tx
	t0=$(proc_cpu_ticks "$3")
	tx=$(PGSSLMODE=$4 "$PGBIN/pgbench" -n -S -M simple -c "$CLIENTS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$2" \
		-U postgres bench 2>/dev/null | awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}')
	t1=$(proc_cpu_ticks "$3")
	awk -v d=$((t1 - t0)) -v hz="$hz" -v tx="${tx:-0}" -v s="$SECS" \
		'BEGIN {if (tx == 0) {print "0 0"; exit} printf "%.0f %.3f\n", tx / s, d / hz * 1e6 / tx}' >>"$BENCH_TMP/$1"
}

for _ in $(seq "$ROUNDS"); do
	round pgsift_tls "$TLS_PORT" "$TLS_PID" require
	round pgbouncer_tls "$BOUNCER_PORT" "$BOUNCER_PID" require
	round pgsift_plain "$PLAIN_PORT" "$PLAIN_PID" disable
done
med() { awk -v c="$2" '{print $c}' "$BENCH_TMP/$1" | median; }
echo "pgbench -S -M simple, $CLIENTS clients, $ROUNDS alternating rounds of $SECS s; medians"
printf '%-28s %10s %14s\n' "" "tps" "CPU us/tx"
for n in pgsift_tls pgbouncer_tls pgsift_plain; do
	printf '%-28s %10s %14s\n' "$n" "$(med "$n" 1)" "$(med "$n" 2)"
done
awk -v a="$(med pgsift_tls 1)" -v b="$(med pgbouncer_tls 1)" -v c="$(med pgsift_tls 2)" -v d="$(med pgbouncer_tls 2)" \
	-v e="$(med pgsift_plain 2)" 'BEGIN {
	printf "pgsift/PgBouncer over TLS: throughput %.2f, CPU per transaction %.2f\n", a / b, c / d
	printf "pgsift TLS/plain: CPU per transaction %.2f\n", c / e }'
