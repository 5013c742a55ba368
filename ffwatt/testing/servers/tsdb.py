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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import requests

from ffwatt.common.server import START_TIMEOUT, Server, find_binary


class QueryError(RuntimeError):
    """A Prometheus-API query did not return status=success."""


class PromAPI:
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
        """Instant query; returns `data.result` (a list for vectors)."""
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = time
        return self._get("/api/v1/query", params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float | str = 15) -> list:
        """Range query; returns `data.result` (list of matrix series)."""
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

        Lines may carry their own millisecond timestamps; `timestamp` (unix
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
    binary = find_binary("promtool")
    return subprocess.run([binary, *args], input=input, capture_output=True, text=True, timeout=timeout)


def promtool_check_metrics(text: str) -> tuple[bool, str]:
    """Lint exposition text with `promtool check metrics`.

    Returns (ok, findings): ok is exit code 0; findings is stdout+stderr.
    """
    cp = promtool("check", "metrics", input=text)
    return cp.returncode == 0, (cp.stdout + cp.stderr).strip()


