"""A small OTLP/HTTP JSON receiver for the tracing tests: what a collector
does, enough to check what pgsift (and an instrumented application) send.

Receiver(port=None): start() serves POST /v1/traces on 127.0.0.1; every
accepted body is kept (decoded JSON). mode: "ok" (200), "slow" (answers
200 after `delay` seconds), "fail" (answers `code`, with Retry-After when
retry_after is set). spans() flattens what came in: one dict per span with
its resource's service.name, ids, name, attributes as a plain dict, events
and links."""

import gzip
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port, wait_for


def _value(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    return v


def attrs(lst):
    return {a["key"]: _value(a["value"]) for a in lst or []}


class Receiver:
    def __init__(self, port=None, mode="ok", delay=5.0, code=503, retry_after=None, tls=None):
        self.port = port or free_port()
        self.mode, self.delay, self.code, self.retry_after = mode, delay, code, retry_after
        self.bodies = []
        self.requests = 0
        self.content_types = set()
        self.lock = threading.Lock()
        self.httpd = None
        self.tls = tls  # (certfile, keyfile): https

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1/traces"

    def start(self):
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length", "0")))
                out = b""
                while True:  # the OpenTelemetry JS exporter sends chunks
                    n = int(self.rfile.readline().split(b";")[0], 16)
                    out += self.rfile.read(n)
                    self.rfile.readline()
                    if n == 0:
                        return out

            def do_POST(self):
                body = self.body()
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with rx.lock:
                    rx.requests += 1
                    rx.content_types.add(self.headers.get("Content-Type", ""))
                if rx.mode == "slow":
                    time.sleep(rx.delay)
                if rx.mode == "fail":
                    self.send_response(rx.code)
                    if rx.retry_after is not None:
                        self.send_header("Retry-After", str(rx.retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with rx.lock:
                    rx.bodies.append(json.loads(body))
                    if os.environ.get("OTLP_DUMP"):  # to look at what came (doc/tracing.md's example)
                        with open(os.environ["OTLP_DUMP"], "ab") as f:
                            f.write(body + b"\n")
                out = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def spans(self, service=None):
        out = []
        with self.lock:
            bodies = list(self.bodies)
        for b in bodies:
            for rs in b.get("resourceSpans", []):
                res = attrs(rs.get("resource", {}).get("attributes"))
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        d = dict(sp)
                        d["service"] = res.get("service.name")
                        d["resource"] = res
                        d["attrs"] = attrs(sp.get("attributes"))
                        d["events"] = [dict(e, attrs=attrs(e.get("attributes"))) for e in sp.get("events", [])]
                        if service is None or d["service"] == service:
                            out.append(d)
        return out

    def wait_spans(self, service, pred=lambda spans: bool(spans), timeout=30):
        return wait_for(lambda: (lambda s: s if pred(s) else None)(self.spans(service)), timeout=timeout,
                        what=f"spans of {service}")
