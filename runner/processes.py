"""Long-running helper processes (nginx-rtmp, and whatever the runner starts next).

The contract, the same as the test servers': a process runs in its own session (so a
group signal reaches its children), its output goes to a log file that starts with the
command line as it can be pasted into a shell, every wait is bounded, and stopping is
SIGTERM to the process, a bounded wait, then SIGKILL to its whole group. Standard
library only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
from pathlib import Path

LOG_TAIL_BYTES = 4000


def spawn_logged(argv: list[str], log_path: Path, *, cwd: Path | None = None) -> subprocess.Popen:
    """Start `argv` in its own session, stdout and stderr appended to `log_path` after a
    line naming the command. `FileNotFoundError`/`PermissionError` propagate."""
    with open(log_path, "ab") as log:
        log.write(f"\n# {shlex.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group `proc` leads (its own session), else to it alone."""
    if proc.returncode is not None:
        return  # reaped already: the PID may belong to someone else now
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the process itself, wait up to `timeout` s, then SIGKILL its group and
    wait up to 10 s more. Returns without waiting when it has exited already."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group, no clean shutdown; bounded wait."""
    if proc.poll() is not None:
        return
    signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def log_tail(path: Path, nbytes: int = LOG_TAIL_BYTES) -> str:
    """The last `nbytes` of a log file, decoded leniently; a note when it is unreadable."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            return f.read().decode("utf-8", "replace").strip()
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a listening socket could bind `host:port` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # nginx sets SO_REUSEADDR too, so a port in TIME_WAIT counts as free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
