"""The bounded HTTP(S) server under every exporter, the agent and the health checker.

What it guarantees, whatever the clients do:

- at most `max_connections` connections are served at once (a thread each), at most
  `max_per_peer` from one peer (an IPv4 address, an IPv6 /64), at most `max_head` of them in
  the middle of a request head or TLS handshake. At a cap a newcomer takes the place of the
  connection that waited longest for a request (as nginx reuses keep-alive connections), else
  of the one whose head or handshake has taken longest (ffwatt/exporters/admission.py), so
  neither idle floods nor tricklers (slowloris, half a ClientHello) lock scrapers out; with
  neither to take, a few more get a quick `503` and the rest are closed at once. Every refusal
  and eviction is counted (`ffwatt_exporter_http_rejected_total`);
- a request head (request line and headers, and the TLS handshake) must arrive within
  `head_timeout` seconds of its first byte, and keep up `min_head_rate` bytes/s after a short
  grace (ffwatt/exporters/paced_io.py); an idle keep-alive connection is closed after `idle_timeout`;
- a request body must keep up `min_body_rate` bytes/s on average after a grace of
  `body_grace` seconds, and is read no faster than `max_body_rate` bytes/s (after a
  burst of the same size), so one pusher cannot take the process's CPU;
- with a web config (ffwatt/exporters/webconfig.py): TLS on every connection (plain HTTP gets
  a `400` and is closed, as Go's server answers), basic auth on GET/HEAD, and the
  configured security headers on every answer. Password checks of credentials not seen before
  are throttled per peer and in all (`429` beyond, with no check made). POSTs (the ffmpeg
  exporter's progress pushes) are the exporter's to authorise (loopback, push token).

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ffwatt.exporters.admission import BUSY, HEAD, WAITING, Admission, Seat
from ffwatt.exporters.paced_io import Expired, Limits, PacedSocketIO
from ffwatt.exporters.rate_limit import AuthThrottle
from ffwatt.exporters.webconfig import WebConfig, WebConfigFile

__all__ = ["REJECT_REASONS", "BoundedHandler", "BoundedServer", "HttpStats", "Limits"]

log = logging.getLogger("ffwatt")

# Reasons a connection or request is refused (label `reason` of the rejected counter).
REJECT_REASONS = ("over_capacity", "per_peer", "idle_evicted", "head_evicted", "head_timeout", "head_too_slow",
                  "body_too_slow", "tls_handshake", "plain_http", "unauthorized", "auth_throttled")
# Connections refused at a cap that still get a 503 (each a short-lived thread); beyond, closed.
_REJECTERS = 16
_REJECT_HEAD_SECONDS = 2.0
_REJECTER_LIMITS = Limits(head_timeout=_REJECT_HEAD_SECONDS, idle_timeout=_REJECT_HEAD_SECONDS)
_PLAIN_TO_TLS = (b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
                 b"Client sent an HTTP request to an HTTPS server.\n")
_THROTTLED_SECONDS = 6  # Retry-After of a 429: one peer's failure budget refills a check in 6 s by default


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


class BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with connection caps, deadlines and an optional web config."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    _last_accept_error = 0.0

    def __init__(self, address, handler, *, limits: Limits, web: WebConfigFile):
        super().__init__(address, handler)
        self.limits = limits
        self.web = web
        self.stats = HttpStats()
        self.admission = Admission(limits.max_connections, limits.max_per_peer, limits.max_head)
        self.auth_throttle = AuthThrottle(limits.auth_failures_per_minute, limits.auth_checks_per_second)
        self._rejecters = threading.Semaphore(_REJECTERS)

    @property
    def idle_connections(self) -> int:
        """How many connections wait for a request (the first a newcomer at a cap may take)."""
        return self.admission.waiting

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

    def evict(self, victims) -> None:
        """Close the connections admission chose to make room (their threads end on their own).
        The raw socket's shutdown, not SSLSocket's, which would drop the TLS state under the reader."""
        for seat, reason in victims:
            self.stats.reject(reason)
            try:
                socket.socket.shutdown(seat.sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def process_request(self, request, client_address):
        verdict = self.admission.admit(client_address[0], request)
        self.evict(verdict.victims)
        if verdict.seat is None:
            self.stats.reject(verdict.refused)
            if not self._rejecters.acquire(blocking=False):
                self.shutdown_request(request)
                return
        thread = threading.Thread(target=self._serve, args=(request, client_address, verdict.seat), daemon=True)
        thread.start()

    def _serve(self, request, client_address, seat: Seat | None) -> None:
        self.stats.opened(1)
        try:
            self.RequestHandlerClass(request, client_address, self, seat=seat)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            if seat is None:
                self._rejecters.release()
            else:
                self.admission.release(seat)
            self.stats.opened(-1)


class BoundedHandler(BaseHTTPRequestHandler):
    """Request handler base: TLS, deadlines, basic auth and headers; subclasses add do_GET.
    `seat` None: a connection refused at a cap, answered 503."""

    server: BoundedServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body
    # until the client's delayed ACK, ~40 ms per scrape.
    disable_nagle_algorithm = True

    def __init__(self, request, client_address, server, *, seat: Seat | None = None):
        self.seat = seat
        super().__init__(request, client_address, server)

    # --- connection --------------------------------------------------------------------
    def setup(self) -> None:
        limits = self.server.limits if self.seat is not None else _REJECTER_LIMITS
        self.web: WebConfig = self.server.web.get(time.monotonic())
        self.refused = False
        conn = self.request
        conn.settimeout(limits.idle_timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._tls = None
        if self.web.tls is not None:
            self._tls = self._start_tls(conn, self.web.tls, time.monotonic() + limits.head_timeout)
            if self._tls is None:
                self.refused = True
            else:
                conn = self._tls
        self.connection = conn
        self._io = PacedSocketIO(conn, limits, on_first_byte=lambda: self._enter(HEAD))
        self.rfile = io.BufferedReader(self._io, 65536)
        self.wfile = socketserver._SocketWriter(conn)

    def _enter(self, phase: str) -> None:
        if self.seat is not None:
            self.server.evict(self.server.admission.enter(self.seat, phase))

    def _start_tls(self, sock: socket.socket, context: ssl.SSLContext, deadline: float) -> ssl.SSLSocket | None:
        """The handshake under the head deadline, in the head phase from its first byte; None
        when refused (plain HTTP, a failed, too slow or evicted handshake), the refusal counted."""
        tls = None
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            first = sock.recv(1, socket.MSG_PEEK)
            if not first:
                return None
            if first[0] != 0x16:  # not a TLS handshake record: someone speaking plain HTTP
                self.server.stats.reject("plain_http")
                _answer_and_close(sock, _PLAIN_TO_TLS)
                return None
            tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            if self.seat is not None:
                self.seat.sock = tls  # the wrapped socket owns the descriptor now
            self._enter(HEAD)
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
            if self.seat is None or not self.seat.gone:  # an evicted handshake is counted as such
                self.server.stats.reject("tls_handshake")
            log.debug("%s: TLS handshake refused: %s", self.client_address[0], exc)
            if tls is not None:
                tls.close()
            return None

    def handle(self) -> None:
        if not self.refused:
            super().handle()

    def handle_one_request(self) -> None:
        self._io.start_head()
        self._enter(WAITING)
        try:
            super().handle_one_request()
        except Expired as exc:  # the base class catches TimeoutError only in some places
            self._expired(exc)
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True

    def _expired(self, exc: Expired) -> None:
        self.server.stats.reject(exc.reason)
        self.close_connection = True

    def log_error(self, format: str, *args) -> None:  # noqa: A002
        # The base class reports its own caught timeouts here: count the deadlines among them.
        if format.startswith("Request timed out") and args and isinstance(args[0], Expired):
            self.server.stats.reject(args[0].reason)
        log.debug("%s %s", self.address_string(), format % args)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)

    def finish(self) -> None:
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
        if self.seat is None:  # refused at a cap
            self.close_connection = True
            self.send_error(503, "too many connections", "The server is at its connection cap; retry later.")
            return False
        self._enter(BUSY)
        if self.command in ("GET", "HEAD"):
            verdict = self.web.authorized(self.headers.get("Authorization"), self.server.auth_throttle,
                                          self.seat.peer)  # the peer admission found
            if verdict is not True:
                self._refuse_auth(throttled=verdict is None)
                return False
        self._io.start_body()
        return True

    def _refuse_auth(self, *, throttled: bool) -> None:
        """401 for wrong credentials; 429 when checking them would exceed the failure budget. The
        connection stays open when the request has no body: a client trying again on it costs no
        TLS handshake."""
        self.server.stats.reject("auth_throttled" if throttled else "unauthorized")
        if "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # a body we did not read would be taken for the next request
        body = b"Too many failed logins; retry later\n" if throttled else b"Unauthorized\n"
        self.send_response(429 if throttled else 401)
        if throttled:
            self.send_header("Retry-After", str(_THROTTLED_SECONDS))
        else:
            self.send_header("WWW-Authenticate", 'Basic realm="ffwatt"')
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

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
