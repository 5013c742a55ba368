"""The settings of `ffwatt run`: each a flag, an environment variable `FFWATT_<FLAG>` and a
default (`common.settings.Setting`; the flag wins, then the variable, then the default)."""

from __future__ import annotations

from pathlib import Path

from ffwatt.common.settings import Setting, boolean, non_negative_float, non_negative_int, positive_float, positive_int

__all__ = ["RUN_SETTINGS", "RUN_SWITCHES"]


def _url(text: str) -> str | None:
    return text.strip() or None  # '' disables


def _rtmp_url(text: str) -> str | None:
    value = text.strip().rstrip("/")
    if not value:
        return None  # '' means: start our own server
    if not value.startswith(("rtmp://", "rtmps://")) or value.count("/") < 3:
        raise ValueError(f"expected an RTMP application URL like rtmp://host:1935/live, got {text!r}")
    return value


def _order(text: str) -> str:
    value = text.strip()
    if value not in ("shuffled", "sequential"):
        raise ValueError(f"expected 'shuffled' or 'sequential', got {text!r}")
    return value


RUN_SETTINGS = (
    Setting("results-dir", "test_results", "Directory the results file is written to.", Path),
    Setting("ffmpeg", None, "ffmpeg binary (default: the static ffmpeg of imageio-ffmpeg, which has libvmaf)."),
    Setting("events", None, "Append NDJSON events (scenario-start, progress, scenario-done, ...) to this file.", Path),
    Setting("progress-url", "http://127.0.0.1:9506",
            "Base URL of the ffmpeg exporter that receives live progress, http:// or https:// ('' disables).", _url),
    Setting("progress-token-file", None, "File with the token the ffmpeg exporter wants (its --push-token-file); "
            "sent as 'Authorization: Bearer <token>' with every progress push.", Path),
    # Energy (issue 22, docs/energy.md): with none of the three URLs the runner measures in process.
    Setting("cpu-metrics-url", None,
            "Read the joules counters from this cpu (RAPL) exporter's /metrics instead of in process (another "
            "host, a running stack); unreachable: the energy is unknown.", _url),
    Setting("gpu-metrics-url", None,
            "Read the joules counters from this gpu (NVML) exporter's /metrics instead of in process.", _url),
    Setting("tsdb-url", None, "VictoriaMetrics base URL: read the joules increase from it instead.", _url),
    Setting("exporter-ca-file", None, "CA file to verify https exporter, progress and TSDB URLs against (exporters "
            "behind a web config, docs/security.md); credentials go in the URL "
            "(https://user:password@host:9500/metrics) and are never logged.", Path),
    Setting("powercap-root", "/sys/class/powercap", "The in-process meter's RAPL powercap root (a tree marked "
            "simulated, as the demo's, is recorded as 'simulated').", _url),
    Setting("sample-interval", 1.0, "Seconds between power and CPU samples.", positive_float),
    Setting("tdp-watts", None,
            "CPU package TDP in watts for the model used without RAPL/NVML (default: the CPU model's from "
            "ffwatt/runner/data/cpu_power.csv, per hardware thread).", positive_float),
    Setting("seed", None, "Seed of the shuffled order of each round (default: drawn at random, recorded).",
            non_negative_int),
    Setting("order", "shuffled", "'shuffled': repeat N is N rounds over the whole matrix, each in a shuffled "
            "order; 'sequential': the file's order, repetitions back to back.", _order),
    Setting("min-window", 2.0, "Encode a short scenario again, back to back, until its measurement window is "
            "this many seconds (every figure per single encode).", non_negative_float),
    Setting("cool-down", 0.0, "Seconds to wait after each measurement.", non_negative_float),
    Setting("work-dir", None, "Where encoded outputs go (default: a temp dir, removed at the end).", Path),
    Setting("rtmp-url", None, "Live mode: publish to this existing RTMP application (rtmp://host:1935/live) "
            "instead of starting the runner's own nginx-rtmp ('' starts our own).", _rtmp_url),
    Setting("rtmp-stat-url", None, "The /stat URL of the --rtmp-url server (to wait for a stream to close).", _url),
    Setting("rtmp-record-dir", None, "Where the --rtmp-url server records streams (<dir>/<stream>.flv): live "
            "quality is scored on those recordings (without it, live quality is not measured).", Path),
    Setting("nginx", "nginx", "nginx binary for the runner's own RTMP server (needs the Debian packages nginx "
            "libnginx-mod-rtmp)."),
    Setting("max-scenarios", 10_000, "Refuse a scenario file that expands to more scenarios (matrix bombs).",
            positive_int),
    Setting("cluster", None, "Run the scenarios on the workers of this Dask scheduler (tcp://host:8786; "
            "start one `ffwatt worker SCHEDULER` per lab host, docs/fleet.md) instead of here.", _url),
)
# Flags without a value; their variables take true/false.
RUN_SWITCHES = (
    Setting("resume", False, "Continue the newest results file of this scenario file, skipping completed "
            "scenarios.", boolean),
    Setting("dry-run", False, "Print the expanded scenarios and the exact ffmpeg commands; run nothing.", boolean),
    Setting("keep-outputs", False, "Keep the encoded files in the work dir.", boolean),
    Setting("no-quality", False, "Skip the VMAF/PSNR/SSIM pass.", boolean),
    Setting("pin-host", False, "With --cluster: run every repetition of a scenario on the same host "
            "(energy compares within one host).", boolean),
    Setting("exclusive", False, "Nothing else runs on this machine: a scenario's energy is the machine's "
            "(no attribution by CPU time).", boolean),
)
