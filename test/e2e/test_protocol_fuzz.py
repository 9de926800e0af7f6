"""Randomized bad input after login. Each case logs in with a raw socket and
sends a batch of simple- and extended-protocol messages built from valid
ones, then damaged: payload bytes changed, cut or stretched (the frame still
announcing its true length), counts and lengths inside Bind made wrong,
unknown statement and portal names, stray message types, and, in some cases,
a frame whose declared length is wrong.

Whatever a client sends, the pooler must answer with well-formed protocol
messages or close that client; a well-framed batch that ends in Sync gets
its ReadyForQuery or a close, never silence; every ErrorResponse carries a
SQLSTATE; the pooler never crashes (teardown fails on any sanitizer report
or a bad exit); and a client that connected before keeps getting its own
results, and nothing of theirs reaches the offender. Seeds:
PROTO_FUZZ_SEEDS (default 150)."""

import os
import random
import struct
import threading

import pytest

import wire
from harness import PASSWORDS

USER = "sift_trust"
SEEDS = int(os.environ.get("PROTO_FUZZ_SEEDS", "150"))

SQL = [
    "select $1::int + 1",
    "select 1",
    "select id, owner from sift_items where id = $1::int",
    "select pg_sleep(0)",
    "begin",
    "commit",
    "rollback",
    "PREPARE fz AS select 1",
    "EXECUTE fz",
    "DEALLOCATE fz",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "select 1/0",
    "select * from no_such_table",
    "set statement_timeout = 1000",
    "",
]
NAMES = ["", "", "s1", "s2", "pgsift_1", "x" * 70]


def cstr(s):
    return s.encode() + b"\0"


def parse_msg(rnd):
    types = [rnd.choice([0, 23, 25, 0xFFFFFFFF]) for _ in range(rnd.choice([0, 0, 1, 2]))]
    payload = cstr(rnd.choice(NAMES)) + cstr(rnd.choice(SQL)) + struct.pack("!H", len(types))
    payload += b"".join(struct.pack("!I", t) for t in types)
    return b"P", payload


def bind_msg(rnd):
    nparams = rnd.choice([0, 1, 1, 2])
    fmts = [rnd.choice([0, 1]) for _ in range(rnd.choice([0, 1, nparams]))]
    payload = cstr(rnd.choice(["", "", "p1"])) + cstr(rnd.choice(NAMES))
    payload += struct.pack("!H", len(fmts)) + b"".join(struct.pack("!H", f) for f in fmts)
    payload += struct.pack("!H", nparams)
    for _ in range(nparams):
        v = rnd.choice([b"1", b"42", b"-7", b"abc", b"\x00\x00\x00\x01"])
        if rnd.random() < 0.1:
            payload += struct.pack("!i", -1)          # NULL
        else:
            payload += struct.pack("!i", len(v)) + v
    payload += struct.pack("!H", 0)
    return b"B", payload


def damage_bind(rnd, payload):
    """Counts and lengths inside Bind that do not match what follows."""
    k = rnd.randrange(4)
    if k == 0:
        return payload + struct.pack("!H", 0xFFFF)                   # trailing count
    if k == 1:
        return payload[:-2] + struct.pack("!H", 0xFFFF)              # huge result-format count
    if k == 2:
        return payload + struct.pack("!i", rnd.choice([-2, -100, 0x7FFFFFFF]))
    return payload[: rnd.randrange(len(payload) + 1)]


def other_msg(rnd):
    k = rnd.randrange(9)
    if k == 0:
        return b"D", rnd.choice([b"S", b"P", b"X", b""]) + cstr(rnd.choice(NAMES + ["p1"]))
    if k == 1:
        return b"C", rnd.choice([b"S", b"P", b"Q"]) + cstr(rnd.choice(NAMES + ["p1"]))
    if k == 2:
        return b"E", cstr(rnd.choice(["", "p1", "nope"])) + struct.pack("!i", rnd.choice([0, 1, -1, 5]))
    if k == 3:
        return b"H", b""
    if k == 4:
        return b"S", b""
    if k == 5:
        return b"Q", cstr(rnd.choice(SQL[:-1]) + rnd.choice(["", "; select 2", ";"]))
    if k == 6:
        return b"F", struct.pack("!IHHI", rnd.randrange(1 << 16), 0, 0, 0)
    if k == 7:
        return rnd.choice([b"d", b"c", b"f"]), b"stray copy data"
    return rnd.choice([b"z", b"\x00", b"p"]), bytes(rnd.randrange(256) for _ in range(rnd.randrange(8)))


def batch(rnd):
    """[(type, payload)], and whether the frames announce their true lengths."""
    msgs = []
    for _ in range(rnd.randrange(1, 9)):
        r = rnd.random()
        if r < 0.3:
            msgs.append(parse_msg(rnd))
        elif r < 0.55:
            t, p = bind_msg(rnd)
            if rnd.random() < 0.3:
                p = damage_bind(rnd, p)
            msgs.append((t, p))
        else:
            msgs.append(other_msg(rnd))
    for i, (t, p) in enumerate(msgs):
        r = rnd.random()
        if r < 0.15 and p:                                            # a byte changed
            j = rnd.randrange(len(p))
            p = p[:j] + bytes([rnd.randrange(256)]) + p[j + 1:]
        elif r < 0.25:                                                # cut
            p = p[: rnd.randrange(len(p) + 1)]
        elif r < 0.3:                                                 # stretched
            p = p + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
        msgs[i] = (t, p)
    if rnd.random() < 0.8:
        msgs.append((b"S", b""))
    return msgs


def frame(rnd, msgs, honest):
    out = b""
    for t, p in msgs:
        length = 4 + len(p)
        if not honest and rnd.random() < 0.3:
            length = rnd.choice([0, 3, 4, length - 1, length + 1, length + 1000, 70000])
        out += t + struct.pack("!I", length & 0xFFFFFFFF) + p
    return out


def read_replies(raw, timeout, probe=None):
    """Messages until the socket's close, silence for timeout seconds, or
    (probe) the ReadyForQuery after a DataRow holding probe; every one must
    be framed well and every ErrorResponse carry a SQLSTATE."""
    got, seen_probe = [], False
    while True:
        try:
            t, payload = raw.read_msg(timeout=timeout)
        except wire.Closed:
            return got, "closed"
        except TimeoutError:
            return got, "silent"
        got.append((t, payload))
        if t == b"E":
            fields = wire.parse_error_fields(payload)
            assert len(fields.get("C", "")) == 5, f"ErrorResponse without a SQLSTATE: {fields}"
        if probe and t == b"D" and probe.encode() in payload:
            seen_probe = True
        if t == b"Z" and seen_probe:
            return got, "answered"


@pytest.mark.timeout(150 + SEEDS)
def test_random_bad_input_after_login(pooler):
    p = pooler(max_packet_size=65536, pool_mode="transaction", default_pool_size=3)
    good = p.connect()
    other = p.connect()
    rnd_good = random.Random(7)
    outcomes = {}
    for seed in range(SEEDS):
        rnd = random.Random(seed)
        msgs = batch(rnd)
        honest = rnd.random() < 0.75
        with wire.RawConn(p.host, p.port, timeout=10) as raw:
            raw.startup(USER, "siftdb", PASSWORDS[USER])
            raw.send(frame(rnd, msgs, honest))
            if honest and msgs[-1][0] == b"S":
                # the stream is in step: a query after it must be answered
                # (or the client closed), never left waiting
                probe = f"probe-{seed}"
                try:
                    raw.send(wire.message(b"Q", cstr(f"rollback; select '{probe}'")))
                except OSError:
                    pass  # already closed by the pooler
                got, how = read_replies(raw, 20, probe)
                assert how in ("answered", "closed"), (
                    f"seed {seed}: a query after a well-framed batch ending in Sync was not "
                    f"answered and the client not closed ({how}); sent {msgs}, got {got}")
            else:
                got, how = read_replies(raw, 0.5)
            outcomes[how] = outcomes.get(how, 0) + 1
            # nothing of the other clients' reached this one
            assert not any(b"good-" in pl or b"other-" in pl for _, pl in got), f"seed {seed}: {got}"
        # the clients that were there keep getting their own results
        n = rnd_good.randrange(1, 100)
        assert good.execute("select %s::text", (f"good-{seed}-{n}",)).fetchone() == (f"good-{seed}-{n}",), \
            f"seed {seed}"
        assert other.execute("select 'other-' || id from sift_items where id = %s", (n,)).fetchone() == \
            (f"other-{n}",), f"seed {seed}"
    print(f"outcomes: {outcomes}")
    # both kinds of ending were exercised
    assert outcomes.get("answered", 0) > SEEDS // 10 and outcomes.get("closed", 0) > 0, outcomes
    # and a new client can still log in and work
    fresh = p.connect()
    assert fresh.execute("select count(*) from sift_items").fetchone()[0] >= 100


@pytest.mark.timeout(150 + SEEDS)
def test_random_bad_input_alongside_busy_clients(pooler):
    """The same batches from four offenders at once, on a pool of two
    servers shared with four well-behaved clients, each checking that every
    result it gets is its own."""
    p = pooler(max_packet_size=65536, pool_mode="transaction", default_pool_size=2)
    errors = []
    stop = threading.Event()

    def offender(k):
        try:
            for seed in range(k, SEEDS, 4):
                rnd = random.Random(10_000 + seed)
                msgs = batch(rnd)
                with wire.RawConn(p.host, p.port, timeout=10) as raw:
                    raw.startup(USER, "siftdb", PASSWORDS[USER])
                    try:
                        raw.send(frame(rnd, msgs, rnd.random() < 0.75))
                    except OSError:
                        continue
                    got, _ = read_replies(raw, 0.3)
                    if any(b"bystander-" in pl for _, pl in got):
                        errors.append(f"offender {k} seed {seed} got a bystander's data: {got}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"offender {k}: {e!r}")

    def bystander(k):
        conn = p.connect()
        rnd = random.Random(k)
        try:
            while not stop.is_set():
                n = rnd.randrange(1, 100)
                tag = f"bystander-{k}-{n}"
                if rnd.random() < 0.5:
                    row = conn.execute("select %s::text, id from sift_items where id = %s", (tag, n)).fetchone()
                    want = (tag, n)
                else:
                    with conn.transaction():
                        conn.execute("select pg_sleep(0.001)")
                        row = conn.execute("select %s::text, %s::int", (tag, n)).fetchone()
                    want = (tag, n)
                if row != want:
                    errors.append(f"bystander {k} got {row}, wanted {want}")
                    return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"bystander {k}: {e!r}")

    helpers = [threading.Thread(target=bystander, args=(k,)) for k in range(4)]
    offenders = [threading.Thread(target=offender, args=(k,)) for k in range(4)]
    for t in helpers + offenders:
        t.start()
    for t in offenders:
        t.join()
    stop.set()
    for t in helpers:
        t.join()
    assert not errors, errors[:5]
    fresh = p.connect()
    assert fresh.execute("select count(*) from sift_items").fetchone()[0] >= 100
