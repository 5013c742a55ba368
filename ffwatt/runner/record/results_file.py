"""The run's results file, opened: a new one with its header, or the one `--resume` continues.

The header holds what the whole run shares: `test_date`, `planned_scenarios`, `runner` (the
scenario file and its matrix fingerprint, `plan.scenario.matrix_sha256`), `environment` (this
machine, `measure.host_environment`, and the energy meter found at the start) and `meter`
(`contract.schema.MeterRecord`: the meter's settings, the CPU model's figure, the schedule's
order and seed). `--resume` continues the newest results file written for the same scenario file
and expanded matrix, skipping the scenarios already in it; it refuses a file whose meter settings
differ (`MeterRecord.RESUME_KEYS`: among them the energy source and the attribution rule and its
version, so one file never mixes them), naming which, and reuses the file's seed. `idle` (issue 30)
holds the idle threshold and probe settings; the recorder adds the run's idle checks and figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ffwatt.common.urls import redact
from ffwatt.contract import formulas
from ffwatt.contract.results_writer import ResultsWriter, find_resumable, results_file_name
from ffwatt.contract.schema import MeterRecord, ScenarioEntry
from ffwatt.energy.cpu_power_model import ModelFigure
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure.host_environment import collect_environment
from ffwatt.runner.meter.energy_meter import EnergyMeter
from ffwatt.runner.record.idle_record import header_idle
from ffwatt.runner.settings import RunOptions

__all__ = ["ResultsFile", "RunFacts", "open_results"]

log = logging.getLogger("ffwatt.run")


@dataclass(frozen=True)
class ResultsFile:
    """A results file ready to write: its writer, the typed entries it already holds (resumed), their
    names, and the seed of the schedule (a resumed file's own)."""

    writer: ResultsWriter
    entries: list[ScenarioEntry]
    done: set[str]
    seed: int


@dataclass(frozen=True)
class RunFacts:
    """What the header records about the run: its options, scenario file, matrix, plan size and meter."""

    opts: RunOptions
    scenario_file: str
    matrix_sha256: str
    planned: int
    encoders: list[str]
    ffmpeg_path: str
    meter: EnergyMeter
    model: ModelFigure
    anchor: tuple[str, str | None] | None = None  # the file's first (encoder, preset): a report's default anchor


def open_results(facts: RunFacts, seed: int) -> ResultsFile:
    """The results file of this run (module docstring); `RunnerError` when `--resume` must refuse."""
    opts = facts.opts
    header: dict[str, Any] = {
        "test_date": datetime.now(UTC).isoformat(timespec="seconds"),
        "planned_scenarios": facts.planned,
        "runner": {"scenario_file": facts.scenario_file, "matrix_sha256": facts.matrix_sha256},
    }
    if facts.anchor is not None:  # issue 29: the anchor follows the file, whatever order the rounds ran in
        encoder, preset = facts.anchor
        header["anchor"] = {"encoder": encoder, **({"preset": preset} if preset else {})}
    scenarios: list[dict] = []
    sweeps: list[dict] = []
    file_name = results_file_name(datetime.now(UTC))
    if opts.resume:
        found = find_resumable(opts.results_dir, facts.scenario_file, facts.matrix_sha256)
        if found is None:
            log.warning("--resume: no results file in %s for %s with this matrix; starting a new run",
                        opts.results_dir, facts.scenario_file)
        else:
            path, doc = found
            seed = _check_meter(facts, seed, path, doc.get("meter"))
            file_name = path.name
            header.update({k: v for k, v in doc.items()
                           if k not in ("scenarios", "not_run", "format_version", "sweeps")})
            scenarios = [s for s in doc["scenarios"] if isinstance(s, dict) and "name" in s]
            sweeps = [w for w in doc.get("sweeps") or [] if isinstance(w, dict) and "name" in w]
            log.info("--resume: continuing %s (%d scenario(s) done)", path, len({s["name"] for s in scenarios}))
    if "environment" not in header:
        header["environment"], description = _environment(facts)
        header["meter"] = msgspec.to_builtins(_meter_settings(facts, seed, description))
    # issue 30: the idle power's settings now, its checks and figure as the run measures them (a resumed file's kept)
    header.setdefault("idle", header_idle(opts.idle_threshold, opts.idle_probe_seconds if opts.idle_probe else None))
    entries = [_typed(entry, file_name, i) for i, entry in enumerate(scenarios)]
    return ResultsFile(ResultsWriter(opts.results_dir, file_name, header, scenarios, sweeps=sweeps), entries,
                       {e.name for e in entries}, seed)


def _typed(entry: dict[str, Any], file_name: str, i: int) -> ScenarioEntry:
    """A resumed file's entry as the struct this run's entries are."""
    try:
        return msgspec.convert(entry, ScenarioEntry)
    except msgspec.ValidationError as exc:
        raise RunnerError(f"--resume: {file_name}: scenarios[{i}]: {exc}; start a new run") from None


def _environment(facts: RunFacts) -> tuple[dict[str, Any], str]:
    """This machine's block, and what the meter measures with (asked after the environment's NVML probe,
    which shuts NVML down: the meter's own session opens after it)."""
    env = collect_environment(facts.ffmpeg_path, facts.encoders)
    description = facts.meter.describe()
    env["energy_meter"] = description.split(" ", 1)[0]
    if env["energy_meter"] == "model" and facts.model.tdp_watts is not None:
        env["tdp_watts"] = facts.model.tdp_watts
    log.info("energy: %s", description)
    return env, description


def _shown(url: str | None) -> str | None:
    return redact(url) if url else None


def _meter_settings(facts: RunFacts, seed: int, description: str) -> MeterRecord:
    """The settings `--resume` compares (MeterRecord.RESUME_KEYS), and the rest of the record; `description`:
    what the meter measures with (`EnergyMeter.describe`), whose first word is the energy source."""
    opts, meter, model = facts.opts, facts.meter, facts.model
    return MeterRecord(
        mode="in-process" if meter.in_process else "exporters", source=description.split(" ", 1)[0],
        description=description,
        powercap_root=str(opts.powercap_root) if meter.in_process else None,
        # the results file keeps where energy came from, never a URL's password
        cpu_metrics_url=_shown(opts.cpu_metrics_url), gpu_metrics_url=_shown(opts.gpu_metrics_url),
        tsdb_url=_shown(opts.tsdb_url), sample_interval_seconds=float(opts.sample_interval),
        cpu_model=model.cpu_model, model_watts_per_thread=model.watts_per_thread,
        model_tdp_watts=model.tdp_watts, model_package_threads=model.package_threads,
        model_idle_fraction=formulas.CPU_MODEL_IDLE_FRACTION, model_why=model.why,
        attribution="exclusive" if opts.exclusive else "cpu-time-share",
        attribution_version=formulas.ATTRIBUTION_VERSION,
        idle_power_from=("an accepted idle baseline's mean CPU power (the machine under the idle threshold), else "
                         "the runner's idle probe's, else the model's idle term W_thread x f_idle x threads; "
                         "the header's idle says which, each window's energy_inputs what it used"),
        order=opts.order, seed=seed if opts.order == "shuffled" else None,
        min_window_seconds=float(opts.min_window), cool_down_seconds=float(opts.cool_down))


def _check_meter(facts: RunFacts, seed: int, path: Path, recorded: Any) -> int:
    """Refuse to resume a file measured with other meter settings (`RunnerError` naming each); the seed to
    use (the file's, when it recorded one)."""
    opts = facts.opts
    if not isinstance(recorded, dict):
        raise RunnerError(f"--resume: {path} records no meter (written before issue 22): its energy was "
                          "measured another way; start a new run")
    mine = msgspec.to_builtins(_meter_settings(facts, seed, facts.meter.describe()))
    differ = [f"{key}: the file has {recorded.get(key)!r}, this run {mine.get(key)!r}"
              for key in MeterRecord.RESUME_KEYS if recorded.get(key) != mine.get(key)]
    if differ:
        raise RunnerError(f"--resume: {path} was measured with other meter settings ({'; '.join(differ)}): "
                          "give the same settings, or start a new run")
    if opts.order == "shuffled" and recorded.get("seed") is not None:
        if opts.seed is not None and opts.seed != recorded["seed"]:
            raise RunnerError(f"--resume: {path} was shuffled with --seed {recorded['seed']}, this run "
                              f"asks for --seed {opts.seed}")
        return int(recorded["seed"])
    return seed
