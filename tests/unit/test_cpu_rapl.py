"""RAPL discovery, wrap compensation and the cpu exporter, on fake powercap trees."""

from __future__ import annotations

import errno
import logging
import random
import shutil
import time

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import common_settings, parse
from ffwatt.exporters.cpu import CpuExporter
from ffwatt.exporters.runtime import SourceError
from ffwatt.exporters.samples import Samples
from ffwatt.readers import powercap as rapl
from ffwatt.readers.powercap import RaplSampler, discover, discover_powercap, sanitise
from ffwatt.testing.simulated.powercap import DRAM_RANGE_UJ, PACKAGE_RANGE_UJ, FakePowercap, amd_energy_hwmon


@pytest.fixture(params=["flat", "kernel"])
def tree(request, tmp_path):
    """Every test runs on plain directories and on the kernel's symlinks-into-a-nested-tree layout."""
    return FakePowercap(tmp_path / "sys", layout=request.param)


def keys(discovery):
    return {z.key for z in discovery.zones}


def by_key(state):
    return {(z.socket, z.zone): z for z in state.zones}


def make_exporter(root, *args, environ=None, hwmon=""):
    settings = common_settings(9500, 1.0) + CpuExporter.settings
    config = parse("cpu", "test", settings, ["--powercap-root", str(root), "--hwmon-root", str(hwmon), *args],
                   environ or {})
    return CpuExporter(config)


def refresh(exporter) -> Samples:
    out = Samples("cpu")
    exporter.refresh(out)
    return out


def advance(sampler: RaplSampler, seconds: float):
    """One deterministic pass `seconds` after the previous one."""
    return sampler.sample(sampler.state.sampled_at + seconds)


# --- the energy zones ----------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "counts"), [
    ("package", True), ("dram", True), ("package_die_1", True), ("dram_die_12", True),
    ("core", False), ("uncore", False), ("psys", False), ("core_die_1", False), ("packagex", False),
    ("package_die_", False), ("", False),
])
def test_energy_zones_are_package_and_dram_never_their_sub_zones(zone, counts):
    assert rapl.is_energy_zone(zone) is counts


def test_energy_joules_are_wrap_compensated_totals_of_the_energy_zones_only(tree):
    tree.package(0, ("core", "uncore", "dram"))
    tree.set_energy("intel-rapl:0", PACKAGE_RANGE_UJ - 1_000_000)  # 1 J before the wrap
    sampler = RaplSampler(tree.root)
    assert sampler.energy_joules(0.0) == {("0", "package"): 0.0, ("0", "dram"): 0.0}  # from 0 at the first read
    tree.add_energy("intel-rapl:0", 3_000_000)  # wraps: (max - old) + new = 1 J + 2 J
    tree.add_energy("intel-rapl:0:0", 2_000_000)  # core: inside package, never counted
    tree.add_energy("intel-rapl:0:2", 500_000)
    assert sampler.energy_joules(1.0) == pytest.approx({("0", "package"): 3.0, ("0", "dram"): 0.5})


# --- discovery ---------------------------------------------------------------------------


def test_one_socket_with_subzones(tree):
    tree.package(0, ("core", "uncore", "dram"))
    found = discover_powercap(tree.root)
    assert keys(found) == {("0", "package"), ("0", "core"), ("0", "uncore"), ("0", "dram")}
    assert found.dropped == () and found.missing is None
    ranges = {z.zone: z.max_energy_range_uj for z in found.zones}
    assert ranges["package"] == PACKAGE_RANGE_UJ and ranges["dram"] == DRAM_RANGE_UJ
    # The control-type directory `intel-rapl` (no energy_uj) is not a zone.
    assert (tree.root / "intel-rapl").is_dir()
    assert all(z.source.startswith("intel-rapl:") for z in found.zones)


def test_kernel_layout_finds_each_zone_once_from_either_root(tmp_path):
    tree = FakePowercap(tmp_path / "sys", layout="kernel")
    tree.package(0, ("core", "dram"))
    tree.package(1, ("core", "dram"))
    tree.zone("intel-rapl-mmio:0", "package-0")
    assert (tree.root / "intel-rapl:0:1").is_symlink()
    via_class = discover_powercap(tree.root)
    via_devices = discover_powercap(tree.devices)  # /sys/devices/virtual/powercap: nested
    expected = {(s, z) for s in ("0", "1") for z in ("package", "core", "dram")}
    assert keys(via_class) == keys(via_devices) == expected
    assert len(via_class.zones) == len(via_devices.zones) == 6
    assert [d.split()[0] for d in via_devices.dropped] == ["intel-rapl-mmio:0"]
    assert {z.source for z in via_devices.zones} == {z.source for z in via_class.zones}


def test_masked_devices_tree_says_what_to_mount(tmp_path):
    # Docker, Podman and Kubernetes mask /sys/devices/virtual/powercap in containers:
    # /sys/class/powercap still lists the zones, as links leading nowhere.
    tree = FakePowercap(tmp_path / "sys", layout="kernel")
    tree.package(0, ("dram",))
    shutil.rmtree(tree.devices)
    tree.devices.mkdir()
    found = discover_powercap(tree.root)
    assert found.zones == ()
    assert "intel-rapl:0, intel-rapl:0:0" in found.missing and "masked" in found.missing
    assert "--powercap-root" in found.missing
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        with pytest.raises(SourceError, match="bind-mount the host's /sys/devices/virtual/powercap"):
            refresh(exporter)
    finally:
        exporter.close()


def test_two_sockets_do_not_collide(tree):
    tree.package(0, ("dram",))
    tree.package(1, ("dram",))
    found = discover_powercap(tree.root)
    assert keys(found) == {("0", "package"), ("0", "dram"), ("1", "package"), ("1", "dram")}
    sources = {z.key: z.source for z in found.zones}
    assert sources[("1", "dram")] == "intel-rapl:1:0"


def test_mmio_duplicate_of_a_package_is_dropped(tree, caplog):
    tree.package(0, ("core", "dram"))
    tree.zone("intel-rapl-mmio:0", "package-0")
    found = discover_powercap(tree.root)
    assert keys(found) == {("0", "package"), ("0", "core"), ("0", "dram")}
    assert [z.source for z in found.zones if z.zone == "package"] == ["intel-rapl:0"]
    assert len(found.dropped) == 1 and "intel-rapl-mmio:0" in found.dropped[0]

    # The sampler logs the duplicate once, however many passes run.
    sampler = RaplSampler(tree.root)
    with caplog.at_level(logging.INFO, logger="ffwatt.cpu.rapl"):
        sampler.sample(1.0)
        sampler.sample(2.0)
    assert sum("intel-rapl-mmio:0 duplicates" in r.getMessage() for r in caplog.records) == 1


def test_mmio_alone_is_read(tree):
    # Only the MMIO interface: nothing to duplicate, so it is the package.
    tree.zone("intel-rapl-mmio:0", "package-0")
    assert keys(discover_powercap(tree.root)) == {("0", "package")}


def test_psys_is_the_platform_zone(tree):
    tree.package(0, ("core",))
    tree.zone("intel-rapl:1", "psys")
    assert keys(discover_powercap(tree.root)) == {("0", "package"), ("0", "core"), ("platform", "psys")}


def test_amd_rapl_layout(tree):
    tree.package(0, ("core",), kind="amd-rapl")
    tree.package(1, ("core",), kind="amd-rapl")
    assert keys(discover_powercap(tree.root)) == {("0", "package"), ("0", "core"), ("1", "package"), ("1", "core")}


def test_amd_on_intel_rapl_names(tree):
    # Kernels >= 5.11 expose AMD Zen packages through intel_rapl: same names, no sub-zones.
    tree.package(0, ())
    tree.package(1, ())
    assert keys(discover_powercap(tree.root)) == {("0", "package"), ("1", "package")}


def test_amd_energy_hwmon_is_a_fallback_only(tmp_path, tree):
    hwmon = tmp_path / "hwmon"
    amd_energy_hwmon(hwmon, sockets=2, cores_per_socket=4)
    (hwmon / "hwmon0").mkdir()
    (hwmon / "hwmon0" / "name").write_text("k10temp\n")
    found = discover(tmp_path / "no-powercap", hwmon)
    assert keys(found) == {("0", "package"), ("1", "package")}
    assert all(z.max_energy_range_uj is None for z in found.zones)
    assert any("8 amd_energy per-core" in note for note in found.dropped)
    # With a powercap tree, amd_energy is not read: a package is never counted twice.
    tree.package(0, ())
    assert [z.source for z in discover(tree.root, hwmon).zones] == ["intel-rapl:0"]


def test_die_zones_keep_their_sub_zones_apart(tree):
    tree.zone("intel-rapl:0", "package-0-die-0")
    tree.zone("intel-rapl:0:0", "dram", max_energy_range_uj=DRAM_RANGE_UJ)
    tree.zone("intel-rapl:1", "package-0-die-1")
    tree.zone("intel-rapl:1:0", "dram", max_energy_range_uj=DRAM_RANGE_UJ)
    assert keys(discover_powercap(tree.root)) == {
        ("0", "package_die_0"), ("0", "dram_die_0"), ("0", "package_die_1"), ("0", "dram_die_1")}


def test_same_labels_keep_the_first(tree):
    tree.zone("intel-rapl:0", "package-0")
    tree.zone("intel-rapl:1", "package-0")  # a confused firmware naming two zones alike
    found = discover_powercap(tree.root)
    assert [z.source for z in found.zones] == ["intel-rapl:0"]
    assert "intel-rapl:1 duplicates intel-rapl:0" in found.dropped[0]


def test_zone_names_are_sanitised(tree):
    tree.package(0, ("Uncore", "DRAM (x) 2"))
    assert keys(discover_powercap(tree.root)) == {("0", "package"), ("0", "uncore"), ("0", "dram_x_2")}
    assert sanitise("package-0") == "package_0"
    assert sanitise("---") == "zone"


def test_missing_root(tmp_path):
    found = discover_powercap(tmp_path / "nope")
    assert found.zones == ()
    assert "no RAPL powercap tree at" in found.missing and "is this a VM" in found.missing


def test_a_sampler_without_a_tree_logs_an_error_once_unless_its_caller_models_instead(tmp_path, caplog):
    # the cpu exporter's sampler: asked to read RAPL, it has none, so ERROR, once over many passes
    with caplog.at_level(logging.DEBUG, logger="ffwatt.cpu.rapl"):
        exporters_own = RaplSampler(tmp_path / "nope")
        for t in range(3):
            exporters_own.sample(float(t))
        # the runner's in-process meter falls back to the model and says so itself: DEBUG only
        modelled = RaplSampler(tmp_path / "nope", missing_level=logging.DEBUG)
        for t in range(3):
            modelled.sample(float(t))
    levels = [r.levelno for r in caplog.records if "no RAPL powercap tree at" in r.getMessage()]
    assert levels == [logging.ERROR, logging.DEBUG]


# --- sampling ----------------------------------------------------------------------------


def test_watts_are_energy_delta_over_interval(tree):
    tree.package(0, ("dram",), energy_uj=1_000_000)
    sampler = RaplSampler(tree.root)
    first = by_key(sampler.sample(100.0))
    assert first[("0", "package")].joules == 0.0 and first[("0", "package")].watts is None
    tree.add_energy("intel-rapl:0", 30_000_000)  # 30 J
    tree.add_energy("intel-rapl:0:0", 4_000_000)  # 4 J
    second = by_key(sampler.sample(102.0))
    assert second[("0", "package")].joules == pytest.approx(30.0)
    assert second[("0", "package")].watts == pytest.approx(15.0)
    assert second[("0", "dram")].watts == pytest.approx(2.0)
    # Nothing written: the counter holds, power is 0.
    third = by_key(sampler.sample(103.0))
    assert third[("0", "package")].joules == pytest.approx(30.0) and third[("0", "package")].watts == 0.0


def test_wrap_around_adds_the_right_joules(tree):
    limit = 10_000_000  # wraps every 10 J
    tree.zone("intel-rapl:0", "package-0", energy_uj=9_000_000, max_energy_range_uj=limit)
    sampler = RaplSampler(tree.root)
    sampler.sample(0.0)
    tree.set_energy("intel-rapl:0", 2_500_000)  # 9 J -> wrap -> 2.5 J: 1 + 2.5 = 3.5 J
    z = by_key(sampler.sample(1.0))[("0", "package")]
    assert z.joules == pytest.approx(3.5)
    assert z.watts == pytest.approx(3.5)
    assert z.wraps == 1
    tree.set_energy("intel-rapl:0", 9_500_000)  # no wrap: +7 J
    z = by_key(sampler.sample(2.0))[("0", "package")]
    assert (z.joules, z.wraps) == (pytest.approx(10.5), 1)


def test_counter_never_decreases_over_many_wraps(tree):
    limit = 50_000_000
    tree.zone("intel-rapl:0", "package-0", energy_uj=0, max_energy_range_uj=limit)
    sampler = RaplSampler(tree.root)
    sampler.sample(0.0)
    rng = random.Random(8694)
    written = 0
    previous = 0.0
    wraps = 0
    value = 0
    for step in range(1, 200):
        delta = rng.randrange(0, limit - 1)  # less than one full range per interval
        wraps += (value + delta) >= limit
        value = tree.add_energy("intel-rapl:0", delta)
        written += delta
        z = by_key(sampler.sample(float(step)))[("0", "package")]
        assert z.joules >= previous
        previous = z.joules
    assert wraps > 10
    assert z.wraps == wraps
    assert z.joules == pytest.approx(written / 1e6)


def test_counter_without_range_treats_a_drop_as_a_reset(tmp_path):
    hwmon = tmp_path / "hwmon"
    d = amd_energy_hwmon(hwmon, sockets=1, cores_per_socket=1, energy_uj=5_000_000)
    socket_file = d / "energy2_input"
    sampler = RaplSampler(tmp_path / "none", hwmon_root=hwmon)
    sampler.sample(0.0)
    socket_file.write_text("7000000\n")
    assert by_key(sampler.sample(1.0))[("0", "package")].joules == pytest.approx(2.0)
    socket_file.write_text("1000000\n")  # went back: a reset, not a wrap
    z = by_key(sampler.sample(2.0))[("0", "package")]
    assert (z.joules, z.watts, z.wraps) == (pytest.approx(2.0), None, 0)
    socket_file.write_text("4000000\n")
    assert by_key(sampler.sample(3.0))[("0", "package")].joules == pytest.approx(5.0)


def test_zone_that_disappears_leaves_and_continues_when_back(tree):
    tree.package(0, ("dram",))
    sampler = RaplSampler(tree.root)
    sampler.sample(0.0)
    tree.add_energy("intel-rapl:0:0", 6_000_000)
    assert by_key(sampler.sample(1.0))[("0", "dram")].joules == pytest.approx(6.0)

    tree.remove("intel-rapl:0:0")
    assert set(by_key(sampler.sample(2.0))) == {("0", "package")}

    tree.zone("intel-rapl:0:0", "dram", energy_uj=100, max_energy_range_uj=DRAM_RANGE_UJ)
    back = by_key(sampler.sample(3.0))[("0", "dram")]
    assert back.joules == pytest.approx(6.0) and back.watts is None  # continues; no energy invented
    tree.add_energy("intel-rapl:0:0", 1_000_000)
    assert by_key(sampler.sample(4.0))[("0", "dram")].joules == pytest.approx(7.0)


def test_a_pass_that_cannot_read_a_zone_loses_no_energy(tree):
    # A torn or failed read (found by an integration test under load: energy_uj read as '')
    # must not make the next good reading a new baseline: the hardware kept counting.
    tree.package(0, ("dram",))
    sampler = RaplSampler(tree.root)
    sampler.sample(0.0)
    energy = tree.root / "intel-rapl:0" / "energy_uj"
    good = energy.read_text()
    energy.write_text("")  # read as '' once
    assert ("0", "package") not in by_key(sampler.sample(1.0))
    energy.write_text(good)
    tree.add_energy("intel-rapl:0", 5_000_000)
    back = by_key(sampler.sample(2.0))[("0", "package")]
    assert back.joules == pytest.approx(5.0)  # the 5 J drawn across the failed pass are counted


def test_the_tree_is_walked_again_for_new_zones_but_not_every_pass(tree, monkeypatch):
    tree.package(0, ())
    walks = []
    real = rapl.discover
    monkeypatch.setattr(rapl, "discover", lambda *a: walks.append(1) or real(*a))
    sampler = RaplSampler(tree.root)
    for t in range(10):
        sampler.sample(float(t))
    assert len(walks) == 1  # a settled tree: its zones are read, not searched for, every second

    tree.zone("intel-rapl:0:0", "dram", energy_uj=100, max_energy_range_uj=DRAM_RANGE_UJ)
    assert set(by_key(sampler.sample(10.0))) == {("0", "package")}
    assert set(by_key(sampler.sample(rapl.REDISCOVER_SECONDS))) == {("0", "package"), ("0", "dram")}
    assert len(walks) == 2


@pytest.fixture
def deny_energy(monkeypatch):
    """Make energy_uj of the given zone entries raise PermissionError, as on CVE-2020-8694 kernels."""
    denied: set[str] = set()
    real = rapl.read_sysfs

    def read(path):
        if path.name == "energy_uj" and path.parent.name in denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl, "read_sysfs", read)
    return denied


def test_some_zones_unreadable_is_a_warning(tree, deny_energy, caplog):
    tree.package(0, ("dram",))
    deny_energy.add("intel-rapl:0:0")
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        with caplog.at_level(logging.ERROR, logger="ffwatt.cpu.rapl"):
            out = refresh(exporter)
            advance(exporter.sampler, 1.0)
            out = refresh(exporter)
        assert out.value(m.CPU_ENERGY, socket="0", zone="package") == 0.0
        assert out.value(m.CPU_ENERGY, socket="0", zone="dram") is None
        assert out.value(m.CPU_ZONES) == 1
        assert len(out.warnings) == 1 and "permission denied" in out.warnings[0]
        assert "socket=0 zone=dram" in out.warnings[0] and "DAC_READ_SEARCH" in out.warnings[0]
        fixes = [r for r in caplog.records if "DAC_READ_SEARCH" in r.getMessage()]
        assert len(fixes) == 1 and "chmod a+r" in fixes[0].getMessage()
        assert exporter.health_details()["unreadable"] == {"0/dram": f"{tree.root}/intel-rapl:0:0/energy_uj: "
                                                                    "permission denied"}
    finally:
        exporter.close()


def test_no_zone_readable_fails_the_refresh_with_the_fix(tree, deny_energy):
    tree.package(0, ("dram",))
    deny_energy.update({"intel-rapl:0", "intel-rapl:0:0"})
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        with pytest.raises(SourceError) as first:
            refresh(exporter)
        assert "no readable RAPL zone" in str(first.value) and "permission denied" in str(first.value)
        assert "DAC_READ_SEARCH" in str(first.value) and first.value.counted
        with pytest.raises(SourceError) as again:
            refresh(exporter)
        assert not again.value.counted  # the same failure is counted once
        # Fixed (udev rule applied): the next pass reads and the refresh succeeds.
        deny_energy.clear()
        advance(exporter.sampler, 1.0)
        assert refresh(exporter).warnings == []
    finally:
        exporter.close()


def test_other_read_errors_name_the_file(tree):
    tree.package(0, ())
    (tree.root / "intel-rapl:0" / "energy_uj").write_text("garbage\n")
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        with pytest.raises(SourceError, match=r"intel-rapl:0/energy_uj: expected an integer"):
            refresh(exporter)
    finally:
        exporter.close()


def test_missing_root_fails_the_refresh(tmp_path):
    exporter = make_exporter(tmp_path / "absent", "--sample-interval", "3600")
    try:
        with pytest.raises(SourceError, match=r"no RAPL powercap tree at .*absent \(is this a VM\? "
                                              r"is intel_rapl/amd loaded\?\)"):
            refresh(exporter)
    finally:
        exporter.close()


def test_empty_root_fails_the_refresh(tree):
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        with pytest.raises(SourceError, match="no RAPL zones under"):
            refresh(exporter)
    finally:
        exporter.close()


def test_exporter_publishes_the_samplers_state(tree):
    tree.package(0, ("core", "dram"))
    tree.package(1, ("core", "dram"))
    tree.zone("intel-rapl-mmio:0", "package-0")
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        first = refresh(exporter)
        assert first.value(m.CPU_ZONES) == 6
        assert first.value(m.CPU_POWER, socket="1", zone="dram") is None  # one reading: no watts yet
        tree.add_energy("intel-rapl:1:1", 12_000_000)
        advance(exporter.sampler, 4.0)
        out = refresh(exporter)
        assert out.value(m.CPU_ENERGY, socket="1", zone="dram") == pytest.approx(12.0)
        assert out.value(m.CPU_POWER, socket="1", zone="dram") == pytest.approx(3.0)
        assert out.value(m.CPU_POWER, socket="0", zone="package") == 0.0
        assert out.value(m.CPU_WRAPS, socket="0", zone="dram") == 0
        # Refreshing again without a new pass serves the same interval's watts.
        assert refresh(exporter).value(m.CPU_POWER, socket="1", zone="dram") == pytest.approx(3.0)
        details = exporter.health_details()
        assert len(details["zones"]) == 6 and details["dropped"][0].startswith("intel-rapl-mmio:0")
    finally:
        exporter.close()


def test_settings_from_environment(tree):
    tree.package(0, ())
    exporter = make_exporter(tree.root, environ={"FFWATT_SAMPLE_INTERVAL": "2.5"})
    assert exporter.sampler.interval == 2.5
    with pytest.raises(SystemExit):
        make_exporter(tree.root, "--sample-interval", "0")


def test_sampler_thread_keeps_its_cadence(tree):
    tree.package(0, ())
    sampler = RaplSampler(tree.root, interval=0.05)
    sampler.start()
    try:
        assert sampler.state.sequence == 1  # the first pass runs before start() returns
        deadline = time.monotonic() + 5
        while sampler.state.sequence < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sampler.state.sequence >= 4
    finally:
        sampler.stop()
    stopped_at = sampler.state.sequence
    time.sleep(0.15)
    assert sampler.state.sequence == stopped_at


def test_the_rapl_source_says_simulated_for_the_demos_tree(tmp_path, tree):
    from ffwatt.readers.powercap import SIMULATED_MARKER

    tree.package(0, ("dram",))
    exporter = make_exporter(tree.root, "--sample-interval", "3600")
    try:
        out = refresh(exporter)
        assert out.value(m.CPU_SOURCE, source="powercap") == 1
        assert out.value(m.CPU_SOURCE, source="simulated") is None
        (tree.root / SIMULATED_MARKER).write_text("advanced by a test\n")
        out = refresh(exporter)
        assert out.value(m.CPU_SOURCE, source="simulated") == 1
        assert out.value(m.CPU_SOURCE, source="powercap") is None
    finally:
        exporter.close()
    hwmon = tmp_path / "hwmon"
    amd_energy_hwmon(hwmon, sockets=1, cores_per_socket=2)
    exporter = make_exporter(tmp_path / "no-powercap", "--sample-interval", "3600", hwmon=hwmon)
    try:
        assert refresh(exporter).value(m.CPU_SOURCE, source="hwmon") == 1
    finally:
        exporter.close()
