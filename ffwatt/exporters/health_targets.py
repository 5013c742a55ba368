"""The health checker's targets (ffwatt/exporters/health.py): what to probe, from the settings.

Targets, in order of precedence:
  --targets-file FILE   YAML list of {name, url, kind, expect, exporter}
  --targets a=URL,...   comma-separated name=url pairs
  (neither)             every catalog exporter but the health checker at --target-host:its port
and --third-party node-exporter,cadvisor adds known third-party exporters. Every problem is a
`TargetConfigError` naming the setting, file or entry; a URL in a message is shown redacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ffwatt.catalog import EXPORTERS, metrics_of
from ffwatt.common.errors import FfwattError
from ffwatt.common.urls import redact, scrub
from ffwatt.common.yaml_file import load_yaml

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

_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_YAML_KEYS = ("name", "url", "kind", "expect", "exporter")


class TargetConfigError(FfwattError, ValueError):
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
    doc = load_yaml(path, TargetConfigError, "targets file")
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
