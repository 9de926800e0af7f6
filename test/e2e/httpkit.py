"""Small clients for pgsift's HTTP listener, used by the e2e tests: GET over
urllib, raw sockets for malformed requests, and a parser of the Prometheus
text format (enough for what pgsift writes: no timestamps, no exemplars)."""

import base64
import json
import re
import socket
import urllib.error
import urllib.request

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def get(port, path, headers=None, auth=None, host="127.0.0.1", timeout=10, scheme="http", context=None):
    """(status, headers, body bytes) of GET path; HTTP errors are returned,
    not raised."""
    req = urllib.request.Request(f"{scheme}://{host}:{port}{path}", headers=dict(headers or {}))
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(port, path, **kw):
    status, _, body = get(port, path, **kw)
    return status, json.loads(body)


def raw(port, data, timeout=10, host="127.0.0.1"):
    """Sends bytes as they are and returns everything the server answers
    until it closes (or the timeout)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        return out


def status_of(answer):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(m.group(1)) if m else None


def unescape(v):
    return v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse(text):
    """[(name, {label: value}, float)] of every sample; asserts each line is
    a comment or a well-formed sample."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"malformed sample line: {line!r}"
        labels = {k: unescape(v) for k, v in LABEL_RE.findall(m.group(3) or "")}
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def pick(samples, metric, **labels):
    """Samples named metric whose labels include the given ones."""
    return [s for s in samples if s[0] == metric and all(s[1].get(k) == v for k, v in labels.items())]


def value(samples, metric, **labels):
    got = pick(samples, metric, **labels)
    assert len(got) == 1, f"{metric}{labels}: {len(got)} samples: {got[:5]}"
    return got[0][2]


def metrics(port, **kw):
    status, headers, body = get(port, "/metrics", **kw)
    assert status == 200, (status, body[:300])
    return parse(body.decode())
