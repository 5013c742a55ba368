"""Per-process CPU time: what `cpu_core_seconds` in a results file counts, and what the
attribution rule (`energy.attribution`) shares the machine's energy by.

Three readings (standard library and `readers.proc` only):

* `wait_with_rusage(proc, timeout)`: reaps a direct child with `os.wait4`, whose
  rusage holds the user + system CPU time of the child *and of every descendant it
  reaped* (ffmpeg's helper processes included). This is the figure a scenario
  records: exact, read once at the end, nothing sampled.
* `process_tree_cpu_seconds(pid)`: the CPU time a live process tree has used so
  far, from `/proc/<pid>/stat` (`utime + stime + cutime + cstime`, read by
  `readers.proc`) plus its live descendants, for progress samples while an encode runs
  (and a live per-stream collector). `proc_root` is injected so tests point it at a
  fixture tree.
* `process_tree_pids(pid)`: the pids of a live process tree (the process and its live
  descendants), for the meter's per-process GPU share (ffwatt/runner/meter).

Invariants: a process that cannot be read is unknown (`None`), never 0 s of CPU; a
reaped child's rusage is never lost silently (a child that someone else reaped
raises, because its CPU time can no longer be known).
"""

from __future__ import annotations

import os
import subprocess
import time

from ffwatt.readers.proc import CLOCK_TICKS, ChildLister, read_stat, tree_ticks

__all__ = ["wait_with_rusage", "process_tree_cpu_seconds", "process_tree_pids"]

_POLL_FIRST = 0.001
_POLL_MAX = 0.25  # a 4 Hz wake-up while an encode runs: the runner stays far below 1 % of it


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


def process_tree_cpu_seconds(pid: int, proc_root: str = "/proc") -> float | None:
    """CPU seconds a live process tree has used so far.

    cpu_s = sum over pid and its live descendants of (utime + stime + cutime + cstime) / CLK_TCK

    `cutime + cstime` carry the children each process already reaped, and a live
    descendant is counted once through its own entry (its time reaches its parent's
    `cutime` only after it is reaped and gone from /proc), so nothing counts twice.
    Descendants come from `/proc/<pid>/task/<tid>/children` where the kernel has it
    (cheap), else from a scan of every `/proc/<n>/stat` (`readers.proc.ChildLister`). A
    descendant that exits between the listing and its read is missed for that one reading
    (a sampling error of at most that process's time, gone once its parent reaped it).
    `None` when `pid` itself cannot be read.
    """
    ticks = tree_ticks(pid, proc_root)
    return None if ticks is None else ticks / CLOCK_TICKS


def process_tree_pids(pid: int, proc_root: str = "/proc") -> set[int]:
    """`pid` and its live descendants (the same listing as `process_tree_cpu_seconds`); empty
    when `pid` is gone."""
    if read_stat(pid, proc_root) is None:
        return set()
    children = ChildLister(proc_root, top=pid)
    found: set[int] = set()
    stack = [pid]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children(current))
    return found
