#!/bin/sh
# Floors of two other designs of the fingerprint's hash-only path (see
# fp_floor.c), timed in one run with fp_compute() and libpg_query over
# test/corpus/corpus.sql. Not a test; doc/fingerprint.md, "Speed".
#
#   contrib/bench/fp_floor.sh [TRIALS]   times, and ratios to libpg_query
#   contrib/bench/fp_floor.sh --count    instructions a statement
#                                        (callgrind; pgsift and token only:
#                                        valgrind has no AVX-512)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
corpus=$top/test/corpus/corpus.sql
cc=${CC:-cc}
cflags=${CFLAGS:--O2}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgsift-fpfloor.XXXXXX")
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC2086 # flags are a list
$cc -std=gnu11 $cflags -Wall -Wextra -Werror -I"$top/src" "$here/fp_floor.c" "$top/src/analyzer/fingerprint.c" \
	"$top/src/analyzer/fp_lex.c" -lpg_query -o "$work/fp_floor"

if [ "${1:-}" != --count ]; then
	"$work/fp_floor" "$corpus" "${1:-21}"
	exit 0
fi
count() { # instructions of 20 passes of $1
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$work/fp_floor" "$corpus" --only "$1" 20 2>&1 |
		sed -n 's/.*Collected : //p'
}
stmts=$("$work/fp_floor" "$corpus" --only none 1 | sed 's/.*: \([0-9]*\) statements.*/\1/')
base=$(count none)
for c in pgsift token; do
	echo "$c: $(( ($(count "$c") - base) / (20 * stmts) )) instructions a statement"
done
