"""Real fleet processes on loopback for the fleet tests: `ffwatt scheduler`, `ffwatt worker` and
`ffwatt run --cluster`, each its own process with its own log, and the waits on them (bounded, the
log tail in the failure)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ffwatt.common.process import log_tail, spawn_logged

ROOT = Path(__file__).resolve().parents[2]
NO_EXPORTERS = ["--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def ffwatt(args: list[str], log: Path) -> subprocess.Popen:
    """`ffwatt ARGS` in its own session, output to `log`."""
    return spawn_logged([sys.executable, "-m", "ffwatt", *args], log, env=env(), cwd=ROOT)


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout:g} s; log tail:\n{log_tail(log)}")


def wait_joined(log: Path, name: str, timeout: float = 60, word: str = "joined") -> None:
    wait_for(lambda: f"worker {name}: {word}" in log.read_text(errors="replace"), timeout, f"worker {name} {word}", log)


def events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def results(folder: Path) -> dict:
    (path,) = folder.glob("test_results_*.json")
    return json.loads(path.read_text())
