"""The real cpu exporter over HTTP on a fake powercap tree: promtool, catalog, values, /health."""

from __future__ import annotations

import errno

import pytest

from ffwatt.readers import powercap as rapl
from ffwatt.testing.simulated.powercap import FakePowercap
from tests.harness import assert_exposition_valid, running_exporter


@pytest.fixture
def tree(tmp_path):
    t = FakePowercap(tmp_path / "sys", layout="kernel")  # symlinks into a nested tree, as sysfs has it
    t.package(0, ("core", "uncore", "dram"), energy_uj=1_000_000)
    t.package(1, ("core", "uncore", "dram"), energy_uj=1_000_000)
    t.zone("intel-rapl-mmio:0", "package-0")
    t.zone("intel-rapl:2", "psys")
    return t


def test_exposition_is_valid_and_watts_match_the_energy_written(tree):
    # A long sample interval: after the first pass the test drives the sampler itself,
    # with explicit timestamps, so the watts do not depend on timing.
    args = ("--powercap-root", str(tree.root), "--hwmon-root", "", "--sample-interval", "3600")
    with running_exporter("cpu", *args) as exp:
        text = exp.scrape()
        assert_exposition_valid("cpu", text)
        assert exp.value("ffwatt_cpu_zones") == 9  # 2 x (package, core, uncore, dram) + psys; mmio dropped
        assert exp.value("ffwatt_cpu_power_watts", socket="0", zone="package") is None

        sampler = exp.runtime.exporter.sampler
        tree.add_energy("intel-rapl:0", 42_000_000)  # 42 J
        tree.add_energy("intel-rapl:1:2", 9_000_000)  # 9 J on socket 1's dram
        sampler.sample(sampler.state.sampled_at + 3.0)
        exp.runtime.refresh_once()

        assert exp.value("ffwatt_cpu_energy_joules_total", socket="0", zone="package") == pytest.approx(42.0)
        assert exp.value("ffwatt_cpu_power_watts", socket="0", zone="package") == pytest.approx(14.0)
        assert exp.value("ffwatt_cpu_power_watts", socket="1", zone="dram") == pytest.approx(3.0)
        assert exp.value("ffwatt_cpu_power_watts", socket="1", zone="package") == 0.0
        assert exp.value("ffwatt_cpu_energy_wraps_total", socket="platform", zone="psys") == 0.0
        assert exp.value("ffwatt_exporter_up", exporter="cpu") == 1.0
        assert_exposition_valid("cpu", exp.scrape())
        om = exp.scrape(accept="application/openmetrics-text; version=1.0.0")
        assert om.rstrip().endswith("# EOF")
        health = exp.health()
        assert health["status"] == "ok"
        assert {(z["socket"], z["zone"]) for z in health["details"]["zones"]} >= {("0", "package"), ("1", "dram")}


def test_sampler_runs_on_its_own_cadence(tree):
    args = ("--powercap-root", str(tree.root), "--hwmon-root", "", "--sample-interval", "0.05",
            "--refresh-interval", "0.05")
    with running_exporter("cpu", *args) as exp:
        tree.add_energy("intel-rapl:0", 5_000_000)
        exp.wait_for(lambda e: (e.value("ffwatt_cpu_energy_joules_total", socket="0", zone="package") or 0) >= 5.0,
                     what="the sampler to read the new energy")
        # The written energy shows up once, in the counter, whatever the timing.
        assert exp.value("ffwatt_cpu_energy_joules_total", socket="0", zone="package") == pytest.approx(5.0)


def test_unreadable_energy_is_reported_not_fatal(tree, monkeypatch):
    real = rapl.read_sysfs

    def read(path):
        if path.name == "energy_uj":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl, "read_sysfs", read)
    with running_exporter("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "") as exp:
        assert exp.value("ffwatt_exporter_up", exporter="cpu") == 0.0
        health = exp.health()
        assert health["status"] == "failing"
        assert "permission denied" in health["reason"] and "DAC_READ_SEARCH" in health["reason"]
        assert_exposition_valid("cpu", exp.scrape())  # the families are still declared


def test_missing_tree_is_reported(tmp_path):
    with running_exporter("cpu", "--powercap-root", str(tmp_path / "absent"), "--hwmon-root", "") as exp:
        health = exp.health()
        assert health["status"] == "failing"
        assert "no RAPL powercap tree at" in health["reason"] and "is this a VM?" in health["reason"]
        assert exp.value("ffwatt_exporter_up", exporter="cpu") == 0.0


def test_a_simulated_tree_says_so_in_health(tmp_path):
    from ffwatt.readers.powercap import SIMULATED_MARKER
    from ffwatt.testing.simulated.powercap import FakePowercap

    tree = FakePowercap(tmp_path / "powercap")
    tree.package(0, energy_uj=1_000_000)
    with running_exporter("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "") as exp:
        assert exp.health()["details"]["simulated"] is False  # a tree without the marker is taken as real
    (tree.root / SIMULATED_MARKER).write_text("simulated\n")
    with running_exporter("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "") as exp:
        health = exp.health()
        assert health["details"]["simulated"] is True
        assert len(health["details"]["zones"]) >= 1  # the marker is not mistaken for a zone
