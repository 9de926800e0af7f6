# Shared pieces of the benchmark scripts (sourced, not run).
# Everything lives in $BENCH_TMP and is removed by bench_cleanup.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BENCH_TMP=$(mktemp -d /tmp/pgsift-bench.XXXXXX)
chmod 755 "$BENCH_TMP"
BENCH_PIDS=()
AS_PG=()
# pgsift, like PgBouncer, refuses to run as root: as root it is started with
# -u postgres (it switches after binding) and its files go to postgres
SIFT_USER=()
EXEC_AS_PG=() # runs the program as postgres in the same process (its pid is the one $! gives)
if [ "$(id -u)" -eq 0 ]; then
	AS_PG=(runuser -u postgres --)
	EXEC_AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	SIFT_USER=(-u postgres)
	chown postgres "$BENCH_TMP"
fi

bench_cleanup() {
	for pid in "${BENCH_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; done
	for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	[ -d "$BENCH_TMP/pg/data" ] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$BENCH_TMP/pg/data" -m fast stop >/dev/null 2>&1
	rm -rf "$BENCH_TMP"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Builds an optimized pgsift (no sanitizers) from the working tree into
# $BENCH_TMP/build; sets PGSIFT.
bench_build_release() {
	local root
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	mkdir -p "$BENCH_TMP/build"
	(cd "$root" && git ls-files -co --exclude-standard | grep -v '^test/' | tar -T - -cf -) | tar -C "$BENCH_TMP/build" -xf -
	(cd "$BENCH_TMP/build" && autoreconf -fi && ./configure -q CFLAGS="-O2 -g" && make -j"$(nproc)" src/pgsift) \
		>"$BENCH_TMP/build.log" 2>&1 || { cat "$BENCH_TMP/build.log"; return 1; }
	PGSIFT="$BENCH_TMP/build/src/pgsift"
}

# Starts a throwaway PostgreSQL 15; sets PG_PORT.
bench_start_pg() {
	PG_PORT=$(free_port)
	mkdir -p "$BENCH_TMP/pg"
	[ "$(id -u)" -eq 0 ] && chown postgres "$BENCH_TMP/pg"
	"${AS_PG[@]}" "$PGBIN/initdb" -D "$BENCH_TMP/pg/data" -U postgres -A trust >/dev/null
	cat >>"$BENCH_TMP/pg/data/postgresql.conf" <<CONF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$BENCH_TMP/pg'
max_connections = ${PG_MAX_CONN:-300}
fsync = off
synchronous_commit = off
shared_buffers = 256MB
CONF
	"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$BENCH_TMP/pg/data" -l "$BENCH_TMP/pg/log" -w start >/dev/null
	"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench
	"$PGBIN/pgbench" -i -q -s "${PG_SCALE:-1}" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >/dev/null 2>&1
}

# Writes a pgsift config in transaction mode in front of it to
# $BENCH_TMP/$SIFT_NAME.ini (SIFT_NAME, default pgsift, names its files so
# that several instances can run at once); sets SIFT_PORT and SIFT_INI.
# Extra [pgsift] lines may be given as arguments.
bench_pgsift_config() {
	SIFT_PORT=$(free_port)
	local name=${SIFT_NAME:-pgsift}
	SIFT_INI=$BENCH_TMP/$name.ini
	{
		echo "[databases]"
		echo "bench = host=127.0.0.1 port=$PG_PORT dbname=bench"
		echo "[pgsift]"
		echo "listen_addr = 127.0.0.1"
		echo "listen_port = $SIFT_PORT"
		echo "unix_socket_dir ="
		echo "auth_type = trust"
		echo "admin_users = postgres"
		echo "pool_mode = transaction"
		echo "default_pool_size = ${POOL_SIZE:-20}"
		echo "max_client_conn = 20000"
		echo "log_connections = 0"
		echo "log_disconnections = 0"
		echo "logfile = $BENCH_TMP/$name.log"
		for line in "$@"; do echo "$line"; done
	} >"$SIFT_INI"
}

# Starts pgsift with bench_pgsift_config's settings (the same arguments);
# sets SIFT_PORT and SIFT_PID.
bench_start_pgsift() {
	bench_pgsift_config "$@"
	"$PGSIFT" -q "${SIFT_USER[@]}" "$SIFT_INI" &
	SIFT_PID=$!
	BENCH_PIDS+=("$SIFT_PID")
	for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$SIFT_PORT" && return 0; sleep 0.05; done
	echo "pgsift did not start:" >&2
	cat "$BENCH_TMP/${SIFT_NAME:-pgsift}.log" >&2
	return 1
}

# Writes a PgBouncer config equivalent to bench_start_pgsift's (transaction
# mode, same pool size and limits) to $BENCH_TMP/pgbouncer/pgbouncer.ini;
# sets BOUNCER_PORT, BOUNCER_INI and AS_BOUNCER (PgBouncer refuses to run as
# root, so as root it runs as the postgres user).
bench_pgbouncer_config() {
	BOUNCER_PORT=$(free_port)
	local dir=$BENCH_TMP/pgbouncer
	mkdir -p "$dir"
	AS_BOUNCER=()
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres "$dir"
		AS_BOUNCER=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	fi
	echo '"postgres" ""' >"$dir/userlist.txt"
	cat >"$dir/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
listen_backlog = ${LISTEN_BACKLOG:-128}
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = ${POOL_SIZE:-20}
max_client_conn = 20000
log_connections = 0
log_disconnections = 0
logfile = $dir/pgbouncer.log
INI
	BOUNCER_INI=$dir/pgbouncer.ini
}

# Starts PgBouncer with bench_pgbouncer_config's settings; sets BOUNCER_PID.
bench_start_pgbouncer() {
	bench_pgbouncer_config
	"${AS_BOUNCER[@]}" pgbouncer -q "$BOUNCER_INI" &
	BOUNCER_PID=$!
	BENCH_PIDS+=("$BOUNCER_PID")
	for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$BOUNCER_PORT" && return 0; sleep 0.05; done
	echo "pgbouncer did not start:" >&2
	cat "$BENCH_TMP/pgbouncer/pgbouncer.log" >&2
	return 1
}

# Resident memory of a process, in kB.
proc_rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# CPU time (user + system) of a process, in clock ticks.
proc_cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

median() {
	sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'
}
