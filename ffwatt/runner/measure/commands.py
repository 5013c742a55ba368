"""The argv of every encode, as pure functions of a `Scenario`, so unit tests check every flag; each
flag carries a comment saying why it is there. `dry_run_lines` prints them for `--dry-run`.

Progress always goes to `-progress pipe:1` (ffmpeg's stdout, read by the runner), never
straight to the ffmpeg exporter's URL: ffmpeg refuses to start when a `-progress` URL is
unreachable (`Failed to open progress URL ... Connection refused`, exit 145), so the
runner forwards the blocks itself (ffwatt/runner/measure/progress.py) and an exporter that is down
never fails an encode.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.encoder_options import static_problems
from ffwatt.runner.plan.scenario import Rung, Scenario
from ffwatt.runner.plan.schedule import planned

__all__ = ["source_input_args", "source_filters", "encode_command", "output_paths", "PROGRESS_PERIOD_SECONDS",
           "live_command", "live_stream_name", "publish_url", "dry_run_lines"]

PROGRESS_PERIOD_SECONDS = 0.5
OUTPUT_EXTENSION = ".mkv"  # Matroska holds H.264, HEVC, AV1, VP9... so one container fits every encoder


def _num(value: float) -> str:
    return f"{value:g}"


def source_input_args(scenario: Scenario) -> list[str]:
    """Input options and `-i` for the scenario's source (the same for the encode and the quality reference)."""
    src = scenario.source
    assert src is not None and scenario.width and scenario.fps
    if src.kind == "lavfi":
        return [
            "-f", "lavfi",  # a generated test pattern (testsrc2 is deterministic, so the reference can be rebuilt)
            "-t", _num(scenario.duration),  # input duration: exactly fps x duration frames
            "-i", f"{src.name}=size={scenario.width}x{scenario.height}:rate={_num(scenario.fps)}",
        ]
    return [
        "-t", _num(scenario.duration),  # read only the scenario's duration of the file
        "-i", str(src.path),
    ]


def source_filters(scenario: Scenario) -> list[str]:
    """Filters that bring the source to the scenario's resolution and frame rate (files only: a lavfi source
    is generated at that size and rate already)."""
    if scenario.source is not None and scenario.source.kind == "file":
        return [f"scale={scenario.width}:{scenario.height}:flags=bicubic", f"fps={_num(scenario.fps)}"]
    return []


def output_paths(scenario: Scenario, work_dir: Path, stream: int) -> list[Path]:
    """Files one stream writes: one per rung of a ladder, else one."""
    base = f"{scenario.slug}-s{stream}"
    if scenario.outputs:
        return [work_dir / f"{base}-r{i}-{r.resolution}{OUTPUT_EXTENSION}" for i, r in enumerate(scenario.outputs)]
    return [work_dir / f"{base}{OUTPUT_EXTENSION}"]


def _codec_args(scenario: Scenario, bitrate: str | None, *, muxer: list[str] | None = None) -> list[str]:
    args = ["-c:v", scenario.encoder]  # the encoder under test
    if scenario.preset:
        args += ["-preset", scenario.preset]  # speed/quality trade-off of the encoder
    if bitrate is not None:
        args += ["-b:v", bitrate]  # average bitrate (ABR): what the scenario's bitrate means
    elif scenario.crf is not None:
        args += ["-crf", _num(scenario.crf)]  # constant quality
    elif scenario.qp is not None:
        args += ["-qp", str(scenario.qp)]  # constant quantiser
    for key, value in scenario.options:
        if static_problems(key, value):  # the loader refused it already; a Scenario built elsewhere is refused here
            raise RunnerError(f"scenario {scenario.name!r}: options.{key}: {static_problems(key, value)[0]}")
        args += [f"-{key}", value]  # an encoder option from the scenario file (ffwatt/runner/plan/encoder_options.py checked it)
    args += [
        "-pix_fmt", "yuv420p",  # 8-bit 4:2:0 in every encoder, so outputs compare with the reference
        "-an",  # video only (lavfi sources have no audio; a file's audio is not under test)
        *(muxer if muxer is not None else ["-f", "matroska"]),  # explicit muxer: the extension could be anything
    ]
    return args


def _progress_head(ffmpeg: str) -> list[str]:
    """The start of every encode's argv, file or live: quiet, and progress on stdout."""
    return [
        ffmpeg,
        "-nostdin",  # never read the terminal (a stray key would stop ffmpeg)
        "-hide_banner",  # the log file holds warnings and errors, not the build configuration
        "-loglevel", "warning",
        "-nostats",  # the stats line goes to -progress instead of stderr
        "-progress", "pipe:1",  # key=value blocks on stdout: frames, fps, speed, drops (forwarded to the exporter)
        "-stats_period", _num(PROGRESS_PERIOD_SECONDS),  # one progress block every half second
    ]


def encode_command(scenario: Scenario, ffmpeg: str, outputs: Sequence[Path]) -> list[str]:
    """argv of one stream's encode: the source, as fast as it goes, to `outputs` (one per rung)."""
    cmd = [*_progress_head(ffmpeg), *source_input_args(scenario)]
    pre = source_filters(scenario)
    if not scenario.outputs:
        if pre:
            cmd += ["-vf", ",".join(pre)]  # scale and retime a file source to the scenario's size and rate
        cmd += ["-map", "0:v:0", *_codec_args(scenario, scenario.bitrate), "-y", str(outputs[0])]
        return cmd
    n = len(scenario.outputs)
    graph = [f"[0:v]{','.join([*pre, f'split={n}'])}" + "".join(f"[in{i}]" for i in range(n))]
    for i, rung in enumerate(scenario.outputs):
        graph.append(f"[in{i}]{','.join(_rung_filters(rung, scenario))}[out{i}]")
    cmd += ["-filter_complex", ";".join(graph)]  # one decode/generate, split into every rung of the ladder
    for i, (rung, path) in enumerate(zip(scenario.outputs, outputs, strict=True)):
        cmd += ["-map", f"[out{i}]", *_codec_args(scenario, rung.bitrate), "-y", str(path)]
    return cmd


def live_stream_name(scenario: Scenario, stream: int) -> str:
    """The RTMP stream name (and the ffmpeg exporter's stream) of live stream `stream` (1-based): `<slug>-<n>`."""
    return f"{scenario.slug}-{stream}"


def live_command(scenario: Scenario, ffmpeg: str, publish_url: str) -> list[str]:
    """argv of one live stream: the source read at real time, encoded, published as FLV to `publish_url`.

    The same encoder settings as `encode_command` (so live and file quality compare); only
    the pacing and the output differ.
    """
    cmd = [
        *_progress_head(ffmpeg),
        "-re",  # read the source at its native frame rate: a live stream, not a batch encode
        *source_input_args(scenario),
    ]
    pre = source_filters(scenario)
    if pre:
        cmd += ["-vf", ",".join(pre)]  # scale and retime a file source to the scenario's size and rate
    flv = [
        "-f", "flv",  # RTMP carries FLV
        "-flvflags", "no_duration_filesize",  # a live stream cannot seek back to patch the header at the end
    ]
    cmd += ["-map", "0:v:0", *_codec_args(scenario, scenario.bitrate, muxer=flv), publish_url]
    return cmd


def _rung_filters(rung: Rung, scenario: Scenario) -> list[str]:
    filters = [f"scale={rung.width}:{rung.height}:flags=bicubic"]  # the rung's resolution
    if rung.fps is not None and rung.fps != scenario.fps:
        filters.append(f"fps={_num(rung.fps)}")  # the rung's own frame rate
    return filters


def publish_url(rtmp_url: str, scenario: Scenario, stream: int) -> str:
    """`<rtmp_url>/<scenario-slug>-<n>` (`rtmp_url` is the application: rtmp://host:port/live)."""
    return f"{rtmp_url.rstrip('/')}/{live_stream_name(scenario, stream)}"


def dry_run_lines(scenarios: tuple[Scenario, ...], ffmpeg: str, work_dir: Path,
                  rtmp_url: str | None = None) -> list[str]:
    """The expanded matrix and the exact commands, as `--dry-run` prints them."""
    steps = planned(scenarios)
    lines = [f"{len(steps)} scenario(s):"]
    for s in steps:
        if s.idle:
            lines.append(f"- {s.name}: idle baseline, {s.duration:g} s, repeat {s.repeat}")
            lines.append(f"    (no command: sleep {s.duration:g} s while energy is measured)")
            continue
        rate = (f"{s.bitrate}" if s.bitrate else f"crf {s.crf:g}" if s.crf is not None else
                f"qp {s.qp}" if s.qp is not None else "ladder " + ", ".join(f"{r.resolution}@{r.bitrate}"
                                                                             for r in s.outputs))
        lines.append(f"- {s.name}: {s.encoder} {s.preset or ''} {rate}, {s.resolution}@{s.fps:g}, "
                     f"{s.duration:g} s x {s.streams} stream(s), repeat {s.repeat}, source {s.source.describe()}")
        if s.live:
            lines[-1] += ", live"
        for i in range(s.streams):
            if s.live:
                url = publish_url(rtmp_url or "rtmp://127.0.0.1:PORT/live", s, i + 1)
                lines.append("    " + shlex.join(live_command(s, ffmpeg, url)))
            else:
                lines.append("    " + shlex.join(encode_command(s, ffmpeg, output_paths(s, work_dir, i + 1))))
    return lines
