"""Parser for ffmpeg's `-progress` output: `key=value` lines in blocks.

ffmpeg writes one block every `-stats_period` seconds; each block ends with
`progress=continue`, the last one with `progress=end`:

    frame=150
    fps=24.98
    stream_0_0_q=-1.0
    bitrate= 723.5kbits/s
    total_size=542632
    out_time_us=6000000
    out_time_ms=6000000          # microseconds too (an ffmpeg naming bug kept for compatibility)
    out_time=00:00:06.000000
    dup_frames=0
    drop_frames=0
    speed=1.01x
    progress=end

`ProgressParser.feed(bytes)` takes the body in arbitrary pieces (lines may be split
across chunks) and returns the blocks completed so far. It is the one parser of this output:
the ffmpeg exporter feeds it what ffmpeg POSTs, and the runner reads its encodes' stdout with
`read_blocks`, which feeds it line by line and hands each block over with its raw bytes
(forwarded as they came). It is pure (no I/O), so it
can be fuzzed; the only exception it raises is `ProgressError`, for input that
cannot be progress output at all (a line longer than `max_line` bytes). Everything
else is tolerated and counted: lines that are not `key=value` (`bad_lines`), values
a known key cannot take (`bad_values`), keys this parser does not know
(`unknown_keys`, e.g. keys a newer ffmpeg adds). `N/A` leaves that field unset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from ffwatt.common.errors import FfwattError

DEFAULT_MAX_LINE = 4096

# Keys ffmpeg writes that carry nothing we export (per-output-stream quantizer,
# PSNR when -psnr is on). Known, so they are not counted as unknown.
_IGNORED_KEY = re.compile(r"stream_\d+_\d+_(q|psnr_[a-z]+)")
_BITRATE = re.compile(r"([0-9]{1,30}(?:\.[0-9]{0,30})?(?:[eE][+-]?[0-9]+)?)\s*([kMG]?)bits/s")
_OUT_TIME = re.compile(r"(-?)([0-9]{1,10}):([0-5]?[0-9]):([0-5]?[0-9](?:\.[0-9]+)?)")
_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
_INT64 = 2**63  # ffmpeg's counters are int64; anything longer is not ffmpeg's


class ProgressError(FfwattError, ValueError):
    """The body cannot be ffmpeg progress output (a fatal, per-connection error)."""


@dataclass(frozen=True)
class Block:
    """One completed progress block. None: ffmpeg said N/A or left the key out."""

    frame: int | None = None
    fps: float | None = None
    bitrate_bps: float | None = None
    total_size_bytes: int | None = None
    out_time_seconds: float | None = None
    dup_frames: int | None = None
    drop_frames: int | None = None
    speed: float | None = None
    end: bool = False


class _NotAvailableError(Exception):
    pass


def _na(text: str) -> None:
    if text.upper() == "N/A":
        raise _NotAvailableError


def parse_count(text: str) -> int:
    """A non-negative integer (frames, bytes)."""
    _na(text)
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) >= _INT64:
        raise ValueError(f"not a count: {text!r}")
    return int(text)


def parse_float(text: str) -> float:
    """A finite, non-negative decimal (fps)."""
    _na(text)
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a non-negative number: {text!r}")
    return value


def parse_bitrate(text: str) -> float:
    """'1234.5kbits/s' -> 1234500.0 bits per second."""
    _na(text)
    match = _BITRATE.fullmatch(text)
    if not match:
        raise ValueError(f"not a bitrate: {text!r}")
    value = float(match.group(1)) * _SCALE[match.group(2)]
    if not math.isfinite(value):
        raise ValueError(f"not a bitrate: {text!r}")
    return value


def parse_speed(text: str) -> float:
    """'1.02x' -> 1.02."""
    _na(text)
    if not text.endswith("x"):
        raise ValueError(f"not a speed: {text!r}")
    return parse_float(text[:-1].strip())


def parse_microseconds(text: str) -> float:
    """out_time_us / out_time_ms (both microseconds in ffmpeg) -> seconds."""
    _na(text)
    body = text[1:] if text.startswith("-") else text
    if not body.isascii() or not body.isdigit() or len(body) > 19 or int(body) >= _INT64:
        raise ValueError(f"not microseconds: {text!r}")
    return int(text) / 1e6


def parse_clock(text: str) -> float:
    """'HH:MM:SS.ffffff' (optionally negative) -> seconds."""
    _na(text)
    match = _OUT_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"not a time: {text!r}")
    sign, hours, minutes, seconds = match.groups()
    value = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return -value if sign else value


# key -> (Block field, parser). For out_time the first key present wins, in this
# order: out_time_us, out_time, out_time_ms.
_FIELDS = {
    "frame": ("frame", parse_count),
    "fps": ("fps", parse_float),
    "bitrate": ("bitrate_bps", parse_bitrate),
    "total_size": ("total_size_bytes", parse_count),
    "out_time_us": ("out_time_us", parse_microseconds),
    "out_time": ("out_time", parse_clock),
    "out_time_ms": ("out_time_ms", parse_microseconds),
    "dup_frames": ("dup_frames", parse_count),
    "drop_frames": ("drop_frames", parse_count),
    "speed": ("speed", parse_speed),
}
_OUT_TIME_KEYS = ("out_time_us", "out_time", "out_time_ms")
_BLOCK_FIELDS = ("frame", "fps", "bitrate_bps", "total_size_bytes", "dup_frames", "drop_frames", "speed")


class ProgressParser:
    """Incremental parser for one progress body."""

    def __init__(self, max_line: int = DEFAULT_MAX_LINE):
        self.max_line = max_line
        self._buffer = bytearray()
        self._current: dict[str, float | int] = {}
        self.bad_lines = 0
        self.bad_values = 0
        self.unknown_keys = 0
        self.unknown_key_names: set[str] = set()  # at most 32 kept, for /health
        self.blocks = 0
        self.bytes = 0

    def feed(self, data: bytes) -> list[Block]:
        """Consume bytes; return the blocks completed by them (possibly none)."""
        self.bytes += len(data)
        self._buffer += data
        done: list[Block] = []
        start = 0
        while True:
            newline = self._buffer.find(b"\n", start)
            if newline < 0:
                break
            if newline - start > self.max_line:
                raise ProgressError(f"line longer than {self.max_line} bytes")
            block = self._line(bytes(self._buffer[start:newline]))
            if block is not None:
                done.append(block)
            start = newline + 1
        del self._buffer[:start]
        if len(self._buffer) > self.max_line:
            raise ProgressError(f"line longer than {self.max_line} bytes")
        return done

    def finish(self) -> list[Block]:
        """The body ended: parse a last line without a newline, if any."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        if not rest.strip():
            return []
        block = self._line(rest)
        return [block] if block is not None else []

    @property
    def pending(self) -> bool:
        """True when a block has started but not ended (no progress= line yet)."""
        return bool(self._current) or bool(self._buffer.strip())

    def _line(self, raw: bytes) -> Block | None:
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self.bad_lines += 1
            return None
        if not line:
            return None
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not key.isascii() or not key.replace("_", "").isalnum():
            self.bad_lines += 1
            return None
        if key == "progress":
            if value not in ("continue", "end"):
                self.bad_values += 1
            return self._close(end=value == "end")
        spec = _FIELDS.get(key)
        if spec is None:
            if not _IGNORED_KEY.fullmatch(key):
                self.unknown_keys += 1
                if len(self.unknown_key_names) < 32:
                    self.unknown_key_names.add(key[:64])
            return None
        field, parse = spec
        try:
            self._current[field] = parse(value)
        except _NotAvailableError:
            self._current.pop(field, None)
        except (ValueError, OverflowError):
            self.bad_values += 1
            self._current.pop(field, None)
        return None

    def _close(self, *, end: bool) -> Block:
        cur = self._current
        self._current = {}
        self.blocks += 1
        out_time = next((cur[k] for k in _OUT_TIME_KEYS if k in cur), None)
        fields = {name: cur.get(name) for name in _BLOCK_FIELDS}
        return Block(out_time_seconds=out_time, end=end, **fields)  # type: ignore[arg-type]


def read_blocks(stream: IO[bytes], on_block: Callable[[Block, bytes], None],
                max_line: int = DEFAULT_MAX_LINE) -> ProgressParser:
    """Read ffmpeg progress from `stream` until EOF, calling `on_block(block, raw_bytes)` per block.

    The stream is always read to its end, so ffmpeg never blocks on a full pipe: a line longer
    than `max_line` (not ffmpeg's) is skipped and counted in `bad_lines`, and the block it was
    in goes on. Returns the parser, whose counters say what was tolerated.
    """
    parser = ProgressParser(max_line)
    raw = bytearray()
    skipping = False  # inside a line longer than max_line
    for piece in iter(lambda: stream.readline(max_line), b""):
        raw += piece
        complete = piece.endswith(b"\n")
        if skipping or (not complete and len(piece) >= max_line):
            skipping = not complete
            parser.bad_lines += not skipping
            continue
        for block in parser.feed(piece):
            on_block(block, bytes(raw))
            raw = bytearray()
    for block in parser.finish():
        on_block(block, bytes(raw))
    return parser
