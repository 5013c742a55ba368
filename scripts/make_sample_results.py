#!/usr/bin/env python3
"""Write the sample results files in test_results/ (deterministic).

    python scripts/make_sample_results.py [--out DIR]

Two files, one per shape of docs/results-format.md, each with the four
scenarios of the older stack:

* test_results_20260115_100000.json: shape 1, as the benchmark runner writes it;
* test_results_20260115_120000.json: shape 2, enriched (power and CPU samples,
  quality scores, frame counts) with the fields of format version 2 (VMAF
  details, measured bitrate, speed, repetitions); the newest, so the exporters
  serve it. Its energy is labelled `simulated`: nothing here was measured. The power
  samples are each scenario's own (attributed) power; `machine_energy_joules` is the
  simulated machine's over the same window (other tenants drew the rest) and
  `energy_attribution` the rule (issue 22); the runner-shape file has neither (an older
  run that did not record them). The enriched file's encodes name their clip (`source`, lavfi
  testsrc2); the runner-shape file names none (an older run: its clip label is "unknown").

The "noise" on the power and CPU samples is a fixed sum of sines, so running
this again writes byte-identical files (a unit test checks that the committed
copies are current). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime
from pathlib import Path

STEP_SECONDS = 5.0
ENCODE_SECONDS = 300
BASELINE_SECONDS = 120
GAP_SECONDS = 15  # pause between scenarios
FPS = 30

# name, bitrate, resolution, streams, mean watts, watts amplitude, mean cores,
# cores amplitude, avg fps, dropped frames, vmaf, psnr, ssim, viewers
SCENARIOS = [
    ("2 streams @ 2500k", "2500k", "1280x720", 2, 110.0, 5.0, 3.1, 0.2, 29.94, 6, 93.4, 40.8, 0.978, 40),
    ("4 streams @ 5000k", "5000k", "1920x1080", 4, 180.0, 8.0, 7.6, 0.3, 29.91, 31, 95.9, 42.6, 0.986, 250),
    ("single stream @ 1500k", "1500k", "854x480", 1, 70.0, 3.0, 1.2, 0.1, 29.98, 2, 88.2, 38.1, 0.963, None),
    ("baseline idle", "0", None, 1, 45.0, 1.5, 0.05, 0.02, None, 0, None, None, None, None),
]

# Simulated machine energy per scenario over its attributed energy: the 16-core host ran other
# work beside each encode (fewer cores held, more left to the neighbours); the idle baseline had
# the machine to itself.
MACHINE_FACTOR = {"2 streams @ 2500k": 1.35, "4 streams @ 5000k": 1.18, "single stream @ 1500k": 1.62,
                  "baseline idle": 1.0}

LADDER_5000K = [
    {"resolution": "1920x1080", "fps": FPS},
    {"resolution": "1280x720", "fps": FPS},
    {"resolution": "854x480", "fps": FPS},
]


def _epoch(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=UTC).timestamp())


def _iso(stamp: str) -> str:
    return datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=UTC).isoformat()


def _wave(i: int, phase: float) -> float:
    """A fixed, bounded (-1..1) pattern standing in for measurement noise."""
    return 0.6 * math.sin(0.9 * i + phase) + 0.4 * math.sin(2.3 * i + 2.0 * phase)


def _series(count: int, mean: float, amplitude: float, phase: float, digits: int) -> list[float]:
    return [max(0.0, round(mean + amplitude * _wave(i, phase), digits)) for i in range(count)]


def _trapezoid(values: list[float], step: float) -> float:
    return step * (sum(values) - (values[0] + values[-1]) / 2)


def _schedule(stamp: str) -> list[tuple[int, int]]:
    """(start_time, end_time) of each scenario, run back to back after a short gap."""
    times = []
    start = _epoch(stamp) + GAP_SECONDS
    for scenario in SCENARIOS:
        duration = BASELINE_SECONDS if scenario[2] is None else ENCODE_SECONDS
        times.append((start, start + duration))
        start += duration + GAP_SECONDS
    return times


def runner_file(stamp: str) -> dict:
    """Shape 1: what the benchmark runner writes (no samples, optional scores)."""
    scenarios = []
    for scenario, (start, end) in zip(SCENARIOS, _schedule(stamp), strict=True):
        name, bitrate, resolution, streams = scenario[:4]
        vmaf, psnr = scenario[10], scenario[11]
        item: dict = {"name": name, "bitrate": bitrate}
        if resolution is None:  # the idle baseline encodes nothing
            item.update({"duration": end - start, "encoder": "none"})
        else:
            item.update(
                {
                    "resolution": resolution,
                    "fps": FPS,
                    "duration": end - start,
                    "encoder": "libx264",
                    "preset": "veryfast",
                }
            )
        item.update({"start_time": start, "end_time": end})
        item["outputs"] = LADDER_5000K if bitrate == "5000k" else None
        if vmaf is not None and streams > 1:  # the runner scored only some scenarios
            item["vmaf_score"] = round(vmaf - 0.3, 1)
            item["psnr_score"] = round(psnr - 0.2, 1)
        scenarios.append(item)
    return {"test_date": _iso(stamp), "scenarios": scenarios}


def enriched_file(stamp: str) -> dict:
    """Shape 2: enriched with samples, frame counts and quality scores."""
    scenarios = []
    for k, (scenario, (start, end)) in enumerate(zip(SCENARIOS, _schedule(stamp), strict=True)):
        (
            name,
            bitrate,
            resolution,
            streams,
            watts,
            watts_amp,
            cores,
            cores_amp,
            avg_fps,
            dropped,
            vmaf,
            psnr,
            ssim,
            viewers,
        ) = scenario
        duration = end - start
        samples = int(duration / STEP_SECONDS) + 1
        item: dict = {
            "name": name,
            "duration": duration,
            "bitrate": bitrate,
            "encoder_type": "libx264" if resolution is not None else "none",
        }
        if resolution is not None:
            width, height = (int(v) for v in resolution.split("x"))
            # total_frames: frames handled by the encoders, summed over all streams.
            total_frames = round(avg_fps * duration) * streams
            bitrate_bps = int(bitrate[:-1]) * 1000
            item.update(
                {
                    "resolution": resolution,
                    "fps": FPS,
                    "preset": "veryfast",
                    "mode": "file",
                    # the clip (issue 23): lavfi testsrc2, generated at the scenario's size and rate
                    "source": {"name": "testsrc2", "lavfi": "testsrc2"},
                    "vmaf": {"mean": vmaf, "harmonic_mean": round(vmaf - 0.4, 2), "min": round(vmaf - 11.5, 2),
                             "p1": round(vmaf - 6.2, 2), "model": "vmaf_v0.6.1"},
                    "quality_reference": {"reference": "source", "distorted": "encoder_output",
                                          "resolution": resolution, "scaler": "bicubic"},
                    # Simulated encoders land within a few % of their target bitrate.
                    "measured_bitrate_bps": round(bitrate_bps * (1.0 + 0.02 * _wave(k, 0.4)), 1),
                    "output_bytes": round(bitrate_bps * (1.0 + 0.02 * _wave(k, 0.4)) * duration * streams / 8),
                    "speed": round(avg_fps / FPS, 4),
                    "vmaf_score": vmaf,
                    "psnr_score": psnr,
                    "ssim_score": ssim,
                    "avg_fps": avg_fps,
                    "dropped_frames": dropped,
                    "total_frames": total_frames,
                    "pixels_processed": width * height * total_frames,
                }
            )
        else:
            item.update({"dropped_frames": 0, "total_frames": 0, "pixels_processed": 0})
        item.update(
            {
                "start_time": start,
                "end_time": end,
                "step_seconds": STEP_SECONDS,
                "power_watts": _series(samples, watts, watts_amp, 0.7 * k + 0.3, 1),
                "cpu_usage_cores": _series(samples, cores, cores_amp, 1.1 * k + 0.5, 2),
            }
        )
        if viewers is not None:
            item["viewers"] = viewers
        item["energy_source"] = "simulated"
        joules = _trapezoid(item["power_watts"], STEP_SECONDS)
        item["machine_energy_joules"] = round(joules * MACHINE_FACTOR[name], 1)
        item["energy_attribution"] = "exclusive" if resolution is None else "cpu-time-share"
        if resolution is not None:
            # The older stack's scenarios were live RTMP streams: a simulated live run, the
            # 4-stream one just falling behind real time.
            behind = 1 if streams == 4 else 0
            item.update({"mode": "live", "fell_behind_streams": behind,
                         "min_speed": 0.962 if behind else round(0.995 + 0.001 * k, 3),
                         "duplicated_frames": 3 * streams})
        if k == 0:
            # Three repetitions spread symmetrically around the samples' energy and the fps,
            # so their means are the scenario's own figures.
            # Each a round of its own, with its own window, machine energy and CPU time (issue 22).
            core_seconds = _trapezoid(item["cpu_usage_cores"], STEP_SECONDS)
            item["repetitions"] = [
                {"energy_joules": round(joules * f, 1), "avg_fps": round(avg_fps + d, 2), "duration": duration,
                 "machine_energy_joules": round(joules * f * MACHINE_FACTOR[name], 1),
                 "cpu_core_seconds": round(core_seconds * f, 2),
                 "start_time": start + r * 3600, "end_time": end + r * 3600}
                for r, (f, d) in enumerate(((0.985, -0.04), (1.0, 0.0), (1.015, 0.04)))
            ]
        scenarios.append(item)
    metadata = {
        "test_date": _iso(stamp),
        "hostname": "bench-01",
        "ffmpeg_version": "5.1",
        "sampler": "power and CPU sampled every 5 s over each scenario",
        "generator": "scripts/make_sample_results.py (sample data)",
    }
    environment = {"hostname": "bench-01", "cpu_model": "simulated", "cpu_cores": 16,
                   "ffmpeg_version": "5.1", "energy_meter": "simulated"}
    # The three encodes as the steps of one simulated capacity sweep (1, 2, 4 streams).
    by_streams = sorted((item for item in scenarios if item.get("mode") == "live"), key=lambda i: _streams(i))
    steps = [{"streams": _streams(item), "scenario": item["name"],
              "held_real_time": item["fell_behind_streams"] == 0,
              "energy_joules": round(_trapezoid(item["power_watts"], STEP_SECONDS), 1),
              "min_speed": item["min_speed"], "vmaf": item["vmaf_score"]} for item in by_streams]
    sweep = {"name": "older stack scenarios", "steps": steps, "knee_streams": 2,
             "marginal_joules_per_stream": round(_slope([s["streams"] for s in steps],
                                                        [s["energy_joules"] for s in steps]), 1)}
    return {"format_version": 2, "test_metadata": metadata, "environment": environment,
            "planned_scenarios": len(scenarios), "scenarios": scenarios, "sweeps": [sweep]}


def _streams(item: dict) -> int:
    return next(s[3] for s in SCENARIOS if s[0] == item["name"])


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope (the formula of contract.formulas.marginal_energy_per_stream; this
    script stays standard library only and independent of the code it feeds)."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


FILES = {
    "test_results_20260115_100000.json": lambda: runner_file("20260115_100000"),
    "test_results_20260115_120000.json": lambda: enriched_file("20260115_120000"),
}


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "test_results",
        help="directory to write into (default: test_results/ of the repository)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in FILES.items():
        (args.out / name).write_text(render(build()), encoding="utf-8")
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
