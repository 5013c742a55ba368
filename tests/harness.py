"""Helpers to run a real exporter in-process and check what it serves.

    with running_exporter("results", "--results-dir", str(d)) as exp:
        text = exp.scrape()
        assert_exposition_valid("results", text)   # promtool clean + matches the catalog
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

from ffwatt.catalog import metrics_of
from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import Runtime, build


@dataclass
class RunningExporter:
    runtime: Runtime

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.port}"

    def scrape(self, accept: str | None = None) -> str:
        headers = {"Accept": accept} if accept else {}
        r = requests.get(self.url + "/metrics", headers=headers, timeout=10)
        r.raise_for_status()
        return r.text

    def health(self) -> dict:
        return requests.get(self.url + "/health", timeout=10).json()

    def samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        return parse_samples(self.scrape())

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one sample of `name` whose labels include `labels`."""
        found = [v for lbl, v in self.samples().get(name, []) if all(lbl.get(k) == x for k, x in labels.items())]
        if len(found) > 1:
            raise AssertionError(f"{name}{labels} matches {len(found)} samples")
        return found[0] if found else None

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):
        """Poll until predicate(self) is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)


@contextlib.contextmanager
def running_exporter(name: str, *args: str, env: dict[str, str] | None = None,
                     first_refresh: bool = True) -> Iterator[RunningExporter]:
    """Start exporter `name` on a free loopback port with flags `args`; stop it after."""
    runtime = build(load(name), ["--listen-address", "127.0.0.1", "--port", "0", *args], environ=env or {})
    runtime.start()
    exp = RunningExporter(runtime)
    try:
        if first_refresh:
            exp.wait_for(lambda e: e.runtime.state.refreshes > 0, what=f"{name}'s first refresh")
        yield exp
    finally:
        runtime.stop()


def parse_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] from a text exposition."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def exposed_metric_names(text: str) -> set[str]:
    """Metric names as exposed (counters with _total, info with _info), from HELP/TYPE lines."""
    names = set()
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "info":
            names.add(family.name + "_info")
        else:
            names.add(family.name)
    return names


def catalog_mismatch(exporter: str, text: str) -> tuple[set[str], set[str]]:
    """(emitted but not in the catalog for this exporter, in the catalog but not emitted)."""
    emitted = exposed_metric_names(text)
    expected = {m.name for m in metrics_of(exporter)}
    return emitted - expected, expected - emitted


def promtool_findings(text: str) -> str:
    """What `promtool check metrics` says about an exposition ('' when clean)."""
    from tests.servers import require_binary

    promtool = require_binary("promtool")
    proc = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    findings = (proc.stdout + proc.stderr).decode().strip()
    if proc.returncode != 0 and not findings:
        findings = f"promtool exited {proc.returncode}"
    return findings


def assert_exposition_valid(exporter: str, text: str) -> None:
    """promtool finds nothing, and the metrics are exactly the catalog's for `exporter`."""
    extra, missing = catalog_mismatch(exporter, text)
    assert not extra, f"{exporter} emits metrics not in the catalog: {sorted(extra)}"
    assert not missing, f"{exporter} does not emit catalog metrics: {sorted(missing)}"
    findings = promtool_findings(text)
    assert findings == "", f"promtool check metrics on {exporter}:\n{findings}"


def have(binary: str) -> bool:
    return shutil.which(binary) is not None
