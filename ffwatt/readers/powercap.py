"""RAPL energy counters from sysfs: zone discovery, wrap compensation, a fixed-cadence sampler.

No Prometheus here: `exporters.cpu` publishes what `RaplSampler` measured, and an in-process
meter reads the same sampler (`RaplSampler.energy_joules()`: one pass, the energy zones'
monotonic joules). Which zones make up the machine's energy is decided here once
(`ENERGY_ZONES`, `is_energy_zone`, `ENERGY_ZONE_PROMQL`).

Where the counters live
-----------------------
* powercap (``/sys/class/powercap``): ``intel-rapl:N`` is a top-level zone (``package-N``,
  on some laptops ``psys``), ``intel-rapl:N:M`` its sub-zones (``core``, ``uncore``,
  ``dram``). Recent kernels expose AMD Zen packages under the same ``intel-rapl`` names;
  an ``amd-rapl:N[:M]`` tree is read the same way. ``intel-rapl-mmio:N`` measures the
  same package through MMIO and is dropped when the MSR tree already has that zone.
  The root may also be ``/sys/devices/virtual/powercap``, where the zones are nested
  (``intel-rapl/intel-rapl:0/intel-rapl:0:1``) instead of listed flat.
* amd_energy hwmon (kernels 5.8 to 5.12, ``/sys/class/hwmon/hwmonX`` with name
  ``amd_energy``): its ``Esocket<N>`` counters are read as ``(socket N, package)`` only
  when the powercap tree yields no zone, so a package is never counted twice. Its
  per-core counters are not exported (one series per core is not a bounded label set).

Labels
------
Each zone is exported once as ``(socket, zone)``: ``socket`` is N from ``package-N``
(sub-zones inherit their package's), ``platform`` for ``psys``; ``zone`` is the sysfs
``name`` lowercased to ``[a-z0-9_]`` with the package number taken out (``package-0`` ->
``package``, ``package-0-die-1`` -> ``package_die_1``; a die's sub-zones carry its suffix,
``dram_die_1``). Two zones that end up with the same labels: the first (MSR before MMIO,
lowest index first) is kept and the other logged once.

Energy zones
------------
The machine's CPU energy is ``package`` + ``dram`` (and their per-die ``package_die_N`` /
``dram_die_N``), never a sub-zone: ``core`` and ``uncore`` lie inside ``package``, and
``psys`` (the platform) overlaps it too, so adding them would count energy twice.

Counters
--------
``energy_uj`` wraps at ``max_energy_range_uj``; when a reading is lower than the last
one, the delta is ``max - old + new`` and the zone's wrap count rises. Without a range
(amd_energy) a lower reading is a reset: the zone re-baselines without adding energy.
Joules accumulate in process from 0 at the zone's first reading, so the counter never
decreases. A zone that disappears leaves the published state; its total is remembered
and, if the same ``(socket, zone)`` returns, the counter continues from it (the energy
used while it was gone is not known and not added).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("ffwatt.cpu.rapl")

PLATFORM_SOCKET = "platform"

SIMULATED_MARKER = "ffwatt-simulated"
"""A file of this name at the powercap root marks a simulated tree (the demo's): the cpu
exporter says so in /health, and the runner never records its joules as measured RAPL.
No real sysfs tree holds it, and zone discovery ignores it."""

ENERGY_ZONES = ("package", "dram")
"""The top-level zones whose sum is the machine's CPU energy (see "Energy zones")."""
_DIE_SUFFIX = "(_die_[0-9]+)?"
ENERGY_ZONE_PROMQL = "|".join(zone + _DIE_SUFFIX for zone in ENERGY_ZONES)
"""The energy zones as a PromQL label regex: `zone=~"package(_die_[0-9]+)?|dram(_die_[0-9]+)?"`."""
_ENERGY_ZONE = re.compile(f"^(?:{ENERGY_ZONE_PROMQL})$")


def is_energy_zone(zone: str) -> bool:
    """True for a `zone` label that counts towards the machine's energy (package, dram, per die)."""
    return _ENERGY_ZONE.match(zone) is not None


_POWERCAP_ZONE = re.compile(r"^(?P<kind>intel-rapl|amd-rapl|intel-rapl-mmio):(?P<top>\d+)(?::(?P<sub>\d+))?$")
_PACKAGE_NAME = re.compile(r"^package-(?P<socket>\d+)(?P<rest>.*)$")
_AMD_SOCKET_LABEL = re.compile(r"^Esocket(?P<socket>\d+)$")
# Order in which duplicate (socket, zone) pairs are resolved: MSR trees before MMIO.
_KIND_PRIORITY = {"intel-rapl": 0, "amd-rapl": 0, "intel-rapl-mmio": 1}

PERMISSION_FIX = (
    "energy_uj is readable by root only on kernels patched for CVE-2020-8694. Fix: run as root, "
    "or make it readable: `chmod a+r /sys/class/powercap/*/energy_uj` at boot or a udev rule "
    "(ACTION==\"add\", SUBSYSTEM==\"powercap\", RUN+=\"/bin/chmod a+r /sys%p/energy_uj\"); "
    "in a container, run the exporter as root with the DAC_READ_SEARCH capability (--cap-add DAC_READ_SEARCH)"
)


def read_sysfs(path: Path) -> str:
    """Read one sysfs attribute. The only place this module opens a file (tests hook it)."""
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


def read_int(path: Path) -> int:
    text = read_sysfs(path).strip()
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}: expected an integer, read {text[:40]!r}") from None


def sanitise(name: str) -> str:
    """A sysfs zone name as a label value: lowercase [a-z0-9_], never empty."""
    text = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower())
    return re.sub(r"_+", "_", text).strip("_") or "zone"


@dataclass(frozen=True)
class Zone:
    """One energy counter to read."""

    socket: str
    zone: str
    energy_path: Path
    max_energy_range_uj: int | None
    source: str  # e.g. "intel-rapl:0:2" or "hwmon3/energy17"

    @property
    def key(self) -> tuple[str, str]:
        return (self.socket, self.zone)


@dataclass(frozen=True)
class Discovery:
    zones: tuple[Zone, ...]
    # Human-readable notes on what was left out and why (duplicates, per-core counters).
    dropped: tuple[str, ...] = ()
    # Why nothing could be discovered (root missing); None when the tree was there.
    missing: str | None = None


def _index(entry: str) -> tuple[int, int, int]:
    m = _POWERCAP_ZONE.match(entry)
    assert m is not None
    return (_KIND_PRIORITY[m["kind"]], int(m["top"]), -1 if m["sub"] is None else int(m["sub"]))


def _powercap_entries(root: Path) -> dict[str, Path]:
    """Zone directory name -> path. /sys/class/powercap lists every zone flat (symlinks);
    /sys/devices/virtual/powercap nests them (intel-rapl/intel-rapl:0/intel-rapl:0:1):
    both work as the root. Real directories are searched a few levels down; symlinks are
    not followed down, so each zone is found once."""
    found: dict[str, Path] = {}

    def scan(directory: Path, depth: int) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            if depth == 0:
                raise
            return
        for name in names:
            path = directory / name
            is_zone = _POWERCAP_ZONE.match(name) is not None
            if is_zone:
                found.setdefault(name, path)
            if depth < 3 and (is_zone or name in _KIND_PRIORITY) and path.is_dir() and not path.is_symlink():
                scan(path, depth + 1)

    scan(root, 0)
    return found


def _zone_name(directory: Path) -> str:
    try:
        return read_sysfs(directory / "name").strip()
    except (OSError, ValueError):
        return ""


def _max_range(directory: Path) -> int | None:
    try:
        value = read_int(directory / "max_energy_range_uj")
    except (OSError, ValueError):
        return None
    return value if value > 0 else None


def discover_powercap(root: Path) -> Discovery:
    """Every RAPL zone under a powercap root, de-duplicated to one per (socket, zone)."""
    try:
        found = _powercap_entries(root)
    except FileNotFoundError:
        return Discovery((), missing=f"no RAPL powercap tree at {root} (is this a VM? is intel_rapl/amd loaded?)")
    except NotADirectoryError:
        return Discovery((), missing=f"{root} is not a directory (expected a powercap tree like /sys/class/powercap)")

    # Top-level zones first: sub-zones take their socket (and die suffix) from them.
    tops: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, top index) -> (socket, suffix)
    candidates: list[Zone] = []
    dangling: list[str] = []
    for entry in sorted(found, key=_index):
        m = _POWERCAP_ZONE.match(entry)
        assert m is not None
        directory = found[entry]
        if not directory.exists():
            dangling.append(entry)  # a symlink into a tree that is not there
            continue
        if not (directory / "energy_uj").exists():
            continue  # a zone without a counter
        raw_name = _zone_name(directory) or entry
        kind, top = m["kind"], m["top"]
        if m["sub"] is None:
            package = _PACKAGE_NAME.match(raw_name.lower())
            if package:
                socket = str(int(package["socket"]))
                suffix = sanitise(package["rest"]) if re.search(r"[a-z0-9]", package["rest"]) else ""
                zone = "package" + (f"_{suffix}" if suffix else "")
            elif sanitise(raw_name) == "psys":
                socket, suffix, zone = PLATFORM_SOCKET, "", "psys"
            else:
                socket, suffix, zone = top, "", sanitise(raw_name)
            tops[(kind, top)] = (socket, suffix)
        else:
            socket, suffix = tops.get((kind, top), (top, ""))
            zone = sanitise(raw_name) + (f"_{suffix}" if suffix else "")
        candidates.append(Zone(socket, zone, directory / "energy_uj", _max_range(directory), entry))
    found_zones = _dedupe(candidates)
    if dangling and not found_zones.zones:
        return Discovery((), found_zones.dropped, missing=(
            f"{root} lists RAPL zones ({', '.join(dangling[:3])}{', ...' if len(dangling) > 3 else ''}) but they "
            "are links into /sys/devices/virtual/powercap, which is not there; in a container it is masked: "
            "bind-mount the host's /sys/devices/virtual/powercap read-only (e.g. at /host/powercap) and set "
            "--powercap-root to it"))
    return found_zones


def discover_amd_energy(hwmon_root: Path) -> Discovery:
    """Socket energy counters of the amd_energy hwmon driver (kernels 5.8-5.12)."""
    try:
        devices = sorted(os.listdir(hwmon_root))
    except (FileNotFoundError, NotADirectoryError):
        return Discovery((), missing=f"no hwmon tree at {hwmon_root}")
    candidates: list[Zone] = []
    per_core = 0
    for device in devices:
        directory = hwmon_root / device
        if _zone_name(directory) != "amd_energy":
            continue
        try:
            files = sorted(os.listdir(directory))
        except OSError:
            continue
        for label_file in files:
            m = re.match(r"^energy(\d+)_label$", label_file)
            if not m:
                continue
            try:
                label = read_sysfs(directory / label_file).strip()
            except OSError:
                continue
            socket = _AMD_SOCKET_LABEL.match(label)
            if socket is None:
                per_core += 1
                continue
            candidates.append(Zone(str(int(socket["socket"])), "package", directory / f"energy{m[1]}_input",
                                   None, f"{device}/energy{m[1]}"))
    found = _dedupe(candidates)
    notes = found.dropped + ((f"{per_core} amd_energy per-core counter(s) not exported",) if per_core else ())
    return Discovery(found.zones, notes)


def _dedupe(candidates: list[Zone]) -> Discovery:
    kept: dict[tuple[str, str], Zone] = {}
    dropped: list[str] = []
    for zone in candidates:
        first = kept.get(zone.key)
        if first is None:
            kept[zone.key] = zone
        else:
            dropped.append(f"{zone.source} duplicates {first.source} as socket={zone.socket} zone={zone.zone}; "
                           f"keeping {first.source}")
    return Discovery(tuple(kept.values()), tuple(dropped))


def discover(powercap_root: Path, hwmon_root: Path | None = None) -> Discovery:
    """Powercap zones; the amd_energy hwmon counters only when powercap has none."""
    found = discover_powercap(powercap_root)
    if found.zones or hwmon_root is None:
        return found
    amd = discover_amd_energy(hwmon_root)
    if amd.zones:
        return amd
    return found


# --- sampling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneReading:
    """What the sampler knows about one zone after a sampling pass."""

    socket: str
    zone: str
    source: str
    joules: float  # monotonic, wrap-compensated, since the zone was first read
    watts: float | None  # over the last interval; None until two readings exist
    wraps: int
    max_energy_range_uj: int | None


@dataclass(frozen=True)
class SamplerState:
    """One sampling pass's result. Immutable: the sampler swaps in a new one each pass."""

    sequence: int
    sampled_at: float | None  # monotonic time of the pass; None before the first
    zones: tuple[ZoneReading, ...] = ()
    # socket/zone labels -> error text for zones that could not be read this pass.
    unreadable: dict[tuple[str, str], str] = field(default_factory=dict)
    permission_denied: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()
    missing: str | None = None  # the tree is not there at all


@dataclass
class _Track:
    source: str
    last_uj: int | None = None
    last_time: float | None = None
    joules: float = 0.0
    watts: float | None = None
    wraps: int = 0
    max_energy_range_uj: int | None = None


REDISCOVER_SECONDS = 30.0


class RaplSampler:
    """Reads every zone on a fixed cadence and accumulates wrap-compensated joules.

    `sample(now)` is one pass (tests call it with explicit monotonic timestamps); `start()`
    runs passes in a daemon thread every `interval` seconds. Readers take `state`, an
    immutable SamplerState replaced whole each pass, so any number of scrapers see the
    same interval's watts.
    """

    def __init__(self, powercap_root: Path | str, interval: float = 1.0, hwmon_root: Path | str | None = None,
                 missing_level: int = logging.ERROR):
        """`missing_level`: how loud "no powercap tree here" is logged. An exporter asked to read RAPL
        fails without it (ERROR); a caller that falls back to a model and says so itself passes DEBUG."""
        self.powercap_root = Path(powercap_root)
        self.missing_level = missing_level
        self.hwmon_root = None if hwmon_root is None else Path(hwmon_root)
        self.interval = interval
        self.state = SamplerState(sequence=0, sampled_at=None)
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._retired: dict[tuple[str, str], _Track] = {}  # zones that went away, totals kept
        self._logged: set[str] = set()
        self._found: Discovery | None = None
        self._found_at = 0.0
        self._lock = threading.Lock()  # one pass at a time (thread and a direct call)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass ----------------------------------------------------------------------
    def sample(self, now: float | None = None) -> SamplerState:
        with self._lock:
            return self._sample(time.monotonic() if now is None else now)

    def _discover(self, now: float) -> Discovery:
        """The zones, walked afresh when anything is off (no zone, one gone or unreadable)
        and every REDISCOVER_SECONDS; else the last walk: it costs more than the reads."""
        last = self._found
        settled = (last is not None and last.zones and not self._retired and not self.state.unreadable
                   and 0 <= now - self._found_at < REDISCOVER_SECONDS)
        if not settled:
            self._found = discover(self.powercap_root, self.hwmon_root)
            self._found_at = now
        return self._found

    def _sample(self, now: float) -> SamplerState:
        found = self._discover(now)
        for note in found.dropped:
            self._log_once(logging.INFO, note)
        if found.missing and not found.zones:
            self._log_once(self.missing_level, found.missing)

        readings: list[ZoneReading] = []
        unreadable: dict[tuple[str, str], str] = {}
        denied: list[tuple[str, str]] = []
        present: set[tuple[str, str]] = set()
        for zone in found.zones:
            try:
                value = read_int(zone.energy_path)
            except PermissionError:
                denied.append(zone.key)
                unreadable[zone.key] = f"{zone.energy_path}: permission denied"
                self._log_once(logging.ERROR, f"cannot read {zone.energy_path} (permission denied). {PERMISSION_FIX}")
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENODEV):
                    continue  # went away between discovery and reading: treated as gone
                unreadable[zone.key] = f"{zone.energy_path}: {exc.strerror or exc}"
                self._log_once(logging.ERROR, f"cannot read {zone.energy_path}: {exc}")
                continue
            except ValueError as exc:
                unreadable[zone.key] = str(exc)
                self._log_once(logging.ERROR, str(exc))
                continue
            present.add(zone.key)
            readings.append(self._account(zone, value, now))

        # Zones that are no longer there (or unreadable now) leave the published state;
        # their totals are kept so a return continues the counter.
        for key in list(self._tracks):
            if key not in present:
                track = self._tracks.pop(key)
                track.watts = None
                if key not in unreadable:
                    # Gone (a driver reload may restart its counter): the next reading starts afresh.
                    track.last_uj = track.last_time = None
                    log.warning("RAPL zone socket=%s zone=%s (%s) disappeared", key[0], key[1], track.source)
                # Unreadable for a pass (EIO, a torn read): the hardware counter kept counting, so
                # the next good reading continues from the last good one and no energy is lost.
                self._retired[key] = track

        self.state = SamplerState(
            sequence=self.state.sequence + 1,
            sampled_at=now,
            zones=tuple(readings),
            unreadable=unreadable,
            permission_denied=tuple(denied),
            dropped=found.dropped,
            missing=found.missing if not found.zones else None,
        )
        return self.state

    def _account(self, zone: Zone, value: int, now: float) -> ZoneReading:
        track = self._tracks.get(zone.key)
        if track is None:
            track = self._retired.pop(zone.key, None) or _Track(zone.source)
            if track.joules:
                log.info("RAPL zone socket=%s zone=%s is back; its counter continues from %.3f J",
                         zone.socket, zone.zone, track.joules)
            self._tracks[zone.key] = track
        track.source = zone.source
        track.max_energy_range_uj = zone.max_energy_range_uj
        if track.last_uj is not None and track.last_time is not None:
            delta = value - track.last_uj
            if delta < 0:
                if zone.max_energy_range_uj:
                    delta = zone.max_energy_range_uj - track.last_uj + value
                    track.wraps += 1
                else:
                    self._log_once(logging.WARNING, f"{zone.source}: energy counter went back from "
                                                    f"{track.last_uj} to {value} uJ with no max_energy_range_uj; "
                                                    "treating it as a reset")
                    delta = None
            elapsed = now - track.last_time
            if delta is None:
                track.watts = None
            else:
                track.joules += delta / 1e6
                track.watts = delta / 1e6 / elapsed if elapsed > 0 else None
        track.last_uj = value
        track.last_time = now
        return ZoneReading(zone.socket, zone.zone, zone.source, track.joules, track.watts, track.wraps,
                           zone.max_energy_range_uj)

    def _log_once(self, level: int, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            log.log(level, "%s", message)

    def energy_joules(self, now: float | None = None) -> dict[tuple[str, str], float]:
        """One pass, then the energy zones' joules: `(socket, zone)` -> monotonic, wrap-compensated
        joules since each zone's first reading. Cheap after the first call (discovery is cached);
        the increase between two calls is the energy between them."""
        return energy_totals(self.sample(now))

    # --- background cadence -----------------------------------------------------------------
    def start(self) -> None:
        """First pass now (so the first publish has data), then one every `interval` seconds."""
        if self._thread is not None:
            return
        self._safe_sample()
        self._thread = threading.Thread(target=self._run, name="cpu-rapl-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self._safe_sample()
            next_at += self.interval
            now = time.monotonic()
            if next_at <= now:  # fell behind (suspend, slow sysfs): skip missed slots
                next_at = now + self.interval

    def _safe_sample(self) -> None:
        try:
            self.sample()
        except Exception:  # the sampler never dies; the next pass tries again
            log.exception("RAPL sampling pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def energy_totals(state: SamplerState) -> dict[tuple[str, str], float]:
    """The energy zones' joules of one pass: `(socket, zone)` -> joules (see "Energy zones")."""
    return {(z.socket, z.zone): z.joules for z in state.zones if is_energy_zone(z.zone)}
