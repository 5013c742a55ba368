"""The lint's rules on what a panel shows, read from the dashboard JSON Grafana is given.

    look_problems(board) -> ["<uid> / <panel> / <refId>: problem", ...]

- **headline**: panels at y=0, above the first row header: the dashboard's first question is
  answered before any scrolling;
- **units**: each shown value's unit is the one its quantity is shown in everywhere (`units`),
  derived from the catalog unit and what the query does (`lint_units.derive`): bitrate in bits/s,
  speed as a factor, counts (sums of 0/1 states too) as plain numbers;
- **speed**: a speed against real time carries `units.SPEED_STEPS` (a table: on its column);
- **colours**: a panel whose series or column name encoders colours every encoder from
  `palette.ENCODER_COLOURS`, and no panel gives an encoder another colour;
- **variables**: every selector honours every filter variable it can (`honours`); a benchmark
  dashboard filters by host, clip, encoder, preset, resolution and scenario, chained;
- **provenance**: a panel showing joules, watts, cost or carbon shows where each came from (its
  `source` in a legend, a series name or a column), marks the model's figures "estimated (model)"
  and colours or dashes the simulated ones.
"""

from __future__ import annotations

from ffwatt.catalog import EXPORTERS, METRICS
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src import palette, units
from ffwatt.dashboards_src.lint_ast import analyse
from ffwatt.dashboards_src.lint_units import derive
from ffwatt.dashboards_src.promql import TARGET_LABELS
from ffwatt.dashboards_src.provenance import PROVENANCE
from ffwatt.dashboards_src.queries import LABEL_VALUES, expand, iter_panels
from ffwatt.dashboards_src.scenario import BENCH

ENERGY_QUANTITIES = {"joules", "watts", "joules_per_frame", "joules_per_video_second", "currency",
                     "currency_per_pixel", "grams", "score_per_watt", "pixels_per_joule", "joules_per_viewer_hour",
                     "currency_per_viewer_hour"}
_MARK = "__grafana_var_{}__"
_SERIES_PANELS = {"timeseries", "stat", "bargauge", "state-timeline"}
# What users pick scenarios by: every benchmark dashboard has these filters.
BENCH_LABELS = tuple(v.label for v in BENCH.vars)


def _transform(panel: dict, ident: str) -> list[dict]:
    return [t["options"] for t in panel.get("transformations", []) if t["id"] == ident]


def _value_column(panel: dict, index: int) -> str:
    return "Value" if len(panel["targets"]) == 1 else f"Value #{panel['targets'][index]['refId']}"


def _column(panel: dict, index: int) -> str | None:
    """A table's or XY chart's column of target `index` (None: hidden)."""
    raw = _value_column(panel, index)
    organize = _transform(panel, "organize")
    if any(o.get("excludeByName", {}).get(raw) for o in organize):
        return None
    for o in organize:
        raw = o.get("renameByName", {}).get(raw, raw)
    return raw


def _overrides(panel: dict, matcher: str, option: str) -> list[dict]:
    return [p for o in panel.get("fieldConfig", {}).get("overrides", [])
            if o["matcher"] == {"id": matcher, "options": option} for p in o["properties"]]


def _shown(panel: dict) -> list[tuple[int, dict, str | None]]:
    """(index, target, column) of each target whose value is shown."""
    out = []
    for i, target in enumerate(panel.get("targets", [])):
        column = _column(panel, i) if panel["type"] in ("table", "xychart") else None
        if panel["type"] in ("table", "xychart") and column is None:
            continue
        out.append((i, target, column))
    return out


def _shown_unit(panel: dict, target: dict, column: str | None) -> str:
    if column is not None:
        props = _overrides(panel, "byName", column)
    else:
        props = _overrides(panel, "byFrameRefID", target["refId"])
    units_ = [p["value"] for p in props if p["id"] == "unit"]
    return units_[-1] if units_ else panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")


def _is_state(panel: dict) -> bool:
    keys = {k for mp in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", [])
            if mp.get("type") == "value" for k in mp.get("options", {})}
    return {"0", "1"} <= keys


def _steps(thresholds: dict | None) -> list[tuple[str, float | None]]:
    return [(s["color"], s.get("value")) for s in (thresholds or {}).get("steps", [])]


SPEED = [(s["color"], s["value"]) for s in units.SPEED_STEPS]


def headline_problems(board: dict) -> list[str]:
    panels = board.get("panels", [])
    rows = [p["gridPos"]["y"] for p in panels if p.get("type") == "row"]
    top = [p for p in panels if p.get("type") != "row" and p["gridPos"]["y"] == 0]
    if not top or (rows and min(rows) == 0):
        return ["no headline: the first question's panels belong at y=0, above the first row header"]
    return []


def unit_problems(panel: dict, results: dict[int, object]) -> list[str]:
    problems = []
    for i, target, column in _shown(panel):
        result = results.get(i)
        if isinstance(result, Exception):
            continue  # reported by the query rules
        try:
            if result.quantity is None:
                raise units.UnitError(result.unit_error or "no quantity")
            expected = units.display_unit(result.quantity, state=_is_state(panel))
        except units.UnitError as exc:
            problems.append(f"{target['refId']}: {exc}")
            continue
        shown = _shown_unit(panel, target, column)
        if shown != expected:
            problems.append(f"{target['refId']}: unit {shown!r}, but {result.quantity} is shown as {expected!r} "
                            f"everywhere")
        if result.quantity == "factor" and result.metrics & units.SPEED_METRICS:
            where = _overrides(panel, "byName", column) if column else []
            steps = [p["value"] for p in where if p["id"] == "thresholds"] or \
                [panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds")]
            if _steps(steps[-1]) != SPEED:
                problems.append(f"{target['refId']}: a speed without the one speed threshold {SPEED}")
    return problems


def _encoder_series(panel: dict) -> bool:
    if panel["type"] == "xychart":
        return any("encoder" in o.get("fields", []) for o in _transform(panel, "partitionByValues"))
    return any("{{encoder}}" in t.get("legendFormat", "") for t in panel.get("targets", []))


def colour_problems(panel: dict, results: dict[int, object]) -> list[str]:
    problems = []
    fixed = {o["matcher"]["options"]: p["value"].get("fixedColor")
             for o in panel.get("fieldConfig", {}).get("overrides", []) if o["matcher"]["id"] == "byRegexp"
             for p in o["properties"] if p["id"] == "color"}
    for encoder, colour in palette.ENCODER_COLOURS.items():
        pattern = palette.encoder_pattern(encoder)
        if pattern in fixed and fixed[pattern] != colour:
            problems.append(f"{encoder} in {fixed[pattern]!r}, not the palette's {colour!r}")
    if panel["type"] in _SERIES_PANELS | {"xychart"} and _encoder_series(panel):
        missing = [e for e, c in palette.ENCODER_COLOURS.items() if fixed.get(palette.encoder_pattern(e)) != c]
        if missing:
            problems.append(f"series per encoder without the palette's colours for {missing}")
    if panel["type"] == "table" and _table_label_shown(panel, results, "encoder"):
        options = {k: v.get("color") for p in _overrides(panel, "byName", "encoder") if p["id"] == "mappings"
                   for mp in p["value"] for k, v in mp.get("options", {}).items()}
        if options != dict(palette.ENCODER_COLOURS):
            problems.append("an encoder column not in the palette's colours")
    return problems


def _table_label_shown(panel: dict, results: dict[int, object], label: str) -> bool:
    excluded = any(o.get("excludeByName", {}).get(label) for o in _transform(panel, "organize"))
    return not excluded and any(label in r.labels for r in results.values() if not isinstance(r, Exception))


def provenance_problems(panel: dict, results: dict[int, object]) -> list[str]:
    needed: dict[str, str] = {}
    for i, _, _ in _shown(panel):
        result = results.get(i)
        if isinstance(result, Exception) or result.quantity not in ENERGY_QUANTITIES:
            continue
        needed.update({PROVENANCE[name]: name for name in result.metrics if name in PROVENANCE})
    if not needed:
        return []
    shown: set[str] = set()
    for i, target in enumerate(panel.get("targets", [])):
        result = results.get(i)
        if isinstance(result, Exception) or "source" not in result.labels:
            continue
        if _source_displayed(panel, target):
            shown |= result.metrics & set(needed)
    problems = [f"shows {metric} without where it came from (the source of {info})"
                for info, metric in sorted(needed.items()) if info not in shown]
    return problems + _marking_problems(panel, needed)


def _source_displayed(panel: dict, target: dict) -> bool:
    if panel["type"] == "table":
        return not any(o.get("excludeByName", {}).get("source") for o in _transform(panel, "organize"))
    if panel["type"] == "xychart":
        return any("source" in o.get("fields", []) for o in _transform(panel, "partitionByValues"))
    return "{{source}}" in target.get("legendFormat", "")


def _marking_problems(panel: dict, needed: dict[str, str]) -> list[str]:
    problems = []
    if panel["type"] == "table":
        looks = {k: v for p in _overrides(panel, "byName", "source") if p["id"] == "mappings"
                 for mp in p["value"] for k, v in mp.get("options", {}).items()}
        if looks.get(palette.SIMULATED, {}).get("color") != palette.WARNING:
            problems.append(f"its source column does not show simulated in the warning colour {palette.WARNING!r}")
        if looks.get("model", {}).get("text") != palette.ESTIMATED:
            problems.append(f"its source column does not call the model's figures {palette.ESTIMATED!r}")
        return problems
    if panel["type"] != "xychart" and not _overrides(panel, "byRegexp", f".*{palette.SIMULATED}.*"):
        problems.append("simulated figures are not marked (an override on names with 'simulated')")
    scenario_info = m.COST_ENERGY_SOURCE.name
    joined = [t["expr"] for t in panel["targets"] if scenario_info in t["expr"]]
    if scenario_info in needed and joined and not all(f'"{palette.ESTIMATED}"' in e for e in joined):
        problems.append(f"the model's figures are not called {palette.ESTIMATED!r}")
    return problems


def _variables(board: dict) -> list[tuple[str, str, str]]:
    """(name, metric, label) of every label_values() variable."""
    out = []
    for v in board.get("templating", {}).get("list", []):
        match = LABEL_VALUES.match(v.get("query") or "") if v.get("type") == "query" else None
        if match and match.group(1) in METRICS:
            out.append((v["name"], match.group(1), match.group(3)))
    return out


def honours(variable: tuple[str, str, str], metric_name: str, variables: list[tuple[str, str, str]]) -> bool:
    """Whether a selector of `metric_name` must filter by `variable`: a catalog label it has (by the
    variable of that label of its exporter where several share it); `host` on a per-host exporter's
    series; `instance`/`job` on the variable's own exporter's series."""
    name, var_metric, label = variable
    metric, source = METRICS[metric_name], METRICS[var_metric]
    if label in metric.labels:
        rivals = [v for v in variables if v[2] == label]
        return len(rivals) == 1 or source.exporter == metric.exporter
    if label == "host":
        return metric.exporter is not None and EXPORTERS[metric.exporter].per_host
    if label in TARGET_LABELS:
        return source.exporter == metric.exporter
    return False


def variable_problems(panel: dict, variables: list[tuple[str, str, str]]) -> list[str]:
    problems = []
    marks = {name: _MARK.format(name) for name, _, _ in variables}
    for target in panel.get("targets", []):
        try:
            selectors = analyse(expand(target["expr"], values=marks)).selectors
        except ValueError:
            continue  # reported by the query rules
        for s in selectors:
            if s.metric not in METRICS:
                continue
            for variable in variables:
                wanted = (variable[2], "=~", marks[variable[0]])
                if honours(variable, s.metric, variables) and wanted not in s.matchers:
                    problems.append(f"{target['refId']}: {s.metric} ignores ${variable[0]}")
    return problems


def look_problems(board: dict) -> list[str]:
    uid = board.get("uid") or "<no uid>"
    problems = [f"{uid}: {p}" for p in headline_problems(board) + filter_problems(board)]
    variables = _variables(board)
    for panel in iter_panels(board):
        if panel.get("type") == "row":
            continue
        results: dict[int, object] = {}
        for i, target in enumerate(panel.get("targets", [])):
            try:
                results[i] = derive(expand(target.get("expr") or ""))
            except ValueError as exc:  # UnitError included
                results[i] = exc
        found = (unit_problems(panel, results) + colour_problems(panel, results)
                 + provenance_problems(panel, results) + variable_problems(panel, variables))
        problems += [f"{uid} / {panel.get('title')} / {p}" for p in found]
    return problems


def filter_problems(board: dict) -> list[str]:
    """A benchmark dashboard (one selecting scenario series) filters by every scenario label a user
    picks scenarios by, chained: each filter lists the values the ones before it leave."""
    selected: set[str] = set()
    for panel in iter_panels(board):
        for t in panel.get("targets", []):
            try:
                selected |= analyse(expand(t.get("expr") or "")).metrics
            except ValueError:
                continue  # reported by the query rules
    if not any(set(BENCH_LABELS) <= set(METRICS[name].labels) for name in selected if name in METRICS):
        return []
    found = {v["query"].rsplit(",", 1)[-1].strip(" )"): v["query"] for v in board.get("templating", {}).get("list", [])
             if v.get("type") == "query" and LABEL_VALUES.match(v.get("query") or "")}
    problems = [f"no ${label} filter for its scenarios" for label in BENCH_LABELS if label not in found]
    for v in BENCH.vars[1:]:
        query = found.get(v.label, "")
        if query and "{" not in query:
            problems.append(f"${v.label} is not chained to the filters before it")
    return problems
