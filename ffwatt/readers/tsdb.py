"""The one client of VictoriaMetrics' (or Prometheus') query API, with one error type.

* `scenario_energy_joules`: how much energy the joules counters recorded over a scenario's
  window (`/api/v1/query`): the cost exporter's "load-aware" path for scenarios that carry no
  power samples, and the runner's meter when no exporter can be read directly.
* `power_trace`: the CPU plus GPU power gauges over a window, in steps
  (`/api/v1/query_range`), for `ffwatt report --tsdb-url`.

The CPU side is the energy zones only (`readers.powercap.ENERGY_ZONES`: package and dram,
never their sub-zones). Standard library only (urllib): prometheus_client loads it already,
requests costs ~6 MB RSS. Every failure is a `TsdbError` whose message names the URL and
the window.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse

from ffwatt.catalog import metrics as m
from ffwatt.common.urls import open_url, redact, scrub
from ffwatt.readers.powercap import ENERGY_ZONE_PROMQL

__all__ = ["TsdbError", "energy_query", "host_selector", "scenario_energy_joules", "power_query", "power_trace"]


class TsdbError(Exception):
    """The TSDB could not say: unreachable, refused the query, or holds nothing for the window."""


def _query(url: str, api: str, params: dict[str, str], where: str, what: str, timeout: float,
           ca_file: str | None = None) -> list:
    """The `data.result` list of one query API call; `TsdbError` when there is none. A TSDB behind
    TLS and basic auth: https verified against `ca_file`, credentials from the URL's user info."""
    address = f"{url.rstrip('/')}/api/v1/{api}?" + urllib.parse.urlencode(params)
    where = scrub(where, url)
    try:
        with open_url(address, timeout, ca_file=ca_file) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise TsdbError(f"{where}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise TsdbError(scrub(f"{where}: {exc}", url)) from exc
    if body.get("status") != "success":
        raise TsdbError(f"{redact(url)} refused the {what} query: {body.get('error', body)}")
    return body.get("data", {}).get("result", [])


# --------------------------------------------------------------------------
# energy over a window


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
    cpu = f'sum(increase({m.CPU_ENERGY.name}{{zone=~"{ENERGY_ZONE_PROMQL}"{extra}}}[{window}]))'
    gpu = (f"sum(increase({m.GPU_ENERGY.name}{{{selector}}}[{window}])"
           f" or increase({m.GPU_POWER_INTEGRATED.name}{{{selector}}}[{window}]))")
    # `or vector(0)` on each side: a host with no GPU (or no RAPL) adds 0, not nothing.
    return f"({cpu} or vector(0)) + ({gpu} or vector(0))"


def host_selector(host: str | None, selector: str = "") -> str:
    """`selector` narrowed to one lab host's series (issue 25): those its vmagent labelled
    host=<host>, or series with no host label at all (a host the central store scrapes itself).
    No host: `selector` unchanged."""
    if not host:
        return selector
    pattern = re.escape(host).replace("\\", "\\\\").replace('"', '\\"')
    matcher = f'host=~"{pattern}|"'
    return f"{selector},{matcher}" if selector else matcher


def scenario_energy_joules(url: str, start: float, end: float, *, selector: str = "",
                           timeout: float = 5.0, ca_file: str | None = None) -> float:
    """Joules recorded over [start, end]; TsdbError when the TSDB cannot say."""
    params = {"query": energy_query(end - start, selector), "time": f"{end:.3f}"}
    shown = redact(url)
    where = f"querying {shown} for energy over [{start:.0f}, {end:.0f}]"
    result = _query(url, "query", params, where, "energy", timeout, ca_file)
    if not result:
        raise TsdbError(f"{shown} holds no joules counters over [{start:.0f}, {end:.0f}]")
    value = float(result[0]["value"][1])
    if not math.isfinite(value) or value <= 0:
        # 0 means the counters exist but recorded nothing: no exporter was running then.
        raise TsdbError(f"{shown} recorded no energy over [{start:.0f}, {end:.0f}] (got {value})")
    return value


# --------------------------------------------------------------------------
# power over a window


def power_query() -> str:
    """PromQL: CPU package + dram power plus GPU power, in watts (a missing side adds 0)."""
    cpu = f'sum({m.CPU_POWER.name}{{zone=~"{ENERGY_ZONE_PROMQL}"}})'
    gpu = f"sum({m.GPU_POWER.name})"
    return f"({cpu} or vector(0)) + ({gpu} or vector(0))"


def power_trace(url: str, start: float, end: float, step: float = 1.0,
                timeout: float = 10.0) -> tuple[list[float], list[float]]:
    """(seconds since `start`, watts) over [start, end]; `TsdbError` when the TSDB cannot say."""
    params = {"query": power_query(), "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}s"}
    where = f"querying {url} for power over [{start:.0f}, {end:.0f}]"
    result = _query(url, "query_range", params, where, "power", timeout)
    if not result:
        raise TsdbError(f"{url} holds no power series over [{start:.0f}, {end:.0f}]")
    times, watts = [], []
    for t, v in result[0].get("values", []):
        value = float(v)
        if math.isfinite(value):
            times.append(float(t) - start)
            watts.append(value)
    if not any(watts):
        # `or vector(0)` makes an all-zero trace when no exporter was scraped then
        raise TsdbError(f"{url} recorded no power over [{start:.0f}, {end:.0f}]")
    return times, watts
