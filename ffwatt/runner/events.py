"""A run's state changes, recorded in one call each: the log line, the NDJSON event and, for the
changes the results file holds, its rewrite.

NDJSON run events (`ffwatt run --events FILE`): one JSON object per line. Every event has
`event` (scenario-start, progress, scenario-done, scenario-skipped, error, run-start,
run-done; rtmp-server when the runner started its nginx-rtmp, with
`rtmp_url`, `stat_url`, `pid`; sweep-done with `knee_streams` and
`marginal_joules_per_stream`), `time` (unix seconds) and, where it concerns one,
`scenario` (its name). Lines are written whole and flushed, from any thread.

`RunRecorder` is the one way a run records a change. Each of its methods rewrites the
results file first when the change is one it holds (the file is the record: when that write
fails the run stops with `RunnerError` and the change is not announced), then writes the event,
then the log line:

| call | event | log | results file |
|---|---|---|---|
| `run_started` | run-start | info | written with the header |
| `scenario_started` | scenario-start | info | - |
| `scenario_resumed` | scenario-skipped | info | - (already in it) |
| `scenario_skipped` | scenario-skipped | warning | `not_run`: skipped |
| `scenario_failed` | error (not fatal) | error | `not_run`: failed |
| `scenario_interrupted` | error (fatal) | - | `not_run`: failed |
| `scenario_done` | scenario-done | info | `scenarios` |
| `scenario_host` | scenario-host | info | - (fleet: a worker started it; `host`, `attempt`) |
| `attempt_lost` | attempt-lost | warning | - (fleet: that host was lost mid-scenario; it runs again elsewhere) |
| `sweep_step` | - | - | `sweeps` |
| `sweep_done` | sweep-done | - | - |
| `rtmp_server` | rtmp-server | info | - |
| `error` | error (not fatal) | when given | - |
| `run_done` | run-done | - | - |

Progress events come from `runner.progress.ProgressDisplay` through `EventLog.emit`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ffwatt.contract.results_writer import ResultsWriteError, ResultsWriter
from ffwatt.runner.errors import RunnerError

__all__ = ["EventLog", "RunRecorder"]

log = logging.getLogger("ffwatt.run")


class EventLog:
    """Appends events to `path`; with `path=None` every call is a no-op."""

    def __init__(self, path: str | Path | None) -> None:
        self._lock = threading.Lock()
        self._file = None
        if path:
            try:
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise RunnerError(f"cannot open the events file {str(path)!r}: {exc.strerror or exc}") from None

    def emit(self, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str,
                          allow_nan=False) + "\n"
        with self._lock:
            if self._file is not None:
                try:
                    self._file.write(line)
                    self._file.flush()
                except (OSError, ValueError):
                    pass  # events are a side channel; the results file is the record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class RunRecorder:
    """Records a run's state changes in its events, its log and its results file (module docstring)."""

    def __init__(self, events: EventLog, writer: ResultsWriter) -> None:
        self.events = events
        self.writer = writer

    def _record(self, event: str, line: str | None = None, *, level: int = logging.INFO,
                rewrite: Callable[[], Any] | None = None, **fields: Any) -> None:
        if rewrite is not None:
            self._rewrite(rewrite)
        self.events.emit(event, **fields)
        if line is not None:
            log.log(level, "%s", line)

    def _rewrite(self, change: Callable[[], Any]) -> None:
        try:
            change()
        except ResultsWriteError as exc:
            raise RunnerError(f"{exc}; completed scenarios so far are in the last file written there") from None

    # ---- the run

    def run_started(self, scenario_file: str, planned_scenarios: int, resumed: bool) -> None:
        self._record("run-start", f"results: {self.writer.path}", rewrite=self.writer.write,
                     scenario_file=scenario_file, results_file=str(self.writer.path),
                     planned_scenarios=planned_scenarios, resumed=resumed)

    def run_done(self) -> None:
        self._record("run-done", results_file=str(self.writer.path), completed=len(self.writer.scenarios),
                     not_run=len(self.writer.not_run))

    def error(self, message: str, line: str | None = None, *, scenario: str | None = None,
              level: int = logging.ERROR) -> None:
        """Something went wrong that the run goes on without (`line` is its log line, when it has one)."""
        fields = {"scenario": scenario} if scenario is not None else {}
        self._record("error", line, level=level, **fields, message=message, fatal=False)

    def rtmp_server(self, rtmp_url: str, stat_url: str, pid: int | None, record_dir: Path | None) -> None:
        self._record("rtmp-server", f"nginx-rtmp (pid {pid}) on {rtmp_url}, stats at {stat_url}, "
                                    f"recordings in {record_dir}", rtmp_url=rtmp_url, stat_url=stat_url, pid=pid)

    # ---- one scenario

    def scenario_started(self, name: str, *, streams: int, repeat: int, mode: str) -> None:
        self._record("scenario-start", f"{name}: started", scenario=name, streams=streams, repeat=repeat, mode=mode)

    def scenario_resumed(self, name: str) -> None:
        """Completed in the results file that `--resume` continues: not run again."""
        file = self.writer.path.name
        self._record("scenario-skipped", f"{name}: already completed in {file}, skipped", scenario=name,
                     reason=f"completed in {file} (--resume)")

    def scenario_skipped(self, name: str, reason: str) -> None:
        self._record("scenario-skipped", f"{name}: skipped: {reason}", level=logging.WARNING,
                     rewrite=lambda: self.writer.add_not_run(name, "skipped", reason), scenario=name, reason=reason)

    def scenario_failed(self, name: str, message: str) -> None:
        self._record("error", f"{name}: failed: {message}", level=logging.ERROR,
                     rewrite=lambda: self.writer.add_not_run(name, "failed", message), scenario=name,
                     message=message, fatal=False)

    def scenario_interrupted(self, name: str, signal_name: str, message: str) -> None:
        """A signal stopped the run in this scenario (the run's error says so; no log line here)."""
        self._record("error", rewrite=lambda: self.writer.add_not_run(name, "failed", f"interrupted by {signal_name}"),
                     scenario=name, message=message, fatal=True)

    def scenario_host(self, name: str, host: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._record("scenario-host", f"{name}: running on {host}{again}", scenario=name, host=host, attempt=attempt)

    def attempt_lost(self, name: str, host: str) -> None:
        self._record("attempt-lost", f"{name}: host {host} was lost while running it; it ran again elsewhere",
                     level=logging.WARNING, scenario=name, host=host)

    def scenario_done(self, name: str, entry: Any, summary: Mapping[str, Any]) -> None:
        """`entry` goes to the results file; `summary` (its headline figures) to the event and the log."""
        self._record("scenario-done", f"{name}: done: {dict(summary)}", rewrite=lambda: self.writer.add_scenario(entry),
                     scenario=name, **summary)

    # ---- capacity sweeps

    def sweep_step(self, summary: Mapping[str, Any]) -> None:
        """A sweep's summary after each step: rewritten in the results file, no event until it is done."""
        self._rewrite(lambda: self.writer.set_sweep(summary))

    def sweep_done(self, summary: Mapping[str, Any]) -> None:
        self._record("sweep-done", scenario=summary["name"], knee_streams=summary["knee_streams"],
                     marginal_joules_per_stream=summary["marginal_joules_per_stream"])
