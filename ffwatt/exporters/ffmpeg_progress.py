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

Who may push (exporters.push_access): loopback peers, plus `push-allow` networks
(else 403); with `push-token-file`, only requests with `Authorization: Bearer <token>`
(else 401). A stream belongs to the connection that pushes it until it ends
(`progress=end`), that connection closes or the stream expires: a second writer gets 409
and the first keeps its data.

Bounds: stream names match [A-Za-z0-9_.-]{1,64} and `max-label-length` (else 400), a
line is at most 4 KiB and a push at most `max-body-bytes` (else 413), at most
`max-streams` streams are tracked (else 503), blocks per second per stream and in all,
and body bytes per second per connection, are rate-limited (else 429), a connection
silent for `stream-timeout` seconds is closed. Every rejection is counted by reason.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from ffwatt.catalog import FFMPEG_END_REASONS, FFMPEG_REJECT_REASONS
from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import Setting, non_negative_float, non_negative_int, positive_float, positive_int
from ffwatt.exporters.labels import MAX_LABEL_LENGTH
from ffwatt.exporters.push_access import TokenFile, networks, peer_allowed
from ffwatt.exporters.rate_limit import TokenBucket
from ffwatt.exporters.runtime import Exporter
from ffwatt.exporters.samples import Samples
from ffwatt.readers.ffmpeg_progress import DEFAULT_MAX_LINE, Block, ProgressError, ProgressParser

PATH_PREFIX = "/progress/"
STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
READ_SIZE = 64 * 1024
MAX_CHUNK_LINE = 1024  # a chunk-size line ("1a3;ext\r\n") longer than this is not HTTP
MAX_TRAILER_LINES = 32
# Reasons a push is refused (all in catalog.FFMPEG_REJECT_REASONS).
REASON_FULL = "too_many_streams"
REASON_NOT_ALLOWED = "not_allowed"
REASON_UNAUTHORIZED = "unauthorized"
REASON_TAKEN = "stream_taken"
REASON_RATE = "rate_limited"
# A rate limit lets this many seconds' worth through at once (ffmpeg's blocks come in step,
# the runner's forwarder may send a few together after a pause).
BURST_SECONDS = 4.0


@dataclass
class _Stream:
    block: Block
    last_seen: float  # time.monotonic()
    blocks: TokenBucket  # this stream's blocks per second
    ended_at: float | None = None
    owner: int | None = None  # the connection that pushes it; None once ended or that connection closed


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
    takes_pushes = True
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
        Setting("push-allow", "",
                "Networks besides loopback that may push progress: comma-separated CIDRs (0.0.0.0/0,::/0: any "
                "address); other peers get 403.", networks),
        Setting("push-token-file", "",
                "File holding a token every push must present as 'Authorization: Bearer <token>' (else 401); "
                "re-read when it changes. '' accepts pushes without one.", str),
        Setting("stream-blocks-per-second", 10.0,
                "Progress blocks one stream may push per second (ffmpeg sends 1/-stats_period); beyond, 429.",
                positive_float),
        Setting("total-blocks-per-second", 1000.0,
                "Progress blocks all streams together may push per second; beyond, 429.", positive_float),
        Setting("max-body-bytes-per-second", 16 * 1024,
                "Body bytes one push connection may send per second (ffmpeg sends about 600 at "
                "-stats_period 0.5); beyond, 429.", positive_int),
        MAX_LABEL_LENGTH,
    )

    def __init__(self, config):
        super().__init__(config)
        self.stream_timeout = float(config.stream_timeout)
        self.ended_grace = float(config.ended_grace)
        self.max_body = int(config.max_body_bytes)
        self.max_streams = int(config.max_streams)
        self.max_line = DEFAULT_MAX_LINE
        allow = config.push_allow
        self.push_allow = networks(allow) if isinstance(allow, str) else tuple(allow)
        self.token = TokenFile(config.push_token_file) if config.push_token_file else None
        self.stream_rate = float(config.stream_blocks_per_second)
        self.total_rate = float(config.total_blocks_per_second)
        self.body_rate = int(config.max_body_bytes_per_second)
        self.max_label = int(config.max_label_length)
        self._total_blocks = TokenBucket(self.total_rate, max(1.0, self.total_rate * BURST_SECONDS))
        self._connection_ids = itertools.count(1)
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

    def _taken(self, stream: str, connection: int) -> _RejectError | None:
        """The refusal when another live connection pushes `stream` (call with the lock held)."""
        state = self._streams.get(stream)
        if state is not None and state.owner is not None and state.owner != connection:
            return _RejectError(409, REASON_TAKEN, f"stream {stream!r} is being pushed by another connection "
                                "until it ends")
        return None

    def _apply(self, stream: str, block: Block, connection: int) -> bool:
        """Record a completed block; True when the stream is new or ended (worth a refresh now)."""
        now = time.monotonic()
        with self._lock:
            refusal = self._taken(stream, connection)
            if refusal is not None:
                raise refusal
            state = self._streams.get(stream)
            if state is None and len(self._streams) >= self.max_streams:
                raise _RejectError(503, REASON_FULL, f"already tracking {self.max_streams} streams (--max-streams)")
            if state is not None and not state.blocks.take():
                raise _RejectError(429, REASON_RATE, f"stream {stream!r} is over {self.stream_rate:g} blocks/s "
                                   "(--stream-blocks-per-second)")
            if not self._total_blocks.take():
                raise _RejectError(429, REASON_RATE, f"all streams together are over {self.total_rate:g} blocks/s "
                                   "(--total-blocks-per-second)")
            self._version += 1
            owner = None if block.end else connection
            if block.end:
                self._ended["end"] += 1
            if state is None:
                bucket = TokenBucket(self.stream_rate, max(1.0, self.stream_rate * BURST_SECONDS))
                bucket.take()
                self._streams[stream] = _Stream(block, now, bucket, now if block.end else None, owner)
                return True
            was_ended = state.ended_at is not None
            state.block = block
            state.last_seen = now
            state.ended_at = now if block.end else None
            state.owner = owner
            return block.end or was_ended

    def _release(self, stream: str | None, connection: int) -> None:
        """The connection closed: its stream (if still its own) may be taken by the next writer."""
        with self._lock:
            state = self._streams.get(stream) if stream else None
            if state is not None and state.owner == connection:
                state.owner = None

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
                "push_allow": ["loopback"] + [str(n) for n in self.push_allow],
                "push_token_required": self.token is not None,
                "push_token_error": self.token.error if self.token is not None else None,
                "stream_blocks_per_second": self.stream_rate,
                "total_blocks_per_second": self.total_rate,
                "max_body_bytes_per_second": self.body_rate,
                "max_label_length": self.max_label,
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
            connection = next(self._connection_ids)
        stream: list[str] = []
        try:
            self._serve_push(path, request, connection, stream)
        finally:
            self._release(stream[0] if stream else None, connection)
            with self._lock:
                self._connections -= 1
        return True

    def _admit(self, request: BaseHTTPRequestHandler) -> None:
        """Refuse a peer outside the allow-list (403) or a request without the token (401)."""
        peer = str(request.client_address[0]) if request.client_address else ""
        if not peer_allowed(peer, self.push_allow):
            raise _RejectError(403, REASON_NOT_ALLOWED, f"pushes from {peer} are not allowed (--push-allow)")
        if self.token is not None and not self.token.accepts(request.headers.get("Authorization")):
            raise _RejectError(401, REASON_UNAUTHORIZED, "a push needs 'Authorization: Bearer <token>' "
                               "(--push-token-file)")

    def _serve_push(self, path: str, request: BaseHTTPRequestHandler, connection: int, pushing: list[str]) -> None:
        parser = ProgressParser(max_line=self.max_line)
        seen = [0, 0, 0]  # bad_lines, bad_values, unknown_keys already counted
        try:
            self._admit(request)
            if not path.startswith(PATH_PREFIX):
                raise _RejectError(404, "bad_path", "POST progress to /progress/<stream>")
            stream = path[len(PATH_PREFIX):]
            if not STREAM_NAME.fullmatch(stream) or len(stream) > self.max_label:
                raise _RejectError(400, "bad_stream_name", "stream names are 1-64 characters of A-Z a-z 0-9 _ . - "
                                   f"and at most --max-label-length {self.max_label}")
            with self._lock:
                full = stream not in self._streams and len(self._streams) >= self.max_streams
                taken = self._taken(stream, connection)
            if taken is not None:
                raise taken
            if full:
                raise _RejectError(503, REASON_FULL, f"already tracking {self.max_streams} streams (--max-streams)")
            pushing.append(stream)
            # Our own read timeout for the (long-lived) body: silence past stream-timeout
            # closes the connection and frees its thread.
            request.connection.settimeout(self.stream_timeout)

            def consume(data: bytes) -> None:
                try:
                    blocks = parser.feed(data)
                except ProgressError as exc:
                    raise _RejectError(413, "too_large", str(exc)) from None
                self._tally(parser, seen)
                self._apply_all(stream, blocks, request, connection)

            for data in self._body(request):
                consume(data)
            self._apply_all(stream, parser.finish(), request, connection)
            self._tally(parser, seen)
        except _RejectError as rej:
            self._tally(parser, seen)
            self._count(rej.reason)
            self.log.debug("rejected progress push %s: %s (%s)", path, rej, rej.reason)
            extra = {"WWW-Authenticate": 'Bearer realm="ffwatt progress"'} if rej.status == 401 else None
            _reply(request, rej.status, f"{rej}\n", linger=True, headers=extra)
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

    def _apply_all(self, stream: str, blocks: list[Block], request: BaseHTTPRequestHandler, connection: int) -> None:
        if not blocks:
            return
        wake = False
        for block in blocks:
            wake = self._apply(stream, block, connection) or wake
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
        """Yield the request body in pieces, enforcing max-body-bytes and max-body-bytes-per-second."""
        budget = TokenBucket(self.body_rate, self.body_rate * BURST_SECONDS)
        for data in self._raw_body(request, read_size=min(READ_SIZE, int(self.body_rate * BURST_SECONDS))):
            if not budget.take(len(data)):
                raise _RejectError(429, REASON_RATE, f"push over {self.body_rate} bytes/s "
                                   "(--max-body-bytes-per-second)")
            yield data

    def _raw_body(self, request: BaseHTTPRequestHandler, read_size: int):
        transfer = request.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in transfer:
            yield from self._chunked(request, read_size)
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
            data = request.rfile.read(min(remaining, read_size))
            if not data:
                raise _ClientGoneError
            remaining -= len(data)
            yield data

    def _chunked(self, request: BaseHTTPRequestHandler, read_size: int):
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
                data = rfile.read(min(remaining, read_size))
                if not data:
                    raise _ClientGoneError
                remaining -= len(data)
                yield data
            if rfile.readline(MAX_CHUNK_LINE + 1).strip():
                raise _RejectError(400, "bad_line", "chunk data not followed by CRLF")


def _reply(request: BaseHTTPRequestHandler, status: int, text: str, *, linger: bool = False,
           headers: dict[str, str] | None = None) -> None:
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
        for name, value in (headers or {}).items():
            request.send_header(name, value)
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
