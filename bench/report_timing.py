"""How long `ffwatt report` takes on a run of 200 scenarios (issue 23: under 5 s).

The run is written here: 2 clips x 4 encoders x 5 resolutions x 5 bitrates = 200 encodes,
plus an idle baseline, each with 3 repetitions and 30 power samples, so every chart and
every BD figure is drawn. `make_report` runs in a fresh subprocess each time (matplotlib's
import is part of what a user waits for); the median of `repeats` runs is the figure.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import REPO

SCENARIOS = 200
CLIPS = ("bikes", "bbb")
ENCODERS = ("libx264", "libx265", "libsvtav1", "h264_nvenc")
RESOLUTIONS = ("640x360", "960x540", "1280x720", "1600x900", "1920x1080")
KBPS = (500, 1000, 2000, 4000, 8000)


def write_run(path: Path) -> Path:
    """A results file of `SCENARIOS` encodes with curves that rise with bitrate and size."""
    scenarios = [{"name": "idle baseline", "encoder": "none", "duration": 10, "energy_joules": 300.0,
                  "energy_source": "rapl", "start_time": 1000.0, "end_time": 1010.0}]
    t = 1010.0
    for c, clip in enumerate(CLIPS):
        for e, encoder in enumerate(ENCODERS):
            for r, resolution in enumerate(RESOLUTIONS):
                for b, kbps in enumerate(KBPS):
                    vmaf = min(99.0, 40 + 9 * b + 3 * r - 4 * c + 2 * e - 0.6 * max(0, r - b) ** 2)
                    joules = 200.0 + 40 * r + 10 * b + 30 * e
                    scenarios.append({
                        "name": f"{clip} {encoder} {resolution} @ {kbps}k", "encoder": encoder, "preset": "medium",
                        "resolution": resolution, "fps": 30, "duration": 10, "bitrate": f"{kbps}k",
                        "measured_bitrate_bps": kbps * 1000 * (1 + 0.01 * e), "vmaf_score": vmaf,
                        "psnr_score": 25 + vmaf / 5, "energy_joules": joules, "energy_source": "rapl",
                        "cpu_core_seconds": joules / 20, "start_time": t, "end_time": t + 10,
                        "power_watts": [joules / 10 + (k % 3) for k in range(30)], "step_seconds": 10 / 29,
                        "repetitions": [{"energy_joules": joules * f} for f in (0.98, 1.0, 1.02)],
                        "source": {"name": clip},
                    })
                    t += 11
    assert len(scenarios) == SCENARIOS + 1
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
                                "scenarios": scenarios}))
    return path


_CHILD = """
import sys, time
from pathlib import Path
from ffwatt.report.build import ReportOptions, make_report
make_report(ReportOptions(results=(Path(sys.argv[1]),), out=Path(sys.argv[2])))
print(time.process_time())
"""


def time_report(results: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `make_report` in a fresh interpreter, imports
    included; the CPU time is the steadier figure on a shared machine."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, str(results), str(out)], cwd=REPO, check=True,
                          timeout=300, capture_output=True, text=True)
    return time.perf_counter() - began, float(done.stdout.strip().splitlines()[-1])


def report_section(workdir: Path, repeats: int = 5, log=print) -> dict:
    results = write_run(workdir / "test_results_20260101_000000.json")
    wall, cpu = [], []
    for k in range(repeats):
        w, c = time_report(results, workdir / f"report-{k}")
        wall.append(w)
        cpu.append(c)
        log(f"  report: {SCENARIOS} scenarios in {w:.2f} s ({c:.2f} s of CPU)")
    return {"scenarios": SCENARIOS, "seconds": wall, "cpu_seconds": cpu, "median_seconds": statistics.median(wall),
            "median_cpu_seconds": statistics.median(cpu)}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(report_section(Path(tmp), repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
