"""The energy sources (ffwatt/energy) and the runner's meter (ffwatt/runner/meter): counter parsing, the
zone filter, resets, the model's numbers, the cadence, and the meter against a tiny in-process HTTP
stand-in for an exporter."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
import urllib.parse

import pynvml
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily

from ffwatt.catalog import metrics as m
from ffwatt.energy.counters import cpu_energy_series, gpu_energy_series
from ffwatt.energy.counters import increase as counters_increase
from ffwatt.energy.exporter_source import ExporterSource
from ffwatt.energy.reading import SIMULATED_SOURCE
from ffwatt.energy.source import SourceError
from ffwatt.readers.exposition import samples as counter_series
from ffwatt.readers.proc import CpuStat, busy_cores, parse_cpu_stat
from ffwatt.runner.meter.energy_meter import EnergyMeter
from ffwatt.runner.meter.sampler import next_tick

# --------------------------------------------------------------------------
# bodies


def _cpu_body(zones: dict[tuple[str, str], float]) -> str:
    """A /metrics body as prometheus_client writes it, with CPU joules counters."""

    class Collector:
        def collect(self):
            family = CounterMetricFamily(m.CPU_ENERGY.name.removesuffix("_total"), "help", labels=["socket", "zone"])
            for (socket, zone), joules in zones.items():
                family.add_metric([socket, zone], joules)
            yield family

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry).decode()


def _gpu_body(joules: dict[str, float]) -> str:
    lines = [f"# TYPE {m.GPU_ENERGY.name.removesuffix('_total')} counter"]
    lines += [f'{m.GPU_ENERGY.name}{{gpu="{g}"}} {v}' for g, v in joules.items()]
    return "\n".join(lines) + "\n"


def test_counter_series_reads_a_prometheus_client_body():
    body = _cpu_body({("0", "package"): 12.5, ("0", "core"): 9.0, ("1", "dram"): 3.25})
    series = counter_series(body, m.CPU_ENERGY.name)
    assert series == {
        (("socket", "0"), ("zone", "package")): 12.5,
        (("socket", "0"), ("zone", "core")): 9.0,
        (("socket", "1"), ("zone", "dram")): 3.25,
    }


def test_counter_series_handles_escapes_timestamps_and_other_metrics():
    name = m.GPU_ENERGY.name
    body = (f'{name}_created{{gpu="0"}} 1.7e9\n'          # another family that shares the prefix
            f'{name}{{gpu="a\\"b",x="c,d"}} 5 1700000000000\n'  # escaped quote, comma in a value, timestamp
            f"{name} 7\n"                                  # no labels
            f'{name}{{gpu="nan"}} NaN\n')                   # not a number: left out
    assert counter_series(body, name) == {(("gpu", 'a"b'), ("x", "c,d")): 5.0, (): 7.0}


def test_only_top_level_zones_count():
    body = _cpu_body({
        ("0", "package"): 1.0, ("0", "dram"): 2.0, ("0", "core"): 100.0, ("0", "uncore"): 100.0,
        ("platform", "psys"): 100.0, ("1", "package_die_1"): 4.0, ("1", "dram_die_1"): 8.0,
        ("0", "packagex"): 100.0,
    })
    series = cpu_energy_series(body)
    assert sorted(dict(k)["zone"] for k in series) == ["dram", "dram_die_1", "package", "package_die_1"]
    assert sum(series.values()) == 15.0  # 1 + 2 + 4 + 8; core, uncore, psys are inside package


def test_gpu_series_one_per_gpu():
    # a body without UUIDs (an older exporter) still gives one series per GPU, by index
    assert gpu_energy_series(_gpu_body({"0": 10.0, "1": 20.0})) == {
        (("kind", "nvml"), ("uuid", "gpu 0")): 10.0, (("kind", "nvml"), ("uuid", "gpu 1")): 20.0}


def test_increase_counts_a_reset_from_zero_like_promql():
    a, b, c = (("zone", "a"),), (("zone", "b"),), (("zone", "c"),)
    start = {a: 100.0, b: 50.0, c: 7.0}
    end = {a: 130.0, b: 10.0, (("zone", "new"),): 2.0}
    total, caveats = counters_increase(start, end)
    # a: 130 - 100 = 30; b went down (reset): 10; new: started in the window, 2; c gone: 0
    assert total == 42.0
    assert any("reset" in c_ for c_ in caveats) and any("disappeared" in c_ for c_ in caveats)


def test_cpu_stat_busy_and_cores():
    before = parse_cpu_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nintr 5\n")
    after = parse_cpu_stat("cpu  160 0 80 850 60 5 5 0 0 0\ncpu0 1 2 3 4\ncpu1 1 2 3 4\n")
    assert before == CpuStat(busy=150, total=1000, cpus=2)  # busy 100+50; total 150 + 800 + 50
    # busy: 160+80+5+5 = 250 -> +100; total: 250 + 850 + 60 = 1160 -> +160
    utilisation, cores = busy_cores(before, after)
    assert utilisation == pytest.approx(100 / 160)  # 0.625
    assert cores == pytest.approx(1.25)  # 0.625 x 2 CPUs
    assert busy_cores(after, after) is None  # no tick passed: unknown, not 0


def test_next_tick_keeps_the_cadence_and_skips_overrun_ticks():
    assert next_tick(100.0, 1.0, 100.0, 0) == 1
    assert next_tick(100.0, 1.0, 101.02, 1) == 2      # the pass for tick 1 took 20 ms: tick 2 at 102
    assert next_tick(100.0, 1.0, 103.5, 1) == 4       # ticks 2 and 3 overrun: skipped, not run late
    assert next_tick(100.0, 0.5, 100.49, 0) == 1


# --------------------------------------------------------------------------
# the meter against a stand-in exporter


class StandIn:
    """A loopback HTTP server serving a settable /metrics body and /health JSON."""

    def __init__(self, body: str = "", health: dict | None = None, query: dict | None = None):
        self.body = body
        self.health = health or {"status": "ok", "details": {}}
        self.query = query  # what /api/v1/query answers (a TSDB stand-in)
        self.queries: list[str] = []
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.requests += 1
                if self.path == "/metrics":
                    data, kind = owner.body.encode(), "text/plain; version=0.0.4"
                elif self.path.startswith("/api/v1/query"):
                    owner.queries.append(self.path)
                    data, kind = json.dumps(owner.query).encode(), "application/json"
                else:
                    data, kind = json.dumps(owner.health).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    servers = []

    def make(*args, **kwargs):
        servers.append(StandIn(*args, **kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _dead_url() -> str:
    s = StandIn()
    s.close()
    return s.url  # nothing listens there any more


def test_counters_over_the_window(stand_in):
    cpu = stand_in(_cpu_body({("0", "package"): 100.0, ("0", "dram"): 5.0, ("0", "core"): 500.0}))
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05)
    assert meter.describe().startswith("rapl (cpu exporter at ")
    meter.start()
    time.sleep(0.12)
    cpu.body = _cpu_body({("0", "package"): 110.0, ("0", "dram"): 6.0, ("0", "core"): 900.0})
    time.sleep(0.12)
    reading = meter.stop()
    assert reading.source == "rapl"
    assert reading.joules == pytest.approx(11.0)  # (110 - 100) + (6 - 5); core left out
    assert reading.step_seconds == 0.05
    assert 3 <= len(reading.power_watts) <= 5  # 0.24 s at 0.05 s steps
    # the samples integrate to the energy (the jump of 11 J fell in one step)
    assert sum(reading.power_watts) * 0.05 == pytest.approx(11.0, rel=0.3)
    assert len(reading.cpu_usage_cores) == len(reading.power_watts)


def test_gpu_and_cpu_together(stand_in):
    cpu = stand_in(_cpu_body({("0", "package"): 1.0}))
    gpu = stand_in(_gpu_body({"0": 1000.0}))
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=gpu.url, tsdb_url=None, step_seconds=10)
    meter.start()
    cpu.body = _cpu_body({("0", "package"): 4.0})
    gpu.body = _gpu_body({"0": 1020.0})
    reading = meter.stop()
    assert (reading.source, reading.joules) == ("rapl+nvml", pytest.approx(23.0))  # 3 + 20
    assert reading.error is None
    assert reading.power_watts == () and reading.step_seconds is None  # shorter than one step


def test_gpu_only_is_nvml(stand_in):
    gpu = stand_in(_gpu_body({"0": 5.0, "1": 5.0}))
    meter = EnergyMeter(cpu_metrics_url=_dead_url(), gpu_metrics_url=gpu.url, tsdb_url=None, step_seconds=10)
    meter.start()
    gpu.body = _gpu_body({"0": 6.0, "1": 2.0})  # GPU 1's counter reset: counts 2 from 0
    reading = meter.stop()
    assert (reading.source, reading.joules) == ("nvml", pytest.approx(3.0))  # 1 + 2
    assert "reset" in reading.error
    assert "cpu exporter unreachable" in reading.error and "(not counted)" in reading.error


def test_exporter_unreachable_at_start_leaves_the_energy_unknown_and_says_how_to_fix(stand_in):
    url = _dead_url()
    meter = EnergyMeter(cpu_metrics_url=url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05,
                        watts_per_thread=5.0, timeout=0.5)
    meter.start()
    time.sleep(0.3)
    reading = meter.stop()
    # asked to measure and could not: unknown, never silently replaced by the model's estimate
    assert (reading.source, reading.joules, reading.power_watts) == ("none", None, ())
    assert url in reading.error and "unreachable" in reading.error
    assert "leave out --cpu-metrics-url ''" in reading.error  # how to measure in process instead
    assert reading.cpu_usage_cores  # the machine's CPU use is still measured


def test_no_rapl_in_process_is_said_once_at_info_never_as_an_error(tmp_path, caplog):
    # a VM without RAPL is the case the model is for: the meter's description says it (the run logs it
    # once at INFO, "energy: ..."), and nothing logs a warning or an error over a measurement
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05,
                        watts_per_thread=5.0, timeout=0.5, powercap_root=str(tmp_path / "none"), nvml=False)
    with caplog.at_level(logging.DEBUG):
        description = meter.describe()
        meter.start()
        time.sleep(0.1)
        meter.stop()
    assert description.startswith("model (no RAPL/NVML: no RAPL: no RAPL powercap tree at")
    assert description.endswith("; 5 W per thread)")  # the model's figure
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_no_counter_in_process_gives_the_model(tmp_path):
    # in process, a powercap root with no tree and no NVML: the per-thread model
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05,
                        watts_per_thread=5.0, timeout=0.5, powercap_root=str(tmp_path / "none"), nvml=False)
    assert meter.describe().startswith("model (no RAPL/NVML: no RAPL")
    meter.start()
    time.sleep(0.3)
    reading = meter.stop()
    assert reading.source == "model" and "5 W per thread" in reading.error
    n = reading.cpus
    # P between the idle term 5 W x 0.1 x n and full load 5 W x n, over the window
    assert 0.5 * n * reading.window_seconds <= reading.joules <= 5.0 * n * reading.window_seconds + 1e-9
    # the model's energy is exactly its formula over the window's /proc/stat CPU time
    assert reading.joules == pytest.approx(5.0 * (0.1 * n * reading.window_seconds
                                                  + 0.9 * reading.machine_cpu_seconds))
    assert all(0.5 * n <= w <= 5.0 * n for w in reading.power_watts) and reading.power_watts
    assert len(reading.cpu_usage_cores) == len(reading.power_watts)


def test_exporter_without_counters_gives_the_model_with_its_health_reason(stand_in):
    cpu = stand_in("# nothing\n", health={"status": "failing", "reason": "no RAPL powercap tree at /x"})
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=None, step_seconds=10)
    meter.start()
    time.sleep(0.05)  # a few clock ticks of /proc/stat (at 100 Hz), or the utilisation is unknown
    reading = meter.stop()
    assert reading.source == "model"
    assert "serves no rapl joules counters" in reading.error and "no RAPL powercap tree at /x" in reading.error
    assert reading.joules is not None and reading.joules > 0  # at least the idle term x (end - start)


def test_exporter_gone_at_the_end_gives_none_naming_the_url(stand_in):
    cpu = stand_in(_cpu_body({("0", "package"): 1.0}))
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05,
                        timeout=0.5)
    meter.start()
    time.sleep(0.15)
    cpu.close()
    time.sleep(0.1)
    reading = meter.stop()
    assert reading.source == "none" and reading.joules is None
    assert cpu.url in reading.error and "end of the scenario" in reading.error
    assert reading.power_watts == ()  # partial: dropped


def test_simulated_counters_are_never_measured_rapl(stand_in):
    cpu = stand_in(_cpu_body({("0", "package"): 1.0}), health={"status": "ok", "details": {"simulated": True}})
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=None, step_seconds=10)
    meter.start()
    cpu.body = _cpu_body({("0", "package"): 2.0})
    reading = meter.stop()
    assert reading.source == SIMULATED_SOURCE != "rapl"
    assert "simulated" in reading.error
    if SIMULATED_SOURCE == "none":
        assert reading.joules is None


def test_sampler_keeps_a_fixed_cadence(stand_in):
    cpu = stand_in(_cpu_body({("0", "package"): 0.0}))
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.02)
    meter.start()
    time.sleep(0.5)
    cpu.body = _cpu_body({("0", "package"): 5.0})  # it moved (a counter that stands still is unknown energy)
    reading = meter.stop()
    # 0.5 s / 0.02 s = 25 ticks; a late pass is filled, never shifted, so no tick is lost or doubled
    assert 23 <= len(reading.power_watts) <= 26
    assert reading.joules == 5.0


def test_a_failing_sample_is_filled_from_the_next_good_one(stand_in, monkeypatch):
    cpu = stand_in(_cpu_body({("0", "package"): 0.0}))
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05)
    meter.start()
    real = ExporterSource.read
    calls = {"n": 0}

    def flaky(self):
        calls["n"] += 1
        if calls["n"] in (2, 3):
            raise SourceError(f"{self.where}: connection refused")
        return real(self)

    monkeypatch.setattr(ExporterSource, "read", flaky)
    time.sleep(0.4)
    cpu.body = _cpu_body({("0", "package"): 2.0})  # it moved
    reading = meter.stop()
    assert reading.source == "rapl"
    assert 7 <= len(reading.power_watts) <= 9  # 0.4 s / 0.05 s, the gap filled
    assert "2 sample(s) failed" in reading.error


def _tsdb_answer(value: str) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]}}


def test_tsdb_when_no_exporter_answers_directly(stand_in):
    tsdb = stand_in(query=_tsdb_answer("42.5"))
    meter = EnergyMeter(cpu_metrics_url=_dead_url(), gpu_metrics_url=None, tsdb_url=tsdb.url[: -len("/metrics")],
                        step_seconds=10)
    assert meter.describe().startswith("tsdb (joules counters from ")
    meter.start()
    reading = meter.stop()
    assert (reading.source, reading.joules) == ("tsdb", 42.5)
    assert reading.power_watts == () and "unreachable" in reading.error
    assert len(tsdb.queries) == 1 and "ffwatt_cpu_energy_joules_total" in urllib.parse.unquote(tsdb.queries[0])


def test_direct_counters_come_before_the_tsdb(stand_in):
    cpu = stand_in(_cpu_body({("0", "package"): 1.0}))
    tsdb = stand_in(query=_tsdb_answer("1000"))
    meter = EnergyMeter(cpu_metrics_url=cpu.url, gpu_metrics_url=None, tsdb_url=tsdb.url[: -len("/metrics")],
                        step_seconds=10)
    meter.start()
    cpu.body = _cpu_body({("0", "package"): 3.0})
    reading = meter.stop()
    assert (reading.source, reading.joules) == ("rapl", 2.0) and tsdb.queries == []


def test_a_tsdb_without_the_counters_falls_back_to_the_model(stand_in):
    tsdb = stand_in(query={"status": "success", "data": {"resultType": "vector", "result": []}})
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=tsdb.url[: -len("/metrics")],
                        step_seconds=10)
    meter.start()
    time.sleep(0.05)
    reading = meter.stop()
    assert reading.source == "model" and "holds no joules counters" in reading.error


def test_stop_before_start_and_double_start(tmp_path):
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None,
                        powercap_root=str(tmp_path), nvml=False)
    with pytest.raises(RuntimeError):
        meter.stop()
    meter.start()
    with pytest.raises(RuntimeError):
        meter.start()
    time.sleep(0.05)
    reading = meter.stop()
    assert reading.source == "model" and "no RAPL" in reading.error


def test_bad_settings_fail_at_construction():
    with pytest.raises(ValueError):
        EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=0)
    with pytest.raises(ValueError):
        EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, watts_per_thread=-1)


def test_gpu_counters_are_matched_by_uuid_across_a_re_enumeration():
    def body(pairs):
        return "".join(f'ffwatt_gpu_energy_joules_total{{gpu="{i}",uuid="{u}"}} {v}\n' for i, u, v in pairs)

    start = gpu_energy_series(body([("0", "GPU-a", 1e8), ("1", "GPU-b", 5e8)]))
    # after a re-enumeration GPU-a is index 1 and GPU-b index 0; each drew 10 J
    end = gpu_energy_series(body([("0", "GPU-b", 5e8 + 10), ("1", "GPU-a", 1e8 + 10)]))
    total, caveats = counters_increase(start, end)
    assert total == 20.0 and caveats == []


def test_a_new_nvml_counter_is_not_counted_but_a_new_integrated_one_is():
    start = gpu_energy_series('ffwatt_gpu_energy_joules_total{gpu="0",uuid="GPU-a"} 100\n')
    end = gpu_energy_series('ffwatt_gpu_energy_joules_total{gpu="0",uuid="GPU-a"} 130\n'
                            'ffwatt_gpu_energy_joules_total{gpu="1",uuid="GPU-new"} 987654321\n'
                            'ffwatt_gpu_power_integrated_joules_total{gpu="2",uuid="GPU-p4"} 7\n')
    total, caveats = counters_increase(start, end)
    assert total == 30.0 + 7.0  # GPU-a's 30 J, the integrated counter from 0; never the 987654321 J
    assert any("GPU-new" in c and "not counted" in c for c in caveats)
    assert any("GPU-p4 has no NVML energy counter" in c for c in caveats)


# ---- the in-process meter (issue 22)


def _rapl_tree(root):
    from ffwatt.testing.simulated.powercap import FakePowercap

    tree = FakePowercap(root)
    tree.package(0, subzones=("core", "dram"))  # intel-rapl:0 (package-0), :0:0 core, :0:1 dram
    return tree


def test_in_process_meter_reads_package_plus_dram_from_the_powercap_tree(tmp_path):
    tree = _rapl_tree(tmp_path / "powercap")
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=10,
                        powercap_root=str(tree.root), nvml=False)
    assert meter.in_process and meter.describe().startswith("rapl (RAPL at ")
    meter.start()
    tree.add_energy("intel-rapl:0", 3_000_000)    # package +3 J
    tree.add_energy("intel-rapl:0:0", 2_000_000)  # core +2 J: inside package, never added
    tree.add_energy("intel-rapl:0:1", 500_000)    # dram +0.5 J
    time.sleep(0.05)  # a few /proc/stat ticks, or the machine's CPU time over the window is unknown
    reading = meter.stop()
    assert (reading.source, reading.joules, reading.cpu_joules) == ("rapl", pytest.approx(3.5), pytest.approx(3.5))
    assert reading.machine_cpu_seconds is not None and reading.cpus >= 1


def test_in_process_meter_compensates_a_counter_wrap(tmp_path):
    from ffwatt.testing.simulated.powercap import PACKAGE_RANGE_UJ

    tree = _rapl_tree(tmp_path / "powercap")
    tree.set_energy("intel-rapl:0", PACKAGE_RANGE_UJ - 1_000_000)  # 1 J below the wrap
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=10,
                        powercap_root=str(tree.root), nvml=False)
    meter.start()
    tree.set_energy("intel-rapl:0", 2_000_000)  # wrapped: 1 J to the top + 2 J after it
    reading = meter.stop()
    assert reading.joules == pytest.approx(3.0)


def test_a_simulated_powercap_tree_is_recorded_simulated(tmp_path):
    from ffwatt.readers.powercap import SIMULATED_MARKER

    tree = _rapl_tree(tmp_path / "powercap")
    (tree.root / SIMULATED_MARKER).write_text("test\n")
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=10,
                        powercap_root=str(tree.root), nvml=False)
    meter.start()
    tree.add_energy("intel-rapl:0", 1_000_000)
    reading = meter.stop()
    assert reading.source == SIMULATED_SOURCE and reading.joules == pytest.approx(1.0)
    assert "simulated" in reading.error


def test_root_only_energy_uj_falls_back_to_the_model_and_says_how_to_fix(tmp_path, monkeypatch):
    from ffwatt.readers import powercap

    tree = _rapl_tree(tmp_path / "powercap")
    real = powercap.read_sysfs

    def denied(path):
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(powercap, "read_sysfs", denied)
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=10,
                        powercap_root=str(tree.root), nvml=False)
    meter.start()
    time.sleep(0.05)
    reading = meter.stop()
    assert reading.source == "model" and reading.joules > 0
    assert "readable by root only" in reading.error and "udev rule" in reading.error


# --------------------------------------------------------------------------
# GPU energy by NVML's per-process utilisation (issue 22), through the fake NVML


SCENARIO_PID, OTHER_PID = 4242, 5151


@pytest.fixture
def gpu_meter(tmp_path, monkeypatch):
    """An in-process meter on one fake GPU (31.25 W) and no RAPL; the sampling thread never ticks."""
    from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml

    fake = FakeNvml([FakeGpu()])
    fake.install(monkeypatch.setattr)
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=600,
                        powercap_root=str(tmp_path / "no-powercap"))
    return fake, meter


def _in_window() -> int:
    return int(time.time() * 1e6) + 1000  # a sample stamped after the meter's start


def test_gpu_energy_is_split_by_the_processes_utilisation(gpu_meter):
    from ffwatt.energy.attribution import attribute

    fake, meter = gpu_meter
    meter.start()
    fake.advance(10)  # 31.25 W x 10 s = 312.5 J
    fake.add_process_sample(0, SCENARIO_PID, enc=60, timestamp_us=_in_window())
    fake.add_process_sample(0, OTHER_PID, enc=20, timestamp_us=_in_window())
    reading = meter.stop(pids=[SCENARIO_PID])
    assert reading.gpu_joules == pytest.approx(312.5)
    (gpu,) = reading.gpus
    assert (gpu.scenario_utilisation, gpu.all_utilisation) == (60, 80)
    own = attribute(reading, scenario_cpu_seconds=1.0, idle_watts=0.0, exclusive=False)
    # hand computed: 312.5 J x 60 / (60 + 20) = 234.375 J, 75 % of the GPU's
    assert own.joules == pytest.approx(234.375) and own.method == "gpu-process-utilisation"


def test_a_driver_without_per_process_samples_charges_the_gpu_whole_and_says_so(gpu_meter):
    from ffwatt.energy.attribution import attribute

    fake, meter = gpu_meter
    fake.gpus[0].errors["nvmlDeviceGetProcessUtilization"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    meter.start()
    fake.advance(10)
    reading = meter.stop(pids=[SCENARIO_PID])
    own = attribute(reading, scenario_cpu_seconds=1.0, idle_watts=0.0, exclusive=False)
    assert own.joules == pytest.approx(312.5) and own.method == "gpu-whole"
    assert "no per-process utilisation" in reading.error


def test_a_gpu_no_process_used_is_charged_whole(gpu_meter):
    from ffwatt.energy.attribution import attribute

    fake, meter = gpu_meter
    fake.add_process_sample(0, OTHER_PID, sm=90, timestamp_us=int(time.time() * 1e6) - 5_000_000)  # before the window
    meter.start()
    fake.advance(10)
    reading = meter.stop(pids=[SCENARIO_PID])
    assert reading.gpus[0].all_utilisation == 0
    own = attribute(reading, scenario_cpu_seconds=1.0, idle_watts=0.0, exclusive=False)
    assert own.joules == pytest.approx(312.5) and own.method == "gpu-whole"
    assert "no process used it" in reading.error


def test_unknown_pids_charge_the_gpu_whole(gpu_meter):
    from ffwatt.energy.attribution import attribute

    fake, meter = gpu_meter
    meter.start()
    fake.advance(10)
    fake.add_process_sample(0, OTHER_PID, enc=20, timestamp_us=_in_window())
    own = attribute(meter.stop(), scenario_cpu_seconds=1.0, idle_watts=0.0, exclusive=False)
    assert own.joules == pytest.approx(312.5) and own.method == "gpu-whole"


def test_samples_read_at_a_tick_count_after_the_driver_dropped_them(tmp_path, monkeypatch):
    """The driver keeps a short buffer: the sampling thread reads the samples while the scenario runs."""
    from ffwatt.energy.attribution import attribute
    from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml

    fake = FakeNvml([FakeGpu()])
    fake.install(monkeypatch.setattr)
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05,
                        powercap_root=str(tmp_path / "no-powercap"))
    meter.start()
    fake.add_process_sample(0, SCENARIO_PID, enc=30, dec=15, sm=15, timestamp_us=_in_window())
    fake.add_process_sample(0, OTHER_PID, sm=20, timestamp_us=_in_window())
    deadline = time.monotonic() + 5
    while fake.calls.get("nvmlDeviceGetProcessUtilization", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    fake.gpus[0].process_samples.clear()  # gone from the driver's buffer before the end
    fake.advance(10)
    reading = meter.stop(pids=[SCENARIO_PID])
    # 30 + 15 + 15 = 60 of 80 engine-percent: 75 % of the energy counted over the window
    assert (reading.gpus[0].scenario_utilisation, reading.gpus[0].all_utilisation) == (60, 80)
    own = attribute(reading, scenario_cpu_seconds=1.0, idle_watts=0.0, exclusive=False)
    assert own.joules == pytest.approx(0.75 * reading.gpu_joules)


def _proc_stat(path, busy_ticks: int, idle_ticks: int, cpus: int = 2) -> None:
    per_cpu = "".join(f"cpu{i} {busy_ticks} 0 0 {idle_ticks} 0 0 0 0 0 0\n" for i in range(cpus))
    path.write_text(f"cpu  {busy_ticks * cpus} 0 0 {idle_ticks * cpus} 0 0 0 0 0 0\n{per_cpu}")


def test_a_machine_cpu_reading_below_the_scenarios_own_is_floored_and_the_model_gives_w_times_cpu(tmp_path):
    # /proc/stat counts clock ticks: over a short window it can read below the scenario's exact wait4 CPU time.
    # Here it reads 1 busy tick in 60 per CPU while the scenario used 0.4 CPU-s; without the floor the share
    # is clamped at 1 and the model's joules fall below W_thread x cpu_s.
    from ffwatt.energy.attribution import attribute, model_idle_watts

    stat = tmp_path / "stat"
    _proc_stat(stat, busy_ticks=100, idle_ticks=1000)
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.05,
                        watts_per_thread=5.0, timeout=0.5, powercap_root=str(tmp_path / "none"), nvml=False,
                        proc_stat=str(stat))
    meter.start()
    time.sleep(0.3)
    _proc_stat(stat, busy_ticks=101, idle_ticks=1059)
    reading = meter.stop(own_cpu_seconds=0.4)
    assert reading.source == "model" and reading.cpus == 2
    assert reading.machine_cpu_seconds == 0.4  # 1/60 x 2 CPUs x ~0.3 s = 0.01 read; floored at the scenario's
    assert "clock-tick rounding" in reading.error
    own = attribute(reading, scenario_cpu_seconds=0.4, idle_watts=model_idle_watts(5.0, 2), exclusive=False)
    # the linear model: idle 5 W x 0.1 x 2 x T split by CPUs held (0.4 / T of 2), active 5 x 0.9 x 0.4 all its own
    # -> 5 x 0.1 x 0.4 + 5 x 0.9 x 0.4 = 2.0 J = 5 W x 0.4 CPU-s
    assert own.joules == pytest.approx(5.0 * 0.4, rel=1e-12)
