"""Render every dashboard (and their walkthrough) for `scripts.generate`.

    render() -> {"provisioning/dashboards/<uid>.json": text, ..., "docs/dashboards.md": text}
"""

from __future__ import annotations

from types import ModuleType

from ffwatt.dashboards_src import (
    containers,
    cost_analysis,
    exporter_health,
    host_power,
    live_encoding,
    qoe_metrics,
    results_overview,
)
from ffwatt.dashboards_src.dashboard import DashboardSpec
from ffwatt.dashboards_src.docs import render_markdown

# In the order the docs present them. Each module has UID and dashboard().
MODULES: tuple[ModuleType, ...] = (
    results_overview,
    qoe_metrics,
    cost_analysis,
    host_power,
    containers,
    live_encoding,
    exporter_health,
)

# UIDs the older stack's dashboards had: links and bookmarks to them keep working.
LEGACY_UIDS = ("cost-analysis", "qoe-metrics", "results-overview", "exporter-health")


def specs() -> list[DashboardSpec]:
    built = []
    for module in MODULES:
        spec = module.dashboard()
        if spec.uid != module.UID:
            raise ValueError(f"{module.__name__}: dashboard uid {spec.uid!r} is not its UID {module.UID!r}")
        built.append(spec)
    uids = [s.uid for s in built]
    if len(set(uids)) != len(uids):
        raise ValueError(f"two dashboards share a uid: {uids}")
    return built


def render_dashboards() -> dict[str, str]:
    """Only the dashboard JSON files."""
    return {spec.path: spec.to_json() for spec in specs()}


def render() -> dict[str, str]:
    all_specs = specs()
    files = {spec.path: spec.to_json() for spec in all_specs}
    files["docs/dashboards.md"] = render_markdown(all_specs)
    return files
