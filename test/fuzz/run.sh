#!/bin/sh
# Builds a fuzz target with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs it for SECONDS (default 60) on a copy
# of its committed seed corpus (left as it is):
#
#   fingerprint (default)  test/fuzz/fuzz_fingerprint.c, the fingerprint
#                          module; seeds test/fuzz/fingerprint_seeds/
#   config                 test/fuzz/fuzz_config.c, the configuration
#                          parser; seeds test/fuzz/config_seeds/
#   scram                  test/fuzz/fuzz_scram.c, the server side of
#                          SCRAM-SHA-256; seeds test/fuzz/scram_seeds/
#   sql                    test/fuzz/fuzz_sql.c, the console's SQL entry
#                          (SQLite over view snapshots); seeds test/fuzz/sql_seeds/
#   client                 test/fuzz/fuzz_client.c, what a logged-in client
#                          sends, through the whole pooler to a fake
#                          PostgreSQL; seeds test/fuzz/client_seeds/
#
#   [FUZZ_TARGET=config] test/fuzz/run.sh [SECONDS] [libFuzzer options...]
#
# A crash or a broken invariant stops the run with exit status 1 and leaves
# the input that caused it in $TMPDIR/pgsift-fuzz-TARGET/ (printed).
# Reproduce with
#   $TMPDIR/pgsift-fuzz-TARGET/fuzz_TARGET CRASH-FILE
# Needs clang (Debian's clang-14 has libFuzzer).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
cc=${CLANG:-clang}
target=${FUZZ_TARGET:-fingerprint}
work=${TMPDIR:-/tmp}/pgsift-fuzz-$target
mkdir -p "$work/corpus" "$work/artifacts"

case $target in
fingerprint)
	srcs="$top/src/analyzer/fingerprint.c $top/src/analyzer/fp_lex.c $top/src/analyzer/fp_skel.c"
	libs=""
	extra="-max_len=4096 -dict=$here/fingerprint.dict"
	;;
config)
	srcs="$top/src/util/config.c $top/src/util/config_file.c $top/src/util/log_syslog.c"
	libs=$(pkg-config --libs inih)
	extra="-max_len=8192 -dict=$here/config.dict"
	;;
scram)
	srcs="$top/src/pooler/scram.c"
	libs=$(pkg-config --libs openssl)
	extra="-max_len=2048 -dict=$here/scram.dict"
	;;
sql)
	srcs="$top/src/surfaces/sql_engine.c $top/src/surfaces/sql_wire.c $top/src/views/view.c $top/src/views/snapshot.c $top/src/util/proto.c"
	libs="$(pkg-config --libs sqlite3) -lm -pthread"
	extra="-max_len=4096 -dict=$here/sql.dict"
	;;
client)
	# the pooler, the analyzer and util: everything but main.c and the console
	srcs="$here/fake_pg.c $(ls "$top"/src/util/*.c "$top"/src/analyzer/*.c "$top"/src/pooler/*.c | grep -v fingerprint_cli.c)"
	libs="$(pkg-config --libs libevent openssl inih libpq) -lm"
	extra="-max_len=4096 -dict=$here/client.dict"
	;;
*)
	echo "unknown FUZZ_TARGET $target (fingerprint, config, scram, sql, client)" >&2
	exit 2
	;;
esac

# shellcheck disable=SC2086 # lists of files and options
$cc -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$top/src" $(pkg-config --cflags inih openssl libevent libpq) "$here/fuzz_$target.c" $srcs $libs -o "$work/fuzz_$target"

# new inputs go to $work/corpus; the seeds are read, not written
# shellcheck disable=SC2086
"$work/fuzz_$target" -max_total_time="$secs" -timeout=10 $extra \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$@" "$work/corpus" "$here/${target}_seeds"
