#!/usr/bin/python3
"""Generates src/analyzer/fingerprint_kw.h, the keyword table of src/analyzer/fp_lex.c:

    /usr/bin/python3 src/analyzer/fingerprint_kwgen.py > src/analyzer/fingerprint_kw.h

Only the words the normalizer acts on or needs flags for are listed (not
all of PostgreSQL's keywords). Lookup is a perfect hash on the word's own
hash (fp_word_hash(), which the lexer computes anyway): the slot is BITS
bits of it at SHIFT, searched so that no two keywords share a slot of the
index. The lookup then compares the first and second 8 bytes in lower case,
packed little-endian and zero-padded (and the length, and the rest of words
over 16 bytes), so a non-keyword never matches.

Columns: word, id (KW_<ID>; "other": known only for its flags), flags:
  expr     - an expression may follow (a "-" after it is unary)
  pspace   - shown as "kw (" rather than "fn("
  reserved - a reserved word: quoted, it is a different identifier
  sel      - starts a select or RETURNING list (AS name there is an alias)
  endsel   - a clause that ends a select list
"""
import random
import sys

KEYWORDS = """
abort              abort
absolute           absolute        expr
all                all             expr pspace reserved
alter              alter
analyse            other           reserved
analyze            other           pspace reserved
and                other           expr pspace reserved
any                other           expr reserved
array              array           reserved
as                 as              pspace reserved
asc                other           reserved
asymmetric         other           expr reserved
authorization      other           reserved
backward           backward        expr
begin              begin
between            other           expr pspace
binary             other           reserved
both               other           reserved
by                 other           expr pspace
case               case            expr pspace reserved
cast               other           reserved
check              other           pspace reserved
close              close
collate            other           reserved
collation          other           reserved
column             other           reserved
comment            comment
commit             commit
concurrently       other           reserved
conflict           other           pspace
constraint         other           reserved
copy               copy            pspace
create             create          reserved
cross              other           reserved
current_catalog    other           reserved
current_date       other           reserved
current_role       other           reserved
current_schema     other           reserved
current_time       other           reserved
current_timestamp  other           reserved
current_user       other           reserved
deallocate         deallocate
declare            declare
default            default         expr pspace reserved
deferrable         other           reserved
delete             delete
desc               other           reserved
discard            discard
distinct           other           expr pspace reserved
do                 other           expr pspace reserved
drop               drop
else               other           expr pspace reserved
end                end             reserved
escape             other           expr
except             other           pspace reserved endsel
execute            execute
exists             other           expr pspace
explain            other           pspace
false              false           reserved
fetch              fetch           expr reserved endsel
filter             other           pspace
first              first
for                other           reserved endsel
foreign            other           reserved
forward            forward         expr
freeze             other           reserved
from               from            pspace reserved endsel
full               other           reserved
function           function
grant              grant           reserved
group              other           reserved endsel
having             other           expr pspace reserved endsel
ilike              other           expr pspace reserved
import             import          
in                 in              expr pspace reserved
include            other           pspace
increment          other           expr
initially          other           reserved
inner              other           reserved
insert             insert
intersect          other           pspace reserved endsel
into               other           pspace reserved endsel
is                 other           expr pspace reserved
isnull             other           reserved
join               other           pspace reserved
key                other           pspace
last               last
lateral            other           pspace reserved
leading            other           reserved
left               other           reserved
like               other           expr pspace reserved
limit              other           expr pspace reserved endsel
listen             listen
localtime          other           reserved
localtimestamp     other           reserved
maxvalue           other           expr
merge              merge
minvalue           other           expr
move               move            expr
natural            other           reserved
next               next
not                other           expr pspace reserved
notify             notify
notnull            other           reserved
null               null            reserved
offset             other           expr pspace reserved endsel
on                 other           expr pspace reserved
only               other           pspace reserved
or                 or              expr pspace reserved
order              other           reserved endsel
outer              other           reserved
over               other           pspace
overlaps           other           reserved
placing            other           reserved
prepare            prepare
primary            other           reserved
prior              prior
procedure          procedure
references         other           pspace reserved
refresh            refresh
reindex            reindex
relative           relative        expr
release            release
replace            replace
reset              reset
restart            other           expr
return             other           expr
returning          other           expr pspace reserved sel
revoke             revoke
right              other           reserved
rollback           rollback
savepoint          savepoint
security           security
select             select          expr pspace reserved sel
session_user       other           reserved
set                set             pspace
similar            other           expr reserved
some               other           expr reserved
start              start           expr
symmetric          other           expr reserved
system_user        other           reserved
table              table           pspace reserved
tablesample        other           reserved
then               other           expr pspace reserved
to                 to              expr pspace reserved
trailing           other           reserved
transaction        transaction
true               true            reserved
truncate           truncate
union              other           pspace reserved endsel
unique             other           pspace reserved
unlisten           unlisten
update             update
user               other           reserved
using              other           pspace reserved
vacuum             other           pspace
values             values          pspace
variadic           other           reserved
verbose            other           reserved
when               other           expr pspace reserved
where              other           expr pspace reserved endsel
window             other           pspace reserved endsel
with               with            expr pspace reserved
within             other           pspace
work               work
"""

TAILMUL = 0x9E3779B97F4A7C15  # fp_mix()'s multiplier
V_WORD = 0x9AE16A3B2F90404F   # fp_lex.h
M64 = (1 << 64) - 1


def pack(b):
    return int.from_bytes(b.ljust(8, b"\0"), "little")


def mix(h, v):
    h = ((h ^ v) * TAILMUL) & M64
    return h ^ (h >> 32)


def word_hash(w):
    """fp_word_hash() of a lower-case word"""
    b = w.encode()
    if len(b) <= 8:
        return mix(V_WORD ^ len(b), pack(b))
    h = V_WORD
    for k in range(0, len(b), 8):
        h = mix(h, pack(b[k:k + 8]))
    return mix(h, len(b))


def find_slots(hashes):
    """(bits, shift, slots): the top bits of the hash when an index of up
    to 8 KB does (one shift, no mask), else the smallest index"""
    tries = [(b, 64 - b) for b in range(11, 14)]
    tries += [(b, sh) for b in range(11, 17) for sh in range(0, 64 - b)]
    for bits, shift in tries:
        slots = [(h >> shift) & ((1 << bits) - 1) for h in hashes]
        if len(set(slots)) == len(slots):
            return bits, shift, slots
    raise SystemExit("no perfect hash: widen the index")


def main():
    rows = []
    for line in KEYWORDS.strip().splitlines():
        f = line.split()
        rows.append((f[0], f[1], f[2:]))
    assert len(rows) < 255 and all(len(w) <= 17 for w, _, _ in rows)
    # the normalizer's fast path for words tests sel/endsel without
    # reserved (tok_plain_word() looks at them only for reserved words)
    assert all("reserved" in f for _, _, f in rows if "sel" in f or "endsel" in f)
    bits, shift, slots = find_slots([word_hash(w) for w, _, _ in rows])
    out = sys.stdout
    out.write("/* fingerprint_kw.h: generated by src/analyzer/fingerprint_kwgen.py; do not edit.\n"
              " * Included by fp_lex.h for the constants, and by fp_lex.c (FP_KW_DATA\n"
              " * defined) for the tables. */\n")
    out.write("#ifndef PGSIFT_FINGERPRINT_KW_H\n#define PGSIFT_FINGERPRINT_KW_H\n")
    out.write("#define KW_BITS %d\n#define KW_SHIFT %d\n" % (bits, shift))
    out.write("#define KW_MAXLEN %d\n#define KW_COUNT %d\n\n" % (max(len(w) for w, _, _ in rows), len(rows)))
    out.write("#endif\n\n#if defined(FP_KW_DATA) && !defined(PGSIFT_FINGERPRINT_KW_DATA)\n"
              "#define PGSIFT_FINGERPRINT_KW_DATA\n")
    out.write("const struct fp_kw fp_kw_ents[KW_COUNT + 1] = {\n\t{0, 0, 0, 0, \"\"},\n")
    for w, ident, flags in rows:
        b = w.encode()
        fl = "|".join("KF_" + x.upper() for x in flags) or "0"
        out.write("\t{0x%016xULL, 0x%016xULL, KWV(KW_%s, %s), %d, \"%s\"},\n"
                  % (pack(b[:8]), pack(b[8:16]), ident.upper(), fl, len(b), w))
    out.write("};\n\nconst uint8_t fp_kw_index[1 << KW_BITS] = {\n")
    for s, n in sorted((s, n) for n, s in enumerate(slots)):
        out.write("\t[%d] = %d, /* %s */\n" % (s, n + 1, rows[n][0]))
    out.write("};\n#endif\n")


if __name__ == "__main__":
    main()
