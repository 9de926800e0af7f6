#!/bin/sh
# Differential test of the fingerprint module against another revision
# (default HEAD): same fingerprints, texts, tags, flags and statement
# splitting for the corpus, its prefixes and ITERATIONS generated inputs
# (default 300000). For changes made for speed. See diff_revision.c.
#
#   test/fuzz/diff_revision.sh [REV] [ITERATIONS]
#
# Exit status 1 on a difference (the first ten are printed).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
rev=${1:-HEAD}
iters=${2:-300000}
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgsift-diffrev.XXXXXX")
trap 'rm -rf "$work"' EXIT

# the revision's files, flat in $work (src/analyzer/ since the rooms, src/ before)
for f in fingerprint.c fp_lex.c fp_lex.h fingerprint.h fingerprint_kw.h; do
	git -C "$top" show "$rev:src/analyzer/$f" 2>/dev/null >"$work/$f" ||
		git -C "$top" show "$rev:src/$f" >"$work/$f"
	sed -i 's|#include "analyzer/|#include "|' "$work/$f"
done
$cc -std=gnu11 -O2 -c -I"$work" "$work/fingerprint.c" -o "$work/a.o"
$cc -std=gnu11 -O2 -c -I"$work" "$work/fp_lex.c" -o "$work/b.o"
ld -r "$work/a.o" "$work/b.o" -o "$work/ab.o"
nm -g --defined-only "$work/ab.o" | awk '{print $3" old_"$3}' >"$work/syms"
objcopy --redefine-syms="$work/syms" "$work/ab.o" "$work/old.o"
$cc -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -I"$top/src" \
	"$here/diff_revision.c" "$top/src/analyzer/fingerprint.c" "$top/src/analyzer/fp_lex.c" "$work/old.o" -o "$work/diff_revision"
echo "# against $(git -C "$top" rev-parse --short "$rev")"
"$work/diff_revision" "$top/test/corpus/corpus.sql" "$here/fingerprint.dict" "$iters"
