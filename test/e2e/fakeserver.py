"""A fake PostgreSQL server, for server behaviour a real PostgreSQL never shows.

It listens on 127.0.0.1 (a free port) in a thread of the test process and
serves each connection in a thread of its own: it answers an SSLRequest
with 'N' (a server without TLS), reads the startup packet,
sends `login_reply(conn)` (by default AuthenticationOk, the ParameterStatus
messages a PostgreSQL 15 sends, BackendKeyData and ReadyForQuery), then
answers every simple Query with `on_query(conn, sql)`: bytes to send, or None
for the default answer (one row with one int4 column "1", or "SET" for a SET).
Extended-protocol messages get minimal well-formed replies.  A connection
stays open until the peer closes it or the server is closed.

    with FakeServer(on_query=...) as fs:
        databases={"fake": f"host=127.0.0.1 port={fs.port} dbname=fake"}
"""

import socket
import struct
import threading

PARAMETERS = (
    ("server_version", "15.0"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("TimeZone", "UTC"),
    ("IntervalStyle", "postgres"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("application_name", ""),
    ("is_superuser", "off"),
    ("session_authorization", "fake"),
)


def msg(type_byte, payload=b""):
    return type_byte + struct.pack("!I", len(payload) + 4) + payload


def ready(status=b"I"):
    return msg(b"Z", status)


def auth_ok():
    return msg(b"R", struct.pack("!I", 0))


def parameter_status(name, value):
    return msg(b"S", name.encode() + b"\0" + value.encode() + b"\0")


def notification(pid, channel, payload=""):
    return msg(b"A", struct.pack("!I", pid) + channel.encode() + b"\0" + payload.encode() + b"\0")


def one_row(value="1", column="x"):
    """RowDescription (one int4 text column), DataRow, CommandComplete."""
    rd = (struct.pack("!H", 1) + column.encode() + b"\0"
          + struct.pack("!IHIhih", 0, 0, 23, 4, -1, 0))
    v = value.encode()
    return (msg(b"T", rd) + msg(b"D", struct.pack("!Hi", 1, len(v)) + v)
            + msg(b"C", b"SELECT 1\0"))


def default_login(conn):
    out = auth_ok()
    for k, v in PARAMETERS:
        out += parameter_status(k, v)
    out += msg(b"K", struct.pack("!II", 4242 + conn.number, 5678))
    return out + ready()


def default_answer(sql):
    if sql.lstrip().lower().startswith(("set ", "reset ", "discard ")):
        tag = sql.split()[0].upper().encode()
        if tag == b"DISCARD":
            tag = b"DISCARD ALL"
        return msg(b"C", tag + b"\0") + ready()
    return one_row() + ready()


class FakeConn:
    def __init__(self, server, sock, number):
        self.server = server
        self.sock = sock
        self.number = number          # 0 for the first connection, 1, ...
        self.queries = []             # simple-query texts received, in order
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read_startup(self):
        self._fill(4)
        (n,) = struct.unpack("!I", self.buf[:4])
        self._fill(n)
        body, self.buf = self.buf[4:n], self.buf[n:]
        return body

    def read_msg(self):
        self._fill(5)
        t = self.buf[:1]
        (n,) = struct.unpack("!I", self.buf[1:5])
        self._fill(1 + n)
        payload, self.buf = self.buf[5:1 + n], self.buf[1 + n:]
        return t, payload

    def serve(self):
        (code,) = struct.unpack("!I", self.read_startup()[:4])
        while code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: no, as a server without TLS
            self.send(b"N")
            (code,) = struct.unpack("!I", self.read_startup()[:4])
        if code != 196608:
            return
        self.send(self.server.login_reply(self))
        while True:
            t, payload = self.read_msg()
            if t == b"X":
                return
            if t == b"Q":
                sql = payload.rstrip(b"\0").decode(errors="replace")
                self.queries.append(sql)
                out = self.server.on_query(self, sql)
                self.send(default_answer(sql) if out is None else out)
            elif t in (b"P", b"B", b"D", b"E", b"C", b"S"):
                self.send({b"P": msg(b"1"), b"B": msg(b"2"), b"D": msg(b"n"),
                           b"E": msg(b"C", b"SELECT 0\0"), b"C": msg(b"3"),
                           b"S": ready()}[t])


class FakeServer:
    def __init__(self, on_query=None, login_reply=None):
        self.on_query = on_query or (lambda conn, sql: None)
        self.login_reply = login_reply or default_login
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.errors = []              # unexpected exceptions in handlers
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self.closed:
                    sock.close()
                    return
                conn = FakeConn(self, sock, len(self.conns))
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.serve()
        except (EOFError, OSError):
            pass
        except Exception as e:   # noqa: BLE001 - reported by the test
            self.errors.append(e)
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def close(self):
        with self.lock:
            self.closed = True
            conns = list(self.conns)
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
