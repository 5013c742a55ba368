"""Scrape configs from the catalog's exporter list: VictoriaMetrics', Prometheus' (the comparison
profile), a lab host's vmagent's, the file_sd target lists and the health checker's targets.

    render_scrape_config(targets=None, scrape_interval_override=None, *,
                         flavor="victoriametrics", targets_dir="targets", web=ScrapeWeb()) -> str
        targets: {exporter name: ["127.0.0.1:PORT", ...]} gives static_configs for just those
        exporters (loopback tests, the demo); None gives the file_sd config for every catalog
        exporter, reading `<targets_dir>/<exporter>.yml` relative to the config file.
        scrape_interval_override: seconds or a duration ("1s") for every job. flavor
        "prometheus" only changes the header.
    render_vmagent_config(targets=None, scrape_interval_override=None, *, gpu=False) -> str
        a lab host's vmagent: the agent compose's services (ffwatt-agent, and ffwatt-gpu with
        gpu=True), or static targets as above
    render_targets(lab) -> {relative path: text}: file_sd lists and the health checker's targets
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ffwatt.catalog import EXPORTERS
from ffwatt.deploy.hosts import PER_HOST, Lab, ScrapeWeb
from ffwatt.deploy.templating import GENERATED, duration, render_template, seconds

__all__ = ["AGENT_SERVICE", "GPU_SERVICE", "HEALTH_TARGETS", "ScrapeJob", "TARGETS_DIR", "VM_DIR", "VMAGENT_DIR",
           "agent_exporters", "lab_targets", "render_scrape_config", "render_targets", "render_vmagent_config",
           "third_party_ports"]

VM_DIR = "victoriametrics"
TARGETS_DIR = "targets"  # relative to the scrape config; file_sd resolves it from there
HEALTH_TARGETS = f"{VM_DIR}/health-targets.yml"
VMAGENT_DIR = f"{VM_DIR}/vmagent"
AGENT_SERVICE = "ffwatt-agent"  # the agent compose's services a lab host's vmagent scrapes
GPU_SERVICE = "ffwatt-gpu"

# Third-party exporters the compose stack runs beside ffwatt's (compose service = job
# name = health target name, at the port exporters.health.THIRD_PARTY knows), scraped
# at this interval.
THIRD_PARTY_SERVICES = ("node-exporter", "cadvisor")
THIRD_PARTY_INTERVAL_SECONDS = 15


@dataclass(frozen=True)
class ScrapeJob:
    exporter: str
    job_name: str
    scrape_interval: str
    scrape_timeout: str
    files: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


def _timeout(interval_text: str) -> str:
    # Exporters serve a prepared snapshot, so a scrape is fast; never wait longer than the
    # interval (Prometheus rejects a timeout above it) nor than 10s.
    return duration(min(seconds(interval_text), 10.0))


def _job(exporter: str, interval: float | int | str, **where: tuple[str, ...]) -> ScrapeJob:
    e = EXPORTERS[exporter]
    interval_text = duration(interval)
    return ScrapeJob(e.name, e.job, interval_text, _timeout(interval_text), **where)


def _global_interval() -> str:
    return duration(max(e.scrape_interval_seconds for e in EXPORTERS.values()))  # jobs all set their own


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


def _file_sd_jobs(scrape_interval_override: float | int | str | None, targets_dir: str) -> list[ScrapeJob]:
    """Every catalog exporter from its file_sd list, then the stack's third-party exporters."""
    jobs = []
    for e in EXPORTERS.values():
        interval = scrape_interval_override if scrape_interval_override is not None else e.scrape_interval_seconds
        jobs.append(_job(e.name, interval, files=(f"{targets_dir}/{e.name}.yml",)))
    interval = scrape_interval_override if scrape_interval_override is not None else THIRD_PARTY_INTERVAL_SECONDS
    interval_text = duration(interval)
    for name, port in third_party_ports().items():
        jobs.append(ScrapeJob(name, name, interval_text, _timeout(interval_text), targets=(f"{name}:{port}",)))
    return jobs


def render_scrape_config(
    targets: Mapping[str, Sequence[str]] | None = None,
    scrape_interval_override: float | int | str | None = None,
    *,
    flavor: str = "victoriametrics",
    targets_dir: str = TARGETS_DIR,
    web: ScrapeWeb | None = None,
) -> str:
    """The scrape config (YAML text) for VictoriaMetrics or Prometheus (module docstring)."""
    if flavor not in ("victoriametrics", "prometheus"):  # vmagent: render_vmagent_config
        raise ValueError(f"flavor must be victoriametrics or prometheus, got {flavor!r}")
    if targets is None:
        jobs = _file_sd_jobs(scrape_interval_override, targets_dir)
        generated = GENERATED.format(source="ffwatt/catalog/exporters.py and victoriametrics/hosts.yml")
    else:
        jobs, generated = _static_jobs(targets, scrape_interval_override), None
    return render_template("scrape.yml.j2", jobs=jobs, flavor=flavor, web=web or ScrapeWeb(),
                           exporter_jobs={e.job for e in EXPORTERS.values()}, generated=generated,
                           global_interval=_global_interval())


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
    `host` label when it remote-writes (docker-compose.agent.yml)."""
    generated = targets is None
    if targets is None:
        targets = {e.name: [f"{AGENT_SERVICE}:{e.port}"] for e in agent_exporters()}
        if gpu:
            targets["gpu"] = [f"{GPU_SERVICE}:{EXPORTERS['gpu'].port}"]
    return render_template("scrape.yml.j2", jobs=_static_jobs(targets, scrape_interval_override), flavor="vmagent",
                           generated=GENERATED.format(source="ffwatt/catalog/exporters.py") if generated else None,
                           global_interval=_global_interval())


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
    generated = GENERATED.format(source="victoriametrics/hosts.yml")
    per_exporter = lab_targets(lab)
    for exporter, entries in per_exporter.items():
        files[f"{VM_DIR}/{TARGETS_DIR}/{exporter}.yml"] = render_template(
            "file_sd.yml.j2", exporter=exporter, targets=[t for _, t in entries], generated=generated)
    health = [(name, exporter, target) for exporter, entries in per_exporter.items() if exporter != "health"
              for name, target in entries]
    third_party = [(name, f"{name}:{port}") for name, port in third_party_ports().items()]
    files[HEALTH_TARGETS] = render_template("health-targets.yml.j2", targets=health, third_party=third_party,
                                            generated=generated)
    return files
