#!/usr/bin/python3
"""Marginal cost per transaction of each function, from two callgrind
profiles of the same pooler that differ only in the number of transactions
served (contrib/bench/callgrind_table.sh with KEEP=DIR keeps them):

    contrib/bench/callgrind_marginal.py DIR/callgrind.pgsift.on.S-simple [TX] [--self] [--min N]

reads PREFIX.small and PREFIX.large, runs callgrind_annotate on both
(inclusive costs unless --self) and prints (large - small) / TX per
function, largest first (TX: 20000, as callgrind_table.sh's default)."""
import re
import subprocess
import sys


def costs(path, inclusive):
    out = subprocess.run(['callgrind_annotate', '--inclusive=' + ('yes' if inclusive else 'no'),
                          '--threshold=100', '--auto=no', path], capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r'\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)(?:\s+\[(.*)\])?$', line)
        if not m or 'PROGRAM TOTALS' in line:
            continue
        name = re.sub(r'^.*/build/', '', m.group(2))
        obj = (m.group(3) or '').split('/')[-1]
        key = name if 'pgsift' in obj or not obj else f'{name} [{obj}]'
        res[key] = res.get(key, 0) + int(m.group(1).replace(',', ''))
    return res


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    inclusive = '--self' not in sys.argv
    lowest = 5.0
    if '--min' in sys.argv:
        lowest = float(sys.argv[sys.argv.index('--min') + 1])
        args.remove(sys.argv[sys.argv.index('--min') + 1])
    if not args:
        sys.exit(__doc__)
    tx = int(args[1]) if len(args) > 1 else 20000
    small, large = costs(args[0] + '.small', inclusive), costs(args[0] + '.large', inclusive)
    rows = sorted(((large.get(k, 0) - small.get(k, 0)) / tx, k) for k in set(large) | set(small))
    for v, k in reversed(rows):
        if v >= lowest:
            print(f'{v:8.0f}  {k}')


main()
