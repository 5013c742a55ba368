"""health checker (9600): probes every exporter and says which ones serve real data.

Each cycle (the runtime's refresh interval) probes every target concurrently, one
thread per target, and every probe is bounded by `--timeout` as a whole: connect,
headers and a body read under a deadline, so a server that trickles bytes cannot
stretch a probe past the timeout. A cycle therefore takes about one timeout, not
the sum of them, and it runs in the background loop, never inside a scrape.

A target is healthy when /metrics answers HTTP 200 with a non-empty body that
parses as the Prometheus text format (or OpenMetrics, by Content-Type) and holds
the metric families it should emit: for an ffwatt exporter every family the
catalog declares for it, and for ffwatt exporters /health must not say "failing".
A target that is down is data, not a failure of the health checker: the refresh
itself succeeds.

Safety: redirects are never followed (a 3xx is an unhealthy `http_status`), nothing a
target served is repeated in /health, the metrics or the log (but the `status` and
`reason` fields of an ffwatt exporter's /health JSON), and the user
info of every URL it logs or serves is redacted (`https://admin:xxxxx@host:9500/metrics`).
Targets behind a web config (ffwatt/exporters/webconfig.py) are reached with https, basic auth
(user info in the URL, or --basic-auth-user with --basic-auth-password-file) and a CA file
(--ca-file; --client-cert-file/--client-key-file for mutual TLS).

Targets, in order of precedence:
  --targets-file FILE   YAML list of {name, url, kind, expect, exporter}
  --targets a=URL,...   comma-separated name=url pairs
  (neither)             every catalog exporter but this one at --target-host:its port
and --third-party node-exporter,cadvisor adds known third-party exporters (nginx-rtmp is
watched by ffwatt's own `rtmp` exporter, a catalog default).

Three modules: the targets (ffwatt/exporters/health_targets.py), the probes and the
classification of what a target answered (ffwatt/exporters/health_probe.py), and here the
exporter that runs a cycle and serves the outcome; the first two's names are importable from here.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import ClassVar

from ffwatt.catalog import HEALTH_REASONS
from ffwatt.catalog import metrics as m
from ffwatt.common.urls import redact
from ffwatt.exporters.config import Setting, positive_float
from ffwatt.exporters.health_probe import (  # noqa: F401 (the checker's API, importable from here)
    ACCEPT,
    GRACE_SECONDS,
    MAX_BODY_BYTES,
    Client,
    ProbeResult,
    classify_exposition,
    classify_health,
    error_reason,
    exposed_names,
    probe,
    probe_all,
)
from ffwatt.exporters.health_targets import (  # noqa: F401
    KINDS,
    THIRD_PARTY,
    Target,
    TargetConfigError,
    ThirdParty,
    configured_targets,
    default_targets,
    expected_for,
    load_targets_file,
    make_target,
    metrics_url,
    parse_targets_setting,
    third_party_targets,
)
from ffwatt.exporters.runtime import Exporter
from ffwatt.exporters.samples import Samples

log = logging.getLogger("ffwatt.health")


@dataclass(frozen=True)
class _TargetState:
    failures: int = 0
    last: ProbeResult | None = None


def _scheme(text: str) -> str:
    if text not in ("http", "https"):
        raise ValueError(f"must be http or https, got {text!r}")
    return text


def client_from(config) -> Client:
    """The probes' client settings; a password file that cannot be read is a TargetConfigError."""
    password = ""
    path = getattr(config, "basic_auth_password_file", "") or ""
    user = getattr(config, "basic_auth_user", "") or ""
    if bool(path) != bool(user):
        raise TargetConfigError("--basic-auth-user and --basic-auth-password-file go together")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                password = f.readline().rstrip("\r\n")
        except OSError as exc:
            raise TargetConfigError(f"--basic-auth-password-file {path}: cannot read: {exc.strerror or exc}") \
                from None
    for flag, value in (("--ca-file", getattr(config, "ca_file", "")),
                        ("--client-cert-file", getattr(config, "client_cert_file", "")),
                        ("--client-key-file", getattr(config, "client_key_file", ""))):
        if value and not os.path.isfile(value):
            raise TargetConfigError(f"{flag} {value}: no such file")
    return Client(getattr(config, "ca_file", "") or "", getattr(config, "client_cert_file", "") or "",
                  getattr(config, "client_key_file", "") or "", user, password)


class HealthExporter(Exporter):
    name = "health"
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("targets", "", "Comma-separated name=url targets replacing the defaults, e.g. "
                "results=http://results:9502,node=http://host:9100/metrics (kind ffwatt for catalog "
                "exporter names, else prometheus)."),
        Setting("targets-file", "", "YAML file listing targets (name, url, kind, expect, exporter); replaces "
                "the defaults and is re-read when it changes."),
        Setting("target-host", "localhost", "Host of the default targets (every ffwatt exporter at its default "
                "port); {name} is replaced by the exporter name."),
        Setting("third-party", "", "Comma-separated third-party exporters to probe too, at --target-host and "
                f"their default port: {', '.join(f'{k} ({v.port})' for k, v in THIRD_PARTY.items())}."),
        Setting("timeout", 5.0, "Seconds one probe of a target may take in all (connect, answer, body, "
                "/health).", positive_float),
        Setting("target-scheme", "http", "Scheme of the default targets: https when the exporters serve with a "
                "web config's tls_server_config.", _scheme),
        Setting("ca-file", "", "CA certificate(s) (PEM) that sign the targets' certificates; empty: the system's."),
        Setting("client-cert-file", "", "Client certificate (PEM) for targets that require mutual TLS."),
        Setting("client-key-file", "", "Key of --client-cert-file (PEM), when not in the same file."),
        Setting("basic-auth-user", "", "Basic auth user for targets whose URL has no user info."),
        Setting("basic-auth-password-file", "", "File holding --basic-auth-user's password (first line)."),
    )

    def __init__(self, config):
        super().__init__(config)
        self.timeout = float(config.timeout)
        self._targets_file = str(config.targets_file or "").strip()
        self._scheme = getattr(config, "target_scheme", "http") or "http"
        try:
            self.client = client_from(config)
            self.targets, self.source = configured_targets(config.targets or "", self._targets_file,
                                                           config.third_party or "", config.target_host,
                                                           self._scheme)
        except TargetConfigError as exc:
            raise TargetConfigError(f"ffwatt health: {exc}") from None  # its messages show URLs redacted
        self._file_stamp = self._stamp()
        self._file_error: str | None = None
        self._state: dict[str, _TargetState] = {}
        self._last_cycle_seconds: float | None = None
        self.log.info("probing %d target(s) from %s, timeout %gs: %s", len(self.targets), self.source,
                      self.timeout, ", ".join(f"{t.name}={redact(t.url)}" for t in self.targets))

    # --- targets file reload ---------------------------------------------------------------
    def _stamp(self) -> tuple[int, int] | None:
        if not self._targets_file:
            return None
        try:
            st = os.stat(self._targets_file)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _reload_if_changed(self) -> None:
        if not self._targets_file:
            return
        stamp = self._stamp()
        if stamp == self._file_stamp:
            return
        self._file_stamp = stamp
        try:
            targets, source = configured_targets("", self._targets_file, self.config.third_party or "",
                                                 self.config.target_host, self._scheme)
        except TargetConfigError as exc:
            self._file_error = f"{exc}; still probing the previous {len(self.targets)} target(s)"
            self.log.error("%s", self._file_error)
            return
        self._file_error = None
        self.targets, self.source = targets, source
        self.log.info("re-read %s: %d target(s)", self._targets_file, len(targets))

    # --- the cycle ---------------------------------------------------------------------------
    def refresh(self, out: Samples) -> None:
        self._reload_if_changed()
        if self._file_error:
            out.warn(self._file_error)
        targets = list(self.targets)
        begin = time.monotonic()
        results = probe_all(targets, self.timeout, self.client)
        self._last_cycle_seconds = time.monotonic() - begin
        state: dict[str, _TargetState] = {}
        healthy = 0
        for target in targets:
            result = results[target.name]
            previous = self._state.get(target.name) or _TargetState()
            was = previous.last
            # A new state object, never mutated: /health reads these from the HTTP thread.
            st = state[target.name] = _TargetState(0 if result.healthy else previous.failures + 1, result)
            self._log_change(target, was, result)
            healthy += result.healthy
            labels = {"target": target.name}
            out.add(m.HEALTH_TARGET_HEALTHY, result.healthy, **labels)
            out.add(m.HEALTH_TARGET_REACHABLE, result.reachable, **labels)
            out.add(m.HEALTH_TARGET_RESPONSE, result.response_seconds, **labels)
            out.add(m.HEALTH_TARGET_LAST_CHECK, result.checked_at, **labels)
            out.add(m.HEALTH_TARGET_FAILURES, st.failures, **labels)
            out.add(m.HEALTH_TARGET_DEGRADED, result.healthy and result.exporter_status == "degraded", **labels)
            for reason in HEALTH_REASONS:
                out.add(m.HEALTH_TARGET_REASON, reason == result.reason, reason=reason, **labels)
        self._state = state  # targets no longer configured leave with their series
        out.add(m.HEALTH_TARGETS, len(targets))
        out.add(m.HEALTH_TARGETS_HEALTHY, healthy)

    def _log_change(self, target: Target, was: ProbeResult | None, now: ProbeResult) -> None:
        """Log when a target's state changes, not every cycle."""
        if was is not None and (was.reason, was.exporter_status) == (now.reason, now.exporter_status):
            return
        if not now.healthy:
            self.log.warning("%s (%s) unhealthy: %s (%s)", target.name, redact(target.url), now.reason, now.detail)
        elif now.exporter_status == "degraded":
            self.log.warning("%s (%s) healthy but degraded: %s", target.name, redact(target.url), now.exporter_reason)
        elif was is not None:
            self.log.info("%s (%s) healthy again", target.name, redact(target.url))

    # --- /health ---------------------------------------------------------------------------
    def health_details(self) -> dict:
        states = self._state
        per_target = {}
        for target in list(self.targets):
            st = states.get(target.name)
            r = st.last if st else None
            if r is None:
                status = "not_checked"
            elif not r.healthy:
                status = "unhealthy"
            else:
                status = "degraded" if r.exporter_status == "degraded" else "healthy"
            per_target[target.name] = {
                "url": redact(target.url),
                "kind": target.kind,
                "status": status,
                "reason": r.reason if r else None,
                "detail": r.detail if r else None,
                "reachable": r.reachable if r else None,
                "response_seconds": None if r is None or r.response_seconds is None
                else round(r.response_seconds, 4),
                "last_check": r.checked_at if r else None,
                "consecutive_failures": st.failures if st else 0,
                "exporter_status": r.exporter_status if r else None,
                "exporter_reason": r.exporter_reason if r else None,
            }
        return {
            "targets_source": self.source,
            "targets_file_error": self._file_error,
            "timeout_seconds": self.timeout,
            "last_cycle_seconds": None if self._last_cycle_seconds is None else round(self._last_cycle_seconds, 4),
            "targets": len(per_target),
            "healthy": sum(t["status"] in ("healthy", "degraded") for t in per_target.values()),
            "unhealthy": sorted(n for n, t in per_target.items() if t["status"] == "unhealthy"),
            "degraded": sorted(n for n, t in per_target.items() if t["status"] == "degraded"),
            "per_target": per_target,
        }
