"""vmalert rules over catalog metrics (no metric name is typed here): exporters down or stuck,
hardware too hot, scenarios that dropped frames or lack energy, live streams falling behind.

    alert_rules(thresholds=None) -> list[AlertRule]        the rules as data
    render_alert_rules(for_override=None, thresholds=None) -> str
        for_override: a duration ("0s") replacing every rule's `for` (tests); thresholds:
        {key: value} overriding DEFAULT_THRESHOLDS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ffwatt.catalog import ENERGY_SOURCES, EXPORTERS
from ffwatt.catalog import metrics as m
from ffwatt.deploy.recording_rules import RecordingRule, recording_rules
from ffwatt.deploy.templating import GENERATED, duration, render_template

__all__ = ["DEFAULT_THRESHOLDS", "AlertRule", "alert_rules", "render_alert_rules"]

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
    return _exporter_rules(_number(t["refresh_stale_seconds"])) + _scenario_rules(
        _number(t["gpu_temperature_celsius"]), _number(t["drop_ratio"]))


def _exporter_rules(stale: str) -> list[AlertRule]:
    """Exporters down, failing, stalled, unhealthy; the Docker Engine out of reach."""
    jobs = "|".join(e.job for e in EXPORTERS.values())
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
    ]


def _scenario_rules(gpu_hot: str, drops: str) -> list[AlertRule]:
    """Hardware too hot, scenarios that dropped frames or lack energy, live streams behind."""
    assert "unavailable" in ENERGY_SOURCES
    return [
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
    """vmalert rules (Prometheus rule-file YAML): the alerts, then the streams' recording rules
    (`deploy.recording_rules`; vmalert needs -remoteWrite.url for those). for_override replaces
    every `for` (tests: "0s")."""
    rules = alert_rules(thresholds)
    if for_override is not None:
        for_override = duration(for_override)
    groups: dict[str, list[AlertRule]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule)
    records: dict[str, list[RecordingRule]] = {}
    for record in recording_rules():
        records.setdefault(record.group, []).append(record)
    return render_template(
        "alerts.yml.j2",
        groups=groups,
        records=records,
        for_override=for_override,
        generated=GENERATED.format(source="ffwatt/catalog/metrics.py")
        if for_override is None and thresholds is None else None,
    )
