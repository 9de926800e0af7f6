#!/usr/bin/env bash
# Installs the Debian packages pgsift needs, only those that are missing.
#   contrib/deps.sh build   - to build pgsift
#   contrib/deps.sh demo    - to build and run the demo (adds PostgreSQL)
#   contrib/deps.sh test    - to run the test suite (adds the test clients)
#   contrib/deps.sh bench   - to run the benchmark (adds PgBouncer, gnuplot)
# Works as root or through sudo.
set -euo pipefail

build=(gcc make autoconf automake pkg-config libevent-dev libpq-dev libssl-dev libinih-dev libsqlite3-dev)
demo=("${build[@]}" postgresql-15 postgresql-client-15 curl)
test=("${demo[@]}" python3 python3-psycopg python3-asyncpg python3-pytest procps libpg-query-dev openssl
	libpostgresql-jdbc-java python3-django python3-psycopg2	# Django (psycopg2) in test_session_django
	prometheus chromium chromium-driver python3-selenium)	# /metrics scraped by a real Prometheus
								# (and promtool), the dashboard in a real browser
# driver tests (test/drivers): Node.js with npm, and a JDK; a machine may have
# them from outside Debian, so only what is not on PATH is asked for
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || test+=(nodejs npm)
command -v javac >/dev/null 2>&1 || test+=(default-jdk-headless)
bench=("${demo[@]}" pgbouncer gnuplot-nox strace)

case "${1:-build}" in
build) want=("${build[@]}") ;;
demo) want=("${demo[@]}") ;;
test) want=("${test[@]}") ;;
bench) want=("${bench[@]}") ;;
*) echo "usage: $0 build|demo|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
