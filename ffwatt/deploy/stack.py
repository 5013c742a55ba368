"""The compose stack's files: Grafana's datasources and dashboard provider, and the two compose
files (the whole stack; a lab machine's agent and vmagent). The compose files build ffwatt's
images from a checkout (`build: .`), so only `make dashboards` writes them (`REPO_ONLY`)."""

from __future__ import annotations

from ffwatt.catalog import EXPORTERS
from ffwatt.deploy.hosts import PER_HOST
from ffwatt.deploy.scrape import HEALTH_TARGETS, VMAGENT_DIR, agent_exporters, third_party_ports
from ffwatt.deploy.templating import GENERATED, duration, render_template

__all__ = ["IMAGES", "REPO_ONLY", "render_agent_compose", "render_compose", "render_dashboard_provider",
           "render_datasources"]

REPO_ONLY = ("docker-compose.yml", "docker-compose.agent.yml")

# Where things live inside the compose stack.
VM_URL = "http://victoriametrics:8428"
PROMETHEUS_URL = "http://prometheus:9090"
CONFIG_MOUNT = "/etc/victoriametrics"  # ./victoriametrics, read-only, in vm, vmalert, prometheus, health
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"  # ./provisioning, read-only
RESULTS_MOUNT = "/data/results"
VMAGENT_MOUNT = "/etc/vmagent"  # a lab host's vmagent: its scrape configs, and where it buffers
VMAGENT_BUFFER = "/buffer"

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


def render_datasources() -> str:
    return render_template(
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
    return render_template(
        "provider.yml.j2",
        path=f"{GRAFANA_PROVISIONING}/dashboards",
        generated=GENERATED.format(source="ffwatt/deploy/stack.py"),
    )


def render_compose() -> str:
    return render_template(
        "docker-compose.yml.j2",
        exporters=list(EXPORTERS.values()),
        per_host=PER_HOST,
        images=IMAGES,
        third_party=third_party_ports(),
        config_mount=CONFIG_MOUNT,
        grafana_provisioning=GRAFANA_PROVISIONING,
        results_mount=RESULTS_MOUNT,
        vm_url=VM_URL,
        health_targets=f"{CONFIG_MOUNT}/{HEALTH_TARGETS.rsplit('/', 1)[-1]}",
        generated=GENERATED.format(source="ffwatt/catalog/exporters.py"),
    )


def render_agent_compose() -> str:
    """A lab machine's compose file: the per-host exporters in one `ffwatt agent` (the gpu
    exporter apart, behind the nvidia profile: only it may get the GPU reservation)."""
    agent = agent_exporters()
    return render_template(
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
