"""A window's power and CPU-use samples, taken by a background thread on a fixed cadence.

The thread reads the counters in use (or only /proc/stat, for the model) every `step` seconds,
scheduled against the monotonic clock so it never drifts: tick k is due at t0 + k x step, and a
tick that is overrun is skipped rather than run late and shifting the rest (`next_tick`).
`power[k]` and `cores[k]` are the means over step k, (t0 + k x step, t0 + (k+1) x step]; a
reading that fails is filled, once the next one succeeds, with the mean over the whole gap, so
the series stay one sample per step. The partial step before the end is not a sample (its energy
is in the window's joules, which is the figure to record: the trapezoid over n interval means
spans only n - 1 steps). Each distinct failure is logged once and counted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from ffwatt.contract import formulas
from ffwatt.energy.counters import Counters, increase
from ffwatt.energy.source import CounterSource, SourceError
from ffwatt.readers.proc import CpuStat, busy_cores, read_cpu_stat

__all__ = ["Sampler", "next_tick"]

log = logging.getLogger("ffwatt.runner.meter")


def next_tick(t0: float, step: float, now: float, last_tick: int) -> int:
    """The next tick to wait for: the first k > last_tick that is not yet past at `now`.

    Tick k is due at t0 + k x step. Ticks already overrun are skipped, so a slow pass
    never shifts the schedule.
    """
    due = math.floor((now - t0) / step) + 1
    return max(last_tick + 1, due)


class Sampler:
    """One window's samples (module docstring): `start()`, `stop()`, then `power`, `cores`, `errors`.

    `on_tick` runs at every tick before the counters are compared (the meter reads the GPUs'
    per-process samples there, before the driver drops them); a `SourceError` it raises is noted."""

    def __init__(self, step: float, proc_stat: str, sources: Sequence[CounterSource], counters: dict[str, Counters],
                 on_tick: Callable[[], None]) -> None:
        self.step, self.proc_stat, self.sources, self.on_tick = step, proc_stat, list(sources), on_tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.power: list[float] = []
        self.cores: list[float] = []
        self.errors: dict[str, int] = {}
        self._last_counters = dict(counters)
        self._last_cpu: CpuStat | None = None
        self._t0 = self._last_time = 0.0
        self._last_tick = 0

    def start(self, t0: float, cpu: CpuStat | None) -> None:
        """Sample from `t0` (monotonic), the window's start, when /proc/stat read `cpu`."""
        self._t0 = self._last_time = t0
        self._last_cpu = cpu
        self._thread = threading.Thread(target=self._run, name="ffwatt-energy-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop the thread (waiting up to `timeout` s); False when it did not stop in time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def series(self) -> tuple[list[float], list[float], dict[str, int]]:
        """(power W, busy cores, failures by message) so far."""
        with self._lock:
            return list(self.power), list(self.cores), dict(self.errors)

    def note(self, what: str, message: str) -> None:
        """Count a failure; log it the first time it is seen."""
        key = f"{what}: {message}"
        with self._lock:
            first = key not in self.errors
            self.errors[key] = self.errors.get(key, 0) + 1
        if first:
            log.warning("energy sample failed: %s", key)

    def _run(self) -> None:
        while True:
            tick = next_tick(self._t0, self.step, time.monotonic(), self._last_tick)
            if self._stop.wait(max(0.0, self._t0 + tick * self.step - time.monotonic())):
                return
            try:
                self._sample(tick)
            except Exception as exc:  # never let the thread die silently
                self.note("sampler", repr(exc))

    def _sample(self, tick: int) -> None:
        """One pass: the counters and /proc/stat now; the means since the last good pass, one per step."""
        readings = {}
        for source in self.sources:
            try:
                readings[source.kind] = source.read()
            except SourceError as exc:
                self.note(source.what, str(exc))
                return  # the gap is filled at the next good pass
        try:
            self.on_tick()
        except SourceError as exc:
            self.note("NVML", str(exc))
        try:
            cpu = read_cpu_stat(self.proc_stat)
        except (OSError, ValueError) as exc:
            self.note("cpu", f"{self.proc_stat}: {exc}")
            return
        now = time.monotonic()
        steps = tick - self._last_tick
        elapsed = now - self._last_time
        if elapsed <= 0 or steps <= 0:
            return
        measured = busy_cores(self._last_cpu, cpu) if self._last_cpu is not None else None
        watts = None
        if self.sources:
            joules = sum(increase(self._last_counters[kind], series)[0] for kind, series in readings.items())
            watts = formulas.mean_power_over(joules, elapsed)
        with self._lock:
            for _ in range(steps):
                if watts is not None:
                    self.power.append(watts)
                if measured is not None:
                    self.cores.append(measured[1])
            self._last_counters, self._last_cpu, self._last_time, self._last_tick = readings, cpu, now, tick
