"""The real-server fixtures work against the real binaries."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.servers import (
    DockerEngine,
    Prometheus,
    ServerStartError,
    VictoriaMetrics,
    VMAlert,
    dry_run_scrape_config,
    free_port,
    promtool,
    promtool_check_metrics,
    vmalert_dry_run,
)


def _uniq(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# -- VictoriaMetrics -------------------------------------------------------


def test_vm_import_then_query_returns_exact_value(victoriametrics: VictoriaMetrics) -> None:
    name = _uniq("ffw_test_gauge")
    victoriametrics.import_prometheus(f'{name}{{scenario="a"}} 42.5\n{name}{{scenario="b"}} -1.25\n')
    result = victoriametrics.wait_query(name, lambda r: len(r) == 2)
    got = {r["metric"]["scenario"]: float(r["value"][1]) for r in result}
    assert got == {"a": 42.5, "b": -1.25}
    assert victoriametrics.value(f'{name}{{scenario="a"}}') == 42.5
    assert sorted(victoriametrics.series(name), key=lambda s: s["scenario"]) == [
        {"__name__": name, "scenario": "a"},
        {"__name__": name, "scenario": "b"},
    ]


def test_vm_import_with_timestamps_and_range_query(victoriametrics: VictoriaMetrics) -> None:
    name = _uniq("ffw_test_joules_total")
    t0 = int(time.time()) - 3600  # one hour ago, on whole seconds
    lines = "".join(f"{name} {10 * i} {(t0 + 60 * i) * 1000}\n" for i in range(5))
    victoriametrics.import_prometheus(lines)
    exported = victoriametrics.export(name)
    assert exported and exported[0]["values"] == [0, 10, 20, 30, 40]
    assert exported[0]["timestamps"] == [(t0 + 60 * i) * 1000 for i in range(5)]
    series = victoriametrics.query_range(name, t0, t0 + 240, step=60)
    assert len(series) == 1
    assert [float(v) for _, v in series[0]["values"]] == [0, 10, 20, 30, 40]
    # the `timestamp` argument applies to lines without their own
    other = _uniq("ffw_test_ts_arg")
    victoriametrics.import_prometheus(f"{other} 3\n", timestamp=t0)
    assert victoriametrics.export(other)[0]["timestamps"] == [t0 * 1000]


def test_vm_restart_and_crash_keep_data() -> None:
    with VictoriaMetrics() as vm:
        port = vm.port
        vm.import_prometheus("ffw_restart_probe 7\n")
        vm.wait_query("ffw_restart_probe")
        vm.restart()
        assert vm.port == port
        assert vm.wait_query("ffw_restart_probe")[0]["value"][1] == "7"
        # persisted data also survives SIGKILL
        vm.import_prometheus("ffw_crash_probe 9\n")
        vm.wait_query("ffw_crash_probe")
        vm.persist()
        vm.kill()
        assert not vm.running
        vm.start()
        assert vm.value("ffw_restart_probe") == 7.0
        assert vm.value("ffw_crash_probe") == 9.0


def test_vm_scrapes_itself_from_scrape_config(tmp_path) -> None:
    port = free_port()
    config = tmp_path / "scrape.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "- job_name: self\n"
        f"  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"
    )
    assert dry_run_scrape_config(config).returncode == 0
    with VictoriaMetrics(config, port=port, config_check_interval="1s") as vm:
        up = vm.wait_query('up{job="self"} == 1', timeout=30)
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{port}"


def test_dry_run_scrape_config_rejects_unknown_field(tmp_path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("scrape_configs:\n- job_nme: typo\n")
    cp = dry_run_scrape_config(bad)
    assert cp.returncode != 0
    assert "job_nme" in cp.stderr


def test_vm_start_failure_raises_with_log_tail() -> None:
    vm = VictoriaMetrics(extra_args=["-no-such-flag-ffwatt"])
    try:
        with pytest.raises(ServerStartError, match="no-such-flag-ffwatt"):
            vm.start()
        assert not vm.running
    finally:
        vm.close()


# -- Prometheus / promtool ---------------------------------------------------


def test_prometheus_scrapes_victoriametrics(victoriametrics: VictoriaMetrics) -> None:
    target = victoriametrics.url.removeprefix("http://")
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "- job_name: vm\n"
        f"  static_configs:\n  - targets: ['{target}']\n"
    )
    with Prometheus(config_text=config) as prom:
        assert promtool("check", "config", str(prom.config_file)).returncode == 0
        up = prom.wait_query('up{job="vm"}', lambda r: bool(r) and r[0]["value"][1] == "1")
        assert up[0]["metric"]["instance"] == target
        # and real VM metrics arrived through the scrape
        assert prom.wait_query('vm_app_version{job="vm"}')


GOOD_EXPOSITION = """\
# HELP ffwatt_cpu_energy_joules_total Energy consumed.
# TYPE ffwatt_cpu_energy_joules_total counter
ffwatt_cpu_energy_joules_total{zone="package-0"} 123.5
# HELP ffwatt_cpu_power_watts Power draw.
# TYPE ffwatt_cpu_power_watts gauge
ffwatt_cpu_power_watts{zone="package-0"} 45.0
"""


def test_promtool_check_metrics_passes_good_exposition() -> None:
    ok, findings = promtool_check_metrics(GOOD_EXPOSITION)
    assert ok, findings
    assert findings == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "# HELP ffwatt_frames Frames.\n# TYPE ffwatt_frames counter\nffwatt_frames 1\n",
            "_total",
        ),
        (
            "# HELP ffwatt_latency_ms Latency.\n# TYPE ffwatt_latency_ms gauge\nffwatt_latency_ms 1\n",
            "ms",
        ),
    ],
    ids=["counter-without-total", "unit-abbreviation"],
)
def test_promtool_check_metrics_flags_bad_exposition(text: str, expected: str) -> None:
    ok, findings = promtool_check_metrics(text)
    assert not ok
    assert expected in findings


# -- vmalert ----------------------------------------------------------------


RULES = """\
groups:
- name: ffwatt-test
  interval: 1s
  rules:
  - alert: AlwaysFiring
    expr: vector(1) > 0
    labels:
      severity: info
  - alert: NeverFiring
    expr: vector(0) > 0
"""


def test_vmalert_fires_trivial_rule(victoriametrics: VictoriaMetrics, tmp_path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    assert vmalert_dry_run(rules).returncode == 0
    with VMAlert(
        rules,
        victoriametrics.url,
        remote_write_url=victoriametrics.url,
    ) as vmalert:
        alert = vmalert.wait_alert("AlwaysFiring", "firing")
        assert alert["labels"]["severity"] == "info"
        assert all(a["name"] != "NeverFiring" for a in vmalert.alerts())
        # the notifier stand-in got it, and remote write stored ALERTS in VM
        deadline = time.monotonic() + 30
        while not any(a["labels"].get("alertname") == "AlwaysFiring" for a in vmalert.sink.received()):
            assert time.monotonic() < deadline, "no notification received"
            time.sleep(0.2)
        assert victoriametrics.wait_query('ALERTS{alertname="AlwaysFiring",alertstate="firing"}')


def test_vmalert_dry_run_rejects_bad_expr(tmp_path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: Bad\n    expr: vector(1) >\n")
    cp = vmalert_dry_run(bad)
    assert cp.returncode != 0
    assert "Bad" in cp.stderr


# -- Docker Engine ----------------------------------------------------------


def test_docker_engine_runs_busybox_container(docker_engine: DockerEngine, busy_container) -> None:
    assert docker_engine.client.ping()
    assert docker_engine.client.images.list(name="ffwatt-busybox:test")
    running = {c.id for c in docker_engine.client.containers.list()}
    assert busy_container.id in running
    busy_container.reload()
    assert busy_container.status == "running"
    top = busy_container.top()
    assert any("yes" in " ".join(p) for p in top["Processes"])


def test_docker_engine_stop_and_start_again() -> None:
    with DockerEngine() as engine:
        image = engine.busybox_image()
        c = engine.run_busy(name="ffw-restart-probe", restart_policy={"Name": "unless-stopped"})
        assert c.id in {x.id for x in engine.client.containers.list()}
        engine.stop()
        assert not engine.running
        engine.start()
        # same data root: image and container survive the daemon restart
        assert engine.client.images.list(name=image)
        assert engine.client.containers.get("ffw-restart-probe").id == c.id
        deadline = time.monotonic() + 30
        while engine.client.containers.get(c.id).status != "running":
            assert time.monotonic() < deadline, "container not restarted with the daemon"
            time.sleep(0.2)
    assert not engine.root.exists()
