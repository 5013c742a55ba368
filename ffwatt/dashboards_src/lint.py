"""The checks every ffwatt dashboard must pass, on the JSON Grafana is given.

    from ffwatt.dashboards_src.lint import lint, analyse

    lint(dashboard_dict) -> ["<uid> / <panel> / <refId>: problem", ...]   ([] = clean)
    analyse(expr)        -> Analysis: every VectorSelector (metric, matchers, how it is
                            used) and every by/without/on/ignoring label list, from the
                            PromQL AST (promql-parser, a test dependency)

Dashboard rules (after the monitoring mixins and Grafana's dashboard linter): a stable
uid, tags with "ffwatt", links, schemaVersion >= 36, no `__inputs`, a `datasource`
variable of type datasource used by every panel and target, label_values() filter
variables on catalog metrics and labels, every panel with a description and a unit,
unique panel ids and titles, gridPos on the 24-column grid without overlaps.

Query rules: the expression parses as PromQL once Grafana's variables are substituted
(as dashboard linters do); every selector names a catalog metric and matches only its
catalog labels (or the scrape labels job and instance); every by/without/on/ignoring
label is a label of the result it groups or matches; a counter is only read through
rate/increase/irate/resets over a range selector, and those functions only read
counters; every range is [$__rate_interval] or [$__range]; filter variables appear only
inside regex matchers and are declared by the dashboard.

What the panels show (`lint_rules`): a headline at y=0; one unit per quantity, derived from the
catalog unit and the query (`lint_units`); one speed threshold; the encoder palette; every filter
variable honoured by every query; where every energy figure came from.
"""

from __future__ import annotations

import re

from ffwatt.catalog import METRICS
from ffwatt.dashboards_src.dashboard import DEFAULT_DATASOURCE_UID, GRID_WIDTH
from ffwatt.dashboards_src.grafana import DATASOURCE
from ffwatt.dashboards_src.lint_ast import Analysis, analyse  # noqa: F401 (part of this module's API)
from ffwatt.dashboards_src.lint_rules import look_problems
from ffwatt.dashboards_src.lint_units import derive
from ffwatt.dashboards_src.promql import TARGET_LABELS
from ffwatt.dashboards_src.queries import LABEL_VALUES, expand, iter_panels

MIN_SCHEMA_VERSION = 36
PANEL_TYPES = {"timeseries", "stat", "bargauge", "table", "state-timeline", "xychart", "row"}
COUNTER_FUNCTIONS = {"rate", "increase", "irate", "resets"}
WINDOWS = {"$__rate_interval", "$__range"}
BUILTIN_VARIABLES = {"__rate_interval", "__range", "__range_s", "__range_ms", "__interval", "__interval_ms"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_RANGE = re.compile(r"\[([^\]]*)\]")
# A filter variable is substituted by this marker (a valid regex) so the AST shows where it was.
_MARK = "__grafana_var_{}__"
_MARKED = re.compile(r"__grafana_var_(\w+?)__")


def expr_problems(expr: str, variables: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with one target expression, given the dashboard's variable names."""
    problems = []
    for window in _RANGE.findall(expr):
        if window not in WINDOWS:
            problems.append(f"range [{window}]: use [$__rate_interval] (rates) or [$__range] (totals)")
    used = {m.group(1) or m.group(2) for m in _VARIABLE.finditer(expr)} - BUILTIN_VARIABLES
    for name in sorted(used - set(variables)):
        problems.append(f"${name} is not a variable of this dashboard")
    marked = expand(expr, values={name: _MARK.format(name) for name in used})
    try:
        analysis = analyse(marked)
    except ValueError as exc:
        return problems + [str(exc)]
    for s in analysis.selectors:
        if s.metric is None:
            problems.append("a selector without a metric name")
            continue
        metric = METRICS.get(s.metric)
        if metric is None:
            problems.append(f"{s.metric} is not in the catalog")
            continue
        allowed = set(metric.labels) | set(TARGET_LABELS)
        for label, op, value in s.matchers:
            if label not in allowed:
                problems.append(f"{s.metric} has no label {label!r} (catalog labels: {', '.join(metric.labels)})")
            if _MARKED.search(value) and op not in ("=~", "!~"):
                problems.append(f"{s.metric}{{{label}{op}...}}: a multi-value/All variable needs =~")
        if metric.kind == "counter" and s.function not in COUNTER_FUNCTIONS:
            problems.append(f"counter {s.metric} outside rate()/increase(): its raw value means nothing")
        if s.function in COUNTER_FUNCTIONS and metric.kind != "counter":
            problems.append(f"{s.function}() of {s.metric}, a {metric.kind}: only counters have a rate")
    if all(s.metric in METRICS for s in analysis.selectors):
        problems += derive(marked).problems  # by/on/group_left labels the results lack
    return problems


def _overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def dashboard_problems(board: dict) -> list[str]:
    """Problems of the dashboard's own structure and of its variables."""
    uid = board.get("uid") or "<no uid>"
    problems = []
    if not board.get("uid"):
        problems.append("no uid")
    if "__inputs" in board:
        problems.append("__inputs: file provisioning does not resolve them; use the datasource variable")
    if not isinstance(board.get("schemaVersion"), int) or board["schemaVersion"] < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion {board.get('schemaVersion')} < {MIN_SCHEMA_VERSION}")
    if "ffwatt" not in board.get("tags", []):
        problems.append("tags lack 'ffwatt'")
    if not board.get("links"):
        problems.append("no links to the other dashboards")
    for link in board.get("links", []):
        if link.get("type") == "dashboards" and "ffwatt" not in link.get("tags", []):
            problems.append("a dashboards link not on the tag 'ffwatt'")
    variables = board.get("templating", {}).get("list", [])
    datasource = [v for v in variables if v.get("name") == "datasource"]
    if not datasource or datasource[0].get("type") != "datasource" or datasource[0].get("query") != "prometheus":
        problems.append("no `datasource` variable of type datasource (query prometheus)")
    elif datasource[0].get("current", {}).get("value") != DEFAULT_DATASOURCE_UID:
        problems.append(f"the datasource variable does not default to uid {DEFAULT_DATASOURCE_UID!r}")
    for v in variables:
        if v.get("type") != "query":
            continue
        where = f"variable ${v.get('name')}"
        if v.get("datasource") != DATASOURCE:
            problems.append(f"{where}: datasource is not the datasource variable")
        match = LABEL_VALUES.match(v.get("query") or "")
        if not match:
            problems.append(f"{where}: query is not label_values(metric, label)")
        else:
            metric = METRICS.get(match.group(1))
            if metric is None:
                problems.append(f"{where}: {match.group(1)} is not in the catalog")
            elif match.group(3) not in metric.labels + TARGET_LABELS:
                problems.append(f"{where}: {metric.name} has no label {match.group(3)!r}")
        if not (v.get("includeAll") and v.get("multi") and v.get("allValue") == ".*"):
            problems.append(f"{where}: filters are multi-value with All = .*")
    ids, titles = [], []
    positions = []
    for panel in iter_panels(board):
        title = panel.get("title") or "<untitled>"
        ids.append(panel.get("id"))
        if panel.get("type") not in PANEL_TYPES:
            problems.append(f"{title}: panel type {panel.get('type')!r} is not one of {sorted(PANEL_TYPES)}")
        pos = panel.get("gridPos") or {}
        if not all(isinstance(pos.get(k), int) for k in "xywh") or pos["w"] < 1 or pos["h"] < 1 \
                or pos["x"] < 0 or pos["x"] + pos["w"] > GRID_WIDTH:
            problems.append(f"{title}: gridPos {pos} is not on the {GRID_WIDTH}-column grid")
        else:
            for other_title, other in positions:
                if _overlap(pos, other):
                    problems.append(f"{title}: gridPos overlaps {other_title}")
            positions.append((title, pos))
        if panel.get("type") == "row":
            continue
        titles.append(title)
        if not (panel.get("description") or "").strip():
            problems.append(f"{title}: no description")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{title}: no unit (fieldConfig.defaults.unit)")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{title}: datasource is not the datasource variable")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{title}: no target")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            problems.append(f"{title}: refIds {refs} are not unique")
        for t in targets:
            if t.get("datasource") != DATASOURCE:
                problems.append(f"{title} / {t.get('refId')}: datasource is not the datasource variable")
    if len(set(ids)) != len(ids) or None in ids:
        problems.append(f"panel ids are not unique: {ids}")
    duplicates = sorted({t for t in titles if titles.count(t) > 1})
    if duplicates:
        problems.append(f"panel titles used twice: {duplicates}")
    return [f"{uid}: {p}" for p in problems]


def lint(board: dict) -> list[str]:
    """Every problem of a dashboard: its structure, every target expression, and what its panels
    show (`lint_rules`: headline, units, speed threshold, colours, variables, provenance)."""
    uid = board.get("uid") or "<no uid>"
    problems = dashboard_problems(board)
    variables = {v.get("name") for v in board.get("templating", {}).get("list", [])}
    for panel in iter_panels(board):
        for t in panel.get("targets") or []:
            for problem in expr_problems(t.get("expr") or "", variables):
                problems.append(f"{uid} / {panel.get('title')} / {t.get('refId')}: {problem}")
    return problems + look_problems(board)


def selected_metrics(board: dict) -> set[str]:
    """Catalog metric names the dashboard's targets select."""
    names: set[str] = set()
    for panel in iter_panels(board):
        for t in panel.get("targets") or []:
            names |= analyse(expand(t["expr"])).metrics
    return names
