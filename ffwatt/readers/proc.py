"""The one reader of /proc: the machine's CPU time (`/proc/stat`) and a process's (`/proc/<pid>/stat`).

    machine = read_cpu_stat()                    # CpuStat(busy, total, cpus), in clock ticks
    load = busy_cores(before, after)             # (utilisation 0..1, busy cores) between two readings
    proc = read_stat(pid)                        # ProcStat: comm, state, ppid, CPU ticks, start; None when gone
    kept = KeptStats(proc_root); kept.read(pid)  # the same, for processes read every second (files kept open)
    kids = ChildLister(proc_root, top=pid)       # kids(p): child pids of p, within pid's tree
    ticks = tree_ticks(pid)                      # CPU ticks of pid and its live descendants; None when gone

Standard library only; every path is under `proc_root` (default "/proc"), injected so tests point
it at a fixture tree. Invariants: a process that cannot be read (gone, or not a process) is
`None`, never zeros; `comm` may hold spaces and parentheses, so a stat line is split at its
*last* ")"; the aggregate `cpu` line's busy time leaves out idle and iowait (guest and
guest_nice are already inside user and nice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuStat", "parse_cpu_stat", "read_cpu_stat", "busy_cores", "ProcStat", "parse_stat", "read_stat",
           "KeptStats", "ChildLister", "children_by_ppid", "tree_ticks", "CLOCK_TICKS"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of every time field below, per second

# --------------------------------------------------------------------------
# the machine: /proc/stat


@dataclass(frozen=True)
class CpuStat:
    """The aggregate `cpu` line of /proc/stat, in clock ticks, and the online CPU count."""

    busy: int
    total: int
    cpus: int


def parse_cpu_stat(text: str) -> CpuStat:
    """busy = user + nice + system + irq + softirq + steal; total = busy + idle + iowait.

    (guest and guest_nice are already inside user and nice.) ValueError when the text
    has no aggregate `cpu` line.
    """
    busy = total = None
    cpus = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:9]] + [0] * 8
            user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
            busy = user + nice + system + irq + softirq + steal
            total = busy + idle + iowait
        elif line.startswith("cpu") and line[3:4].isdigit():
            cpus += 1
    if busy is None or total is None:
        raise ValueError("no aggregate 'cpu' line in /proc/stat")
    return CpuStat(busy, total, max(cpus, 1))


def read_cpu_stat(path: str = "/proc/stat") -> CpuStat:
    """`parse_cpu_stat` of the file; OSError or ValueError when it cannot be read or parsed."""
    with open(path, encoding="ascii", errors="replace") as f:
        return parse_cpu_stat(f.read())


def busy_cores(before: CpuStat, after: CpuStat) -> tuple[float, float] | None:
    """(utilisation 0..1, busy cores) between two readings; None when no tick passed.

    utilisation = delta busy / delta total; cores = utilisation x online CPUs
    """
    total = after.total - before.total
    busy = after.busy - before.busy
    if total <= 0 or busy < 0:
        return None
    utilisation = min(busy, total) / total
    return utilisation, utilisation * after.cpus


# --------------------------------------------------------------------------
# one process: /proc/<pid>/stat

# fields counted from 1 as in proc(5); after the last ")" the text starts at field 3 (state)
_FIRST_AFTER_COMM = 3
_STATE, _PPID, _UTIME, _STIME, _CUTIME, _CSTIME, _STARTTIME = 3, 4, 14, 15, 16, 17, 22
_STAT_BYTES = 4096  # a stat line is a few hundred bytes; the kernel writes it whole in one read


@dataclass(frozen=True)
class ProcStat:
    """The fields of one `/proc/<pid>/stat` line that ffwatt reads (times in clock ticks)."""

    pid: int
    comm: str
    state: str  # R, S, D, Z (a zombie: exited, not yet reaped), X...
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int
    starttime: int  # ticks after boot: with the pid, it names one process (pids are reused)

    @property
    def ticks(self) -> int:
        """utime + stime + cutime + cstime: the process and its reaped children."""
        return self.own_ticks + self.reaped_ticks

    @property
    def own_ticks(self) -> int:
        """utime + stime: every thread of the process, live or ended."""
        return self.utime + self.stime

    @property
    def reaped_ticks(self) -> int:
        """cutime + cstime: the children it has waited for."""
        return self.cutime + self.cstime

    @property
    def own_seconds(self) -> float:
        """(utime + stime) / CLK_TCK: the process's own CPU seconds, every thread, dead ones too."""
        return (self.utime + self.stime) / CLOCK_TICKS


def parse_stat(text: str) -> ProcStat:
    """Parse a `/proc/<pid>/stat` line, split at the *last* ")" (a process can name itself `a) (b`).
    ValueError when the line is not a stat line."""
    head, sep, tail = text.rpartition(")")
    pid_text, open_paren, comm = head.partition(" (")
    if not sep or not open_paren:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    fields = tail.split(None, _STARTTIME - _FIRST_AFTER_COMM + 1)  # the fields read, not the 30 after them
    if len(fields) < _STARTTIME - _FIRST_AFTER_COMM + 1:
        raise ValueError(f"/proc/<pid>/stat line too short ({len(fields) + 2} fields, need {_STARTTIME}): "
                         f"{text[:80]!r}")
    at = _FIRST_AFTER_COMM  # field N is fields[N - at]
    return ProcStat(int(pid_text), comm, fields[_STATE - at], int(fields[_PPID - at]), int(fields[_UTIME - at]),
                    int(fields[_STIME - at]), int(fields[_CUTIME - at]), int(fields[_CSTIME - at]),
                    int(fields[_STARTTIME - at]))


def read_stat(pid: int, proc_root: str | Path = "/proc") -> ProcStat | None:
    """`/proc/<pid>/stat` parsed; None when the process is gone (or the file is not a stat line).
    One `open`/`read`/`close` of bytes: the streams collector reads every member of every stream
    each second."""
    try:
        fd = os.open(f"{proc_root}/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, _STAT_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return parse_stat(data.decode("utf-8", "replace"))
    except ValueError:
        return None


class KeptStats:
    """`/proc/<pid>/stat` of processes read again and again (the streams collector reads each stream's
    processes every second): each file is kept open and read again with `pread` at offset 0, which
    makes the kernel write it afresh, at half the cost of open, read and close. An open file stays bound
    to its process: once that process has ended its read fails (None), even when the pid is reused.
    `keep_only(pids)` closes the others' files; `close()` all."""

    def __init__(self, proc_root: str | Path = "/proc") -> None:
        self.root = str(proc_root)
        self._fds: dict[int, int] = {}

    def read(self, pid: int) -> ProcStat | None:
        fd = self._fds.get(pid)
        if fd is not None:
            stat = self._pread(pid, fd)
            if stat is not None:
                return stat
            # its process ended: the pid may be another's now, read that one's file
        try:
            fd = self._fds[pid] = os.open(f"{self.root}/{pid}/stat", os.O_RDONLY)
        except OSError:
            return None
        return self._pread(pid, fd)

    def _pread(self, pid: int, fd: int) -> ProcStat | None:
        try:
            # procfs: ESRCH once the process has ended (a fixture tree empties the file it removes)
            return parse_stat(os.pread(fd, _STAT_BYTES, 0).decode("utf-8", "replace"))
        except (OSError, ValueError):
            self._drop(pid)
            return None

    def keep_only(self, pids: set[int]) -> None:
        for pid in [p for p in self._fds if p not in pids]:
            self._drop(pid)

    def close(self) -> None:
        self.keep_only(set())

    def _drop(self, pid: int) -> None:
        fd = self._fds.pop(pid, None)
        if fd is not None:
            os.close(fd)


def _children_from_task_files(root: Path, pid: int) -> list[int] | None:
    """Child pids from /proc/<pid>/task/<tid>/children (kernels with CONFIG_PROC_CHILDREN);
    None when the files are not there, so the caller scans /proc instead."""
    try:
        tasks = os.listdir(root / str(pid) / "task")
    except FileNotFoundError:
        return None
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            text = (root / str(pid) / "task" / tid / "children").read_text()
        except FileNotFoundError:
            if tid == str(pid):
                return None  # the main thread has no children file: no CONFIG_PROC_CHILDREN
            continue  # the thread ended meanwhile
        except OSError:
            continue
        found.extend(int(x) for x in text.split())
    return found


def children_by_ppid(proc_root: str | Path = "/proc", skip: int | None = None) -> dict[int, list[int]]:
    """ppid -> child pids, from every /proc/<pid>/stat (the scan for kernels without children files)."""
    root = Path(proc_root)
    out: dict[int, list[int]] = {}
    try:
        entries = [int(name) for name in os.listdir(root) if name.isdigit()]
    except OSError:
        return out
    for other in entries:
        if other == skip:
            continue
        stat = read_stat(other, root)
        if stat is not None:
            out.setdefault(stat.ppid, []).append(stat.pid)
    return out


class ChildLister:
    """Child pids of processes of one tree: the cheap task files where the kernel has them, else one
    scan of /proc for the whole listing (made at most once)."""

    def __init__(self, proc_root: str | Path = "/proc", top: int | None = None) -> None:
        self.root = Path(proc_root)
        self.top = top
        self._scanned: dict[int, list[int]] | None = None

    def __call__(self, pid: int) -> list[int]:
        found = None if self._scanned is not None else _children_from_task_files(self.root, pid)
        if found is None:
            if self._scanned is None:
                self._scanned = children_by_ppid(self.root, skip=self.top)
            found = self._scanned.get(pid, [])
        return found


def tree_ticks(pid: int, proc_root: str | Path = "/proc") -> int | None:
    """CPU ticks `pid` and its live descendants have used: the sum of each one's `ticks` (`utime + stime +
    cutime + cstime`; a reaped child's time is in its parent's, a live one counts once through its own
    entry). A descendant that cannot be read is left out with its subtree; None when `pid` is gone."""
    top = read_stat(pid, proc_root)
    if top is None:
        return None
    children = ChildLister(proc_root, top=pid)
    ticks = 0
    stack = [top]
    seen = set()
    while stack:
        stat = stack.pop()
        if stat.pid in seen:
            continue
        seen.add(stat.pid)
        ticks += stat.ticks
        for child in children(stat.pid):
            child_stat = read_stat(child, proc_root)
            if child_stat is not None:
                stack.append(child_stat)
    return ticks
