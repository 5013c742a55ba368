"""The one way ffwatt runs a long-lived helper process (a server, an encoder, an exporter).

The contract: a process runs in its own session (so a group signal reaches its children),
its output goes to a log file that starts with the command line as it can be pasted into a
shell, every wait is bounded and a failed wait carries the log's tail, and stopping is
SIGTERM (to the process, or its whole group), a bounded wait, then SIGKILL to the group.
Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffwatt.common.urls import open_request

LOG_TAIL_BYTES = 4000
KILL_WAIT_SECONDS = 10.0


class ProcessStartError(RuntimeError):
    """A process did not become ready in time, or exited first; the message says which and,
    where there is one, carries the tail of its log."""


def spawn_logged(argv: list[str], log_path: Path, *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start `argv` in its own session, stdout and stderr appended to `log_path` after a
    line naming the command. `FileNotFoundError`/`PermissionError` propagate."""
    with open(log_path, "ab") as log:
        log.write(f"\n# {shlex.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                env=dict(env) if env is not None else None, start_new_session=True)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group `proc` leads (its own session), else to it alone."""
    if proc.returncode is not None:
        return  # reaped already: the PID may belong to someone else now
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def terminate(proc: subprocess.Popen, timeout: float, *, group: bool = False) -> None:
    """SIGTERM to the process (its whole group when `group`), wait up to `timeout` s, then
    SIGKILL its group and wait up to 10 s more. Returns at once when it has exited already.

    `group=False` suits a master that stops its own children in order (nginx, dockerd);
    `group=True` a process whose children would otherwise outlive it."""
    if proc.poll() is not None:
        return
    if group:
        signal_group(proc, signal.SIGTERM)
    else:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    kill(proc)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group, no clean shutdown; bounded wait."""
    if proc.poll() is not None:
        return
    signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(KILL_WAIT_SECONDS)


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
        # servers set SO_REUSEADDR too, so a port in TIME_WAIT counts as free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class HttpAnswer:
    """What `wait_http` got: the status and the body."""

    url: str
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def http_get(url: str, timeout: float = 2.0, *, headers: Mapping[str, str] | None = None,
             context: ssl.SSLContext | None = None) -> HttpAnswer:
    """One GET; an HTTP error status is an answer, not an exception (`OSError` when none came).
    `headers` (e.g. basic auth) and `context` (an https server's CA) reach a server behind a web config."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with open_request(request, timeout, context) as r:  # no redirect: `headers` may hold credentials
            return HttpAnswer(url, r.status, r.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpAnswer(url, exc.code, exc.read())


def wait_http(
    url: str,
    timeout: float = 30.0,
    *,
    check: Callable[[HttpAnswer], bool] | None = None,
    proc: subprocess.Popen | None = None,
    interval: float = 0.05,
    statuses: Collection[int] | None = (200,),
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> HttpAnswer:
    """Poll `url` until it answers with one of `statuses` (any, when None; 200 by default)
    and `check(answer)` is true.

    Raises `TimeoutError` naming the last answer after `timeout` s, or `ProcessStartError`
    at once when `proc` exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if proc is not None and proc.poll() is not None:
            raise ProcessStartError(f"process exited with code {proc.returncode} while waiting for {url}")
        try:
            answer = http_get(url, headers=headers, context=context)
            if (statuses is None or answer.status_code in statuses) and (check is None or check(answer)):
                return answer
            last = f"HTTP {answer.status_code}: {answer.text[:200]!r}"
        except (OSError, ValueError) as exc:  # refused, reset, timed out; a check reading bad JSON
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} not ready after {timeout:.0f}s (last: {last})")
        time.sleep(interval)


def _command_lines() -> list[tuple[int, str]]:
    """(pid, command line with spaces) of every process but this one."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        found.append((int(entry), raw.replace(b"\0", b" ").decode("utf-8", "replace")))
    return found


def pids_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions `text` (a unique temp dir): the strays to kill after
    a crash, also those that left our process group (a daemonizing shim)."""
    return [pid for pid, cmdline in _command_lines() if text in cmdline]


def processes_mentioning(marker: str, programs: tuple[str, ...] = ("ffmpeg", "nginx")) -> list[str]:
    """`"pid: command line"` of live processes of `programs` whose command line mentions
    `marker` (a unique temp path), test runners left out: what must be gone after a run, an
    interrupt or a fault."""
    return [f"{pid}: {cmdline}" for pid, cmdline in _command_lines()
            if marker in cmdline and any(p in cmdline for p in programs) and "pytest" not in cmdline]
