"""The bounded HTTP(S) server under every exporter, the agent and the health checker.

What it guarantees, whatever the clients do:

- at most `max_connections` connections are served at once (a thread each). At the cap a
  new connection takes the place of the connection idle longest (one waiting for a
  request, as nginx reuses keep-alive connections), so idle floods cannot lock scrapers
  out; with none idle, a few more get a quick `503` (a short head deadline, then
  closed) and the rest are closed at once. Every refusal and eviction is counted
  (`ffwatt_exporter_http_rejected_total`);
- a request head (request line and headers, and the TLS handshake) must arrive within
  `head_timeout` seconds of its first byte, so header tricklers (slowloris) are cut off;
  an idle keep-alive connection is closed after `idle_timeout`;
- a request body must keep up `min_body_rate` bytes/s on average after a grace of
  `body_grace` seconds, and is read no faster than `max_body_rate` bytes/s (after a
  burst of the same size), so one pusher cannot take the process's CPU;
- with a web config (ffwatt/exporters/webconfig.py): TLS on every connection (plain HTTP gets
  a `400` and is closed, as Go's server answers), basic auth on GET/HEAD, and the
  configured security headers on every answer. POSTs (the ffmpeg exporter's progress
  pushes) are the exporter's to authorise (loopback, push token).

Each exporter has its own server, so one exporter's load cannot use up another's cap.
"""

from __future__ import annotations

import errno
import io
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ffwatt.exporters.webconfig import WebConfig, WebConfigFile

log = logging.getLogger("ffwatt")

# Reasons a connection or request is refused (label `reason` of the rejected counter).
REJECT_REASONS = ("over_capacity", "idle_evicted", "head_timeout", "body_too_slow", "tls_handshake",
                  "plain_http", "unauthorized")
# Connections over the cap that still get a 503 (each a short-lived thread); beyond, closed.
_REJECTERS = 16
_REJECT_HEAD_SECONDS = 2.0
_PLAIN_TO_TLS = (b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
                 b"Client sent an HTTP request to an HTTPS server.\n")


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    head_timeout: float = 10.0
    idle_timeout: float = 15.0
    min_body_rate: float = 16.0  # bytes/s averaged over the body, after body_grace
    body_grace: float = 30.0
    max_body_rate: float = 256 * 1024.0  # bytes/s, with a burst of as many bytes


class HttpStats:
    """Open connections and refusals by reason; `version` changes whenever they do."""

    def __init__(self):
        self._lock = threading.Lock()
        self.open = 0
        self.rejected: Counter[str] = Counter()
        self.version = 0

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1
            self.version += 1

    def opened(self, delta: int) -> None:
        with self._lock:
            self.open += delta
            self.version += 1


class _Expired(TimeoutError):  # noqa: N818 (a deadline, caught as a timeout)
    """The head deadline or the minimum body rate ran out (reason in `.reason`)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _PacedSocketIO(io.RawIOBase):
    """The socket as the request's reader sees it: each read is bounded by the head
    deadline (head phase) or the minimum body rate (body phase), and body reads are paced
    to the maximum body rate. The socket's own timeout (idle, or what a handler sets) still
    bounds each single read."""

    def __init__(self, sock: socket.socket, limits: Limits, on_first_byte=lambda: None):
        super().__init__()
        self._sock = sock
        self._limits = limits
        self._on_first_byte = on_first_byte
        self.start_head()

    def start_head(self) -> None:
        self._phase = "head"
        self._deadline: float | None = None  # set by the head's first byte
        self._body_start = self._body_bytes = 0.0

    def start_body(self) -> None:
        self._phase = "body"
        self._body_start = time.monotonic()
        self._body_bytes = 0

    def readable(self) -> bool:
        return True

    def _limit(self, now: float) -> float | None:
        if self._phase == "head":
            return self._deadline
        lim = self._limits
        return self._body_start + lim.body_grace + self._body_bytes / lim.min_body_rate

    def readinto(self, buffer) -> int:
        now = time.monotonic()
        limit = self._limit(now)
        own = self._sock.gettimeout()
        if limit is not None:
            remaining = limit - now
            if remaining <= 0:
                raise _Expired("head_timeout" if self._phase == "head" else "body_too_slow")
            if own is None or remaining < own:
                self._sock.settimeout(remaining)
        try:
            n = self._sock.recv_into(buffer)
        except TimeoutError:
            if limit is not None and time.monotonic() >= limit:
                raise _Expired("head_timeout" if self._phase == "head" else "body_too_slow") from None
            raise
        finally:
            if limit is not None:
                self._sock.settimeout(own)
        if self._phase == "head":
            if self._deadline is None and n:
                self._deadline = time.monotonic() + self._limits.head_timeout
                self._on_first_byte()
        else:
            self._pace(n)
        return n

    def _pace(self, n: int) -> None:
        self._body_bytes += n
        rate = self._limits.max_body_rate
        allowed = rate + rate * (time.monotonic() - self._body_start)  # a one-second burst, then the rate
        if self._body_bytes > allowed:
            time.sleep((self._body_bytes - allowed) / rate)


class BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a connection cap, deadlines and an optional web config."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    _last_accept_error = 0.0

    def __init__(self, address, handler, *, limits: Limits, web: WebConfigFile):
        super().__init__(address, handler)
        self.limits = limits
        self.web = web
        self.stats = HttpStats()
        self._slots = threading.Lock()
        self._serving = 0
        self._rejecting = 0
        self._idle: dict[int, BoundedHandler] = {}  # connections waiting for a request, oldest first

    def idle(self, handler: BoundedHandler, waiting: bool) -> None:
        """Mark a connection as waiting for a request (evictable at the cap), or not."""
        with self._slots:
            self._idle.pop(id(handler), None)
            if waiting:
                self._idle[id(handler)] = handler

    @property
    def idle_connections(self) -> int:
        """How many connections wait for a request (the ones a newcomer at the cap may evict)."""
        with self._slots:
            return len(self._idle)

    @property
    def scheme(self) -> str:
        return "https" if self.web.current.tls is not None else "http"

    def get_request(self):
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors: without a pause the accept loop spins a core at 100 %.
                now = time.monotonic()
                if now - self._last_accept_error > 60:
                    log.error("cannot accept connections: %s; raise the open-files limit (ulimit -n)", exc)
                    self._last_accept_error = now
                time.sleep(0.05)
            raise

    def process_request(self, request, client_address):
        victim = None
        with self._slots:
            if self._serving < self.limits.max_connections:
                self._serving += 1
                over = False
            elif self._idle:  # the victim gives its slot back when its thread ends: a brief overshoot
                victim = self._idle.pop(next(iter(self._idle)))
                self._serving += 1
                over = False
            elif self._rejecting < _REJECTERS:
                self._rejecting += 1
                over = True
            else:
                over = None
        if victim is not None:
            self.stats.reject("idle_evicted")
            victim.evict()
        if over is not False:
            self.stats.reject("over_capacity")
        if over is None:
            self.shutdown_request(request)
            return
        thread = threading.Thread(target=self._serve, args=(request, client_address, over), daemon=True)
        thread.start()

    def _serve(self, request, client_address, over: bool) -> None:
        self.stats.opened(1)
        try:
            self.RequestHandlerClass(request, client_address, self, over_capacity=over)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._slots:
                if over:
                    self._rejecting -= 1
                else:
                    self._serving -= 1
            self.stats.opened(-1)


class BoundedHandler(BaseHTTPRequestHandler):
    """Request handler base: TLS, deadlines, basic auth and headers; subclasses add do_GET."""

    server: BoundedServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body
    # until the client's delayed ACK, ~40 ms per scrape.
    disable_nagle_algorithm = True

    def __init__(self, request, client_address, server, *, over_capacity: bool = False):
        self.over_capacity = over_capacity
        super().__init__(request, client_address, server)

    # --- connection --------------------------------------------------------------------
    def setup(self) -> None:
        limits = self.server.limits
        self.web: WebConfig = self.server.web.get(time.monotonic())
        self.refused = False
        conn = self.request
        conn.settimeout(limits.idle_timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        head = _REJECT_HEAD_SECONDS if self.over_capacity else limits.head_timeout
        self._tls = None
        if self.web.tls is not None:
            self._tls = self._start_tls(conn, self.web.tls, time.monotonic() + head)
            if self._tls is None:
                self.refused = True
            else:
                conn = self._tls
        self.connection = conn
        self._io = _PacedSocketIO(conn, limits if not self.over_capacity else
                                  Limits(head_timeout=_REJECT_HEAD_SECONDS, idle_timeout=_REJECT_HEAD_SECONDS),
                                  on_first_byte=lambda: self.server.idle(self, False))
        self.rfile = io.BufferedReader(self._io, 65536)
        self.wfile = socketserver._SocketWriter(conn)

    def _start_tls(self, sock: socket.socket, context: ssl.SSLContext, deadline: float) -> ssl.SSLSocket | None:
        """The handshake under the head deadline; None when refused (plain HTTP, a failed
        or too slow handshake), the refusal counted."""
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            self.server.idle(self, not self.over_capacity)
            try:
                first = sock.recv(1, socket.MSG_PEEK)
            finally:
                self.server.idle(self, False)
            if not first:
                return None
            if first[0] != 0x16:  # not a TLS handshake record: someone speaking plain HTTP
                self.server.stats.reject("plain_http")
                _answer_and_close(sock, _PLAIN_TO_TLS)
                return None
            tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("TLS handshake took too long")
                tls.settimeout(remaining)
                try:
                    tls.do_handshake()
                    break
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
            tls.settimeout(self.server.limits.idle_timeout)
            return tls
        except (OSError, ValueError) as exc:  # ssl.SSLError and TimeoutError are OSErrors
            self.server.stats.reject("tls_handshake")
            log.debug("%s: TLS handshake refused: %s", self.client_address[0], exc)
            return None

    def handle(self) -> None:
        if not self.refused:
            super().handle()

    def evict(self) -> None:
        """Close this idle connection for a newcomer (called from the accept thread). The raw
        socket's shutdown, not SSLSocket's, which would drop the TLS state under the reader."""
        try:
            socket.socket.shutdown(getattr(self, "connection", None) or self.request, socket.SHUT_RDWR)
        except OSError:
            pass

    def handle_one_request(self) -> None:
        self._io.start_head()
        self.server.idle(self, not self.over_capacity)
        try:
            super().handle_one_request()
        except _Expired as exc:  # the base class catches TimeoutError only in some places
            self._expired(exc)
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True

    def _expired(self, exc: _Expired) -> None:
        self.server.stats.reject(exc.reason)
        self.close_connection = True

    def log_error(self, format: str, *args) -> None:  # noqa: A002
        # The base class reports its own caught timeouts here: count the deadlines among them.
        if format.startswith("Request timed out") and args and isinstance(args[0], _Expired):
            self.server.stats.reject(args[0].reason)
        log.debug("%s %s", self.address_string(), format % args)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)

    def finish(self) -> None:
        self.server.idle(self, False)
        try:
            super().finish()
        except (OSError, ValueError):
            pass
        if self._tls is not None:
            try:
                self._tls.close()
            except OSError:
                pass

    # --- request -----------------------------------------------------------------------
    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.over_capacity:
            self.close_connection = True
            self.send_error(503, "too many connections", "The server is at its connection cap; retry later.")
            return False
        if self.command in ("GET", "HEAD") and not self.web.authorized(self.headers.get("Authorization")):
            self.server.stats.reject("unauthorized")
            self.close_connection = True
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="ffwatt"')
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "13")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"Unauthorized\n")
            return False
        self._io.start_body()
        return True

    def end_headers(self) -> None:
        for name, value in self.web.headers:
            self.send_header(name, value)
        super().end_headers()


def _answer_and_close(sock: socket.socket, answer: bytes) -> None:
    """Send a short answer, reading what the client already sent first so that closing does
    not reset the connection before the answer is read."""
    try:
        sock.settimeout(0.2)
        sock.recv(65536)
    except OSError:
        pass
    try:
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
