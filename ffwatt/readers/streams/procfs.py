"""The /proc files the streams collector reads, each read in one place.

`read_stat` is the only reader of `/proc/<pid>/stat` here (issue 32 step 2 points it at
`ffwatt/readers/proc.py`, the one reader shared with the runner). Every read is one
`open`/`read`/`close` of bytes, bounded, and a process that is gone (or unreadable) is None,
never an error: processes end between a listing and a read all the time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["ProcStat", "parse_stat", "read_stat", "read_cmdline", "list_pids", "MAX_CMDLINE_BYTES"]

MAX_CMDLINE_BYTES = 1024 * 1024  # Linux allows ~2 MiB of arguments; a longer one is cut here
_STAT_BYTES = 4096
# /proc/<pid>/stat fields, counted from 1 as in proc(5); after the last ")" the text
# starts at field 3 (state).
_FIRST_AFTER_COMM = 3
_STATE, _PPID, _UTIME, _STIME, _CUTIME, _CSTIME, _STARTTIME = 3, 4, 14, 15, 16, 17, 22


@dataclass(frozen=True)
class ProcStat:
    """What the collector needs of one `/proc/<pid>/stat` (times in clock ticks)."""

    pid: int
    comm: str
    state: str
    ppid: int
    starttime: int  # ticks after boot: with the pid, it names one process (pids are reused)
    own_ticks: int  # utime + stime: every thread of the process, live or ended
    reaped_ticks: int  # cutime + cstime: the children it has waited for

    @property
    def ticks(self) -> int:
        return self.own_ticks + self.reaped_ticks


def parse_stat(data: bytes) -> ProcStat:
    """One stat line. `comm` (in parentheses) may hold spaces and `)`: split at the last `)`.
    ValueError when it is not a stat line."""
    text = data.decode("utf-8", "replace")
    head, sep, tail = text.rpartition(")")
    pid_text, open_paren, comm = head.partition(" (")
    fields = tail.split(None, _STARTTIME - _FIRST_AFTER_COMM + 1)
    if not sep or not open_paren or len(fields) < _STARTTIME - _FIRST_AFTER_COMM + 1:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    at = _FIRST_AFTER_COMM
    return ProcStat(int(pid_text), comm, fields[_STATE - at], int(fields[_PPID - at]), int(fields[_STARTTIME - at]),
                    int(fields[_UTIME - at]) + int(fields[_STIME - at]),
                    int(fields[_CUTIME - at]) + int(fields[_CSTIME - at]))


def _read(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stat(proc_root: str, pid: int) -> ProcStat | None:
    try:
        fd = os.open(f"{proc_root}/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, _STAT_BYTES)  # the kernel writes the whole line in one read
    except OSError:
        return None
    finally:
        os.close(fd)
    if not data:
        return None
    try:
        return parse_stat(data)
    except ValueError:
        return None


def read_cmdline(proc_root: str, pid: int) -> tuple[list[str], bool] | None:
    """(arguments, cut): the command line decoded as UTF-8 with replacement, at most
    `MAX_CMDLINE_BYTES` (cut: there was more); None when gone; [] for a kernel thread or zombie."""
    data = _read(f"{proc_root}/{pid}/cmdline", MAX_CMDLINE_BYTES + 1)
    if data is None:
        return None
    cut = len(data) > MAX_CMDLINE_BYTES
    data = data[:MAX_CMDLINE_BYTES]
    if data.endswith(b"\0"):
        data = data[:-1]
    return ([arg.decode("utf-8", "replace") for arg in data.split(b"\0")] if data else []), cut


def list_pids(proc_root: str) -> list[int]:
    """The pids under `proc_root`; OSError when it cannot be listed."""
    return [int(name) for name in os.listdir(proc_root) if name.isdigit()]
