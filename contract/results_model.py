"""The results model: benchmark results files, loaded and validated.

A results directory holds ``test_results_YYYYMMDD_HHMMSS.json`` files; the
newest one is the current run. Two shapes of file exist (see
docs/results-format.md) and both load into the same :class:`ResultsRun` of
:class:`Scenario` objects.

Every problem with a file is a :class:`ResultsError` naming the file, the JSON
path of the bad field (``$.scenarios[3].duration``) and the reason.
:func:`load_results_file` raises nothing else, whatever the bytes on disk, so
an exporter's refresh loop can keep serving its last good data.

One bad scenario does not blank a run: a file whose JSON is sound but where some
scenarios fail validation loads with the valid ones, and each skipped scenario is
kept in :attr:`ResultsRun.skipped` as the :class:`ResultsError` that names it. A
file is refused whole only when the document itself is bad (not JSON, no
``scenarios`` array, too large...) or when none of its scenarios is valid.

Decoding: msgspec decodes the document with the sample series typed as arrays of
non-negative floats (one pass in C, about 8x faster than ``json.loads`` on the
large enriched files); everything else is validated here by hand, field by field,
so every message keeps the wording of docs/results-format.md. Whenever msgspec
refuses something (NaN, a bad sample, broken JSON), the same bytes go through
``json.loads`` and the hand-written checks, which name the exact value.
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import msgspec

from contract import formulas
from contract.formulas import Rendition

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PATTERN",
    "ENERGY_SOURCES",
    "FORMAT_VERSION",
    "MEASURED_ENERGY_SOURCES",
    "NotRun",
    "QualityStats",
    "Rendition",
    "Repetition",
    "Sweep",
    "SweepStep",
    "ResultsDirectory",
    "ResultsError",
    "ResultsRun",
    "Scenario",
    "load_results_file",
    "results_file_timestamp",
]

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Files larger than this are rejected (a results file is a few hundred KiB)."""

DEFAULT_PATTERN = "test_results_*.json"

_MAX_INT = 2**63 - 1  # integer readings above this are rejected as out of range

FORMAT_VERSION = 2
"""The newest results-file format this loader reads (files without ``format_version`` are 1)."""

ENERGY_SOURCES = ("rapl", "nvml", "rapl+nvml", "model", "samples", "tsdb", "simulated", "none")
"""Values of a scenario's ``energy_source``: measured joules counters (``rapl``, ``nvml``,
``rapl+nvml``), the CPU power model (``model``, an estimate), power samples in the file
(``samples``), the TSDB's counters (``tsdb``), a simulator (``simulated``: ffwatt's
sample files), or nothing (``none``)."""

MEASURED_ENERGY_SOURCES = frozenset({"rapl", "nvml", "rapl+nvml", "samples", "tsdb"})
"""Sources whose figures are measurements; ``model`` and ``simulated`` are not."""

PathLike = str | os.PathLike[str]


class ResultsError(Exception):
    """A results file that cannot be used.

    ``file`` is the file's name, ``json_path`` the JSON path of the offending
    value (``$`` for the whole file), ``reason`` what is wrong; ``path`` is the
    full path when known. ``str()`` reads
    ``test_results_x.json: $.scenarios[3].duration: must be a non-negative number, got -5``.
    """

    def __init__(self, file: str, json_path: str, reason: str, path: Path | None = None) -> None:
        self.file = file
        self.json_path = json_path
        self.reason = reason
        self.path = path
        super().__init__(f"{file}: {json_path}: {reason}")

    def __reduce__(self):  # keep the exception picklable despite the custom __init__
        return (type(self), (self.file, self.json_path, self.reason, self.path))


@dataclass(frozen=True, slots=True)
class QualityStats:
    """Pooled per-frame quality of one metric: VMAF 0-100, PSNR dB or SSIM 0-1.

    ``p1`` is the 1st percentile of the per-frame scores (the worst 1 % of frames);
    ``model`` the VMAF model name. Unknown parts are ``None``.
    """

    mean: float | None = None
    harmonic_mean: float | None = None
    min: float | None = None
    p1: float | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Repetition:
    """One repetition of a scenario that ran N times; unknown parts are ``None``."""

    energy_joules: float | None = None
    avg_fps: float | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class SweepStep:
    """One step of a capacity sweep: the live scenario at `streams` streams."""

    streams: int
    scenario: str
    held_real_time: bool
    energy_joules: float | None = None
    net_power_watts: float | None = None
    min_speed: float | None = None
    vmaf: float | None = None


@dataclass(frozen=True, slots=True)
class Sweep:
    """A capacity sweep: its steps, the knee (the largest stream count that held real
    time) and the marginal joules per extra stream; unknown parts are ``None``."""

    name: str
    steps: tuple[SweepStep, ...]
    knee_streams: int | None = None
    marginal_joules_per_stream: float | None = None


@dataclass(frozen=True, slots=True)
class NotRun:
    """A scenario the run did not complete: ``status`` is ``skipped`` or ``failed``."""

    name: str
    status: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One benchmark scenario of a run. Units: seconds, watts, cores, bits/s.

    Readings absent from the file (or ``null`` there) are ``None``; sample
    series absent are empty tuples. Derived fields (``init=False``) are
    computed with :mod:`contract.formulas` when the scenario is built:

    * ``energy_joules``: the file's measured ``energy_joules`` when given, else the
      trapezoid over ``power_watts`` at ``step_seconds``; ``None`` with neither
      (the cost exporter then asks the TSDB);
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
        return _is_baseline(self.name, self.encoder)

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
    skipped: tuple[ResultsError, ...] = ()
    not_run: tuple[NotRun, ...] = ()
    planned_scenarios: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    sweeps: tuple[Sweep, ...] = ()

    @property
    def baseline(self) -> Scenario | None:
        """The first baseline scenario in file order, or ``None``."""
        for scenario in self.scenarios:
            if scenario.is_baseline:
                return scenario
        return None

    def scenario(self, name: str) -> Scenario | None:
        """The scenario called ``name``, or ``None``."""
        for scenario in self.scenarios:
            if scenario.name == name:
                return scenario
        return None


def _is_baseline(name: str, encoder: str | None) -> bool:
    lowered = name.lower()
    return "baseline" in lowered or "idle" in lowered or (encoder is not None and encoder.strip().lower() == "none")


_NO_VIDEO_RE = re.compile(r"^\s*0+\s*[xX]\s*0+\s*$")


# --------------------------------------------------------------------------
# loading


class _NonFinite:
    """Stands in for NaN/Infinity/-Infinity so validation can name the field."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


def _describe(value: Any) -> str:
    if isinstance(value, _NonFinite):
        return value.token
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _as_float(value: Any) -> float | None:
    """The value as a finite float when it is a JSON number (not bool), else None."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def _plain_series(value: list) -> tuple[float, ...] | None:
    """The series as floats when every item is a finite non-negative number (the usual
    case, checked in bulk: 3.6 M samples load ~15 % faster), else None."""
    if not value:
        return ()
    kinds = set(map(type, value))
    if not kinds <= {float, int}:
        return None
    try:
        out = tuple(map(float, value)) if int in kinds else tuple(value)
    except OverflowError:
        return None
    return out if min(out) >= 0.0 and max(out) < math.inf else None


class _Parser:
    def __init__(self, file: str, path: Path) -> None:
        self.file = file
        self.path = path

    def fail(self, json_path: str, reason: str) -> NoReturn:
        raise ResultsError(self.file, json_path, reason, path=self.path)

    # -- scalars --------------------------------------------------------

    def number(
        self,
        value: Any,
        json_path: str,
        expect: str,
        minimum: float = 0.0,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        number = _as_float(value)
        if (
            number is None
            or number < minimum
            or (positive and number <= 0)
            or (maximum is not None and number > maximum)
        ):
            self.fail(json_path, f"must be {expect}, got {_describe(value)}")
        return number

    def integer(self, value: Any, json_path: str, minimum: int = 0, expect: str = "a non-negative integer") -> int:
        kind = type(value)
        if kind is int:
            result = value
        elif kind is float and math.isfinite(value) and value.is_integer():
            result = int(value)
        else:
            self.fail(json_path, f"must be {expect}, got {_describe(value)}")
        if result < minimum:
            self.fail(json_path, f"must be {expect}, got {_describe(value)}")
        if result > _MAX_INT:
            self.fail(json_path, f"must be {expect} of at most {_MAX_INT}, got {_describe(value)}")
        return result

    def string(self, value: Any, json_path: str) -> str:
        if type(value) is not str:
            self.fail(json_path, f"must be a string, got {_describe(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.fail(json_path, "must be valid Unicode text: it contains an unpaired surrogate escape")
        return value

    def optional_string(self, value: Any, json_path: str) -> str | None:
        return None if value is None else self.string(value, json_path)

    def optional_number(self, value: Any, json_path: str) -> float | None:
        return None if value is None else self.number(value, json_path, "a non-negative number")

    def string_map(self, value: Any, json_path: str) -> tuple[tuple[str, str], ...]:
        """A flat object of strings (``quality_reference``), as sorted pairs."""
        if value is None:
            return ()
        if type(value) is not dict:
            self.fail(json_path, f"must be an object of strings, got {_describe(value)}")
        pairs = []
        for key, item in value.items():
            if item is not None:
                pairs.append((key, self.string(item, f"{json_path}.{key}")))
        return tuple(sorted(pairs))

    def quality(self, value: Any, json_path: str, maximum: float | None) -> QualityStats | None:
        """``{"mean", "harmonic_mean", "min", "p1", "model"}``, each optional."""
        if value is None:
            return None
        if type(value) is not dict:
            self.fail(json_path, f"must be an object like {{\"mean\": 93.1, \"min\": 80.2}}, got {_describe(value)}")
        expect = "a non-negative number" if maximum is None else f"a number from 0 to {maximum:g}"
        numbers = {}
        for key in ("mean", "harmonic_mean", "min", "p1"):
            item = value.get(key)
            numbers[key] = None if item is None else self.number(item, f"{json_path}.{key}", expect, maximum=maximum)
        return QualityStats(model=self.optional_string(value.get("model"), json_path + ".model"), **numbers)

    def repetitions(self, value: Any, json_path: str) -> tuple[Repetition, ...]:
        if value is None:
            return ()
        if type(value) is not list:
            self.fail(json_path, f"must be an array of {{energy_joules, avg_fps, duration}} objects, got {_describe(value)}")
        out = []
        for k, item in enumerate(value):
            q = f"{json_path}[{k}]"
            if type(item) is not dict:
                self.fail(q, f"must be an object, got {_describe(item)}")
            out.append(Repetition(
                energy_joules=self.optional_number(item.get("energy_joules"), q + ".energy_joules"),
                avg_fps=self.optional_number(item.get("avg_fps"), q + ".avg_fps"),
                duration_seconds=self.optional_number(item.get("duration"), q + ".duration"),
            ))
        return tuple(out)

    def series(self, value: Any, json_path: str) -> tuple[float, ...]:
        if value is None:
            return ()
        if type(value) is tuple:  # checked by the msgspec decoder already (JSON gives no tuples)
            return value
        if type(value) is not list:
            self.fail(json_path, f"must be an array of non-negative numbers, got {_describe(value)}")
        fast = _plain_series(value)
        if fast is not None:
            return fast
        # Slow path: find the first bad item and name it exactly.
        out = []
        append = out.append
        for k, item in enumerate(value):
            kind = type(item)
            if kind is float:
                if not (0.0 <= item < math.inf):  # also false for NaN
                    self.fail(f"{json_path}[{k}]", f"must be a non-negative number, got {_describe(item)}")
            elif kind is int:
                if item < 0:
                    self.fail(f"{json_path}[{k}]", f"must be a non-negative number, got {_describe(item)}")
                try:
                    item = float(item)
                except OverflowError:
                    self.fail(f"{json_path}[{k}]", "must be a non-negative number, got an out-of-range integer")
            else:
                self.fail(f"{json_path}[{k}]", f"must be a non-negative number, got {_describe(item)}")
            append(item)
        return tuple(out)

    # -- document -------------------------------------------------------

    def document(self, doc: Any) -> dict[str, Any]:
        """The run's fields (keyword arguments of :class:`ResultsRun`) from a decoded document."""
        if type(doc) is not dict:
            self.fail("$", f"must be an object with a scenarios array, got {_describe(doc)}")
        shape = "enriched" if "test_metadata" in doc else "runner"
        metadata = doc.get("test_metadata")
        if metadata is not None and type(metadata) is not dict:
            self.fail("$.test_metadata", f"must be an object, got {_describe(metadata)}")
        version = doc.get("format_version")
        if version is None:
            version = 1
        else:
            version = self.integer(version, "$.format_version", 1, "a positive integer")
            if version > FORMAT_VERSION:
                self.fail("$.format_version",
                          f"format version {version} is newer than this ffwatt reads ({FORMAT_VERSION}): "
                          "upgrade ffwatt")
        test_date = self.optional_string(doc.get("test_date"), "$.test_date")
        if test_date is None and metadata is not None:
            test_date = self.optional_string(metadata.get("test_date"), "$.test_metadata.test_date")
        if "scenarios" not in doc:
            self.fail("$.scenarios", "required field is missing")
        raw = doc["scenarios"]
        if type(raw) is not list:
            self.fail("$.scenarios", f"must be an array, got {_describe(raw)}")
        environment = self.environment(doc.get("environment"), "$.environment")
        planned = doc.get("planned_scenarios")
        if planned is not None:
            planned = self.integer(planned, "$.planned_scenarios")
        not_run = self.not_run(doc.get("not_run"), "$.not_run")
        sweeps = self.sweeps(doc.get("sweeps"), "$.sweeps")

        seen: dict[str, int] = {}
        scenarios: list[Scenario] = []
        skipped: list[ResultsError] = []
        for i, item in enumerate(raw):
            try:
                scenarios.append(self.scenario(i, item, seen))
            except ResultsError as exc:
                skipped.append(exc)
        if skipped and not scenarios:
            first = skipped[0]
            more = f" (and {len(skipped) - 1} more bad scenario(s))" if len(skipped) > 1 else ""
            raise ResultsError(first.file, first.json_path, first.reason + more, path=first.path)
        return {
            "test_date": test_date, "scenarios": tuple(scenarios), "shape": shape, "format_version": version,
            "skipped": tuple(skipped), "not_run": not_run, "planned_scenarios": planned,
            "environment": environment, "sweeps": sweeps,
        }

    def sweeps(self, value: Any, json_path: str) -> tuple[Sweep, ...]:
        if value is None:
            return ()
        if type(value) is not list:
            self.fail(json_path, f"must be an array of sweep objects, got {_describe(value)}")
        out = []
        for k, item in enumerate(value):
            q = f"{json_path}[{k}]"
            if type(item) is not dict:
                self.fail(q, f"must be an object with name, steps, knee_streams, got {_describe(item)}")
            name = self.string(item.get("name"), q + ".name")
            raw_steps = item.get("steps")
            if type(raw_steps) is not list:
                self.fail(q + ".steps", f"must be an array, got {_describe(raw_steps)}")
            steps = []
            for j, step in enumerate(raw_steps):
                r = f"{q}.steps[{j}]"
                if type(step) is not dict:
                    self.fail(r, f"must be an object, got {_describe(step)}")
                held = step.get("held_real_time")
                if type(held) is not bool:
                    self.fail(r + ".held_real_time", f"must be true or false, got {_describe(held)}")
                net = step.get("net_power_watts")
                if net is not None:  # below an idle baseline is a real (negative) reading
                    net = self.number(net, r + ".net_power_watts", "a number", minimum=-math.inf)
                vmaf = step.get("vmaf")
                steps.append(SweepStep(
                    streams=self.integer(step.get("streams"), r + ".streams", 1, "a positive integer"),
                    scenario=self.string(step.get("scenario"), r + ".scenario"),
                    held_real_time=held,
                    energy_joules=self.optional_number(step.get("energy_joules"), r + ".energy_joules"),
                    net_power_watts=net,
                    min_speed=self.optional_number(step.get("min_speed"), r + ".min_speed"),
                    vmaf=None if vmaf is None else self.number(vmaf, r + ".vmaf", "a number from 0 to 100",
                                                               maximum=100.0),
                ))
            knee = item.get("knee_streams")
            if knee is not None:
                knee = self.integer(knee, q + ".knee_streams", 1, "a positive integer")
            marginal = item.get("marginal_joules_per_stream")
            if marginal is not None:  # a noisy sweep may give a negative slope: kept, not clamped
                marginal = self.number(marginal, q + ".marginal_joules_per_stream", "a number", minimum=-math.inf)
            out.append(Sweep(name, tuple(steps), knee, marginal))
        return tuple(out)

    def environment(self, value: Any, json_path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if type(value) is not dict:
            self.fail(json_path, f"must be an object, got {_describe(value)}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            q = f"{json_path}.{key}"
            if key == "cpu_cores":
                out[key] = self.integer(item, q, 1, "a positive integer")
            elif key == "tdp_watts":
                out[key] = self.number(item, q, "a positive number", positive=True)
            elif key == "encoder_versions":
                if type(item) is not dict:
                    self.fail(q, f"must be an object of encoder name -> version, got {_describe(item)}")
                out[key] = {self.string(k, q): self.string(v, f"{q}.{k}") for k, v in item.items()}
            elif type(item) in (str, int, float, bool):
                out[key] = item if type(item) is not str else self.string(item, q)
            # nested objects under other keys are free-form: ignored
        return out

    def not_run(self, value: Any, json_path: str) -> tuple[NotRun, ...]:
        if value is None:
            return ()
        if type(value) is not list:
            self.fail(json_path, f"must be an array of {{name, status, reason}} objects, got {_describe(value)}")
        out = []
        for k, item in enumerate(value):
            q = f"{json_path}[{k}]"
            if type(item) is not dict:
                self.fail(q, f"must be an object with name, status and reason, got {_describe(item)}")
            name = self.string(item.get("name"), q + ".name")
            status = self.string(item.get("status"), q + ".status")
            if status not in ("skipped", "failed"):
                self.fail(q + ".status", f'must be "skipped" or "failed", got {_describe(status)}')
            reason = self.optional_string(item.get("reason"), q + ".reason") or ""
            out.append(NotRun(name, status, reason))
        return tuple(out)

    def scenario(self, i: int, raw: Any, seen: dict[str, int]) -> Scenario:
        p = f"$.scenarios[{i}]"
        if type(raw) is not dict:
            self.fail(p, f"must be an object, got {_describe(raw)}")
        get = raw.get

        # name: required, non-empty, unique; quotes and newlines are fine.
        if "name" not in raw:
            self.fail(p + ".name", "required field is missing")
        name = get("name")
        if type(name) is not str:
            self.fail(p + ".name", f"must be a non-empty string, got {_describe(name)}")
        name = self.string(name, p + ".name")
        if not name.strip():
            self.fail(p + ".name", f"must be a non-empty string, got {_describe(name)}")
        if name in seen:
            self.fail(p + ".name", f"duplicate scenario name {_describe(name)} (first at $.scenarios[{seen[name]}])")
        seen[name] = i

        # encoder / encoder_type: two spellings of one field.
        encoder = self.optional_string(get("encoder"), p + ".encoder")
        encoder_type = self.optional_string(get("encoder_type"), p + ".encoder_type")
        if encoder is not None and encoder_type is not None and encoder != encoder_type:
            self.fail(
                p + ".encoder_type",
                f"conflicts with encoder ({_describe(encoder_type)} vs {_describe(encoder)})",
            )
        if encoder is None:
            encoder = encoder_type

        bitrate: str | None = None
        bitrate_bps: int | None = None
        bitrates: tuple[int, ...] = ()
        raw_bitrate = get("bitrate")
        if raw_bitrate is not None:
            if type(raw_bitrate) is str:
                bitrate = self.string(raw_bitrate, p + ".bitrate")
            elif type(raw_bitrate) is int and 0 <= raw_bitrate <= _MAX_INT:
                bitrate = str(raw_bitrate)
            else:
                self.fail(p + ".bitrate", f'must be a string like "2500k" or an integer, got {_describe(raw_bitrate)}')
            try:
                # "1000k,2500k,5000k": the older runner's mixed bitrates, one per stream
                bitrates = formulas.parse_bitrates(raw_bitrate)
            except ValueError as exc:
                self.fail(p + ".bitrate", str(exc))
            bitrate_bps = bitrates[0] if len(bitrates) == 1 else None

        resolution = self.optional_string(get("resolution"), p + ".resolution")
        width = height = None
        if resolution is not None and not _NO_VIDEO_RE.match(resolution):  # "0x0": an idle baseline, no video
            try:
                width, height = formulas.parse_resolution(resolution)
            except ValueError as exc:
                self.fail(p + ".resolution", str(exc))

        fps = get("fps")
        if fps is not None and not (fps == 0 and type(fps) in (int, float) and _is_baseline(name, encoder)):
            fps = self.number(fps, p + ".fps", "a positive number", positive=True)

        raw_start = start_time = get("start_time")
        if start_time is not None:
            start_time = self.number(start_time, p + ".start_time", "a non-negative number (unix seconds)")
        raw_end = end_time = get("end_time")
        if end_time is not None:
            end_time = self.number(end_time, p + ".end_time", "a non-negative number (unix seconds)")
            if start_time is not None and end_time < start_time:
                self.fail(
                    p + ".end_time",
                    f"must not be before start_time ({_describe(raw_start)}), got {_describe(raw_end)}",
                )

        duration = get("duration")
        if duration is not None:
            duration = self.number(duration, p + ".duration", "a non-negative number")
        elif start_time is not None and end_time is not None:
            duration = end_time - start_time
        else:
            self.fail(p + ".duration", "required field is missing (give duration, or start_time and end_time)")

        preset = self.optional_string(get("preset"), p + ".preset")
        outputs = self.outputs(get("outputs"), p + ".outputs", fps)

        streams_field = get("streams")
        if streams_field is not None:
            streams_field = self.integer(streams_field, p + ".streams", 1, "a positive integer")
        try:
            streams = formulas.stream_count(name, streams_field)
        except ValueError as exc:
            self.fail(p + (".streams" if streams_field is not None else ".name"), str(exc))
        if len(bitrates) > 1:
            if streams_field is None and not formulas.names_stream_count(name):
                streams = len(bitrates)  # "Mixed @ 1000k,2500k": one stream per bitrate
            elif streams != len(bitrates):
                self.fail(p + ".bitrate",
                          f"gives {len(bitrates)} bitrates (one per stream) for {streams} streams")

        viewers = get("viewers")
        if viewers is not None:
            viewers = self.integer(viewers, p + ".viewers")

        vmaf = get("vmaf_score")
        if vmaf is not None:
            vmaf = self.number(vmaf, p + ".vmaf_score", "a number from 0 to 100", maximum=100.0)
        psnr = get("psnr_score")
        if psnr is not None:
            psnr = self.number(psnr, p + ".psnr_score", "a non-negative number (dB)")
        ssim = get("ssim_score")
        if ssim is not None:
            ssim = self.number(ssim, p + ".ssim_score", "a number from 0 to 1", maximum=1.0)
        avg_fps = get("avg_fps")
        if avg_fps is not None:
            avg_fps = self.number(avg_fps, p + ".avg_fps", "a non-negative number")

        total_frames = get("total_frames")
        if total_frames is not None:
            total_frames = self.integer(total_frames, p + ".total_frames")
        dropped_frames = get("dropped_frames")
        if dropped_frames is not None:
            dropped_frames = self.integer(dropped_frames, p + ".dropped_frames")
            if total_frames is not None and dropped_frames > total_frames:
                self.fail(
                    p + ".dropped_frames",
                    f"must not exceed total_frames ({total_frames}), got {dropped_frames}",
                )
        pixels = get("pixels_processed")
        if pixels is not None:
            pixels = self.integer(pixels, p + ".pixels_processed")

        power_watts = self.series(get("power_watts"), p + ".power_watts")
        cpu_usage_cores = self.series(get("cpu_usage_cores"), p + ".cpu_usage_cores")
        step_seconds = get("step_seconds")
        if step_seconds is not None:
            step_seconds = self.number(step_seconds, p + ".step_seconds", "a positive number", positive=True)
        else:
            samples = max(len(power_watts), len(cpu_usage_cores))
            if samples >= 2:
                # Samples span the duration: step = duration / (n - 1).
                step_seconds = duration / (samples - 1)
                if not step_seconds > 0:
                    self.fail(
                        p + ".step_seconds",
                        "required field is missing and cannot be derived from a duration of 0",
                    )

        measured_energy = get("energy_joules")
        if measured_energy is not None:
            measured_energy = self.number(measured_energy, p + ".energy_joules", "a non-negative number (J)")
        energy_source = self.optional_string(get("energy_source"), p + ".energy_source")
        if energy_source is not None and energy_source not in ENERGY_SOURCES:
            self.fail(p + ".energy_source", f"must be one of {', '.join(ENERGY_SOURCES)}, got {_describe(energy_source)}")
        if energy_source == "none" and measured_energy is not None:
            self.fail(p + ".energy_source", f'is "none" but energy_joules is {_describe(get("energy_joules"))}')
        if measured_energy is not None and energy_source is None:
            self.fail(p + ".energy_source", "required with energy_joules: say where the energy came from")
        optional_number = self.optional_number
        measured_cores = optional_number(get("cpu_core_seconds"), p + ".cpu_core_seconds")
        quality_cpu = optional_number(get("quality_cpu_seconds"), p + ".quality_cpu_seconds")
        output_bytes = get("output_bytes")
        if output_bytes is not None:
            output_bytes = self.integer(output_bytes, p + ".output_bytes")
        measured_bitrate = optional_number(get("measured_bitrate_bps"), p + ".measured_bitrate_bps")
        speed = optional_number(get("speed"), p + ".speed")
        mode = self.optional_string(get("mode"), p + ".mode")
        if mode is not None and mode not in ("file", "live"):
            self.fail(p + ".mode", f'must be "file" or "live", got {_describe(mode)}')
        vmaf_stats = self.quality(get("vmaf"), p + ".vmaf", 100.0)
        psnr_stats = self.quality(get("psnr"), p + ".psnr", None)
        ssim_stats = self.quality(get("ssim"), p + ".ssim", 1.0)
        if vmaf is None and vmaf_stats is not None:
            vmaf = vmaf_stats.mean
        if psnr is None and psnr_stats is not None:
            psnr = psnr_stats.mean
        if ssim is None and ssim_stats is not None:
            ssim = ssim_stats.mean
        reference = self.string_map(get("quality_reference"), p + ".quality_reference")
        duplicated = get("duplicated_frames")
        if duplicated is not None:
            duplicated = self.integer(duplicated, p + ".duplicated_frames")
        behind = get("fell_behind_streams")
        if behind is not None:
            behind = self.integer(behind, p + ".fell_behind_streams")
            if behind > streams:
                self.fail(p + ".fell_behind_streams", f"must not exceed the stream count ({streams}), got {behind}")
        min_speed = optional_number(get("min_speed"), p + ".min_speed")
        sweep = self.optional_string(get("sweep"), p + ".sweep")
        repetitions = self.repetitions(get("repetitions"), p + ".repetitions")

        if _is_baseline(name, encoder):
            # A baseline encodes nothing: the older runner's 0 scores and fps mean "not applicable".
            vmaf = psnr = ssim = avg_fps = None
            vmaf_stats = psnr_stats = ssim_stats = None
            if fps == 0:
                fps = None

        try:
            return Scenario(
                name=name,
                index=i,
                encoder=encoder,
                bitrate=bitrate,
                bitrate_bps=bitrate_bps,
                resolution=resolution,
                width=width,
                height=height,
                fps=fps,
                duration_seconds=duration,
                preset=preset,
                start_time=start_time,
                end_time=end_time,
                outputs=outputs,
                streams=streams,
                viewers=viewers,
                vmaf=vmaf,
                psnr=psnr,
                ssim=ssim,
                avg_fps=avg_fps,
                dropped_frames=dropped_frames,
                total_frames=total_frames,
                pixels_processed=pixels,
                power_watts=power_watts,
                cpu_usage_cores=cpu_usage_cores,
                step_seconds=step_seconds,
                bitrates_bps=bitrates,
                measured_energy_joules=measured_energy,
                file_energy_source=energy_source,
                energy_error=self.optional_string(get("energy_error"), p + ".energy_error"),
                measured_cpu_core_seconds=measured_cores,
                quality_cpu_seconds=quality_cpu,
                vmaf_stats=vmaf_stats,
                psnr_stats=psnr_stats,
                ssim_stats=ssim_stats,
                quality_reference=reference,
                output_bytes=output_bytes,
                measured_bitrate_bps=measured_bitrate,
                speed=speed,
                repetitions=repetitions,
                mode=mode,
                duplicated_frames=duplicated,
                fell_behind_streams=behind,
                min_speed=min_speed,
                sweep=sweep,
            )
        except ValueError as exc:
            self.fail(p, f"derived values are out of range: {exc}")

    def outputs(self, value: Any, json_path: str, scenario_fps: float | None) -> tuple[Rendition, ...]:
        if value is None:
            return ()
        if type(value) is not list:
            self.fail(json_path, f"must be null or an array of {{resolution, fps}} objects, got {_describe(value)}")
        renditions = []
        for k, item in enumerate(value):
            q = f"{json_path}[{k}]"
            if type(item) is not dict:
                self.fail(q, f"must be an object with resolution and fps, got {_describe(item)}")
            if item.get("resolution") is None:
                self.fail(q + ".resolution", "required field is missing")
            resolution = self.string(item["resolution"], q + ".resolution")
            try:
                width, height = formulas.parse_resolution(resolution)
            except ValueError as exc:
                self.fail(q + ".resolution", str(exc))
            fps = item.get("fps")
            if fps is None:
                fps = scenario_fps  # an output without fps keeps the scenario's frame rate
            else:
                fps = self.number(fps, q + ".fps", "a positive number", positive=True)
            renditions.append(Rendition(width, height, fps))
        return tuple(renditions)


def _read_limited(fd: int, limit: int) -> bytes:
    """Read at most ``limit`` bytes (the caller passes max_bytes + 1 to detect growth)."""
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def load_results_file(
    path: PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    results_dir: PathLike | None = None,
) -> ResultsRun:
    """Load and validate one results file (either shape).

    ``max_bytes``: larger files are rejected before parsing. ``results_dir``:
    when given, the file (after resolving symlinks) must lie inside it.

    Raises :class:`ResultsError` for every problem (unreadable, not a regular
    file, too large, not UTF-8, not JSON, NaN/Infinity, wrong types, out of
    range values, duplicate names...), and nothing else.
    """
    path = Path(path)
    parser = _Parser(path.name, path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    open_path = path
    try:
        if results_dir is not None:
            root = Path(results_dir).resolve(strict=True)
            real = path.resolve(strict=True)
            if not real.is_relative_to(root):
                parser.fail("$", f"resolves to {real}, outside the results directory {root}")
            open_path = real
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(open_path, flags)
    except OSError as exc:
        parser.fail("$", f"cannot open: {exc.strerror or exc}")
    except RuntimeError as exc:  # symlink loop on older Pythons
        parser.fail("$", f"cannot open: {exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            parser.fail("$", "not a regular file")
        if info.st_size > max_bytes:
            parser.fail("$", f"file is {info.st_size} bytes, over the limit of {max_bytes} bytes")
        data = _read_limited(fd, max_bytes + 1)
    except OSError as exc:
        parser.fail("$", f"cannot read: {exc.strerror or exc}")
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        parser.fail("$", f"file grew over the limit of {max_bytes} bytes while being read")

    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    fields = _fast_document(parser, data)
    if fields is None:
        fields = parser.document(_slow_decode(parser, data))
    return ResultsRun(path=path, mtime=info.st_mtime, mtime_ns=info.st_mtime_ns, size=info.st_size, **fields)


# Every scenario field the parser reads. The fast decoder keeps exactly these (a test
# checks both paths agree field by field); the sample series are typed so msgspec
# checks each item in C while decoding.
SCENARIO_FIELDS = (
    "name", "encoder", "encoder_type", "bitrate", "resolution", "fps", "start_time", "end_time", "duration",
    "preset", "outputs", "streams", "viewers", "vmaf_score", "psnr_score", "ssim_score", "avg_fps",
    "total_frames", "dropped_frames", "pixels_processed", "step_seconds", "energy_joules", "energy_source",
    "energy_error", "cpu_core_seconds", "quality_cpu_seconds", "output_bytes", "measured_bitrate_bps", "speed",
    "mode", "vmaf", "psnr", "ssim", "quality_reference", "repetitions", "duplicated_frames", "fell_behind_streams",
    "min_speed", "sweep",
)
SERIES_FIELDS = ("power_watts", "cpu_usage_cores")
DOCUMENT_FIELDS = ("test_date", "test_metadata", "format_version", "environment", "planned_scenarios", "not_run",
                   "sweeps")

# le=max float: a literal like 1e400 (infinity) is refused in C too.
_Sample = Annotated[float, msgspec.Meta(ge=0.0, le=sys.float_info.max)]
# gc=False: the decoded structs hold no cycles, so the collector need not track them.
_FastScenario = msgspec.defstruct(
    "_FastScenario",
    [(name, Any, msgspec.UNSET) for name in SCENARIO_FIELDS]
    + [(name, list[_Sample] | None, msgspec.UNSET) for name in SERIES_FIELDS],
    gc=False,
)
_FastDocument = msgspec.defstruct(
    "_FastDocument",
    [("scenarios", list[_FastScenario])] + [(name, Any, msgspec.UNSET) for name in DOCUMENT_FIELDS],
    gc=False,
)
_FAST_DECODER = msgspec.json.Decoder(_FastDocument)
_UNSET = msgspec.UNSET


def _fast_document(parser: _Parser, data: bytes) -> dict[str, Any] | None:
    """The run's fields, decoded by msgspec; ``None`` when msgspec refuses anything
    (not JSON, NaN, a bad sample, a scenario that is not an object...): the slow path
    then finds the problem and names it."""
    # The cyclic collector would run dozens of times over the growing heap while millions
    # of floats are allocated (none of them can form a cycle): paused for the decode.
    collecting = gc.isenabled()
    gc.disable()
    try:
        decoded = _FAST_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
        return None
    finally:
        if collecting:
            gc.enable()
    scenarios = []
    for item in decoded.scenarios:
        raw = {}
        for name in SCENARIO_FIELDS:
            value = getattr(item, name)
            if value is not _UNSET:
                raw[name] = value
        for name in SERIES_FIELDS:
            values = getattr(item, name)
            if values is _UNSET or values is None:
                continue
            raw[name] = tuple(values)  # a tuple marks a series as already checked
        scenarios.append(raw)
    doc = {"scenarios": scenarios}
    for name in DOCUMENT_FIELDS:
        value = getattr(decoded, name)
        if value is not _UNSET:
            doc[name] = value
    return parser.document(doc)


def _slow_decode(parser: _Parser, data: bytes) -> Any:
    """``json.loads`` with every failure turned into a ResultsError naming the place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        parser.fail("$", f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}")
    try:
        return json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        parser.fail("$", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    except RecursionError:
        parser.fail("$", "invalid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer literal with too many digits
        parser.fail("$", f"invalid JSON: {exc}")


# --------------------------------------------------------------------------
# the results directory

_STAMP_RE = re.compile(r"(?<!\d)(\d{8}_\d{6})(?!\d)")


def results_file_timestamp(name: str) -> datetime | None:
    """The ``YYYYMMDD_HHMMSS`` timestamp in a results file name, or ``None``."""
    match = _STAMP_RE.search(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d_%H%M%S")
    except ValueError:
        return None


class ResultsDirectory:
    """The current run of a results directory, reloaded when the newest file changes.

    The newest file is the one with the latest ``YYYYMMDD_HHMMSS`` in its name
    (files without one rank below all that have one); ties go to the latest
    mtime, then the name. A file is reloaded only when the newest file's path,
    mtime (ns) or size changes, never on a timer.

    Use from a refresh loop::

        try:
            results.load_if_changed()
        except ResultsError as exc:   # raised once per distinct bad file version
            errors_total += 1
            log.warning("%s", exc)    # names the file and the JSON path
        serve(results.current)        # last good run, None until one loaded

    ``current`` is the last run that loaded; ``last_error`` is the error of the
    newest file when it is bad (``None`` once the newest file is good again).
    """

    def __init__(
        self,
        path: PathLike,
        pattern: str = DEFAULT_PATTERN,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path = Path(path)
        self.pattern = pattern
        self.max_bytes = max_bytes
        self.current: ResultsRun | None = None
        self.last_error: ResultsError | None = None
        self._loaded: tuple[Path, int, int] | None = None
        self._failed: tuple[Path, int, int] | None = None

    def newest(self) -> Path | None:
        """The newest regular file matching the pattern, or ``None`` (none, or no directory)."""
        try:
            candidates = [(results_file_timestamp(p.name), p) for p in self.path.glob(self.pattern)]
        except OSError:
            return None
        # Group by name timestamp, newest group first; stat only as far as needed.
        candidates.sort(key=lambda c: (c[0] is not None, c[0] or datetime.min), reverse=True)
        i = 0
        while i < len(candidates):
            stamp = candidates[i][0]
            j = i
            best: tuple[int, str, Path] | None = None
            while j < len(candidates) and candidates[j][0] == stamp:
                candidate = candidates[j][1]
                j += 1
                try:
                    info = candidate.stat()
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                key = (info.st_mtime_ns, candidate.name, candidate)
                if best is None or key[:2] > best[:2]:
                    best = key
            if best is not None:
                return best[2]
            i = j
        return None

    def load_if_changed(self) -> ResultsRun | None:
        """Load the newest file if it changed since the last call.

        Returns the new run (also stored in ``current``), or ``None`` when
        nothing changed or there is no results file (``current`` is then kept).
        Raises :class:`ResultsError` when the changed file is bad, once per
        distinct (path, mtime, size); ``current`` keeps the last good run.
        """
        newest = self.newest()
        if newest is None:
            return None
        try:
            info = newest.stat()
        except OSError:
            return None  # vanished since listing; the next call lists again
        signature = (newest, info.st_mtime_ns, info.st_size)
        if signature == self._loaded:
            self.last_error = None
            return None
        if signature == self._failed:
            return None
        try:
            run = load_results_file(newest, max_bytes=self.max_bytes, results_dir=self.path)
        except ResultsError as exc:
            self._failed = signature
            self.last_error = exc
            raise
        self._loaded = (newest, run.mtime_ns, run.size)
        self._failed = None
        self.last_error = None
        self.current = run
        return run
