"""Power traces from VictoriaMetrics (or Prometheus) for `ffwatt report --tsdb-url`.

For each scenario window [start_time, end_time] the report asks `/api/v1/query_range`
for the CPU (top-level RAPL zones `package` and `dram`: their sub-zones are inside them)
plus GPU power gauges, in steps of `step` seconds. Standard library only (urllib).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

from catalog import metrics as m

__all__ = ["TsdbError", "power_query", "power_trace"]

_ZONES = "package(_die_[0-9]+)?|dram(_die_[0-9]+)?"


class TsdbError(Exception):
    pass


def power_query() -> str:
    """PromQL: CPU package + dram power plus GPU power, in watts (a missing side adds 0)."""
    cpu = f'sum({m.CPU_POWER.name}{{zone=~"{_ZONES}"}})'
    gpu = f"sum({m.GPU_POWER.name})"
    return f"({cpu} or vector(0)) + ({gpu} or vector(0))"


def power_trace(url: str, start: float, end: float, step: float = 1.0,
                timeout: float = 10.0) -> tuple[list[float], list[float]]:
    """(seconds since `start`, watts) over [start, end]; `TsdbError` when the TSDB cannot say."""
    params = {"query": power_query(), "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}s"}
    address = f"{url.rstrip('/')}/api/v1/query_range?" + urllib.parse.urlencode(params)
    where = f"querying {url} for power over [{start:.0f}, {end:.0f}]"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise TsdbError(f"{where}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise TsdbError(f"{where}: {exc}") from exc
    if body.get("status") != "success":
        raise TsdbError(f"{url} refused the power query: {body.get('error', body)}")
    result = body.get("data", {}).get("result", [])
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
