"""A simulated RAPL meter whose power follows a machine's real CPU use: a known truth for attribution.

    with LoadFollowingRapl(tmp_path / "powercap", idle_watts=34.0, watts_per_busy_cpu=15.0,
                           cpu=ProcessTreeMachine(tmp_path / "stat")) as rapl:
        ... ffwatt run --powercap-root rapl.root --proc-stat rapl.proc_stat ...
        rapl.joules_between(t0, t1)     # the true energy of the zones that count, over any span

Every `period` seconds (50 ms) a thread reads the machine's CPU time (`cpu`: the real /proc/stat by
default, or a `machine.ProcessTreeMachine`), and advances the counters by

    P_W = idle_W + W_per_busy_cpu x busy CPUs over the period          (E += P x dt)

The tree is laid out like a 2-socket Intel server's, in the kernel's nested layout
(`powercap.FakePowercap(layout="kernel")`): per socket `intel-rapl:N` (package-N, 45 % of P) with
`intel-rapl:N:0` (core, inside the package: half of it, never to be counted) and `intel-rapl:N:1`
(dram, 5 % of P), and `intel-rapl-mmio:0`, the MMIO view of package-0 (the same counter: a reader
must drop it). Packages and drams together are P; socket 1's package starts 2 J below its wrap, so
a reader meets a wrap within the first seconds of a run. Counters are written atomically (a temp
file, then a rename), as a sysfs read never sees half a value.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from pathlib import Path

from ffwatt.readers.proc import busy_cores
from ffwatt.testing.simulated.machine import CpuUse, ProcStatCpu
from ffwatt.testing.simulated.powercap import DRAM_RANGE_UJ, PACKAGE_RANGE_UJ, FakePowercap

__all__ = ["LoadFollowingRapl", "PACKAGE_SHARE", "DRAM_SHARE", "CORE_SHARE_OF_PACKAGE"]

PACKAGE_SHARE = 0.45  # of the machine's power, per socket
DRAM_SHARE = 0.05  # per socket: 2 x (0.45 + 0.05) = 1
CORE_SHARE_OF_PACKAGE = 0.5  # the core sub-zone, inside its package
_WRAP_HEADROOM_UJ = 2_000_000  # socket 1's package starts this far below its wrap


class LoadFollowingRapl:
    """A powercap tree whose counted zones draw `idle_watts` + `watts_per_busy_cpu` x busy CPUs (module
    docstring). `root`: the powercap root to give a meter; `proc_stat`: the CPU time file it must read."""

    def __init__(self, base: Path, *, idle_watts: float = 20.0, watts_per_busy_cpu: float = 15.0,
                 cpu: CpuUse | None = None, period: float = 0.05) -> None:
        self.idle_watts, self.watts_per_busy_cpu, self.period = idle_watts, watts_per_busy_cpu, period
        self.cpu = cpu or ProcStatCpu()
        self.tree = FakePowercap(base, layout="kernel")
        self.root = self.tree.root
        self.proc_stat = self.cpu.path
        self._zones: dict[str, tuple[float, int]] = {}  # entry -> (share of P, wrap range)
        for socket in (0, 1):
            start = PACKAGE_RANGE_UJ - _WRAP_HEADROOM_UJ if socket == 1 else 0
            self.tree.zone(f"intel-rapl:{socket}", f"package-{socket}", start)
            self.tree.zone(f"intel-rapl:{socket}:0", "core", 0)
            self.tree.zone(f"intel-rapl:{socket}:1", "dram", 0, DRAM_RANGE_UJ)
            self._zones[f"intel-rapl:{socket}"] = (PACKAGE_SHARE, PACKAGE_RANGE_UJ)
            self._zones[f"intel-rapl:{socket}:0"] = (PACKAGE_SHARE * CORE_SHARE_OF_PACKAGE, PACKAGE_RANGE_UJ)
            self._zones[f"intel-rapl:{socket}:1"] = (DRAM_SHARE, DRAM_RANGE_UJ)
        self.tree.zone("intel-rapl-mmio:0", "package-0", 0)
        self._uj = {entry: float(int((self.root / entry / "energy_uj").read_text())) for entry in self._zones}
        self._times: list[float] = []  # monotonic moments of the advances
        self._joules: list[float] = []  # the counted zones' energy from the start to each
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the truth

    def watts(self, busy_cpus: float) -> float:
        """P_W = idle_W + W_per_busy_cpu x busy CPUs: what the counted zones draw together."""
        return self.idle_watts + self.watts_per_busy_cpu * busy_cpus

    def joules_between(self, t0: float, t1: float) -> float:
        """The counted zones' true energy between two monotonic moments, interpolated between advances."""
        return self._at(t1) - self._at(t0)

    def _at(self, t: float) -> float:
        if not self._times or t <= self._times[0]:
            return 0.0
        i = bisect.bisect_left(self._times, t)
        if i >= len(self._times):
            return self._joules[-1]
        (ta, ea), (tb, eb) = (self._times[i - 1], self._joules[i - 1]), (self._times[i], self._joules[i])
        return ea + (eb - ea) * (t - ta) / (tb - ta)

    # ---- the thread

    def start(self) -> LoadFollowingRapl:
        before, last = self.cpu.read(), time.monotonic()
        self._times, self._joules = [last], [0.0]
        self._thread = threading.Thread(target=self._run, args=(before, last), name="load-following-rapl",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LoadFollowingRapl:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, before, last: float) -> None:
        while not self._stop.wait(self.period):
            now_cpu, now = self.cpu.read(), time.monotonic()
            measured = busy_cores(before, now_cpu)
            busy = measured[1] if measured is not None else 0.0
            joules = self.watts(busy) * (now - last)
            for entry, (share, wrap) in self._zones.items():
                self._uj[entry] = (self._uj[entry] + share * joules * 1e6) % wrap
                self._write(entry, int(self._uj[entry]))
            self._write("intel-rapl-mmio:0", int(self._uj["intel-rapl:0"]))
            self._times.append(now)
            self._joules.append(self._joules[-1] + joules)
            before, last = now_cpu, now

    def _write(self, entry: str, value: int) -> None:
        target = self.root / entry / "energy_uj"
        tmp = target.with_name("energy_uj.tmp")
        tmp.write_text(f"{value}\n")
        os.replace(tmp, target)
