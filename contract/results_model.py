"""The results model: benchmark results files, loaded and validated.

A results directory holds ``test_results_YYYYMMDD_HHMMSS.json`` files; the
newest one is the current run. Two shapes of file exist (see
docs/results-format.md) and both load into the same :class:`ResultsRun` of
:class:`Scenario` objects.

Every problem with a file is a :class:`ResultsError` naming the file, the JSON
path of the bad field (``$.scenarios[3].duration``) and the reason.
:func:`load_results_file` raises nothing else, whatever the bytes on disk, so
an exporter's refresh loop can keep serving its last good data.

Standard library only.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from contract import formulas
from contract.formulas import Rendition

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PATTERN",
    "Rendition",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One benchmark scenario of a run. Units: seconds, watts, cores, bits/s.

    Readings absent from the file (or ``null`` there) are ``None``; sample
    series absent are empty tuples. Derived fields (``init=False``) are
    computed with :mod:`contract.formulas` when the scenario is built:

    * ``energy_joules``: trapezoid over ``power_watts`` at ``step_seconds``,
      ``None`` with fewer than 2 samples (the cost exporter then uses the TSDB);
    * ``mean_power_watts``: time-weighted mean of ``power_watts``;
    * ``cpu_core_seconds``: trapezoid over ``cpu_usage_cores``;
    * ``pixels_processed``: the file's value when given, else computed from the
      renditions, the measured ``total_frames`` and the stream count.
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
    energy_joules: float | None = field(init=False, default=None)
    mean_power_watts: float | None = field(init=False, default=None)
    cpu_core_seconds: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Raises ValueError when a derived value is out of range; the loader
        # turns that into a ResultsError naming the scenario.
        setter = object.__setattr__
        if self.step_seconds is not None:
            setter(self, "energy_joules", formulas.trapezoid_energy_joules(self.power_watts, self.step_seconds))
            setter(self, "cpu_core_seconds", formulas.core_seconds(self.cpu_usage_cores, self.step_seconds))
        setter(self, "mean_power_watts", formulas.mean_power(self.power_watts))
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
        lowered = self.name.lower()
        return (
            "baseline" in lowered
            or "idle" in lowered
            or (self.encoder is not None and self.encoder.strip().lower() == "none")
        )

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
    are the file's, as read.
    """

    path: Path
    test_date: str | None
    scenarios: tuple[Scenario, ...]
    mtime: float
    mtime_ns: int = 0
    size: int = 0
    shape: str = "runner"

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

    def series(self, value: Any, json_path: str) -> tuple[float, ...]:
        if value is None:
            return ()
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

    def document(self, doc: Any) -> tuple[str | None, tuple[Scenario, ...], str]:
        if type(doc) is not dict:
            self.fail("$", f"must be an object with a scenarios array, got {_describe(doc)}")
        shape = "enriched" if "test_metadata" in doc else "runner"
        metadata = doc.get("test_metadata")
        if metadata is not None and type(metadata) is not dict:
            self.fail("$.test_metadata", f"must be an object, got {_describe(metadata)}")
        test_date = self.optional_string(doc.get("test_date"), "$.test_date")
        if test_date is None and metadata is not None:
            test_date = self.optional_string(metadata.get("test_date"), "$.test_metadata.test_date")
        if "scenarios" not in doc:
            self.fail("$.scenarios", "required field is missing")
        raw = doc["scenarios"]
        if type(raw) is not list:
            self.fail("$.scenarios", f"must be an array, got {_describe(raw)}")
        seen: dict[str, int] = {}
        scenarios = tuple(self.scenario(i, item, seen) for i, item in enumerate(raw))
        return test_date, scenarios, shape

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
        raw_bitrate = get("bitrate")
        if raw_bitrate is not None:
            if type(raw_bitrate) is str:
                bitrate = self.string(raw_bitrate, p + ".bitrate")
            elif type(raw_bitrate) is int and 0 <= raw_bitrate <= _MAX_INT:
                bitrate = str(raw_bitrate)
            else:
                self.fail(p + ".bitrate", f'must be a string like "2500k" or an integer, got {_describe(raw_bitrate)}')
            try:
                bitrate_bps = formulas.parse_bitrate(raw_bitrate)
            except ValueError as exc:
                self.fail(p + ".bitrate", str(exc))

        resolution = self.optional_string(get("resolution"), p + ".resolution")
        width = height = None
        if resolution is not None:
            try:
                width, height = formulas.parse_resolution(resolution)
            except ValueError as exc:
                self.fail(p + ".resolution", str(exc))

        fps = get("fps")
        if fps is not None:
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
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        parser.fail("$", f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}")
    try:
        doc = json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        parser.fail("$", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    except RecursionError:
        parser.fail("$", "invalid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer literal with too many digits
        parser.fail("$", f"invalid JSON: {exc}")

    test_date, scenarios, shape = parser.document(doc)
    return ResultsRun(
        path=path,
        test_date=test_date,
        scenarios=scenarios,
        mtime=info.st_mtime,
        mtime_ns=info.st_mtime_ns,
        size=info.st_size,
        shape=shape,
    )


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
