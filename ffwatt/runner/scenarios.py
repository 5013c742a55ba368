"""Scenario files: YAML -> a validated, expanded tuple of `Scenario` specs.

Format (docs/scenarios.md has the full reference)::

    defaults: {encoder: libx264, preset: veryfast, resolution: 1280x720, fps: 30, duration: 60}
    scenarios:
      - {name: baseline idle, idle: true, duration: 10}
      - {name: "2 streams @ 2500k", bitrate: 2500k, streams: 2}
      - name: "{encoder} @ {bitrate}"
        matrix: {encoder: [libx264, libx265], bitrate: [1000k, 3000k]}

Contract:

* `defaults` is merged under each entry (the entry wins); a key set to `null` in an
  entry removes the default (e.g. `bitrate: null` before `crf: 23`).
* `matrix` expands an entry into the cartesian product of its lists, in the order the
  keys are written; `name` is then a `str.format` template over the entry's keys.
* Every problem in the file is collected and raised once as a `RunnerError`, each
  line naming the file and the key path: `quick.yml: scenarios[2].bitrate: ...`.
* Names are unique after expansion; the result is in file order.
* Validation is static (no ffmpeg needed); whether ffmpeg has the encoder is decided
  later by the run, which skips the scenario rather than failing the file. `options:` are
  checked here against what no encoder may take (ffwatt/runner/encoder_options.py); the run checks
  them against the encoder's own option list before any encode.
* Hostile files are bounded: at most `MAX_FILE_BYTES` of YAML, at most `MAX_YAML_NODES`
  nodes once aliases are expanded (an alias bomb is refused before it is built), at most
  `max_scenarios` scenarios after matrix expansion (counted before expanding), and no
  message quotes more than a few dozen characters of a value.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import reprlib
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ffwatt.contract import formulas
from ffwatt.runner.encoder_options import short, static_problems
from ffwatt.runner.errors import RunnerError

__all__ = ["Rung", "Source", "QualitySpec", "Scenario", "load_scenarios", "parse_scenarios", "matrix_sha256",
           "slug", "sweep_step_name", "source_file_problem", "source_label", "first_encode", "DEFAULT_MAX_SCENARIOS", "MAX_FILE_BYTES",
           "MAX_YAML_NODES"]

_SCENARIO_KEYS = frozenset({
    "name", "encoder", "preset", "bitrate", "crf", "qp", "resolution", "fps", "duration", "streams",
    "outputs", "source", "idle", "repeat", "mode", "viewers", "options", "matrix", "sweep", "quality",
})
_TOP_KEYS = frozenset({"defaults", "scenarios"})
_RUNG_KEYS = frozenset({"resolution", "bitrate", "fps"})
_ENCODE_KEYS = ("encoder", "preset", "bitrate", "crf", "qp", "resolution", "fps", "streams", "outputs", "source",
                "options", "quality")
_QUALITY_KEYS = frozenset({"resolution", "model"})
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # encoder, preset and lavfi source names
_MAX_DURATION = 7 * 24 * 3600.0
_MAX_STREAMS = 256  # parallel ffmpeg processes on one machine
_MAX_REPEAT = 1000
DEFAULT_MAX_SCENARIOS = 10_000  # after matrix expansion; `ffwatt run --max-scenarios`
MAX_FILE_BYTES = 4 * 1024 * 1024  # a scenario file is hand-written: kilobytes
# YAML nodes once every alias is expanded: a real file has hundreds; a 536-byte
# "billion laughs" has 9**9, which no validation (nor an error message) may walk.
MAX_YAML_NODES = 100_000
_MODES = ("file", "live")
_SWEEP_KEYS = frozenset({"streams"})
# Codecs nginx-rtmp cannot carry in FLV (it takes H.264 video): refused in live mode up front.
_NOT_FLV = re.compile(r"265|hevc|av1|vp8|vp9|vpx|theora|prores|ffv1|rav1e", re.IGNORECASE)


@dataclass(frozen=True)
class Rung:
    """One output of a ladder: `width`x`height` at `bitrate_bps` (and `fps`, else the scenario's)."""

    resolution: str
    width: int
    height: int
    bitrate: str
    bitrate_bps: int
    fps: float | None = None


@dataclass(frozen=True)
class Source:
    """What is encoded: a lavfi source (`kind="lavfi"`, `name="testsrc2"`) or a file (`kind="file"`)."""

    kind: str
    name: str | None = None
    path: str | None = None  # a file's resolved path (relative paths are relative to the scenario file)
    written: str | None = None  # issue 23: the path as the scenario file wrote it
    label: str | None = None  # issue 23: `{file: path, name: NAME}`'s NAME, when given
    clip_class: str | None = None  # issue 29: `{file: path, class: B}`'s class (CTC sheets average per class)

    def describe(self) -> str:
        return self.name if self.kind == "lavfi" else f"file {self.path}"

    @property
    def clip(self) -> str:
        """The short clip name a report groups by: the lavfi source name, a file's `name:`, else its stem."""
        if self.kind == "lavfi":
            return self.name or "lavfi"
        return self.label or Path(self.written or self.path or "source").stem


@dataclass(frozen=True)
class QualitySpec:
    """Where an encode is scored (issue 23): `resolution` "source" (the source's own size: the display
    resolution, the default), "encode" (each output's own size) or "WxH"; `model` a VMAF model name
    (None: chosen by the scored size, ffwatt/runner/quality.py `vmaf_model_for`)."""

    resolution: str = "source"
    model: str | None = None

    def scored_at(self) -> str | tuple[int, int]:
        """"source", "encode" or (W, H), as ffwatt/runner/quality.py `scored_size` takes it."""
        if self.resolution in ("source", "encode"):
            return self.resolution
        return formulas.parse_resolution(self.resolution)


@dataclass(frozen=True)
class Scenario:
    """One scenario as it will run. Units: seconds, frames/s, bits/s.

    An idle baseline (`idle=True`) has `encoder="none"` and no video fields.
    Rate control is exactly one of `bitrate`, `crf`, `qp`, or per-rung bitrates in `outputs`.
    `mode="live"` publishes each stream to an RTMP server, paced at real time; `sweep` (live
    only) is the increasing stream counts of a capacity sweep, `()` for none.
    """

    name: str
    duration: float
    encoder: str = "none"
    preset: str | None = None
    bitrate: str | None = None
    bitrate_bps: int | None = None
    crf: float | None = None
    qp: int | None = None
    resolution: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    streams: int = 1
    outputs: tuple[Rung, ...] = ()
    source: Source | None = None
    idle: bool = False
    repeat: int = 1
    mode: str = "file"
    viewers: int | None = None
    options: tuple[tuple[str, str], ...] = ()
    sweep: tuple[int, ...] = ()
    quality: QualitySpec | None = None  # issue 23; None: the default (scored at the source's size)

    @property
    def slug(self) -> str:
        return slug(self.name)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.sweep:
            del out["sweep"]  # keeps the fingerprint (`--resume`) of files written before sweeps existed
        if out["source"] is not None:
            # `written` follows from `path`; a `label` only when given: fingerprints of older files stay
            del out["source"]["written"]
            for key in ("label", "clip_class"):
                if out["source"][key] is None:
                    del out["source"][key]
        if self.quality is None:
            del out["quality"]  # likewise for files written before `quality:` existed
        return out

    @property
    def live(self) -> bool:
        return self.mode == "live"

    def sweep_steps(self) -> tuple[Scenario, ...]:
        """The live scenarios of a sweep, one per stream count, named `"<name> @ <N> streams"`."""
        return tuple(replace(self, name=sweep_step_name(self.name, n), streams=n, sweep=()) for n in self.sweep)


_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a fifo (named pipe)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def source_file_problem(file: Path) -> str | None:
    """Why `file` cannot be a source (None when it can): it must be a readable regular file, or a link to one.

    A device (/dev/zero, /dev/urandom) never ends, a fifo blocks or is fed by someone else, a
    directory is no video: none has a duration or a hash to record."""
    shown = short(str(file), 200)
    try:
        mode = file.stat().st_mode  # follows links: a link to a regular file is that file
    except FileNotFoundError:
        return f"source file {shown} does not exist"
    except OSError as exc:
        return f"source file {shown} cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
        return f"source file {shown} is {kind}; expected a regular file (or a link to one)"
    if not os.access(file, os.R_OK):
        return f"source file {shown} is not readable"
    return None


def source_label(value: Any) -> str:
    """A scenario file's `source` value as the short clip name a name template's `{source}` shows."""
    if isinstance(value, Mapping):
        label, file = value.get("name"), value.get("file")
        if isinstance(label, str) and label:
            return label
        if isinstance(file, str) and file:
            return Path(file).stem
    return str(value)


def first_encode(scenarios: tuple[Scenario, ...]) -> tuple[str, str | None] | None:
    """(encoder, preset) of the scenario file's first encode: a report's default anchor (issue 29), taken
    from the file's order because a run's rounds are shuffled. None when every scenario is idle."""
    return next(((s.encoder, s.preset) for s in scenarios if not s.idle), None)


def sweep_step_name(name: str, streams: int) -> str:
    return f"{name} @ {streams} streams"


def slug(name: str) -> str:
    """A name usable in a file name and as an ffmpeg-exporter stream name ([A-Za-z0-9_.-], <= 48 chars)."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "scenario"
    if len(text) > 48 or text != name:
        digest = hashlib.sha1(name.encode()).hexdigest()[:6]
        text = f"{text[:41]}-{digest}"
    return text


def matrix_sha256(scenarios: tuple[Scenario, ...]) -> str:
    """A stable fingerprint of the expanded scenarios (what `--resume` matches on)."""
    text = json.dumps([s.as_dict() for s in scenarios], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def load_scenarios(path: str | os.PathLike[str], *,
                   max_scenarios: int = DEFAULT_MAX_SCENARIOS) -> tuple[Scenario, ...]:
    """Read and validate a scenario file; `RunnerError` naming the file for every problem."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise RunnerError(f"{path}: scenario file larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise RunnerError(f"{path}: scenario file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunnerError(f"{path}: cannot read the scenario file: {exc}") from None
    return parse_scenarios(text, file_name=path.name, base_dir=path.parent, max_scenarios=max_scenarios)


def parse_scenarios(text: str, *, file_name: str = "<scenarios>", base_dir: Path | None = None,
                    max_scenarios: int = DEFAULT_MAX_SCENARIOS) -> tuple[Scenario, ...]:
    try:
        doc = _load_yaml(text, file_name)
    except RecursionError:
        raise RunnerError(f"{file_name}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RunnerError(f"{file_name}: not valid YAML: {where}{problem}") from None
    problems = _Problems(file_name)
    scenarios = _Validator(problems, base_dir or Path.cwd(), max_scenarios).document(doc)
    problems.raise_if_any()
    return scenarios


def _load_yaml(text: str, file_name: str) -> Any:
    """`yaml.safe_load`, refusing a document whose aliases expand past `MAX_YAML_NODES` nodes.

    Composing keeps an alias as a reference to its anchor's node (cheap); the expanded size
    is counted on that graph, memoised per node, before any Python object is built."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, set())
        if size is None:
            raise RunnerError(f"{file_name}: an alias refers to a node that contains it (a recursive YAML "
                              "alias); write the values out")
        if size > MAX_YAML_NODES:
            raise RunnerError(f"{file_name}: YAML aliases expand to more than {MAX_YAML_NODES:,} nodes; refused "
                              "(an alias bomb?): write the values out")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int | None:
    """Nodes under `node` with every alias written out; None when an alias is recursive."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        return None
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    total = 1
    for child in children:
        size = _expanded_size(child, sizes, open_nodes)
        if size is None:
            return None
        total += size
        if total > MAX_YAML_NODES:
            break  # enough to refuse; the rest is never walked
    open_nodes.discard(key)
    sizes[key] = total
    return total


class _Problems:
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


def _show(value: Any) -> str:
    """A value in a message: bounded, never the whole of a huge string or structure."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:60] + "...")
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:120] + "..."


def _key(key: Any) -> str:
    """A key in a path: bounded like a value."""
    text = str(key)
    return text if len(text) <= 40 else text[:40] + "..."


class _Validator:
    def __init__(self, problems: _Problems, base_dir: Path, max_scenarios: int = DEFAULT_MAX_SCENARIOS) -> None:
        self.problems = problems
        self.base_dir = base_dir
        self.max_scenarios = max_scenarios
        self.expanded = 0  # scenarios expanded so far, against max_scenarios

    def document(self, doc: Any) -> tuple[Scenario, ...]:
        p = self.problems
        if not isinstance(doc, Mapping):
            p.add("$", f"expected a mapping with a 'scenarios' list, got {type(doc).__name__}")
            return ()
        for key in doc:
            if key not in _TOP_KEYS:
                p.add(_key(key), f"unknown key; expected one of: {', '.join(sorted(_TOP_KEYS))}")
        defaults = doc.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            p.add("defaults", f"expected a mapping, got {type(defaults).__name__}")
            defaults = {}
        for key in defaults:
            if key not in _SCENARIO_KEYS or key in ("name", "matrix"):
                p.add(f"defaults.{_key(key)}", "unknown key (or not allowed in defaults)")
        entries = doc.get("scenarios")
        if not isinstance(entries, list) or not entries:
            p.add("scenarios", f"expected a non-empty list of scenarios, got {_show(entries)}")
            return ()
        out: list[Scenario] = []
        seen: dict[str, str] = {}
        clips: dict[str, tuple[Source, str]] = {}
        if len(entries) > self.max_scenarios:
            p.add("scenarios", f"{len(entries):,} scenarios, over the limit of {self.max_scenarios:,} "
                  "(--max-scenarios)")
            return ()
        for i, entry in enumerate(entries):
            path = f"scenarios[{i}]"
            if not isinstance(entry, Mapping):
                p.add(path, f"expected a mapping, got {_show(entry)}")
                continue
            for raw, where in self._expand(entry, path, defaults):
                merged = {k: v for k, v in {**defaults, **raw}.items() if v is not None}
                explicit = {k for k, v in raw.items() if v is not None}
                scenario = self.scenario(merged, explicit, where)
                if scenario is None:
                    continue
                names = [scenario.name, *(step.name for step in scenario.sweep_steps())]
                clash = next((n for n in names if n in seen), None)
                if clash is not None:
                    p.add(f"{where}.name", f"duplicate scenario name {_show(clash)} (also {seen[clash]})")
                    continue
                seen.update(dict.fromkeys(names, where))
                if not self._clip_unique(scenario, clips, where):
                    continue
                out.append(scenario)
        return tuple(out)

    def _clip_unique(self, scenario: Scenario, clips: dict[str, tuple[Source, str]], where: str) -> bool:
        """One clip name, one source: a report groups curves by it, so two files under one name would merge."""
        src = scenario.source
        if src is None:
            return True
        first = clips.setdefault(src.clip, (src, where))
        if (first[0].kind, first[0].name, first[0].path) == (src.kind, src.name, src.path):
            if first[0].clip_class == src.clip_class:
                return True
            self.problems.add(f"{where}.source.class", f"clip {_show(src.clip)} is class {_show(src.clip_class)} here "
                              f"and {_show(first[0].clip_class)} in {first[1]}; a clip has one class")
            return False
        self.problems.add(f"{where}.source", f"clip name {_show(src.clip)} is also {first[0].describe()} "
                          f"({first[1]}); give the files distinct names: {{file: path, name: clip}}")
        return False

    def _expand(self, entry: Mapping[str, Any], path: str,
                defaults: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
        matrix = entry.get("matrix")
        if matrix is None:
            self.expanded += 1
            return [(dict(entry), path)]
        if not isinstance(matrix, Mapping) or not matrix:
            self.problems.add(f"{path}.matrix", f"expected a mapping of key: [values], got {_show(matrix)}")
            return []
        keys, lists = [], []
        for key, values in matrix.items():
            if key not in _SCENARIO_KEYS or key in ("name", "matrix"):
                self.problems.add(f"{path}.matrix.{_key(key)}", "unknown key (or not allowed in a matrix)")
                return []
            if not isinstance(values, list) or not values:
                self.problems.add(f"{path}.matrix.{key}", f"expected a non-empty list, got {_show(values)}")
                return []
            keys.append(key)
            lists.append(values)
        count = math.prod(len(values) for values in lists)  # counted before anything is expanded
        self.expanded += count
        if self.expanded > self.max_scenarios:
            sizes = " x ".join(str(len(values)) for values in lists)
            so_far = f", {self.expanded:,} in the file so far" if self.expanded != count else ""
            self.problems.add(f"{path}.matrix", f"expands to {count:,} scenarios ({sizes}){so_far}, over the limit of "
                              f"{self.max_scenarios:,} (--max-scenarios)")
            return []
        template = entry.get("name")
        out = []
        for combo in itertools.product(*lists):
            raw = {k: v for k, v in entry.items() if k != "matrix"}
            raw.update(zip(keys, combo, strict=True))
            label = ", ".join(f"{k}={_key(v)}" for k, v in zip(keys, combo, strict=True))
            where = f"{path} ({label})"
            if isinstance(template, str):
                try:
                    values = {k: v for k, v in {**defaults, **raw}.items() if k != "name"}
                    if "source" in values:
                        values["source"] = source_label(values["source"])  # `{source}`: the short clip name
                    raw["name"] = template.format_map(values)
                except (KeyError, IndexError, ValueError) as exc:
                    self.problems.add(f"{path}.name", f"bad name template {_show(template)}: {short(exc)}; use keys of "
                                      "the scenario, like '{encoder} @ {bitrate}'")
                    return []
            out.append((raw, where))
        names = [r["name"] for r, _ in out if "name" in r]
        if isinstance(template, str) and len(set(names)) < len(names):
            self.problems.add(f"{path}.name", f"the template {_show(template)} gives the same name to several matrix "
                              "entries; put every matrix key in it")
            return []
        return out

    # -- one scenario --------------------------------------------------------------

    def scenario(self, d: dict[str, Any], explicit: set[str], path: str) -> Scenario | None:
        before = len(self.problems.items)
        for key in d:
            if key not in _SCENARIO_KEYS:
                self.problems.add(f"{path}.{_key(key)}", f"unknown key; expected one of: {', '.join(sorted(_SCENARIO_KEYS))}")
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(f"{path}.name", f"expected a non-empty string, got {_show(name)}")
            name = None
        mode = d.get("mode", "file")
        if mode not in _MODES:
            self.problems.add(f"{path}.mode", f"expected 'file' or 'live', got {_show(mode)}")
            mode = "file"
        idle = d.get("idle", False)
        if not isinstance(idle, bool):
            self.problems.add(f"{path}.idle", f"expected true or false, got {_show(idle)}")
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
                                  f"with H.264 video (libx264, h264_nvenc...), got {_show(encoder)}")
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
            self.problems.add(f"{path}.{key}", f"expected a number {bound}, got {_show(value)}")
            return None
        return float(value)

    def _int(self, d, key, path, *, default, minimum, maximum) -> int | None:
        if key not in d:
            return default
        value = d[key]
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.problems.add(f"{path}.{key}", f"expected an integer from {minimum} to {maximum}, got {_show(value)}")
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
                              f"{_show(value)}")
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
            self.problems.add(path, f"expected a resolution like \"1280x720\", got {_show(value)}")
            return None, None, None
        if width % 2 or height % 2:
            self.problems.add(path, f"expected even width and height (4:2:0 video), got {_show(value)}")
            return None, None, None
        return f"{width}x{height}", width, height

    def _bitrate(self, value, path) -> tuple[str | None, int | None]:
        try:
            bps = formulas.parse_bitrate(value)
        except ValueError:
            bps = None
        if bps is None or bps <= 0 or (isinstance(value, str) and "," in value):
            self.problems.add(path, f"expected a bitrate like \"2500k\", got {_show(value)}")
            return None, None
        return (value.strip() if isinstance(value, str) else str(value)), bps

    def _sweep(self, value, path) -> tuple[int, ...]:
        if not isinstance(value, Mapping) or set(value) != _SWEEP_KEYS:
            self.problems.add(path, f"expected {{streams: [1, 2, 4, 8]}}, got {_show(value)}")
            return ()
        counts = value["streams"]
        ok = (isinstance(counts, list) and counts
              and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= _MAX_STREAMS for n in counts))
        if not ok:
            self.problems.add(f"{path}.streams", f"expected a non-empty list of stream counts from 1 to "
                              f"{_MAX_STREAMS}, got {_show(counts)}")
            return ()
        if any(b <= a for a, b in itertools.pairwise(counts)):
            self.problems.add(f"{path}.streams", f"expected strictly increasing stream counts (the sweep stops at "
                              f"the first count that falls behind), got {_show(counts)}")
            return ()
        return tuple(counts)

    def _quality(self, value, path) -> QualitySpec | None:
        if not isinstance(value, Mapping):
            self.problems.add(path, f"expected a mapping like {{resolution: source, model: vmaf_v0.6.1}}, got "
                              f"{_show(value)}")
            return None
        before = len(self.problems.items)
        for key in value:
            if key not in _QUALITY_KEYS:
                self.problems.add(f"{path}.{_key(key)}", "unknown key; expected resolution, model")
        resolution = value.get("resolution", "source")
        if resolution not in ("source", "encode"):
            resolution, _, _ = self._resolution(resolution, f"{path}.resolution", required=True)
            if resolution is None:
                self.problems.items[-1] += " (or source, encode)"
        model = value.get("model")
        if model is not None and (not isinstance(model, str) or not _NAME_RE.match(model)):
            self.problems.add(f"{path}.model", f"expected a VMAF model name like 'vmaf_v0.6.1', got {_show(model)}")
        if len(self.problems.items) > before:
            return None
        return QualitySpec(resolution=resolution, model=model)

    def _outputs(self, value, path) -> tuple[Rung, ...]:
        if not isinstance(value, list) or not value:
            self.problems.add(path, f"expected a non-empty list of {{resolution, bitrate, fps?}} rungs, got "
                              f"{_show(value)}")
            return ()
        rungs = []
        for i, rung in enumerate(value):
            where = f"{path}[{i}]"
            if not isinstance(rung, Mapping):
                self.problems.add(where, f"expected a mapping {{resolution, bitrate, fps?}}, got {_show(rung)}")
                continue
            for key in rung:
                if key not in _RUNG_KEYS:
                    self.problems.add(f"{where}.{_key(key)}", "unknown key; expected resolution, bitrate, fps")
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
                                  f"{_show(value)}")
                return None
            return Source(kind="lavfi", name=value)
        if (isinstance(value, Mapping) and "file" in value and set(value) <= {"file", "name", "class"}
                and isinstance(value["file"], str) and value["file"]):
            label, clip_class = value.get("name"), value.get("class")
            for key, text in (("name", label), ("class", clip_class)):
                if text is not None and (not isinstance(text, str) or not _NAME_RE.match(text)):
                    self.problems.add(f"{path}.{key}", f"expected a clip {key} like \"B\" (letters, digits, _ . -), "
                                      f"got {_show(text)}")
                    return None
            file = Path(os.path.expanduser(value["file"]))
            file = file if file.is_absolute() else self.base_dir / file
            why = source_file_problem(file)
            if why:
                self.problems.add(f"{path}.file", why)
                return None
            return Source(kind="file", path=str(file), written=value["file"], label=label, clip_class=clip_class)
        self.problems.add(path, f"expected a lavfi source name like \"testsrc2\" or {{file: path, name?: clip, "
                          "class?: B}}, got "
                          f"{_show(value)}")
        return None

    def _options(self, value, path) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            self.problems.add(path, f"expected a mapping of encoder option: value, got {_show(value)}")
            return ()
        out = []
        for key, item in value.items():
            if not isinstance(key, str) or not _NAME_RE.match(key) or isinstance(item, (Mapping, list)) or item is None:
                self.problems.add(f"{path}.{_key(key)}", f"expected an encoder option name and a scalar value, got "
                                  f"{_show(item)}")
                continue
            text = str(item).lower() if isinstance(item, bool) else str(item)
            found = static_problems(key, text)
            for problem in found:
                self.problems.add(f"{path}.{key}", problem)
            if not found:
                out.append((key, text))
        return tuple(out)
