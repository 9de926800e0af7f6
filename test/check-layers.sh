#!/bin/sh
# The rooms of ../shared/DESIGN.md, checked: an include names its room
# ("pooler/client.h") and may only point to the same room or one below it:
#   surfaces -> views -> pooler -> analyzer -> util
# (the analyzer never includes a pooler header; nothing includes main.c).
# TAP output, one line per file.
src=${srcdir:-.}/src
rank() {
	case "$1" in
	util) echo 1 ;; analyzer) echo 2 ;; pooler) echo 3 ;; views) echo 4 ;; surfaces) echo 5 ;; *) echo 0 ;;
	esac
}
n=0
fail=0
out=""
for f in "$src"/*/*.[ch]; do
	room=$(basename "$(dirname "$f")")
	mine=$(rank "$room")
	bad=""
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case "$inc" in
		*/*) r=$(rank "${inc%%/*}") ;;
		*) bad="$bad $inc(no room)"; continue ;;
		esac
		[ "$r" -ge 1 ] && [ "$r" -le "$mine" ] || bad="$bad $inc"
	done
	n=$((n + 1))
	rel=${f#"$src"/}
	if [ -z "$bad" ]; then
		out="${out}ok $n - $rel includes only its room and the rooms below
"
	else
		out="${out}not ok $n - $rel includes upward or unroomed:$bad
"
		fail=1
	fi
done
echo "1..$n"
printf '%s' "$out"
exit $fail
