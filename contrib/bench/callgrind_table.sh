#!/usr/bin/env bash
# User-space work per transaction, pgsift against PgBouncer: valgrind's
# instruction count (callgrind) of the pooler process per pgbench
# transaction, for Debian's PgBouncer and for pgsift with analyzer = off and
# = on, under four workloads (pgbench -S and TPC-B, each -M simple and
# extended), 4 clients, pool size 4, transaction mode. Prints a table with
# ratios to PgBouncer. A benchmark, not a test: instruction counts do not
# depend on the machine's load, so they compare on a noisy machine.
#
#   contrib/bench/callgrind_table.sh            # the working tree
#   contrib/bench/callgrind_table.sh REV        # and pgsift at REV, for before/after
#
# Each cell is a marginal cost: a pooler under valgrind serves a warm-up
# run (its server connections open) and a run of SMALL transactions, a
# second one the same with SMALL + TX; the difference of their counts
# divided by TX leaves out start-up, shutdown, logins and the server
# connections' set-up. TX (20,000) and SMALL (1,000) are environment knobs;
# while working on one cell, WORKLOADS (a subset of "S-simple S-extended
# tpcb-simple tpcb-extended"), ANALYZER ("off", "on") and NO_BOUNCER=1 (no
# PgBouncer column) leave the rest out;
# KEEP=DIR keeps the profiles there (callgrind.WHO.ANALYZER.WORKLOAD.small
# and .large); contrib/bench/callgrind_marginal.py prints the difference per
# function and transaction (callgrind_annotate's inclusive costs).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -le 1 ] || { echo "usage: $0 [REV]" >&2; exit 2; }
REV=${1:-}
TX=${TX:-20000}
SMALL=${SMALL:-1000}
CLIENTS=4
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
contrib/deps.sh bench
. contrib/bench/lib.sh
trap bench_cleanup EXIT INT TERM

bench_build_release
PGSIFT_TREE=$PGSIFT
if [ -n "$REV" ]; then
	# the same build, from git archive of REV
	mkdir -p "$BENCH_TMP/rev"
	git archive "$REV" | tar -C "$BENCH_TMP/rev" -xf -
	(cd "$BENCH_TMP/rev" && autoreconf -fi && ./configure -q CFLAGS="-O2 -g" && make -j"$(nproc)" src/pgsift) \
		>"$BENCH_TMP/rev.log" 2>&1 || { cat "$BENCH_TMP/rev.log"; exit 1; }
	PGSIFT_REV=$BENCH_TMP/rev/src/pgsift
fi
POOL_SIZE=$CLIENTS
export POOL_SIZE
bench_start_pg

# pgbench arguments of a workload
workload_args() {
	case "$1" in
	S-simple) echo "-S -M simple" ;;
	S-extended) echo "-S -M extended" ;;
	tpcb-simple) echo "-M simple" ;;
	tpcb-extended) echo "-M extended" ;;
	esac
}

# Runs pgbench (workload $1, $2 transactions in all) against port $3;
# fails unless every transaction ran.
run_pgbench() {
	local per=$(($2 / CLIENTS)) out
	# shellcheck disable=SC2046 # a list of arguments
	out=$("$PGBIN/pgbench" -n $(workload_args "$1") -c "$CLIENTS" -j 1 -t "$per" -h 127.0.0.1 -p "$3" \
		-U postgres bench 2>&1) || { echo "$out" >&2; return 1; }
	grep -q "number of transactions actually processed: $((per * CLIENTS))/" <<<"$out" ||
		{ echo "$out" >&2; return 1; }
}

# One pooler under valgrind: contender $1 (pgbouncer, or a pgsift binary
# with analyzer = $2), a warm-up run of workload $3, then $4 transactions;
# prints the pooler's instruction count from its start to its exit.
count() {
	local who=$1 an=$2 wl=$3 n=$4 out port vpid i
	if [ "$who" = pgbouncer ]; then
		bench_pgbouncer_config
		port=$BOUNCER_PORT
		out=$BENCH_TMP/pgbouncer/cg.out
		"${AS_BOUNCER[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" \
			pgbouncer -q "$BOUNCER_INI" 2>"$BENCH_TMP/cg.valgrind.log" &
	else
		SIFT_NAME=cg bench_pgsift_config "analyzer = $an"
		port=$SIFT_PORT
		out=$BENCH_TMP/cg.out
		# as root, valgrind runs as postgres too: pgsift's -u would leave it unable
		# to write the profile it opened as root
		"${EXEC_AS_PG[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$who" -q "$SIFT_INI" \
			2>"$BENCH_TMP/cg.valgrind.log" &
	fi
	vpid=$!
	BENCH_PIDS+=("$vpid")
	for _ in $(seq 600); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
	run_pgbench "$wl" 200 "$port"
	run_pgbench "$wl" "$n" "$port"
	kill -INT "$vpid"
	wait "$vpid" || true
	for i in "${!BENCH_PIDS[@]}"; do [ "${BENCH_PIDS[$i]}" = "$vpid" ] && unset 'BENCH_PIDS[i]'; done
	awk '/^(summary|totals):/ {print $2; exit}' "$out"
	# the profiles, for contrib/bench/callgrind_marginal.py
	if [ -n "${KEEP:-}" ]; then
		mkdir -p "$KEEP"
		cp "$out" "$KEEP/callgrind.$(basename "$who").$an.$wl.$([ "$n" -gt "$SMALL" ] && echo large || echo small)"
	fi
	rm -f "$out"
}

# One cell: the marginal instructions per transaction (see the top).
measure() {
	local small large
	small=$(count "$1" "$2" "$3" "$SMALL")
	large=$(count "$1" "$2" "$3" $((SMALL + TX)))
	echo $(((large - small) / TX))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
group() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }

echo "pgbench, $CLIENTS clients, pool $CLIENTS, transaction mode; valgrind instructions per transaction" \
	"(marginal over $TX transactions); PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')," \
	"$(pgbouncer --version | head -1), pgsift $(git describe --always --dirty)${REV:+ and $REV}"
echo
hdr="| workload | PgBouncer | pgsift analyzer=off | pgsift analyzer=on |"
sep="|---|---:|---:|---:|"
if [ -n "$REV" ]; then
	hdr="| workload | PgBouncer | $REV off | $REV on | pgsift off | pgsift on |"
	sep="|---|---:|---:|---:|---:|---:|"
fi
echo "$hdr"
echo "$sep"
for wl in ${WORKLOADS:-S-simple S-extended tpcb-simple tpcb-extended}; do
	name=${wl/S-/pgbench -S, }
	name=${name/tpcb-/TPC-B, }
	b=$([ -n "${NO_BOUNCER:-}" ] || measure pgbouncer - "$wl")
	row="| $name | $(group "${b:--}")"
	bins=("$PGSIFT_TREE")
	[ -n "$REV" ] && bins=("$PGSIFT_REV" "$PGSIFT_TREE")
	for bin in "${bins[@]}"; do
		for an in ${ANALYZER:-off on}; do
			v=$(measure "$bin" "$an" "$wl")
			row="$row | $(group "$v")${b:+ ($(ratio "$v" "$b")×)}"
		done
	done
	echo "$row |"
done
