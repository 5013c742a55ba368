"""The results document, declared once: typed msgspec structs the runner encodes and the loader decodes.

docs/results-format.md is the prose of this module. Units are in the field names or in the
descriptions (seconds, watts, cores, bits/s, joules, VMAF 0-100, PSNR dB, SSIM 0-1).

Invariants:

* every field's type carries its constraint (`msgspec.Meta`) and its `description`, which is
  the wording of the loader's errors ("must be <description>, got <value>");
* a rule that spans fields, or that msgspec cannot express (a blank name, an integral float
  count, `end_time` before `start_time`), is a `check()` method of the struct it checks; it
  raises `RuleError` with the field's path relative to the struct;
* the writer leaves `None` out (`omit_defaults`), except in `NotRun`, `Sweep` and
  `SweepStep`, which keep `null` for unknown values as the format shows them;
* `__post_init__` is never used, so a struct built in Python (the runner) is never refused
  by a rule: the rules are the reader's, the shape is shared.

Tolerance for older files (the `encoder_type` spelling, an idle baseline's zeros, derived
steps and durations) lives in `contract.loading`, not here.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import msgspec

from ffwatt.common.errors import FfwattError
from ffwatt.contract import formulas

__all__ = [
    "ENERGY_SOURCES", "FORMAT_VERSION", "MAX_INT", "MEASURED_ENERGY_SOURCES", "SCENARIO_FIELDS",
    "AnchorRecord", "EnergyInputs", "GpuInputs", "IdleCheckRecord", "IdleRecord", "MeterRecord", "NotRun", "OutputEntry", "QualityDetail", "RepetitionEntry", "ResultsDocument", "RuleError",
    "ScenarioEntry", "SourceEntry", "Sweep",
    "SweepStep", "describe", "is_baseline",
]

FORMAT_VERSION = 2
"""The format version `ffwatt run` writes and the newest the loader reads (files without
`format_version` are 1)."""

MAX_INT = 2**63 - 1
"""Integer readings above this are refused as out of range."""

ENERGY_SOURCES = ("rapl", "nvml", "rapl+nvml", "model", "samples", "tsdb", "simulated", "none")
"""Values of a scenario's `energy_source`: measured joules counters (`rapl`, `nvml`,
`rapl+nvml`), the CPU power model (`model`, an estimate), power samples in the file
(`samples`), the TSDB's counters (`tsdb`), a simulator (`simulated`: ffwatt's sample files),
or nothing (`none`)."""

MEASURED_ENERGY_SOURCES = frozenset({"rapl", "nvml", "rapl+nvml", "samples", "tsdb"})
"""Sources whose figures are measurements; `model` and `simulated` are not."""

_MAX_FLOAT = sys.float_info.max  # an upper bound refuses infinity (a literal like 1e400)


class RuleError(FfwattError, ValueError):
    """A rule of a struct failed: `path` is relative to the struct (`.end_time`, `` for the whole)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def describe(value: Any) -> str:
    """A value as an error message shows it: JSON for scalars, "an object"/"an array" for containers."""
    token = getattr(value, "token", None)  # the loader's stand-in for NaN/Infinity
    if isinstance(token, str):
        return token
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    try:
        text = json.dumps(value, ensure_ascii=True) if isinstance(value, str) else _json_scalar(value)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _json_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        # 100.0 reads as 100: a rule sees the typed value, and the file may have said 100
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else float.__repr__(value)
    raise TypeError(type(value).__name__)


def is_baseline(name: str, encoder: str | None) -> bool:
    """An idle baseline: the name contains "baseline" or "idle", or the encoder is "none"."""
    lowered = name.lower()
    return "baseline" in lowered or "idle" in lowered or (encoder is not None and encoder.strip().lower() == "none")


# ---------------------------------------------------------------- field types


def _number(description: str, **bounds: float) -> Any:
    bounds.setdefault("le", _MAX_FLOAT)
    if "gt" not in bounds:
        bounds.setdefault("ge", 0.0)
    return Annotated[float, msgspec.Meta(description=description, **bounds)]


def _integer(description: str, minimum: int = 0) -> Any:
    # A float with an integral value is accepted (older writers), checked by `_integral`.
    return Annotated[
        Annotated[int, msgspec.Meta(ge=minimum, le=MAX_INT)] | Annotated[float, msgspec.Meta(ge=minimum)],
        msgspec.Meta(description=description),
    ]


Text = Annotated[str, msgspec.Meta(description="a string")]
NonNegative = _number("a non-negative number")
Positive = _number("a positive number", gt=0.0)
Signed = _number("a number", ge=-_MAX_FLOAT)
UnixSeconds = _number("a non-negative number (unix seconds)")
Joules = _number("a non-negative number (J)")
Vmaf = _number("a number from 0 to 100", le=100.0)
Ssim = _number("a number from 0 to 1", le=1.0)
Decibels = _number("a non-negative number (dB)")
FrameRate = _number("a positive number")  # 0 only for an idle baseline: ScenarioEntry.check
Sample = _number("a non-negative number")
Series = Annotated[tuple[Sample, ...], msgspec.Meta(description="an array of non-negative numbers")]
Count = _integer("a non-negative integer")
PositiveCount = _integer("a positive integer", 1)
Bitrate = Annotated[
    str | Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)],
    msgspec.Meta(description='a string like "2500k" or an integer'),
]
EnergySource = Annotated[Literal[ENERGY_SOURCES], msgspec.Meta(description=f"one of {', '.join(ENERGY_SOURCES)}")]


def _integral(struct: msgspec.Struct, names: tuple[str, ...], minimum: int = 0) -> None:
    """Integer fields given as floats must be whole numbers of at most `MAX_INT`."""
    for name in names:
        value = getattr(struct, name)
        if type(value) is float:
            expect = "a positive integer" if minimum else "a non-negative integer"
            if not value.is_integer():
                raise RuleError(f".{name}", f"must be {expect}, got {describe(value)}")
            if value > MAX_INT:
                raise RuleError(f".{name}", f"must be {expect} of at most {MAX_INT}, got {describe(value)}")


_STRUCT = dict(kw_only=True, gc=False, forbid_unknown_fields=False)


# ---------------------------------------------------------------- parts of a scenario


class QualityDetail(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """Pooled per-frame quality of one metric: VMAF 0-100, PSNR dB or SSIM 0-1.

    `p1` is the 1st percentile of the per-frame scores (the worst 1 % of frames); `model` the
    VMAF model name. Unknown parts are `None`.
    """

    expect: ClassVar[str] = 'an object like {"mean": 93.1, "min": 80.2}'

    mean: NonNegative | None = None
    harmonic_mean: NonNegative | None = None
    min: NonNegative | None = None
    p1: NonNegative | None = None
    model: Text | None = None
    # issue 23: how `mean` pools the frames, and the figures per plane
    pooling: Text | None = None  # "frame_mean" (mean of per-frame scores) or "mse" (PSNR of the mean MSE)
    frame_mean: NonNegative | None = None  # mean of per-frame scores, where `mean` pools otherwise (PSNR)
    y: NonNegative | None = None  # per plane (PSNR dB, SSIM 0-1): mean of per-frame values
    u: NonNegative | None = None
    v: NonNegative | None = None

    def check(self, maximum: float | None) -> None:
        if maximum is None:
            return
        for name in ("mean", "harmonic_mean", "min", "p1", "frame_mean", "y", "u", "v"):
            value = getattr(self, name)
            if value is not None and value > maximum:
                raise RuleError(f".{name}", f"must be a number from 0 to {maximum:g}, got {describe(value)}")


QualityStats = QualityDetail


class OutputEntry(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """One rendition of an output ladder; without `fps` it keeps the scenario's frame rate."""

    expect: ClassVar[str] = "an object with resolution and fps"

    resolution: Text
    fps: Positive | None = None
    bitrate: Any = None  # written for the reader's eyes; the loader does not read it
    # issue 23: what this rung really wrote, summed over the scenario's streams (bitrate: per stream)
    frames: Count | None = None
    expected_frames: Count | None = None
    output_bytes: Count | None = None
    measured_bitrate_bps: NonNegative | None = None

    def check(self) -> None:
        try:
            formulas.parse_resolution(self.resolution)
        except ValueError as exc:
            raise RuleError(".resolution", str(exc)) from None
        _integral(self, ("frames", "expected_frames", "output_bytes"))


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class SourceEntry(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """issue 23: what a scenario encoded. A file: its `name` (the clip), `path` as the scenario
    file wrote it, `size_bytes`, `sha256` and its native `width`/`height`/`fps`/`duration_seconds`
    (None when the file does not say, e.g. a live capture's duration). A lavfi source: its
    `name` and `lavfi` expression, generated at the scenario's size, rate and duration."""

    expect: ClassVar[str] = 'an object like {"name": "bbb", "path": "clips/bbb.mkv", "sha256": "..."}'

    name: Text | None = None
    path: Text | None = None
    lavfi: Text | None = None
    size_bytes: Count | None = None
    sha256: Text | None = None
    width: PositiveCount | None = None
    height: PositiveCount | None = None
    fps: Positive | None = None
    duration_seconds: NonNegative | None = None
    # issue 29: the clip's class (`source: {file: ..., class: B}`), as the CTC sheets average per class
    clip_class: Text | None = msgspec.field(default=None, name="class")

    def check(self) -> None:
        _integral(self, ("size_bytes",))
        _integral(self, ("width", "height"), 1)
        if self.sha256 is not None and not _SHA256_RE.match(self.sha256):
            raise RuleError(".sha256", f"must be 64 lowercase hex digits, got {describe(self.sha256)}")


class GpuInputs(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """issue 30: one GPU over a measurement window: its energy, and NVML's per-process utilisation
    summed over the window's samples (the scenario's processes' and every process's, engine-percent;
    `formulas.gpu_utilisation_share`), None where the driver did not say."""

    expect: ClassVar[str] = 'an object like {"uuid": "GPU-...", "energy_joules": 312.5}'

    uuid: Text
    energy_joules: Joules
    scenario_utilisation: NonNegative | None = None
    all_utilisation: NonNegative | None = None


class EnergyInputs(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """issue 30: one measurement window (one repetition) and every input its energy was computed
    from, so `ffwatt audit` can recompute it: the figures are the *window's* (all its `encodes`
    together), where the scenario's and its repetitions' are per single encode. Unknown is None."""

    expect: ClassVar[str] = "an object"

    window_s: NonNegative | None = None  # the meter's window (monotonic seconds)
    encodes: PositiveCount | None = None  # encodes back to back in the window
    cpu_seconds: NonNegative | None = None  # the scenario's process trees' CPU time (wait4); None for a baseline
    machine_cpu_seconds: NonNegative | None = None  # all CPU time on the machine (/proc/stat)
    cpus_visible: PositiveCount | None = None
    busy_share: NonNegative | None = None  # machine_cpu_seconds / (cpus_visible x window_s)
    energy_source: EnergySource | None = None
    machine_energy_joules: Joules | None = None  # the machine's over the window: the CPU part + the GPU part
    cpu_energy_joules: Joules | None = None  # the RAPL (or model, or TSDB) part; None: no CPU part
    gpu_energy_joules: Joules | None = None  # the NVML part; None: no GPU part
    gpus: Annotated[list[GpuInputs] | None, msgspec.Meta(description="an array of GPU objects")] = None
    attribution: Text | None = None  # the rule applied to this window (`energy_attribution`'s names)
    idle_watts: NonNegative | None = None  # the idle power taken out; None when not used (exclusive)
    idle_source: Text | None = None  # where it came from: "baseline", "probe" or "model"
    idle_accepted: Annotated[bool, msgspec.Meta(description="true or false")] | None = None  # an idle baseline's
    model_watts_per_thread: Positive | None = None  # the CPU model's figure, where the energy or idle term is modelled

    def check(self) -> None:
        _integral(self, ("encodes", "cpus_visible"), 1)


class RepetitionEntry(msgspec.Struct, omit_defaults=True, **_STRUCT):
    """One repetition of a scenario that ran N times; unknown parts are `None`."""

    expect: ClassVar[str] = "an object"

    energy_joules: NonNegative | None = None
    avg_fps: NonNegative | None = None
    duration: NonNegative | None = None
    # issue 25
    host: Text | None = None  # fleet runs without --pin-host: the host of this repetition when they differ
    # issue 22: each repetition's own window and figures (per single encode, like the scenario's)
    start_time: UnixSeconds | None = None
    end_time: UnixSeconds | None = None
    machine_energy_joules: NonNegative | None = None
    cpu_core_seconds: NonNegative | None = None


_NO_VIDEO_RE = re.compile(r"^\s*0+\s*[xX]\s*0+\s*$")
_COUNTS = ("viewers", "total_frames", "dropped_frames", "pixels_processed", "output_bytes", "duplicated_frames",
           "fell_behind_streams", "expected_frames")


class ScenarioEntry(msgspec.Struct, omit_defaults=True, **_STRUCT):
    """One scenario of a results file, as written (field order is the written order).

    `encoder_type` (the enriched shape's spelling of `encoder`) and `pixels_processed` are
    read, never written by `ffwatt run`. `streams_detail` is free-form and not read.
    """

    expect: ClassVar[str] = "an object"

    name: Annotated[str, msgspec.Meta(description="a non-empty string")]
    encoder: Text | None = None
    encoder_type: Text | None = None
    preset: Text | None = None
    bitrate: Bitrate | None = None
    resolution: Text | None = None
    fps: FrameRate | None = None
    duration: NonNegative | None = None
    streams: PositiveCount | None = None
    viewers: Count | None = None
    start_time: UnixSeconds | None = None
    end_time: UnixSeconds | None = None
    outputs: Annotated[list[OutputEntry] | None,
                       msgspec.Meta(description="null or an array of {resolution, fps} objects")] = None
    vmaf_score: Vmaf | None = None
    psnr_score: Decibels | None = None
    ssim_score: Ssim | None = None
    vmaf: QualityDetail | None = None
    psnr: QualityDetail | None = None
    ssim: QualityDetail | None = None
    quality_reference: Annotated[dict[str, Text | None] | None,
                                 msgspec.Meta(description="an object of strings")] = None
    avg_fps: NonNegative | None = None
    total_frames: Count | None = None
    dropped_frames: Count | None = None
    pixels_processed: Count | None = None
    output_bytes: Count | None = None
    measured_bitrate_bps: NonNegative | None = None
    speed: NonNegative | None = None
    energy_joules: Joules | None = None
    energy_source: EnergySource | None = None
    energy_error: Text | None = None
    cpu_core_seconds: NonNegative | None = None
    quality_cpu_seconds: NonNegative | None = None
    power_watts: Series | None = None
    cpu_usage_cores: Series | None = None
    step_seconds: Positive | None = None
    repetitions: Annotated[list[RepetitionEntry] | None,
                           msgspec.Meta(description="an array of {energy_joules, avg_fps, duration} objects")] = None
    mode: Annotated[Literal["file", "live"] | None, msgspec.Meta(description='"file" or "live"')] = None
    duplicated_frames: Count | None = None
    fell_behind_streams: Count | None = None
    min_speed: NonNegative | None = None
    streams_detail: Any = None
    sweep: Text | None = None
    # issue 23: the source's identity, and whether the media was all there
    source: SourceEntry | None = None
    expected_frames: Count | None = None  # fps x duration x streams, comparable with total_frames
    incomplete: Annotated[bool, msgspec.Meta(description="true or false")] | None = None
    media_seconds: NonNegative | None = None  # media time one stream really encoded
    source_duration_unknown: Annotated[bool, msgspec.Meta(description="true or false")] | None = None
    # issue 22: the machine's energy over the window beside the scenario's own share
    # (`energy_joules`), the rule that split it, and how many encodes one measurement held
    machine_energy_joules: Joules | None = None
    # the rule's name, "+"-joined parts (docs/energy.md; catalog.ENERGY_ATTRIBUTIONS lists the parts):
    # any text loads, so a file from a newer runner is served, its unknown rule labelled `other`
    energy_attribution: Text | None = None
    encodes_per_measurement: PositiveCount | None = None
    # issue 25: fleet runs (`ffwatt run --cluster`); absent in local runs
    host: Text | None = None  # the worker (its --name) that ran the scenario; its environment is the header's hosts[host]
    lost_attempt_hosts: Annotated[list[Text] | None, msgspec.Meta(description="an array of host names")] = None
    # issue 30: the attribution rule's version (formulas.ATTRIBUTION_VERSION), each repetition's window with every
    # input of its energy (in `repetitions` order; one for a scenario measured once), and an idle baseline's check
    energy_attribution_version: PositiveCount | None = None
    energy_inputs: Annotated[list[EnergyInputs] | None,
                             msgspec.Meta(description="an array of measurement window objects")] = None
    idle_rejected: Annotated[bool, msgspec.Meta(description="true or false")] | None = None
    idle_busy_share: NonNegative | None = None

    def check(self) -> None:
        """The rules msgspec's types cannot say; `RuleError` names the field."""
        if not self.name.strip():
            raise RuleError(".name", f"must be a non-empty string, got {describe(self.name)}")
        _integral(self, _COUNTS)
        _integral(self, ("streams",), 1)
        _integral(self, ("encodes_per_measurement", "energy_attribution_version"), 1)
        for k, inputs in enumerate(self.energy_inputs or ()):
            try:
                inputs.check()
            except RuleError as exc:
                raise RuleError(f".energy_inputs[{k}]{exc.path}", exc.reason) from None
        if self.encoder is not None and self.encoder_type is not None and self.encoder != self.encoder_type:
            raise RuleError(".encoder_type",
                            f"conflicts with encoder ({describe(self.encoder_type)} vs {describe(self.encoder)})")
        if self.fps is not None and self.fps == 0 and not is_baseline(self.name, self.encoder or self.encoder_type):
            raise RuleError(".fps", f"must be a positive number, got {describe(self.fps)}")
        if self.start_time is not None and self.end_time is not None and self.end_time < self.start_time:
            raise RuleError(".end_time", f"must not be before start_time ({describe(self.start_time)}), "
                                         f"got {describe(self.end_time)}")
        if self.duration is None and (self.start_time is None or self.end_time is None):
            raise RuleError(".duration", "required field is missing (give duration, or start_time and end_time)")
        if self.bitrate is not None:
            try:
                formulas.parse_bitrates(self.bitrate)  # "1000k,2500k": the older runner's one per stream
            except ValueError as exc:
                raise RuleError(".bitrate", str(exc)) from None
        if self.resolution is not None and not _NO_VIDEO_RE.match(self.resolution):  # "0x0": no video
            try:
                formulas.parse_resolution(self.resolution)
            except ValueError as exc:
                raise RuleError(".resolution", str(exc)) from None
        for k, output in enumerate(self.outputs or ()):
            try:
                output.check()
            except RuleError as exc:
                raise RuleError(f".outputs[{k}]{exc.path}", exc.reason) from None
        if (self.dropped_frames is not None and self.total_frames is not None
                and self.dropped_frames > self.total_frames):
            raise RuleError(".dropped_frames", f"must not exceed total_frames ({describe(self.total_frames)}), "
                                               f"got {describe(self.dropped_frames)}")
        if self.energy_source == "none" and self.energy_joules is not None:
            raise RuleError(".energy_source", f'is "none" but energy_joules is {describe(self.energy_joules)}')
        if self.energy_joules is not None and self.energy_source is None:
            raise RuleError(".energy_source", "required with energy_joules: say where the energy came from")
        if self.source is not None:
            try:
                self.source.check()
            except RuleError as exc:
                raise RuleError(f".source{exc.path}", exc.reason) from None
        if self.machine_energy_joules is not None and self.energy_source in (None, "none"):  # issue 22
            raise RuleError(".energy_source", "required with machine_energy_joules: say where the energy came from"
                            if self.energy_source is None else
                            f'is "none" but machine_energy_joules is {describe(self.machine_energy_joules)}')
        for name, maximum in (("vmaf", 100.0), ("psnr", None), ("ssim", 1.0)):
            detail = getattr(self, name)
            if detail is not None:
                try:
                    detail.check(maximum)
                except RuleError as exc:
                    raise RuleError(f".{name}{exc.path}", exc.reason) from None


SCENARIO_FIELDS = ScenarioEntry.__struct_fields__
"""Every per-scenario field a results file may carry (docs/results-format.md), in the order written."""


# ---------------------------------------------------------------- the run


class NotRun(msgspec.Struct, frozen=True, **_STRUCT):
    """A scenario the run did not complete: `status` is `skipped` or `failed`."""

    expect: ClassVar[str] = "an object with name, status and reason"

    name: Text
    status: Annotated[Literal["skipped", "failed"], msgspec.Meta(description='"skipped" or "failed"')]
    reason: Text | None = ""


class SweepStep(msgspec.Struct, frozen=True, **_STRUCT):
    """One step of a capacity sweep: the live scenario at `streams` streams."""

    expect: ClassVar[str] = "an object"

    streams: PositiveCount
    scenario: Text
    held_real_time: Annotated[bool, msgspec.Meta(description="true or false")]
    energy_joules: NonNegative | None = None
    net_power_watts: Signed | None = None  # below an idle baseline is a real (negative) reading
    min_speed: NonNegative | None = None
    vmaf: Vmaf | None = None


class Sweep(msgspec.Struct, frozen=True, **_STRUCT):
    """A capacity sweep: its steps, the knee (the largest stream count that held real time) and
    the marginal joules per extra stream (a noisy sweep may give a negative slope: kept, not
    clamped); unknown parts are `None`."""

    expect: ClassVar[str] = "an object with name, steps, knee_streams"

    name: Text
    steps: Annotated[tuple[SweepStep, ...], msgspec.Meta(description="an array")]
    knee_streams: PositiveCount | None = None
    marginal_joules_per_stream: Signed | None = None

    def check(self) -> None:
        _integral(self, ("knee_streams",), 1)
        for j, step in enumerate(self.steps):
            try:
                _integral(step, ("streams",), 1)
            except RuleError as exc:
                raise RuleError(f".steps[{j}]{exc.path}", exc.reason) from None


class MeterRecord(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """How a run measured energy, once for the whole run (issue 22, docs/energy.md); `--resume`
    refuses to add to a file whose meter settings (`RESUME_KEYS`) differ."""

    expect: ClassVar[str] = "an object"
    RESUME_KEYS: ClassVar[tuple[str, ...]] = (
        "mode", "source", "powercap_root", "cpu_metrics_url", "gpu_metrics_url", "tsdb_url", "model_watts_per_thread",
        "attribution", "attribution_version", "min_window_seconds", "sample_interval_seconds")

    mode: Annotated[Literal["in-process", "exporters"], msgspec.Meta(description='"in-process" or "exporters"')]
    source: Text | None = None  # what the meter found at the start: rapl, nvml, rapl+nvml, model, simulated, tsdb, none
    description: Text | None = None
    powercap_root: Text | None = None
    cpu_metrics_url: Text | None = None
    gpu_metrics_url: Text | None = None
    tsdb_url: Text | None = None
    sample_interval_seconds: Positive | None = None
    cpu_model: Text | None = None
    model_watts_per_thread: Positive | None = None
    model_tdp_watts: Positive | None = None
    model_package_threads: PositiveCount | None = None
    model_idle_fraction: NonNegative | None = None
    model_why: Text | None = None
    attribution: Text | None = None  # "cpu-time-share" or "exclusive"
    attribution_version: PositiveCount | None = None  # issue 30: formulas.ATTRIBUTION_VERSION
    idle_power_from: Text | None = None
    order: Text | None = None  # "shuffled" or "sequential"
    seed: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] | None = None
    min_window_seconds: NonNegative | None = None
    cool_down_seconds: NonNegative | None = None


class IdleCheckRecord(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """issue 30: one window checked for idleness (an idle baseline's, the runner's probe): what it
    measured, its busy share, and whether it was accepted as the machine's idle power (`why` not)."""

    expect: ClassVar[str] = 'an object like {"origin": "probe", "accepted": true, "watts": 23.1}'

    origin: Text  # "baseline" or "probe"
    accepted: Annotated[bool, msgspec.Meta(description="true or false")]
    scenario: Text | None = None  # a baseline's name
    host: Text | None = None  # fleet runs: the host it measured
    energy_source: Text | None = None
    window_s: NonNegative | None = None
    cpu_energy_joules: Joules | None = None
    machine_cpu_seconds: NonNegative | None = None
    cpus_visible: PositiveCount | None = None
    busy_share: NonNegative | None = None
    watts: NonNegative | None = None  # cpu_energy_joules / window_s
    why: Text | None = None


class IdleRecord(msgspec.Struct, omit_defaults=True, **_STRUCT):
    """issue 30: the idle power the run's attribution took out: the figure last used (`watts`, its
    `source`: baseline, probe or model; the busy share and window of the measurement it came from),
    the idle threshold and probe settings, and every idle check the run made (`checks`)."""

    expect: ClassVar[str] = "an object"

    threshold: NonNegative | None = None  # busy share under which a window is idle
    probe_seconds: NonNegative | None = None  # None: --no-idle-probe
    watts: NonNegative | None = None
    source: Text | None = None
    busy_share: NonNegative | None = None
    window_s: NonNegative | None = None
    scenario: Text | None = None
    host: Text | None = None
    checks: Annotated[list[IdleCheckRecord] | None, msgspec.Meta(description="an array of idle checks")] = None


class AnchorRecord(msgspec.Struct, frozen=True, omit_defaults=True, **_STRUCT):
    """issue 29: the encoder/preset a report compares every other with by default: the first encode of
    the scenario file, recorded by the runner (a results file's scenario order is the shuffled run's)."""

    expect: ClassVar[str] = 'an object like {"encoder": "libx264", "preset": "medium"}'

    encoder: Annotated[str, msgspec.Meta(description="a non-empty string")]
    preset: Text | None = None

    def check(self) -> None:
        if not self.encoder.strip():
            raise RuleError(".encoder", f"must be a non-empty string, got {describe(self.encoder)}")


S = TypeVar("S")


class ResultsDocument(msgspec.Struct, Generic[S], omit_defaults=True, **_STRUCT):
    """A results file. `S` is `ScenarioEntry`; the loader first decodes it with `msgspec.Raw`
    so that it can count the scenarios before decoding them, and skip a bad one.

    `test_metadata` marks the enriched shape; `environment` is where the run was measured
    (free-form strings and numbers; `cpu_cores`, `tdp_watts` and `encoder_versions` typed);
    `runner` is the runner's own bookkeeping (`--resume`), not read by the loader.
    """

    expect: ClassVar[str] = "an object with a scenarios array"

    format_version: PositiveCount | None = None
    test_date: Text | None = None
    # absent and null differ: a `test_metadata` key, even null, marks the enriched shape
    test_metadata: Annotated[dict[str, Any] | None, msgspec.Meta(description="an object")] | msgspec.UnsetType = (
        msgspec.UNSET)
    environment: Annotated[dict[str, Any] | None, msgspec.Meta(description="an object")] = None
    planned_scenarios: Count | None = None
    runner: Any = None
    scenarios: Annotated[list[S], msgspec.Meta(description="an array")]
    not_run: Annotated[list[NotRun] | None,
                       msgspec.Meta(description="an array of {name, status, reason} objects")] = None
    sweeps: Annotated[list[Sweep] | None, msgspec.Meta(description="an array of sweep objects")] = None
    # issue 25: fleet runs: each worker's environment (as `environment`), keyed by host name
    hosts: Annotated[dict[str, dict[str, Any]] | None, msgspec.Meta(description="an object of host -> environment")] = None
    # issue 22: how the run measured energy (the meter, the model figure, the attribution, the seed)
    meter: MeterRecord | None = None
    # issue 29: the default anchor of a report: the scenario file's first encoder/preset
    anchor: AnchorRecord | None = None
    # issue 30: the idle power the attribution took out, and every idle check of the run
    idle: IdleRecord | None = None

    def check(self) -> None:
        _integral(self, ("format_version",), 1)
        _integral(self, ("planned_scenarios",))
        if self.format_version is not None and self.format_version > FORMAT_VERSION:
            raise RuleError(".format_version", f"format version {describe(self.format_version)} is newer than this "
                                               f"ffwatt reads ({FORMAT_VERSION}): upgrade ffwatt")
        if self.test_date is None and self.test_metadata:
            date = self.test_metadata.get("test_date")
            if date is not None and type(date) is not str:
                raise RuleError(".test_metadata.test_date", f"must be a string, got {describe(date)}")
        if self.anchor is not None:
            try:
                self.anchor.check()
            except RuleError as exc:
                raise RuleError(f".anchor{exc.path}", exc.reason) from None
        for k, sweep in enumerate(self.sweeps or ()):
            try:
                sweep.check()
            except RuleError as exc:
                raise RuleError(f".sweeps[{k}]{exc.path}", exc.reason) from None


class EnvironmentKnown(msgspec.Struct, **_STRUCT):
    """The typed keys of a run's free-form `environment`."""

    cpu_cores: PositiveCount | None = None
    tdp_watts: Positive | None = None
    encoder_versions: Annotated[dict[str, Text] | None,
                                msgspec.Meta(description="an object of encoder name -> version")] = None

    def check(self) -> None:
        _integral(self, ("cpu_cores",), 1)
