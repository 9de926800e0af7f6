"""A raw-socket PostgreSQL v3 client, for input that real drivers never send.

Only what the bad-input tests need: startup (trust, cleartext, md5 and
SCRAM-SHA-256 authentication), simple queries, raw bytes, and reading
messages until the peer closes the connection."""

import base64
import hashlib
import hmac
import os
import socket
import struct
import time

PROTO_V3 = 196608          # 3.0
PROTO_V2 = 0x00020000      # 2.0
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class ServerError(Exception):
    """An ErrorResponse; .fields maps field codes ('C', 'M', 'S', ...) to text."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__(f"{fields.get('C')}: {fields.get('M')}")

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def message(self):
        return self.fields.get("M", "")


class Closed(Exception):
    pass


def startup_packet(params, version=PROTO_V3):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def request_packet(code):
    return struct.pack("!II", 8, code)


def message(type_byte, payload=b""):
    return type_byte + struct.pack("!I", len(payload) + 4) + payload


def parse_error_fields(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


class RawConn:
    def __init__(self, host, port, timeout=30.0, source=None):
        """source: local address to connect from (127.0.0.2 and so on make
        other client addresses on Linux's loopback)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        self.buf = b""
        self.backend_key = None
        self.params = {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending
    def send(self, data):
        self.sock.sendall(data)

    def send_msg(self, type_byte, payload=b""):
        self.send(message(type_byte, payload))

    # -- receiving
    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no data from peer before the deadline")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed(f"peer closed the connection ({len(self.buf)} bytes pending)")
            self.buf += chunk

    def read_bytes(self, n, timeout=None):
        self._fill(n, time.monotonic() + (timeout or self.timeout))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_msg(self, timeout=None):
        """(type byte, payload).  Raises Closed at EOF, TimeoutError on silence."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._fill(5, deadline)
        t = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        if length < 4 or length > 1 << 30:
            raise ValueError(f"bad length {length} in message {t!r} from peer")
        self._fill(1 + length, deadline)
        payload = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return t, payload

    def read_until_closed(self, timeout=None):
        """Read everything until the peer closes; returns (messages, closed).

        messages are (type, payload) pairs; a protocol-2 style error ('E'
        followed by a NUL-terminated string instead of a length) is returned
        as (b'E2', text).  closed is False when the deadline passed first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        msgs = []
        while True:
            try:
                self._fill(1, deadline)
                if self.buf[:1] == b"E" and len(self.buf) >= 5:
                    (length,) = struct.unpack("!I", self.buf[1:5])
                    if length > 1 << 20:   # not a length: v2 error text
                        self._fill_until_nul(deadline)
                        end = self.buf.index(b"\0")
                        msgs.append((b"E2", self.buf[1:end].decode(errors="replace")))
                        self.buf = self.buf[end + 1:]
                        continue
                self._fill(5, deadline)
                (length,) = struct.unpack("!I", self.buf[1:5])
                if length < 4 or length > 1 << 30:
                    msgs.append((b"?", self.buf))
                    self.buf = b""
                    continue
                self._fill(1 + length, deadline)
                msgs.append((self.buf[:1], self.buf[5:1 + length]))
                self.buf = self.buf[1 + length:]
            except Closed:
                if self.buf:
                    msgs.append((b"?", self.buf))
                    self.buf = b""
                return msgs, True
            except TimeoutError:
                return msgs, False

    def _fill_until_nul(self, deadline):
        while b"\0" not in self.buf[1:]:
            self._fill(len(self.buf) + 1, deadline)

    # -- high level
    def startup(self, user, database, password=None, extra=None, version=PROTO_V3):
        """Log in; returns the messages up to ReadyForQuery.

        Raises ServerError on an ErrorResponse during login."""
        params = {"user": user, "database": database}
        params.update(extra or {})
        self.send(startup_packet(params, version))
        return self.finish_login(user, password)

    def finish_login(self, user, password):
        msgs = []
        scram = None
        while True:
            t, payload = self.read_msg()
            msgs.append((t, payload))
            if t == b"E":
                raise ServerError(parse_error_fields(payload))
            if t == b"R":
                (code,) = struct.unpack("!I", payload[:4])
                if code == 0:
                    continue
                if code == 3:      # cleartext
                    self.send_msg(b"p", (password or "").encode() + b"\0")
                elif code == 5:    # md5
                    salt = payload[4:8]
                    inner = hashlib.md5(((password or "") + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send_msg(b"p", b"md5" + outer.encode() + b"\0")
                elif code == 10:   # SASL
                    mechs = payload[4:].split(b"\0")
                    if b"SCRAM-SHA-256" not in mechs:
                        raise AssertionError(f"no SCRAM-SHA-256 in {mechs}")
                    scram = _ScramClient(password or "")
                    first = scram.client_first()
                    self.send_msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
                elif code == 11:   # SASL continue
                    self.send_msg(b"p", scram.client_final(payload[4:]))
                elif code == 12:   # SASL final
                    scram.verify_server_final(payload[4:])
                else:
                    raise AssertionError(f"unsupported auth request {code}")
            elif t == b"K":
                self.backend_key = struct.unpack("!II", payload[:8])
            elif t == b"S":
                k, v, _ = payload.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif t == b"Z":
                return msgs

    def query(self, sql):
        """Simple query; returns (rows, error fields or None).  rows are lists of str."""
        self.send_msg(b"Q", sql.encode() + b"\0")
        rows, err = [], None
        while True:
            t, payload = self.read_msg()
            if t == b"D":
                (n,) = struct.unpack("!H", payload[:2])
                pos, row = 2, []
                for _ in range(n):
                    (ln,) = struct.unpack("!i", payload[pos:pos + 4])
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos:pos + ln].decode())
                        pos += ln
                rows.append(row)
            elif t == b"E":
                err = parse_error_fields(payload)
            elif t == b"Z":
                return rows, err


def errors_in(msgs):
    """ErrorResponse field dicts among messages from read_until_closed()."""
    out = []
    for t, payload in msgs:
        if t == b"E":
            out.append(parse_error_fields(payload))
        elif t == b"E2":
            out.append({"M": payload, "v2": "1"})
    return out


class _ScramClient:
    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"

    def client_first(self):
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise AssertionError("server nonce does not extend ours")
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.auth_message = auth_message
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, data):
        attrs = dict(kv.split("=", 1) for kv in data.decode().split(","))
        expected = hmac.new(self.server_key, self.auth_message, hashlib.sha256).digest()
        if base64.b64decode(attrs.get("v", "")) != expected:
            raise AssertionError("server SCRAM signature does not verify")
