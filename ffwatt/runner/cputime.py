"""CPU time of the encoder processes: what `cpu_core_seconds` in a results file counts.

Two readings, both standard library only:

* `wait_with_rusage(proc, timeout)`: reaps a direct child with `os.wait4`, whose
  rusage holds the user + system CPU time of the child *and of every descendant it
  reaped* (ffmpeg's helper processes included). This is the figure a scenario
  records: exact, read once at the end, nothing sampled.
* `process_tree_cpu_seconds(pid)`: the CPU time a live process tree has used so
  far, from `/proc/<pid>/stat` (`utime + stime + cutime + cstime`) plus its live
  descendants, for progress samples while an encode runs. `proc_root` is injected
  so tests point it at a fixture tree.
* `process_tree_pids(pid)`: the pids of a live process tree (the process and its live
  descendants), for the meter's per-process GPU share (runner.energy).

Invariants: a process that cannot be read is unknown (`None`), never 0 s of CPU; a
reaped child's rusage is never lost silently (a child that someone else reaped
raises, because its CPU time can no longer be known).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

__all__ = ["wait_with_rusage", "process_tree_cpu_seconds", "process_tree_pids", "parse_stat", "ProcStat"]

_POLL_FIRST = 0.001
_POLL_MAX = 0.25  # a 4 Hz wake-up while an encode runs: the runner stays far below 1 % of it

# /proc/<pid>/stat fields, counted from 1 as in proc(5); after the last ")" the text
# starts at field 3 (state).
_FIRST_AFTER_COMM = 3
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME = 4, 14, 15, 16, 17


def wait_with_rusage(proc: subprocess.Popen, timeout: float | None) -> tuple[int, float]:
    """Wait for `proc` (a direct child) to exit and return `(returncode, cpu_seconds)`.

    cpu_seconds = ru_utime + ru_stime of the child and every descendant it reaped

    The wait is `os.wait4`: blocking when `timeout` is None, else polled with
    `WNOHANG` and a sleep that grows from 1 ms to 250 ms. `proc.returncode` is set as
    `Popen` would (negative signal number for a child killed by a signal), so later
    `proc.poll()`/`proc.wait()` calls stay consistent. Raises
    `subprocess.TimeoutExpired` when `timeout` passes (the child keeps running: the
    caller decides whether to stop it), and `ChildProcessError` when the child was
    already reaped elsewhere (e.g. by `proc.poll()`), since its CPU time is then lost.
    """
    if proc.returncode is not None:
        raise ChildProcessError(f"pid {proc.pid} was already reaped (returncode {proc.returncode}): "
                                "its CPU time is lost; call wait_with_rusage instead of poll()/wait()")
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = _POLL_FIRST
    while True:
        flags = 0 if deadline is None else os.WNOHANG
        try:
            pid, status, usage = os.wait4(proc.pid, flags)
        except ChildProcessError:
            raise ChildProcessError(f"pid {proc.pid} is not a child of this process any more (reaped elsewhere): "
                                    "its CPU time is lost") from None
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        remaining = deadline - time.monotonic()  # type: ignore[operator]  # deadline is set with WNOHANG
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)  # type: ignore[arg-type]
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _POLL_MAX)


class ProcStat:
    """The fields of one `/proc/<pid>/stat` line that the CPU time needs (in clock ticks)."""

    __slots__ = ("pid", "comm", "ppid", "utime", "stime", "cutime", "cstime")

    def __init__(self, pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int, cstime: int):
        self.pid, self.comm, self.ppid = pid, comm, ppid
        self.utime, self.stime, self.cutime, self.cstime = utime, stime, cutime, cstime

    @property
    def ticks(self) -> int:
        """utime + stime + cutime + cstime: the process and its reaped children."""
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(text: str) -> ProcStat:
    """Parse a `/proc/<pid>/stat` line.

    `comm` (field 2) is in parentheses and may itself hold spaces and parentheses
    (a process can name itself `a) (b`), so the line is split at the *last* ")".
    ValueError when the line is not a stat line.
    """
    head, sep, tail = text.rpartition(")")
    pid_text, open_paren, comm = head.partition(" (")
    if not sep or not open_paren:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    fields = tail.split()
    if len(fields) < _CSTIME - _FIRST_AFTER_COMM + 1:
        raise ValueError(f"/proc/<pid>/stat line too short ({len(fields) + 2} fields, need {_CSTIME}): {text[:80]!r}")

    def field(number: int) -> int:
        return int(fields[number - _FIRST_AFTER_COMM])

    return ProcStat(int(pid_text), comm, field(_PPID), field(_UTIME), field(_STIME), field(_CUTIME), field(_CSTIME))


def _read_stat(proc_root: Path, pid: int) -> ProcStat | None:
    try:
        return parse_stat((proc_root / str(pid) / "stat").read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None  # gone meanwhile, or not a process


def _children_from_task_files(root: Path, pid: int) -> list[int] | None:
    """Child pids from /proc/<pid>/task/<tid>/children (kernels with CONFIG_PROC_CHILDREN);
    None when the files are not there, so the caller scans /proc instead."""
    try:
        tasks = os.listdir(root / str(pid) / "task")
    except FileNotFoundError:
        return None
    except OSError:
        return []
    children: list[int] = []
    for tid in tasks:
        try:
            text = (root / str(pid) / "task" / tid / "children").read_text()
        except FileNotFoundError:
            if tid == str(pid):
                return None  # the main thread has no children file: no CONFIG_PROC_CHILDREN
            continue  # the thread ended meanwhile
        except OSError:
            continue
        children.extend(int(x) for x in text.split())
    return children


def _children_by_scan(root: Path, skip: int) -> dict[int, list[int]]:
    """ppid -> child pids, from every /proc/<pid>/stat."""
    out: dict[int, list[int]] = {}
    try:
        entries = [int(name) for name in os.listdir(root) if name.isdigit()]
    except OSError:
        return out
    for other in entries:
        if other == skip:
            continue
        stat = _read_stat(root, other)
        if stat is not None:
            out.setdefault(stat.ppid, []).append(stat.pid)
    return out


def process_tree_cpu_seconds(pid: int, proc_root: str = "/proc") -> float | None:
    """CPU seconds a live process tree has used so far.

    cpu_s = sum over pid and its live descendants of (utime + stime + cutime + cstime) / CLK_TCK

    `cutime + cstime` carry the children each process already reaped, and a live
    descendant is counted once through its own entry (its time reaches its parent's
    `cutime` only after it is reaped and gone from /proc), so nothing counts twice.
    Descendants come from `/proc/<pid>/task/<tid>/children` where the kernel has it
    (cheap), else from a scan of every `/proc/<n>/stat`. A descendant that exits
    between the listing and its read is missed for that one reading (a sampling
    error of at most that process's time, gone once its parent reaped it). `None`
    when `pid` itself cannot be read.
    """
    root = Path(proc_root)
    top = _read_stat(root, pid)
    if top is None:
        return None
    scanned: dict[int, list[int]] | None = None
    ticks = 0
    stack = [top]
    seen = set()
    while stack:
        stat = stack.pop()
        if stat.pid in seen:
            continue
        seen.add(stat.pid)
        ticks += stat.ticks
        children = None if scanned is not None else _children_from_task_files(root, stat.pid)
        if children is None:
            if scanned is None:
                scanned = _children_by_scan(root, pid)
            children = scanned.get(stat.pid, [])
        for child in children:
            child_stat = _read_stat(root, child)
            if child_stat is not None:
                stack.append(child_stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree_pids(pid: int, proc_root: str = "/proc") -> set[int]:
    """`pid` and its live descendants (the same listing as `process_tree_cpu_seconds`); empty
    when `pid` is gone."""
    root = Path(proc_root)
    if _read_stat(root, pid) is None:
        return set()
    scanned: dict[int, list[int]] | None = None
    found: set[int] = set()
    stack = [pid]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        children = None if scanned is not None else _children_from_task_files(root, current)
        if children is None:
            if scanned is None:
                scanned = _children_by_scan(root, pid)
            children = scanned.get(current, [])
        stack.extend(children)
    return found
