#!/usr/bin/env bash
# doc/admin.md's column tables are the view declarations (src/views/):
# every view has a "<!-- view NAME -->" block there, equal to what
# `pgsift --describe-views` prints for it. TAP output; run by make check
# and test/run. With --fix, rewrites the blocks from the binary instead.
set -u
src=${srcdir:-$(dirname "$0")/..}
bin=${PGSIFT_BIN:-./src/pgsift}
fix=${1:-}
"$bin" --describe-views >/dev/null || { echo "1..1"; echo "not ok 1 - $bin --describe-views failed"; exit 1; }
exec /usr/bin/python3 - "$bin" "$src/doc/admin.md" "$fix" <<'PY'
import re, subprocess, sys
binary, doc_path, fix = sys.argv[1], sys.argv[2], sys.argv[3] == "--fix"
out = subprocess.run([binary, "--describe-views"], capture_output=True, text=True, check=True).stdout
block_re = re.compile(r"<!-- view (\w+) -->\n.*?<!-- /view -->\n", re.S)
want = {m.group(1): m.group(0) for m in block_re.finditer(out)}
doc = open(doc_path).read()
have = {m.group(1): m.group(0) for m in block_re.finditer(doc)}
if fix:
    doc = block_re.sub(lambda m: want.get(m.group(1), m.group(0)), doc)
    open(doc_path, "w").write(doc)
    missing = [v for v in want if v not in have]
    print("rewrote %d blocks; no block yet for: %s" % (len(have), " ".join(missing) or "-"))
    sys.exit(0)
n = 0
lines = []
for name, block in want.items():
    n += 1
    if name not in have:
        lines.append("not ok %d - doc/admin.md has no '<!-- view %s -->' table" % (n, name))
    elif have[name] != block:
        lines.append("not ok %d - doc/admin.md's table of %s differs from the declaration "
                     "(test/check-views-doc.sh --fix rewrites it)" % (n, name))
    else:
        lines.append("ok %d - doc/admin.md documents view %s as declared" % (n, name))
for name in have:
    if name not in want:
        n += 1
        lines.append("not ok %d - doc/admin.md documents a view %s that does not exist" % (n, name))
print("1..%d" % n)
print("\n".join(lines))
sys.exit(1 if any(l.startswith("not ok") for l in lines) else 0)
PY
