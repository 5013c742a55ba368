"""The streams collector's interval meter, through the real readers: RAPL from a powercap tree laid out
as the kernel's, /proc/stat from a fixture file, NVML through the fake at the pynvml boundary. Every
expected joule is the counters' own arithmetic, worked out in the comments."""

from __future__ import annotations

import pytest

from ffwatt.energy.model_source import ModelSource
from ffwatt.energy.nvml_source import NvmlSource
from ffwatt.energy.rapl_source import RaplSource
from ffwatt.exporters.streams_meter import IntervalMeter
from ffwatt.readers.powercap import SIMULATED_MARKER
from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml
from ffwatt.testing.simulated.powercap import FakePowercap
from tests.fixtures.proc_tree import Clock, FakeProc


@pytest.fixture
def proc(tmp_path) -> FakeProc:
    return FakeProc(tmp_path / "proc")


def meter(sources, proc: FakeProc, clock: Clock, watts_per_thread: float = 5.0) -> IntervalMeter:
    return IntervalMeter(sources, ModelSource(watts_per_thread), proc_stat=str(proc.root / "stat"), clock=clock)


def one_package(tmp_path, proc: FakeProc, energy_uj: int = 0) -> tuple[FakePowercap, Clock, IntervalMeter]:
    """A tree of one package zone, a meter on it, and its first read done."""
    tree = FakePowercap(tmp_path / "sys")
    tree.package(0, subzones=(), energy_uj=energy_uj)
    clock = Clock()
    m = meter([RaplSource(str(tree.root))], proc, clock)
    m.read()
    return tree, clock, m


def test_rapl_package_and_dram_are_the_machines_energy_and_proc_stat_its_cpu_time(tmp_path, proc):
    tree = FakePowercap(tmp_path / "sys", layout="kernel")
    tree.package(0, subzones=("core", "dram"))  # intel-rapl:0 package, :0:0 core, :0:1 dram
    clock = Clock()
    m = meter([RaplSource(str(tree.root))], proc, clock)
    assert m.read() is None  # the first read only starts the first interval
    tree.add_energy("intel-rapl:0", 3_000_000)
    tree.add_energy("intel-rapl:0:0", 2_000_000)  # core lies inside the package: never added
    tree.add_energy("intel-rapl:0:1", 1_000_000)
    proc.machine(busy=150, idle=50)
    clock.now += 2.0
    r = m.read().reading
    # 3 J package + 1 J dram; CPU: 150 busy of 200 ticks = 0.75 x 2 CPUs x 2 s = 3 CPU-s
    assert (r.joules, r.cpu_joules, r.source) == (pytest.approx(4.0), pytest.approx(4.0), "rapl")
    assert (r.window_seconds, r.machine_cpu_seconds, r.cpus) == (2.0, pytest.approx(3.0), 2)


def test_a_tree_marked_simulated_is_never_labelled_rapl(tmp_path, proc):
    tree = FakePowercap(tmp_path / "sys")
    tree.package(0, subzones=())
    (tree.root / SIMULATED_MARKER).write_text("demo\n")
    clock = Clock()
    m = meter([RaplSource(str(tree.root))], proc, clock)
    m.read()
    tree.add_energy("intel-rapl:0", 1_000_000)
    proc.machine(busy=10, idle=10)
    clock.now += 1.0
    assert m.read().reading.source == "simulated"


def test_without_counters_the_per_thread_model_estimates_from_proc_stat(tmp_path, proc):
    clock = Clock()
    m = meter([RaplSource(str(tmp_path / "no-rapl"))], proc, clock, watts_per_thread=4.0)
    m.read()
    proc.machine(busy=100, idle=100)
    clock.now += 1.0
    r = m.read().reading
    # 0.5 x 2 CPUs x 1 s = 1 CPU-s; E = 4 x (0.1 x 2 x 1 + 0.9 x 1) = 4 x 1.1 = 4.4 J
    assert (r.source, r.joules, r.cpu_joules) == ("model", pytest.approx(4.4), pytest.approx(4.4))
    assert "no RAPL" in m.why_no_counters["rapl"]


def test_a_source_that_appears_leaves_that_one_interval_unknown_then_counts(tmp_path, proc):
    clock = Clock()
    tree = FakePowercap(tmp_path / "sys")
    m = meter([RaplSource(str(tree.root))], proc, clock)
    m.read()  # no zone yet: asked again after retry_seconds
    tree.package(0, subzones=())
    clock.now += 1.0
    proc.machine(busy=10, idle=10)
    assert m.read().reading.source == "model"  # not asked again yet
    clock.now += m.retry_seconds
    proc.machine(busy=10, idle=10)
    r = m.read().reading
    assert (r.joules, r.source) == (None, "none") and "one end of the interval only" in r.error
    tree.add_energy("intel-rapl:0", 2_000_000)
    proc.machine(busy=10, idle=10)
    clock.now += 1.0
    assert m.read().reading.joules == pytest.approx(2.0)


def test_an_unreadable_proc_stat_leaves_the_model_unknown(tmp_path, proc):
    clock = Clock()
    m = meter([], proc, clock)
    m.read()
    (proc.root / "stat").unlink()
    clock.now += 1.0
    r = m.read().reading
    assert r.joules is None and r.machine_cpu_seconds is None and "stat" in r.error


def test_nvml_counters_and_per_process_samples_come_with_the_interval(proc, monkeypatch):
    fake = FakeNvml([FakeGpu(index=0, power_mw=100_000)])
    fake.install(monkeypatch.setattr)
    clock = Clock()
    m = meter([NvmlSource()], proc, clock)
    m.read()
    fake.advance(2.0)  # 100 W x 2 s = 200 J
    fake.add_process_sample(0, 4242, sm=10, enc=50, dec=5)
    proc.machine(busy=100, idle=300)
    clock.now += 2.0
    interval = m.read()
    uuid = fake.gpus[0].uuid
    assert (interval.reading.source, interval.reading.gpu_joules) == ("simulated", pytest.approx(200.0))
    assert [(g.uuid, g.joules) for g in interval.reading.gpus] == [(uuid, pytest.approx(200.0))]
    assert interval.gpu_samples == {uuid: [(4242, 65.0)]}  # 10 + 50 + 5 engine-percent
    proc.machine(busy=10, idle=10)
    clock.now += 1.0
    assert m.read().gpu_samples == {uuid: []}  # a sample is read once


def test_a_read_within_one_clock_tick_keeps_the_interval_open(tmp_path, proc):
    tree, clock, m = one_package(tmp_path, proc)
    tree.add_energy("intel-rapl:0", 1_000_000)
    clock.now += 0.005
    assert m.read() is None and m.open  # /proc/stat did not move: nothing to share by yet
    tree.add_energy("intel-rapl:0", 2_000_000)
    proc.machine(busy=1, idle=1)
    clock.now += 0.005
    r = m.read().reading
    assert (r.joules, r.window_seconds) == (pytest.approx(3.0), pytest.approx(0.01))  # both reads' energy


def test_a_counter_that_stood_still_while_the_machine_worked_is_unknown_never_0_joules(tmp_path, proc):
    tree, clock, m = one_package(tmp_path, proc)
    proc.machine(busy=50, idle=50)  # the machine worked; the counter did not move
    clock.now += 1.0
    r = m.read().reading
    assert r.joules is None and "did not advance" in r.error


def test_a_counter_that_went_back_where_it_cannot_have_wrapped_is_unknown(tmp_path, proc):
    tree, clock, m = one_package(tmp_path, proc, energy_uj=5_000_000)
    tree.set_energy("intel-rapl:0", 4_000_000)  # 1 J back: a wrap would mean ~262 kJ in one second
    proc.machine(busy=50, idle=50)
    clock.now += 1.0
    r = m.read().reading
    assert r.joules is None and "went back" in r.error
    tree.set_energy("intel-rapl:0", 6_000_000)
    proc.machine(busy=50, idle=50)
    clock.now += 1.0
    assert m.read().reading.joules == pytest.approx(2.0)  # the next interval counts again
