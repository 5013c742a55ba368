"""Every query the dashboards send, for tests that run them against a real TSDB.

Stable API (the e2e tests depend on it):

    from ffwatt.dashboards_src.queries import iter_targets, iter_variables, expand

    for t in iter_targets():
        t.dashboard  # dashboard uid, e.g. "qoe-metrics" (also t.uid)
        t.panel      # panel title (unique within its dashboard)
        t.ref_id     # "A", "B", ... unique within the panel
        t.expr       # PromQL exactly as in the dashboard JSON (Grafana variables unexpanded)
        t.instant    # True: Grafana sends it as an instant query (/api/v1/query);
                     # False: as a range query (/api/v1/query_range)
        run(expand(t.expr))   # variables replaced the way Grafana would with "All" selected

    for v in iter_variables():
        v.dashboard, v.name, v.metric, v.label  # $name lists label_values(metric{...}, label)

Both are NamedTuples (unpack them as 5- and 4-tuples) and read the rendered dashboard
JSON, i.e. exactly what Grafana is given, in dashboard, panel and target order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from operator import itemgetter
from typing import NamedTuple

from ffwatt.dashboards_src.build import render_dashboards
from ffwatt.dashboards_src.dashboard import iter_panels  # part of this module's API too

# label_values(metric, label) or, chained, label_values(metric{label=~"$var",...}, label)
LABEL_VALUES = re.compile(r"^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


# `x.uid`: a target's or a variable's `dashboard` (its first field), by the name a dashboard spec has
_UID = property(itemgetter(0), doc="The dashboard's uid (the `dashboard` field).")


class DashboardTarget(NamedTuple):
    dashboard: str  # the dashboard's uid
    panel: str
    ref_id: str
    expr: str
    instant: bool
    uid = _UID


class DashboardVariable(NamedTuple):
    dashboard: str  # the dashboard's uid
    name: str
    metric: str
    label: str
    uid = _UID


def dashboards() -> list[dict]:
    """The rendered dashboards, as Grafana will load them (dicts), in build order."""
    return [json.loads(text) for text in render_dashboards().values()]


def iter_targets(boards: list[dict] | None = None) -> Iterator[DashboardTarget]:
    """(uid, panel title, refId, expr, instant) for every target of every panel."""
    for board in dashboards() if boards is None else boards:
        for panel in iter_panels(board):
            for target in panel.get("targets", []):
                yield DashboardTarget(board["uid"], panel["title"], target["refId"], target["expr"],
                                      bool(target.get("instant")))


def iter_variables(boards: list[dict] | None = None) -> Iterator[DashboardVariable]:
    """(uid, variable name, metric name, label) for every label_values() query variable."""
    for board in dashboards() if boards is None else boards:
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = LABEL_VALUES.match(variable["query"])
            if not match:
                raise ValueError(f"{board['uid']}: variable ${variable['name']} is not label_values(metric, label): "
                                 f"{variable['query']!r}")
            yield DashboardVariable(board["uid"], variable["name"], match.group(1), match.group(3))


def expand(expr: str, *, rate_interval: str = "1m", range_: str = "1h", interval: str = "1m",
           values: dict[str, str] | None = None) -> str:
    """The expression with Grafana's variables replaced, as Grafana sends it.

    $__rate_interval, $__range and $__interval become the given durations ($__range_s
    and $__interval_ms their numbers); any other $var or ${var} becomes values[var],
    default ".*" (what "All" sends for ffwatt's filter variables, whose allValue is
    ".*"), and ${datasource} is not part of an expression."""
    seconds = _seconds(range_)
    builtins = {
        "__rate_interval": rate_interval,
        "__range": range_,
        "__range_s": str(seconds),
        "__range_ms": str(seconds * 1000),
        "__interval": interval,
        "__interval_ms": str(_seconds(interval) * 1000),
    }
    values = values or {}

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        return values.get(name, ".*")

    return _VARIABLE.sub(replace, expr)


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    if not match:
        raise ValueError(f"duration {duration!r} is not like 90s, 5m, 1h")
    return int(int(match.group(1)) * _UNITS[match.group(2)])
