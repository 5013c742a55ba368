"""The socket as a request's reader sees it (ffwatt/exporters/http_server.py): every read is bounded.

- head phase (request line and headers): from the head's first byte, the head must be complete
  within `head_timeout`, and after `head_grace` it must keep up `min_head_rate` bytes/s on
  average, so a client trickling a byte every few seconds is cut off in seconds, not minutes;
- body phase: the body must average `min_body_rate` bytes/s after `body_grace`, and is read no
  faster than `max_body_rate` bytes/s (after a one-second burst), so one pusher cannot take the
  process's CPU.

The socket's own timeout (idle, or what a handler sets) still bounds each single read. A
deadline that runs out raises `Expired`, a `TimeoutError`, with the reason to count.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from ffwatt.common.errors import FfwattError


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    max_per_peer: int = 128  # connections from one address (IPv6: one /64)
    max_head: int = 128  # connections in the head or TLS handshake phase at once
    head_timeout: float = 10.0
    head_grace: float = 2.0  # seconds of a head before min_head_rate applies
    min_head_rate: float = 128.0  # bytes/s averaged over the head, after head_grace
    idle_timeout: float = 15.0
    min_body_rate: float = 16.0  # bytes/s averaged over the body, after body_grace
    body_grace: float = 30.0
    max_body_rate: float = 256 * 1024.0  # bytes/s, with a burst of as many bytes
    auth_failures_per_minute: float = 10.0  # failed password checks of one peer (a burst of as many)
    auth_checks_per_second: float = 2.0  # password checks of all peers together (a burst of 4 s of them)

    @classmethod
    def from_settings(cls, config, pushed_streams: int = 0) -> Limits:
        """The bounds an exporter's settings ask for (exporters/config.py `server_settings`); 0 means
        the default. An exporter that takes pushes holds a connection per stream (`pushed_streams`
        of them): its caps make room. A scraped exporter's `--max-streams` (rtmp, streams) counts
        series, not connections, and leaves the caps alone."""
        streams = pushed_streams
        base = config.max_connections or cls.max_connections
        cap = config.max_connections or base + streams
        per_peer = config.max_connections_per_peer or max(1, base // 2) + streams
        return cls(max_connections=cap, max_per_peer=per_peer,
                   max_head=config.max_head_connections or max(1, cap // 2), head_timeout=config.head_timeout,
                   min_head_rate=config.min_head_rate, idle_timeout=config.idle_timeout,
                   min_body_rate=config.min_body_rate, max_body_rate=config.max_body_rate,
                   auth_failures_per_minute=config.auth_failures_per_minute,
                   auth_checks_per_second=config.auth_checks_per_second)


class Expired(FfwattError, TimeoutError):  # noqa: N818 (a deadline, caught as a timeout)
    """A head or body deadline ran out (`reason`: head_timeout, head_too_slow, body_too_slow)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PacedSocketIO(io.RawIOBase):
    """The reader's socket: head reads under the head deadlines, body reads under the body rates.
    `on_first_byte` is called when the first byte of a head arrives."""

    def __init__(self, sock: socket.socket, limits: Limits, on_first_byte: Callable[[], None] = lambda: None):
        super().__init__()
        self._sock = sock
        self._limits = limits
        self._on_first_byte = on_first_byte
        self.start_head()

    def start_head(self) -> None:
        self._phase = "head"
        self._first: float | None = None  # the head's first byte
        self._bytes = 0
        self._body_start = 0.0

    def start_body(self) -> None:
        self._phase = "body"
        self._body_start = time.monotonic()
        self._bytes = 0

    def readable(self) -> bool:
        return True

    def _limit(self) -> tuple[float, str] | None:
        """(monotonic time the next byte is due by, the reason if it is not), or None."""
        lim = self._limits
        if self._phase == "body":
            return self._body_start + lim.body_grace + self._bytes / lim.min_body_rate, "body_too_slow"
        if self._first is None:
            return None
        whole = self._first + lim.head_timeout
        paced = self._first + lim.head_grace + self._bytes / lim.min_head_rate
        return (paced, "head_too_slow") if paced < whole else (whole, "head_timeout")

    def readinto(self, buffer) -> int:
        now = time.monotonic()
        limit = self._limit()
        own = self._sock.gettimeout()
        if limit is not None:
            remaining = limit[0] - now
            if remaining <= 0:
                raise Expired(limit[1])
            if own is None or remaining < own:
                self._sock.settimeout(remaining)
        try:
            n = self._sock.recv_into(buffer)
        except TimeoutError:
            if limit is not None and time.monotonic() >= limit[0]:
                raise Expired(limit[1]) from None
            raise
        finally:
            if limit is not None:
                self._sock.settimeout(own)
        if self._phase == "head":
            if self._first is None and n:
                self._first = time.monotonic()
                self._on_first_byte()
            self._bytes += n
        else:
            self._pace(n)
        return n

    def _pace(self, n: int) -> None:
        self._bytes += n
        rate = self._limits.max_body_rate
        allowed = rate + rate * (time.monotonic() - self._body_start)  # a one-second burst, then the rate
        if self._bytes > allowed:
            time.sleep((self._bytes - allowed) / rate)
