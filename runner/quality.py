"""Quality of an encode against its source: VMAF, PSNR and SSIM in one ffmpeg pass.

One ffmpeg run per output file. The graph (after slhck/ffmpeg-quality-metrics' idea of
splitting both inputs once per metric, written anew here)::

    [0:v] setpts=PTS-STARTPTS, fps=F, scale=W:H:flags=bicubic, format=yuv420p, split=3 [d0][d1][d2]
    [1:v] setpts=PTS-STARTPTS, <source filters>, fps=F, format=yuv420p, split=3 [r0][r1][r2]
    [d0][r0] libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=vmaf.json:n_threads=N:shortest=1:repeatlast=0
    [d1][r1] psnr=stats_file=psnr.log:shortest=1:repeatlast=0
    [d2][r2] ssim=stats_file=ssim.log:shortest=1:repeatlast=0

Input 0 is the distorted encoder output, input 1 the reference: the scenario's source
regenerated (lavfi test patterns are deterministic) or read again from the file, at the
scenario's resolution. Both inputs get their timestamps reset and the same forced frame
rate; the output is scaled to the reference size with bicubic (a ladder's rungs are
upscaled); `shortest=1:repeatlast=0` compares frame pairs only. libvmaf takes the
distorted input first.

Numbers: VMAF from libvmaf's JSON log (pooled mean, harmonic mean and min, plus the 1st
percentile of the per-frame scores); PSNR per frame is `psnr_avg` (luma-weighted Y, U, V)
and the pooled mean is the PSNR of the mean MSE (what ffmpeg's own summary reports; it
stays finite when some frames are identical); SSIM per frame is `All`. Anything not
measured is `None`, never 0: without libvmaf there is no VMAF.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.encode import run_measured
from runner.ffmpeg import source_filters, source_input_args
from runner.scenarios import Scenario

__all__ = ["VMAF_MODEL", "QualityStats", "QualityResult", "quality_command", "parse_vmaf_log", "parse_psnr_log",
           "parse_ssim_log", "percentile", "measure", "mean_quality"]

VMAF_MODEL = "vmaf_v0.6.1"
VMAF_LOG, PSNR_LOG, SSIM_LOG = "vmaf.json", "psnr.log", "ssim.log"


@dataclass(frozen=True)
class QualityStats:
    mean: float | None = None
    harmonic_mean: float | None = None
    min: float | None = None
    p1: float | None = None
    frames: int = 0

    def as_dict(self, *, model: str | None = None, keys: Sequence[str] = ("mean", "min")) -> dict:
        out = {k: getattr(self, k) for k in keys}
        if model is not None:
            out["model"] = model
        return out


@dataclass(frozen=True)
class QualityResult:
    vmaf: QualityStats | None
    psnr: QualityStats | None
    ssim: QualityStats | None
    cpu_seconds: float


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's default).

    rank = p/100 x (n - 1); value = v[floor] + (v[ceil] - v[floor]) x frac(rank). None for no values.
    """
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _escape(value: str) -> str:
    """Escape a filter option value (a path) for an ffmpeg filter graph."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,") \
        .replace("[", "\\[").replace("]", "\\]").replace(";", "\\;")


def quality_command(
    ffmpeg: str,
    scenario: Scenario,
    distorted: Path,
    log_dir: Path,
    *,
    vmaf: bool = True,
    psnr: bool = True,
    ssim: bool = True,
    threads: int | None = None,
) -> list[str]:
    """argv comparing `distorted` with the scenario's source; logs go to `log_dir`."""
    metrics = [m for m, on in (("vmaf", vmaf), ("psnr", psnr), ("ssim", ssim)) if on]
    if not metrics:
        raise ValueError("no quality metric to compute")
    n = len(metrics)
    fps = f"{scenario.fps:g}"
    distorted_chain = ["setpts=PTS-STARTPTS", f"fps={fps}", f"scale={scenario.width}:{scenario.height}:flags=bicubic",
                       "format=yuv420p"]
    reference_chain = ["setpts=PTS-STARTPTS", *source_filters(scenario), f"fps={fps}", "format=yuv420p"]
    if n > 1:
        distorted_chain.append(f"split={n}")
        reference_chain.append(f"split={n}")
    graph = ["[0:v]" + ",".join(distorted_chain) + "".join(f"[d{i}]" for i in range(n)),
             "[1:v]" + ",".join(reference_chain) + "".join(f"[r{i}]" for i in range(n))]
    sync = "shortest=1:repeatlast=0"  # compare frame pairs only: never repeat the last frame of a shorter input
    for i, metric in enumerate(metrics):
        if metric == "vmaf":
            log_path = _escape(str(log_dir / VMAF_LOG))
            opts = f"model=version={VMAF_MODEL}:log_fmt=json:log_path={log_path}:n_threads={threads or os.cpu_count() or 1}"
            graph.append(f"[d{i}][r{i}]libvmaf={opts}:{sync}")
        elif metric == "psnr":
            graph.append(f"[d{i}][r{i}]psnr=stats_file={_escape(str(log_dir / PSNR_LOG))}:{sync}")
        else:
            graph.append(f"[d{i}][r{i}]ssim=stats_file={_escape(str(log_dir / SSIM_LOG))}:{sync}")
    return [
        ffmpeg,
        "-nostdin",  # never read the terminal
        "-hide_banner",
        "-loglevel", "warning",  # the log keeps warnings and errors; the scores come from the metric logs
        "-nostats",
        "-i", str(distorted),  # input 0: the encoder's output (distorted)
        *source_input_args(scenario),  # input 1: the source again (reference)
        "-filter_complex", ";".join(graph),
        "-f", "null", "-",  # nothing to write: the filters log the scores
    ]


def parse_vmaf_log(text: str) -> QualityStats:
    """Pooled VMAF and its 1st percentile from libvmaf's `log_fmt=json` output."""
    doc = json.loads(text)
    scores = [float(f["metrics"]["vmaf"]) for f in doc.get("frames", []) if "vmaf" in f.get("metrics", {})]
    pooled = doc.get("pooled_metrics", {}).get("vmaf", {})

    def pick(key: str, fallback):
        value = pooled.get(key)
        return float(value) if isinstance(value, (int, float)) else fallback

    mean = pick("mean", sum(scores) / len(scores) if scores else None)
    hmean = pick("harmonic_mean", None)
    low = pick("min", min(scores) if scores else None)
    return QualityStats(mean=mean, harmonic_mean=hmean, min=low, p1=percentile(scores, 1), frames=len(scores))


_KV = re.compile(r"(\w+):(\S+)")


def _psnr_of_mse(mse: float, max_value: float = 255.0) -> float | None:
    return None if mse <= 0 else 10 * math.log10(max_value * max_value / mse)


def parse_psnr_log(text: str) -> QualityStats:
    """PSNR from the psnr filter's stats file: mean = PSNR of the mean `mse_avg`, min = min per-frame `psnr_avg`."""
    mses, psnrs = [], []
    for line in text.splitlines():
        fields = dict(_KV.findall(line))
        if "mse_avg" in fields:
            mses.append(float(fields["mse_avg"]))
            value = float(fields.get("psnr_avg", "inf"))
            if math.isfinite(value):
                psnrs.append(value)
    if not mses:
        return QualityStats()
    return QualityStats(mean=_psnr_of_mse(sum(mses) / len(mses)), min=min(psnrs) if psnrs else None,
                        p1=percentile(psnrs, 1), frames=len(mses))


def parse_ssim_log(text: str) -> QualityStats:
    """SSIM from the ssim filter's stats file: mean and min of the per-frame `All`."""
    values = [float(f["All"]) for line in text.splitlines() if "All" in (f := dict(_KV.findall(line)))]
    if not values:
        return QualityStats()
    return QualityStats(mean=sum(values) / len(values), min=min(values), p1=percentile(values, 1), frames=len(values))


def measure(ffmpeg: str, scenario: Scenario, distorted: Path, log_dir: Path, *, vmaf: bool, psnr: bool = True,
            ssim: bool = True, timeout: float) -> QualityResult:
    """Run the one quality pass for `distorted`; `EncodeError` (a `RunnerError`) when ffmpeg fails."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in (VMAF_LOG, PSNR_LOG, SSIM_LOG):
        (log_dir / name).unlink(missing_ok=True)
    argv = quality_command(ffmpeg, scenario, distorted, log_dir, vmaf=vmaf, psnr=psnr, ssim=ssim)
    cpu = run_measured(argv, log_dir / "quality.log", timeout, what=f"quality of {distorted.name}")

    def read(name: str, parser):
        path = log_dir / name
        return parser(path.read_text(encoding="utf-8", errors="replace")) if path.exists() else None

    return QualityResult(vmaf=read(VMAF_LOG, parse_vmaf_log) if vmaf else None,
                         psnr=read(PSNR_LOG, parse_psnr_log) if psnr else None,
                         ssim=read(SSIM_LOG, parse_ssim_log) if ssim else None, cpu_seconds=cpu)


def mean_quality(stats: Sequence[QualityStats | None]) -> QualityStats | None:
    """Mean of each field over several outputs (a ladder's rungs); None when any is unknown."""
    known = [s for s in stats if s is not None]
    if not known or len(known) < len(stats):
        return None

    def avg(key: str) -> float | None:
        values = [getattr(s, key) for s in known]
        return None if any(v is None for v in values) else sum(values) / len(values)

    return QualityStats(mean=avg("mean"), harmonic_mean=avg("harmonic_mean"), min=min_or_none(known),
                        p1=avg("p1"), frames=sum(s.frames for s in known))


def min_or_none(stats: Sequence[QualityStats]) -> float | None:
    values = [s.min for s in stats]
    return None if any(v is None for v in values) else min(values)  # type: ignore[type-var]
