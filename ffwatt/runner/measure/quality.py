"""Quality of an encode against its reference: VMAF, PSNR and SSIM in one ffmpeg pass.

One ffmpeg run per distorted file, for the runner's quality pass and for `ffwatt score`
alike (`compare_command`). The graph (after slhck/ffmpeg-quality-metrics' idea of splitting
both inputs once per metric, written anew here)::

    [0:v] setpts=PTS-STARTPTS, fps=F, scale=W:H:flags=bicubic, format=yuv420p, split=3 [d0][d1][d2]
    [1:v] setpts=PTS-STARTPTS, fps=F, scale=W:H:flags=bicubic, format=yuv420p, split=3 [r0][r1][r2]
    [d0][r0] libvmaf=model=version=M:log_fmt=json:log_path=vmaf.json:n_threads=N:shortest=1:repeatlast=0
    [d1][r1] psnr=stats_file=psnr.log:shortest=1:repeatlast=0
    [d2][r2] ssim=stats_file=ssim.log:shortest=1:repeatlast=0

Input 0 is the distorted file, input 1 the reference. W x H is the size both are scored at
(`Comparison`): by default the reference's own size ("source", the display resolution: a
smaller rung is upscaled with bicubic, as per-title and convex-hull practice and
ffmpeg-quality-metrics do, so downscaling loss counts); "encode" scores at the distorted's
own size (the reference scaled down to it); or a fixed WxH. `scale` passes a frame through
untouched when it already has that size. Both inputs get their timestamps reset and, when F
is given, the same forced frame rate; `shortest=1:repeatlast=0` compares frame pairs only.
libvmaf takes the distorted input first. The VMAF model follows the size (`vmaf_model_for`):
vmaf_4k_v0.6.1 at 2160p and above, vmaf_v0.6.1 below, unless one is named.

Numbers, each named for how it pools the frames:

* VMAF from libvmaf's JSON log: `mean` (mean of per-frame scores), harmonic mean, min, and
  `p1` the 1st percentile of the per-frame scores (the "1 % low").
* PSNR: `mean` is MSE-pooled (the PSNR of the mean of the per-frame `mse_avg`, luma-weighted
  Y, U, V: what ffmpeg's own summary prints; it stays finite when some frames are identical);
  `frame_mean` is the mean of per-frame `psnr_avg`; `y`, `u`, `v` are per plane, each the mean
  of its per-frame values (None when a frame's plane is identical: its PSNR is infinite).
* SSIM: `mean` is the mean of per-frame `All`; `y`, `u`, `v` the means of the per-plane values.

Anything not measured is `None`, never 0: without libvmaf there is no VMAF.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ffwatt.runner.measure.commands import source_input_args
from ffwatt.runner.measure.processes import run_measured
from ffwatt.runner.plan.scenario import QualitySpec, Scenario

__all__ = ["VMAF_MODEL", "VMAF_4K_MODEL", "SCALER", "Comparison", "QualityStats", "QualityResult", "FrameScores",
           "vmaf_model_for", "scored_size", "compare_command", "parse_vmaf_log", "parse_psnr_log", "parse_ssim_log",
           "vmaf_frames", "psnr_frames", "ssim_frames", "percentile", "compare", "scenario_comparison", "measure",
           "mean_quality"]

VMAF_MODEL = "vmaf_v0.6.1"
VMAF_4K_MODEL = "vmaf_4k_v0.6.1"  # trained for 2160p viewed at 1.5 x the screen height
SCALER = "bicubic"
VMAF_LOG, PSNR_LOG, SSIM_LOG = "vmaf.json", "psnr.log", "ssim.log"
INDEX_RATE = 25  # frames/s of the nominal timestamps when frames are paired by index
MSE_POOLED, FRAME_MEAN = "mse", "frame_mean"  # how a `mean` pools the frames


def vmaf_model_for(width: int, height: int) -> str:
    """The VMAF model for scoring at `width`x`height`: the 4k model at 2160p and above (3840 wide or 2160 high)."""
    return VMAF_4K_MODEL if width >= 3840 or height >= 2160 else VMAF_MODEL


def scored_size(resolution: str | tuple[int, int], reference: tuple[int, int],
                distorted: tuple[int, int]) -> tuple[int, int]:
    """The size a pair is scored at: `"source"` the reference's, `"encode"` the distorted's, or a fixed (W, H)."""
    if resolution == "source":
        return reference
    if resolution == "encode":
        return distorted
    if isinstance(resolution, tuple):
        return resolution
    raise ValueError(f"quality resolution must be source, encode or WxH, got {resolution!r}")


@dataclass(frozen=True)
class Comparison:
    """How one pair is compared: both at `width`x`height` (scaled with `scaler`), VMAF with `model`; both
    retimed to `fps` frames/s when it is set (a scenario's rate), else paired frame by frame (`ffwatt score`)."""

    width: int
    height: int
    model: str
    fps: float | None = None
    scaler: str = SCALER

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class QualityStats:
    """Pooled scores of one metric; `pooling` says how `mean` pools the frames (`mse` or `frame_mean`)."""

    mean: float | None = None
    harmonic_mean: float | None = None
    min: float | None = None
    p1: float | None = None
    frames: int = 0
    pooling: str | None = None
    frame_mean: float | None = None  # mean of per-frame values where `mean` pools otherwise (PSNR)
    y: float | None = None  # per plane: mean of per-frame values
    u: float | None = None
    v: float | None = None

    def as_dict(self, *, model: str | None = None, keys: Sequence[str] = ("mean", "min")) -> dict:
        out = {k: getattr(self, k) for k in keys}
        if model is not None:
            out["model"] = model
        return out


@dataclass(frozen=True)
class FrameScores:
    """Per-frame scores as the logs give them, in frame order; a metric not measured is an empty list."""

    vmaf: list[float] = field(default_factory=list)
    psnr: list[dict[str, float]] = field(default_factory=list)  # keys psnr_avg, psnr_y, psnr_u, psnr_v, mse_avg...
    ssim: list[dict[str, float]] = field(default_factory=list)  # keys Y, U, V, All


@dataclass(frozen=True)
class QualityResult:
    vmaf: QualityStats | None
    psnr: QualityStats | None
    ssim: QualityStats | None
    cpu_seconds: float
    comparison: Comparison | None = None
    frames: FrameScores = field(default_factory=FrameScores)


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


def compare_command(
    ffmpeg: str,
    distorted_input: Sequence[str],
    reference_input: Sequence[str],
    comparison: Comparison,
    log_dir: Path,
    *,
    vmaf: bool = True,
    psnr: bool = True,
    ssim: bool = True,
    threads: int | None = None,
) -> list[str]:
    """argv scoring input 0 (`distorted_input`: its input options and `-i`) against input 1 (`reference_input`)
    as `comparison` says; the metric logs go to `log_dir`."""
    metrics = [m for m, on in (("vmaf", vmaf), ("psnr", psnr), ("ssim", ssim)) if on]
    if not metrics:
        raise ValueError("no quality metric to compute")
    n = len(metrics)
    if comparison.fps is not None:
        common = ["setpts=PTS-STARTPTS",  # both start at 0, so frame pairs line up whatever each file's start time
                  f"fps={comparison.fps:g}"]  # the same frame rate on both sides (a rung's own rate is resampled)
    else:
        # Frame n pairs with frame n: timestamps become n / 25 s on both sides, whatever each container
        # stored (Matroska rounds to ms, MP4 does not), so no pair is off by one.
        common = [f"setpts=N/({INDEX_RATE}*TB)"]
    common += [f"scale={comparison.width}:{comparison.height}:flags={comparison.scaler}",  # the scored size
               "format=yuv420p"]  # 8-bit 4:2:0 on both sides
    if n > 1:
        common.append(f"split={n}")  # one copy per metric: the inputs are decoded once
    graph = ["[0:v]" + ",".join(common) + "".join(f"[d{i}]" for i in range(n)),
             "[1:v]" + ",".join(common) + "".join(f"[r{i}]" for i in range(n))]
    sync = "shortest=1:repeatlast=0"  # compare frame pairs only: never repeat the last frame of a shorter input
    for i, metric in enumerate(metrics):
        if metric == "vmaf":
            log_path = _escape(str(log_dir / VMAF_LOG))
            opts = (f"model=version={comparison.model}:log_fmt=json:log_path={log_path}"
                    f":n_threads={threads or os.cpu_count() or 1}")
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
        *distorted_input,  # input 0: the encoder's output (distorted)
        *reference_input,  # input 1: the reference
        "-filter_complex", ";".join(graph),
        "-f", "null", "-",  # nothing to write: the filters log the scores
    ]


# --------------------------------------------------------------------------
# logs


def vmaf_frames(text: str) -> list[float]:
    """Per-frame VMAF from libvmaf's `log_fmt=json` output."""
    doc = json.loads(text)
    return [float(f["metrics"]["vmaf"]) for f in doc.get("frames", []) if "vmaf" in f.get("metrics", {})]


def parse_vmaf_log(text: str) -> QualityStats:
    """Pooled VMAF and its 1st percentile from libvmaf's `log_fmt=json` output."""
    doc = json.loads(text)
    scores = vmaf_frames(text)
    pooled = doc.get("pooled_metrics", {}).get("vmaf", {})

    def pick(key: str, fallback):
        value = pooled.get(key)
        return float(value) if isinstance(value, (int, float)) else fallback

    mean = pick("mean", sum(scores) / len(scores) if scores else None)
    hmean = pick("harmonic_mean", None)
    low = pick("min", min(scores) if scores else None)
    return QualityStats(mean=mean, harmonic_mean=hmean, min=low, p1=percentile(scores, 1), frames=len(scores),
                        pooling=FRAME_MEAN)


_KV = re.compile(r"(\w+):(\S+)")


def _stats_lines(text: str, key: str) -> list[dict[str, float]]:
    """The `key:value` pairs of each stats-file line that has `key` (`inf` parses as infinity)."""
    out = []
    for line in text.splitlines():
        fields = dict(_KV.findall(line))
        if key in fields:
            try:
                out.append({k: float(v) for k, v in fields.items()})
            except ValueError:
                continue
    return out


def psnr_frames(text: str) -> list[dict[str, float]]:
    """Per-frame fields of the psnr filter's stats file (`n`, `mse_avg`, `psnr_y`...)."""
    return _stats_lines(text, "mse_avg")


def ssim_frames(text: str) -> list[dict[str, float]]:
    """Per-frame fields of the ssim filter's stats file (`n`, `Y`, `U`, `V`, `All`)."""
    return _stats_lines(text, "All")


def _psnr_of_mse(mse: float, max_value: float = 255.0) -> float | None:
    return None if mse <= 0 else 10 * math.log10(max_value * max_value / mse)


def _frame_mean(values: Sequence[float]) -> float | None:
    """Mean of per-frame values; None without values or when one is infinite (an identical frame's PSNR)."""
    if not values or not all(math.isfinite(v) for v in values):
        return None
    return sum(values) / len(values)


def parse_psnr_log(text: str) -> QualityStats:
    """PSNR from the psnr filter's stats file: `mean` MSE-pooled, `frame_mean` and `y`, `u`, `v` per-frame means,
    `min` the lowest per-frame `psnr_avg`."""
    frames = psnr_frames(text)
    if not frames:
        return QualityStats()
    mses = [f["mse_avg"] for f in frames]
    psnrs = [f["psnr_avg"] for f in frames if math.isfinite(f.get("psnr_avg", math.inf))]

    def plane(key: str) -> float | None:
        return _frame_mean([f[key] for f in frames]) if all(key in f for f in frames) else None

    return QualityStats(mean=_psnr_of_mse(sum(mses) / len(mses)), min=min(psnrs) if psnrs else None,
                        p1=percentile(psnrs, 1), frames=len(frames), pooling=MSE_POOLED,
                        frame_mean=plane("psnr_avg"), y=plane("psnr_y"), u=plane("psnr_u"), v=plane("psnr_v"))


def parse_ssim_log(text: str) -> QualityStats:
    """SSIM from the ssim filter's stats file: mean and min of the per-frame `All`, and per-plane means."""
    frames = ssim_frames(text)
    if not frames:
        return QualityStats()
    values = [f["All"] for f in frames]

    def plane(key: str) -> float | None:
        return _frame_mean([f[key] for f in frames]) if all(key in f for f in frames) else None

    return QualityStats(mean=sum(values) / len(values), min=min(values), p1=percentile(values, 1),
                        frames=len(values), pooling=FRAME_MEAN, y=plane("Y"), u=plane("U"), v=plane("V"))


def compare(ffmpeg: str, distorted_input: Sequence[str], reference_input: Sequence[str], comparison: Comparison,
            log_dir: Path, *, vmaf: bool, psnr: bool = True, ssim: bool = True, timeout: float,
            what: str) -> QualityResult:
    """Run the one quality pass; `EncodeError` (a `RunnerError`) when ffmpeg fails."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in (VMAF_LOG, PSNR_LOG, SSIM_LOG):
        (log_dir / name).unlink(missing_ok=True)
    argv = compare_command(ffmpeg, distorted_input, reference_input, comparison, log_dir, vmaf=vmaf, psnr=psnr,
                           ssim=ssim)
    cpu = run_measured(argv, log_dir / "quality.log", timeout, what=f"quality of {what}")

    def text(name: str, on: bool) -> str | None:
        path = log_dir / name
        return path.read_text(encoding="utf-8", errors="replace") if on and path.exists() else None

    vmaf_text, psnr_text, ssim_text = text(VMAF_LOG, vmaf), text(PSNR_LOG, psnr), text(SSIM_LOG, ssim)
    return QualityResult(
        vmaf=parse_vmaf_log(vmaf_text) if vmaf_text is not None else None,
        psnr=parse_psnr_log(psnr_text) if psnr_text is not None else None,
        ssim=parse_ssim_log(ssim_text) if ssim_text is not None else None,
        cpu_seconds=cpu, comparison=comparison,
        frames=FrameScores(vmaf=vmaf_frames(vmaf_text) if vmaf_text else [],
                           psnr=psnr_frames(psnr_text) if psnr_text else [],
                           ssim=ssim_frames(ssim_text) if ssim_text else []))


def scenario_comparison(scenario: Scenario, *, source_size: tuple[int, int],
                        encode_size: tuple[int, int]) -> Comparison:
    """How an output of `scenario` (`encode_size`) is scored against its source (`source_size`: a file's own
    size, a lavfi source's generated size), as the scenario's `quality:` says."""
    spec = scenario.quality or QualitySpec()
    width, height = scored_size(spec.scored_at(), source_size, encode_size)
    return Comparison(width=width, height=height, model=spec.model or vmaf_model_for(width, height), fps=scenario.fps)


def measure(ffmpeg: str, scenario: Scenario, distorted: Path, log_dir: Path, *, source_size: tuple[int, int],
            encode_size: tuple[int, int], vmaf: bool, psnr: bool = True, ssim: bool = True,
            timeout: float) -> QualityResult:
    """Score one output of `scenario` against the scenario's source read again (a lavfi source regenerated: its
    patterns are deterministic)."""
    comparison = scenario_comparison(scenario, source_size=source_size, encode_size=encode_size)
    return compare(ffmpeg, ["-i", str(distorted)], source_input_args(scenario), comparison, log_dir, vmaf=vmaf,
                   psnr=psnr, ssim=ssim, timeout=timeout, what=distorted.name)


def mean_quality(stats: Sequence[QualityStats | None]) -> QualityStats | None:
    """Mean of each field over several outputs (a ladder's rungs); None when any is unknown."""
    known = [s for s in stats if s is not None]
    if not known or len(known) < len(stats):
        return None

    def avg(key: str) -> float | None:
        values = [getattr(s, key) for s in known]
        return None if any(v is None for v in values) else sum(values) / len(values)

    poolings = {s.pooling for s in known}
    return QualityStats(mean=avg("mean"), harmonic_mean=avg("harmonic_mean"), min=min_or_none(known),
                        p1=avg("p1"), frames=sum(s.frames for s in known),
                        pooling=poolings.pop() if len(poolings) == 1 else None, frame_mean=avg("frame_mean"),
                        y=avg("y"), u=avg("u"), v=avg("v"))


def min_or_none(stats: Sequence[QualityStats]) -> float | None:
    values = [s.min for s in stats]
    return None if any(v is None for v in values) else min(values)  # type: ignore[type-var]
