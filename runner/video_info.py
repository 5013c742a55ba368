"""What video a file holds, asked of ffmpeg itself (the static ffmpeg the runner uses ships no ffprobe).

One run per file: `ffmpeg -i FILE -map 0:v:0 -c copy -f null -` copies the first video stream's
packets to nowhere (no decode: fast), so ffmpeg prints the stream (size, frame rate) on stderr
and counts its frames in the last `-progress` block on stdout. The argv comes from a pure
function; the parsing is pure too, so unit tests check both on ffmpeg's own text.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from runner.errors import RunnerError
from runner.scenarios import source_file_problem

__all__ = ["VideoInfo", "probe_command", "parse_probe", "probe_video"]

PROBE_TIMEOUT = 120.0  # a copy pass reads the whole file: seconds for a long clip on a slow disk

# `  Stream #0:0(und): Video: h264 (High), yuv420p(tv, progressive), 320x180 [SAR 1:1 DAR 16:9], 25 fps, 25 tbr`
_VIDEO_LINE = re.compile(r"^\s*Stream #0:\d+.*?: Video: (.*)$")
_SIZE = re.compile(r"(?:^|[ ,])(\d{1,5})x(\d{1,5})(?=[ ,\[]|$)")
_FRAME = re.compile(r"^frame=(\d+)$", re.MULTILINE)
_RATE = re.compile(r"(\d+(?:\.\d+)?)(k?) (?:fps|tbr)\b")


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file: its size, frame rate (None when ffmpeg prints none) and frames."""

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


def probe_command(ffmpeg: str, path: Path) -> list[str]:
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",  # never read the terminal
        "-i", str(path),  # at the default log level ffmpeg describes every input stream on stderr
        "-map", "0:v:0",  # the first video stream only: fails when there is none
        "-c", "copy",  # packets, not frames: no decode, so the count is cheap
        "-f", "null", "-",  # written nowhere
        "-nostats",
        "-progress", "pipe:1",  # the frame count, as key=value lines on stdout
    ]


def parse_probe(path: str, stderr: str, stdout: str) -> VideoInfo | None:
    """The first video stream from a probe's output; None when the file has no video stream."""
    for line in stderr.splitlines():
        match = _VIDEO_LINE.match(line)
        if match is None:
            continue
        size = _SIZE.search(match.group(1))
        if size is None:
            continue
        rate = _RATE.search(match.group(1))
        fps = float(rate.group(1)) * (1000 if rate.group(2) else 1) if rate else None
        counts = _FRAME.findall(stdout)
        frames = int(counts[-1]) if counts else None  # the last block holds the total
        return VideoInfo(path=path, width=int(size.group(1)), height=int(size.group(2)), fps=fps, frames=frames)
    return None


def probe_video(ffmpeg: str, path: Path, *, what: str = "file") -> VideoInfo:
    """The first video stream of `path`; `RunnerError` naming `what` when it is missing, unreadable or has none."""
    why = source_file_problem(path)
    if why is not None:
        raise RunnerError(f"{what}: {why.replace('source file', 'file', 1)}")
    argv = probe_command(ffmpeg, path)
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
    except FileNotFoundError:
        raise RunnerError(f"ffmpeg not found at {ffmpeg!r}; pass --ffmpeg PATH") from None
    except subprocess.TimeoutExpired:
        raise RunnerError(f"{what}: reading {path} took over {PROBE_TIMEOUT:g} s") from None
    stderr, stdout = done.stderr.decode(errors="replace"), done.stdout.decode(errors="replace")
    info = parse_probe(str(path), stderr, stdout)
    if info is None:
        if "Error opening input" in stderr or "Invalid data found" in stderr:
            last = [line for line in stderr.splitlines() if line.strip()][-1:]
            raise RunnerError(f"{what}: ffmpeg cannot read {path}: {last[0].strip() if last else 'no reason given'}")
        raise RunnerError(f"{what}: {path} has no video stream")
    if done.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no reason given"]
        raise RunnerError(f"{what}: ffmpeg failed reading {path} (exit {done.returncode}): {tail[0]}")
    return info
