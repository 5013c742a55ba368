"""The dashboards are right the first time: linted, parsed as PromQL, checked against the
catalog, covering every dashboarded metric, generated deterministically and committed."""

from __future__ import annotations

import copy
import json

import pytest

from ffwatt.catalog import METRICS, UNITS
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src import build, units
from ffwatt.dashboards_src.lint import analyse, dashboard_problems, expr_problems, lint, selected_metrics
from ffwatt.dashboards_src.lint_units import derive
from ffwatt.dashboards_src.panels import T
from ffwatt.dashboards_src.promql import (
    KindError,
    LabelError,
    age,
    as_datetime,
    by,
    divide,
    increase,
    rate,
    selector,
)
from ffwatt.dashboards_src.queries import dashboards, expand, iter_panels, iter_targets, iter_variables
from scripts.generate import GENERATORS, ROOT

BOARDS = {board["uid"]: board for board in dashboards()}
TARGETS = list(iter_targets())
# Labels every series may carry beyond its catalog labels: the scraper's, and the lab host's
# vmagent's `host` (issue 25).
SCRAPE_LABELS = ("job", "instance", "host")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panels(board):
    return [p for p in iter_panels(board) if p["type"] != "row"]


# --- (1) lint ------------------------------------------------------------------------------------


def test_seven_dashboards_and_the_older_stacks_uids_are_kept():
    assert set(BOARDS) == {"cost-analysis", "qoe-metrics", "results-overview", "exporter-health",
                           "host-power", "containers", "live-encoding"}
    assert set(build.LEGACY_UIDS) <= set(BOARDS)


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_dashboard_passes_the_linter(uid):
    assert lint(BOARDS[uid]) == []


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_dashboard_conventions(uid):
    board = BOARDS[uid]
    assert "__inputs" not in board
    assert board["schemaVersion"] >= 36
    assert board["tags"][0] == "ffwatt" and len(board["tags"]) >= 2
    assert board["links"] == [{"asDropdown": True, "icon": "external link", "includeVars": True, "keepTime": True,
                               "tags": ["ffwatt"], "targetBlank": False, "title": "ffwatt dashboards",
                               "tooltip": "", "type": "dashboards", "url": ""}]
    assert board["timezone"] == "browser"
    assert board["refresh"] in ("30s", "10s")
    assert board["time"]["from"].startswith("now-") and board["time"]["to"] == "now"
    variables = board["templating"]["list"]
    assert variables[0]["name"] == "datasource" and variables[0]["type"] == "datasource"
    assert variables[0]["query"] == "prometheus"
    assert variables[0]["current"]["value"] == "victoriametrics"
    assert len(variables) >= 3, "each dashboard has filter variables"
    for v in variables[1:]:
        assert v["type"] == "query" and v["datasource"] == DATASOURCE
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_panel_has_a_description_a_unit_and_the_datasource_variable(uid):
    for panel in _panels(BOARDS[uid]):
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]
        assert panel["type"] in {"timeseries", "stat", "bargauge", "table", "state-timeline", "xychart"}


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_panel_ids_unique_and_grid_without_overlaps(uid):
    everything = list(iter_panels(BOARDS[uid]))
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids))
    boxes = [(p["title"], p["gridPos"]) for p in everything]
    for i, (title, a) in enumerate(boxes):
        assert 0 <= a["x"] and a["x"] + a["w"] <= 24 and a["w"] > 0 and a["h"] > 0, title
        for other, b in boxes[i + 1:]:
            disjoint = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                        or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert disjoint, f"{title} overlaps {other}"


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_row_is_filled_without_holes(uid):
    # The headline (above the first row header) and each row's section cover the 24 columns over
    # their full height.
    sections: list[list[dict]] = [[]]
    for panel in BOARDS[uid]["panels"]:
        if panel["type"] == "row":
            sections.append([])
        else:
            sections[-1].append(panel["gridPos"])
    assert sections[0], "a headline above the first row"
    for boxes in sections:
        top = min(b["y"] for b in boxes)
        bottom = max(b["y"] + b["h"] for b in boxes)
        covered = {(x, y) for b in boxes for x in range(b["x"], b["x"] + b["w"]) for y in range(b["y"], b["y"] + b["h"])}
        assert len(covered) == 24 * (bottom - top), f"a hole in the section starting at y={top}"


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_rate_window_spans_four_scrapes_of_its_counters(uid):
    # $__rate_interval >= 4 x the panel's min interval (its own, else the datasource's
    # timeInterval, the fastest scrape interval): at least the scrape interval of every
    # counter it rates, so the window spans 4 scrapes.
    from ffwatt.catalog import EXPORTERS

    fastest = min(e.scrape_interval_seconds for e in EXPORTERS.values())
    slowest = max(e.scrape_interval_seconds for e in EXPORTERS.values())
    for panel in _panels(BOARDS[uid]):
        min_interval = float(panel.get("interval", f"{fastest}s").rstrip("s"))
        for t in panel["targets"]:
            if "[$__rate_interval]" not in t["expr"]:
                continue
            for s in analyse(expand(t["expr"])).selectors:
                metric = METRICS[s.metric]
                if s.function in ("rate", "increase", "irate"):
                    scrape = EXPORTERS[metric.exporter].scrape_interval_seconds if metric.exporter else slowest
                    assert min_interval >= scrape, (panel["title"], metric.name)


def test_fill_line_stretches_short_lines_in_proportion():
    from ffwatt.dashboards_src.dashboard import fill_line

    assert fill_line([12]) == [24]
    assert fill_line([8, 8]) == [12, 12]
    assert fill_line([6, 6, 6]) == [8, 8, 8]
    assert fill_line([5, 4, 5, 5, 5]) == [5, 4, 5, 5, 5]
    assert fill_line([7, 7, 7]) == [8, 8, 8]  # 7 * 24 // 21 = 8 each
    assert fill_line([10, 10, 3]) == [10, 10, 4]  # 10.43, 10.43, 3.13 -> 10, 10, 3; the 1 left goes last
    with pytest.raises(ValueError):
        fill_line([20, 8])


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_current_value_panels_read_instant_queries_and_graphs_read_ranges(uid):
    for panel in _panels(BOARDS[uid]):
        instant = panel["type"] in ("stat", "table", "bargauge", "xychart")
        for t in panel["targets"]:
            assert t["instant"] is instant and t["range"] is (not instant), panel["title"]
            assert t["format"] == ("table" if panel["type"] in ("table", "xychart") else "time_series")


# --- (2)-(5) every target against PromQL and the catalog ---------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.dashboard}/{t.panel}/{t.ref_id}")
def test_target_parses_and_matches_the_catalog(target):
    variables = {v["name"] for v in BOARDS[target.dashboard]["templating"]["list"]}
    assert expr_problems(target.expr, variables) == []
    analysis = analyse(expand(target.expr))
    assert analysis.selectors, "a target selects at least one metric"
    for s in analysis.selectors:
        metric = METRICS[s.metric]  # (3) in the catalog
        for label, _, _ in s.matchers:
            assert label in metric.labels + SCRAPE_LABELS
        if metric.kind == "counter":  # (5) only inside rate/increase over a range
            assert s.in_range and s.function in {"rate", "increase", "irate", "resets"}
    result = derive(expand(target.expr))  # (4) by/on/group_left ask only labels their results carry
    assert result.problems == []
    assert result.quantity is not None, result.unit_error  # and the result has a known quantity


def test_every_rate_and_increase_uses_a_grafana_window():
    windows = [t.expr for t in TARGETS if "rate(" in t.expr or "increase(" in t.expr]
    assert windows
    for expr in windows:
        assert "[$__rate_interval]" in expr or "[$__range]" in expr, expr


def test_every_dashboarded_metric_is_on_a_panel_and_no_other():
    shown = set().union(*(selected_metrics(board) for board in BOARDS.values()))
    wanted = {name for name, metric in METRICS.items() if metric.dashboarded}
    assert wanted - shown == set(), "dashboarded metrics on no panel"
    assert shown - set(METRICS) == set()


def test_iter_targets_api():
    assert len(TARGETS) > 100
    for t in TARGETS:
        dashboard, panel, ref_id, expr, instant = t  # a 5-tuple
        assert dashboard == t.uid and dashboard in BOARDS
        assert panel and ref_id.isalpha() and expr and isinstance(instant, bool)
    keys = [(t.dashboard, t.panel, t.ref_id) for t in TARGETS]
    assert len(keys) == len(set(keys)), "(dashboard, panel, refId) identifies a target"


def test_iter_variables_api():
    variables = list(iter_variables())
    assert {v.dashboard for v in variables} == set(BOARDS)
    for v in variables:
        dashboard, name, metric, label = v  # a 4-tuple
        assert label in METRICS[metric].labels + SCRAPE_LABELS
        used = [t for t in TARGETS if t.dashboard == dashboard and f"${name}" in t.expr]
        assert used, f"{dashboard}: ${name} filters no panel"


def test_expand_replaces_grafana_variables():
    expr = 'sum by (zone) (rate(x_total{zone=~"$zone",gpu=~"${gpu}"}[$__rate_interval])) + increase(y_total[$__range])'
    assert expand(expr) == 'sum by (zone) (rate(x_total{zone=~".*",gpu=~".*"}[1m])) + increase(y_total[1h])'
    assert expand("a[$__range]", range_="10m", values={"zone": "package"}) == "a[10m]"


# --- (6)-(7) generated, committed, deterministic -------------------------------------------------------


def test_generator_is_registered():
    assert "ffwatt.dashboards_src.build" in GENERATORS


def test_committed_json_and_docs_are_current():
    stale = [path for path, text in build.render().items()
             if not (ROOT / path).exists() or (ROOT / path).read_text(encoding="utf-8") != text]
    assert stale == [], f"run `make dashboards`; stale: {stale}"


def test_render_is_deterministic_sorted_json():
    first, second = build.render(), build.render()
    assert first == second
    for path, text in first.items():
        if path.endswith(".json"):
            assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
            assert path == f"provisioning/dashboards/{json.loads(text)['uid']}.json"


def test_docs_walk_through_every_dashboard_and_panel():
    text = build.render()["docs/dashboards.md"]
    for board in BOARDS.values():
        assert f"uid `{board['uid']}`" in text
        for panel in _panels(board):
            assert f"**{panel['title']}**" in text
    assert "Catalog first" in text
    for metric in METRICS.values():
        if not metric.dashboarded:
            assert f"`{metric.name}`: {metric.why_not_dashboarded}" in text


# --- the linter fails on broken dashboards ---------------------------------------------------------------


def _broken(uid="qoe-metrics"):
    board = copy.deepcopy(BOARDS[uid])
    panel = _panels(board)[0]
    return board, panel


@pytest.mark.parametrize("expr, problem", [
    ("ffwatt_qoe_vmaf_scores", "is not in the catalog"),
    ("ffwatt_cpu_energy_joules_total", "outside rate()/increase()"),
    ("sum(ffwatt_docker_container_cpu_seconds_total)", "outside rate()/increase()"),
    ("max_over_time(ffwatt_cpu_energy_joules_total[$__range])", "outside rate()/increase()"),
    ("rate(ffwatt_cpu_power_watts[$__rate_interval])", "only counters have a rate"),
    ('ffwatt_qoe_vmaf_score{zone=~".*"}', "has no label 'zone'"),
    ("sum by (gpu) (ffwatt_qoe_vmaf_score)", "has no label 'gpu'"),
    ("ffwatt_qoe_vmaf_score / on (stream) ffwatt_qoe_psnr_decibels", "has no label 'stream'"),
    ("rate(ffwatt_cpu_energy_joules_total[5m])", "range [5m]"),
    ('ffwatt_qoe_vmaf_score{scenario="$scenario"}', "needs =~"),
    ('ffwatt_qoe_vmaf_score{scenario=~"$nope"}', "$nope is not a variable"),
    ("sum(ffwatt_qoe_vmaf_score", "does not parse"),
    ('{__name__="ffwatt_qoe_vmaf_score"}', "without a metric name"),
])
def test_linter_catches_a_broken_target(expr, problem):
    board, panel = _broken()
    panel["targets"][0]["expr"] = expr
    problems = lint(board)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("breakage, problem", [
    (lambda b, p: b.update({"__inputs": [{"name": "DS_PROMETHEUS"}]}), "__inputs"),
    (lambda b, p: b.update({"schemaVersion": 12}), "schemaVersion 12"),
    (lambda b, p: b.update({"tags": ["qoe"]}), "tags lack 'ffwatt'"),
    (lambda b, p: b.update({"links": []}), "no links"),
    (lambda b, p: b["templating"]["list"].pop(0), "no `datasource` variable"),
    (lambda b, p: p.update({"description": ""}), "no description"),
    (lambda b, p: p["fieldConfig"]["defaults"].update({"unit": ""}), "no unit"),
    (lambda b, p: p.update({"datasource": "VictoriaMetrics"}), "datasource is not the datasource variable"),
    (lambda b, p: p["targets"][0].update({"datasource": {"uid": "x"}}), "datasource is not the datasource variable"),
    (lambda b, p: p.update({"id": _panels(b)[1]["id"]}), "panel ids are not unique"),
    (lambda b, p: p.update({"gridPos": dict(_panels(b)[1]["gridPos"])}), "overlaps"),
    (lambda b, p: p.update({"gridPos": {"x": 20, "y": 0, "w": 8, "h": 4}}), "24-column grid"),
    (lambda b, p: p.update({"type": "graph"}), "panel type 'graph'"),
    (lambda b, p: b["templating"]["list"][1].update({"query": "label_values(ffwatt_qoe_vmaf_score, zone)"}),
     "has no label 'zone'"),
    (lambda b, p: b["templating"]["list"][1].update({"query": "label_values(ffwatt_nope, scenario)"}),
     "not in the catalog"),
])
def test_linter_catches_a_broken_dashboard(breakage, problem):
    board, panel = _broken()
    breakage(board, panel)
    problems = dashboard_problems(board)
    assert any(problem in p for p in problems), problems


# --- the helpers refuse what the linter would catch, at definition time ----------------------------------


def test_selector_builds_regex_matchers_from_catalog_labels():
    q = selector(m.QOE_VMAF, scenario="$scenario", encoder="$encoder")
    assert q == 'ffwatt_qoe_vmaf_score{scenario=~"$scenario",encoder=~"$encoder"}'
    assert q.unit == "none" and q.metrics == (m.QOE_VMAF,)
    assert selector(m.HEALTH_TARGET_REASON, reason=("!=", "ok")) == 'ffwatt_health_target_failure_reason{reason!="ok"}'
    assert selector(m.RESULTS_SCENARIOS, instance="$instance") == 'ffwatt_results_scenarios{instance=~"$instance"}'


def test_selector_refuses_unknown_labels_counters_and_timestamps():
    with pytest.raises(LabelError, match="has no label 'zone'"):
        selector(m.QOE_VMAF, zone="$zone")
    with pytest.raises(KindError, match="counter"):
        selector(m.CPU_ENERGY)
    with pytest.raises(KindError, match="timestamp"):
        selector(m.RESULTS_FILE_TIMESTAMP)


def test_counter_helpers():
    assert rate(m.CPU_ENERGY, zone="$zone") == \
        'rate(ffwatt_cpu_energy_joules_total{zone=~"$zone"}[$__rate_interval])'
    assert rate(m.CPU_ENERGY).unit == "watt" and rate(m.DOCKER_BLOCK_READ).unit == "Bps"
    with pytest.raises(units.UnitError, match="bits/s"):  # a network or media byte rate is shown x 8
        assert rate(m.DOCKER_NETWORK_RECEIVE).unit
    assert increase(m.CPU_ENERGY) == "increase(ffwatt_cpu_energy_joules_total[$__range])"
    assert increase(m.CPU_ENERGY).unit == "joule"
    with pytest.raises(KindError, match="only counters"):
        rate(m.CPU_POWER)
    with pytest.raises(ValueError, match="window"):
        increase(m.CPU_ENERGY, window="5m")


def test_timestamp_helpers():
    assert age(m.RESULTS_FILE_TIMESTAMP) == "time() - ffwatt_results_file_timestamp_seconds"
    assert age(m.RESULTS_FILE_TIMESTAMP).unit == "s"
    assert as_datetime(m.RESULTS_START).unit == "dateTimeAsIso"
    with pytest.raises(KindError):
        age(m.CPU_POWER)


def test_aggregation_and_legend_labels_are_checked():
    q = by("sum", rate(m.CPU_ENERGY), "socket", "zone")
    assert q == "sum by (socket, zone) (rate(ffwatt_cpu_energy_joules_total[$__rate_interval]))"
    assert T(q, "{socket} {zone}").legend_format == "{{socket}} {{zone}}"
    with pytest.raises(LabelError):
        by("sum", rate(m.CPU_ENERGY), "gpu")
    with pytest.raises(LabelError):
        T(by("sum", q, "zone"), "{socket}")  # socket no longer on the result
    with pytest.raises(LabelError):
        divide(selector(m.DOCKER_MEMORY_WORKING_SET), selector(m.GPU_MEMORY_TOTAL))


def test_every_catalog_unit_is_shown_in_one_grafana_unit_or_refused_with_a_reason():
    assert set(UNITS) <= set(units.DISPLAY) | set(units.NOT_SHOWN)
    for metric in METRICS.values():
        if metric.kind == "counter":  # every counter's rate and increase have a rule
            units.display_unit(units.increase_quantity(metric))
            assert units.rate_quantity(metric) in units.DISPLAY or units.rate_quantity(metric) == "bytes_per_second"


def test_panel_units_follow_the_catalog():
    board = BOARDS["host-power"]
    units_ = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in _panels(board)}
    assert units_["CPU power per zone (from the joules counter)"] == "watt"
    assert units_["CPU energy per zone over the range"] == "joule"
    assert units_["GPU temperature"] == "celsius"
    assert units_["GPU memory"] == "bytes"
    assert units_["GPU clocks"] == "hertz"
    qoe = {p["title"]: p for p in _panels(BOARDS["qoe-metrics"])}
    assert qoe["Frame drop ratio"]["fieldConfig"]["defaults"]["unit"] == "percentunit"
    steps = qoe["VMAF per scenario"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    # The base step is -Infinity: Grafana writes it without a value.
    assert [(s["color"], s.get("value")) for s in steps] == [("red", None), ("yellow", 70), ("green", 85)]
    assert "value" not in steps[0]


def test_descriptions_carry_the_catalog_help():
    for board in BOARDS.values():
        for panel in _panels(board):
            for name in selected_metrics({"panels": [panel]}):
                assert METRICS[name].help in panel["description"], (panel["title"], name)


def test_health_status_is_mapped_to_up_and_down():
    status = next(p for p in _panels(BOARDS["exporter-health"]) if p["title"] == "Status per target")
    options = status["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert options["1"]["text"] == "UP" and options["1"]["color"] == "green"
    assert options["0"]["text"] == "DOWN" and options["0"]["color"] == "red"


# --- lab hosts (issue 25) ------------------------------------------------------------------------


def _per_host_metric(name: str) -> bool:
    from ffwatt.catalog import EXPORTERS

    metric = METRICS[name]
    return metric.exporter is not None and EXPORTERS[metric.exporter].per_host


@pytest.mark.parametrize("uid", ["host-power", "containers", "live-encoding"])
def test_per_host_dashboards_filter_every_per_host_series_by_the_host_variable(uid):
    board = BOARDS[uid]
    host = [v for v in board["templating"]["list"] if v["name"] == "host"]
    assert host and host[0]["query"].endswith(", host)"), "a $host filter fed by label_values(..., host)"
    checked = 0
    for t in (t for t in TARGETS if t.dashboard == uid):
        for s in analyse(expand(t.expr, values={"host": "__HOST__"})).selectors:
            if _per_host_metric(s.metric):
                assert ("host", "=~", "__HOST__") in s.matchers, f"{t.panel}: {s.metric} ignores $host"
                checked += 1
    assert checked > 5


def test_per_host_sums_stay_per_host():
    # "the host's CPU power" over a fleet: one figure per host, never the fleet's sum
    for t in TARGETS:
        if t.dashboard != "host-power" or not t.expr.startswith("sum("):
            continue
        raise AssertionError(f"{t.panel}: {t.expr} sums over every host")


def test_results_qoe_and_cost_series_carry_the_scenario_host_preset_and_clip():
    # issues 25 and 33: the benchmark dashboards filter and compare by host, preset and clip
    for name, metric in METRICS.items():
        if metric.exporter in ("results", "qoe", "cost") and "scenario" in metric.labels \
                and "sweep" not in metric.labels:
            assert {"host", "preset", "clip"} <= set(metric.labels), name
