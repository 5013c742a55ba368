"""ffmpeg exporter: live encoding progress pushed by ffmpeg itself.

    ffmpeg ... -progress http://exporter:9506/progress/<stream> -stats_period 0.5

ffmpeg opens one POST per run and keeps it open for the whole encode, writing a
`key=value` block (chunked transfer encoding) every stats period; the last block
says `progress=end`. Bodies with a Content-Length are accepted too (handy for curl).

Each connection is served by its own thread (the runtime's ThreadingHTTPServer)
and parses incrementally (readers.ffmpeg_progress); only the small per-stream state
update takes the lock, so a slow or silent client never blocks other streams or
scrapes. The refresh loop publishes the in-memory table.

A stream leaves /metrics
- `ended-grace` seconds after ffmpeg said `progress=end` (until then it is served
  with its final values and `active` 0, so the last numbers are scraped at least
  once), or
- when it has been silent for `stream-timeout` seconds (ffmpeg died or hung).

Bounds: stream names match [A-Za-z0-9_.-]{1,64} (else 400), a line is at most
4 KiB and a push at most `max-body-bytes` (else 413), at most `max-streams` streams
are tracked (else 503), a connection silent for `stream-timeout` seconds is closed.
Every rejection is counted by reason.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from catalog import FFMPEG_END_REASONS, FFMPEG_REJECT_REASONS
from catalog import metrics as m
from exporters.config import Setting, non_negative_float, non_negative_int, positive_float, positive_int
from exporters.runtime import Exporter
from exporters.samples import Samples
from readers.ffmpeg_progress import DEFAULT_MAX_LINE, Block, ProgressError, ProgressParser

PATH_PREFIX = "/progress/"
STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
READ_SIZE = 64 * 1024
MAX_CHUNK_LINE = 1024  # a chunk-size line ("1a3;ext\r\n") longer than this is not HTTP
MAX_TRAILER_LINES = 32
# Refused because the stream table is full (one of catalog.FFMPEG_REJECT_REASONS).
REASON_FULL = "too_many_streams"


@dataclass
class _Stream:
    block: Block
    last_seen: float  # time.monotonic()
    ended_at: float | None = None


class _RejectError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status = status
        self.reason = reason


class _ClientGoneError(Exception):
    """The client closed the connection mid-body (ffmpeg killed, network cut)."""


class FfmpegExporter(Exporter):
    name = "ffmpeg"
    default_refresh_seconds = 0.5
    settings = (
        Setting("stream-timeout", 10.0,
                "Seconds without progress after which a stream leaves /metrics and its connection is closed.",
                positive_float),
        Setting("ended-grace", 5.0,
                "Seconds a stream stays (final values, active 0) after progress=end, so the last values are "
                "scraped; keep it at least one scrape interval.", non_negative_float),
        Setting("max-body-bytes", 256 * 1024 * 1024,
                "Largest progress body one connection may push, in bytes (0: no limit). ffmpeg keeps one "
                "connection open per encode and sends about 300 bytes per stats period.", non_negative_int),
        Setting("max-streams", 256, "Most streams tracked at once; pushes for new streams beyond it get 503.",
                positive_int),
    )

    def __init__(self, config):
        super().__init__(config)
        self.stream_timeout = float(config.stream_timeout)
        self.ended_grace = float(config.ended_grace)
        self.max_body = int(config.max_body_bytes)
        self.max_streams = int(config.max_streams)
        self.max_line = DEFAULT_MAX_LINE
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._rejected: dict[str, int] = dict.fromkeys(FFMPEG_REJECT_REASONS, 0)
        self._ended: dict[str, int] = dict.fromkeys(FFMPEG_END_REASONS, 0)
        self._connections = 0
        self._unknown_keys = 0
        self._unknown_key_names: set[str] = set()
        # Bumped by every change that shows in /metrics: an idle refresh with nothing new
        # keeps the encoded snapshot instead of rebuilding it twice a second.
        self._version = 0
        self._published_version = -1

    # --- state -----------------------------------------------------------------------
    def _count(self, reason: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self._rejected[reason] = self._rejected.get(reason, 0) + n
                self._version += 1

    def _apply(self, stream: str, block: Block) -> bool:
        """Record a completed block; True when the stream is new or ended (worth a refresh now)."""
        now = time.monotonic()
        with self._lock:
            self._version += 1
            state = self._streams.get(stream)
            if state is None:
                if len(self._streams) >= self.max_streams:
                    raise _RejectError(503, REASON_FULL, f"already tracking {self.max_streams} streams (--max-streams)")
                self._streams[stream] = _Stream(block, now, now if block.end else None)
                if block.end:
                    self._ended["end"] += 1
                return True
            was_ended = state.ended_at is not None
            state.block = block
            state.last_seen = now
            state.ended_at = now if block.end else None
            if block.end:
                self._ended["end"] += 1
            return block.end or was_ended

    def refresh(self, out: Samples) -> None:
        now = time.monotonic()
        with self._lock:
            for name, state in list(self._streams.items()):
                if state.ended_at is not None:
                    if now - state.ended_at >= self.ended_grace:
                        del self._streams[name]
                        self._version += 1
                elif now - state.last_seen >= self.stream_timeout:
                    del self._streams[name]
                    self._ended["silent"] += 1
                    self._version += 1
            if self._version == self._published_version:
                out.unchanged()
                return
            self._published_version = self._version
            rows = [(name, s.block, s.ended_at is None) for name, s in sorted(self._streams.items())]
            rejected = dict(self._rejected)
            ended = dict(self._ended)
        out.add(m.FFMPEG_STREAMS, sum(1 for _, _, active in rows if active))
        for name, block, active in rows:
            out.add(m.FFMPEG_ACTIVE, 1 if active else 0, stream=name)
            out.add(m.FFMPEG_FRAMES, block.frame, stream=name)
            out.add(m.FFMPEG_DROPPED, block.drop_frames, stream=name)
            out.add(m.FFMPEG_DUPLICATED, block.dup_frames, stream=name)
            out.add(m.FFMPEG_FPS, block.fps, stream=name)
            out.add(m.FFMPEG_SPEED, block.speed, stream=name)
            bitrate = block.bitrate_bps
            out.add(m.FFMPEG_BITRATE, None if bitrate is None else bitrate / 8, stream=name)
            out.add(m.FFMPEG_OUTPUT_BYTES, block.total_size_bytes, stream=name)
            out.add(m.FFMPEG_OUTPUT_TIME, block.out_time_seconds, stream=name)
        for reason in FFMPEG_REJECT_REASONS:
            out.add(m.FFMPEG_REJECTED, rejected.get(reason, 0), reason=reason)
        for reason in FFMPEG_END_REASONS:
            out.add(m.FFMPEG_ENDED, ended.get(reason, 0), reason=reason)

    def health_details(self) -> dict:
        with self._lock:
            return {
                "streams": len(self._streams),
                "active_streams": sum(1 for s in self._streams.values() if s.ended_at is None),
                "open_connections": self._connections,
                "rejected": dict(self._rejected),
                "ended": dict(self._ended),
                "unknown_keys": self._unknown_keys,
                "unknown_key_names": sorted(self._unknown_key_names),
                "stream_timeout_seconds": self.stream_timeout,
                "ended_grace_seconds": self.ended_grace,
                "max_streams": self.max_streams,
                "max_body_bytes": self.max_body,
            }

    # --- HTTP ------------------------------------------------------------------------
    def handle_post(self, path: str, request: BaseHTTPRequestHandler) -> bool:
        with self._lock:
            self._connections += 1
        try:
            self._serve_push(path, request)
        finally:
            with self._lock:
                self._connections -= 1
        return True

    def _serve_push(self, path: str, request: BaseHTTPRequestHandler) -> None:
        parser = ProgressParser(max_line=self.max_line)
        seen = [0, 0, 0]  # bad_lines, bad_values, unknown_keys already counted
        try:
            if not path.startswith(PATH_PREFIX):
                raise _RejectError(404, "bad_path", "POST progress to /progress/<stream>")
            stream = path[len(PATH_PREFIX):]
            if not STREAM_NAME.fullmatch(stream):
                raise _RejectError(400, "bad_stream_name", "stream names are 1-64 characters of A-Z a-z 0-9 _ . -")
            with self._lock:
                full = stream not in self._streams and len(self._streams) >= self.max_streams
            if full:
                raise _RejectError(503, REASON_FULL, f"already tracking {self.max_streams} streams (--max-streams)")
            # Our own read timeout for the (long-lived) body: silence past stream-timeout
            # closes the connection and frees its thread.
            request.connection.settimeout(self.stream_timeout)

            def consume(data: bytes) -> None:
                try:
                    blocks = parser.feed(data)
                except ProgressError as exc:
                    raise _RejectError(413, "too_large", str(exc)) from None
                self._tally(parser, seen)
                self._apply_all(stream, blocks, request)

            for data in self._body(request):
                consume(data)
            self._apply_all(stream, parser.finish(), request)
            self._tally(parser, seen)
        except _RejectError as rej:
            self._tally(parser, seen)
            self._count(rej.reason)
            self.log.debug("rejected progress push %s: %s (%s)", path, rej, rej.reason)
            _reply(request, rej.status, f"{rej}\n", linger=True)
            return
        except _ClientGoneError:
            self._tally(parser, seen)
            self.log.debug("progress push %s: client closed the connection mid-body", path)
            request.close_connection = True
            return
        except TimeoutError:
            self._tally(parser, seen)
            self._count("timeout")
            self.log.debug("progress push %s: silent for %gs, closing", path, self.stream_timeout)
            _reply(request, 408, f"no progress for {self.stream_timeout:g}s\n")
            return
        except OSError as exc:
            self._tally(parser, seen)
            self.log.debug("progress push %s: connection error: %s", path, exc)
            request.close_connection = True
            return
        _reply(request, 200, f"ok: {parser.blocks} block(s)\n")

    def _apply_all(self, stream: str, blocks: list[Block], request: BaseHTTPRequestHandler) -> None:
        if not blocks:
            return
        wake = False
        for block in blocks:
            wake = self._apply(stream, block) or wake
        if wake:
            # New or ended stream: publish now rather than at the next tick.
            runtime = getattr(request.server, "runtime", None)
            if runtime is not None:
                runtime.trigger_refresh()

    def _tally(self, parser: ProgressParser, seen: list[int]) -> None:
        """Add what the parser counted since the last tally to the exporter's counters."""
        bad_lines, bad_values, unknown = (parser.bad_lines - seen[0], parser.bad_values - seen[1],
                                          parser.unknown_keys - seen[2])
        seen[:] = [parser.bad_lines, parser.bad_values, parser.unknown_keys]
        if not (bad_lines or bad_values or unknown):
            return
        with self._lock:
            self._rejected["bad_line"] = self._rejected.get("bad_line", 0) + bad_lines
            self._rejected["bad_value"] = self._rejected.get("bad_value", 0) + bad_values
            self._version += 1
            self._unknown_keys += unknown
            for key in sorted(parser.unknown_key_names):
                if len(self._unknown_key_names) >= 32:
                    break
                self._unknown_key_names.add(key)

    def _body(self, request: BaseHTTPRequestHandler):
        """Yield the request body in pieces, enforcing max-body-bytes."""
        transfer = request.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in transfer:
            yield from self._chunked(request)
            return
        length_header = request.headers.get("Content-Length")
        if length_header is None:
            return  # an HTTP/1.1 request without either has an empty body
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError:
            raise _RejectError(400, "bad_line", f"bad Content-Length {length_header[:40]!r}") from None
        if self.max_body and length > self.max_body:
            raise _RejectError(413, "too_large", f"body of {length} bytes is over --max-body-bytes {self.max_body}")
        remaining = length
        while remaining:
            data = request.rfile.read(min(remaining, READ_SIZE))
            if not data:
                raise _ClientGoneError
            remaining -= len(data)
            yield data

    def _chunked(self, request: BaseHTTPRequestHandler):
        rfile = request.rfile
        total = 0
        while True:
            line = rfile.readline(MAX_CHUNK_LINE + 1)
            if not line:
                raise _ClientGoneError
            if not line.endswith(b"\n"):
                raise _RejectError(400, "bad_line", "chunk size line too long")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16) if size_text and size_text.isalnum() else -1
            except ValueError:
                size = -1
            if size < 0:
                raise _RejectError(400, "bad_line", f"bad chunk size {size_text[:20]!r}")
            if size == 0:
                for _ in range(MAX_TRAILER_LINES):  # trailers, then the blank line
                    trailer = rfile.readline(MAX_CHUNK_LINE + 1)
                    if not trailer or trailer in (b"\r\n", b"\n"):
                        return
                raise _RejectError(400, "bad_line", "too many trailer lines")
            total += size
            if self.max_body and total > self.max_body:
                raise _RejectError(413, "too_large", f"body over --max-body-bytes {self.max_body}")
            remaining = size
            while remaining:
                data = rfile.read(min(remaining, READ_SIZE))
                if not data:
                    raise _ClientGoneError
                remaining -= len(data)
                yield data
            if rfile.readline(MAX_CHUNK_LINE + 1).strip():
                raise _RejectError(400, "bad_line", "chunk data not followed by CRLF")


def _reply(request: BaseHTTPRequestHandler, status: int, text: str, *, linger: bool = False) -> None:
    """Answer and close; the client (ffmpeg) may already be gone, which is fine.

    linger: the request body was not read to its end. Closing a socket with unread
    input makes the kernel send a reset, which can destroy our answer before the
    client reads it; so stop writing, then read and discard briefly (bounded)."""
    body = text.encode()
    request.close_connection = True
    try:
        request.send_response(status)
        request.send_header("Content-Type", "text/plain; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(body)
        request.wfile.flush()
        if linger:
            _drain(request.connection)
    except OSError:
        pass


def _drain(sock: socket.socket, seconds: float = 1.0, limit: int = 1024 * 1024) -> None:
    sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + seconds
    read = 0
    while read < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        data = sock.recv(READ_SIZE)
        if not data:
            return
        read += len(data)
