"""ffmpeg processes, run and measured: the one place the runner starts an encoder or a scorer.

Each stream of an encode (file or live) is its own ffmpeg process (`StreamProcess`); `run_streams`
launches them, forwards their progress, waits for all and stops any left; `run_measured` runs one
process to completion (the quality pass). Invariants:

* every process is started by `common.process.spawn_logged`: its own session (so a Ctrl-C at the
  terminal reaches only the runner, which decides), stderr appended to its log after a line with
  the command (`shlex.join`, pasteable); errors carry the log's tail;
* it is stopped by its PID: SIGTERM to its process group, a bounded wait, then SIGKILL
  (`common.process.terminate`); nothing else is ever signalled;
* CPU seconds come from `os.wait4` (`energy.process_cpu_time.wait_with_rusage`): exact user + sys
  of ffmpeg and its reaped children, read once;
* frames, media time and speed come from ffmpeg's final `-progress` block; wall time is from the
  launch to the end of the process's stdout;
* every wait is bounded (`timeout`); when one stream fails, the others get a short grace to finish
  or fail too, then the error names every failed stream.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from pathlib import Path

from ffwatt.common import process
from ffwatt.energy.process_cpu_time import process_tree_pids, wait_with_rusage
from ffwatt.readers.ffmpeg_progress import Block, read_blocks
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure.progress import Forwarder, ProgressSettings
from ffwatt.runner.plan.scenario import Scenario, source_file_problem

log = logging.getLogger("ffwatt.run")

__all__ = ["EncodeError", "StreamProcess", "log_tail", "run_measured", "run_streams", "stream_pids"]

STOP_GRACE_SECONDS = 5.0
READER_JOIN_SECONDS = 5.0
FAILED_GRACE_SECONDS = 3.0
LOG_TAIL_BYTES = 2000  # shorter than common.process's: an error message quotes it


class EncodeError(RunnerError):
    """An encode failed (ffmpeg exited non-zero, or took too long); the message has the log tail."""


def log_tail(path: Path) -> str:
    """The last `LOG_TAIL_BYTES` of an ffmpeg log."""
    return process.log_tail(path, LOG_TAIL_BYTES)


def _spawn(argv: list[str], log_path: Path, stdout: int) -> subprocess.Popen:
    try:
        return process.spawn_logged(argv, log_path, stdout=stdout)
    except FileNotFoundError:
        raise RunnerError(f"ffmpeg not found at {argv[0]!r}") from None
    except PermissionError:
        raise RunnerError(f"ffmpeg at {argv[0]!r} is not executable") from None


def _stop(proc: subprocess.Popen) -> None:
    process.terminate(proc, STOP_GRACE_SECONDS, group=True)


def run_measured(argv: list[str], log_path: Path, timeout: float, *, what: str) -> float:
    """Run one process to completion (own session, stderr to `log_path`); its CPU seconds.

    `EncodeError` with the log tail when it exits non-zero or outlives `timeout`.
    """
    proc = _spawn(argv, log_path, subprocess.DEVNULL)
    try:
        rc, cpu = wait_with_rusage(proc, timeout)
    except subprocess.TimeoutExpired:
        raise EncodeError(f"{what}: ffmpeg did not finish within {timeout:g} s; log {log_path}:\n"
                          f"{log_tail(log_path)}") from None
    finally:
        _stop(proc)
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
        self.pids: set[int] = set()  # ffmpeg's and every child's seen while it ran (the meter's GPU share)


def stream_pids(streams: list[StreamProcess]) -> tuple[int, ...]:
    """Every pid the streams' ffmpeg processes and their children had, sorted."""
    return tuple(sorted(set().union(*(s.pids for s in streams))))


def run_streams(
    scenario: Scenario,
    streams: list[StreamProcess],
    *,
    progress: ProgressSettings,
    timeout: float,
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
    try:
        for s in streams:
            _launch(s, progress)
        _wait_all(scenario, streams, deadline, timeout)
    finally:
        for s in streams:
            if s.proc is not None:
                _stop(s.proc)
                if s.proc.stdout is not None:
                    s.proc.stdout.close()
    return start_wall, time.time()


def _launch(s: StreamProcess, progress: ProgressSettings) -> None:
    log.debug("stream %d: %s", s.index + 1, shlex.join(s.argv))
    s.started = time.monotonic()
    s.proc = _spawn(s.argv, s.log_path, subprocess.PIPE)
    s.pids.add(s.proc.pid)
    s.reader = threading.Thread(target=_read, args=(s, progress.forwarder(s.name), progress.on_progress),
                                name=f"progress-{s.name}", daemon=True)
    s.reader.start()


def _wait_all(scenario: Scenario, streams: list[StreamProcess], deadline: float, timeout: float) -> None:
    """Reap every stream (its CPU time) by `deadline` (monotonic; `timeout` s after the launch); `EncodeError`
    naming every failed one."""
    failures: list[str] = []
    for s in streams:
        assert s.proc is not None
        try:
            rc, s.cpu_seconds = wait_with_rusage(s.proc, max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if failures:
                break  # the others failed: this one is stopped by the caller
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


def _read(stream: StreamProcess, forwarder: Forwarder | None, on_progress) -> None:
    assert stream.proc is not None and stream.proc.stdout is not None

    def on_block(block: Block, raw: bytes) -> None:
        stream.final = block
        if not block.end:  # a child ffmpeg started (a filter's helper) is the scenario's too
            stream.pids.update(process_tree_pids(stream.proc.pid))
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
