"""EnergyMeter against the real cpu exporter on a fake powercap tree whose counters advance at known rates.

The expected energy is computed here from what the writer thread put into energy_uj, not
with the code under test: package at 20 W and dram at 3 W count, the `core` sub-zone
(15 W, inside package) must not.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from ffwatt.runner.meter.energy_meter import EnergyMeter
from ffwatt.testing.simulated.powercap import FakePowercap
from tests.harness import running_exporter

PACKAGE_W, DRAM_W, CORE_W = 20.0, 3.0, 15.0
STEP = 0.5


class AdvancingTree:
    """A powercap tree whose counters a thread advances every 20 ms at fixed watts; it
    remembers what it wrote, so the test knows the true energy over any window."""

    def __init__(self, base):
        self.tree = FakePowercap(base, layout="kernel")
        self.tree.package(0, subzones=("core", "dram"))  # intel-rapl:0, :0:0 core, :0:1 dram
        self.rates = {"intel-rapl:0": PACKAGE_W, "intel-rapl:0:0": CORE_W, "intel-rapl:0:1": DRAM_W}
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def counted_joules(self, t: float) -> float:
        """Energy of the zones that count (package + dram) from t0 to t."""
        return (PACKAGE_W + DRAM_W) * (t - self.t0)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            elapsed = time.monotonic() - self.t0
            for entry, watts in self.rates.items():
                target = self.tree.root / entry / "energy_uj"
                tmp = target.with_name("energy_uj.tmp")
                tmp.write_text(f"{int(watts * elapsed * 1e6)}\n")
                os.replace(tmp, target)  # sysfs reads are atomic: never a half-written value

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)


def _exporter(tree):
    return running_exporter("cpu", "--powercap-root", str(tree.tree.root), "--hwmon-root", "",
                            "--sample-interval", "0.05", "--refresh-interval", "0.05")


def test_energy_equals_the_known_increase_within_one_step(tmp_path):
    with AdvancingTree(tmp_path / "sys") as tree, _exporter(tree) as exp:
        time.sleep(0.3)  # the exporter has a few passes behind it
        meter = EnergyMeter(cpu_metrics_url=exp.url + "/metrics", gpu_metrics_url=None, tsdb_url=None,
                            step_seconds=STEP)
        assert meter.describe().startswith("rapl (cpu exporter at ")
        before = time.monotonic()
        meter.start()
        started = time.monotonic()
        time.sleep(3.0)
        ended = time.monotonic()
        reading = meter.stop()
        after = time.monotonic()

    # The true energy over the window lies between the inner and the outer bracket.
    low = tree.counted_joules(ended) - tree.counted_joules(started)
    high = tree.counted_joules(after) - tree.counted_joules(before)
    one_step = (PACKAGE_W + DRAM_W) * STEP  # 11.5 J
    assert reading.source == "rapl", reading.error
    assert low - one_step <= reading.joules <= high + one_step, (low, reading.joules, high)
    # 23 W x ~3 s = ~69 J; with core counted it would be ~38 x 3 = 114 J
    assert reading.joules == pytest.approx(23.0 * 3.0, abs=one_step)
    assert reading.step_seconds == STEP
    assert 5 <= len(reading.power_watts) <= 6  # 3 s / 0.5 s
    mean = sum(reading.power_watts) / len(reading.power_watts)
    assert mean == pytest.approx(23.0, rel=0.1)
    assert all(abs(w - 23.0) < 23.0 * 0.35 for w in reading.power_watts), reading.power_watts
    assert len(reading.cpu_usage_cores) == len(reading.power_watts)
    assert all(0.0 <= c <= os.cpu_count() for c in reading.cpu_usage_cores)


def test_exporter_down_leaves_the_energy_unknown_with_the_reason(tmp_path):
    with AdvancingTree(tmp_path / "sys") as tree, _exporter(tree) as exp:
        url = exp.url + "/metrics"
    # the exporter stopped: nothing listens on its port
    meter = EnergyMeter(cpu_metrics_url=url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.25,
                        timeout=1.0)
    meter.start()
    time.sleep(1.0)
    reading = meter.stop()
    assert (reading.source, reading.joules) == ("none", None)
    assert url in reading.error and "unreachable" in reading.error
    assert 3 <= len(reading.cpu_usage_cores) <= 4  # the CPU load is still sampled


def test_exporter_dying_mid_measurement_gives_none_naming_it(tmp_path):
    with AdvancingTree(tmp_path / "sys") as tree:
        with _exporter(tree) as exp:
            time.sleep(0.2)
            url = exp.url + "/metrics"
            meter = EnergyMeter(cpu_metrics_url=url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.25,
                                timeout=1.0)
            meter.start()
            time.sleep(0.8)
        time.sleep(0.5)  # the exporter is gone; the meter keeps sampling and failing
        reading = meter.stop()
    assert reading.source == "none" and reading.joules is None
    assert url in reading.error
    assert reading.power_watts == ()
    assert reading.cpu_usage_cores  # the machine's CPU use is still known


def test_cpu_and_gpu_exporters_together_add_up_and_a_fake_nvml_is_labelled_simulated(tmp_path, monkeypatch):
    from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml

    fake = FakeNvml([FakeGpu(index=0, energy_mj=5_000_000), FakeGpu(index=1, energy_mj=7_000_000)])
    fake.install(monkeypatch.setattr)
    with AdvancingTree(tmp_path / "sys") as tree, _exporter(tree) as cpu, \
            running_exporter("gpu", "--refresh-interval", "0.05") as gpu:
        time.sleep(0.3)
        meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=gpu.url + "/metrics", tsdb_url=None,
                            step_seconds=STEP)
        started = time.monotonic()
        meter.start()
        fake.gpus[0].energy_mj += 40_000  # 40 J on GPU 0
        fake.gpus[1].energy_mj += 2_000   # 2 J on GPU 1
        time.sleep(1.5)
        reading = meter.stop()
        ended = time.monotonic()
    cpu_joules = tree.counted_joules(ended) - tree.counted_joules(started)
    # the gpu exporter runs on the fake NVML and says so in /health: never recorded as measured
    # (the rapl+nvml label itself is checked with stand-in exporters in the unit tests)
    assert reading.source == "simulated", reading.error
    assert "gpu exporter at" in reading.error and "reads simulated counters" in reading.error
    assert reading.joules == pytest.approx(cpu_joules + 42.0, abs=(PACKAGE_W + DRAM_W) * STEP)


def test_tsdb_when_the_runner_cannot_reach_the_exporter(tmp_path):
    from tests.servers import VictoriaMetrics

    with AdvancingTree(tmp_path / "sys") as tree, _exporter(tree) as exp:
        port = exp.url.rsplit(":", 1)[1]
        config = ("scrape_configs:\n- job_name: cpu\n  scrape_interval: 1s\n  static_configs:\n"
                  f"  - targets: ['127.0.0.1:{port}']\n")
        with VictoriaMetrics(scrape_config_text=config) as vm:
            time.sleep(2.5)  # a few scrapes before the window
            meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=vm.url, step_seconds=1.0)
            meter.start()
            started = time.monotonic()
            time.sleep(4.0)
            ended = time.monotonic()
            reading = meter.stop()
    true = tree.counted_joules(ended) - tree.counted_joules(started)  # ~92 J
    assert reading.source == "tsdb", reading.error
    # One scrape interval (1 s) either way, plus energy_query's window rounded up to whole seconds (< 1 s):
    # at most 2 s x 23 W = 46 J off.
    assert reading.joules == pytest.approx(true, abs=2 * (PACKAGE_W + DRAM_W))
    assert reading.power_watts == ()


def test_the_meter_reads_an_exporter_behind_tls_and_basic_auth(tmp_path):
    """An exporter behind a web config (docs/security.md): https verified against the CA file,
    the URL's user info sent as basic auth; the password never in a message or the reading."""
    import bcrypt

    from bench.websec import make_pki

    pki = make_pki(tmp_path / "pki")
    hashed = bcrypt.hashpw(b"s3cret-pw", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
                   f"basic_auth_users:\n  meter: '{hashed}'\n")
    with AdvancingTree(tmp_path / "sys") as tree, running_exporter(
            "cpu", "--powercap-root", str(tree.tree.root), "--hwmon-root", "", "--sample-interval", "0.05",
            "--refresh-interval", "0.05", "--web-config-file", str(web)) as exp:
        time.sleep(0.3)
        url = f"https://meter:s3cret-pw@127.0.0.1:{exp.runtime.port}/metrics"
        meter = EnergyMeter(cpu_metrics_url=url, gpu_metrics_url=None, tsdb_url=None, step_seconds=STEP,
                            ca_file=str(pki / "ca.crt"))
        meter.start()
        time.sleep(2.0)
        reading = meter.stop()
        assert reading.source == "rapl", reading.error
        assert reading.joules == pytest.approx(23.0 * 2.0, abs=(PACKAGE_W + DRAM_W) * STEP)
        assert "s3cret-pw" not in meter.describe() and "meter:xxxxx@" in meter.describe()
        # a wrong password: the energy stays unknown, the reason says 401, the password is not repeated
        wrong = EnergyMeter(cpu_metrics_url=url.replace("s3cret-pw", "nope-pw"), gpu_metrics_url=None,
                            tsdb_url=None, step_seconds=STEP, ca_file=str(pki / "ca.crt"))
        wrong.start()
        time.sleep(0.6)
        failed = wrong.stop()
        assert failed.joules is None and "401" in (failed.error or ""), failed.error
        assert "nope-pw" not in (failed.error or "")
