"""One scenario's keys, checked and typed: the fields of a scenario file's entry after `defaults`
and `matrix` were applied (ffwatt/runner/plan/scenario_file.py reads the file and expands it).

Every problem is added to a `Problems` list naming the file and the key path
(`quick.yml: scenarios[2].bitrate: ...`), and no message quotes more than a few dozen characters
of a value (`shown`, `shown_key`). A scenario with a problem is None; the file raises once at the end.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.encoder_options import static_problems
from ffwatt.runner.plan.scenario import QualitySpec, Rung, Scenario, Source, source_file_problem

__all__ = ["Problems", "ScenarioFields", "SCENARIO_KEYS", "shown", "shown_key"]

SCENARIO_KEYS = frozenset({
    "name", "encoder", "preset", "bitrate", "crf", "qp", "resolution", "fps", "duration", "streams",
    "outputs", "source", "idle", "repeat", "mode", "viewers", "options", "matrix", "sweep", "quality",
})
_RUNG_KEYS = frozenset({"resolution", "bitrate", "fps"})
_ENCODE_KEYS = ("encoder", "preset", "bitrate", "crf", "qp", "resolution", "fps", "streams", "outputs", "source",
                "options", "quality")
_QUALITY_KEYS = frozenset({"resolution", "model"})
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # encoder, preset and lavfi source names
_MAX_DURATION = 7 * 24 * 3600.0
_MAX_STREAMS = 256  # parallel ffmpeg processes on one machine
_MAX_REPEAT = 1000
_MODES = ("file", "live")
_SWEEP_KEYS = frozenset({"streams"})
# Codecs nginx-rtmp cannot carry in FLV (it takes H.264 video): refused in live mode up front.
_NOT_FLV = re.compile(r"265|hevc|av1|vp8|vp9|vpx|theora|prores|ffv1|rav1e", re.IGNORECASE)


class Problems:
    """Every problem of one scenario file, each naming the file and the key path; raised once."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.file_name}: {path}: {message}")

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            raise RunnerError(self.items[0])
        if self.items:
            raise RunnerError(f"{len(self.items)} problems in the scenario file:\n  " + "\n  ".join(self.items))


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 6, 6, 60, 60


def shown(value: Any) -> str:
    """A value in a message: bounded, never the whole of a huge string or structure."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:60] + "...")
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:120] + "..."


def shown_key(key: Any) -> str:
    """A key in a path: bounded like a value."""
    text = str(key)
    return text if len(text) <= 40 else text[:40] + "..."


class ScenarioFields:
    """The checks of one scenario's fields; every problem goes to `problems`, file paths resolve against
    `base_dir`."""

    def __init__(self, problems: Problems, base_dir: Path) -> None:
        self.problems = problems
        self.base_dir = base_dir

    def scenario(self, d: dict[str, Any], explicit: set[str], path: str) -> Scenario | None:
        before = len(self.problems.items)
        for key in d:
            if key not in SCENARIO_KEYS:
                self.problems.add(f"{path}.{shown_key(key)}", f"unknown key; expected one of: {', '.join(sorted(SCENARIO_KEYS))}")
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(f"{path}.name", f"expected a non-empty string, got {shown(name)}")
            name = None
        mode = d.get("mode", "file")
        if mode not in _MODES:
            self.problems.add(f"{path}.mode", f"expected 'file' or 'live', got {shown(mode)}")
            mode = "file"
        idle = d.get("idle", False)
        if not isinstance(idle, bool):
            self.problems.add(f"{path}.idle", f"expected true or false, got {shown(idle)}")
            idle = False
        duration = self._number(d, "duration", path, required=True, minimum=0.0, maximum=_MAX_DURATION, open_min=True)
        repeat = self._int(d, "repeat", path, default=1, minimum=1, maximum=_MAX_REPEAT)
        viewers = self._int(d, "viewers", path, default=None, minimum=0, maximum=10**9)
        if idle:
            for key in (*_ENCODE_KEYS, "sweep"):
                if key in explicit:
                    self.problems.add(f"{path}.{key}", "an idle baseline encodes nothing; remove this key")
            if "mode" in explicit and mode != "file":
                self.problems.add(f"{path}.mode", "an idle baseline publishes nothing; remove this key")
            if len(self.problems.items) > before or name is None or duration is None:
                return None
            return Scenario(name=name, duration=duration, idle=True, repeat=repeat, viewers=viewers)

        encoder = self._name(d, "encoder", path, required=True)
        preset = self._name(d, "preset", path, required=False)
        resolution, width, height = self._resolution(d.get("resolution"), f"{path}.resolution", required=True)
        fps = self._number(d, "fps", path, required=True, minimum=0.0, maximum=1000.0, open_min=True)
        streams = self._int(d, "streams", path, default=1, minimum=1, maximum=_MAX_STREAMS)
        bitrate, bitrate_bps = self._bitrate(d.get("bitrate"), f"{path}.bitrate") if "bitrate" in d else (None, None)
        crf = self._number(d, "crf", path, required=False, minimum=0.0, maximum=100.0)
        qp = self._int(d, "qp", path, default=None, minimum=0, maximum=255)
        outputs = self._outputs(d.get("outputs"), f"{path}.outputs") if "outputs" in d else ()
        chosen = [k for k in ("bitrate", "crf", "qp") if k in d]
        if "outputs" in d and chosen:
            self.problems.add(f"{path}.{chosen[0]}", "a ladder (outputs) sets a bitrate per rung; remove this key "
                              "(set it to null to drop a default)")
        elif not outputs and len(chosen) != 1 and "outputs" not in d:
            found = "none" if not chosen else " and ".join(chosen)
            self.problems.add(path, f"expected exactly one rate control (bitrate, crf or qp), got {found}")
        source = self._source(d.get("source", "testsrc2"), f"{path}.source")
        options = self._options(d.get("options"), f"{path}.options")
        sweep = self._sweep(d.get("sweep"), f"{path}.sweep") if "sweep" in d else ()
        quality = self._quality(d["quality"], f"{path}.quality") if "quality" in d else None
        if mode == "live":
            if "outputs" in d:
                self.problems.add(f"{path}.outputs", "live mode publishes one rendition per stream; a ladder "
                                  "(outputs) is file mode only")
            if encoder is not None and _NOT_FLV.search(encoder):
                self.problems.add(f"{path}.encoder", f"live mode publishes FLV over RTMP, which nginx-rtmp carries "
                                  f"with H.264 video (libx264, h264_nvenc...), got {shown(encoder)}")
            if sweep and "streams" in explicit:
                self.problems.add(f"{path}.streams", "a sweep sets the stream count of each step; remove this key")
        elif "sweep" in d:
            self.problems.add(f"{path}.sweep", "a capacity sweep runs live streams; add mode: live")
        if len(self.problems.items) > before:
            return None
        return Scenario(
            name=name, duration=duration, encoder=encoder, preset=preset, bitrate=bitrate, bitrate_bps=bitrate_bps,
            crf=crf, qp=qp, resolution=resolution, width=width, height=height, fps=fps,
            streams=sweep[0] if sweep else streams, outputs=outputs, source=source, repeat=repeat, mode=mode,
            viewers=viewers, options=options, sweep=sweep, quality=quality,
        )

    # -- typed fields --------------------------------------------------------------

    def _number(self, d, key, path, *, required, minimum, maximum=None, open_min=False) -> float | None:
        if key not in d:
            if required:
                self.problems.add(f"{path}.{key}", "required")
            return None
        value = d[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > minimum if open_min else value >= minimum) and (maximum is None or value <= maximum)
        if not ok:
            bound = f"{'>' if open_min else '>='} {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")
            self.problems.add(f"{path}.{key}", f"expected a number {bound}, got {shown(value)}")
            return None
        return float(value)

    def _int(self, d, key, path, *, default, minimum, maximum) -> int | None:
        if key not in d:
            return default
        value = d[key]
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.problems.add(f"{path}.{key}", f"expected an integer from {minimum} to {maximum}, got {shown(value)}")
            return default
        return value

    def _name(self, d, key, path, *, required) -> str | None:
        value = d.get(key)
        if value is None:
            if required:
                self.problems.add(f"{path}.{key}", "required")
            return None
        if not isinstance(value, str) or not _NAME_RE.match(value):
            self.problems.add(f"{path}.{key}", f"expected a name like 'libx264' (letters, digits, _ . -), got "
                              f"{shown(value)}")
            return None
        return value

    def _resolution(self, value, path, *, required) -> tuple[str | None, int | None, int | None]:
        if value is None:
            if required:
                self.problems.add(path, "required")
            return None, None, None
        try:
            width, height = formulas.parse_resolution(value)
        except ValueError:
            self.problems.add(path, f"expected a resolution like \"1280x720\", got {shown(value)}")
            return None, None, None
        if width % 2 or height % 2:
            self.problems.add(path, f"expected even width and height (4:2:0 video), got {shown(value)}")
            return None, None, None
        return f"{width}x{height}", width, height

    def _bitrate(self, value, path) -> tuple[str | None, int | None]:
        try:
            bps = formulas.parse_bitrate(value)
        except ValueError:
            bps = None
        if bps is None or bps <= 0 or (isinstance(value, str) and "," in value):
            self.problems.add(path, f"expected a bitrate like \"2500k\", got {shown(value)}")
            return None, None
        return (value.strip() if isinstance(value, str) else str(value)), bps

    def _sweep(self, value, path) -> tuple[int, ...]:
        if not isinstance(value, Mapping) or set(value) != _SWEEP_KEYS:
            self.problems.add(path, f"expected {{streams: [1, 2, 4, 8]}}, got {shown(value)}")
            return ()
        counts = value["streams"]
        ok = (isinstance(counts, list) and counts
              and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= _MAX_STREAMS for n in counts))
        if not ok:
            self.problems.add(f"{path}.streams", f"expected a non-empty list of stream counts from 1 to "
                              f"{_MAX_STREAMS}, got {shown(counts)}")
            return ()
        if any(b <= a for a, b in itertools.pairwise(counts)):
            self.problems.add(f"{path}.streams", f"expected strictly increasing stream counts (the sweep stops at "
                              f"the first count that falls behind), got {shown(counts)}")
            return ()
        return tuple(counts)

    def _quality(self, value, path) -> QualitySpec | None:
        if not isinstance(value, Mapping):
            self.problems.add(path, f"expected a mapping like {{resolution: source, model: vmaf_v0.6.1}}, got "
                              f"{shown(value)}")
            return None
        before = len(self.problems.items)
        for key in value:
            if key not in _QUALITY_KEYS:
                self.problems.add(f"{path}.{shown_key(key)}", "unknown key; expected resolution, model")
        resolution = value.get("resolution", "source")
        if resolution not in ("source", "encode"):
            resolution, _, _ = self._resolution(resolution, f"{path}.resolution", required=True)
            if resolution is None:
                self.problems.items[-1] += " (or source, encode)"
        model = value.get("model")
        if model is not None and (not isinstance(model, str) or not _NAME_RE.match(model)):
            self.problems.add(f"{path}.model", f"expected a VMAF model name like 'vmaf_v0.6.1', got {shown(model)}")
        if len(self.problems.items) > before:
            return None
        return QualitySpec(resolution=resolution, model=model)

    def _outputs(self, value, path) -> tuple[Rung, ...]:
        if not isinstance(value, list) or not value:
            self.problems.add(path, f"expected a non-empty list of {{resolution, bitrate, fps?}} rungs, got "
                              f"{shown(value)}")
            return ()
        rungs = []
        for i, rung in enumerate(value):
            where = f"{path}[{i}]"
            if not isinstance(rung, Mapping):
                self.problems.add(where, f"expected a mapping {{resolution, bitrate, fps?}}, got {shown(rung)}")
                continue
            for key in rung:
                if key not in _RUNG_KEYS:
                    self.problems.add(f"{where}.{shown_key(key)}", "unknown key; expected resolution, bitrate, fps")
            resolution, width, height = self._resolution(rung.get("resolution"), f"{where}.resolution", required=True)
            if "bitrate" not in rung:
                self.problems.add(f"{where}.bitrate", "required")
                continue
            bitrate, bps = self._bitrate(rung["bitrate"], f"{where}.bitrate")
            fps = self._number(rung, "fps", where, required=False, minimum=0.0, maximum=1000.0, open_min=True)
            if resolution is not None and bitrate is not None:
                rungs.append(Rung(resolution, width, height, bitrate, bps, fps))
        return tuple(rungs)

    def _source(self, value, path) -> Source | None:
        if isinstance(value, str):
            if not _NAME_RE.match(value):
                self.problems.add(path, f"expected a lavfi source name like \"testsrc2\" or {{file: path}}, got "
                                  f"{shown(value)}")
                return None
            return Source(kind="lavfi", name=value)
        if (isinstance(value, Mapping) and "file" in value and set(value) <= {"file", "name", "class"}
                and isinstance(value["file"], str) and value["file"]):
            label, clip_class = value.get("name"), value.get("class")
            for key, text in (("name", label), ("class", clip_class)):
                if text is not None and (not isinstance(text, str) or not _NAME_RE.match(text)):
                    self.problems.add(f"{path}.{key}", f"expected a clip {key} like \"B\" (letters, digits, _ . -), "
                                      f"got {shown(text)}")
                    return None
            file = Path(os.path.expanduser(value["file"]))
            file = file if file.is_absolute() else self.base_dir / file
            why = source_file_problem(file)
            if why:
                self.problems.add(f"{path}.file", why)
                return None
            return Source(kind="file", path=str(file), written=value["file"], label=label, clip_class=clip_class)
        self.problems.add(path, f"expected a lavfi source name like \"testsrc2\" or {{file: path, name?: clip, "
                          f"class?: B}}}}, got {shown(value)}")
        return None

    def _options(self, value, path) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            self.problems.add(path, f"expected a mapping of encoder option: value, got {shown(value)}")
            return ()
        out = []
        for key, item in value.items():
            if not isinstance(key, str) or not _NAME_RE.match(key) or isinstance(item, (Mapping, list)) or item is None:
                self.problems.add(f"{path}.{shown_key(key)}", f"expected an encoder option name and a scalar value, got "
                                  f"{shown(item)}")
                continue
            text = str(item).lower() if isinstance(item, bool) else str(item)
            found = static_problems(key, text)
            for problem in found:
                self.problems.add(f"{path}.{key}", problem)
            if not found:
                out.append((key, text))
        return tuple(out)
