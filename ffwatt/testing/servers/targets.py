"""Small misbehaving HTTP targets on loopback, for the health checker's tests and bench:

    with FakeHttp({"/metrics": Route(500, b"boom")}) as srv: srv.url + "/metrics"
    with SilentServer() as srv: ...          # accepts, never answers
    with SilentServer(trickle=True) as srv:  # answers headers, then one byte now and then

Each server runs in daemon threads and closes every connection it holds on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = TEXT
    delay: float = 0.0  # seconds before answering
    headers: tuple[tuple[str, str], ...] = ()  # more response headers, e.g. (("Location", url),)


class FakeHttp:
    """A threading HTTP server answering GETs from a path -> Route table (404 otherwise)."""

    def __init__(self, routes: dict[str, Route], port: int = 0):
        self.routes = dict(routes)
        self.requests: list[str] = []
        self.request_headers: list[dict[str, str]] = []  # of each request, in order
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                outer.requests.append(path)
                outer.request_headers.append(dict(self.headers))
                route = outer.routes.get(path, Route(404, b"not found\n"))
                if route.delay:
                    time.sleep(route.delay)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format, *args):  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHttp:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts connections and never completes an answer.

    trickle=False: never sends a byte. trickle=True: sends a 200 status line and headers
    announcing a large body, then one byte every `interval` seconds, forever: each socket
    read succeeds, so only a deadline on the whole probe stops it."""

    def __init__(self, *, trickle: bool = False, interval: float = 0.1):
        self.trickle = trickle
        self.interval = interval
        self.accepted = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            if self.trickle:
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(self.interval):
                conn.sendall(b"#")
        except OSError:
            pass

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.close()
                except OSError:
                    pass
