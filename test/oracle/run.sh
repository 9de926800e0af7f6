#!/bin/sh
# Builds and runs the reference-oracle check of src/fingerprint.c against
# libpg_query (Debian's libpg-query-dev), over test/corpus/corpus.sql.
#
#   test/oracle/run.sh                      grouping comparison; exit 1 on an
#                                           unexplained disagreement
#   test/oracle/run.sh --min-agreement 98   also fail under 98% of pairs
#   test/oracle/run.sh --bench              throughput, pgsift vs libpg_query
#
# Installs libpg-query-dev with apt-get when it is missing and we are root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${TMPDIR:-/tmp}/pgsift-oracle.$$
cc=${CC:-cc}

if [ ! -f /usr/include/pg_query.h ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "oracle: installing libpg-query-dev" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpg-query-dev >/dev/null
	else
		echo "oracle: libpg-query-dev is not installed (apt-get install libpg-query-dev)" >&2
		exit 1
	fi
fi

trap 'rm -f "$out"' EXIT
$cc -std=gnu11 -O2 -Wall -Wextra -I"$top/src" \
	"$here/oracle.c" "$top/src/fingerprint.c" -lpg_query -o "$out"
"$out" "$@" "$top/test/corpus/corpus.sql"
