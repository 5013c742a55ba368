"""Where a simulated power meter reads the machine's CPU use: the real /proc/stat, or a simulated
machine whose only work is one process's descendants (`ProcessTreeMachine`), written as a /proc/stat.

    cpu = ProcStatCpu()                                   # the machine's own /proc/stat
    cpu = ProcessTreeMachine(tmp_path / "stat")           # this process's children, on its own CPUs
    stat = cpu.read()                                     # readers.proc.CpuStat, in clock ticks
    meter = EnergyMeter(..., proc_stat=cpu.path)          # the meter reads the same machine

A `ProcessTreeMachine` makes a test independent of what else runs on a shared host: its CPUs
(`cpus`, default the host's) are busy exactly while the descendants of `pid` run (the encodes a
runner started in-process, a `yes` the test started), and idle otherwise, whoever else keeps the
host's CPUs busy. Its busy ticks are real: the kernel's accounting of those processes
(`/proc/<pid>/stat`: the live descendants' `utime + stime + cutime + cstime`, and `pid`'s own
`cutime + cstime`, where a reaped child's time goes; `pid`'s own threads are left out, so the
runner's in-process bookkeeping is not the machine's work). Each `read()` writes the file
atomically (a temp file, then a rename), as sysfs and procfs readers expect.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Protocol

from ffwatt.readers.proc import CLOCK_TICKS, ChildLister, CpuStat, read_cpu_stat, read_stat

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
    """A simulated machine of `cpus` CPUs busy with the descendants of `pid` only (module docstring)."""

    def __init__(self, path: Path, pid: int | None = None, cpus: int | None = None, proc_root: str = "/proc") -> None:
        self.path = str(path)
        self.pid = os.getpid() if pid is None else pid
        self.cpus = cpus or os.cpu_count() or 1
        self.proc_root = proc_root
        self._t0 = time.monotonic()
        self._busy0 = self._tree_ticks()
        self._busy = 0
        self.read()

    def _tree_ticks(self) -> int:
        """The CPU ticks of `pid`'s descendants so far, reaped ones included (module docstring)."""
        top = read_stat(self.pid, self.proc_root)
        if top is None:
            raise ProcessLookupError(f"process {self.pid} is gone")
        children = ChildLister(self.proc_root, top=self.pid)
        ticks = top.cutime + top.cstime
        stack = list(children(self.pid))
        seen: set[int] = set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            stat = read_stat(pid, self.proc_root)
            if stat is not None:
                ticks += stat.ticks
                stack.extend(children(pid))
        return ticks

    def read(self) -> CpuStat:
        """The machine's CPU time now (busy never goes back, never above the CPUs' time), written to `path`."""
        total = int((time.monotonic() - self._t0) * CLOCK_TICKS * self.cpus)
        self._busy = min(max(self._busy, self._tree_ticks() - self._busy0), total)
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
