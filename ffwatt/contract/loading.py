"""Loading results files with tolerance: bytes on disk -> `contract.model.ResultsRun`.

Every problem with a file is a `ResultsError` naming the file, the JSON path of the bad value
(`$.scenarios[3].duration`) and the reason; `load_results_file` raises nothing else, whatever
the bytes on disk, so an exporter's refresh loop can keep serving its last good data.

One bad scenario does not blank a run: the run serves the valid scenarios and keeps one
`ResultsError` per skipped scenario in `ResultsRun.skipped`. A file is refused whole only when
the document itself is bad (not JSON, no `scenarios` array, too large, too many scenarios, a
duplicate key outside the scenarios...) or when none of its scenarios is valid.

How (the shape is `contract.schema`, declared once; nothing here describes it again):

1. the file is read safely: a regular file, inside the results directory when one is given
   (links out of it are refused), at most `max_bytes`;
2. msgspec decodes the document with each scenario left as `msgspec.Raw`, so the scenario
   count is checked (`max_scenarios`) before any scenario is built;
3. each scenario is decoded by msgspec into `ScenarioEntry` (one pass in C, the sample series
   included), then its rules (`ScenarioEntry.check`) run and its view (`Scenario`) is built;
4. when msgspec refuses something (NaN, a lone surrogate, a wrong type, a duplicate key), the
   same bytes go through `json.loads` and `msgspec.convert`, whose error path
   (`$.scenarios[3].duration`) and the field's declared description give the message
   ("must be a non-negative number, got -5").

Duplicate keys: msgspec keeps the last of two equal keys silently; JSON says nothing either.
They are refused here, naming the key. To keep the 7 M-sample load fast, the check parses only
what is left once the (large, number-only) sample arrays are cut out, with `json.loads`.

Tolerance for older shapes (`encoder_type`, an idle baseline's zero scores, a step derived from
the duration, a duration from start and end, the stream count from the name) is the view
builder's, `_scenario_view`.
"""

from __future__ import annotations

import gc
import json
import os
import re
import stat
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from msgspec import inspect as mi

from ffwatt.catalog import MAX_LABEL_VALUE_LENGTH
from ffwatt.common.errors import FfwattError
from ffwatt.contract import formulas
from ffwatt.contract.formulas import Rendition
from ffwatt.contract.model import Repetition, ResultsRun, Scenario
from ffwatt.contract.schema import (
    MAX_INT,
    EnvironmentKnown,
    OutputEntry,
    QualityDetail,
    ResultsDocument,
    RuleError,
    ScenarioEntry,
    describe,
    is_baseline,
)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_LABEL_LENGTH", "DEFAULT_MAX_SCENARIOS", "ResultsError",
           "load_results_file"]

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Files larger than this are rejected (a results file is a few hundred KiB)."""

DEFAULT_MAX_SCENARIOS = 100_000
"""Files with more scenarios than this are rejected before the scenarios are built."""

DEFAULT_MAX_LABEL_LENGTH = MAX_LABEL_VALUE_LENGTH
"""Longest value (in characters) of a field that becomes a label value: a scenario's name, encoder,
bitrate, resolution, preset and host, a sweep's name and step scenarios (and a not-run name, shown
in /health). A scenario over it is skipped, a sweep or not-run entry refuses the file: one long
name would otherwise be repeated in every series of every scrape (30 MB x 8 series each)."""

# The scenario fields whose values become label values (exporters/results_source.py `scenario_labels`).
_LABEL_FIELDS = ("name", "encoder", "encoder_type", "bitrate", "resolution", "preset", "host")

PathLike = str | os.PathLike[str]


class ResultsError(FfwattError):
    """A results file that cannot be used.

    `file` is the file's name, `json_path` the JSON path of the offending value (`$` for the
    whole file), `reason` what is wrong; `path` is the full path when known. `str()` reads
    `test_results_x.json: $.scenarios[3].duration: must be a non-negative number, got -5`.
    """

    def __init__(self, file: str, json_path: str, reason: str, path: Path | None = None) -> None:
        self.file = file
        self.json_path = json_path
        self.reason = reason
        self.path = path
        super().__init__(f"{file}: {json_path}: {reason}")

    def __reduce__(self):  # keep the exception picklable despite the custom __init__
        return (type(self), (self.file, self.json_path, self.reason, self.path))


class _PathError(Exception):
    """A problem at a JSON path, before the file's name is attached."""

    def __init__(self, json_path: str, reason: str) -> None:
        super().__init__(json_path, reason)
        self.json_path = json_path
        self.reason = reason


class _NotJsonError(Exception):
    """A scenario msgspec skipped over is not JSON after all: the whole file is read the slow way,
    so that the error gives the offset in the file."""


# ---------------------------------------------------------------- reading the file


def _read(path: Path, max_bytes: int, results_dir: PathLike | None) -> tuple[bytes, os.stat_result]:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    open_path = path
    try:
        if results_dir is not None:
            root = Path(results_dir).resolve(strict=True)
            real = path.resolve(strict=True)
            if not real.is_relative_to(root):
                raise _PathError("$", f"resolves to {real}, outside the results directory {root}")
            open_path = real
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(open_path, flags)
    except OSError as exc:
        raise _PathError("$", f"cannot open: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # symlink loop on older Pythons
        raise _PathError("$", f"cannot open: {exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _PathError("$", "not a regular file")
        if info.st_size > max_bytes:
            raise _PathError("$", f"file is {info.st_size} bytes, over the limit of {max_bytes} bytes")
        chunks, remaining = [], max_bytes + 1  # one byte more detects a file that grew
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise _PathError("$", f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise _PathError("$", f"file grew over the limit of {max_bytes} bytes while being read")
    return data, info


def load_results_file(
    path: PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    results_dir: PathLike | None = None,
    max_scenarios: int = DEFAULT_MAX_SCENARIOS,
    max_label_length: int = DEFAULT_MAX_LABEL_LENGTH,
) -> ResultsRun:
    """Load and validate one results file (either shape).

    `max_bytes`: larger files are rejected before parsing. `results_dir`: when given, the file
    (after resolving symlinks) must lie inside it. `max_scenarios`: files with more scenarios
    are rejected before the scenarios are decoded. `max_label_length`: the longest label value
    (`DEFAULT_MAX_LABEL_LENGTH`).

    Raises `ResultsError` for every problem (unreadable, not a regular file, too large, not
    UTF-8, not JSON, NaN/Infinity, duplicate keys, wrong types, out of range values, duplicate
    names...), and nothing else.
    """
    path = Path(path)
    try:
        data, info = _read(path, max_bytes, results_dir)
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        fields = _document(body, max_scenarios, path.name, path, max_label_length)
    except _PathError as exc:
        raise ResultsError(path.name, exc.json_path, exc.reason, path=path) from None
    return ResultsRun(path=path, mtime=info.st_mtime, mtime_ns=info.st_mtime_ns, size=info.st_size, **fields)


# ---------------------------------------------------------------- the document

_OUTLINE = msgspec.json.Decoder(ResultsDocument[msgspec.Raw])
_SCENARIO = msgspec.json.Decoder(ScenarioEntry)
_ANY_DOCUMENT = ResultsDocument[Any]
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


def _document(data: bytes, max_scenarios: int, file: str, path: Path, max_label: int) -> dict[str, Any]:
    """The run's fields (keyword arguments of `ResultsRun`)."""
    # The cyclic collector would run dozens of times over the growing heap while millions of
    # floats are allocated (none of them can form a cycle): paused while decoding.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _decode_document(data, max_scenarios, file, path, max_label)
    finally:
        if collecting:
            gc.enable()


def _decode_document(data: bytes, max_scenarios: int, file: str, path: Path, max_label: int) -> dict[str, Any]:
    try:
        return _decode_outline(data, max_scenarios, file, path, fast=True, max_label=max_label)
    except _NotJsonError:
        return _decode_outline(data, max_scenarios, file, path, fast=False, max_label=max_label)


def _decode_outline(data: bytes, max_scenarios: int, file: str, path: Path, fast: bool,
                    max_label: int = DEFAULT_MAX_LABEL_LENGTH) -> dict[str, Any]:
    doc = None
    if fast:
        try:
            doc = _OUTLINE.decode(data)
        except _DECODE_ERRORS:
            doc = None
    if doc is not None:
        _check_count(len(doc.scenarios), max_scenarios)
        found = _top_level_duplicate(data, doc.scenarios)
        if found is not None:
            raise _PathError(found[0], f"duplicate key {describe(found[1])}")
        items: list[tuple[Any, Any]] = [(raw, None) for raw in doc.scenarios]
    else:  # the slow path names the problem
        tree = _json_tree(data)
        if isinstance(tree, dict) and isinstance(tree.get("scenarios"), list):
            _check_count(len(tree["scenarios"]), max_scenarios)
        found = _find_duplicate(tree, "$", skip="scenarios")
        if found is not None:
            raise _PathError(found[0], f"duplicate key {describe(found[1])}")
        doc = _convert(tree, _ANY_DOCUMENT, "$")
        _check_text(doc, "$")
        items = [(None, item) for item in doc.scenarios]
    try:
        doc.check()
    except RuleError as exc:
        raise _PathError("$" + exc.path, exc.reason) from None
    _check_document_labels(doc, max_label)

    test_date = doc.test_date
    if test_date is None and doc.test_metadata:
        test_date = doc.test_metadata.get("test_date")
        if test_date is not None:
            _check_string(test_date, "$.test_metadata.test_date")
    environment = _environment(doc.environment)

    seen: dict[str, int] = {}
    scenarios: list[Scenario] = []
    skipped: list[ResultsError] = []
    for i, (raw, tree) in enumerate(items):
        try:
            entry = _scenario_entry(i, raw, tree, max_label)
            if entry.name in seen:
                raise _PathError(f"$.scenarios[{i}].name", f"duplicate scenario name {describe(entry.name)} "
                                                         f"(first at $.scenarios[{seen[entry.name]}])")
            seen[entry.name] = i
            scenarios.append(_scenario_view(entry, i))
        except _PathError as exc:
            skipped.append(ResultsError(file, exc.json_path, exc.reason, path=path))
    if skipped and not scenarios:
        first = skipped[0]
        more = f" (and {len(skipped) - 1} more bad scenario(s))" if len(skipped) > 1 else ""
        raise _PathError(first.json_path, first.reason + more)
    return {
        "test_date": test_date, "scenarios": tuple(scenarios),
        "shape": "runner" if doc.test_metadata is msgspec.UNSET else "enriched",
        "format_version": int(doc.format_version) if doc.format_version is not None else 1,
        "skipped": tuple(skipped), "not_run": tuple(n if n.reason is not None else msgspec.structs.replace(n, reason="")
                                                 for n in doc.not_run or ()),
        "planned_scenarios": int(doc.planned_scenarios) if doc.planned_scenarios is not None else None,
        "environment": environment, "sweeps": tuple(doc.sweeps or ()), "meter": doc.meter,
        "hosts": dict(doc.hosts or {}), "anchor": doc.anchor,
    }


def _check_label(value: Any, json_path: str, limit: int) -> None:
    if type(value) is str and len(value) > limit:
        raise _PathError(json_path, f"{len(value)} characters, over the limit of {limit} for a label value "
                                    f"(--max-label-length): {describe(value[:60])}")


def _check_document_labels(doc: Any, limit: int) -> None:
    """Sweep names and steps, and not-run names: over the limit, the file is refused (`_PathError`)."""
    for k, sweep in enumerate(doc.sweeps or ()):
        _check_label(sweep.name, f"$.sweeps[{k}].name", limit)
        for j, step in enumerate(sweep.steps):
            _check_label(step.scenario, f"$.sweeps[{k}].steps[{j}].scenario", limit)
    for k, entry in enumerate(doc.not_run or ()):
        _check_label(entry.name, f"$.not_run[{k}].name", limit)


def _check_count(count: int, max_scenarios: int) -> None:
    if count > max_scenarios:
        raise _PathError("$.scenarios", f"{count} scenarios, over the limit of {max_scenarios} "
                                      "(--max-scenarios / FFWATT_MAX_SCENARIOS)")


def _environment(value: dict[str, Any] | None) -> dict[str, Any]:
    """The free-form `environment`: `None` values dropped, nested objects under untyped keys
    ignored, the typed keys (`EnvironmentKnown`) checked."""
    if not value:
        return {}
    known = {k: value[k] for k in EnvironmentKnown.__struct_fields__ if value.get(k) is not None}
    typed = _convert(known, EnvironmentKnown, "$.environment")
    try:
        typed.check()
    except RuleError as exc:
        raise _PathError("$.environment" + exc.path, exc.reason) from None
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        q = f"$.environment.{key}"
        if key == "cpu_cores":
            out[key] = int(typed.cpu_cores)
        elif key == "tdp_watts":
            out[key] = typed.tdp_watts
        elif key == "encoder_versions":
            for name, version in item.items():
                _check_string(name, q)
                _check_string(version, f"{q}.{name}")
            out[key] = dict(item)
        elif type(item) in (str, int, float, bool):
            if type(item) is str:
                _check_string(item, q)
            out[key] = item
    return out


# ---------------------------------------------------------------- one scenario


def _scenario_entry(i: int, raw: msgspec.Raw | None, tree: Any, max_label: int) -> ScenarioEntry:
    """The scenario's typed entry, its label values and rules checked; `_PathError` names the bad value."""
    p = f"$.scenarios[{i}]"
    entry = None
    if raw is not None:
        try:
            entry = _SCENARIO.decode(raw)
        except _DECODE_ERRORS:
            entry = None
        if entry is not None and _duplicate_suspected(raw):
            entry = None
        if entry is None:
            try:
                tree = _json_tree(bytes(raw), p)
            except _PathError:
                raise _NotJsonError from None
    if entry is None:
        found = _find_duplicate(tree, p)
        if found is not None:
            raise _PathError(found[0], f"duplicate key {describe(found[1])}")
        entry = _convert(tree, ScenarioEntry, p)
        _check_text(entry, p)
    for key in _LABEL_FIELDS:  # before the rules, whose messages quote values
        _check_label(getattr(entry, key), f"{p}.{key}", max_label)
    if entry.source is not None:  # the source's name is the exporters' `clip` label
        _check_label(entry.source.name, f"{p}.source.name", max_label)
    try:
        entry.check()
    except RuleError as exc:
        raise _PathError(p + exc.path, exc.reason) from None
    return entry


_NO_VIDEO_RE = re.compile(r"^\s*0+\s*[xX]\s*0+\s*$")


def _scenario_view(e: ScenarioEntry, i: int) -> Scenario:
    """The loaded `Scenario` of a checked entry, with the older shapes' tolerance."""
    p = f"$.scenarios[{i}]"
    encoder = e.encoder if e.encoder is not None else e.encoder_type  # two spellings of one field
    bitrate, bitrate_bps, bitrates = _bitrates(e)
    width = height = None
    if e.resolution is not None and not _NO_VIDEO_RE.match(e.resolution):  # "0x0": an idle baseline
        width, height = formulas.parse_resolution(e.resolution)
    duration = e.duration if e.duration is not None else e.end_time - e.start_time
    streams = _stream_count(e, bitrates, p)
    behind = _int(e.fell_behind_streams)
    if behind is not None and behind > streams:
        raise _PathError(p + ".fell_behind_streams", f"must not exceed the stream count ({streams}), got {behind}")
    power_watts = e.power_watts or ()
    cpu_usage_cores = e.cpu_usage_cores or ()
    step_seconds = _step_seconds(e, duration, max(len(power_watts), len(cpu_usage_cores)), p)
    outputs = tuple(_rendition(o, e.fps) for o in e.outputs or ())
    reference = tuple(sorted((k, v) for k, v in (e.quality_reference or {}).items() if v is not None))
    repetitions = tuple(Repetition(r.energy_joules, r.avg_fps, r.duration, r.start_time, r.end_time,
                                   r.machine_energy_joules, r.cpu_core_seconds) for r in e.repetitions or ())
    try:
        return Scenario(
            name=e.name, index=i, encoder=encoder, bitrate=bitrate, bitrate_bps=bitrate_bps,
            resolution=e.resolution, width=width, height=height, duration_seconds=duration,
            preset=e.preset, start_time=e.start_time, end_time=e.end_time, outputs=outputs, streams=streams,
            viewers=_int(e.viewers), **_scores(e, is_baseline(e.name, encoder)),
            dropped_frames=_int(e.dropped_frames), total_frames=_int(e.total_frames),
            pixels_processed=_int(e.pixels_processed), power_watts=power_watts, cpu_usage_cores=cpu_usage_cores,
            step_seconds=step_seconds, bitrates_bps=bitrates, measured_energy_joules=e.energy_joules,
            file_energy_source=e.energy_source, energy_error=e.energy_error,
            measured_cpu_core_seconds=e.cpu_core_seconds, quality_cpu_seconds=e.quality_cpu_seconds,
            quality_reference=reference,
            output_bytes=_int(e.output_bytes), measured_bitrate_bps=e.measured_bitrate_bps, speed=e.speed,
            repetitions=repetitions, mode=e.mode, duplicated_frames=_int(e.duplicated_frames),
            fell_behind_streams=behind, min_speed=e.min_speed, sweep=e.sweep,
            source_name=e.source.name if e.source is not None else None, source=e.source,
            incomplete=bool(e.incomplete), expected_frames=_int(e.expected_frames), media_seconds=e.media_seconds,
            source_duration_unknown=bool(e.source_duration_unknown), output_details=tuple(e.outputs or ()),
            machine_energy_joules=e.machine_energy_joules, energy_attribution=e.energy_attribution,
            idle_rejected=bool(e.idle_rejected),
            host=e.host, encodes_per_measurement=_int(e.encodes_per_measurement),
        )
    except ValueError as exc:
        raise _PathError(p, f"derived values are out of range: {exc}") from None


def _bitrates(e: ScenarioEntry) -> tuple[str | None, int | None, tuple[int, ...]]:
    """`(bitrate as written, bits/s when it is one bitrate, every bitrate in bits/s)`: `"1000k,2500k"` is
    one per stream."""
    if e.bitrate is None:
        return None, None, ()
    bitrates = formulas.parse_bitrates(e.bitrate)  # checked by ScenarioEntry.check
    return (e.bitrate if type(e.bitrate) is str else str(e.bitrate), bitrates[0] if len(bitrates) == 1 else None,
            bitrates)


def _stream_count(e: ScenarioEntry, bitrates: tuple[int, ...], p: str) -> int:
    """The `streams` field, else the count the name states (`"2 streams @ 2500k"`), else one per
    bitrate of a bitrate list; a list must have one bitrate per stream."""
    streams_field = int(e.streams) if e.streams is not None else None
    try:
        streams = formulas.stream_count(e.name, streams_field)
    except ValueError as exc:
        raise _PathError(p + (".streams" if streams_field is not None else ".name"), str(exc)) from None
    if len(bitrates) > 1:
        if streams_field is None and not formulas.names_stream_count(e.name):
            streams = len(bitrates)  # "Mixed @ 1000k,2500k": one stream per bitrate
        elif streams != len(bitrates):
            raise _PathError(p + ".bitrate", f"gives {len(bitrates)} bitrates (one per stream) for {streams} streams")
    return streams


def _step_seconds(e: ScenarioEntry, duration: float, samples: int, p: str) -> float | None:
    """Seconds between the power and CPU samples: the field, else `samples` spread over the duration."""
    if e.step_seconds is not None or samples < 2:
        return e.step_seconds
    step_seconds = duration / (samples - 1)  # samples span the duration
    if not step_seconds > 0:
        raise _PathError(p + ".step_seconds", "required field is missing and cannot be derived from a duration of 0")
    return step_seconds


def _scores(e: ScenarioEntry, baseline: bool) -> dict[str, Any]:
    """The `Scenario` fields of the quality scores and the frame rate: a score left out is its details'
    mean; an idle baseline has none."""
    if baseline:
        # A baseline encodes nothing: the older runner's 0 scores and fps mean "not applicable".
        return {"vmaf": None, "psnr": None, "ssim": None, "avg_fps": None, "vmaf_stats": None, "psnr_stats": None,
                "ssim_stats": None, "fps": None if e.fps == 0 else e.fps}
    return {"vmaf": _score(e.vmaf_score, e.vmaf), "psnr": _score(e.psnr_score, e.psnr),
            "ssim": _score(e.ssim_score, e.ssim), "avg_fps": e.avg_fps, "vmaf_stats": e.vmaf, "psnr_stats": e.psnr,
            "ssim_stats": e.ssim, "fps": e.fps}


def _score(value: float | None, detail: QualityDetail | None) -> float | None:
    return value if value is not None or detail is None else detail.mean


def _int(value: int | float | None) -> int | None:
    return None if value is None else int(value)


def _rendition(output: OutputEntry, scenario_fps: float | None) -> Rendition:
    width, height = formulas.parse_resolution(output.resolution)  # checked by OutputEntry.check
    # an output without fps keeps the scenario's frame rate
    return Rendition(width, height, output.fps if output.fps is not None else scenario_fps)


# ---------------------------------------------------------------- the slow path: json.loads + convert


class _NonFinite:
    """Stands in for NaN/Infinity/-Infinity so that the error can name the field."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


class _Duplicates(dict):
    """An object of the file that repeated a key (`duplicate`, the first repeated one)."""

    duplicate: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    flagged = _Duplicates(out)
    for key, _ in pairs:
        if key in seen:
            flagged.duplicate = key
            break
        seen.add(key)
    return flagged


def _json_tree(data: bytes, json_path: str = "$") -> Any:
    """`json.loads` with every failure turned into a `_PathError` naming the place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _PathError(json_path, f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_NonFinite, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise _PathError(json_path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise _PathError(json_path, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise _PathError(json_path, f"invalid JSON: {exc}") from None


def _find_duplicate(tree: Any, json_path: str, skip: str | None = None) -> tuple[str, str] | None:
    """(path of the object, key) of the first object that repeats a key, depth first; `skip`
    names a key of the top object whose value is not searched (the scenarios, checked one by one)."""
    if isinstance(tree, dict):
        if type(tree) is _Duplicates:
            return json_path, tree.duplicate
        for key, value in tree.items():
            if key != skip and isinstance(value, (dict, list)):
                found = _find_duplicate(value, f"{json_path}.{key}")
                if found is not None:
                    return found
    elif isinstance(tree, list) and not set(map(type, tree)) <= _SCALARS:  # sample arrays: one pass in C
        for k, value in enumerate(tree):
            if isinstance(value, (dict, list)):
                found = _find_duplicate(value, f"{json_path}[{k}]")
                if found is not None:
                    return found
    return None


_NUMBERS = {float, int, bool, type(None)}
_SCALARS = _NUMBERS | {str, _NonFinite}


_AT_RE = re.compile(r"^(?P<message>.*?)(?: - at `(?P<at>\$[^`]*)`)?$", re.S)
_TOKEN_RE = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _convert(tree: Any, kind: Any, json_path: str) -> Any:
    """`msgspec.convert`, its error turned into a `_PathError` worded from the field's description."""
    try:
        return msgspec.convert(tree, kind)
    except msgspec.ValidationError as exc:
        match = _AT_RE.match(str(exc))
        message, at = match.group("message"), match.group("at") or "$"
        if "[...]" in at:  # msgspec does not name a map's key: the schema's maps hold strings
            head, _, tail = at.partition("[...]")
            node = _value_at(tree, _tokens(head))
            key = next((k for k, v in node.items() if v is not None and type(v) is not str), "?")
            at = f"{head}.{key}{tail}"
        tokens = _tokens(at)
        where = json_path + at[1:]
        if message.startswith("Object missing required field `"):
            raise _PathError(f"{where}.{message.split('`')[1]}", "required field is missing") from None
        value = _value_at(tree, tokens)
        expect = _expectation(_type_info(kind), tokens)
        if type(value) is int and value > MAX_INT and "integer" in expect:
            raise _PathError(where, f"must be {expect} of at most {MAX_INT}, got {describe(value)}") from None
        raise _PathError(where, f"must be {expect}, got {describe(value)}") from None


def _tokens(at: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _TOKEN_RE.findall(at[1:])]


@cache
def _type_info(kind: Any) -> mi.Type:
    return mi.type_info(kind)


def _value_at(tree: Any, tokens: list[str | int]) -> Any:
    for token in tokens:
        if isinstance(token, int) and isinstance(tree, list) and token < len(tree):
            tree = tree[token]
        elif isinstance(token, str) and isinstance(tree, dict):
            tree = tree.get(token)
        else:
            return None
    return tree


def _unwrap(info: mi.Type) -> tuple[mi.Type, str | None]:
    """The type under `Annotated` and `| None`, with the outermost description."""
    description = None
    while True:
        if isinstance(info, mi.Metadata):
            if description is None and info.extra_json_schema:
                description = info.extra_json_schema.get("description")
            info = info.type
        elif isinstance(info, mi.UnionType):
            members = [t for t in info.types if not isinstance(t, mi.NoneType)]
            if len(members) != 1:
                return info, description
            info = members[0]
        else:
            return info, description


def _expectation(info: mi.Type, tokens: list[str | int]) -> str:
    """What the schema expects at `tokens`: the field's description, else its struct's `expect`."""
    info, description = _unwrap(info)
    for token in tokens:
        if isinstance(token, str) and isinstance(info, mi.StructType):
            field = next((f for f in info.fields if f.encode_name == token), None)
            if field is None:
                break
            info = field.type
        elif isinstance(token, str) and isinstance(info, mi.DictType):
            info = info.value_type
        elif isinstance(token, int) and isinstance(info, (mi.ListType, mi.VarTupleType)):
            info = info.item_type
        else:
            break
        info, description = _unwrap(info)
    if description is None and isinstance(info, mi.StructType):
        description = getattr(info.cls, "expect", None)
    return description or "valid"


_FREE_FORM = {"streams_detail", "runner", "test_metadata", "environment", "scenarios"}


def _check_string(value: Any, json_path: str) -> None:
    if type(value) is not str:
        raise _PathError(json_path, f"must be a string, got {describe(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _PathError(json_path, "must be valid Unicode text: it contains an unpaired surrogate escape") from None


def _check_text(value: Any, json_path: str) -> None:
    """Strings from `json.loads` may hold lone surrogates (msgspec refuses them): named here."""
    if type(value) is str:
        _check_string(value, json_path)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            if name not in _FREE_FORM and not (type(value) is OutputEntry and name == "bitrate"):
                _check_text(getattr(value, name), f"{json_path}.{name}")
    elif isinstance(value, (list, tuple)) and not set(map(type, value)) <= _NUMBERS:  # sample arrays: skipped
        for k, item in enumerate(value):
            if isinstance(item, (str, msgspec.Struct, dict)):
                _check_text(item, f"{json_path}[{k}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(item, f"{json_path}.{key}")


# ---------------------------------------------------------------- duplicate keys, fast


_SAMPLE_KEYS = (b'"power_watts"', b'"cpu_usage_cores"')
_SPACE_RE = re.compile(rb"[ \t\r\n]*")


def _duplicate_suspected(raw: msgspec.Raw) -> bool:
    """Whether a scenario msgspec accepted may repeat a key: `json.loads` of the scenario with its
    sample arrays emptied. Only a bracketed span without a quote is emptied, so no key is ever
    cut out; a suspicion (or a cut that broke the JSON) sends the scenario to the exact slow path."""
    data = bytes(raw)
    for key in _SAMPLE_KEYS:
        at = data.find(key)
        if at < 0:
            continue
        colon = _SPACE_RE.match(data, at + len(key)).end()
        if data[colon:colon + 1] != b":":
            continue
        begin = _SPACE_RE.match(data, colon + 1).end()
        end = data.find(b"]", begin)
        if data[begin:begin + 1] == b"[" and end > 0 and data.find(b'"', begin, end) < 0:
            data = data[:begin + 1] + data[end:]
    try:
        return _find_duplicate(json.loads(data, object_pairs_hook=_pairs), "$") is not None
    except ValueError:
        return True


def _top_level_duplicate(data: bytes, scenarios: list[msgspec.Raw]) -> tuple[str, str] | None:
    """(path, key) of a repeated key outside the scenarios. The scenarios array is cut out when it
    is found exactly: `[`, its elements byte for byte separated by commas, `]`, starting at the
    first occurrence of its first element. Otherwise the whole file is parsed."""
    rest = None
    if scenarios:
        start = data.find(scenarios[0])
        lo = len(data[:start].rstrip(b" \t\r\n")) - 1 if start > 0 else -1
        if lo >= 0 and data[lo:lo + 1] == b"[":
            pos, last = lo + 1, len(scenarios) - 1
            for k, scenario in enumerate(scenarios):
                pos = _SPACE_RE.match(data, pos).end()
                if not data.startswith(bytes(scenario), pos):
                    break
                pos = _SPACE_RE.match(data, pos + len(scenario)).end()
                if data[pos:pos + 1] != (b"]" if k == last else b","):
                    break
                pos += 1
            else:
                rest = data[:lo + 1] + data[pos - 1:]
    else:
        rest = data
    tree = None
    if rest is not None:
        try:
            tree = json.loads(rest, object_pairs_hook=_pairs)
        except ValueError:
            tree = None
        if not (isinstance(tree, dict) and tree.get("scenarios") == []):
            tree = None
    if tree is None:
        try:
            tree = json.loads(data, object_pairs_hook=_pairs)
        except (ValueError, RecursionError):
            return None  # msgspec read it; json refuses it: nothing more to learn here
    return _find_duplicate(tree, "$", skip="scenarios")
