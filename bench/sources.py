"""What the exporters read during the bench and the reliability tests: generated results
files, a fake RAPL powercap tree, a fake NVML state file, ffmpeg progress pushes.

Results files are written as text from a few pre-rendered sample arrays, so a
10,000-scenario file (hundreds of MB) is written in seconds; the loader still parses
every number.
"""

from __future__ import annotations

import json
import os
import random
from datetime import datetime, timedelta
from pathlib import Path

import requests

ENCODERS = ("libx264", "libx265", "libsvtav1", "h264_nvenc")
RESOLUTIONS = ("1920x1080", "1280x720", "854x480", "640x360")
BASE_STAMP = datetime(2026, 1, 16, 9, 0, 0)
_VARIANTS = 8


def results_name(seq: int = 0) -> str:
    """test_results_YYYYMMDD_HHMMSS.json, one second later per `seq` (newest wins)."""
    return f"test_results_{(BASE_STAMP + timedelta(seconds=seq)):%Y%m%d_%H%M%S}.json"


def _series_texts(samples: int, low: float, high: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["[" + ", ".join(f"{rng.uniform(low, high):.2f}" for _ in range(samples)) + "]"
            for _ in range(_VARIANTS)]


def enriched_text(scenarios: int, samples: int, *, cpu_samples: bool = True, step: float = 1.0,
                  seed: int = 1, name_prefix: str = "") -> str:
    """An enriched-shape results document (test_metadata, one scenario each with
    `samples` power readings and, when cpu_samples, as many CPU readings)."""
    power = _series_texts(samples, 40.0, 180.0, seed)
    cores = _series_texts(samples, 0.5, 16.0, seed + 1) if cpu_samples else None
    metadata = json.dumps({"test_date": BASE_STAMP.isoformat(), "hostname": "bench", "generator": "bench"})
    parts = []
    duration = step * max(samples - 1, 1)
    for i in range(scenarios):
        streams = i % 4 + 1
        bitrate = 1000 + 500 * (i % 9)
        encoder = ENCODERS[i % len(ENCODERS)]
        resolution = RESOLUTIONS[i % len(RESOLUTIONS)]
        start = 1768550400 + i * int(duration + 60)
        fps = 30
        total = fps * int(duration) * streams
        head = json.dumps({
            "name": f"{name_prefix}{streams} streams @ {bitrate}k {encoder} #{i}",
            "duration": duration, "bitrate": f"{bitrate}k", "encoder_type": encoder, "resolution": resolution,
            "fps": fps, "preset": "veryfast", "vmaf_score": 80 + i % 17, "psnr_score": 38.5 + i % 5,
            "ssim_score": 0.95 + (i % 4) / 100, "avg_fps": 29.9, "dropped_frames": i % 7, "total_frames": total,
            "start_time": start, "end_time": start + duration, "step_seconds": step, "streams": streams,
            "viewers": 10 * streams,
        })
        series = f', "power_watts": {power[i % _VARIANTS]}'
        if cores is not None:
            series += f', "cpu_usage_cores": {cores[i % _VARIANTS]}'
        parts.append(head[:-1] + series + "}")
    return '{"test_metadata": ' + metadata + ', "scenarios": [\n' + ",\n".join(parts) + "\n]}\n"


def write_atomically(path: Path, text: str | bytes) -> Path:
    """Write a temp file in the same directory, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    data = text.encode() if isinstance(text, str) else text
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_results(directory: Path, scenarios: int, samples: int = 60, *, seq: int = 0, **kwargs) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return write_atomically(directory / results_name(seq), enriched_text(scenarios, samples, **kwargs))


def scenarios_for_series(series: int) -> int:
    """Scenarios that make the results exporter serve about `series` series
    (9 per scenario plus 2 run-level and 5 self-metrics)."""
    return max(1, round((series - 7) / 9))


def fake_powercap(root: Path, sockets: int = 2):
    """A RAPL tree of `sockets` packages with core, uncore and dram sub-zones."""
    from ffwatt.readers.powercap import SIMULATED_MARKER
    from ffwatt.testing.simulated.powercap import FakePowercap

    tree = FakePowercap(Path(root))
    for socket in range(sockets):
        tree.package(socket, energy_uj=1_000_000 * (socket + 1))
    (tree.root / SIMULATED_MARKER).write_text("a bench fixture, not measured\n")  # never recorded as RAPL
    return tree


def fake_nvml_state(path: Path, gpus: int = 2) -> Path:
    """A fake NVML state file for `python -m scripts.simulated_gpu STATE ...` (no GPU here)."""
    from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml

    FakeNvml([FakeGpu(index=i) for i in range(gpus)]).write(Path(path))
    return Path(path)


def progress_block(frame: int, *, end: bool = False) -> str:
    return (f"frame={frame}\nfps=29.97\nstream_0_0_q=23.0\nbitrate=2450.3kbits/s\ntotal_size={frame * 10_000}\n"
            f"out_time_us={frame * 33_367}\nout_time_ms={frame * 33_367}\nout_time=00:00:{frame // 30:02d}.000000\n"
            f"dup_frames=0\ndrop_frames={frame // 1000}\nspeed=1.00x\nprogress={'end' if end else 'continue'}\n")


def push_streams(base_url: str, streams: int, frame: int = 900) -> None:
    """Register `streams` live streams with the ffmpeg exporter (one block each)."""
    with requests.Session() as s:
        for k in range(streams):
            r = s.post(f"{base_url}/progress/bench-{k}", data=progress_block(frame + k).encode(), timeout=10)
            r.raise_for_status()
