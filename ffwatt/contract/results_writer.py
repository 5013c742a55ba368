"""The results writer: the JSON document `ffwatt run` writes, format version 2.

The shape is `contract.schema`'s (the structs `contract.loading` decodes); docs/results-format.md
is its prose. The runner builds `ScenarioEntry`, `NotRun` and `Sweep` structs; this module
keeps the run's document and writes it.

Invariants:

* the document is rewritten whole after every scenario, atomically: a temporary file
  in the same directory, flushed and fsynced, then `os.replace` onto
  `<results-dir>/test_results_YYYYMMDD_HHMMSS.json`; a reader never sees half a file
  and a crash keeps every scenario completed before it;
* `None` values are left out (absent means unknown), never written as 0 or null;
* numbers are finite (`allow_nan=False`): a NaN is a bug, refused here;
* a failure to write is a `ResultsWriteError` naming the directory; the previous
  complete file stays in place;
* a document that names a URL anywhere (the meter's exporters or TSDB, an error about one)
  is written mode 0600, readable by the runner's user only: a URL says where the lab's
  meters are and with which user, even with its password redacted; others are 0644;
* capacity sweeps (`sweeps`, top level, only when the run has one) are the exception to
  the first rule: their summaries keep `null` for unknown values (`knee_streams` when
  even the first step fell behind, `net_power_watts` without a baseline), as
  docs/results-format.md shows them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ffwatt.common.errors import FfwattError
from ffwatt.contract.schema import FORMAT_VERSION, SCENARIO_FIELDS, NotRun, ScenarioEntry, Sweep, SweepStep

__all__ = ["FORMAT_VERSION", "SCENARIO_FIELDS", "ResultsWriteError", "ResultsWriter", "entry_object",
           "results_file_name", "scenario_entry", "find_resumable"]

FILE_PREFIX = "test_results_"


class ResultsWriteError(FfwattError):
    """The results file could not be written; the message names the directory and why."""


def results_file_name(started: datetime) -> str:
    """`test_results_YYYYMMDD_HHMMSS.json` for the run's start (UTC)."""
    return f"{FILE_PREFIX}{started.astimezone(UTC):%Y%m%d_%H%M%S}.json"


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value


def entry_object(entry: ScenarioEntry) -> dict[str, Any]:
    """A scenario struct as the JSON object written: `None` left out (also inside free-form parts), in field order."""
    return _drop_none(msgspec.to_builtins(entry))


def scenario_entry(**fields: Any) -> dict[str, Any]:
    """One scenario object from `ScenarioEntry`'s fields (a typo is a `TypeError`), as `entry_object` writes it."""
    unknown = sorted(set(fields) - set(SCENARIO_FIELDS))
    if unknown:
        raise TypeError(f"unknown results field(s): {', '.join(unknown)}")
    return entry_object(ScenarioEntry(**fields))


class ResultsWriter:
    """Holds a run's document and rewrites its file after each change.

    `header` holds the top-level fields besides `format_version`, `scenarios` and
    `not_run` (`test_date`, `environment`, `planned_scenarios`, `runner`...).
    """

    def __init__(self, results_dir: str | os.PathLike[str], file_name: str, header: Mapping[str, Any],
                 scenarios: Iterable[Mapping[str, Any]] = (), not_run: Iterable[Mapping[str, Any]] = (),
                 sweeps: Iterable[Mapping[str, Any]] = ()) -> None:
        self.dir = Path(results_dir)
        self.path = self.dir / file_name
        self.header = dict(header)
        self.scenarios: list[dict[str, Any]] = [dict(s) for s in scenarios]
        self.not_run: list[dict[str, Any]] = [dict(n) for n in not_run]
        self.sweeps: list[dict[str, Any]] = [dict(w) for w in sweeps]

    def document(self) -> dict[str, Any]:
        doc = {"format_version": FORMAT_VERSION, **_drop_none(self.header)}
        doc["scenarios"] = self.scenarios
        doc["not_run"] = self.not_run
        if self.sweeps:
            doc["sweeps"] = self.sweeps
        return doc

    def add_scenario(self, entry: ScenarioEntry | Mapping[str, Any]) -> None:
        entry = entry_object(entry) if isinstance(entry, ScenarioEntry) else dict(entry)
        self.not_run = [n for n in self.not_run if n.get("name") != entry.get("name")]
        self.scenarios.append(entry)
        self.write()

    def add_not_run(self, name: str, status: str, reason: str) -> None:
        if status not in ("skipped", "failed"):
            raise ValueError(f"status must be 'skipped' or 'failed', got {status!r}")
        self.not_run = [n for n in self.not_run if n.get("name") != name]
        self.not_run.append(msgspec.to_builtins(NotRun(name=name, status=status, reason=reason)))
        self.write()

    def set_sweep(self, summary: Sweep | Mapping[str, Any]) -> None:
        """Add or replace (by `name`) one capacity sweep's summary, then rewrite the file.

        The summary goes through `Sweep`, so its shape (and its nulls) is the schema's."""
        if not isinstance(summary, Sweep):  # built, not converted: numbers keep their JSON spelling
            summary = Sweep(**{**summary, "steps": tuple(SweepStep(**step) for step in summary["steps"])})
        summary = msgspec.to_builtins(summary)
        names = [w.get("name") for w in self.sweeps]
        if summary.get("name") in names:
            self.sweeps[names.index(summary.get("name"))] = dict(summary)
        else:
            self.sweeps.append(dict(summary))
        self.write()

    def write(self) -> Path:
        """Write the whole document atomically; `ResultsWriteError` naming the directory on failure."""
        try:
            text = json.dumps(self.document(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        except ValueError as exc:
            raise ResultsWriteError(f"results for {self.path}: not finite JSON: {exc}") from None
        tmp = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.dir)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600 if "://" in text else 0o644)
            os.replace(tmp, self.path)
            tmp = None
        except OSError as exc:
            raise ResultsWriteError(f"cannot write results to directory {str(self.dir)!r}: "
                                    f"{exc.strerror or exc}") from None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return self.path


def find_resumable(results_dir: str | os.PathLike[str], scenario_file: str,
                   matrix_sha256: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest results file in `results_dir` written for this scenario file and matrix, with its document.

    A file matches when its top-level `runner.scenario_file` and `runner.matrix_sha256` are
    the given ones. Unreadable or foreign files are passed over.
    """
    directory = Path(results_dir)
    try:
        candidates = sorted(directory.glob(f"{FILE_PREFIX}*.json"), key=lambda p: p.name, reverse=True)
    except OSError:
        return None
    for path in candidates:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        runner = doc.get("runner") if isinstance(doc, dict) else None
        if (isinstance(runner, dict) and runner.get("scenario_file") == scenario_file
                and runner.get("matrix_sha256") == matrix_sha256 and isinstance(doc.get("scenarios"), list)):
            return path, doc
    return None
