"""What one lab host can run, detected once when `ffwatt worker` starts, advertised to the
Dask scheduler as worker resources (the scheduler then sends a scenario only to a worker
that has every resource the scenario asks for).

Resources (each the quantity 1 unless said):

* `slot`: every host has one and every scenario takes it, so a host runs one scenario at a
  time (its energy is that scenario's) even if the worker were given more threads;
* `encoder:NAME`: an encoder this host's ffmpeg can open: listed by `ffmpeg -encoders`, and for
  hardware encoders (NVENC, QSV, VAAPI...) the runner's one-frame test encode succeeded
  (`measure.ffmpeg_probe.FfmpegInfo.missing_encoder_reason`);
* `gpu`: the number of NVIDIA GPUs NVML sees (absent without); `rapl`: the RAPL energy counters
  are readable (`readers.powercap`).

An encoder that needs a device (NVENC, QSV, VAAPI, AMF, Vulkan, V4L2 M2M...: the runner's
`HARDWARE_ENCODER`) is advertised only when a one-frame test encode opened it here; those test
encodes run a few at a time, so a host with many such encoders still starts in seconds.

The same detection gives the host's environment block that a fleet run's results file keeps
under `hosts[NAME]`: the same keys as a local run's `environment`
(`measure.host_environment.collect_environment`: CPU model and threads, kernel, ffmpeg, ffwatt
version, encoder library versions, GPUs) plus `encoders` and `rapl_readable`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffwatt.energy.rapl_source import DEFAULT_POWERCAP_ROOT as POWERCAP_ROOT
from ffwatt.readers import powercap
from ffwatt.runner.measure.ffmpeg_probe import probe
from ffwatt.runner.measure.host_environment import collect_environment

__all__ = ["Capabilities", "detect", "encoder_resource", "SLOT", "DEFAULT_POWERCAP_ROOT"]

SLOT = "slot"
DEFAULT_POWERCAP_ROOT = Path(POWERCAP_ROOT)
DEVICE_PROBES_AT_ONCE = 4  # one-frame test encodes of device encoders run this many at a time


def encoder_resource(encoder: str) -> str:
    return f"encoder:{encoder}"


@dataclass(frozen=True)
class Capabilities:
    name: str
    ffmpeg_path: str
    encoders: tuple[str, ...]  # openable here, sorted
    host: dict[str, Any] = field(default_factory=dict)  # collect_environment's block for this host
    gpu_count: int = 0
    rapl_readable: bool = False
    rapl_problem: str | None = None  # why not, when not

    def resources(self) -> dict[str, float]:
        out = {SLOT: 1.0, **{encoder_resource(e): 1.0 for e in self.encoders}}
        if self.gpu_count:
            out["gpu"] = float(self.gpu_count)
        if self.rapl_readable:
            out["rapl"] = 1.0
        return out

    def environment(self) -> dict:
        """The host's block in a fleet results file (`hosts[name]`); unknown keys left out."""
        env = {**self.host, "hostname": self.name, "rapl_readable": self.rapl_readable,
               "encoders": list(self.encoders)}
        return {k: v for k, v in env.items() if v not in (None, "", [])}


def rapl_problem(root: Path = DEFAULT_POWERCAP_ROOT) -> str | None:
    """None when at least one package/dram energy counter under `root` can be read; else why not."""
    found = powercap.discover(root)
    if found.missing:
        return found.missing
    zones = [z for z in found.zones if powercap.is_energy_zone(z.zone)]
    if not zones:
        return f"no package or dram zone under {root}"
    try:
        powercap.read_int(zones[0].energy_path)
    except PermissionError:
        return f"{zones[0].energy_path} is not readable by this user"
    except (OSError, ValueError) as exc:
        return f"{zones[0].energy_path}: {exc}"
    return None


def _gpu_count() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no binding, no driver, no library: no GPU to offer
        return 0
    try:
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:
        return 0
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def detect(name: str, ffmpeg_path: str, powercap_root: Path = DEFAULT_POWERCAP_ROOT) -> Capabilities:
    """Probe this host: its ffmpeg, a one-frame encode per device encoder it lists (a few at once), the
    encoder libraries' versions, RAPL and NVML."""
    info = probe(ffmpeg_path)
    listed = sorted(info.encoders)
    with ThreadPoolExecutor(DEVICE_PROBES_AT_ONCE) as pool:
        reasons = list(pool.map(info.missing_encoder_reason, listed))
    openable = tuple(e for e, why in zip(listed, reasons, strict=True) if why is None)
    problem = rapl_problem(powercap_root)
    return Capabilities(name=name, ffmpeg_path=info.path, encoders=openable,
                        host=collect_environment(info.path, openable), gpu_count=_gpu_count(),
                        rapl_readable=problem is None, rapl_problem=problem)
