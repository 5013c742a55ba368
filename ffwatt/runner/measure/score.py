"""`ffwatt score DISTORTED REFERENCE`: score an existing pair with the runner's own quality pass.

The same graph, parsers and pooling as a scenario's quality (ffwatt/runner/measure/quality.py `compare`): VMAF
(mean, harmonic mean, min, 1 % low), PSNR (MSE-pooled, per-frame mean, per plane) and SSIM in
one ffmpeg pass. Before that pass both files are probed (ffwatt/runner/measure/media_probe.py `probe_video`): a missing file,
a file without a video stream, frame counts that differ, or frame rates that differ is a `RunnerError`
(the CLI prints `error: ...` and exits 2), since frames are paired by index: a count or rate mismatch
means the pairs would not be the same pictures (100 frames at 12.5 fps against 100 at 25 fps pairs
second 8 with second 4). `force=True` (`--force`) scores a rate mismatch anyway: the distorted is
resampled to the reference's rate (ffmpeg's `fps` filter on both inputs, a no-op on the reference)
and the result says so (`ScoreResult.resampled`).

Where the pair is scored (`resolution`): "source" (default) at the reference's own size, the
distorted upscaled with bicubic; "encode" at the distorted's size, the reference scaled to it;
or a fixed "WxH". The VMAF model follows that size unless one is named.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure import quality as q
from ffwatt.runner.measure.ffmpeg_probe import probe
from ffwatt.runner.measure.media_probe import VideoInfo, probe_video

__all__ = ["ScoreResult", "RATE_TOLERANCE", "parse_resolution_choice", "rate_problem", "score", "as_json", "as_text", "frames_csv", "write_frames_csv"]

log = logging.getLogger("ffwatt.score")

TIMEOUT_PER_FRAME = 2.0  # seconds: VMAF at 2160p runs at a few frames/s on one core


@dataclass(frozen=True)
class ScoreResult:
    distorted: VideoInfo
    reference: VideoInfo
    scored_at: str  # source, encode or WxH, as asked
    result: q.QualityResult
    resampled: str | None = None  # `--force`: how the distorted's frame rate was changed to the reference's


RATE_TOLERANCE = 1e-3
"""Relative difference under which two frame rates are the same (a header's 29.97 is 30000/1001)."""


def rate_problem(dist: VideoInfo, ref: VideoInfo) -> str | None:
    """Why the pair's frame rates do not pair frame by frame (None when they do, or one is unknown)."""
    if dist.fps is None or ref.fps is None or math.isclose(dist.fps, ref.fps, rel_tol=RATE_TOLERANCE):
        return None
    return (f"frame rates differ: distorted {dist.path} is {dist.fps:g} fps, reference {ref.path} is {ref.fps:g} fps; "
            "frames are compared in pairs, so frame n of one is not frame n of the other. Re-encode at the "
            "reference's rate, or give --force to resample the distorted to it")


def parse_resolution_choice(text: str) -> str | tuple[int, int]:
    """`--resolution`: "source", "encode" or "WxH" (even sizes, as the runner's scenarios)."""
    if text in ("source", "encode"):
        return text
    try:
        width, height = formulas.parse_resolution(text)
    except ValueError:
        raise RunnerError(f"--resolution: expected source, encode or WxH like 1920x1080, got {text!r}") from None
    return width, height


def score(ffmpeg: str, distorted: Path, reference: Path, *, resolution: str = "source", model: str | None = None,
          work_dir: Path | None = None, force: bool = False) -> ScoreResult:
    """Score `distorted` against `reference`; `RunnerError` for a bad input, `EncodeError` when ffmpeg fails.
    `force`: frame rates that differ are resampled (the distorted to the reference's) instead of refused."""
    where = parse_resolution_choice(resolution)
    info = probe(ffmpeg)  # a missing binary is named here, and an ffmpeg without libvmaf still gives PSNR, SSIM
    vmaf, psnr, ssim = info.has_libvmaf, "psnr" in info.filters, "ssim" in info.filters
    if not (vmaf or psnr or ssim):
        raise RunnerError(f"ffmpeg at {ffmpeg} has none of the libvmaf, psnr, ssim filters")
    if not vmaf:
        log.warning("ffmpeg at %s has no libvmaf filter: VMAF is not measured (PSNR and SSIM are)", ffmpeg)
    dist = probe_video(ffmpeg, distorted, what="distorted")
    ref = probe_video(ffmpeg, reference, what="reference")
    rates = rate_problem(dist, ref)
    if rates is not None and not force:
        raise RunnerError(rates)
    if rates is None and dist.frames is not None and ref.frames is not None and dist.frames != ref.frames:
        raise RunnerError(f"frame counts differ: distorted {distorted} has {dist.frames}, reference {reference} has "
                          f"{ref.frames}; frames are compared in pairs, so cut both to the same frames first")
    resampled = None
    if rates is not None:
        resampled = (f"--force: the distorted ({dist.fps:g} fps) was resampled to the reference's {ref.fps:g} fps "
                     "(frames repeated or dropped by ffmpeg's fps filter) before pairing")
        log.warning("%s", resampled)
    width, height = q.scored_size(where, ref.size, dist.size)
    comparison = q.Comparison(width=width, height=height, model=model or q.vmaf_model_for(width, height),
                              fps=ref.fps if resampled else None)
    frames = ref.frames or dist.frames or 1
    with tempfile.TemporaryDirectory(prefix="ffwatt-score-", dir=work_dir) as tmp:
        result = q.compare(ffmpeg, ["-i", str(distorted)], ["-i", str(reference)], comparison, Path(tmp), vmaf=vmaf,
                           psnr=psnr, ssim=ssim, timeout=60 + TIMEOUT_PER_FRAME * frames, what=distorted.name)
    return ScoreResult(distorted=dist, reference=ref, scored_at=resolution, result=result, resampled=resampled)


def _stats(stats: q.QualityStats | None, keys: Sequence[str]) -> dict[str, Any] | None:
    return None if stats is None else {k: getattr(stats, k) for k in keys}


def as_json(s: ScoreResult) -> dict[str, Any]:
    """The machine-readable summary (`--json`): sizes, scaler, model, and each metric's pooled figures."""
    r, c = s.result, s.result.comparison
    assert c is not None
    return {
        "distorted": {"path": s.distorted.path, "resolution": s.distorted.resolution, "frames": s.distorted.frames},
        "reference": {"path": s.reference.path, "resolution": s.reference.resolution, "frames": s.reference.frames},
        "scored_at": s.scored_at, "resolution": c.size, "scaler": c.scaler, "resampled": s.resampled,
        "vmaf": None if r.vmaf is None else {**_stats(r.vmaf, ("mean", "harmonic_mean", "min", "p1", "frames")),
                                             "model": c.model, "pooling": r.vmaf.pooling},
        "psnr": _stats(r.psnr, ("mean", "pooling", "frame_mean", "y", "u", "v", "min", "p1", "frames")),
        "ssim": _stats(r.ssim, ("mean", "pooling", "y", "u", "v", "min", "p1", "frames")),
    }


def _num(value: float | None, digits: int = 3) -> str:
    return "unknown" if value is None else f"{value:.{digits}f}"


def _rate(info: VideoInfo) -> str:
    return "" if info.fps is None else f"{info.fps:g} fps, "


def as_text(s: ScoreResult) -> str:
    """The summary for a person."""
    r, c = s.result, s.result.comparison
    assert c is not None
    lines = [f"distorted  {s.distorted.path} ({s.distorted.resolution}, {_rate(s.distorted)}{s.distorted.frames} "
             "frames)",
             f"reference  {s.reference.path} ({s.reference.resolution}, {_rate(s.reference)}{s.reference.frames} "
             "frames)",
             f"scored at  {c.size} ({s.scored_at}; {c.scaler} scaling)"]
    if s.resampled:
        lines.append(f"resampled  {s.resampled}")
    if r.vmaf is not None:
        lines.append(f"VMAF       mean {_num(r.vmaf.mean)}  harmonic mean {_num(r.vmaf.harmonic_mean)}  "
                     f"min {_num(r.vmaf.min)}  1% low {_num(r.vmaf.p1)}  ({c.model}, {r.vmaf.frames} frames)")
    if r.psnr is not None:
        lines.append(f"PSNR dB    Y {_num(r.psnr.y)}  U {_num(r.psnr.u)}  V {_num(r.psnr.v)} (per-frame means)  "
                     f"YUV MSE-pooled {_num(r.psnr.mean)}  per-frame mean {_num(r.psnr.frame_mean)}")
    if r.ssim is not None:
        lines.append(f"SSIM       Y {_num(r.ssim.y, 5)}  U {_num(r.ssim.u, 5)}  V {_num(r.ssim.v, 5)}  "
                     f"All {_num(r.ssim.mean, 5)} (per-frame means)  min {_num(r.ssim.min, 5)}")
    return "\n".join(lines) + "\n"


_CSV_COLUMNS = ("frame", "vmaf", "psnr_y", "psnr_u", "psnr_v", "psnr_avg", "mse_avg", "ssim_y", "ssim_u", "ssim_v",
                "ssim_all")


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return "inf" if math.isinf(value) else repr(value)


def frames_csv(result: q.QualityResult) -> str:
    """Per-frame scores, one row per frame pair (0-based), an empty cell where a metric was not measured."""
    f = result.frames
    count = max(len(f.vmaf), len(f.psnr), len(f.ssim))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for i in range(count):
        p = f.psnr[i] if i < len(f.psnr) else {}
        s = f.ssim[i] if i < len(f.ssim) else {}
        writer.writerow([i, _cell(f.vmaf[i] if i < len(f.vmaf) else None),
                         *(_cell(p.get(k)) for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_avg", "mse_avg")),
                         *(_cell(s.get(k)) for k in ("Y", "U", "V", "All"))])
    return out.getvalue()


def write_frames_csv(path: Path, result: q.QualityResult) -> None:
    """`frames_csv` to `path`; `RunnerError` naming the file when it cannot be written."""
    try:
        path.write_text(frames_csv(result), encoding="utf-8")
    except OSError as exc:
        raise RunnerError(f"--frames-csv: cannot write {path}: {exc.strerror or exc}") from None
