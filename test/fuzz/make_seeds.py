#!/usr/bin/python3
"""Writes test/fuzz/fingerprint_seeds/: the fuzz target's seed corpus.

    /usr/bin/python3 test/fuzz/make_seeds.py

One file per input: every distinct statement shape of test/corpus/corpus.sql
up to 400 bytes (the first instance of each, found by its first 60 bytes
with digits removed; so a few hundred), a few multi-statement texts, and
the edge cases below (unterminated quotes and comments, every literal form,
deep nesting, long words, control bytes). The file names are stable, so a
re-run changes only what changed.
"""
import hashlib
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "fingerprint_seeds")

EDGE = [
    b"", b";", b";;  ;", b"--", b"/*", b"/* /* */", b"'", b"E'\\", b"\"", b"$", b"$$", b"$a$", b"$a$ $a",
    b"$1", b"$1abc", b"U&'", b"U&\"", b"U&'x' UESCAPE '!'", b"U&\"x\"\nUESCAPE '!'", b"x'", b"0x", b"0b", b"0o",
    b"1e", b"1e+", b"1.e5", b".5", b"1..2", b"1_000_", b"-", b"--x\n-1", b"- 1", b"a-1", b"(-1)",
    b"SELECT (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1",
    b"SELECT ARRAY[[[[[[1]]]]]", b"SELECT a::int[][]", b"SELECT 1 AS", b"SELECT 1 AS from",
    b"INSERT INTO t VALUES (1), (1), (2), (1)", b"INSERT INTO t VALUES (1, (2, 3)), (1, (2, 3))",
    b"SELECT * FROM t WHERE a IN (1, (2), ARRAY[3], $1::int, NULL, DEFAULT)",
    b"SAVEPOINT", b"RELEASE", b"ROLLBACK TO", b"EXECUTE p(", b"DEALLOCATE PREPARE ALL",
    b"SET TIME", b"SET TIME ZONE", b"SET SESSION AUTHORIZATION x", b"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    b"SET x TO a, 'b', 3, DEFAULT", b"FETCH", b"FETCH ALL IN c", b"MOVE -5 IN c", b"CLOSE ALL",
    b"CREATE TEMP TABLE", b"CREATE TEMP TABLE IF NOT EXISTS", b"PREPARE TRANSACTION 'x'",
    b"CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END; SELECT 2",
    b"CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC END; SELECT 1",
    b"SELECT \"" + b"x" * 70 + b"\"", b"SELECT " + b"y" * 300, b"SELECT \"a\"\"b\"", b"SELECT \"select\"",
    b"SELECT \"a\nb\"", b"SELECT \"a\x01b\", \x7f, \x00", b"SELECT '\xff\xfe', \xc3\xa9t\xc3\xa9",
    b"/*controller='x',action='y%20z',traceparent='00-1-2-01'*/ SELECT 1",
    b"/* a:b,c:d */ SELECT 1 /* second */", b"/*k='" + b"v" * 300 + b"'*/",
    b"SELECT a != b, a<>b, a =- 1, a @-@ b, a ||/ b, a::text:: int, :x, :=",
    b"WITH x AS (SELECT 1 AS a) SELECT a AS b FROM x RETURNING c AS d",
    b"SELECT 1; SELECT 'a;b'; /* ; */ SELECT $$;$$; SELECT \";\"",
    # found by the fuzzer: a NUL byte in the text; a noise word that the
    # display dropped and the text brought back
    b"SELECT \x00, \x01", b"\xd5\x9f!;SET SESSION SESSION time\x00mov\xe2\xe21, (2, ;I.6%%%",
]


def shapes(corpus):
    """The first statement of each shape in the corpus (split at ';\\n')."""
    seen = set()
    for stmt in re.split(rb";\n", corpus):
        stmt = stmt.strip()
        if not stmt or len(stmt) > 400:
            continue
        key = re.sub(rb"[0-9]+", b"", stmt)[:60]
        if key in seen:
            continue
        seen.add(key)
        yield stmt


def main():
    os.makedirs(OUT, exist_ok=True)
    corpus = open(os.path.join(TOP, "test", "corpus", "corpus.sql"), "rb").read()
    inputs = list(shapes(corpus)) + EDGE
    parts = corpus.split(b";\n")
    for k in range(0, 40, 4):  # a few multi-statement texts
        inputs.append(b";\n".join(p for p in parts[100 * k:100 * k + 4]))
    for data in inputs:
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(set(inputs)), OUT))


if __name__ == "__main__":
    main()
