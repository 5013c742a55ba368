"""What the results, qoe and cost exporters share: the results directory and its rules.

The newest test_results_*.json is the current run; it is reloaded when it changes
(never on a timer). A bad file never takes the exporter down: the last good run keeps
being served, the error is counted once, and the log and /health name the file and
the JSON path of the bad field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ffwatt.catalog import Metric
from ffwatt.contract.loading import DEFAULT_MAX_BYTES, DEFAULT_MAX_SCENARIOS, ResultsError
from ffwatt.contract.model import ResultsRun, Scenario
from ffwatt.contract.results_dir import ResultsDirectory
from ffwatt.contract.schema import Sweep, SweepStep
from ffwatt.exporters.config import Setting
from ffwatt.exporters.labels import MAX_LABEL_LENGTH
from ffwatt.exporters.runtime import Exporter, SourceError
from ffwatt.exporters.samples import Samples

_MAX_SKIPPED_WARNINGS = 20  # beyond this, one summary line: /health stays readable

RESULTS_SETTINGS = (
    Setting("results-dir", "test_results", "Directory holding test_results_YYYYMMDD_HHMMSS.json files."),
    Setting("max-file-bytes", DEFAULT_MAX_BYTES, "Results files larger than this are rejected.", int),
    Setting("max-scenarios", DEFAULT_MAX_SCENARIOS,
            "Results files with more scenarios than this are rejected (before they are built).", int),
    MAX_LABEL_LENGTH,
)


def scenario_labels(s: Scenario) -> dict[str, str]:
    """The bounded label set every per-scenario series carries."""
    return {
        "scenario": s.name,
        "encoder": s.encoder or "unknown",
        "bitrate": s.bitrate or "unknown",
        "resolution": s.resolution or "unknown",
        # files from before the fleet (or a local run) name no host: "unknown", as the other labels
        "host": s.host or "unknown",
        "preset": s.preset or "unknown",
        # the source clip's name (issue 23); files from before sources were recorded name none
        "clip": s.source_name or "unknown",
    }


def add_sweeps(out: Samples, run: ResultsRun, sweep_metric: Metric, sweep_value: Callable[[Sweep], float | None],
               step_metric: Metric, step_value: Callable[[SweepStep], float | None]) -> None:
    """One `sweep_metric` sample per stream-count sweep (label `sweep`) and one `step_metric` sample
    per step of it (labels `sweep`, `scenario`)."""
    for sweep in run.sweeps:
        out.add(sweep_metric, sweep_value(sweep), sweep=sweep.name)
        for step in sweep.steps:
            out.add(step_metric, step_value(step), sweep=sweep.name, scenario=step.scenario)


class ResultsFileExporter(Exporter):
    """Base for exporters that publish the current results run."""

    settings: ClassVar[tuple[Setting, ...]] = RESULTS_SETTINGS
    # Checking the directory is one stat per file: cheap, so check every second.
    default_refresh_seconds: ClassVar[float | None] = 1.0

    def __init__(self, config):
        super().__init__(config)
        self.directory = ResultsDirectory(config.results_dir, max_bytes=config.max_file_bytes,
                                          max_scenarios=config.max_scenarios,
                                          max_label_length=config.max_label_length)
        self._published: ResultsRun | None = None
        self.partially_bad_files = 0

    def refresh(self, out: Samples) -> None:
        try:
            loaded = self.directory.load_if_changed()
        except ResultsError as exc:
            raise SourceError(f"bad results file, keeping the last good run: {exc}") from exc
        if loaded is not None and loaded.skipped:
            self.partially_bad_files += 1  # once per file version, like a bad file
        run = self.directory.current
        if self.directory.last_error is not None:
            # Still the same bad newest file: already counted and logged once.
            raise SourceError(f"bad results file, keeping the last good run: {self.directory.last_error}",
                              counted=False)
        if run is None:
            if not self.directory.path.is_dir():
                raise SourceError(f"results directory {self.directory.path} does not exist (or is not a directory)")
            # An empty directory is a run not yet written (`make demo` starts the exporters before
            # the benchmark): nothing to serve, and nothing wrong.
            return
        # Every refresh, so /health stays degraded while the file has bad scenarios;
        # the runtime logs each distinct warning once.
        for err in run.skipped[:_MAX_SKIPPED_WARNINGS]:
            out.warn(f"scenario skipped: {err}")
        if len(run.skipped) > _MAX_SKIPPED_WARNINGS:
            out.warn(f"{len(run.skipped) - _MAX_SKIPPED_WARNINGS} more scenario(s) of {run.path.name} skipped")
        if run is self._published and not self.always_rebuild():
            out.unchanged()
            return
        self.publish(run, out)
        self._published = run

    def always_rebuild(self) -> bool:
        """True when the data depends on more than the file (the cost exporter's TSDB)."""
        return False

    def publish(self, run: ResultsRun, out: Samples) -> None:
        raise NotImplementedError

    def health_details(self) -> dict:
        run = self.directory.current
        return {
            "results_dir": str(self.directory.path),
            "file": run.path.name if run else None,  # None: no results file yet
            "shape": run.shape if run else None,
            "scenarios": len(run.scenarios) if run else 0,
            "bad_file_error": str(self.directory.last_error) if self.directory.last_error else None,
            "skipped_scenarios": [str(err) for err in run.skipped] if run else [],
            "partially_bad_files": self.partially_bad_files,
            "format_version": run.format_version if run else None,
            "not_run": [{"name": n.name, "status": n.status, "reason": n.reason} for n in run.not_run] if run else [],
        }
