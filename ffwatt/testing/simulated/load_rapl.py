"""A simulated RAPL meter whose power follows the machine's real CPU use: a known truth for
attribution tests (DESIGN.md, "a fake RAPL meter whose power follows /proc/stat").

    meter = LoadFollowingRapl(tmp_path / "sys", idle_watts=6.0, watts_per_busy_cpu=9.0)
    meter.start()           # a thread advances the package counter every `step` seconds
    ...                     # real work; the readers under test read `meter.root`
    meter.stop()            # the last step is written; `meter.joules` is then the counter's value
    meter.joules            # every joule it wrote, exactly (microjoule steps)

Each step it reads /proc/stat (`readers.proc`) and adds

    E_step_J = (idle_W + W_per_busy_CPU x busy CPUs over the step) x step_s

to the `package-0` zone's `energy_uj`, written atomically (sysfs reads are), in a powercap tree
laid out as the kernel's (`simulated.powercap.FakePowercap`) and marked simulated
(`readers.powercap.SIMULATED_MARKER`), so nothing reads it as measured RAPL. Its power is a
linear function of the machine's CPU use, as the attribution rule assumes: with `idle_W` as the
rule's idle power, a process's true share is W_per_busy_CPU x its CPU-s plus its part of idle.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ffwatt.readers.powercap import SIMULATED_MARKER
from ffwatt.readers.proc import busy_cores, read_cpu_stat
from ffwatt.testing.simulated.powercap import FakePowercap

__all__ = ["LoadFollowingRapl"]

ZONE = "intel-rapl:0"


class LoadFollowingRapl:
    def __init__(self, base: Path, *, idle_watts: float, watts_per_busy_cpu: float, step: float = 0.05,
                 proc_stat: str = "/proc/stat") -> None:
        self.idle_watts, self.watts_per_busy_cpu, self.step, self.proc_stat = idle_watts, watts_per_busy_cpu, step, proc_stat
        tree = FakePowercap(base, layout="kernel")
        tree.package(0, subzones=("core",))  # core lies inside the package: a reader must not add it
        self.root = tree.root
        (self.root / SIMULATED_MARKER).write_text("advanced from /proc/stat by ffwatt.testing.simulated.load_rapl\n")
        self._target = self.root / ZONE / "energy_uj"
        self._uj = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-rapl", daemon=True)

    @property
    def joules(self) -> float:
        return self._uj / 1e6

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        before, t0 = read_cpu_stat(self.proc_stat), time.monotonic()
        while True:
            stopping = self._stop.wait(self.step)
            now, t = read_cpu_stat(self.proc_stat), time.monotonic()
            load = busy_cores(before, now)
            cores = load[1] if load else 0.0  # no tick passed: no busy CPU measured over the step
            self._uj += round((self.idle_watts + self.watts_per_busy_cpu * cores) * (t - t0) * 1e6)
            self._write()
            before, t0 = now, t
            if stopping:
                return

    def _write(self) -> None:
        tmp = self._target.with_name("energy_uj.tmp")
        tmp.write_text(f"{self._uj}\n")
        os.replace(tmp, self._target)
