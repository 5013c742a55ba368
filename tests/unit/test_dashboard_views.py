"""The trade-off views: quality against energy per frame, rate-distortion curves, the energy source
wherever energy is shown, emissions beside cost, the leaderboard and the drill-down from a
scenario (to its dashboards, and to its host over its own window)."""

from __future__ import annotations

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src import build
from ffwatt.dashboards_src.lint import selected_metrics
from ffwatt.dashboards_src.panels import T
from ffwatt.dashboards_src.promql import selector
from ffwatt.dashboards_src.queries import dashboards, iter_panels
from ffwatt.dashboards_src.scenario import DRILL_DOWN, DRILL_DOWN_IN_TIME, ENDED, STARTED, drill_down
from ffwatt.dashboards_src.xychart import xychart

BOARDS = {board["uid"]: board for board in dashboards()}
SCENARIO_DASHBOARDS = ("results-overview", "qoe-metrics", "cost-analysis")
# Metrics whose value is (or is computed from) a scenario's energy.
ENERGY = {m.COST_ENERGY_JOULES.name, m.COST_NET_ENERGY_JOULES.name, m.COST_MEAN_POWER.name, m.COST_NET_POWER.name,
          m.COST_ENERGY.name, m.COST_EMISSIONS.name, m.QOE_QUALITY_PER_WATT.name, m.QOE_EFFICIENCY.name}


def _panel(uid: str, title: str) -> dict:
    return next(p for p in iter_panels(BOARDS[uid]) if p.get("title") == title)


def _transformation(panel: dict, ident: str) -> dict:
    return next(t["options"] for t in panel.get("transformations", []) if t["id"] == ident)


def _renamed(panel: dict) -> dict:
    """Every organize step's renames, in order."""
    return {k: v for t in panel.get("transformations", []) if t["id"] == "organize"
            for k, v in t["options"]["renameByName"].items()}


def _axis_units(panel: dict) -> dict:
    return {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}["unit"]
            for o in panel["fieldConfig"]["overrides"] if o["matcher"]["id"] == "byName"}


def test_quality_against_energy_plots_vmaf_over_the_scenarios_own_joules_per_frame():
    panel = _panel("qoe-metrics", "Quality against energy per frame")
    assert panel["type"] == "xychart"
    x, y = panel["targets"]
    # joules / frames, joined on the scenario's identity across the cost and results exporters
    assert f"{m.COST_ENERGY_JOULES.name}{{" in x["expr"] and "/ on (scenario, " in x["expr"]
    assert f"{m.RESULTS_FRAMES.name}{{" in x["expr"] and y["expr"].startswith(m.QOE_VMAF.name + "{")
    assert all(t["format"] == "table" and t["instant"] for t in panel["targets"])
    steps = [t["id"] for t in panel["transformations"]]
    assert steps == ["organize", "merge", "organize", "partitionByValues"]  # rename after the merge
    assert {"Time", "job", "instance"} <= set(panel["transformations"][0]["options"]["excludeByName"])
    assert _renamed(panel) == {"Value #A": "Energy per frame", "Value #B": "VMAF"}
    assert _transformation(panel, "partitionByValues")["fields"] == ["encoder", "source"]
    (series,) = panel["options"]["series"]
    assert series == {"x": {"matcher": {"id": "byName", "options": "Energy per frame"}},
                      "y": {"matcher": {"id": "byName", "options": "VMAF"}}}
    assert _axis_units(panel) == {"Energy per frame": "si:J/frame", "VMAF": "none"}
    assert "upper left win" in panel["description"]


def test_rate_distortion_draws_curves_of_vmaf_over_bits_per_second_per_encoder_resolution_and_clip():
    panel = _panel("qoe-metrics", "Rate-distortion")
    assert panel["type"] == "xychart"
    x, y = panel["targets"]
    # bytes/s x 8 = bits/s, the unit encoders are compared in
    assert x["expr"].startswith(m.RESULTS_MEASURED_BITRATE.name + "{") and x["expr"].endswith("} * 8")
    assert y["expr"].startswith(m.QOE_VMAF.name + "{")
    assert _transformation(panel, "partitionByValues")["fields"] == ["encoder", "resolution", "clip"]
    # each curve drawn left to right: sorted by bitrate before it is split into series
    assert _transformation(panel, "sortBy")["sort"] == [{"field": "Bitrate", "desc": False}]
    assert panel["fieldConfig"]["defaults"]["custom"]["show"] == "points+lines"
    assert panel["options"]["legend"]["showLegend"] is True
    assert _axis_units(panel) == {"Bitrate": "bps", "VMAF": "none"}


def test_an_xy_chart_refuses_targets_it_cannot_join():
    vmaf = selector(m.QOE_VMAF)
    with pytest.raises(ValueError, match="two targets"):
        xychart("t", "q?", x=T(vmaf, name=""), y=T(vmaf, name="VMAF"))
    with pytest.raises(ValueError, match="no scenario label"):
        xychart("t", "q?", x=T(selector(m.GPU_POWER), name="GPU"), y=T(vmaf, name="VMAF"))
    with pytest.raises(ValueError, match="label 'zone'"):
        xychart("t", "q?", x=T(vmaf, name="a"), y=T(vmaf, name="b"), series_by=("zone",))


@pytest.mark.parametrize("uid", SCENARIO_DASHBOARDS)
def test_every_scenario_table_drills_down_to_the_scenario_dashboards_and_its_host_in_time(uid):
    tables = [p for p in iter_panels(BOARDS[uid]) if p["type"] == "table"]
    assert tables
    for panel in tables:
        assert drill_down() in panel["fieldConfig"]["overrides"], panel["title"]
        # the window the in-time links read: the scenario's start and end, as columns of the row
        renamed = _renamed(panel).values()
        assert {STARTED, ENDED} <= set(renamed), panel["title"]
        starts = [t["expr"] for t in panel["targets"] if m.RESULTS_START.name in t["expr"]]
        assert starts and all(e.endswith(" * 1000") for e in starts)  # ms, what from= takes
    links = drill_down()["properties"][0]["value"]
    for link, (target, _) in zip(links, DRILL_DOWN, strict=False):
        assert link["url"].startswith(f"/d/{target}?var-scenario=${{__data.fields.scenario}}&")
        assert "${datasource:queryparam}" in link["url"] and "${__url_time_range}" in link["url"]
    in_time = links[len(DRILL_DOWN):]
    assert [link["url"].split("?")[0] for link in in_time] == [f"/d/{uid_}" for uid_, _ in DRILL_DOWN_IN_TIME]
    for link in in_time:
        assert "var-host=${__data.fields.host}" in link["url"]
        assert f"from=${{__data.fields.{STARTED}.numeric}}&to=${{__data.fields.{ENDED}.numeric}}" in link["url"]
        assert "${__url_time_range}" not in link["url"]  # the scenario's window, not the dashboard's
    every = {s.uid for s in build.specs()}
    assert {t for t, _ in DRILL_DOWN} == set(SCENARIO_DASHBOARDS) <= every
    assert {t for t, _ in DRILL_DOWN_IN_TIME} <= every
    host_vars = {uid_: [v for v in BOARDS[uid_]["templating"]["list"] if v["name"] == "host"]
                 for uid_, _ in DRILL_DOWN_IN_TIME}
    assert all(host_vars.values()), "every in-time target has the $host the link sets"


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_table_of_energy_figures_says_where_the_energy_came_from(uid):
    for panel in iter_panels(BOARDS[uid]):
        if panel["type"] != "table":
            continue
        shown = selected_metrics({"panels": [panel]})
        if shown & ENERGY:
            assert m.COST_ENERGY_SOURCE.name in shown, panel["title"]
            assert any(o["matcher"] == {"id": "byName", "options": "source"}
                       for o in panel["fieldConfig"]["overrides"]), panel["title"]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_a_dashboard_that_shows_energy_shows_its_source(uid):
    shown = selected_metrics(BOARDS[uid])
    if shown & ENERGY:
        assert m.COST_ENERGY_SOURCE.name in shown


def test_emissions_sit_beside_cost():
    breakdown = _panel("cost-analysis", "Cost breakdown")
    shown = selected_metrics({"panels": [breakdown]})
    assert {m.COST_TOTAL.name, m.COST_EMISSIONS.name} <= shown
    rows = [p["title"] for p in BOARDS["cost-analysis"]["panels"] if p["type"] == "row"]
    assert rows.index("Emissions") == rows.index("Cost") + 2  # after Energy and power, which feeds both


# issue 22: wherever a scenario's energy is tabulated, the machine's stands beside it with the rule.
ATTRIBUTED_OR_MACHINE = {m.COST_ENERGY_JOULES.name, m.COST_MACHINE_ENERGY_JOULES.name}


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_table_of_scenario_energy_shows_machine_energy_and_the_attribution_rule(uid):
    for panel in iter_panels(BOARDS[uid]):
        if panel["type"] not in ("table", "bargauge"):
            continue
        shown = selected_metrics({"panels": [panel]})
        if not shown & ATTRIBUTED_OR_MACHINE:
            continue
        assert ATTRIBUTED_OR_MACHINE <= shown, panel["title"]
        if panel["type"] == "table":  # the rule is a column of the same row
            attribution = next(t for t in panel["targets"] if m.COST_ENERGY_ATTRIBUTION.name in t["expr"])
            assert attribution["format"] == "table" and attribution["instant"], panel["title"]
            organize = _transformation(panel, "organize")
            assert "attribution" not in organize["excludeByName"], panel["title"]
            # both figures are shown columns (renamed, not hidden), whatever they are normalised by
            renamed = _renamed(panel)
            refs = {t["refId"] for t in panel["targets"]}
            for metric in ATTRIBUTED_OR_MACHINE:
                shown = [t for t in panel["targets"] if metric + "{" in t["expr"]
                         and (f"Value #{t['refId']}" in renamed or len(refs) == 1)]
                assert shown, (panel["title"], metric)
        else:  # a bar chart cannot show a label: its description points at the table that does
            assert "energy source table" in panel["description"], panel["title"]


def test_the_attribution_rule_is_on_the_cost_and_qoe_dashboards():
    for uid in ("cost-analysis", "qoe-metrics"):
        assert m.COST_ENERGY_ATTRIBUTION.name in selected_metrics(BOARDS[uid])
        assert m.COST_MACHINE_ENERGY_JOULES.name in selected_metrics(BOARDS[uid])
