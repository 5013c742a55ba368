"""The shared exporter runtime: settings, snapshot swapping, last good data, /health."""

import threading

import pytest
import requests

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import Setting, parse
from ffwatt.exporters.runtime import Exporter, Runtime
from ffwatt.exporters.samples import Samples
from tests.harness import catalog_mismatch, parse_samples


class Scripted(Exporter):
    """An exporter whose refreshes follow a script: a number, or an exception to raise."""

    name = "cpu"

    def __init__(self, script):
        super().__init__(None)
        self.script = list(script)
        self.calls = 0

    def refresh(self, out):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        if step == "warn":
            out.warn("zone dram unreadable")
            step = 1.0
        out.add(m.CPU_ENERGY, step, socket="0", zone="package")
        out.add(m.CPU_ZONES, 1)


@pytest.fixture
def make_runtime():
    made = []

    def make(script):
        rt = Runtime(Scripted(script), listen_address="127.0.0.1", port=0, refresh_interval=3600)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.server.server_close()


def metrics_of_snapshot(rt):
    body, _ = rt.snapshot.encode(None)
    return parse_samples(body.decode())


def test_failed_refresh_keeps_last_good_data_and_counts(make_runtime):
    rt = make_runtime([5.0, OSError("energy_uj: Permission denied"), 7.0])
    rt.refresh_once()
    s = metrics_of_snapshot(rt)
    assert s["ffwatt_cpu_energy_joules_total"][0][1] == 5.0
    assert s["ffwatt_exporter_up"][0][1] == 1.0

    rt.refresh_once()
    s = metrics_of_snapshot(rt)
    assert s["ffwatt_cpu_energy_joules_total"][0][1] == 5.0, "last good data must be kept"
    assert s["ffwatt_exporter_up"][0][1] == 0.0
    assert s["ffwatt_exporter_refresh_errors_total"][0][1] == 1.0
    code, health = rt.health()
    assert code == 200 and health["status"] == "degraded"
    assert "Permission denied" in health["last_error"]

    rt.refresh_once()
    s = metrics_of_snapshot(rt)
    assert s["ffwatt_cpu_energy_joules_total"][0][1] == 7.0
    assert s["ffwatt_exporter_up"][0][1] == 1.0
    assert rt.health()[1]["status"] == "ok"


def test_never_refreshed_is_failing_with_503(make_runtime):
    rt = make_runtime([RuntimeError("no source")])
    assert rt.health()[0] == 503
    rt.refresh_once()
    code, health = rt.health()
    assert code == 503 and health["status"] == "failing"
    assert "no source" in health["reason"]


def test_warning_makes_health_degraded_but_up(make_runtime):
    rt = make_runtime(["warn"])
    rt.refresh_once()
    code, health = rt.health()
    assert code == 200 and health["status"] == "degraded"
    assert health["warnings"] == ["zone dram unreadable"]
    assert metrics_of_snapshot(rt)["ffwatt_exporter_up"][0][1] == 1.0


def test_snapshot_declares_exactly_the_exporters_catalog_metrics(make_runtime):
    rt = make_runtime([1.0])
    rt.refresh_once()
    body, _ = rt.snapshot.encode(None)
    assert catalog_mismatch("cpu", body.decode()) == (set(), set())


def test_http_serves_metrics_health_and_openmetrics(make_runtime):
    rt = make_runtime([3.0])
    rt.start()
    try:
        url = f"http://127.0.0.1:{rt.port}"
        rt.refresh_once()
        r = requests.get(url + "/metrics", timeout=5)
        assert r.status_code == 200 and "ffwatt_cpu_energy_joules_total" in r.text
        om = requests.get(url + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5)
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.text.rstrip().endswith("# EOF")
        assert requests.get(url + "/health", timeout=5).json()["exporter"] == "cpu"
        assert requests.get(url + "/nope", timeout=5).status_code == 404
        assert requests.post(url + "/metrics", data=b"x", timeout=5).status_code == 404
    finally:
        rt.stop()


def test_scrapes_are_served_while_a_refresh_hangs(make_runtime):
    release = threading.Event()

    class Hanging(Scripted):
        def refresh(self, out):
            if self.calls >= 1:
                release.wait(10)
            super().refresh(out)

    rt = Runtime(Hanging([2.0]), listen_address="127.0.0.1", port=0, refresh_interval=0.05)
    rt.start()
    try:
        url = f"http://127.0.0.1:{rt.port}/metrics"
        for _ in range(5):  # the loop is now stuck in the second refresh
            assert "ffwatt_cpu_energy_joules_total" in requests.get(url, timeout=2).text
    finally:
        release.set()
        rt.stop()


def test_samples_refuse_wrong_labels_and_foreign_metrics():
    out = Samples("cpu")
    with pytest.raises(ValueError, match="takes labels"):
        out.add(m.CPU_ENERGY, 1.0, zone="package")
    with pytest.raises(ValueError, match="does not emit"):
        out.add(m.GPU_POWER, 1.0, gpu="0")
    with pytest.raises(ValueError, match="cannot be negative"):
        out.add(m.CPU_ENERGY, -1.0, socket="0", zone="package")
    out.add(m.CPU_POWER, None, socket="0", zone="package")
    assert out.value(m.CPU_POWER, socket="0", zone="package") is None


SETTINGS = (Setting("results-dir", "test_results", "Where results live."),
            Setting("port", 9502, "Port.", int))


def test_settings_flag_beats_environment_beats_default():
    assert parse("x", "", SETTINGS, [], {}).results_dir == "test_results"
    assert parse("x", "", SETTINGS, [], {"FFWATT_RESULTS_DIR": "/r"}).results_dir == "/r"
    assert parse("x", "", SETTINGS, ["--results-dir", "/f"], {"FFWATT_RESULTS_DIR": "/r"}).results_dir == "/f"
    assert parse("x", "", SETTINGS, [], {"FFWATT_PORT": "9999"}).port == 9999


def test_bad_environment_value_names_the_variable(capsys):
    with pytest.raises(SystemExit):
        parse("x", "", SETTINGS, [], {"FFWATT_PORT": "abc"})
    assert "FFWATT_PORT" in capsys.readouterr().err


def test_catalog_mismatch_catches_foreign_and_missing_metrics(make_runtime):
    rt = make_runtime([1.0])
    rt.refresh_once()
    body = rt.snapshot.encode(None)[0].decode()
    foreign = body + "# HELP ffwatt_cpu_temperature_celsius x\n# TYPE ffwatt_cpu_temperature_celsius gauge\n"
    assert catalog_mismatch("cpu", foreign) == ({"ffwatt_cpu_temperature_celsius"}, set())
    lines = body.splitlines(keepends=True)
    without_power = "".join(line for line in lines if "ffwatt_cpu_power_watts" not in line)
    assert catalog_mismatch("cpu", without_power) == (set(), {"ffwatt_cpu_power_watts"})


def test_no_exporter_serves_a_label_value_over_the_limit():
    out = Samples("results", max_label_length=256)
    labels = {"encoder": "x264", "bitrate": "1000k", "resolution": "1x1", "host": "h", "preset": "fast", "clip": "c"}
    out.add(m.RESULTS_DURATION, 1.0, scenario="a" * 256, **labels)
    out.add(m.RESULTS_DURATION, 2.0, scenario="b" * 257, **labels)
    out.add(m.RESULTS_FRAMES, 3.0, scenario="c" * 30_000_000, **labels)
    text = "".join(str(s) for f in out.families() for s in f.samples)
    assert out.value(m.RESULTS_DURATION, scenario="a" * 256, **labels) == 1.0
    assert "b" * 257 not in text and len(text) < 10_000
    assert out.warnings == [f"samples left out: a label value over 256 characters ({m.RESULTS_DURATION.name}, "
                            "--max-label-length)"]
