"""File-mode encodes: N parallel ffmpeg processes, measured.

Each stream is its own ffmpeg process encoding the scenario's source as fast as it can
to a file in the work dir (one file per rung for a ladder). Invariants:

* every process starts in its own session (so a Ctrl-C at the terminal reaches only the
  runner, which decides) and is stopped by its PID: SIGTERM to its process group, a
  bounded wait, then SIGKILL; nothing else is ever signalled;
* its stderr goes to `<work-dir>/<scenario>-s<n>.log`, whose first line is the command
  (`shlex.join`, pasteable); errors carry the log's tail;
* CPU seconds come from `os.wait4` (`runner.cputime.wait_with_rusage`): exact user + sys
  of ffmpeg and its reaped children, read once;
* frames, media time and speed come from ffmpeg's final `-progress` block; wall time is
  from the launch to the end of the process's stdout;
* every wait is bounded (`timeout`); when one stream fails, the others get a short
  grace to finish or fail too, then the error names every failed stream.

`run_streams` (launch, forward progress, wait, stop) is shared with live mode
(`runner.live`), which builds its own argv and reads its own fields from the blocks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffwatt.common import process
from ffwatt.readers.ffmpeg_progress import Block, read_blocks
from ffwatt.runner import cputime
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.ffmpeg import encode_command, output_paths
from ffwatt.runner.media import MediaError, count_frames
from ffwatt.runner.progress import Forwarder
from ffwatt.runner.scenarios import Scenario, source_file_problem
from ffwatt.runner.streams import EncodeMeasure, StreamMeasure, measured_fields

log = logging.getLogger("ffwatt.run")

__all__ = ["StreamResult", "EncodeResult", "EncodeError", "encode", "stop_process", "log_tail", "run_measured",
           "run_streams", "StreamProcess"]

STOP_GRACE_SECONDS = 5.0
READER_JOIN_SECONDS = 5.0
FAILED_GRACE_SECONDS = 3.0
LOG_TAIL_BYTES = 2000


class EncodeError(RunnerError):
    """An encode failed (ffmpeg exited non-zero, or took too long); the message has the log tail."""


@dataclass(frozen=True)
class StreamResult(StreamMeasure):
    """One stream's encode: `output_bytes` written to `outputs` (one file, or one per rung of a ladder).

    A ladder's rungs are counted one by one (`output_frames`, `output_sizes`, in rung order): ffmpeg's
    progress counts the first output only, and a rung with its own fps has its own frame count."""

    outputs: tuple[str, ...]
    output_frames: tuple[int | None, ...] = ()
    output_sizes: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class EncodeResult(EncodeMeasure):
    """All streams of one file encode."""

    streams: tuple[StreamResult, ...]


def log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last `limit` bytes of an ffmpeg log (common.process.log_tail, shorter: an error
    message quotes it)."""
    return process.log_tail(path, limit)


def stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM to the child's own process group (it leads its session), wait, then SIGKILL; bounded."""
    if proc.returncode is not None:
        return  # reaped already: its PID may belong to someone else now
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
    log.error("ffmpeg pid %d did not exit after SIGKILL", proc.pid)


def _spawn(argv: list[str], log_path: Path, **kwargs) -> subprocess.Popen:
    with open(log_path, "ab") as logf:
        logf.write(f"# {shlex.join(argv)}\n".encode())
        logf.flush()
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=logf, start_new_session=True, **kwargs)
        except FileNotFoundError:
            raise RunnerError(f"ffmpeg not found at {argv[0]!r}") from None
        except PermissionError:
            raise RunnerError(f"ffmpeg at {argv[0]!r} is not executable") from None


def run_measured(argv: list[str], log_path: Path, timeout: float, *, what: str) -> float:
    """Run one process to completion (own session, stderr to `log_path`); its CPU seconds.

    `EncodeError` with the log tail when it exits non-zero or outlives `timeout`.
    """
    proc = _spawn(argv, log_path, stdout=subprocess.DEVNULL)
    try:
        rc, cpu = cputime.wait_with_rusage(proc, timeout)
    except subprocess.TimeoutExpired:
        raise EncodeError(f"{what}: ffmpeg did not finish within {timeout:g} s; log {log_path}:\n"
                          f"{log_tail(log_path)}") from None
    finally:
        stop_process(proc)
    if rc != 0:
        raise EncodeError(f"{what}: ffmpeg exited with {rc}; log {log_path}:\n{log_tail(log_path)}")
    return cpu


class StreamProcess:
    """One ffmpeg process of an encode (file or live) while it runs: its argv, log, progress and CPU time."""

    def __init__(self, index: int, argv: list[str], outputs: list[Path], log_path: Path, name: str) -> None:
        self.index = index
        self.argv = argv
        self.outputs = outputs
        self.log_path = log_path
        self.name = name  # the ffmpeg exporter's stream name
        self.proc: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.started = 0.0
        self.ended: float | None = None
        self.final = Block()  # the last progress block (all unknown before the first)
        self.points: list[tuple[float, float]] = []  # (wall s since launch, media s) of each `continue` block
        self.cpu_seconds = 0.0
        self.pids: set[int] = set()  # ffmpeg's and every child's seen while it ran (runner.energy's GPU share)


def encode(
    scenario: Scenario,
    *,
    ffmpeg: str,
    work_dir: Path,
    progress_url: str | None = None,
    on_progress: Callable[[int, Block], None] | None = None,
    timeout: float,
    progress_token: str | None = None,
    progress_ca_file: str | None = None,
) -> EncodeResult:
    """Run the scenario's `streams` encodes in parallel and measure them (see the module docstring)."""
    streams = []
    for i in range(scenario.streams):
        outputs = output_paths(scenario, work_dir, i + 1)
        argv = encode_command(scenario, ffmpeg, outputs)
        streams.append(StreamProcess(i, argv, outputs, work_dir / f"{scenario.slug}-s{i + 1}.log",
                               f"{scenario.slug}-{i + 1}"))
    start_wall, end_wall = run_streams(scenario, streams, progress_url=progress_url, on_progress=on_progress,
                                       timeout=timeout, progress_token=progress_token,
                                       progress_ca_file=progress_ca_file)
    return EncodeResult(start_time=start_wall, end_time=end_wall, pids=stream_pids(streams), streams=tuple(
        StreamResult(**measured_fields(s), output_bytes=sum(p.stat().st_size for p in s.outputs if p.exists()),
                     outputs=tuple(str(p) for p in s.outputs),
                     output_frames=tuple(_frames(ffmpeg, p) for p in s.outputs) if scenario.outputs else (),
                     output_sizes=tuple(p.stat().st_size if p.exists() else None for p in s.outputs)
                     if scenario.outputs else ())
        for s in streams))


def stream_pids(streams: list[StreamProcess]) -> tuple[int, ...]:
    """Every pid the streams' ffmpeg processes and their children had, sorted."""
    return tuple(sorted(set().union(*(s.pids for s in streams))))


def _frames(ffmpeg: str, path: Path) -> int | None:
    """A rung's frames, counted in its file; None (logged) when they cannot be."""
    try:
        return count_frames(ffmpeg, path)
    except MediaError as exc:
        log.warning("%s", exc)
        return None


def run_streams(
    scenario: Scenario,
    streams: list[StreamProcess],
    *,
    progress_url: str | None,
    on_progress: Callable[[int, Block], None] | None,
    timeout: float,
    progress_token: str | None = None,
    progress_ca_file: str | None = None,
) -> tuple[float, float]:
    """Launch every stream, wait for all (bounded), stop any left; `(start, end)` in unix seconds.

    When a stream fails, the others get `FAILED_GRACE_SECONDS` to finish or fail too (a dead
    RTMP server fails them all at once), then `EncodeError` names every failed stream.
    """
    if scenario.source is not None and scenario.source.kind == "file":
        # checked when the file was loaded, and again now: it may have been swapped for a fifo or a device since
        why = source_file_problem(Path(scenario.source.path))
        if why:
            raise EncodeError(f"scenario {scenario.name!r}: {why}")
    start_wall = time.time()
    deadline = time.monotonic() + timeout
    failures: list[str] = []
    try:
        for s in streams:
            log.debug("stream %d: %s", s.index + 1, shlex.join(s.argv))
            s.started = time.monotonic()
            s.proc = _spawn(s.argv, s.log_path, stdout=subprocess.PIPE)
            s.pids.add(s.proc.pid)
            forwarder = (Forwarder(progress_url, s.name, token=progress_token, ca_file=progress_ca_file)
                         if progress_url else None)
            s.reader = threading.Thread(target=_read, args=(s, forwarder, on_progress),
                                        name=f"progress-{s.name}", daemon=True)
            s.reader.start()
        for s in streams:
            assert s.proc is not None
            try:
                rc, s.cpu_seconds = cputime.wait_with_rusage(s.proc, max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                if failures:
                    break  # the others failed: this one is stopped below
                raise EncodeError(f"scenario {scenario.name!r}: stream {s.index + 1} did not finish within "
                                  f"{timeout:g} s; log {s.log_path}:\n{log_tail(s.log_path)}") from None
            if rc != 0:
                failures.append(f"ffmpeg (stream {s.index + 1}, {s.name}) exited with {rc}; log {s.log_path}:\n"
                                f"{log_tail(s.log_path)}")
                deadline = min(deadline, time.monotonic() + FAILED_GRACE_SECONDS)
        if failures:
            head = f"scenario {scenario.name!r}: {len(failures)} of {len(streams)} stream(s) failed"
            raise EncodeError(f"{head}: " + failures[0] if len(failures) == 1 else head + ":\n" + "\n".join(failures))
        for s in streams:
            assert s.reader is not None
            s.reader.join(READER_JOIN_SECONDS)
    finally:
        for s in streams:
            if s.proc is not None:
                stop_process(s.proc)
                if s.proc.stdout is not None:
                    s.proc.stdout.close()
    return start_wall, time.time()


def _read(stream: StreamProcess, forwarder: Forwarder | None, on_progress) -> None:
    assert stream.proc is not None and stream.proc.stdout is not None

    def on_block(block: Block, raw: bytes) -> None:
        stream.final = block
        if not block.end:  # a child ffmpeg started (a filter's helper) is the scenario's too
            stream.pids.update(cputime.process_tree_pids(stream.proc.pid))
        media = block.out_time_seconds
        if not block.end and media is not None and media >= 0:
            stream.points.append((time.monotonic() - stream.started, media))
        if forwarder is not None:
            forwarder.send(raw)
        if on_progress is not None:
            try:
                on_progress(stream.index, block)
            except Exception:  # a display bug must not lose the measurement
                log.exception("progress display failed")

    try:
        read_blocks(stream.proc.stdout, on_block)
    except (OSError, ValueError):
        pass  # the pipe was closed under us (the encode is being stopped)
    finally:
        stream.ended = time.monotonic()
        if forwarder is not None:
            forwarder.close()
