"""VictoriaMetrics and Prometheus as real servers on loopback, with the Prometheus HTTP API
queries both answer, and the config checkers (`-promscrape.config.dryRun`, promtool).

Facts about the binaries this module relies on (VictoriaMetrics 1.79, Debian):

* `-search.latencyOffset` defaults to 30s and hides fresh samples; we use 0s.
* Fresh series become searchable only after VictoriaMetrics flushes its in-memory parts
  (up to ~10 s on its own). `/internal/force_flush` shortens that to about a second, so use
  `wait_query` rather than a bare `query` right after data went in.
* The scrape-config reload flag is `-promscrape.configCheckInterval`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Unpack

from ffwatt.common.server import Server, ServerArgs, find_binary
from ffwatt.common.urls import fetch
from ffwatt.readers import tsdb
from ffwatt.readers.tsdb import TsdbError

__all__ = ["PromAPI", "Prometheus", "TsdbError", "VictoriaMetrics", "dry_run_scrape_config", "promtool",
           "promtool_check_metrics"]


class PromAPI:
    """Prometheus HTTP API queries, shared by VictoriaMetrics and Prometheus: the product's one
    query client (`readers.tsdb`), its one error type (`TsdbError`)."""

    url: str

    def _get(self, path: str, params: Any = None, timeout: float = 30) -> Any:
        return tsdb.api_get(self.url, path, params, timeout=timeout)

    def query(self, expr: str, time: float | None = None) -> list:
        """Instant query; returns `data.result` (a list for vectors)."""
        return tsdb.query(self.url, expr, time)

    def query_range(self, expr: str, start: float, end: float, step: float | str = 15) -> list:
        """Range query; returns `data.result` (list of matrix series)."""
        return tsdb.query_range(self.url, expr, start, end, step)

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
                raise TsdbError(f"{expr!r} on {self.url} returned {len(result)} series: {result}")
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
        """Poll an instant query until `predicate(result)` is true.

        Returns the result; raises `TimeoutError` naming the last result.
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



class VictoriaMetrics(PromAPI, Server):
    """Single-node VictoriaMetrics with a temp `-storageDataPath`.

    `scrape_config` (path) or `scrape_config_text` (YAML) enables its
    built-in scraper; `config_check_interval` (e.g. "1s") makes it re-read
    the file. Data stays across `restart()` (a clean shutdown); across `kill()`
    only what `persist()` made durable does.
    """

    name = "victoria-metrics"

    def __init__(
        self,
        scrape_config: str | os.PathLike | None = None,
        *,
        scrape_config_text: str | None = None,
        config_check_interval: str | None = None,
        retention: str = "100y",
        **server: Unpack[ServerArgs],
    ) -> None:
        super().__init__(**server)
        self.scrape_config = self.given_file(scrape_config, scrape_config_text, "scrape.yml")
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
        fetch(self.url + "/internal/force_flush", 30).ok()

    def persist(self) -> None:
        """Make every ingested sample durable on disk, so it survives a SIGKILL.

        /internal/force_flush alone only makes recent samples searchable: VictoriaMetrics
        1.79 still holds them in memory for ~5 s, and a SIGKILL right after loses them
        (seen: 9 of 9 flushed samples). Creating a snapshot writes the in-memory parts
        to disk; the snapshot itself is deleted again."""
        self.flush()
        name = fetch(self.url + "/snapshot/create", 60).ok().json()["snapshot"]
        fetch(self.url + "/snapshot/delete", 60, params={"snapshot": name}).ok()

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

        Lines may carry their own millisecond timestamps; `timestamp` (unix
        seconds) applies to lines without one, else the server's now.
        """
        params: list[tuple[str, str]] = []
        if timestamp is not None:
            params.append(("timestamp", str(int(round(timestamp * 1000)))))
        for k, v in (extra_labels or {}).items():
            params.append(("extra_label", f"{k}={v}"))
        fetch(self.url + "/api/v1/import/prometheus", 30, method="POST", params=params, data=text.encode()).ok()
        if flush:
            self.flush()

    def export(self, match: str) -> list[dict]:
        """Raw samples via /api/v1/export: [{metric, values, timestamps}]."""
        self.flush()
        answer = fetch(self.url + "/api/v1/export", 30, params={"match[]": match}).ok()
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]

    def delete_series(self, match: str) -> None:
        fetch(self.url + "/api/v1/admin/tsdb/delete_series", 30, method="POST", params={"match[]": match}).ok()

    def targets(self) -> list[dict]:
        """Active scrape targets (/api/v1/targets)."""
        return self._get("/api/v1/targets")["activeTargets"]


def dry_run_scrape_config(path: str | os.PathLike, *extra_args: str) -> subprocess.CompletedProcess:
    """Validate a scrape config with `-promscrape.config.dryRun`.

    returncode 0 means valid; errors are in stderr. Runs in a temp cwd so
    nothing is left behind.
    """
    binary = find_binary("victoria-metrics")
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


_DEFAULT_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
"""


class Prometheus(PromAPI, Server):
    """Prometheus with a given config (path or text) and a temp TSDB."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        config_file: str | os.PathLike | None = None,
        *,
        config_text: str | None = None,
        **server: Unpack[ServerArgs],
    ) -> None:
        super().__init__(**server)
        if config_file is None and config_text is None:
            config_text = _DEFAULT_PROMETHEUS_CONFIG
        self.config_file = self.given_file(config_file, config_text, "prometheus.yml")
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
        fetch(self.url + "/-/reload", 30, method="POST").ok()

    def targets(self) -> list[dict]:
        return self._get("/api/v1/targets")["activeTargets"]


def promtool(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run promtool; text mode, output captured, never raises on exit code."""
    binary = find_binary("promtool")
    return subprocess.run([binary, *args], input=input, capture_output=True, text=True, timeout=timeout)


def promtool_check_metrics(text: str) -> tuple[bool, str]:
    """Lint exposition text with `promtool check metrics`.

    Returns (ok, findings): ok is exit code 0; findings is stdout+stderr.
    """
    cp = promtool("check", "metrics", input=text)
    return cp.returncode == 0, (cp.stdout + cp.stderr).strip()


