"""The runtime every exporter shares.

A background loop calls the exporter's `refresh()` on a fixed interval and swaps in a
new immutable snapshot (`exporters.snapshot`); scrapes only read the current snapshot (encoded once per
format), so scrape latency never depends on the source. A failed refresh keeps the
last good data, counts the error and says so in /health and the self-metrics.
"""

from __future__ import annotations

import abc
import argparse
import json
import logging
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

from ffwatt.catalog import EXPORTERS, MAX_LABEL_VALUE_LENGTH
from ffwatt.catalog import metrics as m
from ffwatt.common.errors import FfwattError
from ffwatt.common.version import ffwatt_version
from ffwatt.exporters import heap
from ffwatt.exporters.config import Setting, common_settings, parse, server_settings
from ffwatt.exporters.http_server import REJECT_REASONS, BoundedHandler, BoundedServer, Limits
from ffwatt.exporters.samples import Samples
from ffwatt.exporters.snapshot import Encoded as _Encoded
from ffwatt.exporters.snapshot import Snapshot
from ffwatt.exporters.webconfig import WebConfigError, WebConfigFile

log = logging.getLogger("ffwatt")


class SourceError(FfwattError):
    """A refresh failure. counted=False: the same failure as last cycle, already counted
    (e.g. the newest results file is still the bad one): up stays 0, errors do not rise."""

    def __init__(self, message: str, *, counted: bool = True):
        super().__init__(message)
        self.counted = counted


class Exporter(abc.ABC):
    """One exporter: reads its source in `refresh()`; the runtime does the rest."""

    name: ClassVar[str]  # the catalog exporter name
    settings: ClassVar[tuple[Setting, ...]] = ()
    # Default seconds between refreshes; None takes the catalog's scrape interval.
    default_refresh_seconds: ClassVar[float | None] = None
    # True where clients push to it, one connection per stream (ffmpeg's progress): the
    # connection caps make room for --max-streams of them. Scraped exporters keep the defaults.
    takes_pushes: ClassVar[bool] = False

    def __init__(self, config: argparse.Namespace):
        self.config = config
        self.log = logging.getLogger(f"ffwatt.{self.name}")

    @abc.abstractmethod
    def refresh(self, out: Samples) -> None:
        """Read the source and add samples to `out`. Raise to report a failed refresh."""

    def health_details(self) -> dict:
        """Extra facts for /health (JSON-serialisable)."""
        return {}

    def handle_post(self, path: str, request: BaseHTTPRequestHandler) -> bool:
        """Handle a POST; return False when the path is not the exporter's."""
        return False

    def close(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """Release the source (called once on shutdown)."""


@dataclass
class RefreshState:
    refreshes: int = 0
    errors: int = 0
    last_success: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    last_error_time: float | None = None
    failing_now: bool = False
    warnings: tuple[str, ...] = ()
    started: float = field(default_factory=time.time)


_TRIM_EVERY_SECONDS = 60.0


class Runtime:
    """Runs one exporter: refresh loop in a thread, HTTP server in the caller's thread."""

    def __init__(self, exporter: Exporter, *, listen_address: str, port: int, refresh_interval: float,
                 limits: Limits | None = None, web: WebConfigFile | None = None):
        self.exporter = exporter
        self.spec = EXPORTERS[exporter.name]
        self.refresh_interval = refresh_interval
        self.state = RefreshState()
        self._data = _Encoded(tuple(Samples(exporter.name).families(shared=False)))
        self._publish()  # self-metrics (up 0) are served even before the first refresh ends
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._loop = threading.Thread(target=self._run_loop, name=f"{exporter.name}-refresh", daemon=True)
        self.server = _Server((listen_address, port), _Handler, limits=limits or Limits(),
                              web=web or WebConfigFile(None))
        self.server.runtime = self
        self._live: tuple[int, _Encoded] | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    # --- refresh loop --------------------------------------------------------------
    def refresh_once(self) -> None:
        # a net behind the exporter's own --max-label-length, never below the default (reasons, names)
        limit = max(int(getattr(self.exporter.config, "max_label_length", 0) or 0), MAX_LABEL_VALUE_LENGTH)
        out = Samples(self.exporter.name, max_label_length=limit)
        begin = time.monotonic()
        try:
            self.exporter.refresh(out)
        except Exception as exc:  # a source failure must never end the loop
            self._record_failure(exc, time.monotonic() - begin)
        else:
            if out.failure is None:
                self._record_success(out, time.monotonic() - begin)
            else:
                self._data = _Encoded(partial(out.families, shared=False))
                self._record_failure(SourceError(out.failure), time.monotonic() - begin, kept_last_good=False)
        self._publish()

    def _record_success(self, out: Samples, duration: float) -> None:
        st = self.state
        if st.failing_now:
            log.info("%s: refresh recovered after %d error(s)", self.exporter.name, st.errors)
        for warning in out.warnings:
            if warning not in st.warnings:
                log.warning("%s: %s", self.exporter.name, warning)
        st.refreshes += 1
        st.last_success = time.time()
        st.last_duration = duration
        st.failing_now = False
        st.warnings = tuple(out.warnings)
        if not out.is_unchanged:
            self._data = _Encoded(partial(out.families, shared=False))

    def _record_failure(self, exc: Exception, duration: float, *, kept_last_good: bool = True) -> None:
        st = self.state
        expected = (OSError, ValueError, SourceError)
        message = str(exc) if isinstance(exc, expected) else f"{type(exc).__name__}: {exc}"
        if message != st.last_error or not st.failing_now:
            # Log each distinct failure once, not every cycle.
            log.error("%s: refresh failed%s: %s", self.exporter.name,
                      ", serving last good data" if kept_last_good else "", message)
        st.refreshes += 1
        if getattr(exc, "counted", True):
            st.errors += 1
        st.last_duration = duration
        st.last_error = message
        st.last_error_time = time.time()
        st.failing_now = True

    def _publish(self) -> None:
        st = self.state
        name = self.exporter.name
        own = Samples(name, (m.EXPORTER_UP, m.EXPORTER_LAST_SUCCESS, m.EXPORTER_REFRESH_DURATION,
                             m.EXPORTER_REFRESH_ERRORS, m.EXPORTER_BUILD))
        own.add(m.EXPORTER_UP, 0 if st.failing_now or st.last_success is None else 1, exporter=name)
        own.add(m.EXPORTER_LAST_SUCCESS, st.last_success, exporter=name)
        own.add(m.EXPORTER_REFRESH_DURATION, st.last_duration, exporter=name)
        own.add(m.EXPORTER_REFRESH_ERRORS, st.errors, exporter=name)
        own.add(m.EXPORTER_BUILD, 1, exporter=name, version=ffwatt_version())
        self.snapshot = Snapshot(_Encoded(own.families), self._data, self.live_metrics)

    def live_metrics(self) -> _Encoded:
        """The server's connection counters, re-encoded only when they changed."""
        stats = self.server.stats
        cached = self._live
        if cached is not None and cached[0] == stats.version:
            return cached[1]
        version = stats.version
        name = self.exporter.name
        live = Samples(name, (m.EXPORTER_HTTP_CONNECTIONS, m.EXPORTER_HTTP_REJECTED))
        live.add(m.EXPORTER_HTTP_CONNECTIONS, stats.open, exporter=name)
        for reason in REJECT_REASONS:
            live.add(m.EXPORTER_HTTP_REJECTED, stats.rejected[reason], exporter=name, reason=reason)
        encoded = _Encoded(tuple(live.families()))
        self._live = (version, encoded)
        return encoded

    def _run_loop(self) -> None:
        last_trim = float("-inf")
        while not self._stop.is_set():
            self.refresh_once()
            if time.monotonic() - last_trim >= _TRIM_EVERY_SECONDS:
                heap.trim()  # after the imports and the first snapshot, then now and then
                last_trim = time.monotonic()
            self._wake.wait(self.refresh_interval)
            self._wake.clear()

    def trigger_refresh(self) -> None:
        """Ask the loop to refresh now (push-based exporters call this)."""
        self._wake.set()

    # --- health --------------------------------------------------------------------
    def health(self) -> tuple[int, dict]:
        st = self.state
        now = time.time()
        stale_after = max(3 * self.refresh_interval, 30.0)
        if st.last_success is None:
            status = "failing"
            reason = st.last_error or "no refresh has completed yet"
        elif now - st.last_success > stale_after:
            status = "failing"
            reason = f"no successful refresh for {now - st.last_success:.0f}s" + (
                f": {st.last_error}" if st.last_error else "")
        elif st.failing_now:
            status = "degraded"
            reason = f"last refresh failed, serving data from {now - st.last_success:.0f}s ago: {st.last_error}"
        elif st.warnings:
            status = "degraded"
            reason = "; ".join(st.warnings)
        else:
            status = "ok"
            reason = None
        body = {
            "exporter": self.exporter.name,
            "version": ffwatt_version(),
            "status": status,
            "reason": reason,
            "last_success": st.last_success,
            "last_success_age_seconds": None if st.last_success is None else round(now - st.last_success, 3),
            "last_refresh_duration_seconds": st.last_duration,
            "last_error": st.last_error,
            "last_error_time": st.last_error_time,
            "refreshes": st.refreshes,
            "errors": st.errors,
            "warnings": list(st.warnings),
            "refresh_interval_seconds": self.refresh_interval,
            "details": self.exporter.health_details(),
        }
        return (503 if status == "failing" else 200), body

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Start the refresh loop and serve HTTP in a background thread (for embedding)."""
        self._loop.start()
        self._http = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                      name=f"{self.exporter.name}-http", daemon=True)
        self._http.start()

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then shut down cleanly."""
        def on_signal(signum, _frame):
            log.info("%s: %s received, shutting down", self.exporter.name, signal.Signals(signum).name)
            threading.Thread(target=self.server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self._loop.start()
        log.info("%s: serving %s://%s:%d/metrics and /health (refresh every %gs)", self.exporter.name,
                 self.server.scheme, self.server.server_address[0], self.port, self.refresh_interval)
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if getattr(self, "_http", None) is not None:
            self.server.shutdown()
            self._http = None
        self.server.server_close()
        if self._loop.is_alive():
            self._loop.join(timeout=5)
        self.exporter.close()


class _Server(BoundedServer):
    runtime: Runtime


def raise_open_files_limit() -> None:
    """Every connection is a thread and a descriptor: take the hard limit, so a
    thousand idle clients do not starve the scrapers."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


class _Handler(BoundedHandler):
    server: _Server
    server_version = f"ffwatt/{ffwatt_version()}"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        runtime = self.server.runtime
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, content_type = runtime.snapshot.encode(self.headers.get("Accept"))
            self._send(200, body, content_type)
        elif path == "/health":
            status, payload = runtime.health()
            self._send(status, json.dumps(payload, sort_keys=True).encode(), "application/json")
        elif path == "/":
            name = runtime.exporter.name
            page = (f"<html><head><title>ffwatt {name}</title></head><body><h1>ffwatt {name} exporter</h1>"
                    f'<p><a href="/metrics">/metrics</a> <a href="/health">/health</a></p></body></html>')
            self._send(200, page.encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"not found: try /metrics or /health\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if not self.server.runtime.exporter.handle_post(path, self):
            self.close_connection = True
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)



def build(exporter_cls: type[Exporter], argv=None, environ=None) -> Runtime:
    """Parse settings for an exporter class and construct its runtime (not started)."""
    spec = EXPORTERS[exporter_cls.name]
    refresh = exporter_cls.default_refresh_seconds or float(spec.scrape_interval_seconds)
    settings = common_settings(spec.port, refresh) + server_settings() + tuple(exporter_cls.settings)
    config = parse(f"ffwatt exporter {spec.name}", spec.description, settings, argv, environ)
    logging.basicConfig(
        level=getattr(logging, str(config.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    raise_open_files_limit()
    heap.limit_arenas()
    try:
        web = WebConfigFile(config.web_config_file or None)
    except WebConfigError as exc:
        raise WebConfigError(f"ffwatt {spec.name}: --web-config-file: {exc}") from None
    exporter = exporter_cls(config)
    limits = Limits.from_settings(config, pushed_streams=int(config.max_streams) if exporter_cls.takes_pushes else 0)
    return Runtime(exporter, listen_address=config.listen_address, port=config.port,
                   refresh_interval=config.refresh_interval, limits=limits, web=web)

