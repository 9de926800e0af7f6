#!/bin/sh
# Builds the fingerprint fuzz target (test/fuzz/fuzz_fingerprint.c) with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, and runs it
# for SECONDS (default 60) on a copy of the committed seed corpus
# (test/fuzz/fingerprint_seeds/, which is left as it is).
#
#   test/fuzz/run.sh [SECONDS] [libFuzzer options...]
#
# A crash or a broken invariant stops the run with exit status 1 and leaves
# the input that caused it in $TMPDIR/pgsift-fuzz/ (printed). Reproduce with
#   $TMPDIR/pgsift-fuzz/fuzz_fingerprint CRASH-FILE
# Needs clang (Debian's clang-14 has libFuzzer).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
cc=${CLANG:-clang}
work=${TMPDIR:-/tmp}/pgsift-fuzz
mkdir -p "$work/corpus" "$work/artifacts"

$cc -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$top/src" "$here/fuzz_fingerprint.c" "$top/src/fingerprint.c" "$top/src/fp_lex.c" \
	-o "$work/fuzz_fingerprint"

# new inputs go to $work/corpus; the seeds are read, not written
"$work/fuzz_fingerprint" -max_total_time="$secs" -max_len=4096 -timeout=10 \
	-dict="$here/fingerprint.dict" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$@" "$work/corpus" "$here/fingerprint_seeds"
