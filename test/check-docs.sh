#!/usr/bin/env bash
# Fails when a setting the code knows is missing from doc/config.md (as a
# "### name" heading) or from etc/pgsift.ini (as "name =" or ";name =").
# Run by `make check`; prints TAP.
set -u
src=${srcdir:-$(dirname "$0")/..}
bin=${PGSIFT_BIN:-./src/pgsift}
names=$("$bin" --list-settings) || { echo "1..1"; echo "not ok 1 - $bin --list-settings failed"; exit 1; }
n=0 fail=0
out=""
for name in $names; do
	n=$((n + 1))
	if grep -qx "### $name" "$src/doc/config.md"; then out+="ok $n - doc/config.md documents $name"$'\n'
	else out+="not ok $n - doc/config.md has no '### $name' section"$'\n'; fail=1; fi
	n=$((n + 1))
	if grep -qE "^;?$name =" "$src/etc/pgsift.ini"; then out+="ok $n - etc/pgsift.ini mentions $name"$'\n'
	else out+="not ok $n - etc/pgsift.ini has no '$name =' line"$'\n'; fail=1; fi
done
echo "1..$n"
printf '%s' "$out"
exit $fail
