"""An exporter's joules counters, read from its `/metrics` over HTTP: the cpu exporter's
`m.CPU_ENERGY` (top-level zones only) or the gpu exporter's `m.GPU_ENERGY` (one per GPU UUID).

A URL the user named is a *required* source: when it does not answer, the energy is unknown, not
estimated. Its `/health` says why it serves no counters, and whether they are simulated
(`details.simulated: true`). An exporter behind a web config: https verified against `ca_file`
(else the system's CAs), basic auth from the URL's user info, which no message ever shows.
Every read is bounded by `timeout`.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable

from ffwatt.common.urls import open_url, redact, scrub
from ffwatt.energy.counters import Counters, cpu_energy_series, gpu_energy_series
from ffwatt.energy.source import SourceError

__all__ = ["ExporterSource"]


def _metrics_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/metrics") else url + "/metrics"


def _health_url(url: str) -> str:
    return _metrics_url(url)[: -len("/metrics")] + "/health"


def _get(url: str, timeout: float, ca_file: str | None = None) -> bytes:
    # urllib, not requests: as ffwatt/readers/tsdb.py, no extra weight in a meter's sampling thread
    try:
        with open_url(url, timeout, headers={"Accept": "text/plain"}, ca_file=ca_file) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if url.endswith("/health"):
            return exc.read()  # /health answers 503 with its JSON when failing
        raise SourceError(f"{redact(url)}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise SourceError(scrub(f"{redact(url)}: {getattr(exc, 'reason', None) or exc}", url)) from exc


class ExporterSource:
    """A `CounterSource` of one exporter's /metrics (`ExporterSource.cpu(url)`, `ExporterSource.gpu(url)`)."""

    required = True

    def __init__(self, kind: str, url: str, select: Callable[[str], Counters], what: str, timeout: float,
                 ca_file: str | None = None) -> None:
        self.kind = kind  # "rapl" or "nvml"
        self.url = _metrics_url(url)  # as given: its user info authenticates
        self.where = redact(self.url)  # what messages and the results say
        self.select = select
        self.what = what
        self.timeout = timeout
        self.ca_file = ca_file
        self.faults: list[str] = []  # an exporter's counter that goes back was reset (its restart): `increase` counts it

    @classmethod
    def cpu(cls, url: str, timeout: float, ca_file: str | None = None) -> ExporterSource:
        return cls("rapl", url, cpu_energy_series, "cpu exporter", timeout, ca_file)

    @classmethod
    def gpu(cls, url: str, timeout: float, ca_file: str | None = None) -> ExporterSource:
        return cls("nvml", url, gpu_energy_series, "gpu exporter", timeout, ca_file)

    def read(self) -> Counters:
        body = _get(self.url, self.timeout, self.ca_file)
        return self.select(body.decode("utf-8", errors="replace"))

    def health(self) -> dict | None:
        try:
            body = json.loads(_get(_health_url(self.url), self.timeout, self.ca_file))
        except (SourceError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def why_no_counters(self) -> str:
        health = self.health() or {}
        reason = health.get("reason") or health.get("last_error")
        said = f" (its /health says: {reason})" if reason else ""
        return f"{self.what} at {self.where} serves no {self.kind} joules counters{said}"

    def simulated(self) -> bool:
        details = (self.health() or {}).get("details")
        return isinstance(details, dict) and details.get("simulated") is True
