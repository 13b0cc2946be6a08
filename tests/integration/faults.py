"""An S3 proxy in front of SeaweedFS that injects faults: error answers, or requests that hang.

The proxy forwards every request verbatim (headers included, so SigV4 signatures still match)
unless its ``policy`` says otherwise for that request::

    with FaultProxy(seaweed.endpoint, policy) as proxy:
        point the remote at proxy.endpoint ...

``policy(method, path, attempt)`` returns None to forward, ``("error", status, code)`` to
answer with an S3 error document, or ``"hang"`` to read the request and never answer (until
the proxy closes).  ``attempt`` counts the requests with that method and path so far (1 for
the first), so "fail the first attempt of every upload" is ``attempt == 1``.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

Decision = tuple[str, int, str] | str | None
Policy = Callable[[str, str, int], Decision]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class FaultProxy:
    """A threaded HTTP proxy to one upstream S3 endpoint; a context manager."""

    def __init__(self, upstream: str, policy: Policy) -> None:
        self.upstream = urlsplit(upstream)
        self.policy = policy
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str, str]] = []
        #: (method, path, Range header or None) of every request.
        self.ranges: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _decide(self, method: str, path: str, range_header: str | None = None) -> Decision:
        key = (method, path.split("?", 1)[0])
        with self._lock:
            self.ranges.append((method, path, range_header))
            self.attempts[key] += 1
            decision = self.policy(method, path, self.attempts[key])
            self.log.append((method, path, repr(decision)))
        return decision

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                decision = proxy._decide(self.command, self.path, self.headers.get("Range"))
                if decision == "hang":
                    proxy._closing.wait()
                    self.close_connection = True
                    return
                if isinstance(decision, tuple):
                    _, status, code = decision
                    document = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                                f"<Message>injected by the test proxy</Message></Error>").encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(document)))
                    self.end_headers()
                    self.wfile.write(document)
                    return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.endheaders(body if body else None)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler
