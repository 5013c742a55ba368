"""Runner: what measuring costs while an encode runs, and the quality pass per frame.

* overhead: `ffwatt run` of one libx264 encode of testsrc2 (no quality pass) with the
  cpu exporter (fake powercap tree) and the ffmpeg exporter (the runner forwards its
  progress) as separate processes. A poller reads /proc every 0.2 s; over the window
  between the scenario-start and scenario-done events it takes the CPU seconds of the
  two exporters and of the runner process itself (its own utime + stime, not its
  children), against the encode's CPU seconds from the results file. Target: < 1 %.
* in-process meter (issue 22): `ffwatt run` of the same encode with no exporter at all: the
  runner reads RAPL itself (a simulated powercap tree, so the reader does its real sysfs
  work; NVML is tried too) and /proc/stat every `--sample-interval`. The runner process's
  own CPU seconds over the scenario window (meter thread, progress reader, wait4 polling)
  against the encode's. Target: < 1 %.
* quality: the real runner on short 1280x720 and 1920x1080 encodes with the quality pass
  on (VMAF with libvmaf threads, PSNR and SSIM in one ffmpeg run); the results file's
  `quality_cpu_seconds` divided by the frames scored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from bench.procs import REPO, ExporterProcess
from bench.sources import fake_powercap
from ffwatt.readers.proc import read_stat

POLL_SECONDS = 0.2


def _own_cpu_seconds(pid: int) -> float | None:
    """utime + stime of the process itself (children excluded), from /proc/<pid>/stat."""
    stat = read_stat(pid)
    return None if stat is None else stat.own_seconds


class _Poller:
    """(time, {pid: cpu seconds}) every POLL_SECONDS until stopped."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.samples: list[tuple[float, dict[str, float | None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), {n: _own_cpu_seconds(p) for n, p in self.pids.items()}))
            self._stop.wait(POLL_SECONDS)

    def __enter__(self) -> _Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def at(self, when: float) -> dict[str, float | None]:
        """The sample nearest to `when`."""
        return min(self.samples, key=lambda s: abs(s[0] - when))[1]


def _write_scenarios(path: Path, scenarios: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"scenarios": scenarios}, sort_keys=False))
    return path


def _results(results_dir: Path) -> dict:
    return json.loads(sorted(results_dir.glob("test_results_*.json"))[-1].read_text())


def overhead(work: Path, *, seconds: int = 20, resolution: str = "1280x720", log=print) -> dict:
    logs = work / "logs"
    tree = fake_powercap(work / "powercap")
    results_dir = work / "overhead-results"
    events = work / "overhead-events.ndjson"
    scenarios = _write_scenarios(work / "overhead.yml", [{
        "name": f"libx264 {resolution}", "encoder": "libx264", "preset": "veryfast", "bitrate": "3000k",
        "resolution": resolution, "fps": 30, "duration": seconds, "source": "testsrc2"}])
    with ExporterProcess("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "", workdir=logs) as cpu, \
            ExporterProcess("ffmpeg", workdir=logs) as ffmpeg:
        command = [sys.executable, "-m", "ffwatt", "run", str(scenarios), "--results-dir", str(results_dir),
                   "--cpu-metrics-url", f"{cpu.url}/metrics", "--gpu-metrics-url", "",
                   "--progress-url", ffmpeg.url, "--events", str(events), "--no-quality"]
        log(f"  runner overhead: {seconds} s of {resolution} libx264 with the cpu and ffmpeg exporters")
        runner = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with _Poller({"runner": runner.pid, "cpu": cpu.pid, "ffmpeg": ffmpeg.pid}) as poller:
            _, stderr = runner.communicate(timeout=600)
        if runner.returncode != 0:
            raise RuntimeError(f"ffwatt run exited {runner.returncode}: {stderr.decode()[-2000:]}")
    times = {e["event"]: e["time"] for e in map(json.loads, events.read_text().splitlines())
             if e["event"] in ("scenario-start", "scenario-done")}
    begin, end = poller.at(times["scenario-start"]), poller.at(times["scenario-done"])
    used = {name: end[name] - begin[name] for name in begin if begin[name] is not None and end[name] is not None}
    scenario = _results(results_dir)["scenarios"][0]
    encode = scenario["cpu_core_seconds"]
    measuring = sum(used.values())
    return {"window_seconds": times["scenario-done"] - times["scenario-start"], "encode_cpu_seconds": encode,
            "cpu_seconds": used, "measuring_cpu_seconds": measuring, "ratio": measuring / encode,
            "frames": scenario["total_frames"], "energy_source": scenario.get("energy_source"),
            "resolution": resolution, "content_seconds": seconds}


def in_process_meter(work: Path, *, seconds: int = 60, resolution: str = "1280x720", log=print) -> dict:
    tree = fake_powercap(work / "powercap-inprocess")
    results_dir = work / "meter-results"
    events = work / "meter-events.ndjson"
    scenarios = _write_scenarios(work / "meter.yml", [{
        "name": f"libx264 {resolution}", "encoder": "libx264", "preset": "veryfast", "bitrate": "3000k",
        "resolution": resolution, "fps": 30, "duration": seconds, "source": "testsrc2"}])
    command = [sys.executable, "-m", "ffwatt", "run", str(scenarios), "--results-dir", str(results_dir),
               "--powercap-root", str(tree.root), "--progress-url", "", "--events", str(events), "--no-quality"]
    log(f"  in-process meter: {seconds} s of {resolution} libx264, no exporter")
    runner = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with _Poller({"runner": runner.pid}) as poller:
        _, stderr = runner.communicate(timeout=1800)
    if runner.returncode != 0:
        raise RuntimeError(f"ffwatt run exited {runner.returncode}: {stderr.decode()[-2000:]}")
    times = {e["event"]: e["time"] for e in map(json.loads, events.read_text().splitlines())
             if e["event"] in ("scenario-start", "scenario-done")}
    begin, end = poller.at(times["scenario-start"]), poller.at(times["scenario-done"])
    runner_cpu = end["runner"] - begin["runner"]
    doc = _results(results_dir)
    scenario = doc["scenarios"][0]
    encode = scenario["cpu_core_seconds"] * scenario.get("encodes_per_measurement", 1)
    return {"window_seconds": times["scenario-done"] - times["scenario-start"], "encode_cpu_seconds": encode,
            "runner_cpu_seconds": runner_cpu, "ratio": runner_cpu / encode, "meter": doc["meter"]["source"],
            "energy_source": scenario.get("energy_source"), "resolution": resolution, "content_seconds": seconds}


def quality(work: Path, *, seconds: int = 3, resolutions=("1280x720", "1920x1080"), log=print) -> list[dict]:
    rows = []
    for resolution in resolutions:
        log(f"  quality pass: {seconds} s of {resolution}")
        results_dir = work / f"quality-{resolution}"
        scenarios = _write_scenarios(work / f"quality-{resolution}.yml", [{
            "name": f"libx264 {resolution}", "encoder": "libx264", "preset": "ultrafast", "bitrate": "4000k",
            "resolution": resolution, "fps": 30, "duration": seconds, "source": "testsrc2"}])
        subprocess.run([sys.executable, "-m", "ffwatt", "run", str(scenarios), "--results-dir", str(results_dir),
                        "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""],
                       cwd=REPO, check=True, capture_output=True, timeout=600)
        s = _results(results_dir)["scenarios"][0]
        frames = s["total_frames"] // s.get("streams", 1)
        rows.append({"resolution": resolution, "frames": frames, "quality_cpu_seconds": s["quality_cpu_seconds"],
                     "cpu_ms_per_frame": s["quality_cpu_seconds"] / frames * 1000,
                     "vmaf": s.get("vmaf_score"), "encode_cpu_seconds": s["cpu_core_seconds"]})
    return rows


def runner_section(work: Path, *, quick: bool = False, log=print) -> dict:
    work = Path(work) / "runner"
    work.mkdir(parents=True, exist_ok=True)
    return {"overhead": overhead(work, seconds=8 if quick else 60, log=log),
            "in_process_meter": in_process_meter(work, seconds=8 if quick else 60, log=log),
            "quality": quality(work, seconds=2 if quick else 3, log=log)}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(runner_section(Path(tmp), quick="--quick" in sys.argv), indent=1))
