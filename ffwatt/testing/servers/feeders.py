"""Real ffmpeg processes that keep a live pipeline fed: encodes of a test source pushing
`-progress` to the ffmpeg exporter (`FfmpegFeeder`), and streams publishing to an RTMP server
with one player pulling the first back (`RtmpFeeder`). Each process is restarted when it
ends, until `stop()`; each runs in its own session with its output in a log file in `log_dir`
(`common.process`). Test media comes from lavfi `testsrc2`, never a committed clip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from subprocess import Popen

from ffwatt.common import process

STOP_TIMEOUT = 5.0


class _Feeder:
    """A thread that keeps one process per command alive; subclasses give `_commands()` for their
    `streams`, (stream name, WxH) pairs, and `ffmpeg`."""

    name = "feeder"

    def __init__(self, log_dir: Path, ffmpeg: str, streams: Sequence[tuple[str, str]]):
        self.log_dir = Path(log_dir)
        self.ffmpeg = ffmpeg
        self.streams = tuple(streams)
        self._procs: dict[str, Popen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def _commands(self) -> dict[str, list[str]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _live_source(self, size: str) -> list[str]:
        """ffmpeg reading a `size` test pattern at 30 fps, paced at real time as a live source."""
        return [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                "-re",  # paced at real time, as a live encode
                "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"]

    def _run(self) -> None:
        cmds = self._commands()
        while not self._stop.is_set():
            for key, argv in cmds.items():
                proc = self._procs.get(key)
                if proc is None or proc.poll() is not None:
                    self._procs[key] = process.spawn_logged(argv, self.log_dir / f"{self.name}-{key}.log")
            self._stop.wait(1)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self._procs.values():
            self._end(proc, max(0.1, deadline - time.monotonic()))

    def _end(self, proc: Popen, timeout: float) -> None:
        process.terminate(proc, timeout, group=True)


class FfmpegFeeder(_Feeder):
    """Real ffmpeg encodes of a test source pushing -progress to the ffmpeg exporter at
    `progress_url`, one per (stream name, size)."""

    name = "ffmpeg-feeder"

    def __init__(self, progress_url: str, log_dir: Path, *, ffmpeg: str = "ffmpeg",
                 streams: Sequence[tuple[str, str]] = (("demo-720p", "1280x720"), ("demo-360p", "640x360"))):
        super().__init__(log_dir, ffmpeg, streams)
        self.progress_url = progress_url

    def command(self, name: str, size: str) -> list[str]:
        return [*self._live_source(size), "-t", "600",
                "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k",
                # A real muxer to /dev/null: with -f null ffmpeg reports bitrate=N/A.
                "-f", "mpegts", "-y", "/dev/null",
                # progress blocks pushed to the exporter twice a second
                "-progress", f"{self.progress_url}/progress/{name}", "-stats_period", "0.5"]

    def _commands(self) -> dict[str, list[str]]:
        return {name: self.command(name, size) for name, size in self.streams}


class RtmpFeeder(_Feeder):
    """Real ffmpeg streams publishing small test sources (video and audio) to the RTMP server
    at `rtmp_url`, and one player pulling the first one back (so egress and players exist)."""

    name = "rtmp"

    def __init__(self, ffmpeg: str, rtmp_url: str, log_dir: Path,
                 streams: Sequence[tuple[str, str]] = (("demo-cam1", "320x180"), ("demo-cam2", "320x180"))):
        super().__init__(log_dir, ffmpeg, streams)
        self.rtmp_url = rtmp_url

    def publish_command(self, name: str, size: str) -> list[str]:
        return [*self._live_source(size),
                # audio too: nginx-rtmp's audio bandwidth and the publisher's A/V sync need it
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                "-t", "600",
                "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "500k",
                "-g", "30",  # a key frame a second: a player joining late starts at once
                "-c:a", "aac", "-b:a", "64k",
                "-f", "flv", f"{self.rtmp_url}/{name}"]  # RTMP carries FLV

    def play_command(self, name: str) -> list[str]:
        return [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                "-i", f"{self.rtmp_url}/{name}",
                "-c", "copy", "-f", "null", "-"]  # receive only: the server's egress, no decoding cost

    def _commands(self) -> dict[str, list[str]]:
        cmds = {name: self.publish_command(name, size) for name, size in self.streams}
        cmds["player"] = self.play_command(self.streams[0][0])
        return cmds

    def _end(self, proc: Popen, timeout: float) -> None:
        process.kill(proc)  # a player blocked on a dead stream ignores SIGTERM
