"""ffmpeg: what the binary can do (probed once) and the argv of every encode.

`probe()` runs `ffmpeg -version`, `-encoders`, `-filters` and `-h long` (its own command-line
options) once per run, and `FfmpegInfo.encoder_options` runs `-h encoder=NAME` once per
encoder (the allow-list of a scenario's `options:`, ffwatt/runner/encoder_options.py); a missing or
non-executable binary is a `RunnerError` that says so. Everything else here is a pure
function from a `Scenario` to an argv list, so unit tests check every flag; each flag
carries a comment saying why it is there.

Progress always goes to `-progress pipe:1` (ffmpeg's stdout, read by the runner), never
straight to the ffmpeg exporter's URL: ffmpeg refuses to start when a `-progress` URL is
unreachable (`Failed to open progress URL ... Connection refused`, exit 145), so the
runner forwards the blocks itself (ffwatt/runner/progress.py) and an exporter that is down
never fails an encode.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ffwatt.runner.encoder_options import static_problems
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.scenarios import Rung, Scenario

__all__ = ["FfmpegInfo", "probe", "parse_encoders", "parse_filters", "parse_encoder_options", "parse_cli_options", "source_input_args", "source_filters",
           "encode_command", "output_paths", "PROGRESS_PERIOD_SECONDS", "default_ffmpeg", "live_command",
           "live_stream_name", "hardware_encoder_reason"]

PROBE_TIMEOUT = 20.0
_DEVICE_CHECKED: dict[str, str | None] = {}  # hardware encoder -> why it cannot run here (None: it can)
_ENCODER_OPTIONS: dict[tuple[str, str], frozenset[str]] = {}  # (binary, encoder) -> its AVOptions
PROGRESS_PERIOD_SECONDS = 0.5
OUTPUT_EXTENSION = ".mkv"  # Matroska holds H.264, HEVC, AV1, VP9... so one container fits every encoder


@dataclass(frozen=True)
class FfmpegInfo:
    """What one ffmpeg binary offers: its path, `-version` line, video encoders and filters."""

    path: str
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]
    cli_options: frozenset[str] = frozenset()  # ffmpeg's own options (`-h long`), which shadow encoder options

    @property
    def has_libvmaf(self) -> bool:
        return "libvmaf" in self.filters

    def encoder_options(self, encoder: str) -> frozenset[str] | None:
        """The options `ffmpeg -h encoder=ENCODER` lists (probed once per encoder); None when ffmpeg lacks it."""
        if encoder not in self.encoders:
            return None
        key = (self.path, encoder)
        if key not in _ENCODER_OPTIONS:
            _ENCODER_OPTIONS[key] = parse_encoder_options(_run_probe(self.path, "-h", f"encoder={encoder}"))
        return _ENCODER_OPTIONS[key]

    def missing_encoder_reason(self, encoder: str) -> str | None:
        if encoder not in self.encoders:
            return f"ffmpeg at {self.path} has no video encoder {encoder!r} (see `ffmpeg -hide_banner -encoders`)"
        if encoder not in _DEVICE_CHECKED:  # once per encoder and binary
            _DEVICE_CHECKED[encoder] = hardware_encoder_reason(self.path, encoder)
        return _DEVICE_CHECKED[encoder]


# Encoders that need a device (the static ffmpeg lists NVENC everywhere): a one-frame
# test encode says whether this machine can open one, before a scenario relies on it.
HARDWARE_ENCODER = re.compile(r"_(nvenc|qsv|vaapi|amf|videotoolbox|v4l2m2m)$")


def hardware_encoder_reason(path: str, encoder: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when `encoder` (a hardware one) can encode here; else why not, from ffmpeg.

    256x144 is above every NVENC generation's minimum frame size, so a refusal is the
    device's (none, or an H100/H200 without NVENC), not the frame's."""
    if not HARDWARE_ENCODER.search(encoder):
        return None
    cmd = [path, "-hide_banner", "-nostdin", "-loglevel", "error",
           "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=30",  # a tiny deterministic source
           "-frames:v", "1", "-c:v", encoder, "-f", "null", "-"]   # one frame, written nowhere
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{encoder}: the one-frame test encode did not run: {exc}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
    # The first line is the cause ("Cannot load libcuda.so.1", "No capable devices found");
    # the rest is ffmpeg unwinding.
    why = re.sub(r"^\[[^]]*\] *", "", lines[0]) if lines else f"exit {done.returncode}"
    return f"ffmpeg lists {encoder} but cannot open its device on this machine: {why}"


def default_ffmpeg() -> str | None:
    """The static ffmpeg (with libvmaf) of the `imageio-ffmpeg` package, else `ffmpeg` on PATH."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def _run_probe(path: str, *args: str) -> str:
    cmd = [path, "-hide_banner", *args]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
    except FileNotFoundError:
        raise RunnerError(f"ffmpeg not found at {path!r}; install it or pass --ffmpeg PATH "
                          "(pip install imageio-ffmpeg gives a static build with libvmaf)") from None
    except PermissionError:
        raise RunnerError(f"ffmpeg at {path!r} is not executable (chmod +x it, or pass another --ffmpeg)") from None
    except OSError as exc:
        raise RunnerError(f"cannot run ffmpeg at {path!r}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise RunnerError(f"`{path} {' '.join(args)}` did not answer within {PROBE_TIMEOUT:g} s") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-1000:]
        raise RunnerError(f"`{path} {' '.join(args)}` exited with {done.returncode}: {tail}")
    return done.stdout.decode(errors="replace")


def probe(path: str) -> FfmpegInfo:
    """Ask the binary what it is and what it can do (3 short runs)."""
    if os.sep in path and not os.path.exists(path):
        raise RunnerError(f"ffmpeg not found at {path!r}; pass --ffmpeg PATH to an ffmpeg binary")
    if os.path.isdir(path):
        raise RunnerError(f"ffmpeg path {path!r} is a directory, not an ffmpeg binary")
    version_text = _run_probe(path, "-version")
    version = version_text.splitlines()[0].strip() if version_text.strip() else "unknown"
    if not version.startswith("ffmpeg"):
        raise RunnerError(f"{path!r} does not look like ffmpeg: `-version` printed {version[:80]!r}")
    return FfmpegInfo(path=path, version=version, encoders=parse_encoders(_run_probe(path, "-encoders")),
                      filters=parse_filters(_run_probe(path, "-filters")),
                      cli_options=parse_cli_options(_run_probe(path, "-h", "long")))


_ENCODER_LINE = re.compile(r"^ V[A-Z.]{5} +(\S+) ")
_FILTER_LINE = re.compile(r"^ [A-Z.]{2,3} +(\S+) +\S*->\S* ")
_AVOPTION_LINE = re.compile(r"^  -(\S+) +<[^>]+>")
_CLI_OPTION_LINE = re.compile(r"^-([^\s<\[]+)")  # `-ac[:<stream_spec>] <channels>` in ffmpeg 7+


def parse_encoders(text: str) -> frozenset[str]:
    """Video encoder names from `ffmpeg -encoders` (lines like ` V....D libx264  ...`)."""
    return frozenset(m.group(1) for line in text.splitlines() if (m := _ENCODER_LINE.match(line)) and m.group(1) != "=")


def parse_encoder_options(text: str) -> frozenset[str]:
    """Option names from `ffmpeg -h encoder=NAME` (AVOptions lines like `  -preset   <string>  E..V....`;
    the indented constants under them are values, not options)."""
    return frozenset(m.group(1) for line in text.splitlines() if (m := _AVOPTION_LINE.match(line)))


def parse_cli_options(text: str) -> frozenset[str]:
    """ffmpeg's own option names from `ffmpeg -h long` (lines like `-stats   print progress...`)."""
    return frozenset(m.group(1) for line in text.splitlines() if (m := _CLI_OPTION_LINE.match(line)))


def parse_filters(text: str) -> frozenset[str]:
    """Filter names from `ffmpeg -filters` (lines like ` TS psnr  VV->V  ...`)."""
    return frozenset(m.group(1) for line in text.splitlines() if (m := _FILTER_LINE.match(line)))


# --------------------------------------------------------------------------
# argv builders (pure)


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
        args += [f"-{key}", value]  # an encoder option from the scenario file (ffwatt/runner/encoder_options.py checked it)
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
