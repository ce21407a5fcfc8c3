"""A bearer-token gate in front of the test MLflow server, on loopback: what a tracking server
behind an authenticating proxy looks like to the client. Requests without
``Authorization: Bearer <token>`` get 401; the others are forwarded as they came. It counts
both, so a test can prove the credentials reached the process that logged the run."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class GateCounts:
    allowed: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, allowed: bool) -> None:
        with self.lock:
            if allowed:
                self.allowed += 1
            else:
                self.refused += 1


@dataclass(frozen=True)
class TokenGate:
    uri: str
    counts: GateCounts


def _handler(upstream: str, token: str, counts: GateCounts) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != f"Bearer {token}":
                counts.add(False)
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            counts.add(True)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Handler


@contextmanager
def token_gate(upstream: str, token: str) -> Iterator[TokenGate]:
    """Serve the gate on 127.0.0.1 (a free port) while the block runs."""
    counts = GateCounts()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, token, counts))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TokenGate(f"http://127.0.0.1:{server.server_address[1]}", counts)
    finally:
        server.shutdown()
        server.server_close()
