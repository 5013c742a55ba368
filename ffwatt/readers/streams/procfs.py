"""The /proc files the streams collector reads besides `/proc/<pid>/stat`, each read in one place.

`/proc/<pid>/stat` is read by `ffwatt/readers/proc.py` (`read_stat`), the one reader shared with
the runner. Here: the process list and a command line. Every read is one `open`/`read`/`close` of
bytes, bounded, and a process that is gone (or unreadable) is None, never an error: processes
end between a listing and a read all the time.
"""

from __future__ import annotations

import os

__all__ = ["read_cmdline", "list_pids", "MAX_CMDLINE_BYTES"]

MAX_CMDLINE_BYTES = 1024 * 1024  # Linux allows ~2 MiB of arguments; a longer one is cut here


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
