"""What an ffmpeg binary can do, probed once per run.

`probe()` runs `ffmpeg -version`, `-encoders`, `-filters` and `-h long` (its own command-line
options) once per run, and `FfmpegInfo.encoder_options` runs `-h encoder=NAME` once per
encoder (the allow-list of a scenario's `options:`, ffwatt/runner/plan/encoder_options.py); a missing or
non-executable binary is a `RunnerError` that says so. A hardware encoder (NVENC...) is tried
with a one-frame encode before a scenario relies on it. The argv of every encode:
ffwatt/runner/measure/commands.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from ffwatt.runner.errors import RunnerError

__all__ = ["FfmpegInfo", "probe", "parse_encoders", "parse_filters", "parse_encoder_options", "parse_cli_options",
           "default_ffmpeg", "hardware_encoder_reason"]

PROBE_TIMEOUT = 20.0
_DEVICE_CHECKED: dict[str, str | None] = {}  # hardware encoder -> why it cannot run here (None: it can)
_ENCODER_OPTIONS: dict[tuple[str, str], frozenset[str]] = {}  # (binary, encoder) -> its AVOptions


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


# Encoders that need a device (the static ffmpeg lists NVENC, Vulkan... everywhere): a one-frame
# test encode says whether this machine can open one, before a scenario relies on it.
HARDWARE_ENCODER = re.compile(r"_(nvenc|qsv|vaapi|amf|videotoolbox|v4l2m2m|vulkan|d3d12va|mediacodec|mf|omx|rkmpp|oh)$")


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
