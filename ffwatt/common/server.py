"""What every launcher in `servers` shares: finding a binary, the errors, and `Server`, one
long-running binary in its own temp dir on 127.0.0.1:port, built on `common.process`.

A server that does not come up raises `ServerStartError` with the tail of its log. A missing
binary (or root, or a module) is `ServerUnavailableError`, raised before anything starts, so a
caller can tell "this machine lacks it" from "it broke" (the tests skip on the first).
Every server still running at interpreter exit is killed, as a backstop.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, Self, TypedDict

from ffwatt.common import process
from ffwatt.common.errors import FfwattError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LOG_TAIL_BYTES = process.LOG_TAIL_BYTES
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
INSTALL_HINT = "install it with scripts/install-system-deps.sh"


class ServerStartError(process.ProcessStartError):
    """A server did not become ready; the message carries its log tail."""


class ServerUnavailableError(FfwattError, RuntimeError):
    """This machine lacks what a server needs (a binary, root, a module); nothing was started."""


class BinaryMissingError(ServerUnavailableError):
    """A binary is on neither PATH nor the sbin dirs."""


def find_binary(name: str) -> str:
    """Absolute path of `name` on PATH (or the sbin dirs), else `BinaryMissingError`."""
    path = shutil.which(name) or shutil.which(name, path=SBIN)
    if path is None:
        raise BinaryMissingError(f"binary {name!r} not found on PATH ({INSTALL_HINT})")
    return path


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise ServerUnavailableError(f"{what} needs root")


def keep_dirs() -> bool:
    """`FFWATT_KEEP_SERVER_DIRS=1` keeps each server's temp dir (logs, data) for a post-mortem."""
    return os.environ.get("FFWATT_KEEP_SERVER_DIRS", "") == "1"


def remove_dir(path: Path) -> None:
    if not keep_dirs():
        shutil.rmtree(path, ignore_errors=True)


class _Killable(Protocol):
    def kill(self) -> None: ...


# Backstop: everything still running at interpreter exit gets killed.
LIVE: weakref.WeakSet[_Killable] = weakref.WeakSet()


@atexit.register
def _kill_all_live() -> None:
    for server in list(LIVE):
        with contextlib.suppress(Exception):
            server.kill()


class StartedContext:
    """`with X() as x:` starts x and closes it at the end, also when the start fails halfway
    (a half-started server leaves no process or temp dir behind). Subclasses give `start`/`close`."""

    def start(self):
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LoggedProcess(StartedContext):
    """One process (`proc`) whose output goes to `log_path`: whether it runs, and its log's tail.
    Subclasses give `stop`; `close` stops, then removes `own_dir`, the temp dir the object made for
    itself (None: the caller's dir, or none, is kept)."""

    proc: subprocess.Popen | None = None
    log_path: Path
    own_dir: Path | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, nbytes: int = LOG_TAIL_BYTES) -> str:
        return process.log_tail(self.log_path, nbytes)

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.own_dir is not None:
                remove_dir(self.own_dir)


class ServerArgs(TypedDict, total=False):
    """What every `Server` subclass takes besides its own arguments (`**server: Unpack[ServerArgs]`)."""

    port: int | None  # None: a free port (another is picked when it is taken before the bind)
    workdir: str | os.PathLike | None  # None: a temp dir, removed at close
    extra_args: Sequence[str]
    start_timeout: float


class Server(LoggedProcess):
    """One long-running binary in its own temp dir, on 127.0.0.1:port; subclasses give
    `name` (the binary), `ready_path` and `_command()`."""

    name = "server"
    ready_path = "/health"

    def __init__(
        self,
        *,
        port: int | None = None,
        workdir: str | os.PathLike | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.binary = find_binary(self.name)
        self.workdir = Path(workdir if workdir is not None else tempfile.mkdtemp(prefix=f"ffw-{self.name}-"))
        self.own_dir = self.workdir if workdir is None else None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self._fixed_port = port is not None
        self.port: int = port if port is not None else process.free_port()
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    def _command(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def given_file(self, path: str | os.PathLike | None, text: str | None, name: str) -> Path | None:
        """A config given as a `path` or as `text` (written to <workdir>/<name>), not both; None: neither."""
        if path is not None and text is not None:
            raise ValueError(f"{self.name}: give a {name} path or its text, not both")
        if text is not None:
            path = self.workdir / name
            path.write_text(text, encoding="utf-8")
        return Path(path).resolve() if path is not None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _launch(self) -> None:
        self.proc = process.spawn_logged(self._command(), self.log_path, cwd=self.workdir)
        LIVE.add(self)

    def _wait_ready(self) -> None:
        process.wait_http(self.url + self.ready_path, self.start_timeout, proc=self.proc)

    def start(self) -> Server:
        if self.running:
            return self
        # A port picked by free_port() can be taken before the server binds
        # it; pick another one then (never when the caller fixed the port).
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            t0 = time.monotonic()
            self._launch()
            try:
                self._wait_ready()
            except (process.ProcessStartError, TimeoutError) as e:
                tail = self.log_tail()
                self.kill()
                if attempt + 1 < attempts and "address already in use" in tail:
                    self.port = process.free_port()
                    continue
                raise ServerStartError(
                    f"{self.name} did not start on {self.url}: {e}\n--- tail of {self.log_path} ---\n{tail}"
                ) from None
            self.startup_seconds = time.monotonic() - t0
            return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the group, wait up to `timeout`, then SIGKILL."""
        if self.proc is None:
            return
        process.terminate(self.proc, timeout, group=True)
        self.proc = None
        LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL, no clean shutdown (for crash tests and teardown)."""
        if self.proc is None:
            return
        process.kill(self.proc)
        self.proc = None
        LIVE.discard(self)

    def restart(self) -> Server:
        """Clean stop, then start again on the same port and data dir."""
        self.stop()
        fixed, self._fixed_port = self._fixed_port, True
        try:
            return self.start()
        finally:
            self._fixed_port = fixed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} running={self.running}>"
