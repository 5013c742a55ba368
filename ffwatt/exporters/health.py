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
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from ffwatt.catalog import EXPORTERS, HEALTH_REASONS, metrics_of
from ffwatt.catalog import metrics as m
from ffwatt.common.urls import HIDDEN, redact, scrub
from ffwatt.exporters.config import Setting, positive_float
from ffwatt.exporters.runtime import Exporter
from ffwatt.exporters.samples import Samples
from ffwatt.readers.exposition import scan

KINDS = ("ffwatt", "prometheus")


@dataclass(frozen=True)
class ThirdParty:
    port: int
    expect: tuple[str, ...]  # exposed metric names it always serves ("" set: any valid exposition)
    description: str


# Third-party exporters the checker knows by name (--third-party, or a target of that name).
THIRD_PARTY: dict[str, ThirdParty] = {
    "node-exporter": ThirdParty(9100, ("node_cpu_seconds_total",), "prometheus/node_exporter"),
    "cadvisor": ThirdParty(8080, ("container_cpu_usage_seconds_total",), "google/cadvisor"),
}

# A body larger than this is not read to the end (reason invalid_exposition).
MAX_BODY_BYTES = 64 * 1024 * 1024
# How long past the timeout the cycle waits for a probe thread before giving up on it.
GRACE_SECONDS = 0.5

# The text format, not OpenMetrics as Prometheus asks first: every exporter serves it
# (servers choose by presence, not q-value, as prometheus_client does), and the
# checker scans it with one regex per line (ffwatt/readers/exposition.py), ~10x
# cheaper than prometheus_client's OpenMetrics parser. A server that answers
# OpenMetrics anyway is still read, by Content-Type, with that parser.
ACCEPT = "text/plain;version=0.0.4,*/*;q=0.1"

_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_YAML_KEYS = ("name", "url", "kind", "expect", "exporter")
_SHOWN_MISSING = 5
class TargetConfigError(ValueError):
    """A target list that cannot be used; the message names the setting, file or entry."""


# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One thing to probe. `expect` holds exposed metric names (counters with _total)."""

    name: str
    url: str  # the /metrics URL
    kind: str = "prometheus"
    expect: tuple[str, ...] = ()

    @property
    def health_url(self) -> str:
        """/health beside /metrics (a path prefix behind a reverse proxy is kept), else at the root."""
        parts = urlsplit(self.url)
        path = parts.path[: -len("/metrics")] + "/health" if parts.path.endswith("/metrics") else "/health"
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _with_scheme(url: str) -> str:
    text = url.strip()
    return text if "://" in text else "http://" + text


def metrics_url(url: str) -> str:
    """Normalise a target URL: add http:// when no scheme, /metrics when no path."""
    text = url.strip()
    if not text:
        raise ValueError("empty URL")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"URL scheme must be http or https, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError(f"URL {redact(text)!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"URL {redact(text)!r}: {scrub(str(exc), text)}") from None
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def expected_for(name: str, kind: str, exporter: str | None = None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The exposed metric names a target must serve.

    ffwatt: every catalog metric of `exporter` (default: the target's name) plus `extra`;
    prometheus: `extra`, or the known set of a third-party exporter of that name."""
    extra = tuple(extra)
    if kind == "ffwatt":
        exporter = exporter or name
        if exporter not in EXPORTERS:
            raise ValueError(f"kind ffwatt needs a catalog exporter name ({', '.join(EXPORTERS)}), "
                             f"got {exporter!r}; set `exporter:` or use kind prometheus")
        # Its own metrics first, then the runtime's shared ones: a "missing" detail names the telling ones.
        ordered = sorted(metrics_of(exporter), key=lambda metric: metric.exporter is None)
        return tuple(dict.fromkeys([x.name for x in ordered] + list(extra)))
    if kind == "prometheus":
        if exporter is not None:
            raise ValueError("`exporter` only applies to kind ffwatt")
        if extra:
            return extra
        known = THIRD_PARTY.get(name)
        return known.expect if known else ()
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def make_target(name: object, url: object, kind: object = None, expect: object = None,
                exporter: object = None) -> Target:
    """Validate one target; raises ValueError saying what is wrong."""
    if not isinstance(name, str) or not _TARGET_NAME.match(name):
        raise ValueError(f"target name {name!r} must be 1-63 letters, digits, '_', '.' or '-' "
                         "(it becomes the `target` label value)")
    if not isinstance(url, str):
        raise ValueError(f"url must be a string, got {type(url).__name__}")
    if kind is None:
        kind = "ffwatt" if name in EXPORTERS else "prometheus"
    if not isinstance(kind, str):
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if expect is None:
        expect = ()
    if isinstance(expect, str) or not isinstance(expect, list | tuple):
        raise ValueError(f"expect must be a list of metric names, got {expect!r}")
    for metric_name in expect:
        if not isinstance(metric_name, str) or not _METRIC_NAME.match(metric_name):
            raise ValueError(f"expect: {metric_name!r} is not a metric name")
    if exporter is not None and not isinstance(exporter, str):
        raise ValueError(f"exporter must be a catalog exporter name, got {exporter!r}")
    return Target(name, metrics_url(url), kind, expected_for(name, kind, exporter, expect))


def _host_for(template: str, name: str) -> str:
    host = template.replace("{name}", name)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return host


def default_targets(host: str = "localhost", scheme: str = "http") -> list[Target]:
    """Every catalog exporter except the health checker, at `host` and its default port.

    `host` may contain {name}, replaced by the exporter's name (e.g. compose services)."""
    return [Target(e.name, f"{scheme}://{_host_for(host, e.name)}:{e.port}/metrics", "ffwatt",
                   expected_for(e.name, "ffwatt"))
            for e in EXPORTERS.values() if e.name != "health"]


def third_party_targets(names: str | Sequence[str], host: str = "localhost") -> list[Target]:
    """Known third-party exporters by name (comma list), at `host` and their default port."""
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else [n.strip() for n in names]
    targets = []
    for name in filter(None, items):
        known = THIRD_PARTY.get(name)
        if known is None:
            raise TargetConfigError(f"--third-party: unknown exporter {name!r}; known: {', '.join(THIRD_PARTY)}")
        targets.append(Target(name, f"http://{_host_for(host, name)}:{known.port}/metrics", "prometheus",
                              known.expect))
    return targets


def parse_targets_setting(text: str) -> list[Target]:
    """`name=url,name=url`; the kind is ffwatt for catalog exporter names, else prometheus."""
    targets = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, url = item.partition("=")
        shown = scrub(item, _with_scheme(url if sep else item))
        if not sep:
            raise TargetConfigError(f"--targets: {shown!r} is not name=url")
        try:
            targets.append(make_target(name.strip(), url.strip()))
        except ValueError as exc:
            raise TargetConfigError(f"--targets: {shown!r}: {exc}") from None
    return targets


def load_targets_file(path: str | os.PathLike) -> list[Target]:
    """Read a YAML targets file: a list of entries, or a mapping with a `targets:` list."""
    import yaml  # only with a targets file: the parser costs ~4 MB resident

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise TargetConfigError(f"targets file {path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise TargetConfigError(f"targets file {path}: not valid YAML: {exc}") from None
    if isinstance(doc, Mapping) and set(doc) == {"targets"}:
        doc = doc["targets"]
    if not isinstance(doc, list):
        raise TargetConfigError(f"targets file {path}: expected a list of targets (or `targets:` holding one), "
                                f"got {type(doc).__name__}")
    targets = []
    for index, entry in enumerate(doc):
        label = f"entry {index}"
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']})"
        if not isinstance(entry, Mapping):
            raise TargetConfigError(f"targets file {path}: {label}: expected a mapping with name and url, "
                                    f"got {type(entry).__name__}")
        unknown = sorted(str(k) for k in entry if k not in _YAML_KEYS)
        if unknown:
            raise TargetConfigError(f"targets file {path}: {label}: unknown key(s) {', '.join(unknown)}; "
                                    f"allowed: {', '.join(_YAML_KEYS)}")
        for key in ("name", "url"):
            if key not in entry:
                raise TargetConfigError(f"targets file {path}: {label}: missing {key!r}")
        try:
            targets.append(make_target(entry["name"], entry["url"], entry.get("kind"), entry.get("expect"),
                                       entry.get("exporter")))
        except ValueError as exc:
            raise TargetConfigError(f"targets file {path}: {label}: {exc}") from None
    return targets


def check_unique(targets: Sequence[Target], source: str) -> list[Target]:
    seen: set[str] = set()
    for t in targets:
        if t.name in seen:
            raise TargetConfigError(f"{source}: target name {t.name!r} appears twice (names are label values)")
        seen.add(t.name)
    return list(targets)


def configured_targets(targets: str = "", targets_file: str = "", third_party: str = "",
                       target_host: str = "localhost", scheme: str = "http") -> tuple[list[Target], str]:
    """The targets the settings ask for, and a word on where they came from."""
    if targets.strip() and targets_file.strip():
        raise TargetConfigError("give --targets or --targets-file, not both")
    if targets_file.strip():
        chosen, source = load_targets_file(targets_file), f"file {targets_file}"
    elif targets.strip():
        chosen, source = parse_targets_setting(targets), "--targets"
    else:
        chosen, source = default_targets(target_host, scheme), "catalog defaults"
    extra = third_party_targets(third_party, target_host)
    if extra:
        source += " + --third-party"
    return check_unique(chosen + extra, source), source


# --- classification (pure) -------------------------------------------------------------------


def exposed_names(families) -> set[str]:
    """Metric names as exposed: family names (counters with _total, info with _info) and sample names.

    Families come from the HELP/TYPE lines, so a declared family without samples counts."""
    names: set[str] = set()
    for family in families:
        if family.type == "counter" and not family.name.endswith("_total"):
            names.add(family.name + "_total")
        elif family.type == "info" and not family.name.endswith("_info"):
            names.add(family.name + "_info")
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


def classify_exposition(status: int, content_type: str | None, body: bytes,
                        expect: Iterable[str]) -> tuple[str, str]:
    """(reason, detail) for one /metrics answer; reason "ok" when it is healthy."""
    if 300 <= status < 400:
        return "http_status", f"HTTP {status} (redirects are not followed)"
    if status != 200:
        return "http_status", f"HTTP {status}"
    if not body.strip():
        return "empty_body", "HTTP 200 with an empty body"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "invalid_exposition", f"body is not UTF-8 ({exc.reason} at byte {exc.start})"
    openmetrics = (content_type or "").split(";")[0].strip().lower() == "application/openmetrics-text"
    fast = None if openmetrics else scan(text)
    if fast is not None:
        count, present = fast.families, fast.names
    else:
        try:
            families = list((parse_openmetrics if openmetrics else parse_text)(text))
        except Exception:  # the parsers raise ValueError, and worse on garbage
            # The parser's message quotes the body: never repeated, whatever the target served.
            fmt = "OpenMetrics" if openmetrics else "Prometheus text format"
            return "invalid_exposition", f"not the {fmt}"
        count, present = len(families), exposed_names(families)
    if not count:
        return "empty_body", "the exposition holds no metrics"
    missing = [name for name in expect if name not in present]
    if missing:
        shown = ", ".join(missing[:_SHOWN_MISSING]) + (", ..." if len(missing) > _SHOWN_MISSING else "")
        return "missing_metrics", f"missing {len(missing)} metric{'s' if len(missing) != 1 else ''}: {shown}"
    return "ok", f"{count} metric famil{'y' if count == 1 else 'ies'}"


def classify_health(status: int, body: bytes) -> tuple[str, str, str | None, str | None]:
    """(reason, detail, exporter status, exporter reason) for an ffwatt /health answer.

    The runtime answers 200 (ok/degraded) or 503 (failing), both with JSON."""
    if status not in (200, 503):
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return "http_status", f"/health: HTTP {status}{note}", None, None
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "health_failing", "/health: answer is not JSON", None, None
    state = payload.get("status") if isinstance(payload, dict) else None
    why = payload.get("reason") if isinstance(payload, dict) else None
    why = str(why) if why else None
    if state == "failing":
        return "health_failing", "/health: failing" + (f": {_shorten(why)}" if why else ""), state, why
    if state in ("ok", "degraded"):
        return "ok", f"/health: {state}" + (f": {_shorten(why)}" if why else ""), state, why
    return "health_failing", "/health: no ok/degraded/failing status", None, None


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- probing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    reason: str
    detail: str
    reachable: bool
    response_seconds: float | None  # time to the whole /metrics answer (or until it failed)
    checked_at: float = field(default_factory=time.time)
    exporter_status: str | None = None  # an ffwatt target's own /health status
    exporter_reason: str | None = None

    @property
    def healthy(self) -> bool:
        return self.reason == "ok"


class _Deadline(Exception):  # noqa: N818 (a signal, not an error)
    """The probe's time is up."""


class _Failed(Exception):  # noqa: N818
    """A request that got no usable answer: reason, detail, and whether HTTP answered at all."""

    def __init__(self, reason: str, detail: str, reachable: bool):
        super().__init__(detail)
        self.reason, self.detail, self.reachable = reason, detail, reachable


def _caused_by(exc: BaseException, test) -> bool:
    """True when `test` holds for `exc` or anything in its cause/context/reason chain."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if test(e):
            return True
        todo.extend((e.__cause__, e.__context__, getattr(e, "reason", None), *e.args))
    return False


def _is_timeout(e: BaseException) -> bool:
    # urllib3's NewConnectionError subclasses ConnectTimeoutError for history's sake: not a timeout.
    if isinstance(e, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(e, _Deadline | requests.Timeout | TimeoutError | urllib3.exceptions.TimeoutError)


def error_reason(exc: BaseException, timeout: float) -> tuple[str, str]:
    """(reason, detail) for an exception raised while talking to a target."""
    if isinstance(exc, _Deadline):
        return "timeout", f"no complete answer within {timeout:g}s"
    if _caused_by(exc, lambda e: isinstance(e, ConnectionRefusedError)):
        return "refused", "connection refused"
    if _caused_by(exc, lambda e: isinstance(e, urllib3.exceptions.NameResolutionError)):
        return "connection_error", "host name does not resolve"
    if _caused_by(exc, _is_timeout):
        return "timeout", f"no complete answer within {timeout:g}s"
    return "connection_error", _shorten(f"{type(exc).__name__}: {_innermost(exc)}")


def _innermost(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    while isinstance(reason, BaseException):
        exc, reason = reason, getattr(reason, "reason", None)
    return str(exc)


_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, _Deadline)


@dataclass(frozen=True)
class Client:
    """How probes reach targets behind a web config: CA file, client certificate, basic auth
    for URLs without user info."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str = ""

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies or netrc from the environment for probes
        if self.ca_file:
            session.verify = self.ca_file
        if self.cert_file:
            session.cert = (self.cert_file, self.key_file) if self.key_file else self.cert_file
        return session

    def auth_for(self, url: str) -> tuple[str, str] | None:
        """Basic auth credentials for a URL: its own user info wins (requests reads it)."""
        return (self.username, self.password) if self.username and urlsplit(url).username is None else None


def _fetch(session: requests.Session, url: str, deadline: float, timeout: float,
           auth: tuple[str, str] | None = None) -> tuple[int, str | None, bytes]:
    """GET `url`: (status, content type, body). The whole exchange (connect, headers, body)
    ends by `deadline`; anything else raises _Failed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Failed(*error_reason(_Deadline(), timeout), reachable=False)
    try:
        response = session.get(url, timeout=(remaining, remaining), stream=True, allow_redirects=False, auth=auth,
                               headers={"Accept": ACCEPT, "Accept-Encoding": "identity"})
    except _NETWORK_ERRORS as exc:
        raise _Failed(*error_reason(exc, timeout), reachable=False) from None
    try:
        return response.status_code, response.headers.get("Content-Type"), _read_body(response, deadline)
    except _Failed:
        raise
    except _NETWORK_ERRORS as exc:  # it answered HTTP, then the body failed
        raise _Failed(*error_reason(exc, timeout), reachable=True) from None
    finally:
        response.close()


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """Read the body one socket read at a time, each bounded by the time left, so a
    server that trickles bytes cannot keep the probe past its deadline."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline()
        if sock is not None:
            sock.settimeout(remaining)
        chunk = raw.read1(65536, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Failed("invalid_exposition", f"body larger than {MAX_BODY_BYTES} bytes", reachable=True)
        chunks.append(chunk)


def probe(target: Target, timeout: float, client: Client | None = None) -> ProbeResult:
    """Probe one target: /metrics, then /health for ffwatt targets; all within `timeout`.
    Every detail is redacted (no URL password, whatever a library put in its message)."""
    client = client or Client()
    result = _probe(target, timeout, client)
    clean = _scrubbed(result.detail, target, client)
    if result.exporter_reason:
        clean_reason = _scrubbed(result.exporter_reason, target, client)
        if clean_reason != result.exporter_reason:
            result = replace(result, exporter_reason=clean_reason)
    return result if clean == result.detail else replace(result, detail=clean)


def _scrubbed(text: str, target: Target, client: Client) -> str:
    """`text` without the target URL's password, nor the --basic-auth-password-file one."""
    text = scrub(text, target.url, target.health_url)
    return text.replace(client.password, HIDDEN) if client.password else text


def _probe(target: Target, timeout: float, client: Client) -> ProbeResult:
    begin = time.monotonic()
    deadline = begin + timeout
    auth = client.auth_for(target.url)
    with client.session() as session:
        try:
            status, content_type, body = _fetch(session, target.url, deadline, timeout, auth)
        except _Failed as failed:
            return ProbeResult(failed.reason, failed.detail, failed.reachable, time.monotonic() - begin)
        response_seconds = time.monotonic() - begin
        reason, detail = classify_exposition(status, content_type, body, target.expect)
        if reason != "ok" or target.kind != "ffwatt":
            return ProbeResult(reason, detail, True, response_seconds)
        try:
            h_status, _, h_body = _fetch(session, target.health_url, deadline, timeout, auth)
        except _Failed as failed:
            reason = failed.reason if failed.reason != "invalid_exposition" else "health_failing"
            return ProbeResult(reason, f"/health: {failed.detail}", True, response_seconds)
        reason, h_detail, state, why = classify_health(h_status, h_body)
        return ProbeResult(reason, h_detail if reason != "ok" else f"{detail}; {h_detail}", True,
                           response_seconds, exporter_status=state, exporter_reason=why)


# --- the exporter ----------------------------------------------------------------------------


log = logging.getLogger("ffwatt.health")


@dataclass(frozen=True)
class _TargetState:
    failures: int = 0
    last: ProbeResult | None = None


def probe_all(targets: Sequence[Target], timeout: float, client: Client | None = None) -> dict[str, ProbeResult]:
    """Probe every target at once (a thread each); returns after about `timeout` at most.

    A probe bounds itself; should its thread still not be done by timeout + grace, the
    cycle stops waiting for it and records a timeout (the thread ends on its own)."""
    if not targets:
        return {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="health-probe")
    try:
        futures = {pool.submit(probe, t, timeout, client): t for t in targets}
        concurrent.futures.wait(futures, timeout=timeout + GRACE_SECONDS)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results: dict[str, ProbeResult] = {}
    for future, target in futures.items():
        if not future.done():
            results[target.name] = ProbeResult("timeout", f"probe did not finish within {timeout:g}s", False,
                                               timeout)
            continue
        exc = future.exception()
        if exc is not None:  # a bug, not the target's fault: say so, keep the cycle going
            log.error("health: probing %s failed unexpectedly", target.name, exc_info=exc)
            detail = _scrubbed(_shorten(f"probe error: {type(exc).__name__}: {exc}"), target, client or Client())
            results[target.name] = ProbeResult("connection_error", detail, False, None)
        else:
            results[target.name] = future.result()
    return results


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
            raise SystemExit(f"ffwatt health: {exc}") from None  # its messages show URLs redacted
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
