#!/usr/bin/python3
"""Writes test/fuzz/client_seeds/: seed inputs of the client fuzz target
(test/fuzz/fuzz_client.c), one file per case, each a settings byte and a
sequence of operations in the target's encoding:

    op 0x00-0x9f   a message: op % 12 selects Query, Parse, Bind, Describe,
                   Execute, Close, Sync, Flush, FunctionCall, COPY data/done/fail,
                   raw bytes; its fields follow (dictionary indexes, sizes)
    op 0xa0-0xaf   write what was built, in chunks (op & 15 selects the size)
    op 0xb0/0xb1   the client stops / starts reading
    op 0xc0        a cancel request for the client
    op 0xd0-0xd3   the fake server fails the next 1-4 messages
    op 0xe0        the fake server goes away at its next message
    op 0xf0        run the loop

    /usr/bin/python3 test/fuzz/make_client_seeds.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "client_seeds")

# settings: bits 0-1 max_prepared_statements (0, 1, 3, 200); bit 2 session;
# bit 3 statement mode; bits 4-5 final chunk size; bit 6 pool size 2
TX200, TX1, TX3, SESSION, STATEMENT = 3, 1, 2, 3 | 4, 3 | 8

Q, P, B, D, E, C, S, H, F, COPY, RAW = range(11)
TEXT = {"select": 0, "param": 1, "begin": 2, "commit": 3, "rollback": 4, "err": 5, "empty": 6,
        "dealloc_all": 7, "dealloc_s1": 8, "discard": 9, "prepare": 10, "execute": 11, "internal": 12,
        "internal_dealloc": 13, "semicolon": 14, "copy": 15, "comment": 16, "do": 17, "set": 18,
        "prepare_txn": 19, "cr_comment": 20, "line_comment": 21}
NAME = {"": 0, "s1": 1, "s2": 2, "S1": 3, "pgsift_1": 4, "pgsift_check": 5, "s3": 6, "p1": 7}


def q(text):
    return bytes([Q, TEXT[text]])


def q_long(size_units, flags=0):
    """a long text: flags 1 EXECUTE head, 2 ';' filler, 4 internal tail"""
    return bytes([Q, 0xf0 | flags, size_units >> 8, size_units & 255])


def parse(name, text, ntypes=0):
    return bytes([P, NAME[name], TEXT[text], ntypes])


def parse_long(name, size_units, flags=0):
    return bytes([P, NAME[name], 0xf0 | flags, size_units >> 8, size_units & 255, 0])


def bind(stmt, portal=False, nparams=0, big=0):
    out = bytes([B, 1 if portal else 0, NAME[stmt], nparams])
    for _ in range(nparams):
        out += bytes([0x80, big >> 8, big & 255]) if big else bytes([0])
    return out


def describe(kind, name):
    return bytes([D, 1 if kind == "P" else 0, NAME[name]])


def execute(portal=False, one=False):
    return bytes([E, 1 if portal else 0, 1 if one else 0])


def close(kind, name):
    return bytes([C, 1 if kind == "P" else 0, NAME[name]])


SYNC, FLUSH, FCALL = bytes([S]), bytes([H]), bytes([F])
SEND, SEND_BYTES, SEND_BIG = b"\xa7", b"\xa0", b"\xaf"
PAUSE, RESUME, CANCEL, FAIL, DROP, RUN = b"\xb0", b"\xb1", b"\xc0", b"\xd0", b"\xe0", b"\xf0"

SEEDS = {
    "query": bytes([TX200]) + q("select") + SEND,
    "pipeline_named": bytes([TX200]) + parse("s1", "param", 1) + bind("s1", nparams=1) + execute() + SYNC
        + bind("s1", nparams=1) + execute() + SYNC + SEND,
    "two_names_one_text": bytes([TX200]) + parse("s1", "select") + parse("s2", "select") + describe("S", "s2")
        + SYNC + bind("s2") + execute() + close("S", "s1") + SYNC + SEND,
    "error_skips_to_sync": bytes([TX200]) + parse("s1", "err") + bind("s1") + execute() + SYNC
        + parse("s1", "select") + bind("s1") + execute() + SYNC + SEND,
    "name_taken": bytes([TX200]) + parse("s1", "select") + parse("s1", "param") + SYNC + SEND,
    "eviction": bytes([TX1]) + parse("s1", "select") + parse("s2", "param", 1) + SYNC + bind("s1") + execute()
        + SYNC + bind("s2", nparams=1) + execute() + SYNC + SEND,
    "transaction": bytes([TX200]) + q("begin") + parse("s1", "select") + bind("s1") + execute() + SYNC
        + q("err") + q("rollback") + SEND,
    "sql_prepare_refused": bytes([TX200]) + q("prepare") + q("execute") + q("internal") + q("internal_dealloc")
        + q("cr_comment") + SEND,
    "dealloc_and_discard": bytes([TX200]) + parse("s1", "select") + SYNC + q("dealloc_s1") + q("dealloc_all")
        + parse("s1", "select") + SYNC + q("discard") + bind("s1") + SYNC + SEND,
    "byte_by_byte": bytes([TX200]) + parse("s1", "param", 1) + bind("s1", nparams=1) + describe("P", "")
        + execute(one=True) + FLUSH + SYNC + SEND_BYTES,
    "long_query_streams": bytes([TX200]) + q_long(20000) + q("select") + SEND_BIG,
    "long_query_refused": bytes([TX200]) + q_long(20000, 1) + q_long(20000, 6) + q("select") + SEND_BIG,
    "long_parse": bytes([TX200]) + parse_long("", 20000) + bind("") + execute() + SYNC
        + parse_long("s1", 20000) + SYNC + SEND_BIG,
    "long_parse_refused": bytes([TX200]) + parse_long("", 20000, 5) + SYNC + SEND_BIG,
    "big_bind": bytes([TX200]) + parse("s1", "param", 1) + bind("s1", nparams=2, big=19000) + execute() + SYNC
        + SEND_BIG,
    "slow_reader": bytes([TX200]) + PAUSE + (parse("s1", "select") + bind("s1") + execute() + SYNC) * 40 + SEND
        + RUN + RESUME + RUN,
    "cancel_waiting": bytes([TX200]) + q("begin") + SEND + CANCEL + q("select") + SEND + RUN,
    "server_fails": bytes([TX200]) + FAIL + parse("s1", "select") + bind("s1") + execute() + SYNC + q("select")
        + SEND,
    "server_goes_away": bytes([TX200]) + parse("s1", "select") + SYNC + SEND + DROP + bind("s1") + execute()
        + SYNC + SEND,
    "session_mode": bytes([SESSION]) + parse("s1", "select") + bind("s1") + execute() + SYNC + q("prepare")
        + q("execute") + SEND,
    "statement_mode": bytes([STATEMENT]) + q("begin") + q("select") + SEND,
    "function_and_copy": bytes([TX200]) + FCALL + bytes([COPY, 0]) + bytes([COPY, 1]) + bytes([COPY, 2]) + SYNC
        + SEND,
    "raw_garbage": bytes([TX200]) + bytes([RAW, 5, ord("S"), 0, 0, 0, 4]) + bytes([RAW, 5, ord("Z"), 0, 0, 0, 3])
        + SEND,
    "no_prepared": bytes([0]) + parse("s1", "select") + bind("s1") + execute() + SYNC + SEND,
    "unnamed_and_portals": bytes([TX3]) + parse("", "param", 1) + bind("", portal=True, nparams=1)
        + describe("P", "p1") + execute(portal=True) + close("P", "p1") + close("S", "") + SYNC + SEND,
}


def main():
    # found_* files are inputs on which the target once found a bug; they
    # are kept as they are and this script leaves them alone
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
