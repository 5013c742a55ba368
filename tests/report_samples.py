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
