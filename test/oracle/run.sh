#!/bin/sh
# The reference-oracle check of pgsift's fingerprint (src/analyzer/fingerprint.c,
# src/analyzer/fp_lex.c) against libpg_query (Debian's libpg-query-dev), over
# test/corpus/corpus.sql. See doc/fingerprint.md.
#
#   test/oracle/run.sh                      TAP; exit 1 under 98% agreement,
#                                           on an unexplained disagreeing
#                                           pair, or when splitting or
#                                           re-fingerprinting differ
#   test/oracle/run.sh --min-agreement P    the same with another threshold
#   test/oracle/run.sh --bench              throughput of pgsift (hash only,
#                                           with text) and libpg_query in
#                                           the same run, and their ratios
#
# Installs libpg-query-dev when it is missing (as root, or through sudo).
# CC and CFLAGS may be set; the default is the project's own -O2.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
cflags=${CFLAGS:--O2}

if ! dpkg-query -W -f='${Status}' libpg-query-dev 2>/dev/null | grep -q "install ok installed"; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "1..1"
			echo "not ok 1 - libpg-query-dev is missing and neither root nor sudo can install it"
			exit 1
		fi
		sudo=sudo
	fi
	echo "# oracle: installing libpg-query-dev" >&2
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		libpg-query-dev >/dev/null
fi

out=$(mktemp "${TMPDIR:-/tmp}/pgsift-oracle.XXXXXX")
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086 # cflags is a list of options
$cc -std=gnu11 $cflags -Wall -Wextra -I"$top/src" "$here/oracle.c" \
	"$top/src/analyzer/fingerprint.c" "$top/src/analyzer/fp_lex.c" -lpg_query -o "$out"
"$out" "$@" "$top/test/corpus/corpus.sql"
