"""Exporters (and node-exporter) as separate processes, with their own CPU and memory.

Each process is started on 127.0.0.1 on a free port, logs to a file in a work dir,
and is stopped with SIGTERM (then SIGKILL) at the end (`common.process`). /proc/<pid>/stat (utime +
stime, every thread, dead ones too) and /proc/<pid>/status (VmRSS, VmHWM, Threads)
are the process's own, which is why the bench never measures an exporter in-process.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from ffwatt.common import process
from ffwatt.common.process import free_port
from ffwatt.readers.proc import read_stat

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ProcStat:
    cpu_seconds: float  # utime + stime, all threads
    rss_bytes: int  # VmRSS
    hwm_bytes: int  # VmHWM: peak resident
    threads: int
    rss_anon_bytes: int = 0  # RssAnon: the process's own heap and stacks
    rss_file_bytes: int = 0  # RssFile: mapped files (interpreter, shared libraries), shareable


def proc_stat(pid: int) -> ProcStat:
    stat = read_stat(pid)
    if stat is None:
        raise ProcessLookupError(f"/proc/{pid}/stat: no such process")
    status: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()

    def kib(key: str) -> int:
        return int(status.get(key, "0 kB").split()[0]) * 1024

    return ProcStat(stat.own_seconds, kib("VmRSS"), kib("VmHWM"), int(status.get("Threads", "0")),
                    kib("RssAnon"), kib("RssFile"))


class Process:
    """A long-running server process on 127.0.0.1:port, ready when `ready_path` answers with one
    of `ready_statuses` (any, when None) and `ready(answer)` agrees.
    `{port}` in an argument stands for the port (a new one when the first was taken)."""

    ready_path = "/metrics"
    ready_statuses: tuple[int, ...] | None = (200,)
    scheme = "http"
    # A server behind a web config: its CA and the readiness GET's headers (basic auth).
    ssl_context: ssl.SSLContext | None = None
    ready_headers: Mapping[str, str] | None = None

    def __init__(self, name: str, argv: Sequence[str], *, workdir: Path, port: int,
                 env: dict[str, str] | None = None, start_timeout: float = 30.0):
        self.name = name
        self.argv = list(argv)
        self.workdir = Path(workdir)
        self.port = port
        self.env = env
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"{name}.log"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stat(self) -> ProcStat:
        return proc_stat(self.pid)

    def log_tail(self, nbytes: int = 3000) -> str:
        return process.log_tail(self.log_path, nbytes)

    def start(self) -> Process:
        """Launch and wait until ready; a port taken meanwhile is replaced (3 tries)."""
        for attempt in range(3):
            try:
                self._launch()
                self._wait_ready()
                return self
            except process.ProcessStartError as exc:
                if attempt < 2 and "address already in use" in str(exc).lower():
                    self._new_port(free_port())
                    continue
                raise
        raise AssertionError("unreachable")

    def _new_port(self, port: int) -> None:
        self.port = port

    @property
    def command(self) -> list[str]:
        """The command line: `{port}` in an argument is the current port."""
        return [a.replace("{port}", str(self.port)) for a in self.argv]

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env or {})
        # the repository root first, so `-m ffwatt.exporters` / `-m scripts.simulated_gpu` resolve here
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        self.proc = process.spawn_logged(self.command, self.log_path, cwd=REPO, env=env)

    def _wait_ready(self) -> None:
        assert self.proc is not None
        try:
            process.wait_http(self.url + self.ready_path, self.start_timeout, check=self.ready, proc=self.proc,
                              statuses=self.ready_statuses, headers=self.ready_headers,
                              context=self.ssl_context)
        except process.ProcessStartError:
            code, self.proc = self.proc.returncode, None
            raise process.ProcessStartError(f"{self.name} exited with {code}:\n{self.log_tail()}") from None
        except TimeoutError as exc:
            tail = self.log_tail()
            self.kill()
            raise process.ProcessStartError(f"{self.name} not ready: {exc}:\n{tail}") from None

    def ready(self, answer: process.HttpAnswer) -> bool:
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group, wait up to `timeout`, then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is not None:
            process.terminate(proc, timeout, group=True)

    def kill(self) -> None:
        """SIGKILL, no clean shutdown."""
        proc, self.proc = self.proc, None
        if proc is not None:
            process.kill(proc)

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ExporterProcess(Process):
    """`python -m ffwatt.exporters NAME --listen-address 127.0.0.1 --port P FLAGS` (or another
    entry module taking the exporter's flags, e.g. `scripts.simulated_gpu STATE` for gpu).
    Ready once its first refresh has completed (/health reports a refresh)."""

    def __init__(self, exporter: str, *flags: str, workdir: Path, env: dict[str, str] | None = None,
                 module: Sequence[str] | None = None, label: str | None = None, port: int | None = None,
                 start_timeout: float = 30.0):
        port = port or free_port()
        module = list(module) if module is not None else ["ffwatt.exporters", exporter]
        argv = [sys.executable, "-m", *module, "--listen-address", "127.0.0.1", "--port", "{port}", *flags]
        super().__init__(label or exporter, argv, workdir=workdir, port=port, env=env, start_timeout=start_timeout)
        self.exporter = exporter

    ready_path = "/health"
    ready_statuses = None  # /health is 503 while failing: any JSON answer that reports a refresh will do

    def ready(self, answer: process.HttpAnswer) -> bool:
        return answer.json().get("refreshes", 0) > 0

    def health(self) -> dict:
        return requests.get(self.url + "/health", timeout=10).json()


class NodeExporter(Process):
    """prometheus-node-exporter on a free loopback port, default collectors."""

    def __init__(self, *, workdir: Path, binary: str):
        port = free_port()
        super().__init__("node-exporter", [binary, "--web.listen-address=127.0.0.1:{port}"],
                         workdir=workdir, port=port)
