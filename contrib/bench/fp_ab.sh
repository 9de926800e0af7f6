#!/bin/sh
# A/B timing of the fingerprint module (src/analyzer/fingerprint.c, fp_lex.c):
# the working tree against another revision (default HEAD), hash only,
# over test/corpus/corpus.sql, same hashes required. See fp_ab.c.
#
#   contrib/bench/fp_ab.sh [REV] [TRIALS] [PASSES]
#
# CFLAGS (default -O2) applies to both sides; NEW_CFLAGS is added for the
# working tree only (to try an instruction set: NEW_CFLAGS=-mavx2).
# For a change made for speed, run test/fuzz/diff_revision.sh too: this
# only checks the hashes of the corpus.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
rev=${1:-HEAD}
trials=${2:-41}
passes=${3:-5}
cc=${CC:-cc}
cflags=${CFLAGS:--O2}
new_cflags=${NEW_CFLAGS:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgsift-fpab.XXXXXX")
trap 'rm -rf "$work"' EXIT

# the revision's files, flat in $work (src/analyzer/ since the rooms, src/ before)
for f in fingerprint.c fp_lex.c fp_lex.h fingerprint.h fingerprint_kw.h; do
	git -C "$top" show "$rev:src/analyzer/$f" 2>/dev/null >"$work/$f" ||
		git -C "$top" show "$rev:src/$f" >"$work/$f"
	sed -i 's|#include "analyzer/|#include "|' "$work/$f"
done
# shellcheck disable=SC2086 # flags are lists
$cc -std=gnu11 $cflags -c -I"$work" "$work/fingerprint.c" -o "$work/a.o"
# shellcheck disable=SC2086
$cc -std=gnu11 $cflags -c -I"$work" "$work/fp_lex.c" -o "$work/b.o"
ld -r "$work/a.o" "$work/b.o" -o "$work/ab.o"
nm -g --defined-only "$work/ab.o" | awk '{print $3" old_"$3}' >"$work/syms"
objcopy --redefine-syms="$work/syms" "$work/ab.o" "$work/old.o"
# shellcheck disable=SC2086
$cc -std=gnu11 $cflags $new_cflags -Wall -Wextra -I"$top/src" "$here/fp_ab.c" "$top/src/analyzer/fingerprint.c" \
	"$top/src/analyzer/fp_lex.c" "$work/old.o" -o "$work/fp_ab"
echo "# working tree against $(git -C "$top" rev-parse --short "$rev")"
"$work/fp_ab" "$top/test/corpus/corpus.sql" "$trials" "$passes"
