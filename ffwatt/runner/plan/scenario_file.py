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
  keys are written; `name` is then a template over the entry's keys (`{bitrate}`, `{crf:02d}`: bounded,
  ffwatt/runner/plan/name_template.py).
* Every problem in the file is collected and raised once as a `RunnerError`, each
  line naming the file and the key path: `quick.yml: scenarios[2].bitrate: ...`.
* Names are unique after expansion and at most `max_name_length` characters (256 by default,
  sweep steps' names included); the result is in file order.
* Validation is static (no ffmpeg needed); whether ffmpeg has the encoder is decided
  later by the run, which skips the scenario rather than failing the file. `options:` are
  checked here against what no encoder may take (ffwatt/runner/plan/encoder_options.py); the run checks
  them against the encoder's own option list before any encode.
* Hostile files are bounded: at most `MAX_FILE_BYTES` of YAML, at most `MAX_YAML_NODES`
  nodes once aliases are expanded (ffwatt's one YAML loader, ffwatt/common/yaml_file.py, refuses
  an alias bomb before it is built), at most `max_scenarios` scenarios after matrix expansion
  (counted before expanding), and no message quotes more than a few dozen characters of a value.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ffwatt.common.yaml_file import MAX_YAML_NODES, parse_yaml
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.name_template import TemplateError, render
from ffwatt.runner.plan.scenario import Scenario, Source, source_label
from ffwatt.runner.plan.scenario_fields import SCENARIO_KEYS, Problems, ScenarioFields, shown, shown_key
from ffwatt.runner.settings import DEFAULT_MAX_NAME_LENGTH, DEFAULT_MAX_SCENARIOS

__all__ = ["load_scenarios", "parse_scenarios", "DEFAULT_MAX_SCENARIOS", "MAX_FILE_BYTES", "MAX_YAML_NODES"]

_TOP_KEYS = frozenset({"defaults", "scenarios"})
MAX_FILE_BYTES = 4 * 1024 * 1024  # a scenario file is hand-written: kilobytes


def load_scenarios(path: str | os.PathLike[str], *, max_scenarios: int = DEFAULT_MAX_SCENARIOS,
                   max_name_length: int = DEFAULT_MAX_NAME_LENGTH) -> tuple[Scenario, ...]:
    """Read and validate a scenario file; `RunnerError` naming the file for every problem. Source files
    are resolved against the file's own folder, as absolute paths (a fleet's workers read them there)."""
    path = Path(path).absolute()
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
    return parse_scenarios(text, file_name=path.name, base_dir=path.parent, max_scenarios=max_scenarios,
                           max_name_length=max_name_length)


def parse_scenarios(text: str, *, file_name: str = "<scenarios>", base_dir: Path | None = None,
                    max_scenarios: int = DEFAULT_MAX_SCENARIOS,
                    max_name_length: int = DEFAULT_MAX_NAME_LENGTH) -> tuple[Scenario, ...]:
    doc = parse_yaml(text, file_name, RunnerError)
    problems = Problems(file_name)
    scenarios = _Validator(problems, base_dir or Path.cwd(), max_scenarios, max_name_length).document(doc)
    problems.raise_if_any()
    return scenarios


class _Validator(ScenarioFields):
    """The whole document: `defaults`, each entry's `matrix` expanded (bounded by `max_scenarios`),
    names unique, one source per clip name; each scenario's fields checked by `ScenarioFields`."""

    def __init__(self, problems: Problems, base_dir: Path, max_scenarios: int = DEFAULT_MAX_SCENARIOS,
                 max_name_length: int = DEFAULT_MAX_NAME_LENGTH) -> None:
        super().__init__(problems, base_dir)
        self.max_scenarios = max_scenarios
        self.max_name_length = max_name_length
        self.expanded = 0  # scenarios expanded so far, against max_scenarios

    def document(self, doc: Any) -> tuple[Scenario, ...]:
        p = self.problems
        if not isinstance(doc, Mapping):
            p.add("$", f"expected a mapping with a 'scenarios' list, got {type(doc).__name__}")
            return ()
        for key in doc:
            if key not in _TOP_KEYS:
                p.add(shown_key(key), f"unknown key; expected one of: {', '.join(sorted(_TOP_KEYS))}")
        defaults = doc.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            p.add("defaults", f"expected a mapping, got {type(defaults).__name__}")
            defaults = {}
        for key in defaults:
            if key not in SCENARIO_KEYS or key in ("name", "matrix"):
                p.add(f"defaults.{shown_key(key)}", "unknown key (or not allowed in defaults)")
        entries = doc.get("scenarios")
        if not isinstance(entries, list) or not entries:
            p.add("scenarios", f"expected a non-empty list of scenarios, got {shown(entries)}")
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
                p.add(path, f"expected a mapping, got {shown(entry)}")
                continue
            for raw, where in self._expand(entry, path, defaults):
                merged = {k: v for k, v in {**defaults, **raw}.items() if v is not None}
                explicit = {k for k, v in raw.items() if v is not None}
                scenario = self.scenario(merged, explicit, where)
                if scenario is None:
                    continue
                names = [scenario.name, *(step.name for step in scenario.sweep_steps())]
                long = next((n for n in names if len(n) > self.max_name_length), None)
                if long is not None:
                    p.add(f"{where}.name", f"a name of {len(long):,} characters ({shown(long)}); at most "
                          f"{self.max_name_length} (--max-name-length): a name is a label of every series of it")
                    continue
                clash = next((n for n in names if n in seen), None)
                if clash is not None:
                    p.add(f"{where}.name", f"duplicate scenario name {shown(clash)} (also {seen[clash]})")
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
            self.problems.add(f"{where}.source.class", f"clip {shown(src.clip)} is class {shown(src.clip_class)} here "
                              f"and {shown(first[0].clip_class)} in {first[1]}; a clip has one class")
            return False
        self.problems.add(f"{where}.source", f"clip name {shown(src.clip)} is also {first[0].describe()} "
                          f"({first[1]}); give the files distinct names: {{file: path, name: clip}}")
        return False

    def _expand(self, entry: Mapping[str, Any], path: str,
                defaults: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
        matrix = entry.get("matrix")
        if matrix is None:
            self.expanded += 1
            return [(dict(entry), path)]
        if not isinstance(matrix, Mapping) or not matrix:
            self.problems.add(f"{path}.matrix", f"expected a mapping of key: [values], got {shown(matrix)}")
            return []
        keys, lists = [], []
        for key, values in matrix.items():
            if key not in SCENARIO_KEYS or key in ("name", "matrix"):
                self.problems.add(f"{path}.matrix.{shown_key(key)}", "unknown key (or not allowed in a matrix)")
                return []
            if not isinstance(values, list) or not values:
                self.problems.add(f"{path}.matrix.{key}", f"expected a non-empty list, got {shown(values)}")
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
            label = ", ".join(f"{k}={shown_key(v)}" for k, v in zip(keys, combo, strict=True))
            where = f"{path} ({label})"
            if isinstance(template, str):
                try:
                    values = {k: v for k, v in {**defaults, **raw}.items() if k != "name"}
                    if "source" in values:
                        values["source"] = source_label(values["source"])  # `{source}`: the short clip name
                    raw["name"] = render(template, values, self.max_name_length)
                except TemplateError as exc:
                    self.problems.add(f"{path}.name", f"bad name template {shown(template)}: {exc}; use keys of the "
                                      "scenario, like '{encoder} @ {bitrate}'")
                    return []
            out.append((raw, where))
        names = [r["name"] for r, _ in out if "name" in r]
        if isinstance(template, str) and len(set(names)) < len(names):
            self.problems.add(f"{path}.name", f"the template {shown(template)} gives the same name to several matrix "
                              "entries; put every matrix key in it")
            return []
        return out

