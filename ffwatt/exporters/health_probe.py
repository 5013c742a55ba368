"""The health checker's probes (ffwatt/exporters/health.py): one bounded exchange per target.

Every probe is bounded by `timeout` as a whole: connect, headers and a body read under a
deadline, so a server that trickles bytes cannot stretch a probe past the timeout. Redirects
are never followed (a 3xx is an unhealthy `http_status`: the URL's credentials stay with their
origin), nothing a target served is repeated (but the `status` and `reason` of an ffwatt
exporter's /health JSON), and every detail has the URL's password taken out (`scrub`).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import requests
import urllib3
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from ffwatt.common.urls import HIDDEN, scrub
from ffwatt.exporters.health_targets import Target
from ffwatt.exporters.http_body import BodyDeadlineError, BodyTooLargeError, read_body
from ffwatt.readers.exposition import scan

log = logging.getLogger("ffwatt.health")

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
_SHOWN_MISSING = 5


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
    """The body, by the probe's deadline (a server that trickles bytes cannot keep the probe past it)."""
    try:
        return read_body(response, deadline, MAX_BODY_BYTES)
    except BodyDeadlineError:
        raise _Deadline() from None
    except BodyTooLargeError:
        raise _Failed("invalid_exposition", f"body larger than {MAX_BODY_BYTES} bytes", reachable=True) from None


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
