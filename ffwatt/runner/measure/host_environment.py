"""The machine and software a benchmark ran on: the results file's `environment` block.

`collect_environment(ffmpeg_path, encoders)` returns a dict of what could be found:

    hostname, cpu_model, cpu_cores, kernel, ffmpeg_path, ffmpeg_version,
    encoder_versions {encoder: version}, gpu_model, gpu_driver, ffwatt_version

A value that cannot be found is left out, never "" or a guess, and nothing here
raises: a missing ffmpeg, no NVIDIA driver or an unreadable /proc/cpuinfo only make
the dict shorter. Every subprocess is bounded by a timeout.

Encoder versions come from what the encoders themselves print, read from a one-frame
64x64 encode of lavfi `testsrc2` (about 50 ms each): libx264 writes
`x264 - core N` into its SEI, libx265 `x265 [info]: HEVC encoder version V` on
stderr, SVT-AV1 `SVT-AV1 Encoder Lib vV` on stderr. Other encoders get no version.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import socket
import subprocess
from collections.abc import Iterable
from importlib import metadata

__all__ = ["collect_environment", "ffmpeg_version", "encoder_version", "cpu_model", "gpu_info",
           "version_probe_command"]

log = logging.getLogger("ffwatt.runner.environment")

PROBE_TIMEOUT = 10.0

# encoder -> (container format for stdout, where the version is, pattern)
_VERSION_PROBES = {
    "libx264": ("h264", "stdout", re.compile(rb"x264 - (core \d+(?: r\d+)?(?: [0-9a-f]{7})?)")),
    "libx265": ("hevc", "stderr", re.compile(rb"HEVC encoder version (\S+)")),
    "libsvtav1": ("ivf", "stderr", re.compile(rb"SVT-AV1 Encoder Lib v?(\S+)")),
}


def version_probe_command(ffmpeg_path: str, encoder: str, fmt: str) -> list[str]:
    """One 64x64 frame of testsrc2 through `encoder`, the bitstream on stdout."""
    return [
        ffmpeg_path,
        "-hide_banner", "-nostdin",             # no banner noise, never wait for a key
        "-loglevel", "info",                    # x265 and SVT-AV1 print their version at info
        "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=1",  # tiny synthetic source, no file needed
        "-frames:v", "1",                       # one frame is enough to initialise the encoder
        "-c:v", encoder,
        "-f", fmt, "-",                         # raw bitstream to stdout: x264's SEI carries its version
    ]


def _run(argv: list[str], timeout: float = PROBE_TIMEOUT) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("environment probe %s failed: %s", argv[:3], exc)
        return None


def ffmpeg_version(ffmpeg_path: str) -> str | None:
    """The first line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 Copyright ..."."""
    done = _run([ffmpeg_path, "-version"])
    if done is None or done.returncode != 0:
        return None
    lines = done.stdout.decode("utf-8", errors="replace").splitlines()
    return (lines[0].strip() or None) if lines else None


def encoder_version(ffmpeg_path: str, encoder: str) -> str | None:
    """What `encoder` says its version is, or None (unknown encoder, probe failed)."""
    probe = _VERSION_PROBES.get(encoder)
    if probe is None:
        return None
    fmt, stream, pattern = probe
    done = _run(version_probe_command(ffmpeg_path, encoder, fmt))
    if done is None or done.returncode != 0:
        return None
    found = pattern.search(done.stdout if stream == "stdout" else done.stderr)
    return found.group(1).decode("ascii", errors="replace") if found else None


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The first "model name" of /proc/cpuinfo (x86), else "Processor"/"Hardware" (some ARM kernels)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    for key in ("model name", "Processor", "Hardware"):
        found = re.search(rf"^{key}\s*:\s*(.+?)\s*$", text, re.MULTILINE)
        if found and found.group(1):
            return found.group(1)
    return None


def gpu_info() -> dict[str, str]:
    """gpu_model (names of all GPUs, ", "-joined when they differ) and gpu_driver via NVML; {} without."""
    try:
        import pynvml
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError (no driver, no library) or anything the binding raises
        return {}
    out: dict[str, str] = {}
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        out["gpu_driver"] = driver.decode() if isinstance(driver, bytes) else str(driver)
        names = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index))
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name not in names:
                names.append(name)
        if names:
            out["gpu_model"] = ", ".join(names)
    except Exception as exc:
        log.warning("NVML could not describe the GPUs: %s", exc)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    return {k: v for k, v in out.items() if v}


def _ffwatt_version() -> str | None:
    try:
        return metadata.version("ffwatt")
    except metadata.PackageNotFoundError:
        return None


def collect_environment(ffmpeg_path: str, encoders: Iterable[str]) -> dict:
    """The environment block: every key whose value is known (see the module docstring)."""
    env: dict = {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "kernel": platform.release(),
        "ffmpeg_path": ffmpeg_path,
        "ffmpeg_version": ffmpeg_version(ffmpeg_path),
        "ffwatt_version": _ffwatt_version(),
    }
    versions = {}
    for encoder in dict.fromkeys(encoders):  # each once, in order
        version = encoder_version(ffmpeg_path, encoder)
        if version:
            versions[encoder] = version
    if versions:
        env["encoder_versions"] = versions
    env.update(gpu_info())
    return {k: v for k, v in env.items() if v not in (None, "")}
