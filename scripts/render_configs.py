"""Render the stack's configuration from the catalog: scrape configs, target lists,
alert rules, Grafana provisioning and the compose file.

A generator for `python -m scripts.generate` (see GENERATORS there): `render()` returns
every file below, keyed by its path relative to the repository root, and the
staleness test compares them with the committed copies.

    victoriametrics/scrape.yml            VictoriaMetrics scrape config: one job per catalog exporter
    victoriametrics/prometheus.yml        the same jobs for the Prometheus comparison profile
    victoriametrics/targets/<name>.yml    file_sd target list of each exporter, from hosts.yml
    victoriametrics/health-targets.yml    the health checker's targets, from hosts.yml
    victoriametrics/alerts.yml            vmalert rules over catalog metrics (and the streams'
                                          recording rules, ffwatt/exporters/streams_rules.py)
    provisioning/datasources/datasources.yml
    provisioning/dashboards/provider.yml
    docker-compose.yml                    the stack, one service per catalog exporter
    docker-compose.agent.yml              a lab machine: the per-host exporters in one agent, and
                                          (profile fleet) its vmagent
    victoriametrics/vmagent/scrape.yml    that vmagent's scrape config: the agent's exporters
    victoriametrics/vmagent/scrape-nvidia.yml   the same and the gpu exporter (profile nvidia)

Inputs: `catalog` (exporters, ports, scrape intervals, metrics), the jinja2 templates in
`victoriametrics/templates/`, and `victoriametrics/hosts.yml`, the one hand-edited list
of lab machines (which host runs which per-host exporter).

Lab machines
------------
Per-host exporters (cpu, docker, gpu, ffmpeg) run on every lab machine; the others
(results, qoe, cost, health) run once, centrally. `victoriametrics/hosts.yml`:

    central: ffwatt-{name}                 # where the central exporters run
    hosts:
      - name: local                        # compose's own services: ffwatt-cpu:9500, ...
        address: ffwatt-{name}
        exporters: [cpu, docker, ffmpeg]
      - lab1.example.net                   # every per-host exporter at its catalog port
      - {name: lab2, address: 10.0.0.12, exporters: [cpu, gpu]}

`{name}` in an address is replaced by the exporter's name. Edit the list, run
`python -m scripts.render_configs` (or `make dashboards`), and VictoriaMetrics and
Prometheus pick the new target files up on their own (file_sd); the health checker
re-reads its targets file when it changes.

Stable API (tests and `make demo` use it)
-----------------------------------------
    render_scrape_config(targets=None, scrape_interval_override=None, *,
                         flavor="victoriametrics", targets_dir="targets") -> str
        targets: {exporter name: ["127.0.0.1:PORT", ...]} gives static_configs for just
        those exporters (loopback tests, demo); None gives the file_sd config for every
        catalog exporter, reading `<targets_dir>/<exporter>.yml` relative to the config
        file. scrape_interval_override: seconds (int/float) or a duration ("1s") applied
        to every job. flavor "prometheus" only changes the header.
    render_alert_rules(for_override=None, thresholds=None) -> str
        for_override: a duration ("0s") replacing every rule's `for` (tests); thresholds:
        {key: value} overriding DEFAULT_THRESHOLDS.
    alert_rules(thresholds=None) -> list[AlertRule]      the rules as data
    load_hosts(path=HOSTS_FILE) -> Lab; parse_hosts(doc) -> Lab
    render_targets(lab) -> {relative path: text}         file_sd lists + health targets
    render_vmagent_config(targets=None, scrape_interval_override=None, *, gpu=False) -> str
        a lab host's vmagent scrape config; targets None: the agent compose's services
        (ffwatt-agent, and ffwatt-gpu with gpu=True); targets given: static targets as
        for render_scrape_config (loopback tests, bench)
    render_compose() -> str; render_datasources() -> str; render_dashboard_provider() -> str
    render() -> {relative path: text}

CLI: `python -m scripts.render_configs [--check]` writes (or, with --check, verifies)
just these files.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from ffwatt.catalog import ENERGY_SOURCES, EXPORTERS
from ffwatt.catalog import metrics as m
from ffwatt.exporters.streams_rules import RecordingRule, recording_rules

ROOT = Path(__file__).resolve().parent.parent
VM_DIR = "victoriametrics"
TEMPLATES = ROOT / VM_DIR / "templates"
HOSTS_FILE = ROOT / VM_DIR / "hosts.yml"
TARGETS_DIR = "targets"  # relative to the scrape config; file_sd resolves it from there
HEALTH_TARGETS = f"{VM_DIR}/health-targets.yml"

# Exporters that read the machine they run on: one per lab host. The rest run once.
PER_HOST = tuple(e.name for e in EXPORTERS.values() if e.per_host)

# Where things live inside the compose stack.
VM_URL = "http://victoriametrics:8428"
PROMETHEUS_URL = "http://prometheus:9090"
CONFIG_MOUNT = "/etc/victoriametrics"  # ./victoriametrics, read-only, in vm, vmalert, prometheus, health
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"  # ./provisioning, read-only
RESULTS_MOUNT = "/data/results"

# Pinned images of the compose stack.
IMAGES = {
    "victoriametrics": "victoriametrics/victoria-metrics:v1.102.1",
    "vmalert": "victoriametrics/vmalert:v1.102.1",
    "grafana": "grafana/grafana-oss:11.2.0",
    "prometheus": "prom/prometheus:v2.54.1",
    "ffwatt": "ffwatt/exporters:local",
    # the older stack's third-party services; nginx-rtmp is built (Dockerfile.nginx-rtmp)
    "node-exporter": "prom/node-exporter:v1.8.2",
    "cadvisor": "gcr.io/cadvisor/cadvisor:v0.49.1",
    "nginx-rtmp": "ffwatt/nginx-rtmp:local",
    "vmagent": "victoriametrics/vmagent:v1.102.1",
}

# A lab host's vmagent (docker-compose.agent.yml, profile fleet): its scrape configs, where the
# compose file mounts them, the agent compose's services it scrapes, and where it buffers.
VMAGENT_DIR = f"{VM_DIR}/vmagent"
VMAGENT_MOUNT = "/etc/vmagent"
VMAGENT_BUFFER = "/buffer"
AGENT_SERVICE = "ffwatt-agent"
GPU_SERVICE = "ffwatt-gpu"

# Third-party exporters the compose stack runs beside ffwatt's (compose service = job
# name = health target name, at the port exporters.health.THIRD_PARTY knows), scraped
# at this interval.
THIRD_PARTY_SERVICES = ("node-exporter", "cadvisor")
THIRD_PARTY_INTERVAL_SECONDS = 15

GENERATED = "Generated by `python -m scripts.generate` (scripts/render_configs.py) from {source}; do not edit."

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.{}-]*[A-Za-z0-9}])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


# --- jinja ------------------------------------------------------------------------------------


def yaml_quote(value: object) -> str:
    """A YAML scalar for `value`: numbers as is, strings single-quoted ('' escapes ')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if "\n" in text or any(ord(c) < 32 for c in text):
        raise ValueError(f"not a one-line YAML string: {text!r}")
    return "'" + text.replace("'", "''") + "'"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = yaml_quote
    return env


def _template(name: str, **context: object) -> str:
    return _env().get_template(name).render(**context)


def duration(value: float | int | str) -> str:
    """Seconds (or a duration string) as a Prometheus duration: 5 -> "5s", 0.5 -> "500ms"."""
    if isinstance(value, str):
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a duration like 15s, 1m, 500ms")
        return value
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value}")
    if seconds == int(seconds):
        s = int(seconds)
        if s and s % 3600 == 0:
            return f"{s // 3600}h"
        if s and s % 60 == 0:
            return f"{s // 60}m"
        return f"{s}s"
    ms = seconds * 1000
    if ms != int(ms):
        raise ValueError(f"{value} s is not a whole number of milliseconds")
    return f"{int(ms)}ms"


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration(text)))


# --- scrape configs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeJob:
    exporter: str
    job_name: str
    scrape_interval: str
    scrape_timeout: str
    files: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScrapeWeb:
    """How the scrapers reach exporters behind a web config (docs/security.md): https with a CA,
    basic auth with a password file. Applied to every ffwatt exporter job, not the third-party ones."""

    scheme: str = "http"
    ca_file: str | None = None
    username: str | None = None
    password_file: str | None = None



def _job(exporter: str, interval: float | int | str, **where: tuple[str, ...]) -> ScrapeJob:
    e = EXPORTERS[exporter]
    interval_text = duration(interval)
    # Exporters serve a prepared snapshot, so a scrape is fast; never wait longer than
    # the interval (Prometheus rejects a timeout above it) nor than 10s.
    timeout = duration(min(_seconds(interval_text), 10.0))
    return ScrapeJob(e.name, e.job, interval_text, timeout, **where)


def third_party_ports() -> dict[str, int]:
    """Compose service -> port of the third-party exporters the stack runs."""
    from ffwatt.exporters.health import THIRD_PARTY

    return {name: THIRD_PARTY[name].port for name in THIRD_PARTY_SERVICES}


def _static_jobs(targets: Mapping[str, Sequence[str]],
                 scrape_interval_override: float | int | str | None) -> list[ScrapeJob]:
    """One job per exporter named in `targets`, in catalog order, at its static targets."""
    unknown = sorted(set(targets) - set(EXPORTERS))
    if unknown:
        raise KeyError(f"unknown exporter(s) {', '.join(unknown)}; known: {', '.join(EXPORTERS)}")
    jobs = []
    for e in EXPORTERS.values():  # catalog order, whatever the dict's order
        if e.name not in targets:
            continue
        listed = targets[e.name]
        if isinstance(listed, str):
            raise TypeError(f"targets[{e.name!r}] must be a list of host:port strings, not a string")
        interval = scrape_interval_override if scrape_interval_override is not None else e.scrape_interval_seconds
        jobs.append(_job(e.name, interval, targets=tuple(listed)))
    return jobs


def render_scrape_config(
    targets: Mapping[str, Sequence[str]] | None = None,
    scrape_interval_override: float | int | str | None = None,
    *,
    flavor: str = "victoriametrics",
    targets_dir: str = TARGETS_DIR,
    web: ScrapeWeb = ScrapeWeb(),
) -> str:
    """The scrape config (YAML text) for VictoriaMetrics or Prometheus.

    targets None: every catalog exporter, targets from file_sd files
    `<targets_dir>/<exporter>.yml` (relative to the config file). targets given:
    static_configs for exactly those exporters, e.g. {"results": ["127.0.0.1:41234"]}.
    """
    if flavor not in ("victoriametrics", "prometheus"):  # vmagent: render_vmagent_config
        raise ValueError(f"flavor must be victoriametrics or prometheus, got {flavor!r}")
    jobs = []
    if targets is None:
        for e in EXPORTERS.values():
            interval = scrape_interval_override if scrape_interval_override is not None else e.scrape_interval_seconds
            jobs.append(_job(e.name, interval, files=(f"{targets_dir}/{e.name}.yml",)))
    else:
        jobs = _static_jobs(targets, scrape_interval_override)
    if targets is None:  # the compose stack's own third-party exporters
        interval = scrape_interval_override if scrape_interval_override is not None else THIRD_PARTY_INTERVAL_SECONDS
        interval_text = duration(interval)
        timeout = duration(min(_seconds(interval_text), 10.0))
        for name, port in third_party_ports().items():
            jobs.append(ScrapeJob(name, name, interval_text, timeout, targets=(f"{name}:{port}",)))
    source = "ffwatt/catalog/exporters.py" + (" and victoriametrics/hosts.yml" if targets is None else "")
    return _template(
        "scrape.yml.j2",
        jobs=jobs,
        flavor=flavor,
        web=web,
        exporter_jobs={e.job for e in EXPORTERS.values()},
        generated=GENERATED.format(source=source) if targets is None else None,
        # the catalog's longest interval: jobs all set their own
        global_interval=duration(max(e.scrape_interval_seconds for e in EXPORTERS.values())),
    )


def agent_exporters() -> list:
    """The per-host exporters the `ffwatt agent` container runs (the gpu exporter runs apart)."""
    return [e for e in EXPORTERS.values() if e.per_host and e.name != "gpu"]


def render_vmagent_config(
    targets: Mapping[str, Sequence[str]] | None = None,
    scrape_interval_override: float | int | str | None = None,
    *,
    gpu: bool = False,
) -> str:
    """A lab host's vmagent scrape config (YAML text): the host's own exporters, in the same jobs
    as the central scrape config, so dashboards and alerts read them alike; vmagent adds the
    `host` label when it remote-writes (docker-compose.agent.yml).

    targets None: the agent compose's services (ffwatt-agent's exporters, and ffwatt-gpu's with
    gpu=True); targets given: static targets as for render_scrape_config (loopback tests)."""
    generated = targets is None
    if targets is None:
        targets = {e.name: [f"{AGENT_SERVICE}:{e.port}"] for e in agent_exporters()}
        if gpu:
            targets["gpu"] = [f"{GPU_SERVICE}:{EXPORTERS['gpu'].port}"]
    return _template(
        "scrape.yml.j2",
        jobs=_static_jobs(targets, scrape_interval_override),
        flavor="vmagent",
        generated=GENERATED.format(source="ffwatt/catalog/exporters.py") if generated else None,
        global_interval=duration(max(e.scrape_interval_seconds for e in EXPORTERS.values())),
    )


# --- lab hosts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    name: str  # short name: the health checker's target label is <name>-<exporter>
    address: str  # host name or IP; {name} is replaced by the exporter name
    exporters: tuple[str, ...]


@dataclass(frozen=True)
class Lab:
    central: str  # address of the central exporters ({name} replaced)
    hosts: tuple[Host, ...]
    web: ScrapeWeb = ScrapeWeb()


class HostsError(ValueError):
    """victoriametrics/hosts.yml cannot be used; the message names the entry."""


def _address(text: object, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise HostsError(f"{where}: address must be a host name or IP, got {text!r}")
    text = text.strip()
    if not _HOST.match(text) or ("{" in text and "{name}" not in text):
        raise HostsError(f"{where}: {text!r} is not a host name or IP (no port: each exporter has its own, "
                         "from the catalog; `{name}` stands for the exporter name)")
    return text


def parse_hosts(doc: object) -> Lab:
    """Validate the hosts.yml document (already YAML-parsed)."""
    if not isinstance(doc, Mapping):
        raise HostsError("hosts.yml: expected a mapping with `central` and `hosts`")
    unknown = sorted(set(doc) - {"central", "hosts", "web"})
    if unknown:
        raise HostsError(f"hosts.yml: unknown key(s) {', '.join(map(str, unknown))}; allowed: central, hosts, web")
    central = _address(doc.get("central", "localhost"), "hosts.yml: central")
    entries = doc.get("hosts") or []
    if not isinstance(entries, list):
        raise HostsError("hosts.yml: `hosts` must be a list")
    hosts: list[Host] = []
    for index, entry in enumerate(entries):
        where = f"hosts.yml: hosts[{index}]"
        if isinstance(entry, str):
            entry = {"address": entry}
        if not isinstance(entry, Mapping):
            raise HostsError(f"{where}: expected a host name or a mapping with address, got {entry!r}")
        bad = sorted(set(entry) - {"name", "address", "exporters"})
        if bad:
            raise HostsError(f"{where}: unknown key(s) {', '.join(map(str, bad))}; allowed: name, address, exporters")
        address = _address(entry.get("address"), where)
        name = entry.get("name")
        if name is None:
            bare = address.strip("[]")
            name = bare if re.fullmatch(r"[0-9.]+", bare) else bare.split(".")[0]
            name = name.replace(":", "_").replace("{name}", "").strip("-_.") or "host"
        if not isinstance(name, str) or not _HOST_NAME.match(name):
            raise HostsError(f"{where}: name {name!r} must be 1-41 letters, digits, '_', '.' or '-'")
        exporters = entry.get("exporters", list(PER_HOST))
        if not isinstance(exporters, list) or not all(isinstance(x, str) for x in exporters):
            raise HostsError(f"{where}: exporters must be a list of names, got {exporters!r}")
        for x in exporters:
            if x not in PER_HOST:
                raise HostsError(f"{where}: {x!r} is not a per-host exporter ({', '.join(PER_HOST)}); "
                                 "central exporters run once, at `central`")
        if len(set(exporters)) != len(exporters):
            raise HostsError(f"{where}: an exporter is listed twice")
        hosts.append(Host(name, address, tuple(x for x in PER_HOST if x in exporters)))
    for kind, values in (("name", [h.name for h in hosts]), ("address", [h.address for h in hosts])):
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise HostsError(f"hosts.yml: {kind} {', '.join(dupes)} appears twice")
    return Lab(central, tuple(hosts), _scrape_web(doc.get("web")))


def _scrape_web(doc: object) -> ScrapeWeb:
    """hosts.yml `web:` {scheme, ca_file, basic_auth: {username, password_file}}; absent: plain http."""
    if doc is None:
        return ScrapeWeb()
    if not isinstance(doc, Mapping):
        raise HostsError("hosts.yml: web: expected a mapping with scheme, ca_file, basic_auth")
    bad = sorted(set(doc) - {"scheme", "ca_file", "basic_auth"})
    if bad:
        raise HostsError(f"hosts.yml: web: unknown key(s) {', '.join(map(str, bad))}; allowed: scheme, ca_file, "
                         "basic_auth")
    scheme = doc.get("scheme", "http")
    if scheme not in ("http", "https"):
        raise HostsError(f"hosts.yml: web.scheme: expected http or https, got {str(scheme)[:40]!r}")
    ca_file = doc.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not ca_file.strip()):
        raise HostsError("hosts.yml: web.ca_file: expected a file path")
    if ca_file is not None and scheme != "https":
        raise HostsError("hosts.yml: web.ca_file: only with scheme: https")
    auth = doc.get("basic_auth")
    username = password_file = None
    if auth is not None:
        if not isinstance(auth, Mapping) or set(auth) != {"username", "password_file"}:
            raise HostsError("hosts.yml: web.basic_auth: expected {username, password_file} (a password is never "
                             "written into the generated configs)")
        username, password_file = auth["username"], auth["password_file"]
        if not isinstance(username, str) or not username or not isinstance(password_file, str) or not password_file:
            raise HostsError("hosts.yml: web.basic_auth: username and password_file must be non-empty strings")
        if scheme != "https":
            raise HostsError("hosts.yml: web.basic_auth: only with scheme: https (a password over plain http is "
                             "readable on the network)")
    return ScrapeWeb(scheme, ca_file, username, password_file)


def load_hosts(path: str | Path = HOSTS_FILE) -> Lab:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise HostsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise HostsError(f"{path}: not valid YAML: {exc}") from None
    return parse_hosts(doc)


def _hostport(address: str, exporter: str) -> str:
    host = address.replace("{name}", exporter)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"{host}:{EXPORTERS[exporter].port}"


def lab_targets(lab: Lab) -> dict[str, list[tuple[str, str]]]:
    """exporter -> [(health target name, host:port)], in catalog then hosts.yml order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for e in EXPORTERS.values():
        if e.name in PER_HOST:
            out[e.name] = [(f"{h.name}-{e.name}", _hostport(h.address, e.name)) for h in lab.hosts
                           if e.name in h.exporters]
        else:
            out[e.name] = [(e.name, _hostport(lab.central, e.name))]
    return out


def render_targets(lab: Lab) -> dict[str, str]:
    """file_sd lists (one per exporter) and the health checker's targets file."""
    files: dict[str, str] = {}
    per_exporter = lab_targets(lab)
    for exporter, entries in per_exporter.items():
        files[f"{VM_DIR}/{TARGETS_DIR}/{exporter}.yml"] = _template(
            "file_sd.yml.j2", exporter=exporter, targets=[t for _, t in entries],
            generated=GENERATED.format(source="victoriametrics/hosts.yml"))
    health = [(name, exporter, target) for exporter, entries in per_exporter.items() if exporter != "health"
              for name, target in entries]
    third_party = [(name, f"{name}:{port}") for name, port in third_party_ports().items()]
    files[HEALTH_TARGETS] = _template(
        "health-targets.yml.j2", targets=health, third_party=third_party,
        generated=GENERATED.format(source="victoriametrics/hosts.yml"))
    return files


# --- alert rules ------------------------------------------------------------------------------

DEFAULT_THRESHOLDS: dict[str, float] = {
    # GPU core temperature that is too hot when sustained.
    "gpu_temperature_celsius": 85.0,
    # A scenario dropping more than this fraction of its frames failed its QoE goal.
    "drop_ratio": 0.01,
    # A refresh loop that has not succeeded for this long, while the exporter says up, is stuck.
    "refresh_stale_seconds": 300.0,
}


@dataclass(frozen=True)
class AlertRule:
    group: str
    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


def _number(value: float) -> str:
    return repr(int(value)) if float(value) == int(value) else repr(float(value))


def alert_rules(thresholds: Mapping[str, float] | None = None) -> list[AlertRule]:
    """The alert rules, built from catalog constants (no metric name is typed here)."""
    t = dict(DEFAULT_THRESHOLDS)
    unknown = sorted(set(thresholds or {}) - set(t))
    if unknown:
        raise KeyError(f"unknown threshold(s) {', '.join(unknown)}; known: {', '.join(t)}")
    t.update(thresholds or {})
    for e in EXPORTERS.values():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", e.job):
            raise ValueError(f"job name {e.job!r} needs regex escaping in the alert rules")
    jobs = "|".join(e.job for e in EXPORTERS.values())
    stale = _number(t["refresh_stale_seconds"])
    gpu_hot = _number(t["gpu_temperature_celsius"])
    drops = _number(t["drop_ratio"])
    assert "unavailable" in ENERGY_SOURCES
    return [
        AlertRule(
            "ffwatt-exporters", "FfwattExporterDown",
            f'up{{job=~"{jobs}"}} == 0', "2m", "critical",
            "{{ $labels.job }} on {{ $labels.instance }} is down",
            "Scrapes of {{ $labels.instance }} (job {{ $labels.job }}) fail: the exporter is not running, "
            "not reachable from the TSDB, or not answering /metrics. Its panels show no new data.",
        ),
        AlertRule(
            "ffwatt-exporters", "FfwattExporterRefreshFailing",
            f"{m.EXPORTER_UP.name} == 0", "5m", "warning",
            "{{ $labels.exporter }} exporter on {{ $labels.instance }} cannot read its source",
            "The {{ $labels.exporter }} exporter's refreshes fail, so it serves its last good data (or none). "
            "GET /health on {{ $labels.instance }} names the last error.",
        ),
        AlertRule(
            "ffwatt-exporters", "FfwattExporterRefreshStalled",
            f"time() - {m.EXPORTER_LAST_SUCCESS.name} > {stale} "
            # host: every lab host's vmagent sends the same instance (ffwatt-agent:9500)
            f"and on(instance, job, exporter, host) {m.EXPORTER_UP.name} == 1",
            "5m", "warning",
            "{{ $labels.exporter }} exporter on {{ $labels.instance }} has not refreshed for "
            "{{ $value | humanizeDuration }}",
            f"The {{{{ $labels.exporter }}}} exporter reports up but its last successful refresh is older than "
            f"{stale}s: its refresh loop is stuck and it serves old data. Restart it and check its log.",
        ),
        AlertRule(
            "ffwatt-exporters", "FfwattTargetUnhealthy",
            f"{m.HEALTH_TARGET_HEALTHY.name} == 0", "3m", "warning",
            "health check of {{ $labels.target }} fails",
            "The health checker at {{ $labels.instance }} finds {{ $labels.target }} unhealthy: down, "
            "not serving a valid exposition, missing catalog metrics, or failing its /health; "
            f"{m.HEALTH_TARGET_REASON.name} says which.",
        ),
        AlertRule(
            "ffwatt-exporters", "FfwattDockerEngineUnreachable",
            f"{m.DOCKER_ENGINE_UP.name} == 0", "5m", "warning",
            "Docker Engine unreachable from {{ $labels.instance }}",
            "The docker exporter on {{ $labels.instance }} cannot reach the Docker Engine API, so container "
            "metrics are missing. Check the mounted socket (or --docker-host) and the exporter's /health.",
        ),
        AlertRule(
            "ffwatt-hardware", "FfwattGpuOverTemperature",
            f"{m.GPU_TEMPERATURE.name} > {gpu_hot}", "5m", "warning",
            "GPU {{ $labels.gpu }} on {{ $labels.instance }} is at {{ $value }} C",
            f"GPU {{{{ $labels.gpu }}}} on {{{{ $labels.instance }}}} has been above {gpu_hot} C: it may "
            "throttle its clocks, which skews encoder benchmarks (fps, watts). Check cooling and fan curves.",
        ),
        AlertRule(
            "ffwatt-quality", "FfwattDropRatioHigh",
            f"{m.QOE_DROP_RATIO.name} > {drops}", "1m", "warning",
            "scenario {{ $labels.scenario }} dropped {{ $value | humanizePercentage }} of its frames",
            f"Scenario {{{{ $labels.scenario }}}} (encoder {{{{ $labels.encoder }}}}, {{{{ $labels.bitrate }}}}, "
            f"{{{{ $labels.resolution }}}}) dropped more than {float(drops):.2%} of its frames: the machine "
            "could not keep up, so its quality and cost figures describe a degraded stream.",
        ),
        AlertRule(
            "ffwatt-quality", "FfwattScenarioEnergyUnavailable",
            f'{m.COST_ENERGY_SOURCE.name}{{source="unavailable"}} == 1', "5m", "warning",
            "no energy data for scenario {{ $labels.scenario }}",
            "Scenario {{ $labels.scenario }} (encoder {{ $labels.encoder }}) has no power samples in its "
            "results file and the TSDB holds no CPU/GPU joules for its time range, so its energy cost and "
            "efficiency are missing. Were the cpu/gpu exporters scraped while it ran?",
        ),
        AlertRule(
            "ffwatt-live", "FfwattLiveStreamDroppingFrames",
            f"rate({m.FFMPEG_DROPPED.name}[1m]) > 0", "1m", "warning",
            "live stream {{ $labels.stream }} on {{ $labels.instance }} drops {{ $value | humanize }} frames/s",
            "ffmpeg reports dropped frames for stream {{ $labels.stream }} on {{ $labels.instance }}: the "
            "encoder cannot keep up with real time (CPU/GPU saturated, preset too slow, or output blocked).",
        ),
    ]


def render_alert_rules(for_override: str | None = None, thresholds: Mapping[str, float] | None = None) -> str:
    """vmalert rules (Prometheus rule-file YAML): the alerts, then the recording rules (vmalert needs
    -remoteWrite.url for those). for_override replaces every `for` (tests: "0s")."""
    rules = alert_rules(thresholds)
    if for_override is not None:
        for_override = duration(for_override)
    groups: dict[str, list[AlertRule]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule)
    records: dict[str, list[RecordingRule]] = {}
    for record in recording_rules():
        records.setdefault(record.group, []).append(record)
    return _template(
        "alerts.yml.j2",
        groups=groups,
        records=records,
        for_override=for_override,
        generated=GENERATED.format(source="ffwatt/catalog/metrics.py")
        if for_override is None and thresholds is None else None,
    )


# --- Grafana provisioning and compose ---------------------------------------------------------


def render_datasources() -> str:
    return _template(
        "datasources.yml.j2",
        vm_url=VM_URL,
        prometheus_url=PROMETHEUS_URL,
        # Grafana never asks for a step below the fastest scrape interval (the 1 s live series).
        # A panel that rate()s a slower exporter's counters sets that exporter's interval as
        # its own min interval, so its $__rate_interval spans 4 scrapes (dashboards_src/
        # dashboard.py `min_interval`).
        time_interval=duration(min(e.scrape_interval_seconds for e in EXPORTERS.values())),
        # VictoriaMetrics' Grafana guidance (docs.victoriametrics.com/victoriametrics/integrations/
        # grafana): type Prometheus, version at least 2.24.x, so Grafana uses the label values
        # API with match[]; Grafana's choices are 2.24.0 ("2.24.x") and 2.50.0 ("> 2.50.x").
        vm_prometheus_version="2.24.0",
        # docker-compose.yml pins prom/prometheus v2.54.x: Grafana's "> 2.50.x".
        prometheus_version="2.50.0",
        generated=GENERATED.format(source="ffwatt/catalog/exporters.py"),
    )


def render_dashboard_provider() -> str:
    return _template(
        "provider.yml.j2",
        path=f"{GRAFANA_PROVISIONING}/dashboards",
        generated=GENERATED.format(source="scripts/render_configs.py"),
    )


def render_compose() -> str:
    return _template(
        "docker-compose.yml.j2",
        exporters=list(EXPORTERS.values()),
        per_host=PER_HOST,
        images=IMAGES,
        third_party=third_party_ports(),
        config_mount=CONFIG_MOUNT,
        grafana_provisioning=GRAFANA_PROVISIONING,
        results_mount=RESULTS_MOUNT,
        vm_url=VM_URL,
        health_targets=f"{CONFIG_MOUNT}/{Path(HEALTH_TARGETS).name}",
        generated=GENERATED.format(source="ffwatt/catalog/exporters.py"),
    )


def render_agent_compose() -> str:
    """A lab machine's compose file: the per-host exporters in one `ffwatt agent` (the gpu
    exporter apart, behind the nvidia profile: only it may get the GPU reservation)."""
    agent = agent_exporters()
    return _template(
        "docker-compose.agent.yml.j2",
        per_host=PER_HOST,
        cpu_host=[e.name for e in agent],
        agent_exporters=agent,
        gpu=EXPORTERS["gpu"],
        images=IMAGES,
        vmagent_dir=VMAGENT_DIR,
        vmagent_mount=VMAGENT_MOUNT,
        vmagent_buffer=VMAGENT_BUFFER,
        generated=GENERATED.format(source="ffwatt/catalog/exporters.py"),
    )


def render(hosts_file: str | Path = HOSTS_FILE) -> dict[str, str]:
    lab = load_hosts(hosts_file)
    files = {
        f"{VM_DIR}/scrape.yml": render_scrape_config(web=lab.web),
        f"{VM_DIR}/prometheus.yml": render_scrape_config(flavor="prometheus", web=lab.web),
        f"{VM_DIR}/alerts.yml": render_alert_rules(),
        "provisioning/datasources/datasources.yml": render_datasources(),
        "provisioning/dashboards/provider.yml": render_dashboard_provider(),
        "docker-compose.yml": render_compose(),
        "docker-compose.agent.yml": render_agent_compose(),
        f"{VMAGENT_DIR}/scrape.yml": render_vmagent_config(),
        f"{VMAGENT_DIR}/scrape-nvidia.yml": render_vmagent_config(gpu=True),
    }
    files.update(render_targets(lab))
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.render_configs", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed files are up to date")
    args = parser.parse_args(argv)
    try:
        files = render()
    except HostsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = []
    for path, text in sorted(files.items()):
        target = ROOT / path
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("stale (run python -m scripts.render_configs): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
