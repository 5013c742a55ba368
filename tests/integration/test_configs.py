"""The rendered configs against the real tools: VictoriaMetrics, promtool, vmalert,
Prometheus and docker-compose accept them, and the alert rules fire (and stay quiet)
on real data in a real VictoriaMetrics evaluated by a real vmalert.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from ffwatt.catalog import EXPORTERS
from ffwatt.catalog import metrics as m
from ffwatt.deploy import alerts, hosts, scrape
from ffwatt.deploy.recording_rules import recording_rules
from tests.harness import running_exporter
from tests.servers import (
    Prometheus,
    VictoriaMetrics,
    VMAlert,
    dry_run_scrape_config,
    promtool,
    require_binary,
    vmagent_dry_run,
    vmalert_dry_run,
)

ROOT = Path(__file__).resolve().parents[2]
VM_DIR = ROOT / "victoriametrics"
SAMPLE_RESULTS = ROOT / "test_results"


# --- static validation by the real tools -------------------------------------------------------


def test_victoriametrics_accepts_the_scrape_config() -> None:
    cp = dry_run_scrape_config(VM_DIR / "scrape.yml")
    assert cp.returncode == 0, cp.stderr


def test_victoriametrics_accepts_a_static_loopback_config(tmp_path) -> None:
    path = tmp_path / "scrape.yml"
    path.write_text(scrape.render_scrape_config({e: [f"127.0.0.1:{5000 + i}"] for i, e in enumerate(EXPORTERS)},
                                            scrape_interval_override="1s"))
    cp = dry_run_scrape_config(path)
    assert cp.returncode == 0, cp.stderr


@pytest.mark.parametrize("name", ["scrape.yml", "scrape-nvidia.yml"])
def test_vmagent_accepts_the_lab_host_scrape_configs(name: str) -> None:
    cp = vmagent_dry_run(VM_DIR / "vmagent" / name)
    assert cp.returncode == 0, cp.stderr


def test_vmagent_dry_run_rejects_a_broken_config(tmp_path) -> None:
    # the check above can fail: an unknown field is an error under strict parsing
    path = tmp_path / "scrape.yml"
    path.write_text(scrape.render_vmagent_config({"cpu": ["127.0.0.1:9500"]}).replace("metrics_path:", "metric_path:"))
    cp = vmagent_dry_run(path)
    assert cp.returncode != 0 and "metric_path" in cp.stderr


@pytest.mark.parametrize("name", ["prometheus.yml", "scrape.yml"])
def test_promtool_checks_the_config_and_its_target_files(name: str) -> None:
    # promtool also parses every file_sd file the config names
    cp = promtool("check", "config", str(VM_DIR / name))
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out
    assert "SUCCESS" in out and "WARNING" not in out, out


def test_promtool_checks_the_rules() -> None:
    cp = promtool("check", "rules", str(VM_DIR / "alerts.yml"))
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out
    assert f"SUCCESS: {len(alerts.alert_rules()) + len(recording_rules())} rules found" in out, out


def test_vmalert_accepts_the_rules() -> None:
    cp = vmalert_dry_run(VM_DIR / "alerts.yml")
    assert cp.returncode == 0, cp.stdout + cp.stderr


def _compose(*args: str, password: str | None = "not-a-real-password") -> subprocess.CompletedProcess:
    binary = require_binary("docker-compose")
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    if password is not None:
        env["GRAFANA_ADMIN_PASSWORD"] = password
    return subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_compose_file_is_valid_with_every_profile() -> None:
    cp = _compose("--profile", "nvidia", "--profile", "comparison", "config", "-q")
    assert cp.returncode == 0, cp.stderr
    cp = _compose("--profile", "nvidia", "--profile", "comparison", "config", "--services")
    assert cp.returncode == 0, cp.stderr
    services = set(cp.stdout.split())
    assert services == ({"victoriametrics", "vmalert", "grafana", "prometheus", "nginx-rtmp"}
                        | set(scrape.THIRD_PARTY_SERVICES) | {f"ffwatt-{e}" for e in EXPORTERS})


def test_compose_refuses_to_start_without_a_grafana_password() -> None:
    cp = _compose("config", "-q", password=None)
    assert cp.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in cp.stderr


# --- the TSDBs load the committed configs ------------------------------------------------------


def _targets(server) -> set[tuple[str, str]]:
    return {(t["labels"]["job"], t["labels"]["instance"]) for t in server.targets()}


def _expected_targets() -> set[tuple[str, str]]:
    """Every target of hosts.yml, and the compose stack's third-party exporters."""
    return ({(EXPORTERS[exporter].job, target) for exporter, entries in scrape.lab_targets(hosts.load_hosts()).items()
             for _, target in entries}
            | {(name, f"{name}:{port}") for name, port in scrape.third_party_ports().items()})


def _wait(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_victoriametrics_reads_the_file_sd_targets() -> None:
    """Relative file_sd paths resolve next to scrape.yml: every target of hosts.yml is listed
    (and the static third-party jobs)."""
    expected = _expected_targets()
    with VictoriaMetrics(VM_DIR / "scrape.yml") as vm:
        _wait(lambda: _targets(vm) == expected, what=f"VictoriaMetrics targets {expected}")


def test_prometheus_reads_the_file_sd_targets() -> None:
    expected = _expected_targets()
    with Prometheus(VM_DIR / "prometheus.yml") as prom:
        _wait(lambda: _targets(prom) == expected, what=f"Prometheus targets {expected}")


def test_both_tsdbs_scrape_real_exporters_through_the_static_render() -> None:
    with (running_exporter("results", "--results-dir", str(SAMPLE_RESULTS)) as results,
          running_exporter("qoe", "--results-dir", str(SAMPLE_RESULTS)) as qoe):
        targets = {"results": [f"127.0.0.1:{results.runtime.port}"], "qoe": [f"127.0.0.1:{qoe.runtime.port}"]}
        vm_config = scrape.render_scrape_config(targets, scrape_interval_override="1s")
        prom_config = scrape.render_scrape_config(targets, scrape_interval_override="1s", flavor="prometheus")
        with VictoriaMetrics(scrape_config_text=vm_config) as vm, Prometheus(config_text=prom_config) as prom:
            for tsdb in (vm, prom):
                up = tsdb.wait_query('up{job=~"ffwatt-results|ffwatt-qoe"} == 1', lambda r: len(r) == 2)
                assert {r["metric"]["job"] for r in up} == {"ffwatt-results", "ffwatt-qoe"}
                got = tsdb.wait_query(m.RESULTS_SCENARIOS.name)
                assert got[0]["metric"]["job"] == "ffwatt-results" and float(got[0]["value"][1]) > 0
                assert tsdb.wait_query(f'{m.EXPORTER_UP.name}{{exporter="qoe", job="ffwatt-qoe"}} == 1')


# --- the alert rules on real data --------------------------------------------------------------

SCENARIO = 'encoder="libx264",bitrate="2500k",resolution="1280x720"'


def _series(now: float) -> str:
    """Exposition lines covering [now-60s, now+180s] every 5 s, so they stay fresh while vmalert runs."""
    gauges = {
        # firing
        'up{job="ffwatt-cpu",instance="lab1:9500"}': 0,
        f'{m.EXPORTER_UP.name}{{exporter="cost",job="ffwatt-cost",instance="c:9504"}}': 0,
        f'{m.HEALTH_TARGET_HEALTHY.name}{{target="lab1-cpu",job="ffwatt-health",instance="h:9600"}}': 0,
        f'{m.GPU_TEMPERATURE.name}{{gpu="0",job="ffwatt-gpu",instance="lab1:9505"}}': 91,
        f'{m.QOE_DROP_RATIO.name}{{scenario="overloaded",{SCENARIO},job="ffwatt-qoe",instance="q:9503"}}': 0.05,
        f'{m.COST_ENERGY_SOURCE.name}{{scenario="nopower",{SCENARIO},source="unavailable",job="ffwatt-cost",'
        f'instance="c:9504"}}': 1,
        f'{m.DOCKER_ENGINE_UP.name}{{job="ffwatt-docker",instance="lab1:9501"}}': 0,
        f'{m.EXPORTER_UP.name}{{exporter="qoe",job="ffwatt-qoe",instance="q:9503"}}': 1,
        # quiet
        'up{job="ffwatt-cpu",instance="lab2:9500"}': 1,
        'up{job="node",instance="lab1:9100"}': 0,  # not an ffwatt job
        f'{m.EXPORTER_UP.name}{{exporter="results",job="ffwatt-results",instance="r:9502"}}': 1,
        f'{m.HEALTH_TARGET_HEALTHY.name}{{target="results",job="ffwatt-health",instance="h:9600"}}': 1,
        f'{m.GPU_TEMPERATURE.name}{{gpu="1",job="ffwatt-gpu",instance="lab1:9505"}}': 60,
        f'{m.QOE_DROP_RATIO.name}{{scenario="fine",{SCENARIO},job="ffwatt-qoe",instance="q:9503"}}': 0.001,
        f'{m.COST_ENERGY_SOURCE.name}{{scenario="fine",{SCENARIO},source="samples",job="ffwatt-cost",'
        f'instance="c:9504"}}': 1,
        f'{m.COST_ENERGY_SOURCE.name}{{scenario="fine",{SCENARIO},source="unavailable",job="ffwatt-cost",'
        f'instance="c:9504"}}': 0,
        f'{m.DOCKER_ENGINE_UP.name}{{job="ffwatt-docker",instance="lab2:9501"}}': 1,
    }
    lines = []
    for i in range(-12, 37):
        t = now + 5 * i
        ms = int(t * 1000)
        for series, value in gauges.items():
            lines.append(f"{series} {value} {ms}")
        # the results exporter refreshed just now, qoe's loop stalled 20 minutes ago
        lines.append(f'{m.EXPORTER_LAST_SUCCESS.name}{{exporter="results",job="ffwatt-results",instance="r:9502"}} '
                     f"{t - 1} {ms}")
        lines.append(f'{m.EXPORTER_LAST_SUCCESS.name}{{exporter="qoe",job="ffwatt-qoe",instance="q:9503"}} '
                     f"{now - 1200} {ms}")
        # one live stream drops a frame every 5 s, the other never
        lines.append(f'{m.FFMPEG_DROPPED.name}{{stream="cam1",job="ffwatt-ffmpeg",instance="lab1:9506"}} '
                     f"{100 + i} {ms}")
        lines.append(f'{m.FFMPEG_DROPPED.name}{{stream="cam2",job="ffwatt-ffmpeg",instance="lab1:9506"}} 3 {ms}')
    return "\n".join(lines) + "\n"


# alert name -> the label that tells the firing series apart, and its value
EXPECTED_FIRING = {
    ("FfwattExporterDown", "instance", "lab1:9500"),
    ("FfwattExporterRefreshFailing", "exporter", "cost"),
    ("FfwattExporterRefreshStalled", "exporter", "qoe"),
    ("FfwattTargetUnhealthy", "target", "lab1-cpu"),
    ("FfwattDockerEngineUnreachable", "instance", "lab1:9501"),
    ("FfwattGpuOverTemperature", "gpu", "0"),
    ("FfwattDropRatioHigh", "scenario", "overloaded"),
    ("FfwattScenarioEnergyUnavailable", "scenario", "nopower"),
    ("FfwattLiveStreamDroppingFrames", "stream", "cam1"),
}
KEY_LABEL = {name: label for name, label, _ in EXPECTED_FIRING}


def _firing(vmalert: VMAlert) -> dict[tuple[str, str, str], dict]:
    return {(a["name"], KEY_LABEL.get(a["name"], ""), a["labels"].get(KEY_LABEL.get(a["name"], ""), "")): a
            for a in vmalert.alerts() if a.get("state") == "firing"}


def test_alert_rules_fire_on_bad_series_and_stay_quiet_on_healthy_ones(tmp_path) -> None:
    assert {name for name, _, _ in EXPECTED_FIRING} == {r.alert for r in alerts.alert_rules()}, \
        "every rule needs a firing case here"
    rules = tmp_path / "alerts.yml"
    rules.write_text(alerts.render_alert_rules(for_override="0s"))
    with VictoriaMetrics() as vm:
        vm.import_prometheus(_series(time.time()))
        with VMAlert(rules, vm.url, remote_write_url=vm.url, evaluation_interval="1s") as vmalert:
            firing = _wait(lambda: (f := _firing(vmalert)) and set(f) >= EXPECTED_FIRING and f,
                           timeout=60, what=f"alerts {sorted(EXPECTED_FIRING)} firing; log:\n{vmalert.log_tail()}")
            time.sleep(3)  # a few more evaluations: nothing healthy joins them
            firing = _firing(vmalert)
            assert set(firing) == EXPECTED_FIRING, sorted(set(firing) ^ EXPECTED_FIRING)
            by_name = {name: a for (name, _, _), a in firing.items()}
            for name, alert in by_name.items():
                assert alert["labels"]["severity"] in ("critical", "warning"), name
                for key in ("summary", "description"):
                    text = alert["annotations"][key]
                    assert "{{" not in text and "<no value>" not in text and text.strip(), (name, key, text)
            assert by_name["FfwattGpuOverTemperature"]["annotations"]["summary"] == \
                "GPU 0 on lab1:9505 is at 91 C"
            assert by_name["FfwattDropRatioHigh"]["annotations"]["summary"] == \
                "scenario overloaded dropped 5% of its frames"
            assert "cam1" in by_name["FfwattLiveStreamDroppingFrames"]["annotations"]["summary"]
            assert by_name["FfwattExporterDown"]["labels"]["severity"] == "critical"
            # vmalert writes alert state back to VictoriaMetrics, as in the compose stack
            vm.wait_query('ALERTS{alertname="FfwattDropRatioHigh",alertstate="firing"}')
            # and the notifier got them
            _wait(lambda: {a["labels"]["alertname"] for a in vmalert.sink.received()}
                  >= {name for name, _, _ in EXPECTED_FIRING}, what="notifications")


def test_default_for_durations_hold_alerts_pending(tmp_path) -> None:
    """With the committed `for`, a fresh bad reading is pending, not firing."""
    with VictoriaMetrics() as vm:
        vm.import_prometheus(_series(time.time()))
        with VMAlert(VM_DIR / "alerts.yml", vm.url, remote_write_url=vm.url, evaluation_interval="1s") as vmalert:
            alert = vmalert.wait_alert("FfwattGpuOverTemperature", state="pending")
            assert alert["labels"]["gpu"] == "0"
            assert not [a for a in vmalert.alerts() if a.get("state") == "firing"]
