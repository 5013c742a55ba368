"""A small results file for the report's tests: two encoders x four bitrates with
repetitions, an idle baseline with power samples, and a capacity sweep."""

from __future__ import annotations

import json
from pathlib import Path


def scenario(name: str, encoder: str, kbps: float, vmaf: float, reps: list[float]) -> dict:
    return {"name": name, "encoder": encoder, "preset": "fast", "resolution": "320x180", "fps": 30, "duration": 4,
            "bitrate": f"{kbps:g}k", "measured_bitrate_bps": kbps * 1000, "vmaf_score": vmaf,
            "vmaf": {"mean": vmaf, "harmonic_mean": vmaf - 1, "min": vmaf - 10}, "psnr_score": 30 + vmaf / 10,
            "ssim_score": 0.95, "avg_fps": 60.0, "speed": 2.0, "total_frames": 120, "dropped_frames": 0,
            "start_time": 1000.0, "end_time": 1002.0, "energy_source": "rapl", "cpu_core_seconds": 3.0,
            "energy_joules": sum(reps) / len(reps),
            "repetitions": [{"energy_joules": j, "avg_fps": 60.0 + i} for i, j in enumerate(reps)]}


def write_results(path: Path, scale: float = 1.0) -> Path:
    """Write the sample run to `path`; `scale` multiplies every encode's energy."""
    scenarios = [{"name": "baseline idle", "encoder": "none", "duration": 4, "start_time": 990.0,
                  "end_time": 994.0, "power_watts": [10.0, 11.0, 10.0, 12.0, 10.0], "step_seconds": 1.0}]
    for enc, rates, vmafs in (("x264", [200, 300, 450, 700], [70, 80, 88, 94]),
                              ("x265", [120, 180, 280, 450], [68, 78, 87, 93])):
        for r, q in zip(rates, vmafs, strict=True):
            base = 100.0 if enc == "x264" else 160.0
            e = base * scale * (1 + q / 100)
            scenarios.append(scenario(f"{enc} @ {r}k", enc, r, q, [e - 2, e, e + 2]))
    sweep = {"name": "x264 capacity", "knee_streams": 2, "marginal_joules_per_stream": 50.0,
             "steps": [{"streams": n, "scenario": f"{n} streams", "energy_joules": 100.0 + 50 * n,
                        "min_speed": 2.5 / n, "held_real_time": n <= 2} for n in (1, 2, 4)]}
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
                                "environment": {"hostname": "bench", "energy_meter": "rapl"},
                                "scenarios": scenarios, "sweeps": [sweep]}))
    return path


# ---------------------------------------------------------------- a corpus, and independent references


def encode(clip: str | None, encoder: str, resolution: str, kbps: float, vmaf: float, psnr: float, joules: float, *,
           native: str | None = None, clip_class: str | None = None, source: str = "rapl", preset: str = "p",
           duration: float = 4.0, **extra) -> dict:
    """One encode of a results file: measured bitrate, VMAF and PSNR, `joules` of energy from `source`; the
    clip's native size `native` (its source's width x height) and `clip_class` when given."""
    s = {"name": f"{clip} {encoder} {resolution} @ {kbps:g}k", "encoder": encoder, "preset": preset,
         "resolution": resolution, "fps": 25, "duration": duration, "bitrate": f"{kbps:g}k",
         "measured_bitrate_bps": kbps * 1000.0, "vmaf_score": vmaf, "psnr_score": psnr, "energy_joules": joules,
         "energy_source": source, "start_time": 1000.0, "end_time": 1000.0 + duration}
    if clip is not None:
        s["source"] = {"name": clip, "path": f"{clip}.mkv"}
        if native:
            width, height = native.split("x")
            s["source"].update(width=int(width), height=int(height))
        if clip_class:
            s["source"]["class"] = clip_class
    s.update(extra)
    return s


def write_doc(path: Path, scenarios: list[dict], **header) -> Path:
    """A format-2 results file of `scenarios` with the top-level `header` fields (anchor, meter...)."""
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00", **header,
                                "scenarios": scenarios}))
    return path


def pchip_bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float:
    """BD-rate in % of `test` against `anchor`, each [(bits/s, quality)], the JCT-VC way with scipy alone:
    log10(rate) as a PCHIP of quality per curve, both integrated over the common quality range, the mean log
    difference d as (10^d - 1) x 100."""
    import math

    from scipy.interpolate import PchipInterpolator

    def interpolant(points):
        points = sorted(points, key=lambda p: p[1])
        qualities = [q for _, q in points]
        return PchipInterpolator(qualities, [math.log10(r) for r, _ in points]), qualities[0], qualities[-1]

    fa, a_low, a_high = interpolant(anchor)
    ft, t_low, t_high = interpolant(test)
    low, high = max(a_low, t_low), min(a_high, t_high)
    return (10 ** ((ft.integrate(low, high) - fa.integrate(low, high)) / (high - low)) - 1) * 100


def scipy_upper_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The upper-left convex hull of (x, y) points with scipy's ConvexHull (Qhull): the hull's vertices on or
    above the chord from the leftmost point to the highest one, sorted by x."""
    import numpy as np
    from scipy.spatial import ConvexHull

    hull = ConvexHull(np.array(points, dtype=float))
    (x0, y0) = min(points, key=lambda p: (p[0], -p[1]))
    (x1, y1) = max(points, key=lambda p: (p[1], -p[0]))
    upper = [points[i] for i in hull.vertices
             if x0 <= points[i][0] <= x1 and (x1 - x0) * (points[i][1] - y0) - (y1 - y0) * (points[i][0] - x0) >= 0]
    return sorted(upper)


def pchip_at(points: list[tuple[float, float]], target: float) -> float:
    """The value at quality `target` of log10(value) as a PCHIP of quality over [(value, quality)] (scipy)."""
    import math

    from scipy.interpolate import PchipInterpolator

    points = sorted(points, key=lambda p: p[1])
    return 10 ** float(PchipInterpolator([q for _, q in points], [math.log10(v) for v, _ in points])(target))
