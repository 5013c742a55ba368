"""A run's state changes, recorded in one call each: the log line, the NDJSON event
(ffwatt/runner/record/events.py) and, for the changes the results file holds, its rewrite.

`RunRecorder` is the one way a run reaches its results writer (`contract.results_writer`). Each
of its methods rewrites the results file first when the change is one it holds (the file is the
record: when that write fails the run stops with `RunnerError` and the change is not announced),
then writes the event, then the log line:

| call | event | log | results file |
|---|---|---|---|
| `run_started` | run-start | info | written with the header |
| `scenario_started` | scenario-start | info | - |
| `scenario_resumed` | scenario-skipped | info | - (already in it) |
| `scenario_skipped` | scenario-skipped | warning | `not_run`: skipped |
| `scenario_failed` | error (not fatal) | error | `not_run`: failed |
| `scenario_interrupted` | error (fatal) | - | `not_run`: failed |
| `idle_seen` | idle-check (one per check) | info, warning when rejected | header `idle` (next rewrite) |
| `scenario_done` | scenario-done | info | `scenarios` (and a fleet's `hosts`) |
| `scenario_host` | scenario-host | info | - (fleet: a worker started it; `host`, `attempt`) |
| `attempt_lost` | attempt-lost | warning | - (fleet: that host was lost mid-scenario; it runs again elsewhere) |
| `sweep_step` | - | - | `sweeps` |
| `sweep_done` | sweep-done | - | - |
| `rtmp_server` | rtmp-server | info | - |
| `error` | error (not fatal) | when given | - |
| `run_done` | run-done | - | - |

Entries go in as `contract.schema.ScenarioEntry` structs and are kept so (`entries`, `entry`), a
resumed file's too; progress events come from `measure.progress.ProgressDisplay` through
`EventLog.emit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ffwatt.contract.results_writer import ResultsWriteError, ResultsWriter
from ffwatt.contract.schema import ScenarioEntry, Sweep
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure.measurer import Rep
from ffwatt.runner.record.entry import summary
from ffwatt.runner.record.events import EventLog
from ffwatt.runner.record.idle_record import check_line, note_reps

__all__ = ["RunRecorder"]

log = logging.getLogger("ffwatt.run")


class RunRecorder:
    """Records a run's state changes in its events, its log and its results file (module docstring).
    `resumed`: the typed entries of the file `--resume` continues (the writer holds them as read)."""

    def __init__(self, events: EventLog, writer: ResultsWriter, resumed: Iterable[ScenarioEntry] = ()) -> None:
        self.events = events
        self._writer = writer
        self.entries: list[ScenarioEntry] = list(resumed)

    @property
    def path(self) -> Path:
        return self._writer.path

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
        self._record("run-start", f"results: {self.path}", rewrite=self._writer.write,
                     scenario_file=scenario_file, results_file=str(self.path),
                     planned_scenarios=planned_scenarios, resumed=resumed)

    def on_cluster(self, address: str) -> None:
        """The run's scenarios go to the fleet at `address` (in the header from the next write on)."""
        self._writer.header["runner"]["cluster"] = address

    def run_done(self) -> None:
        self._record("run-done", results_file=str(self.path), completed=len(self._writer.scenarios),
                     not_run=len(self._writer.not_run))

    def all_completed(self, excused: Collection[str] = ()) -> bool:
        """Whether every scenario completed, but those whose skip does not fail the run (`excused`)."""
        return all(item["name"] in excused for item in self._writer.not_run)

    def print_summary(self, planned: int, out: TextIO) -> None:
        """What the run left in its results file, for the terminal."""
        print(f"{len(self._writer.scenarios)} of {planned} scenario(s) in {self.path}", file=out)
        for item in self._writer.not_run:
            print(f"  not run: {item['name']}: {item['status']}: {item['reason'].splitlines()[0]}", file=out)
        for sweep in self._writer.sweeps:
            marginal = sweep["marginal_joules_per_stream"]
            print(f"  sweep {sweep['name']}: knee at {sweep['knee_streams']} stream(s), "
                  f"{'unknown' if marginal is None else f'{marginal:.1f}'} J per extra stream", file=out)

    def error(self, message: str, line: str | None = None, *, scenario: str | None = None,
              level: int = logging.ERROR) -> None:
        """Something went wrong that the run goes on without (`line` is its log line, when it has one)."""
        fields = {"scenario": scenario} if scenario is not None else {}
        self._record("error", line, level=level, **fields, message=message, fatal=False)

    def rtmp_server(self, rtmp_url: str, stat_url: str, pid: int | None, record_dir: Path | None) -> None:
        self._record("rtmp-server", f"nginx-rtmp (pid {pid}) on {rtmp_url}, stats at {stat_url}, "
                                    f"recordings in {record_dir}", rtmp_url=rtmp_url, stat_url=stat_url, pid=pid)

    # ---- one scenario

    def entry(self, name: str) -> ScenarioEntry | None:
        """The newest entry of scenario `name` in the results, or None."""
        return next((e for e in reversed(self.entries) if e.name == name), None)

    def scenario_started(self, name: str, *, streams: int, repeat: int, mode: str) -> None:
        self._record("scenario-start", f"{name}: started", scenario=name, streams=streams, repeat=repeat, mode=mode)

    def scenario_resumed(self, name: str) -> None:
        """Completed in the results file that `--resume` continues: not run again."""
        file = self.path.name
        self._record("scenario-skipped", f"{name}: already completed in {file}, skipped", scenario=name,
                     reason=f"completed in {file} (--resume)")

    def scenario_skipped(self, name: str, reason: str) -> None:
        self._record("scenario-skipped", f"{name}: skipped: {reason}", level=logging.WARNING,
                     rewrite=lambda: self._writer.add_not_run(name, "skipped", reason), scenario=name, reason=reason)

    def scenario_failed(self, name: str, message: str) -> None:
        self._record("error", f"{name}: failed: {message}", level=logging.ERROR,
                     rewrite=lambda: self._writer.add_not_run(name, "failed", message), scenario=name,
                     message=message, fatal=False)

    def scenario_interrupted(self, name: str, signal_name: str, message: str) -> None:
        """A signal stopped the run in this scenario (the run's error says so; no log line here)."""
        self._record("error", rewrite=lambda: self._writer.add_not_run(name, "failed", f"interrupted by {signal_name}"),
                     scenario=name, message=message, fatal=True)

    def scenario_host(self, name: str, host: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._record("scenario-host", f"{name}: running on {host}{again}", scenario=name, host=host, attempt=attempt)

    def attempt_lost(self, name: str, host: str) -> None:
        self._record("attempt-lost", f"{name}: host {host} was lost while running it; it ran again elsewhere",
                     level=logging.WARNING, scenario=name, host=host)

    def idle_seen(self, reps: Sequence[Rep], hosts: Sequence[str] = ()) -> None:
        """issue 30: the idle checks these repetitions made and the idle power they used, into the header's
        `idle` (written with the next rewrite); each check as an event and a log line (a rejection warns)."""
        idle = self._writer.header.setdefault("idle", {})
        for check in note_reps(idle, reps, hosts):
            self._record("idle-check", check_line(check), level=logging.INFO if check.accepted else logging.WARNING,
                         origin=check.origin, accepted=check.accepted, watts=check.watts,
                         busy_share=check.busy_share, **({"scenario": check.scenario} if check.scenario else {}))

    def scenario_done(self, entry: ScenarioEntry, hosts: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """`entry` goes to the results file (with the environment of each fleet host that ran it, `hosts`);
        its headline figures (`entry.summary`) to the event and the log."""

        def change() -> None:
            if hosts:
                self._writer.header.setdefault("hosts", {}).update(hosts)
            self._writer.add_scenario(entry)

        figures = summary(entry)
        self._record("scenario-done", f"{entry.name}: done: {figures}", rewrite=change, scenario=entry.name,
                     **figures)
        self.entries.append(entry)

    # ---- capacity sweeps

    def sweep_step(self, sweep: Sweep) -> None:
        """A sweep's summary after each step: rewritten in the results file, no event until it is done."""
        self._rewrite(lambda: self._writer.set_sweep(sweep))

    def sweep_done(self, sweep: Sweep) -> None:
        self._record("sweep-done", scenario=sweep.name, knee_streams=sweep.knee_streams,
                     marginal_joules_per_stream=sweep.marginal_joules_per_stream)
