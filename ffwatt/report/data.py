"""The report's figures, computed from results files alone: one `Row` per scenario.

Standard library and `contract` only (no numpy, no matplotlib), so the table, the CSV
and the Markdown can be checked without the plotting stack. Every figure comes from
`contract.formulas`; `None` means unknown and is shown as a dash, never as 0.

Energy is labelled by what produced it (`energy_kind`): a meter reading
(`rapl`, `nvml`, `rapl+nvml`, the file's power `samples`, the `tsdb`) is *measured*;
the CPU power model is *estimated*; ffwatt's sample files are *simulated*.

A scenario's energy is its own, attributed share of the machine's (`energy_joules`, the rule
in `energy_attribution`): every figure uses it. The whole machine's energy over its window
(`machine_energy_joules`) is shown beside it and used for nothing.

Energy per second of video divides by the media time really encoded (`media_seconds`, from the
frames the encode wrote) where the results record it, else by the nominal duration: a truncated
source encodes fewer seconds than asked. Such a scenario is `incomplete` and enters no curve.

The rows of a report are in one canonical order (`canonical_order`), whatever the order of the
scenarios in the file: a shuffled run's order is an accident, and no figure may depend on it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffwatt.common.errors import FfwattError
from ffwatt.contract import formulas
from ffwatt.contract.loading import load_results_file
from ffwatt.contract.model import ResultsRun, Scenario
from ffwatt.contract.schema import MEASURED_ENERGY_SOURCES

__all__ = ["Prices", "RunInput", "Row", "ReportError", "all_rows", "canonical_order", "energy_kind", "load_run",
           "pareto_front", "per_video_second", "pixels", "scenario_rows", "video_seconds"]


class ReportError(FfwattError):
    """A report cannot be made: the message says which input and why."""


@dataclass(frozen=True, slots=True)
class Prices:
    """The cost exporter's settings, with its defaults (ffwatt/exporters/cost.py)."""

    energy_price: float = 0.30
    core_hour_price: float = 0.04
    carbon_intensity: float = formulas.DEFAULT_CARBON_INTENSITY
    pue: float = 1.0
    currency: str = "EUR"


@dataclass(frozen=True, slots=True)
class RunInput:
    """One results file: the loaded run, a short label (the file's stem) and the parts of the
    raw document the model does not carry (`sweeps`, `runner`)."""

    label: str
    run: ResultsRun
    sweeps: tuple[dict[str, Any], ...] = ()
    runner: dict[str, Any] = field(default_factory=dict)


def load_run(path: Path, label: str | None = None) -> RunInput:
    """Load a results file with the contract's loader; `ReportError` when it is refused."""
    from ffwatt.contract.loading import ResultsError

    try:
        run = load_results_file(path)
    except ResultsError as exc:
        raise ReportError(str(exc)) from exc
    sweeps: tuple[dict[str, Any], ...] = ()
    runner: dict[str, Any] = {}
    try:  # the loader validated the document; these parts are optional and read leniently
        doc = json.loads(Path(path).read_bytes().lstrip(b"\xef\xbb\xbf"))
        raw_sweeps = doc.get("sweeps") or []
        if isinstance(raw_sweeps, list):
            sweeps = tuple(w for w in raw_sweeps if isinstance(w, dict) and isinstance(w.get("steps"), list))
        if isinstance(doc.get("runner"), dict):
            runner = doc["runner"]
    except (OSError, ValueError, AttributeError):
        pass
    return RunInput(label=label or Path(path).stem, run=run, sweeps=sweeps, runner=runner)


def energy_kind(source: str | None, energy: float | None) -> str:
    """`measured`, `estimated`, `simulated` or `none` for an energy source."""
    if energy is None or source in (None, "none"):
        return "none"
    if source in MEASURED_ENERGY_SOURCES:
        return "measured"
    if source == "model":
        return "estimated"
    if source == "simulated":
        return "simulated"
    return "none"


@dataclass(frozen=True, slots=True)
class Row:
    """The report's figures of one scenario. Units: J, W, core-s, bits/s, currency, g CO2e."""

    run: str
    scenario: Scenario
    energy_joules: float | None
    energy_ci95: float | None
    energy_source: str | None
    energy_kind: str
    net_energy_joules: float | None
    mean_power_watts: float | None
    net_power_watts: float | None
    core_seconds: float | None
    bitrate_bps: float | None
    bitrate_measured: bool
    energy_cost: float | None
    compute_cost: float | None
    total_cost: float | None
    emissions_grams: float | None
    cost_per_viewer_hour: float | None
    emissions_per_viewer_hour: float | None
    joules_per_video_second: float | None
    repetition_joules_per_video_second: tuple[float, ...]
    machine_energy_joules: float | None = None
    energy_attribution: str | None = None

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def incomplete(self) -> bool:
        """The encode got fewer frames than its source should give (a truncated file): in no curve."""
        return self.scenario.incomplete

    @property
    def clip_class(self) -> str | None:
        source = self.scenario.source
        return source.clip_class if source is not None else None

    @property
    def label(self) -> str:
        return self.scenario.name if not self.run else f"{self.run}: {self.scenario.name}"


def video_seconds(s: Scenario) -> float | None:
    """Seconds of video one stream encoded: the media time really encoded when recorded, else the duration."""
    return s.media_seconds if s.media_seconds else s.duration_seconds


def per_video_second(value: float | None, s: Scenario) -> float | None:
    """`value` (J, core-s) per stream per second of video: value / (seconds encoded x streams)."""
    seconds = video_seconds(s)
    if value is None or not seconds or s.streams <= 0:
        return None
    out = value / (seconds * s.streams)
    return out if math.isfinite(out) else None


def pixels(resolution: str | None) -> int:
    """W x H of "WxH" (0 when unknown): the size order of rungs."""
    w, _, h = (resolution or "").partition("x")
    return int(w) * int(h) if w.isdigit() and h.isdigit() else 0


def canonical_order(rows: Sequence[Row]) -> list[Row]:
    """The rows sorted by what they are, never by where the file put them: the idle baselines first,
    then clip, encoder, preset, size, bitrate and name (names are unique in a file)."""
    return sorted(rows, key=lambda r: (not r.scenario.is_baseline, r.scenario.source_name or "",
                                       r.scenario.encoder or "", r.scenario.preset or "",
                                       pixels(r.scenario.resolution), r.bitrate_bps or 0.0, r.name))


def scenario_rows(run_input: RunInput, prices: Prices, *, run_label: str = "",
                  tsdb_energy: dict[str, float] | None = None) -> list[Row]:
    """One `Row` per scenario of a run, in `canonical_order`. `tsdb_energy` (scenario name -> J)
    fills in scenarios without energy, as the cost exporter does (source `tsdb`)."""
    run = run_input.run
    # the idle baseline by name, not by place in the file, when a run has several
    baseline = min((s for s in run.scenarios if s.is_baseline and not s.idle_rejected), key=lambda s: s.name,
                   default=None)  # issue 30: a baseline taken with the machine busy is none
    baseline_watts = baseline.mean_power_watts if baseline is not None else None
    rows = []
    for s in run.scenarios:
        energy, source = s.energy_joules, s.energy_source
        machine, attribution = s.machine_energy_joules, s.energy_attribution
        if energy is None and tsdb_energy and s.name in tsdb_energy:
            # the TSDB's joules counters are the whole machine's: charged whole, as the cost exporter does
            energy, source = tsdb_energy[s.name], "tsdb"
            machine, attribution = energy, "whole-machine"
        mean_watts = s.mean_power_watts
        if mean_watts is None:
            mean_watts = formulas.mean_power_over(energy, s.measured_seconds)
        is_base = s is baseline
        energy_cost = formulas.energy_cost(energy, prices.energy_price)
        compute_cost = formulas.compute_cost(s.cpu_core_seconds, prices.core_hour_price)
        total = formulas.total_cost(energy_cost, compute_cost)
        grams = formulas.emissions_grams(energy, prices.carbon_intensity, prices.pue)
        bitrate = s.measured_bitrate_bps
        measured_rate = bitrate is not None
        if bitrate is None and s.bitrates_bps and len(s.bitrates_bps) == 1:
            bitrate = float(s.bitrates_bps[0])
        reps = tuple(v for v in (per_video_second(r.energy_joules, s) for r in s.repetitions) if v is not None)
        rows.append(Row(
            run=run_label,
            scenario=s,
            energy_joules=energy,
            energy_ci95=s.energy_ci95,
            energy_source=source,
            energy_kind=energy_kind(source, energy),
            net_energy_joules=None if is_base else formulas.net_energy(energy, baseline_watts, s.measured_seconds),
            mean_power_watts=mean_watts,
            net_power_watts=None if is_base else formulas.net_power(mean_watts, baseline_watts),
            core_seconds=s.cpu_core_seconds,
            bitrate_bps=bitrate,
            bitrate_measured=measured_rate,
            energy_cost=energy_cost,
            compute_cost=compute_cost,
            total_cost=total,
            emissions_grams=grams,
            cost_per_viewer_hour=formulas.cost_per_viewer_hour(total, s.duration_seconds, s.viewer_count),
            emissions_per_viewer_hour=formulas.per_viewer_hour(grams, s.duration_seconds, s.viewer_count),
            joules_per_video_second=None if s.is_baseline else per_video_second(energy, s),
            repetition_joules_per_video_second=() if s.is_baseline else reps,
            machine_energy_joules=machine,
            energy_attribution=attribution,
        ))
    return canonical_order(rows)


def all_rows(runs: Sequence[RunInput], prices: Prices,
             tsdb_energy: dict[tuple[str, str], float] | None = None) -> list[Row]:
    """Rows of every run; the run label is set only when there is more than one file."""
    labelled = len(runs) > 1
    rows: list[Row] = []
    for r in runs:
        per_run = {name: j for (label, name), j in (tsdb_energy or {}).items() if label == r.label}
        rows.extend(scenario_rows(r, prices, run_label=r.label if labelled else "", tsdb_energy=per_run))
    return rows


def pareto_front(points: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points `(energy, quality, label)` that no other point beats on both: none has
    less or equal energy and higher or equal quality, one of them strictly. Sorted by
    energy (so quality rises along the front)."""
    front = []
    for e, q, label in points:
        dominated = any((e2 <= e and q2 >= q) and (e2 < e or q2 > q) for e2, q2, _ in points)
        if not dominated:
            front.append((e, q, label))
    return sorted(front)
