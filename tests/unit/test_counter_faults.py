"""Issue 30: a counter that does not move, or goes back where it cannot have wrapped, is unknown energy
with the reason, never 0 nor a wrap's 262 kJ; one meter never mixes sources.

The meter reads a FakePowercap tree (no RAPL here) and a /proc/stat the test writes, so the machine's CPU
time over each window is known exactly: 100 busy ticks on 2 CPUs between start and stop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ffwatt.energy.rapl_source import WRAP_SHARE_MAX
from ffwatt.runner.meter.energy_meter import EnergyMeter
from ffwatt.testing.simulated.powercap import DRAM_RANGE_UJ, PACKAGE_RANGE_UJ, FakePowercap


class Stat:
    """A /proc/stat the test advances: `busy` and `idle` ticks of the aggregate line, 2 CPUs."""

    def __init__(self, path: Path) -> None:
        self.path, self.busy, self.idle = path, 1000, 1000
        self.write()

    def write(self) -> None:
        self.path.write_text(f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n")

    def advance(self, busy: int, idle: int) -> None:
        self.busy += busy
        self.idle += idle
        self.write()


@pytest.fixture
def rig(tmp_path):
    tree = FakePowercap(tmp_path / "powercap")
    tree.package(0, subzones=("core", "dram"))  # intel-rapl:0 package, :0:0 core, :0:1 dram
    stat = Stat(tmp_path / "stat")
    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None, step_seconds=60,
                        powercap_root=str(tree.root), proc_stat=str(stat.path), nvml=False)
    return tree, stat, meter


def test_a_counter_that_does_not_advance_while_the_machine_works_is_unknown_not_zero(rig):
    tree, stat, meter = rig
    meter.start()
    stat.advance(100, 100)  # the machine used CPU over the window
    reading = meter.stop()
    assert reading.joules is None and reading.source == "none"
    assert "counter did not advance" in reading.error and "RAPL at" in reading.error
    assert reading.power_watts == ()  # no 0 W samples either
    # 100 busy ticks of 200 on 2 CPUs: half the window's CPU time; the CPU facts stay known
    assert reading.machine_cpu_seconds == pytest.approx(0.5 * 2 * reading.window_seconds)


def test_one_zone_that_stands_still_beside_another_that_moves_is_a_caveat(rig):
    tree, stat, meter = rig
    meter.start()
    tree.add_energy("intel-rapl:0", 3_000_000)  # package +3 J; dram stays
    stat.advance(100, 100)
    reading = meter.stop()
    assert reading.joules == pytest.approx(3.0) and reading.source == "rapl"
    assert 'zone="dram"' in reading.error and "did not advance" in reading.error


def test_a_counter_that_goes_back_by_less_than_a_wrap_is_unknown_naming_the_zone(rig):
    tree, stat, meter = rig
    tree.set_energy("intel-rapl:0", 50_000_000)
    meter.start()
    tree.set_energy("intel-rapl:0", 49_000_000)  # 1 J back: taken for a wrap, it would add 262,142 J
    tree.add_energy("intel-rapl:0:1", 500_000)
    stat.advance(100, 100)
    reading = meter.stop()
    assert reading.joules is None and reading.source == "none"
    assert "intel-rapl:0" in reading.error and "went back by 1000000 uJ" in reading.error


def test_a_real_wrap_is_still_counted(rig):
    tree, stat, meter = rig
    tree.set_energy("intel-rapl:0", PACKAGE_RANGE_UJ - 1_000_000)
    tree.set_energy("intel-rapl:0:1", DRAM_RANGE_UJ - 100)
    meter.start()
    tree.set_energy("intel-rapl:0", 2_000_000)  # 1 J to the wrap, then 2 J: 3 J
    tree.set_energy("intel-rapl:0:1", 400)  # 100 uJ + 400 uJ: 0.0005 J
    stat.advance(100, 100)
    reading = meter.stop()
    assert reading.joules == pytest.approx(3.0005)
    # the wrap's implied increase is far under the half range the rule allows
    assert 3.0 * 1e6 < WRAP_SHARE_MAX * PACKAGE_RANGE_UJ


def test_a_fault_before_the_window_does_not_spoil_it(rig):
    tree, stat, meter = rig
    tree.set_energy("intel-rapl:0", 50_000_000)
    meter.start()
    tree.add_energy("intel-rapl:0", 1_000_000)
    stat.advance(100, 100)
    meter.stop()
    tree.set_energy("intel-rapl:0", 10_000_000)  # went back between two windows: the next starts afresh
    meter.start()
    tree.add_energy("intel-rapl:0", 2_000_000)
    stat.advance(100, 100)
    reading = meter.stop()
    assert reading.joules == pytest.approx(2.0), reading.error


def test_one_meter_never_mixes_sources(rig, tmp_path):
    tree, stat, meter = rig
    meter.start()
    tree.add_energy("intel-rapl:0", 2_000_000)
    stat.advance(100, 100)
    assert meter.stop().source == "rapl"
    for entry in ("intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1"):
        tree.remove(entry)  # RAPL gone: this window would be the model's estimate
    meter.start()
    stat.advance(100, 100)
    reading = meter.stop()
    assert reading.joules is None and reading.source == "none"
    assert "this meter measures with rapl" in reading.error and "would have been model" in reading.error
    # its CPU facts are kept: 100 busy ticks of 200, on 2 CPUs
    assert reading.cpus == 2 and reading.machine_cpu_seconds == pytest.approx(0.5 * 2 * reading.window_seconds)
