"""Ask VictoriaMetrics (or Prometheus) how much energy the joules counters recorded
over a scenario's window: the cost exporter's "load-aware" path for scenarios that
carry no power samples."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

from catalog import metrics as m

# Top-level RAPL zones only: package already contains core and uncore, so adding the
# sub-zones would count their energy twice. psys overlaps package too: left out.
# Multi-die packages label their zones package_die_1, dram_die_1 (see exporters/rapl.py).
CPU_ZONES_FOR_ENERGY = ("package", "dram")
_DIE_SUFFIX = "(_die_[0-9]+)?"


class TsdbError(Exception):
    pass


def energy_query(duration_seconds: float, selector: str = "") -> str:
    """PromQL for the joules CPU and GPU counters gained over the last `duration`.

    GPU energy per series (each labelled gpu and uuid, so a GPU that changed index is two
    monotonic series, never a jump): NVML's counter, or for a GPU without one
    (`ffwatt_gpu_nvml_energy_supported` 0: before Volta, vGPU, Jetson) the gpu exporter's
    integrated power gauge. `or` keeps the real counter where a GPU had both, so nothing is
    counted twice. A GPU with neither (no power reading either) cannot be counted: the gpu
    exporter's /health details.energy_source names it."""
    window = f"{max(1, math.ceil(duration_seconds))}s"
    extra = f",{selector}" if selector else ""
    zones = "|".join(zone + _DIE_SUFFIX for zone in CPU_ZONES_FOR_ENERGY)
    cpu = f'sum(increase({m.CPU_ENERGY.name}{{zone=~"{zones}"{extra}}}[{window}]))'
    gpu = (f"sum(increase({m.GPU_ENERGY.name}{{{selector}}}[{window}])"
           f" or increase({m.GPU_POWER_INTEGRATED.name}{{{selector}}}[{window}]))")
    # `or vector(0)` on each side: a host with no GPU (or no RAPL) adds 0, not nothing.
    return f"({cpu} or vector(0)) + ({gpu} or vector(0))"


def scenario_energy_joules(url: str, start: float, end: float, *, selector: str = "",
                           timeout: float = 5.0) -> float:
    """Joules recorded over [start, end]; TsdbError when the TSDB cannot say."""
    query = energy_query(end - start, selector)
    address = f"{url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{end:.3f}"})
    where = f"querying {url} for energy over [{start:.0f}, {end:.0f}]"
    # urllib, not requests: prometheus_client loads it already; requests costs ~6 MB RSS.
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise TsdbError(f"{where}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise TsdbError(f"{where}: {exc}") from exc
    if body.get("status") != "success":
        raise TsdbError(f"{url} refused the energy query: {body.get('error', body)}")
    result = body.get("data", {}).get("result", [])
    if not result:
        raise TsdbError(f"{url} holds no joules counters over [{start:.0f}, {end:.0f}]")
    value = float(result[0]["value"][1])
    if not math.isfinite(value) or value <= 0:
        # 0 means the counters exist but recorded nothing: no exporter was running then.
        raise TsdbError(f"{url} recorded no energy over [{start:.0f}, {end:.0f}] (got {value})")
    return value
