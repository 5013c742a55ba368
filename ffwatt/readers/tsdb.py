"""The one client of VictoriaMetrics' (or Prometheus') query API, with one error type.

* `api_get`, `query`, `query_range`: any Prometheus HTTP API call; the `data` (or `data.result`)
  of a `status: success` answer, else `TsdbError`. The test servers' `PromAPI`
  (ffwatt/testing/servers/tsdb.py) and every product reader use these.
* `scenario_energy_joules`: how much energy the joules counters recorded over a scenario's
  window (`/api/v1/query`): the cost exporter's "load-aware" path for scenarios that carry no
  power samples, and the runner's meter when no exporter can be read directly.
* `power_trace`: the CPU plus GPU power gauges over a window, in steps
  (`/api/v1/query_range`), for `ffwatt report --tsdb-url`.

The CPU side is the energy zones only (`readers.powercap.ENERGY_ZONES`: package and dram,
never their sub-zones). HTTP goes through `common.urls` (basic auth from the URL's user info,
https against a CA file, no redirects). Every failure is a `TsdbError` whose message names the
URL (its password redacted) and what was asked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ffwatt.catalog import metrics as m
from ffwatt.common.errors import FfwattError
from ffwatt.common.urls import HttpError, fetch, redact
from ffwatt.readers.powercap import ENERGY_ZONE_PROMQL

__all__ = ["TsdbError", "api_get", "energy_query", "host_selector", "power_query", "power_trace", "query",
           "query_range", "scenario_energy_joules"]


class TsdbError(FfwattError):
    """The TSDB could not say: unreachable, refused the query, or holds nothing for the window."""


def api_get(url: str, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None, *,
            timeout: float = 30.0, ca_file: str | None = None, what: str = "") -> Any:
    """The `data` of one Prometheus API call (`path`: "/api/v1/query", ...); `TsdbError` naming the
    URL and `what` was asked when there is none."""
    asked = f" for {what}" if what else ""
    base = url.rstrip("/")
    try:
        answer = fetch(base + path, timeout, params=params, ca_file=ca_file)
    except HttpError as exc:
        raise TsdbError(f"querying {redact(base)}{asked}: {exc}") from exc
    try:
        body = json.loads(answer.content)
    except ValueError:
        raise TsdbError(f"{redact(base)}{path}{asked}: HTTP {answer.status_code}, not JSON: "
                        f"{answer.text[:200]!r}") from None
    if answer.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", body) if isinstance(body, dict) else body
        raise TsdbError(f"{redact(base)}{path}{asked}: HTTP {answer.status_code}: {str(error)[:500]}")
    return body.get("data")


def query(url: str, expr: str, time: float | None = None, **kwargs: Any) -> list:
    """An instant query's `data.result`."""
    params = {"query": expr} if time is None else {"query": expr, "time": f"{time:.3f}"}
    return (api_get(url, "/api/v1/query", params, **kwargs) or {}).get("result", [])


def query_range(url: str, expr: str, start: float, end: float, step: float | str, **kwargs: Any) -> list:
    """A range query's `data.result` (matrix series)."""
    step_text = step if isinstance(step, str) else f"{step:g}s"
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step_text}
    return (api_get(url, "/api/v1/query_range", params, **kwargs) or {}).get("result", [])


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
    shown = redact(url)
    result = query(url, energy_query(end - start, selector), end, timeout=timeout, ca_file=ca_file,
                   what=f"energy over [{start:.0f}, {end:.0f}]")
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
    result = query_range(url, power_query(), start, end, step, timeout=timeout,
                         what=f"power over [{start:.0f}, {end:.0f}]")
    shown = redact(url)
    if not result:
        raise TsdbError(f"{shown} holds no power series over [{start:.0f}, {end:.0f}]")
    times, watts = [], []
    for t, v in result[0].get("values", []):
        value = float(v)
        if math.isfinite(value):
            times.append(float(t) - start)
            watts.append(value)
    if not any(watts):
        # `or vector(0)` makes an all-zero trace when no exporter was scraped then
        raise TsdbError(f"{shown} recorded no power over [{start:.0f}, {end:.0f}]")
    return times, watts
