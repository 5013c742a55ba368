"""What a media file is: a source's identity (size, SHA-256, native size, frame rate, duration),
a file's size, rate and frames (`ffwatt score`, a source's native size) and the frames an encode
really wrote. The one module that probes media: one header parser, one file check.

Contract:

* every probe first checks the file with the loader's `source_file_problem` (a missing file, a
  directory, a fifo or a device is refused before ffmpeg reads it);
* `probe_media` asks `ffprobe -of json` when an ffprobe is found (beside the ffmpeg binary,
  else on PATH); without one (the static ffmpeg of imageio-ffmpeg ships none) it reads the
  header `ffmpeg -i` prints, whose duration and frame rate are rounded to 0.01. A value the
  file does not say (a live capture has no duration) is `None`, never 0;
* `count_frames` and `probe_video` copy the first video stream to the null muxer (no decode) in
  one run: ffmpeg prints the stream (size, frame rate) on stderr, read by `parse_ffmpeg_header`,
  and the frame count in its final `-progress` block on stdout: exact, and ffmpeg alone is enough;
* `SourceCatalog` probes and hashes each file once per run: its cache is keyed by the
  resolved path, size and modification time, so a file replaced during a run is read again;
* every subprocess is bounded by a timeout, its stderr kept for the error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ffwatt.readers.ffmpeg_progress import Block, ProgressParser
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.scenario import source_file_problem

__all__ = ["MediaError", "MediaInfo", "SourceIdentity", "SourceCatalog", "VideoInfo", "probe_media", "probe_video",
           "count_frames", "stream_copy_command", "ffprobe_command", "parse_ffprobe", "parse_ffmpeg_header",
           "parse_stream_copy", "find_ffprobe", "check_file", "sha256_file"]

PROBE_TIMEOUT = 60.0  # a header probe reads the first packets only
COPY_TIMEOUT = 120.0  # a stream copy reads the whole file: seconds for a long clip on a slow disk
_HASH_CHUNK = 1 << 20


class MediaError(RunnerError):
    """A media file could not be probed or counted; the message names the file and ffmpeg's words."""


@dataclass(frozen=True)
class MediaInfo:
    """A file's first video stream: native size, frame rate (frames/s) and the container's duration (s)."""

    width: int | None
    height: int | None
    fps: float | None
    duration_seconds: float | None


@dataclass(frozen=True)
class VideoInfo:
    """A file's first video stream as one stream copy saw it: size, frame rate (None when ffmpeg prints
    none) and frames (None when ffmpeg counted none)."""

    path: str
    width: int
    height: int
    fps: float | None
    frames: int | None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class SourceIdentity:
    """A source file as one run saw it: bytes, SHA-256 and `MediaInfo`."""

    size_bytes: int
    sha256: str
    media: MediaInfo


def find_ffprobe(ffmpeg: str) -> str | None:
    """The ffprobe beside `ffmpeg` (same directory, same suffix), else `ffprobe` on PATH; None without one."""
    binary = Path(ffmpeg)
    if binary.parent != Path("."):
        sibling = binary.with_name(binary.name.replace("ffmpeg", "ffprobe", 1))
        if sibling != binary and sibling.is_file() and os.access(sibling, os.X_OK):
            return str(sibling)
    return shutil.which("ffprobe")


def ffprobe_command(ffprobe: str, path: Path) -> list[str]:
    return [ffprobe, "-v", "error",
            "-of", "json",  # machine-readable, never the human header
            "-show_format",  # the container's duration
            "-show_streams", "-select_streams", "v:0",  # the first video stream: what the runner encodes
            str(path)]


def stream_copy_command(ffmpeg: str, path: Path) -> list[str]:
    return [ffmpeg, "-nostdin", "-hide_banner",  # at the default log level the input's streams are described on stderr
            "-i", str(path),
            "-map", "0:v:0",  # the first video stream only: fails when there is none
            "-c", "copy",  # packets are counted, not decoded: fast on any length
            "-f", "null",  # written nowhere
            "-nostats",  # no status lines between the header and the errors
            "-progress", "pipe:1",  # the final block's frame= is the count
            "-"]


def _rate(text: object) -> float | None:
    """ffprobe's "30000/1001" as frames/s; None for "0/0" or anything not a positive ratio."""
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return float(value) if value > 0 else None


def _positive(value: object, kind: type) -> float | int | None:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def parse_ffprobe(text: str) -> MediaInfo:
    """`MediaInfo` from `ffprobe -of json -show_format -show_streams -select_streams v:0`.

    The frame rate is `avg_frame_rate` (frames over time, right for variable rate too), else
    `r_frame_rate`; the duration is the container's, else the stream's."""
    doc = json.loads(text)
    streams = doc.get("streams") or []
    stream = streams[0] if streams else {}
    fmt = doc.get("format") or {}
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    duration = _positive(fmt.get("duration"), float) or _positive(stream.get("duration"), float)
    return MediaInfo(_positive(stream.get("width"), int), _positive(stream.get("height"), int), fps, duration)


_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)
# `  Stream #0:0(und): Video: h264 (High), yuv420p(tv, progressive), 320x180 [SAR 1:1 DAR 16:9], 25 fps, 25 tbr`;
# the first match is the input's: the output's streams are described after it
_VIDEO = re.compile(r"^\s*Stream #\d+:\d+.*?: Video: (.*)$", re.MULTILINE)
# a size stands alone between commas and spaces (a codec tag like "0x0000)" is none)
_SIZE = re.compile(r"(?:^|[ ,])(\d{1,6})x(\d{1,6})(?=[ ,\[]|$)")
_FPS = re.compile(r"\b(\d+(?:\.\d+)?)(k?) (fps|tbr)\b")


def parse_ffmpeg_header(text: str) -> MediaInfo:
    """`MediaInfo` from the header `ffmpeg -i FILE` prints on stderr (values rounded to 0.01 there)."""
    duration = None
    if m := _DURATION.search(text):
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    width = height = fps = None
    if v := _VIDEO.search(text):
        line = v.group(1)
        if s := _SIZE.search(line):
            width, height = int(s.group(1)), int(s.group(2))
        rates = {unit: float(n) * (1000 if k else 1) for n, k, unit in _FPS.findall(line)}
        fps = rates.get("fps") or rates.get("tbr")
    return MediaInfo(width, height, fps or None, duration or None)


def _run(argv: list[str], what: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except OSError as exc:
        raise MediaError(f"{what}: cannot run {argv[0]!r}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise MediaError(f"{what}: {Path(argv[0]).name} did not finish within {timeout:g} s") from None
    return done


def check_file(path: Path, what: str = "source file") -> None:
    """`MediaError` when `path` cannot be read as media: the loader's `source_file_problem`, named `what`."""
    why = source_file_problem(path)
    if why is not None:
        raise MediaError(why if what == "source file" else f"{what}: {why.replace('source file', 'file', 1)}")


def probe_media(ffmpeg: str, path: Path, *, timeout: float = PROBE_TIMEOUT) -> MediaInfo:
    """The first video stream of `path` (module docstring); `MediaError` when it has none or cannot be read."""
    check_file(path)
    what = f"source file {str(path)[:200]}"
    ffprobe = find_ffprobe(ffmpeg)
    if ffprobe is not None:
        done = _run(ffprobe_command(ffprobe, path), what, timeout)
        if done.returncode != 0:
            raise MediaError(f"{what}: ffprobe cannot read it: {done.stderr.decode(errors='replace')[-500:].strip()}")
        info = parse_ffprobe(done.stdout.decode(errors="replace"))
    else:
        # ffmpeg -i without an output exits 1 by design; the header on stderr is the answer
        done = _run([ffmpeg, "-nostdin", "-hide_banner", "-i", str(path)], what, timeout)
        info = parse_ffmpeg_header(done.stderr.decode(errors="replace"))
    if info.width is None:
        raise MediaError(f"{what}: no video stream found")
    return info


def parse_stream_copy(path: str, stderr: str, stdout: bytes) -> VideoInfo | None:
    """The first video stream from a `stream_copy_command` run; None when the file has no video stream."""
    info = parse_ffmpeg_header(stderr)
    if info.width is None or info.height is None:
        return None
    blocks: list[Block] = ProgressParser().feed(stdout)
    frames = blocks[-1].frame if blocks else None  # the last block holds the total
    return VideoInfo(path=path, width=info.width, height=info.height, fps=info.fps, frames=frames)


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1][:500] if lines else "no reason given"


def probe_video(ffmpeg: str, path: Path, *, what: str = "file", timeout: float = COPY_TIMEOUT) -> VideoInfo:
    """Size, frame rate and frames of `path`'s first video stream in one stream copy; `MediaError`
    naming `what` when the file is missing, unreadable or has no video stream."""
    check_file(path, what)
    done = _run(stream_copy_command(ffmpeg, path), f"{what}: reading {path}", timeout)
    stderr = done.stderr.decode(errors="replace")
    info = parse_stream_copy(str(path), stderr, done.stdout)
    if info is None:
        if "Error opening input" in stderr or "Invalid data found" in stderr:
            raise MediaError(f"{what}: ffmpeg cannot read {path}: {_last_line(stderr)}")
        raise MediaError(f"{what}: {path} has no video stream")
    if done.returncode != 0:
        raise MediaError(f"{what}: ffmpeg failed reading {path} (exit {done.returncode}): {_last_line(stderr)}")
    return info


def count_frames(ffmpeg: str, path: Path, *, timeout: float = COPY_TIMEOUT) -> int | None:
    """Video frames (packets) in `path`; None when ffmpeg could not say."""
    done = _run(stream_copy_command(ffmpeg, path), f"output {path.name}", timeout)
    if done.returncode != 0:
        raise MediaError(f"output {path}: ffmpeg cannot count its frames: "
                         f"{done.stderr.decode(errors='replace')[-500:].strip()}")
    blocks: list[Block] = ProgressParser().feed(done.stdout)
    return blocks[-1].frame if blocks else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class SourceCatalog:
    """Each source file probed and hashed once per run (module docstring)."""

    def __init__(self, ffmpeg: str) -> None:
        self.ffmpeg = ffmpeg
        self._cache: dict[tuple[str, int, int], SourceIdentity] = {}

    def identify(self, path: Path) -> SourceIdentity:
        check_file(path)  # it may have been swapped for a fifo or a device since the loader checked it
        try:
            st = path.stat()
        except OSError as exc:
            raise MediaError(f"source file {str(path)[:200]}: cannot read it: {exc.strerror or exc}") from None
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._cache:
            try:
                digest = sha256_file(path)
            except OSError as exc:
                raise MediaError(f"source file {str(path)[:200]}: cannot read it: {exc.strerror or exc}") from None
            self._cache[key] = SourceIdentity(st.st_size, digest, probe_media(self.ffmpeg, path))
        return self._cache[key]
