"""The trade-off views: quality against energy, rate-distortion, the energy source wherever
energy is tabulated, emissions beside cost, and the drill-down from a scenario."""

from __future__ import annotations

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src import build
from ffwatt.dashboards_src.lint import selected_metrics
from ffwatt.dashboards_src.panels import T, selector
from ffwatt.dashboards_src.queries import dashboards, iter_panels
from ffwatt.dashboards_src.scenario import DRILL_DOWN, drill_down
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


def test_quality_against_energy_is_an_xy_chart_of_vmaf_over_joules_joined_by_scenario():
    panel = _panel("qoe-metrics", "Quality against energy")
    assert panel["type"] == "xychart"
    x, y = panel["targets"]
    assert x["expr"].startswith(m.COST_ENERGY_JOULES.name + "{") and y["expr"].startswith(m.QOE_VMAF.name + "{")
    assert all(t["format"] == "table" and t["instant"] for t in panel["targets"])
    organize = _transformation(panel, "organize")
    assert organize["renameByName"] == {"Value #A": "Energy", "Value #B": "VMAF"}
    assert {"Time", "job", "instance"} <= set(organize["excludeByName"])  # they differ between the exporters
    assert _transformation(panel, "merge") == {}
    (series,) = panel["options"]["series"]
    assert series == {"x": {"matcher": {"id": "byName", "options": "Energy"}},
                      "y": {"matcher": {"id": "byName", "options": "VMAF"}}}
    units = {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}["unit"]
             for o in panel["fieldConfig"]["overrides"]}
    assert units == {"Energy": "joule", "VMAF": "none"}
    assert "upper left win" in panel["description"]


def test_rate_distortion_plots_vmaf_over_bits_per_second_one_series_per_encoder():
    panel = _panel("qoe-metrics", "Rate-distortion")
    assert panel["type"] == "xychart"
    x, y = panel["targets"]
    # bytes/s x 8 = bits/s, the unit encoders are compared in
    assert x["expr"].startswith(m.RESULTS_MEASURED_BITRATE.name + "{") and x["expr"].endswith("} * 8")
    assert y["expr"].startswith(m.QOE_VMAF.name + "{")
    assert _transformation(panel, "partitionByValues")["fields"] == ["encoder"]
    assert panel["options"]["legend"]["showLegend"] is True
    units = {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}["unit"]
             for o in panel["fieldConfig"]["overrides"]}
    assert units == {"Bitrate": "bps", "VMAF": "none"}


def test_an_xy_chart_refuses_targets_it_cannot_join():
    vmaf = selector(m.QOE_VMAF)
    with pytest.raises(ValueError, match="two targets"):
        xychart("t", "q?", x=T(vmaf, name=""), y=T(vmaf, name="VMAF"))
    with pytest.raises(ValueError, match="no scenario label"):
        xychart("t", "q?", x=T(selector(m.GPU_POWER), name="GPU"), y=T(vmaf, name="VMAF"))
    with pytest.raises(ValueError, match="label 'zone'"):
        xychart("t", "q?", x=T(vmaf, name="a"), y=T(vmaf, name="b"), series_by="zone")


@pytest.mark.parametrize("uid", SCENARIO_DASHBOARDS)
def test_every_scenario_table_drills_down_to_the_scenario_dashboards(uid):
    tables = [p for p in iter_panels(BOARDS[uid]) if p["type"] == "table"]
    assert tables
    for panel in tables:
        assert drill_down() in panel["fieldConfig"]["overrides"], panel["title"]
    links = drill_down()["properties"][0]["value"]
    for link, (target, _) in zip(links, DRILL_DOWN, strict=True):
        assert link["url"].startswith(f"/d/{target}?var-scenario=${{__data.fields.scenario}}&")
        assert "${datasource:queryparam}" in link["url"] and "${__url_time_range}" in link["url"]
    assert {target for target, _ in DRILL_DOWN} == set(SCENARIO_DASHBOARDS) <= {s.uid for s in build.specs()}


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
            renamed = organize["renameByName"].values()
            assert {"Energy (own share)", "Machine energy"} <= set(renamed), panel["title"]
        else:  # a bar chart cannot show a label: its description points at the table that does
            assert "energy source table" in panel["description"], panel["title"]


def test_the_attribution_rule_is_on_the_cost_and_qoe_dashboards():
    for uid in ("cost-analysis", "qoe-metrics"):
        assert m.COST_ENERGY_ATTRIBUTION.name in selected_metrics(BOARDS[uid])
        assert m.COST_MACHINE_ENERGY_JOULES.name in selected_metrics(BOARDS[uid])
