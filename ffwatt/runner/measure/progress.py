"""Live progress of the encodes: ffmpeg's `-progress` blocks, read, shown and forwarded.

* ffmpeg's `key=value` blocks are parsed by `readers.ffmpeg_progress` (the exporter's parser
  too): `read_blocks(stream, on_block)` hands over each `Block` with its raw bytes.
* `Forwarder` pushes each block to the ffmpeg exporter (`POST <url>/progress/<stream>`,
  chunked, one connection per encode, as ffmpeg itself would), with
  `Authorization: Bearer <token>` when the exporter wants one (`--progress-token-file`,
  read by `read_token`: ffmpeg's own `-progress http://` cannot send it). `https://` URLs are
  verified against `--exporter-ca-file`; the token is never sent over plain http to a host
  off loopback, and `probe_exporter` (no token) finds a TLS exporter first. Any network failure
  disables that forwarder with one logged warning: the exporter is a spectator, it
  never slows or fails an encode (every socket operation has a timeout).
* `ProgressSettings` is where one encode's progress goes (the exporter's URL, token and CA file, and
  a callback per block), handed down from the measurer to every stream of the encode.
* `ProgressDisplay` is the per-scenario tqdm bar (frames, fps, speed, ETA; disabled when
  stdout is not a terminal) and throttles `progress` events to one per second.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import shutil
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffwatt.readers.ffmpeg_progress import Block
from ffwatt.runner.errors import RunnerError

log = logging.getLogger("ffwatt.run")

__all__ = ["read_token", "Forwarder", "ProgressSettings", "probe_exporter", "token_refusal", "ProgressDisplay"]


def read_token(path: Path) -> str:
    """The push token in `path` (its content without surrounding whitespace); `RunnerError` naming the file."""
    try:
        token = Path(path).read_bytes()[:4097].decode("ascii").strip()
    except OSError as exc:
        raise RunnerError(f"--progress-token-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RunnerError(f"--progress-token-file {path}: not ASCII text") from None
    if not token or len(token) > 4096 or any(c.isspace() for c in token):
        raise RunnerError(f"--progress-token-file {path}: expected one token (one word, at most 4096 characters)")
    return token


def _connection(url: urllib.parse.SplitResult, timeout: float, ca_file: str | None) -> http.client.HTTPConnection:
    """A connection to the exporter: https verified against `ca_file` (else the system's CAs)."""
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        return http.client.HTTPSConnection(url.hostname or "", url.port or 443, timeout=timeout, context=context)
    return http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=timeout)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def token_refusal(base_url: str, token: str | None) -> str | None:
    """Why the push token must not be sent to `base_url` (plain http to another host), else None."""
    url = urllib.parse.urlsplit(base_url)
    if token and url.scheme == "http" and not _loopback(url.hostname):
        return (f"progress URL {base_url}: the push token is not sent over plain http to another host; use "
                "https:// (with --exporter-ca-file) and a web config with tls_server_config on the exporter")
    return None


def probe_exporter(base_url: str, timeout: float = 1.0, *, ca_file: str | None = None,
                   token: str | None = None) -> str | None:
    """None when the ffmpeg exporter answers `GET <base_url>/health` and may be sent pushes (and the
    token) as configured, else why not. The probe carries no token: an exporter that answers
    plain http with a 400 (it serves TLS) is found before any token is sent in clear."""
    url = urllib.parse.urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f"progress URL {base_url!r} is not http(s)://host:port"
    why = token_refusal(base_url, token)
    if why:
        return why
    try:
        conn = _connection(url, timeout, ca_file)
        try:
            conn.request("GET", url.path.rstrip("/") + "/health")
            answer = conn.getresponse()
            body = answer.read(65536)
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return f"ffmpeg exporter unreachable at {base_url}: {exc}"
    if url.scheme == "http" and answer.status == 400 and b"HTTPS" in body:
        return (f"the ffmpeg exporter at {base_url} serves https: use --progress-url "
                f"{urllib.parse.urlunsplit(url._replace(scheme='https'))} (and --exporter-ca-file)")
    return None


class Forwarder:
    """One chunked POST to `<base_url>/progress/<stream>` carrying an encode's progress blocks
    (https verified against `ca_file`; the token never over plain http to another host)."""

    def __init__(self, base_url: str, stream: str, timeout: float = 2.0, *, token: str | None = None,
                 ca_file: str | None = None) -> None:
        url = urllib.parse.urlsplit(base_url)
        self.where = f"{base_url.rstrip('/')}/progress/{stream}"
        self._conn: http.client.HTTPConnection | None = None
        why = token_refusal(base_url, token)
        if why:
            self._fail(ValueError(why))
            return
        try:
            conn = _connection(url, timeout, ca_file)
            conn.putrequest("POST", f"{url.path.rstrip('/')}/progress/{stream}", skip_accept_encoding=True)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", "text/plain")
            if token:
                conn.putheader("Authorization", f"Bearer {token}")
            conn.endheaders()
            self._conn = conn
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        log.warning("progress push to %s stopped: %s (the encode goes on)", self.where, exc)
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def send(self, raw: bytes) -> None:
        if self._conn is None or not raw:
            return
        try:
            self._conn.send(b"%x\r\n%s\r\n" % (len(raw), raw))
        except (OSError, http.client.HTTPException) as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.send(b"0\r\n\r\n")
            self._conn.getresponse().read(65536)
        except (OSError, http.client.HTTPException) as exc:
            log.debug("progress push to %s: closing: %s", self.where, exc)
        finally:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class ProgressSettings:
    """Where an encode's progress goes: pushed to the ffmpeg exporter at `url` (with `token`, https
    verified against `ca_file`) when there is one, and each block handed to `on_progress(stream_index, block)`."""

    url: str | None = None
    token: str | None = None
    ca_file: str | None = None
    on_progress: Callable[[int, Block], None] | None = None

    def forwarder(self, stream: str) -> Forwarder | None:
        """A `Forwarder` of `stream`'s blocks to the exporter; None without an exporter URL."""
        return Forwarder(self.url, stream, token=self.token, ca_file=self.ca_file) if self.url else None


class ProgressDisplay:
    """Per-scenario progress: a tqdm bar on a terminal, and `progress` events at most once a second.

    `update(stream, block)` may be called from several reader threads.
    """

    def __init__(self, scenario: str, total_frames: int, streams: int, emit: Callable[..., None]) -> None:
        self.scenario = scenario
        self.total = total_frames
        self._emit = emit
        self._frames = [0] * streams
        self._fps = [0.0] * streams
        self._speed = [0.0] * streams
        self._lock = threading.Lock()
        self._last_event = 0.0
        self._started = time.monotonic()
        self._bar = None
        if sys.stdout.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                columns = shutil.get_terminal_size((100, 24)).columns or 100  # a pty may report 0 columns
                self._bar = tqdm(total=total_frames, desc=scenario[:40], unit="frame", leave=True,
                                 ncols=min(columns, 120), file=sys.stdout)

    def update(self, stream: int, block: Block) -> None:
        with self._lock:
            self._frames[stream] = block.frame or self._frames[stream]
            elapsed = time.monotonic() - self._started
            # ffmpeg's own fps field reads 0.00 on short encodes: frames over elapsed time is what a bar needs
            self._fps[stream] = self._frames[stream] / elapsed if elapsed > 0 else 0.0
            self._speed[stream] = block.speed or 0.0
            done = sum(self._frames)
            if self._bar is not None:
                self._bar.n = min(done, self.total)
                self._bar.set_postfix(fps=f"{sum(self._fps) / len(self._fps):.1f}",
                                      speed=f"{sum(self._speed) / len(self._speed):.2f}x", refresh=False)
                self._bar.refresh()
            now = time.monotonic()
            if now - self._last_event >= 1.0 or block.end:
                self._last_event = now
                self._emit("progress", scenario=self.scenario, frames=done, total_frames=self.total,
                           stream=stream + 1, fps=self._fps[stream], speed=self._speed[stream])

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
