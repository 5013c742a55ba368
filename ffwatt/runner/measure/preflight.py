"""The checks a run makes before any encode, each collecting every problem and raising one
`RunnerError` (the dry run, which runs no ffmpeg, checks only the loader's rules).

* `check_encoder_options`: every scenario's `options:` against its encoder's own option list
  (`ffmpeg -h encoder=NAME`, ffwatt/runner/plan/encoder_options.py);
* `check_sources`: every file source probed and hashed (once each, `media_probe.SourceCatalog`);
  a scenario whose `duration` is longer than its source is refused. Half a source frame (at least
  the 0.01 s the `ffmpeg -i` header rounds to) is tolerated; a source whose duration is unknown
  (a live capture) is not refused: the run records its real media time.
"""

from __future__ import annotations

from pathlib import Path

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo
from ffwatt.runner.measure.media_probe import MediaError, SourceCatalog
from ffwatt.runner.plan.encoder_options import check_options
from ffwatt.runner.plan.scenario import Scenario

__all__ = ["check_encoder_options", "check_sources"]


def _raise(problems: list[str]) -> None:
    if len(problems) == 1:
        raise RunnerError(problems[0])
    if problems:
        raise RunnerError(f"{len(problems)} problems in the scenario file:\n  " + "\n  ".join(problems))


def check_encoder_options(scenarios: tuple[Scenario, ...], info: FfmpegInfo, file_name: str) -> None:
    """Every scenario's `options:` against its encoder's own option list (module docstring)."""
    items = [(s.name, s.encoder, s.options) for s in scenarios if not s.idle and s.options]  # a sweep's steps share its options
    _raise(check_options(items, info.encoder_options, info.cli_options, file_name))


def check_sources(scenarios: tuple[Scenario, ...], sources: SourceCatalog, file_name: str) -> None:
    """Every file source probed and hashed, and long enough for its scenarios (module docstring)."""
    problems: list[str] = []
    for s in scenarios:
        src = s.source
        if s.idle or src is None or src.kind != "file":
            continue
        try:
            media = sources.identify(Path(src.path)).media
        except MediaError as exc:
            problems.append(f"{file_name}: scenario {s.name!r}: {exc}")
            continue
        if media.duration_seconds is None:
            continue
        slack = max(0.5 / media.fps, 0.005) if media.fps else 0.005
        if s.duration > media.duration_seconds + slack:
            problems.append(f"{file_name}: scenario {s.name!r}: duration {s.duration:g} s is longer than its source "
                            f"{src.written or src.path} ({media.duration_seconds:g} s); shorten the duration or use a "
                            "longer clip")
    _raise(problems)
