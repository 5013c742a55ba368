"""Real servers on loopback for integration tests.

Every server here is the real binary (VictoriaMetrics, vmalert, Prometheus,
promtool, dockerd) started in a private temp dir, listening on 127.0.0.1 on a
free port, logging to a file in that dir. Start-up waits are bounded; a server
that does not come up raises ``ServerStartError`` with the tail of its log.
Every process is killed at teardown, also when a test fails, and once more at
interpreter exit as a backstop.

A missing binary skips the test with a reason, unless the environment asks for
the real thing (``FFWATT_REQUIRE_INTEGRATION=1`` or ``CI=true``); then it fails.
``scripts/install-system-deps.sh`` installs the binaries on Debian/Ubuntu.

Facts about the binaries this module relies on (VictoriaMetrics 1.79, Debian):

* ``-search.latencyOffset`` defaults to 30s and hides fresh samples; we use 0s.
* Fresh series become searchable only after VictoriaMetrics flushes its
  in-memory parts (up to ~10 s on its own). ``/internal/force_flush`` shortens
  that to about a second, so use ``wait_query`` rather than a bare ``query``
  right after data went in.
* The scrape-config reload flag is ``-promscrape.configCheckInterval``.
* vmalert refuses alerting rules without a notifier, so ``VMAlert`` starts a
  tiny in-process Alertmanager stand-in unless given ``notifier_url``.
"""

from __future__ import annotations

import atexit
import http.server
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

__all__ = [
    "ServerStartError",
    "QueryError",
    "integration_required",
    "require_binary",
    "require_root",
    "require_rtmp_module",
    "free_port",
    "wait_http",
    "VictoriaMetrics",
    "dry_run_scrape_config",
    "Prometheus",
    "promtool",
    "promtool_check_metrics",
    "VMAlert",
    "vmalert_dry_run",
    "AlertSink",
    "DockerEngine",
    "BUSYBOX_IMAGE",
    "NginxRtmp",
]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LOG_TAIL_BYTES = 4000
BUSYBOX_IMAGE = "ffwatt-busybox:test"
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries its log tail."""


class QueryError(RuntimeError):
    """A Prometheus-API query did not return status=success."""


# --------------------------------------------------------------------------
# skip-or-fail policy


def integration_required() -> bool:
    """True when missing binaries must fail the run instead of skipping."""
    return os.environ.get("FFWATT_REQUIRE_INTEGRATION", "") == "1" or os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if integration_required():
        pytest.fail(
            f"{reason} (integration tests are required here: FFWATT_REQUIRE_INTEGRATION=1 or CI=true)",
            pytrace=False,
        )
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Absolute path of ``name`` on PATH (or the sbin dirs), else skip/fail."""
    path = shutil.which(name) or shutil.which(name, path=_SBIN)
    if path is None:
        _unavailable(f"binary {name!r} not found on PATH (install it with scripts/install-system-deps.sh)")
    return path  # type: ignore[return-value]


def require_rtmp_module() -> None:
    """nginx's RTMP module on disk (or built in), else skip/fail naming the package."""
    from runner.rtmp_server import RtmpServerError, find_rtmp_module

    try:
        find_rtmp_module(require_binary("nginx"))
    except RtmpServerError as e:
        _unavailable(str(e))


def require_root(what: str = "this test") -> None:
    if os.geteuid() != 0:
        _unavailable(f"{what} needs root")


# --------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str,
    timeout: float = START_TIMEOUT,
    *,
    check: Callable[[requests.Response], bool] | None = None,
    proc: subprocess.Popen | None = None,
    interval: float = 0.05,
) -> requests.Response:
    """Poll ``url`` until it answers 200 (and ``check(response)`` is true).

    Raises ``TimeoutError`` after ``timeout`` seconds, or ``ServerStartError``
    at once when ``proc`` exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    last: str = "no answer"
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(f"process exited with code {proc.returncode} while waiting for {url}")
        try:
            r = requests.get(url, timeout=2)
            if r.status_code == 200 and (check is None or check(r)):
                return r
            last = f"HTTP {r.status_code}: {r.text[:200]!r}"
        except requests.RequestException as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} not ready after {timeout:.0f}s (last: {last})")
        time.sleep(interval)


def _tail(path: Path, nbytes: int = LOG_TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - nbytes))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<no log: {e}>"


def _keep_dirs() -> bool:
    return os.environ.get("FFWATT_KEEP_SERVER_DIRS", "") == "1"


def _rmtree(path: Path) -> None:
    if not _keep_dirs():
        shutil.rmtree(path, ignore_errors=True)


# Backstop: everything still running at interpreter exit gets killed.
_LIVE: weakref.WeakSet[_Server | DockerEngine | NginxRtmp] = weakref.WeakSet()


@atexit.register
def _kill_all_live() -> None:
    for server in list(_LIVE):
        try:
            server.kill()
        except Exception:
            pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group we started ``proc`` in."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# generic server process


def _terminate(proc: subprocess.Popen, timeout: float, *, group: bool) -> None:
    """SIGTERM (the process group, or the process alone), wait, then SIGKILL the group."""
    if proc.poll() is not None:
        return
    if group:
        _signal_group(proc, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(10)


def _spawn_logged(cmd: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start a server in its own session (so a group kill reaches its children), its
    output appended to log_path after a line naming the command."""
    with open(log_path, "ab") as log:
        log.write(f"\n=== ffwatt tests: starting {' '.join(cmd)}\n".encode())
        log.flush()
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)


class _Server:
    """One long-running binary in its own temp dir, on 127.0.0.1:port."""

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
        self.binary = require_binary(self.name)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir if workdir is not None else tempfile.mkdtemp(prefix=f"ffw-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    # subclasses build the command line
    def _command(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, nbytes: int = LOG_TAIL_BYTES) -> str:
        return _tail(self.log_path, nbytes)

    def _launch(self) -> None:
        self.proc = _spawn_logged(self._command(), self.log_path, cwd=self.workdir)
        _LIVE.add(self)

    def _wait_ready(self) -> None:
        wait_http(self.url + self.ready_path, self.start_timeout, proc=self.proc)

    def start(self) -> _Server:
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
            except (ServerStartError, TimeoutError) as e:
                tail = self.log_tail()
                self.kill()
                if attempt + 1 < attempts and "address already in use" in tail:
                    self.port = free_port()
                    continue
                raise ServerStartError(
                    f"{self.name} did not start on {self.url}: {e}\n--- tail of {self.log_path} ---\n{tail}"
                ) from None
            self.startup_seconds = time.monotonic() - t0
            return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL."""
        if self.proc is None:
            return
        _terminate(self.proc, timeout, group=True)
        self.proc = None
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL, no clean shutdown (for crash tests and teardown)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        _LIVE.discard(self)

    def restart(self) -> _Server:
        """Clean stop, then start again on the same port and data dir."""
        self.stop()
        fixed, self._fixed_port = self._fixed_port, True
        try:
            return self.start()
        finally:
            self._fixed_port = fixed

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self._own_workdir:
                _rmtree(self.workdir)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} running={self.running}>"


class _PromAPI:
    """Prometheus HTTP API queries, shared by VictoriaMetrics and Prometheus."""

    url: str

    def _get(self, path: str, params: Any = None, timeout: float = 30) -> Any:
        r = requests.get(self.url + path, params=params, timeout=timeout)
        return self._data(r)

    @staticmethod
    def _data(r: requests.Response) -> Any:
        try:
            body = r.json()
        except ValueError:
            raise QueryError(f"HTTP {r.status_code} from {r.url}: {r.text[:500]}") from None
        if r.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"HTTP {r.status_code} from {r.url}: {body}")
        return body["data"]

    def query(self, expr: str, time: float | None = None) -> list:
        """Instant query; returns ``data.result`` (a list for vectors)."""
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = time
        return self._get("/api/v1/query", params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float | str = 15) -> list:
        """Range query; returns ``data.result`` (list of matrix series)."""
        params = {"query": expr, "start": start, "end": end, "step": step}
        return self._get("/api/v1/query_range", params)["result"]

    def series(
        self,
        match: str | Iterable[str],
        start: float | None = None,
        end: float | None = None,
    ) -> list[dict]:
        """Label sets of the series matching one or more selectors."""
        matches = [match] if isinstance(match, str) else list(match)
        params: list[tuple[str, Any]] = [("match[]", m) for m in matches]
        if start is not None:
            params.append(("start", start))
        if end is not None:
            params.append(("end", end))
        return self._get("/api/v1/series", params)

    def label_values(self, label: str) -> list[str]:
        return self._get(f"/api/v1/label/{label}/values")

    def value(self, expr: str, time: float | None = None) -> float | None:
        """The single sample value of an instant query, None when empty."""
        result = self.query(expr, time)
        if not result:
            return None
        if isinstance(result[0], dict):
            if len(result) != 1:
                raise QueryError(f"{expr!r} returned {len(result)} series: {result}")
            return float(result[0]["value"][1])
        return float(result[1])  # scalar: [ts, "v"]

    def _before_poll(self) -> None:
        """Hook run before each poll of wait_query."""

    def wait_query(
        self,
        expr: str,
        predicate: Callable[[list], bool] = bool,
        timeout: float = 30.0,
        interval: float = 0.25,
    ) -> list:
        """Poll an instant query until ``predicate(result)`` is true.

        Returns the result; raises ``TimeoutError`` naming the last result.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._before_poll()
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{expr!r} on {self.url}: condition not met after {timeout:.0f}s; last result: {result}"
                )
            time.sleep(interval)


# --------------------------------------------------------------------------
# VictoriaMetrics


def _wait_reaped(pid_file: Path, timeout: float = 15.0) -> None:
    """After a SIGKILL, dockerd's containerd lingers as a zombie until PID 1 reaps it; a
    dockerd started meanwhile takes the zombie for a live containerd ("containerd is still
    running"), waits on its socket and gives up ("timeout waiting for containerd to
    start"). Wait for the reaping, so start() after kill() works at once."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state not in ("Z", "X"):
            return  # a live process (the PID reused): nothing of ours to wait for
        time.sleep(0.1)


class VictoriaMetrics(_PromAPI, _Server):
    """Single-node VictoriaMetrics with a temp ``-storageDataPath``.

    ``scrape_config`` (path) or ``scrape_config_text`` (YAML) enables its
    built-in scraper; ``config_check_interval`` (e.g. "1s") makes it re-read
    the file. Data stays across ``restart()`` (a clean shutdown); across ``kill()``
    only what ``persist()`` made durable does.
    """

    name = "victoria-metrics"

    def __init__(
        self,
        scrape_config: str | os.PathLike | None = None,
        *,
        scrape_config_text: str | None = None,
        config_check_interval: str | None = None,
        retention: str = "100y",
        extra_args: Sequence[str] = (),
        port: int | None = None,
        workdir: str | os.PathLike | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        super().__init__(port=port, workdir=workdir, extra_args=extra_args, start_timeout=start_timeout)
        if scrape_config_text is not None:
            if scrape_config is not None:
                raise ValueError("give scrape_config or scrape_config_text, not both")
            scrape_config = self.workdir / "scrape.yml"
            Path(scrape_config).write_text(scrape_config_text)
        self.scrape_config = Path(scrape_config) if scrape_config is not None else None
        self.config_check_interval = config_check_interval
        self.retention = retention
        self.data_dir = self.workdir / "data"

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            # default 30s hides samples younger than that from queries
            "-search.latencyOffset=0s",
            # no response cache: tests write and read back within seconds
            "-search.disableCache",
            # test data may carry old timestamps; default retention is 1 month
            f"-retentionPeriod={self.retention}",
        ]
        if self.scrape_config is not None:
            cmd.append(f"-promscrape.config={self.scrape_config}")
            if self.config_check_interval:
                cmd.append(f"-promscrape.configCheckInterval={self.config_check_interval}")
        return cmd + self.extra_args

    def flush(self) -> None:
        """Make recently ingested samples searchable (/internal/force_flush)."""
        r = requests.get(self.url + "/internal/force_flush", timeout=30)
        r.raise_for_status()

    def persist(self) -> None:
        """Make every ingested sample durable on disk, so it survives a SIGKILL.

        /internal/force_flush alone only makes recent samples searchable: VictoriaMetrics
        1.79 still holds them in memory for ~5 s, and a SIGKILL right after loses them
        (seen: 9 of 9 flushed samples). Creating a snapshot writes the in-memory parts
        to disk; the snapshot itself is deleted again."""
        self.flush()
        r = requests.get(self.url + "/snapshot/create", timeout=60)
        r.raise_for_status()
        name = r.json()["snapshot"]
        requests.get(self.url + "/snapshot/delete", params={"snapshot": name}, timeout=60).raise_for_status()

    def _before_poll(self) -> None:
        self.flush()

    def import_prometheus(
        self,
        text: str,
        timestamp: float | None = None,
        *,
        extra_labels: dict[str, str] | None = None,
        flush: bool = True,
    ) -> None:
        """POST exposition text to /api/v1/import/prometheus.

        Lines may carry their own millisecond timestamps; ``timestamp`` (unix
        seconds) applies to lines without one, else the server's now.
        """
        params: list[tuple[str, str]] = []
        if timestamp is not None:
            params.append(("timestamp", str(int(round(timestamp * 1000)))))
        for k, v in (extra_labels or {}).items():
            params.append(("extra_label", f"{k}={v}"))
        r = requests.post(
            self.url + "/api/v1/import/prometheus",
            params=params,
            data=text.encode(),
            timeout=30,
        )
        if r.status_code not in (200, 204):
            raise QueryError(f"import failed: HTTP {r.status_code}: {r.text[:500]}")
        if flush:
            self.flush()

    def export(self, match: str) -> list[dict]:
        """Raw samples via /api/v1/export: [{metric, values, timestamps}]."""
        self.flush()
        r = requests.get(self.url + "/api/v1/export", params={"match[]": match}, timeout=30)
        r.raise_for_status()
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]

    def delete_series(self, match: str) -> None:
        r = requests.post(
            self.url + "/api/v1/admin/tsdb/delete_series",
            params={"match[]": match},
            timeout=30,
        )
        if r.status_code not in (200, 204):
            raise QueryError(f"delete_series failed: HTTP {r.status_code}: {r.text}")

    def targets(self) -> list[dict]:
        """Active scrape targets (/api/v1/targets)."""
        return self._get("/api/v1/targets")["activeTargets"]


def dry_run_scrape_config(path: str | os.PathLike, *extra_args: str) -> subprocess.CompletedProcess:
    """Validate a scrape config with ``-promscrape.config.dryRun``.

    returncode 0 means valid; errors are in stderr. Runs in a temp cwd so
    nothing is left behind.
    """
    binary = require_binary("victoria-metrics")
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="ffw-dryrun-") as cwd:
        return subprocess.run(
            [
                binary,
                f"-promscrape.config={path}",
                "-promscrape.config.dryRun",
                "-loggerLevel=ERROR",
                *extra_args,
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )


# --------------------------------------------------------------------------
# Prometheus / promtool


_DEFAULT_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
"""


class Prometheus(_PromAPI, _Server):
    """Prometheus with a given config (path or text) and a temp TSDB."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        config_file: str | os.PathLike | None = None,
        *,
        config_text: str | None = None,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        workdir: str | os.PathLike | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        super().__init__(port=port, workdir=workdir, extra_args=extra_args, start_timeout=start_timeout)
        if config_file is not None and config_text is not None:
            raise ValueError("give config_file or config_text, not both")
        if config_file is None:
            config_file = self.workdir / "prometheus.yml"
            Path(config_file).write_text(config_text or _DEFAULT_PROMETHEUS_CONFIG)
        self.config_file = Path(config_file).resolve()
        self.data_dir = self.workdir / "tsdb"

    def _command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]

    def reload(self) -> None:
        requests.post(self.url + "/-/reload", timeout=30).raise_for_status()

    def targets(self) -> list[dict]:
        return self._get("/api/v1/targets")["activeTargets"]


def promtool(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run promtool; text mode, output captured, never raises on exit code."""
    binary = require_binary("promtool")
    return subprocess.run([binary, *args], input=input, capture_output=True, text=True, timeout=timeout)


def promtool_check_metrics(text: str) -> tuple[bool, str]:
    """Lint exposition text with ``promtool check metrics``.

    Returns (ok, findings): ok is exit code 0; findings is stdout+stderr.
    """
    cp = promtool("check", "metrics", input=text)
    return cp.returncode == 0, (cp.stdout + cp.stderr).strip()


# --------------------------------------------------------------------------
# vmalert


class AlertSink:
    """Minimal Alertmanager stand-in (POST /api/v2/alerts), in a thread.

    vmalert 1.79 will not run alerting rules without a notifier. Received
    alert objects are appended to ``alerts``.
    """

    def __init__(self) -> None:
        self.alerts: list[dict] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body or b"[]")
                except ValueError:
                    payload = []
                with sink._lock:
                    sink.alerts.extend(payload if isinstance(payload, list) else [payload])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.alerts)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class VMAlert(_Server):
    """vmalert evaluating ``rules`` against a datasource (usually a VM)."""

    name = "vmalert"

    def __init__(
        self,
        rules: str | os.PathLike | Sequence[str | os.PathLike] = (),
        datasource_url: str = "",
        *,
        rules_text: str | None = None,
        remote_write_url: str | None = None,
        remote_read_url: str | None = None,
        notifier_url: str | None = None,
        evaluation_interval: str = "1s",
        extra_args: Sequence[str] = (),
        port: int | None = None,
        workdir: str | os.PathLike | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        if not datasource_url:
            raise ValueError("datasource_url is required (e.g. VictoriaMetrics.url)")
        super().__init__(port=port, workdir=workdir, extra_args=extra_args, start_timeout=start_timeout)
        if isinstance(rules, (str, os.PathLike)):
            rules = [rules]
        self.rules = [Path(r).resolve() for r in rules]
        if rules_text is not None:
            p = self.workdir / "rules.yml"
            p.write_text(rules_text)
            self.rules.append(p)
        if not self.rules:
            raise ValueError("no rule files given")
        self.datasource_url = datasource_url
        self.remote_write_url = remote_write_url
        self.remote_read_url = remote_read_url
        self.evaluation_interval = evaluation_interval
        self.sink: AlertSink | None = None
        self.notifier_url = notifier_url

    def _command(self) -> list[str]:
        cmd = [self.binary]
        cmd += [f"-rule={r}" for r in self.rules]
        cmd += [
            f"-datasource.url={self.datasource_url}",
            f"-notifier.url={self.notifier_url}",
            f"-evaluationInterval={self.evaluation_interval}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
        ]
        if self.remote_write_url:
            cmd += [
                f"-remoteWrite.url={self.remote_write_url}",
                "-remoteWrite.flushInterval=1s",
            ]
        if self.remote_read_url:
            cmd.append(f"-remoteRead.url={self.remote_read_url}")
        return cmd + self.extra_args

    def start(self) -> VMAlert:
        if self.notifier_url is None:
            self.sink = AlertSink()
            self.notifier_url = self.sink.url
        return super().start()  # type: ignore[return-value]

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.sink is not None:
                self.sink.close()

    def _get(self, path: str) -> Any:
        r = requests.get(self.url + path, timeout=30)
        r.raise_for_status()
        return r.json()["data"]

    def alerts(self) -> list[dict]:
        """Active alerts (/api/v1/alerts): dicts with name, state, labels..."""
        return self._get("/api/v1/alerts").get("alerts") or []

    def groups(self) -> list[dict]:
        return self._get("/api/v1/groups").get("groups") or []

    def wait_alert(self, name: str, state: str = "firing", timeout: float = 30.0) -> dict:
        """Poll until alert ``name`` is in ``state``; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            alerts = self.alerts()
            for a in alerts:
                if a.get("name") == name and a.get("state") == state:
                    return a
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"alert {name!r} not {state} after {timeout:.0f}s; alerts: {alerts}\n"
                    f"--- vmalert log ---\n{self.log_tail(1500)}"
                )
            time.sleep(0.25)


def vmalert_dry_run(*rule_files: str | os.PathLike) -> subprocess.CompletedProcess:
    """Validate alerting/recording rule files with ``vmalert -dryRun``."""
    binary = require_binary("vmalert")
    return subprocess.run(
        [binary, "-dryRun", "-loggerLevel=ERROR"] + [f"-rule={Path(r).resolve()}" for r in rule_files],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------
# nginx-rtmp


class NginxRtmp:
    """nginx with the RTMP module, started exactly as the runner starts it
    (``runner.rtmp_server.RtmpServer``) in a private temp dir, on free loopback ports.

    Skips (or fails under CI) when nginx or its RTMP module is missing. ``record=True``
    records every published stream under ``record_dir``. ``stat()`` returns the XML.
    """

    def __init__(
        self,
        *,
        record: bool = False,
        rtmp_port: int | None = None,
        http_port: int | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        from runner.rtmp_server import RtmpServer, RtmpServerError

        self.nginx = require_binary("nginx")
        require_rtmp_module()
        self.workdir = Path(tempfile.mkdtemp(prefix="ffw-nginx-rtmp-"))
        self.record_dir: Path | None = self.workdir / "recordings" if record else None
        self.start_timeout = start_timeout
        self.server = RtmpServer(self.workdir / "nginx", record_dir=self.record_dir, nginx=self.nginx,
                                 rtmp_port=rtmp_port, http_port=http_port)
        self._error = RtmpServerError

    @property
    def rtmp_url(self) -> str:
        return self.server.rtmp_url

    @property
    def stat_url(self) -> str:
        return self.server.stat_url

    @property
    def url(self) -> str:
        """The HTTP base URL (``/stat`` lives under it)."""
        return f"http://127.0.0.1:{self.server.http_port}"

    @property
    def pid(self) -> int | None:
        return self.server.pid

    @property
    def running(self) -> bool:
        return self.server.running

    def log_tail(self, nbytes: int = LOG_TAIL_BYTES) -> str:
        return self.server.log_tail(nbytes)

    def start(self) -> NginxRtmp:
        try:
            self.server.start(timeout=self.start_timeout)
        except self._error as e:
            raise ServerStartError(str(e)) from None
        _LIVE.add(self)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self.server.stop(timeout)
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL, no clean shutdown (crash tests)."""
        self.server.kill()
        _LIVE.discard(self)

    def restart(self) -> NginxRtmp:
        """Stop, then start again on the same ports."""
        self.stop()
        return self.start()

    def stat(self) -> str:
        r = requests.get(self.stat_url, timeout=10)
        r.raise_for_status()
        return r.text

    def close(self) -> None:
        try:
            self.stop()
        finally:
            _rmtree(self.workdir)

    def __enter__(self) -> NginxRtmp:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<NginxRtmp {self.rtmp_url} stat={self.stat_url} running={self.running}>"


# --------------------------------------------------------------------------
# Docker Engine


def _is_static_elf(path: str) -> bool:
    """True when the ELF file has no PT_INTERP (no dynamic loader)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            return False
        is64 = head[4] == 2
        endian = "<" if head[5] == 1 else ">"
        if is64:
            (phoff,) = struct.unpack_from(endian + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x36)
        else:
            (phoff,) = struct.unpack_from(endian + "I", head, 0x1C)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x2A)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt.startswith(prefix):
                found.append(mnt)
    return found


def _pids_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions ``text`` (our unique temp dir)."""
    pids = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry))
    return pids


class DockerEngine:
    """A private dockerd (root only) with its own data/exec roots and socket.

    No networking set-up (``--bridge=none``, no iptables), so containers must
    run with ``network_mode="none"``. Images cannot be pulled; use
    ``busybox_image()`` for a scratch image built from static busybox.
    """

    def __init__(
        self,
        *,
        extra_args: Sequence[str] = (),
        storage_driver: str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        require_root("a private Docker Engine")
        self.dockerd = require_binary("dockerd")
        # dockerd runs these from PATH (packages containerd and runc)
        for helper in ("containerd", "containerd-shim-runc-v2", "runc"):
            require_binary(helper)
        try:
            import docker  # noqa: F401
        except ImportError:  # pragma: no cover - docker is a project dependency
            _unavailable("python package 'docker' is not installed")
        # Unix socket paths must stay under ~100 chars: short dir in /tmp.
        self.root = Path(tempfile.mkdtemp(prefix="ffw-", dir="/tmp"))
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.pidfile = self.root / "dockerd.pid"
        self.socket = self.root / "docker.sock"
        self.log_path = self.root / "dockerd.log"
        self.extra_args = list(extra_args)
        # overlay2 works on this project's ext4 test machines; pass
        # storage_driver="vfs" where overlay mounts are not allowed (e.g.
        # inside an unprivileged container or on overlayfs-on-overlayfs).
        self.storage_driver = storage_driver or os.environ.get("FFWATT_DOCKER_STORAGE_DRIVER")
        self.start_timeout = start_timeout
        self.containerd_namespace = "ffwatt-" + uuid.uuid4().hex[:12]
        self.proc: subprocess.Popen | None = None
        self._client = None
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def client(self):
        """docker.DockerClient connected to this daemon."""
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.base_url, timeout=60)
        return self._client

    def log_tail(self, nbytes: int = LOG_TAIL_BYTES) -> str:
        return _tail(self.log_path, nbytes)

    def _command(self) -> list[str]:
        # unique namespace keeps us apart should a shared containerd be used;
        # containerd allows only [A-Za-z0-9] runs joined by . _ -
        ns = self.containerd_namespace
        cmd = [
            self.dockerd,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--host={self.base_url}",
            f"--containerd-namespace={ns}",
            f"--containerd-plugins-namespace={ns}-plugins",
            # our containers' cgroups live under /<ns>, so a crashed daemon's
            # orphaned container processes can be found and killed
            f"--cgroup-parent=/{ns}",
            # bound the daemon's own shutdown wait (default 15 s); containers'
            # per-container stop timeout still applies (run_busy uses SIGKILL)
            "--shutdown-timeout=2",
        ]
        if self.storage_driver:
            cmd.append(f"--storage-driver={self.storage_driver}")
        return cmd + self.extra_args

    def start(self) -> DockerEngine:
        if self.running:
            return self
        t0 = time.monotonic()
        self.proc = _spawn_logged(self._command(), self.log_path)
        _LIVE.add(self)
        deadline = time.monotonic() + self.start_timeout
        last = "socket not created"
        while True:
            if self.proc.poll() is not None:
                last = f"dockerd exited with code {self.proc.returncode}"
                break
            if self.socket.exists():
                try:
                    if self.client.ping():
                        self.startup_seconds = time.monotonic() - t0
                        return self
                except Exception as e:  # requests/docker errors while starting
                    last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                last = f"not answering after {self.start_timeout:.0f}s ({last})"
                break
            time.sleep(0.1)
        tail = self.log_tail()
        self.kill()
        raise ServerStartError(f"dockerd on {self.base_url}: {last}\n--- tail of {self.log_path} ---\n{tail}")

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None

    def remove_all_containers(self) -> None:
        if not self.running:
            return
        try:
            for c in self.client.containers.list(all=True):
                try:
                    c.remove(force=True)
                except Exception:
                    pass
        except Exception:
            pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the daemon and wait (containers keep their state on disk)."""
        self._drop_client()
        if self.proc is None:
            return
        # SIGTERM to dockerd alone: it stops its containerd itself, in order
        _terminate(self.proc, timeout, group=False)
        self.proc = None
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL dockerd, its containerd, and any shim left for our dirs."""
        self._drop_client()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        _LIVE.discard(self)
        self._kill_strays()
        _wait_reaped(self.exec_root / "containerd" / "containerd.pid")

    def _cgroup_dirs(self) -> list[Path]:
        """Our cgroup dirs in every hierarchy, deepest first."""
        found: list[Path] = []
        base = Path("/sys/fs/cgroup")
        tops = [base / self.containerd_namespace]
        if base.is_dir():
            tops += [h / self.containerd_namespace for h in base.iterdir() if h.is_dir()]
        for top in tops:
            if top.is_dir():
                found += [Path(d) for d, _, _ in os.walk(top)]
        return sorted(set(found), key=lambda p: len(p.parts), reverse=True)

    def _kill_strays(self) -> None:
        """After a crash: kill shims and container processes, drop cgroups."""
        # containerd-shim daemonizes out of our process group; its command
        # line names our exec root, which is unique to this engine.
        pids = set(_pids_mentioning(str(self.root) + "/"))
        cgroups = self._cgroup_dirs()
        for d in cgroups:
            try:
                pids.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5
        for d in cgroups:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until its killed processes are gone
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)

    def close(self) -> None:
        """Remove containers, stop the daemon, unmount leftovers, rm dirs."""
        # each step runs even when an earlier one failed: dockerd bind-mounts
        # its data root (also after a failed start) and rm cannot pass a mount
        try:
            self.remove_all_containers()
            self.stop()
        finally:
            try:
                self._kill_strays()
            finally:
                try:
                    umount = shutil.which("umount") or shutil.which("umount", path="/usr/bin:/bin:" + _SBIN)
                    for mnt in sorted(_mounts_under(self.root), key=len, reverse=True):
                        if umount:
                            subprocess.run([umount, "-l", mnt], capture_output=True)
                finally:
                    _rmtree(self.root)

    def __enter__(self) -> DockerEngine:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def busybox_image(self, tag: str = BUSYBOX_IMAGE) -> str:
        """Import a scratch image holding static busybox (once); returns tag.

        Layout: /bin/busybox plus symlinks sh, sleep, yes, cat.
        """
        if self.client.images.list(name=tag):
            return tag
        busybox = require_binary("busybox")
        if not _is_static_elf(busybox):
            _unavailable(f"{busybox} is dynamically linked; install busybox-static")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            d = tarfile.TarInfo("bin")
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(d)
            tar.add(busybox, arcname="bin/busybox")
            for applet in ("sh", "sleep", "yes", "cat"):
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        repository, _, version = tag.partition(":")
        self.client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=version or "latest")
        if not self.client.images.list(name=tag):
            raise RuntimeError(f"image {tag} missing after import\n{self.log_tail()}")
        return tag

    def run_busy(
        self,
        name: str | None = None,
        command: str = "yes >/dev/null",
        **kwargs: Any,
    ):
        """Start a detached container burning a CPU; returns the Container."""
        image = self.busybox_image()
        kwargs.setdefault("network_mode", "none")
        # sh as PID 1 ignores SIGTERM: without this, every `docker stop` and
        # daemon shutdown waits the 10 s stop timeout per container.
        kwargs.setdefault("stop_signal", "SIGKILL")
        return self.client.containers.run(image, ["/bin/sh", "-c", command], name=name, detach=True, **kwargs)

    def __repr__(self) -> str:
        return f"<DockerEngine {self.base_url} running={self.running}>"
