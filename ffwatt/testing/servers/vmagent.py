"""vmagent as a real server on loopback: it scrapes targets and remote-writes what it scraped,
with extra labels, to a VictoriaMetrics (or any Prometheus remote-write receiver), buffering on
disk while the receiver is away. A lab host's vmagent in miniature (docker-compose.agent.yml).

Facts about the binary this module relies on (vmagent 1.79, Debian's victoria-metrics):

* `-remoteWrite.tmpDataPath` holds the buffer; it survives vmagent's own restarts, and
  `-remoteWrite.maxDiskUsagePerURL` caps it (the oldest data goes first).
* `-remoteWrite.basicAuth.passwordFile` without `-remoteWrite.basicAuth.username` is fatal at
  start ("missing `username` in `basic_auth` section"): give both or neither.
* While the receiver is down, vmagent retries with a doubling back-off; a block waits in the
  buffer, so samples scraped meanwhile arrive late, with their own timestamps.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Unpack

from ffwatt.common.server import Server, ServerArgs, find_binary
from ffwatt.common.urls import fetch

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class VmAgent(Server):
    """vmagent scraping `scrape_config` (path or YAML text) and remote-writing to
    `remote_write_url` with `labels` added to every sample it sends."""

    name = "vmagent"

    def __init__(
        self,
        remote_write_url: str,
        scrape_config: str | os.PathLike | None = None,
        *,
        scrape_config_text: str | None = None,
        labels: Mapping[str, str] | None = None,
        buffer_dir: str | os.PathLike | None = None,
        max_disk_usage: str = "500MB",
        flush_interval: str = "1s",
        **server: Unpack[ServerArgs],
    ) -> None:
        if not remote_write_url:
            raise ValueError("remote_write_url is required (e.g. VictoriaMetrics.url + '/api/v1/write')")
        if (scrape_config is None) == (scrape_config_text is None):
            raise ValueError("give scrape_config or scrape_config_text, exactly one")
        for name, value in (labels or {}).items():
            if not _LABEL_NAME.match(name) or not isinstance(value, str) or "," in value:
                # the flag is comma-separated: a comma in a value would split it into two labels
                raise ValueError(f"label {name}={value!r}: a Prometheus label name and a value without ','")
        super().__init__(**server)
        self.scrape_config = self.given_file(scrape_config, scrape_config_text, "scrape.yml")
        self.remote_write_url = remote_write_url
        self.labels = dict(labels or {})
        self.buffer_dir = Path(buffer_dir) if buffer_dir is not None else self.workdir / "buffer"
        self.max_disk_usage = max_disk_usage
        self.flush_interval = flush_interval

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            f"-promscrape.config={self.scrape_config}",
            f"-remoteWrite.url={self.remote_write_url}",
            f"-remoteWrite.tmpDataPath={self.buffer_dir}",
            f"-remoteWrite.maxDiskUsagePerURL={self.max_disk_usage}",
            f"-remoteWrite.flushInterval={self.flush_interval}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
        ]
        cmd += [f"-remoteWrite.label={name}={value}" for name, value in self.labels.items()]
        return cmd + self.extra_args

    def self_metrics(self) -> str:
        """vmagent's own /metrics (exposition text)."""
        return fetch(self.url + "/metrics", 30).ok().text

    def self_metric(self, name: str) -> float:
        """The sum of one of vmagent's own metrics over its series (0 when it has none)."""
        total = 0.0
        for line in self.self_metrics().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def pending_bytes(self) -> float:
        """Bytes waiting in the remote-write buffer (memory and disk) for the receiver."""
        return self.self_metric("vmagent_remotewrite_pending_data_bytes")


def vmagent_dry_run(path: str | os.PathLike, *extra_args: str) -> subprocess.CompletedProcess:
    """Validate a vmagent scrape config with `vmagent -promscrape.config.dryRun`.

    returncode 0 means valid; errors are in stderr. Runs in a temp cwd so nothing is left behind."""
    binary = find_binary("vmagent")
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="ffw-vmagent-dryrun-") as cwd:
        return subprocess.run(
            [binary, f"-promscrape.config={path}", "-promscrape.config.dryRun", "-loggerLevel=ERROR", *extra_args],
            cwd=cwd, capture_output=True, text=True, timeout=60,
        )
