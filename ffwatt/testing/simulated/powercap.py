"""Simulated RAPL sysfs trees under a temp dir, laid out like the kernel's.

    tree = FakePowercap(tmp_path / "powercap")
    tree.package(0, subzones=("core", "uncore", "dram"))   # intel-rapl:0, intel-rapl:0:0 ...
    tree.set_energy("intel-rapl:0", 5_000_000)

Files as the kernel has them: each zone directory holds `name`, `energy_uj`,
`max_energy_range_uj` and `enabled`; `intel-rapl` (the control type) holds only
`enabled`. layout="flat" makes plain directories side by side; layout="kernel" makes
what sysfs really has: nested directories under <base>/devices/virtual/powercap
(intel-rapl/intel-rapl:0/intel-rapl:0:1) and, in <base>/class/powercap (the root),
one relative symlink per zone and control type pointing into them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# What real machines report.
PACKAGE_RANGE_UJ = 262_143_328_850
DRAM_RANGE_UJ = 65_712_999_613


class FakePowercap:
    def __init__(self, base: Path, layout: str = "flat"):
        if layout not in ("flat", "kernel"):
            raise ValueError(layout)
        self.layout = layout
        base = Path(base)
        self.root = base if layout == "flat" else base / "class" / "powercap"
        self.devices = base / "devices" / "virtual" / "powercap"
        self.root.mkdir(parents=True, exist_ok=True)

    def _real_dir(self, entry: str) -> Path:
        """Where the zone's files are: root/entry (flat) or the nested devices path (kernel)."""
        if self.layout == "flat":
            return self.root / entry
        kind, _, rest = entry.partition(":")
        parts = rest.split(":") if rest else []
        path = self.devices / kind
        for i in range(1, len(parts) + 1):
            path = path / f"{kind}:{':'.join(parts[:i])}"
        return path

    def _make_dir(self, entry: str) -> Path:
        d = self._real_dir(entry)
        d.mkdir(parents=True, exist_ok=True)
        link = self.root / entry
        if self.layout == "kernel" and not link.is_symlink():
            link.symlink_to(Path("..", "..", *d.relative_to(self.root.parent.parent).parts))
        return d

    def _control_type(self, kind: str) -> None:
        d = self._make_dir(kind)
        (d / "enabled").write_text("1\n")

    def zone(self, entry: str, name: str, energy_uj: int = 0,
             max_energy_range_uj: int | None = PACKAGE_RANGE_UJ) -> Path:
        """One zone directory, e.g. zone("intel-rapl:0:2", "dram", 123)."""
        self._control_type(entry.split(":", 1)[0])
        d = self._make_dir(entry)
        (d / "name").write_text(name + "\n")
        (d / "enabled").write_text("1\n")
        (d / "energy_uj").write_text(f"{energy_uj}\n")
        if max_energy_range_uj is not None:
            (d / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
        return d

    def package(self, socket: int, subzones: tuple[str, ...] = ("core", "uncore", "dram"),
                kind: str = "intel-rapl", index: int | None = None, energy_uj: int = 0) -> list[str]:
        """A top-level package-<socket> zone and its sub-zones; returns their entries."""
        top = socket if index is None else index
        entries = [f"{kind}:{top}"]
        self.zone(entries[0], f"package-{socket}", energy_uj)
        for i, sub in enumerate(subzones):
            entry = f"{kind}:{top}:{i}"
            self.zone(entry, sub, energy_uj, DRAM_RANGE_UJ if sub == "dram" else PACKAGE_RANGE_UJ)
            entries.append(entry)
        return entries

    def set_energy(self, entry: str, energy_uj: int) -> None:
        (self.root / entry / "energy_uj").write_text(f"{energy_uj}\n")

    def add_energy(self, entry: str, delta_uj: int) -> int:
        """Advance a zone's counter by delta, wrapping at its max_energy_range_uj; returns the new value."""
        d = self.root / entry
        value = int((d / "energy_uj").read_text()) + delta_uj
        limit = d / "max_energy_range_uj"
        if limit.exists():
            value %= int(limit.read_text())
        (d / "energy_uj").write_text(f"{value}\n")
        return value

    def remove(self, entry: str) -> None:
        """The zone goes away (with its sub-zones in the kernel layout, as sysfs does)."""
        shutil.rmtree(self._real_dir(entry))
        for link in list(self.root.iterdir()):
            if link.is_symlink() and not link.exists():
                link.unlink()


def amd_energy_hwmon(root: Path, sockets: int = 1, cores_per_socket: int = 2, device: str = "hwmon3",
                     energy_uj: int = 0) -> Path:
    """The amd_energy hwmon driver's files (kernels 5.8-5.12): Ecore%03d then Esocket%d."""
    d = Path(root) / device
    d.mkdir(parents=True, exist_ok=True)
    (d / "name").write_text("amd_energy\n")
    n = 1
    for core in range(sockets * cores_per_socket):
        (d / f"energy{n}_label").write_text(f"Ecore{core:03d}\n")
        (d / f"energy{n}_input").write_text(f"{energy_uj}\n")
        n += 1
    for socket in range(sockets):
        (d / f"energy{n}_label").write_text(f"Esocket{socket}\n")
        (d / f"energy{n}_input").write_text(f"{energy_uj}\n")
        n += 1
    return d
