"""The function a fleet worker runs for each task: one scenario (or one repetition of it) on
this host, measured by a `measure.measurer.Measurer` built by the same factory as a local run's
(ffwatt/runner/execute/host.py).

Sources: a lavfi source needs nothing; a file source is either shipped with the task (files up
to `SHIP_MAX_BYTES`: the client reads it, the worker writes it to its work dir) or read from
the same path on the worker (larger files: a path every host mounts). Either way the task
carries the SHA-256 the controller hashed the file to before dispatch (its `SourceCatalog`, the
digest the results record, #21), and the worker checks the bytes it will encode against it
first: a mismatch (the shared file changed since, or this host mounts another copy) fails the
scenario, naming the file and both digests (never retried: another host would read the same file).

The scenario's `options:` are checked again against this host's own ffmpeg (the controller checked
them against its own): an option this host's encoder does not list, or that its ffmpeg takes as a
command-line switch, fails the scenario naming the host (`refused_here`). Progress goes to the
client as events (`PROGRESS_TOPIC`), as a local run's go to `--events`.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo
from ffwatt.runner.measure.measurer import QualityPass, Rep
from ffwatt.runner.measure.media_probe import sha256_file
from ffwatt.runner.measure.processes import EncodeError
from ffwatt.runner.plan.encoder_options import check_options
from ffwatt.runner.plan.scenario import Scenario
from ffwatt.runner.settings import RunOptions

__all__ = ["TaskResult", "run_scenario", "ATTEMPT_TOPIC", "PROGRESS_TOPIC", "SHIP_MAX_BYTES", "source_to_ship",
           "check_source_sha256", "refused_here"]

log = logging.getLogger("ffwatt.worker")

ATTEMPT_TOPIC = "ffwatt-attempt"  # a worker's "started this task" event, so the client sees lost attempts
PROGRESS_TOPIC = "ffwatt-progress"  # a task's progress events (measure.progress.ProgressDisplay), for --events
SHIP_MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    host: str
    environment: dict[str, Any]
    started: float  # unix s, as the attempt event says (the client tells this attempt from lost ones)
    reps: list[Rep]
    quality: QualityPass | None
    errors: list[tuple[str, str | None]]  # (message, log line) the run records as error events


def source_to_ship(s: Scenario) -> bytes | None:
    """The source file's bytes when it is small enough to go with the task; None otherwise."""
    src = s.source
    if src is None or src.kind != "file" or not src.path:
        return None
    path = Path(src.path)
    try:
        if path.stat().st_size > SHIP_MAX_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None  # the worker reads the shared path, and says so when it cannot


def check_source_sha256(s: Scenario, path: Path, expected: str, host: str) -> None:
    """`EncodeError` naming the source, the expected and the found digest when `path`'s bytes do not hash to
    `expected` (the controller's SHA-256 of the file)."""
    assert s.source is not None
    found = sha256_file(path)
    if found != expected.lower():
        raise EncodeError(f"{s.name}: source {s.source.path} on host {host} has SHA-256 {found}, expected {expected} "
                          "(the controller's hash before dispatch): the file changed since, or this host reads "
                          "another copy")


def refused_here(s: Scenario, info: FfmpegInfo, host: str) -> EncodeError | None:
    """Why this host's ffmpeg refuses `s`'s `options:` (plan.encoder_options rules 1 and 3), or None."""
    problems = check_options([(s.name, s.encoder, s.options)], info.encoder_options, info.cli_options, f"host {host}")
    if not problems:
        return None
    return EncodeError(f"{s.name}: refused by the ffmpeg of host {host} ({info.version}): " + "; ".join(problems))


def _place_source(s: Scenario, shipped: bytes | None, work_dir: Path, host: str, sha256: str | None) -> Scenario:
    """`s` with its source where this host reads it (a shipped file written to `work_dir`), checked against
    `sha256`; `EncodeError` when the file is not here or its bytes differ."""
    src = s.source
    if src is None or src.kind != "file" or not src.path:
        return s
    path = Path(src.path)
    if shipped is not None:
        path = work_dir / f"source-{Path(src.path).name}"
        path.write_bytes(shipped)
    elif not path.is_file():
        raise EncodeError(f"{s.name}: source {src.path} is not on host {host} (files over {SHIP_MAX_BYTES >> 20} MiB "
                          "are read from a path every host shares: mount it at the same path)")
    if sha256:
        check_source_sha256(s, path, sha256, host)
    return replace(s, source=replace(src, path=str(path))) if path != Path(src.path) else s


def run_scenario(task_id: str, s: Scenario, opts: RunOptions, quality: bool, shipped: bytes | None,
                 repetitions: int = 1, source_sha256: str | None = None) -> TaskResult:
    """Runs on a worker: `repetitions` repetitions of `s` here, then its quality pass when `quality`; a file
    source is checked against `source_sha256` first (module docstring).
    The CPU model's figure is this host's; the idle power an idle baseline measured here stays with the
    host for the repetitions that follow it (`HostState.idle`)."""
    from distributed import get_worker

    from ffwatt.runner.execute.fleet.worker import host_state
    from ffwatt.runner.execute.host import host_measurement
    from ffwatt.runner.measure.progress import read_token

    state = host_state()
    worker = get_worker()
    started = time.time()
    worker.log_event(ATTEMPT_TOPIC, {"task": task_id, "scenario": s.name, "host": state.name, "started": started})
    errors: list[tuple[str, str | None]] = []
    refused = refused_here(s, state.info, state.name)
    if refused is not None:
        raise refused

    def report_error(message: str, line: str | None = None, *, scenario: str | None = None) -> None:
        errors.append((message, line))  # the client records them (its RunRecorder)

    def emit(event: str, **fields: Any) -> None:  # from ffmpeg's reader threads: log_event is thread-safe
        worker.log_event(PROGRESS_TOPIC, {"event": event, **fields, "host": state.name})

    with state.lock:
        host = host_measurement(opts, state.info, powercap_root=str(state.powercap_root),
                                progress_url=(opts.progress_url or "").rstrip("/") or None,
                                progress_token=read_token(opts.progress_token_file) if opts.progress_token_file else None,
                                emit=emit, report_error=report_error, idle=state.idle)
        work_dir = state.work_dir / f"task-{uuid.uuid4().hex[:12]}"
        work_dir.mkdir(parents=True)
        try:
            placed = _place_source(s, shipped, work_dir, state.name, source_sha256)
            log.info("%s: running here (%d repetition(s))", s.name, repetitions)
            reps, scores = host.measurer.measure(placed, work_dir, repetitions=repetitions, quality=quality)
            state.idle = host.measurer.idle  # issue 30: this host's idle power, probed once, for its later tasks
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
    environment = {**state.capabilities.environment(), "energy_meter": host.meter.describe().split(" ", 1)[0]}
    return TaskResult(task_id=task_id, host=state.name, environment=environment, started=started, reps=reps,
                      quality=scores, errors=errors)
