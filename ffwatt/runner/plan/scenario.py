"""A scenario as it will run: the typed specs the scenario file expands to (ffwatt/runner/plan/scenario_file.py).

Units: seconds, frames/s, bits/s. Pure data and names: `slug` (file and stream names), the
fingerprint `--resume` matches on (`matrix_sha256`), and the file check every source passes
(`source_file_problem`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.runner.plan.encoder_options import short

__all__ = ["Rung", "Source", "QualitySpec", "Scenario", "first_encode", "matrix_sha256", "slug", "sweep_step_name",
           "source_file_problem", "source_label"]


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
    (None: chosen by the scored size, ffwatt/runner/measure/quality.py `vmaf_model_for`)."""

    resolution: str = "source"
    model: str | None = None

    def scored_at(self) -> str | tuple[int, int]:
        """"source", "encode" or (W, H), as ffwatt/runner/measure/quality.py `scored_size` takes it."""
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

