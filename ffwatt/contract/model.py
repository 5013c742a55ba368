"""The loaded view of a results file: a `ResultsRun` of `Scenario` objects with derived figures.

`contract.loading` builds these from the typed `contract.schema` structs; the exporters and
the report read them. Field names carry units (`duration_seconds`); the derived figures are
computed with `contract.formulas` when a scenario is built (see `Scenario`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.contract.formulas import Rendition
from ffwatt.contract.schema import (
    MEASURED_ENERGY_SOURCES,
    AnchorRecord,
    MeterRecord,
    NotRun,
    OutputEntry,
    QualityStats,
    SourceEntry,
    Sweep,
    is_baseline,
)

__all__ = ["Repetition", "ResultsRun", "Scenario"]


@dataclass(frozen=True, slots=True)
class Repetition:
    """One repetition of a scenario that ran N times; unknown parts are `None`."""

    energy_joules: float | None = None
    avg_fps: float | None = None
    duration_seconds: float | None = None
    # issue 22
    start_time: float | None = None
    end_time: float | None = None
    machine_energy_joules: float | None = None
    cpu_core_seconds: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One benchmark scenario of a run. Units: seconds, watts, cores, bits/s.

    Readings absent from the file (or ``null`` there) are ``None``; sample
    series absent are empty tuples. Derived fields (``init=False``) are
    computed with :mod:`contract.formulas` when the scenario is built:

    * ``energy_joules``: the file's measured ``energy_joules`` when given, else the
      trapezoid over ``power_watts`` at ``step_seconds``; ``None`` with neither
      (the cost exporter then asks the TSDB);
    * ``machine_energy_joules``: the whole machine's energy over the scenario's window, as the
      file gives it (``None`` when not recorded); ``energy_joules`` is the scenario's own
      (attributed) share and what every downstream figure uses; ``energy_attribution``
      names the rule that split it;
    * ``energy_source``: the file's ``energy_source`` when given, else ``samples``
      when the energy came from the samples, else ``None``;
    * ``mean_power_watts``: time-weighted mean of ``power_watts``, else measured
      energy / the wall-clock span it was measured over (``measured_seconds``);
    * ``cpu_core_seconds``: the file's measured value, else the trapezoid over
      ``cpu_usage_cores``;
    * ``pixels_processed``: the file's value when given, else computed from the
      renditions, the measured ``total_frames`` and the stream count;
    * ``energy_mean``/``energy_ci95``, ``fps_mean``/``fps_ci95``: mean and 95 %
      confidence half-width over ``repetitions`` (half-width ``None`` below 2);
      when they are known, ``energy_joules`` and ``avg_fps`` are these means.

    An idle baseline has no quality: the loader leaves its scores, their details
    and its fps unknown (the older runner wrote them as 0).
    """

    name: str
    duration_seconds: float
    index: int = 0
    encoder: str | None = None
    bitrate: str | None = None
    bitrate_bps: int | None = None
    resolution: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    preset: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    outputs: tuple[Rendition, ...] = ()
    streams: int = 1
    viewers: int | None = None
    vmaf: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    avg_fps: float | None = None
    dropped_frames: int | None = None
    total_frames: int | None = None
    pixels_processed: int | None = None
    power_watts: tuple[float, ...] = ()
    cpu_usage_cores: tuple[float, ...] = ()
    step_seconds: float | None = None
    bitrates_bps: tuple[int, ...] = ()
    measured_energy_joules: float | None = None
    file_energy_source: str | None = None
    energy_error: str | None = None
    measured_cpu_core_seconds: float | None = None
    quality_cpu_seconds: float | None = None
    vmaf_stats: QualityStats | None = None
    psnr_stats: QualityStats | None = None
    ssim_stats: QualityStats | None = None
    quality_reference: tuple[tuple[str, str], ...] = ()
    output_bytes: int | None = None
    measured_bitrate_bps: float | None = None
    speed: float | None = None
    repetitions: tuple[Repetition, ...] = ()
    mode: str | None = None
    duplicated_frames: int | None = None
    fell_behind_streams: int | None = None
    min_speed: float | None = None
    sweep: str | None = None
    # issue 23: the clip (what a report groups curves by: None for files written before sources were
    # recorded, one unnamed source), its details, and whether the media was all there
    source_name: str | None = None
    source: SourceEntry | None = None
    incomplete: bool = False
    expected_frames: int | None = None
    media_seconds: float | None = None
    source_duration_unknown: bool = False
    output_details: tuple[OutputEntry, ...] = ()  # each rung as written: its own frames, fps and bitrate
    # issue 22: the machine's joules over the window beside the attributed `energy_joules`, the rule,
    # and how many encodes one measurement held
    machine_energy_joules: float | None = None
    energy_attribution: str | None = None
    encodes_per_measurement: int | None = None
    # issue 25
    host: str | None = None  # the fleet worker that ran it (`ffwatt run --cluster`); None in a local run
    # issue 30: an idle baseline measured while the machine was busy: not the idle power, never a baseline
    idle_rejected: bool = False
    energy_joules: float | None = field(init=False, default=None)
    energy_source: str | None = field(init=False, default=None)
    mean_power_watts: float | None = field(init=False, default=None)
    cpu_core_seconds: float | None = field(init=False, default=None)
    energy_mean: float | None = field(init=False, default=None)
    energy_ci95: float | None = field(init=False, default=None)
    fps_mean: float | None = field(init=False, default=None)
    fps_ci95: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Raises ValueError when a derived value is out of range; the loader
        # turns that into a ResultsError naming the scenario.
        setter = object.__setattr__
        energy = core_seconds = mean_watts = None
        if self.step_seconds is not None:
            energy, mean_watts = formulas.energy_and_mean_power(self.power_watts, self.step_seconds)
            core_seconds = formulas.core_seconds(self.cpu_usage_cores, self.step_seconds)
        else:
            mean_watts = formulas.mean_power(self.power_watts)
        source = self.file_energy_source
        if self.measured_energy_joules is not None:
            energy = self.measured_energy_joules
        elif source is None and energy is not None:
            source = "samples"
        setter(self, "energy_joules", energy)
        setter(self, "energy_source", source)
        setter(self, "cpu_core_seconds",
               self.measured_cpu_core_seconds if self.measured_cpu_core_seconds is not None else core_seconds)
        if mean_watts is None and energy is not None:
            mean_watts = formulas.mean_power_over(energy, self.measured_seconds)
        setter(self, "mean_power_watts", mean_watts)
        if self.repetitions:
            energies = [r.energy_joules for r in self.repetitions if r.energy_joules is not None]
            fps = [r.avg_fps for r in self.repetitions if r.avg_fps is not None]
            energy_mean, energy_ci = formulas.mean_and_ci95(energies)
            fps_mean, fps_ci = formulas.mean_and_ci95(fps)
            setter(self, "energy_mean", energy_mean)
            setter(self, "energy_ci95", energy_ci)
            setter(self, "fps_mean", fps_mean)
            setter(self, "fps_ci95", fps_ci)
            # With repetitions, the scenario's energy and fps are their means.
            if energy_mean is not None:
                setter(self, "energy_joules", energy_mean)
            if fps_mean is not None:
                setter(self, "avg_fps", fps_mean)
        if self.pixels_processed is None:
            renditions = self.renditions
            measured = self.total_frames if len(renditions) == 1 else None
            setter(
                self,
                "pixels_processed",
                formulas.pixels_processed(renditions, self.duration_seconds, self.streams, measured),
            )

    @property
    def is_baseline(self) -> bool:
        """An idle baseline: the name contains "baseline" or "idle", or the encoder is "none"."""
        return is_baseline(self.name, self.encoder)

    @property
    def measured_seconds(self) -> float:
        """Wall-clock seconds energy was measured over: ``end_time - start_time`` when both
        are known (a file-mode encode of 12 s of video may take 3 s), else ``duration``."""
        if self.start_time is not None and self.end_time is not None:
            return self.end_time - self.start_time
        return self.duration_seconds

    @property
    def energy_measured(self) -> bool:
        """True when the energy figure is a measurement (not modelled, simulated or absent)."""
        return self.energy_joules is not None and self.energy_source in MEASURED_ENERGY_SOURCES

    @property
    def total_bitrate_bps(self) -> int | None:
        """Target bits per second of all streams together: the sum of the per-stream
        bitrates (mixed-bitrate scenarios), or one bitrate x the stream count."""
        if not self.bitrates_bps:
            return None
        if len(self.bitrates_bps) > 1:
            return sum(self.bitrates_bps)
        return self.bitrates_bps[0] * self.streams

    @property
    def viewer_count(self) -> int:
        """``viewers`` when the file gives it, else the stream count."""
        return self.viewers if self.viewers is not None else self.streams

    @property
    def renditions(self) -> tuple[Rendition, ...]:
        """The output ladder, or the single output ``resolution`` at ``fps``; empty when unknown."""
        if self.outputs:
            return self.outputs
        if self.width is not None and self.height is not None:
            return (Rendition(self.width, self.height, self.fps),)
        return ()


@dataclass(frozen=True, slots=True)
class ResultsRun:
    """One results file: its scenarios in file order.

    ``shape`` is ``"runner"`` (written by the benchmark runner) or
    ``"enriched"`` (has ``test_metadata``). ``mtime``/``mtime_ns``/``size``
    are the file's, as read. ``skipped`` holds one :class:`ResultsError` per
    scenario that failed validation (the run serves the others); ``not_run``
    the scenarios the runner did not complete; ``environment`` where the run was
    measured (string values, ``cpu_cores`` an integer).
    """

    path: Path
    test_date: str | None
    scenarios: tuple[Scenario, ...]
    mtime: float
    mtime_ns: int = 0
    size: int = 0
    shape: str = "runner"
    format_version: int = 1
    skipped: tuple[Any, ...] = ()  # ResultsError (contract.loading)
    not_run: tuple[NotRun, ...] = ()
    planned_scenarios: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    sweeps: tuple[Sweep, ...] = ()
    # issue 25
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # fleet runs: host -> its environment
    meter: MeterRecord | None = None  # issue 22
    anchor: AnchorRecord | None = None  # issue 29: the scenario file's first encoder/preset (None: older files)

    @property
    def baseline(self) -> Scenario | None:
        """The first baseline scenario in file order, or ``None``; one flagged `idle_rejected` (taken with
        the machine busy, issue 30) is never the baseline."""
        for scenario in self.scenarios:
            if scenario.is_baseline and not scenario.idle_rejected:
                return scenario
        return None

    def scenario(self, name: str) -> Scenario | None:
        """The scenario called ``name``, or ``None``."""
        for scenario in self.scenarios:
            if scenario.name == name:
                return scenario
        return None
