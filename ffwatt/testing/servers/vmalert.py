"""vmalert as a real server on loopback, evaluating rule files against a datasource, and
`AlertSink`, the Alertmanager stand-in it needs: vmalert 1.79 refuses alerting rules without
a notifier, so `VMAlert` starts a sink in-process unless given `notifier_url`.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

from ffwatt.common.server import Server, ServerArgs, find_binary
from ffwatt.readers import tsdb


class AlertSink:
    """Minimal Alertmanager stand-in (POST /api/v2/alerts), in a thread.

    vmalert 1.79 will not run alerting rules without a notifier. Received
    alert objects are appended to `alerts`.
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


class VMAlert(Server):
    """vmalert evaluating `rules` against a datasource (usually a VM)."""

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
        **server: Unpack[ServerArgs],
    ) -> None:
        if not datasource_url:
            raise ValueError("datasource_url is required (e.g. VictoriaMetrics.url)")
        super().__init__(**server)
        if isinstance(rules, (str, os.PathLike)):
            rules = [rules]
        self.rules = [Path(r).resolve() for r in rules]
        if rules_text is not None:
            self.rules.append(self.given_file(None, rules_text, "rules.yml"))
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
        return tsdb.api_get(self.url, path)

    def alerts(self) -> list[dict]:
        """Active alerts (/api/v1/alerts): dicts with name, state, labels..."""
        return self._get("/api/v1/alerts").get("alerts") or []

    def groups(self) -> list[dict]:
        return self._get("/api/v1/groups").get("groups") or []

    def wait_alert(self, name: str, state: str = "firing", timeout: float = 30.0) -> dict:
        """Poll until alert `name` is in `state`; returns it."""
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
    """Validate alerting/recording rule files with `vmalert -dryRun`."""
    binary = find_binary("vmalert")
    return subprocess.run(
        [binary, "-dryRun", "-loggerLevel=ERROR"] + [f"-rule={Path(r).resolve()}" for r in rule_files],
        capture_output=True,
        text=True,
        timeout=60,
    )


