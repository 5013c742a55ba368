"""Where a simulated power meter reads the machine's CPU use: the real /proc/stat, or a simulated
machine whose only work is one process's descendants (`ProcessTreeMachine`), written as a /proc/stat.

    cpu = ProcStatCpu()                                   # the machine's own /proc/stat
    cpu = ProcessTreeMachine(tmp_path / "stat")           # a machine of the host's CPU count, idle so far
    cpu.add(runner.pid)                                   # ... busy with this process tree from now on
    stat = cpu.read()                                     # readers.proc.CpuStat, in clock ticks
    meter = EnergyMeter(..., proc_stat=cpu.path)          # the meter reads the same machine

A `ProcessTreeMachine` makes a test independent of what else runs on a shared host: its CPUs
(`cpus`, default the host's) are busy exactly while the process trees of its roots run (`ffwatt
run` started as a subprocess, a `yes` the test started), and idle otherwise, whoever else keeps the
host's CPUs busy. Its busy ticks are real: the kernel's accounting of those processes
(`/proc/<pid>/stat`: each live process's `utime + stime + cutime + cstime`, where a reaped child's
time goes into its parent's `cutime + cstime`). Each `read()` writes the file atomically (a temp
file, then a rename), as sysfs and procfs readers expect.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Protocol

from ffwatt.readers.proc import CLOCK_TICKS, CpuStat, read_cpu_stat, tree_ticks

__all__ = ["CpuUse", "ProcStatCpu", "ProcessTreeMachine"]


class CpuUse(Protocol):
    """A machine's CPU time as /proc/stat gives it: `read()` now, and the file a meter reads (`path`)."""

    path: str

    def read(self) -> CpuStat: ...


class ProcStatCpu:
    """The machine's own /proc/stat (or any file in its format)."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self.path = path

    def read(self) -> CpuStat:
        return read_cpu_stat(self.path)


class ProcessTreeMachine:
    """A simulated machine of `cpus` CPUs busy with the process trees of its roots only (module docstring)."""

    def __init__(self, path: Path, roots: tuple[int, ...] = (), cpus: int | None = None,
                 proc_root: str = "/proc") -> None:
        self.path = str(path)
        self.cpus = cpus or os.cpu_count() or 1
        self.proc_root = proc_root
        self._t0 = time.monotonic()
        self._roots: dict[int, tuple[int, int]] = {}  # root pid -> (its tree's ticks when added, the last read)
        self._busy = 0
        for pid in roots:
            self.add(pid)
        self.read()

    def add(self, pid: int) -> None:
        """Count the CPU time `pid`'s tree uses from now on (a runner started as a subprocess, a `yes`)."""
        ticks = tree_ticks(pid, self.proc_root) or 0
        self._roots[pid] = (ticks, ticks)

    def read(self) -> CpuStat:
        """The machine's CPU time now (busy never goes back, never above the CPUs' time), written to `path`.
        A root that is gone keeps the ticks it had last."""
        busy = 0
        for pid, (first, last) in list(self._roots.items()):
            now = tree_ticks(pid, self.proc_root)
            last = max(last, now) if now is not None else last
            self._roots[pid] = (first, last)
            busy += last - first
        total = int((time.monotonic() - self._t0) * CLOCK_TICKS * self.cpus)
        self._busy = min(max(self._busy, busy), total)
        idle = total - self._busy
        lines = [f"cpu  {self._busy} 0 0 {idle} 0 0 0 0 0 0"]
        # per-CPU lines: only their count is read (readers.proc.parse_cpu_stat); the time is spread evenly
        lines += [f"cpu{i} {self._busy // self.cpus} 0 0 {idle // self.cpus} 0 0 0 0 0 0" for i in range(self.cpus)]
        directory = os.path.dirname(self.path) or "."
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stat-")
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)
        return CpuStat(self._busy, total, self.cpus)
