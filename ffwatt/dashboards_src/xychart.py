"""XY charts (Grafana's `xychart`): one figure of each scenario against another.

    xychart("Quality against energy", "Which scenarios ...?",
            x=T(selector(m.COST_ENERGY_JOULES, **F), name="Energy"),
            y=T(selector(m.QOE_VMAF, **F), name="VMAF"))
    xychart(..., series_by="encoder")     one series (colour, legend entry) per encoder

grafanalib 0.7.1 has no XY chart; `XYChartSpec` is a PanelSpec that writes the panel
JSON itself, in the options of Grafana 11.1 and later (`mapping` and matcher-based
`series`; Grafana migrates the older `seriesMapping`/`dims` only below pluginVersion 11.1,
and normalise() sets 11.2.0). Both targets are table-format instant queries, one row per
scenario. The transformations join them by scenario:

1. organize: drop the time and the scrape labels (job and instance differ between
   exporters) and name the value columns after T.name;
2. merge: one row per scenario, matched on the labels both rows carry (scenario,
   encoder, bitrate, resolution);
3. with `series_by`: partitionByValues on that label, one frame per value, each frame
   one series of points (named after the value).

The x and y columns are matched by name; each axis gets its unit from the catalog
(T.value_unit) and its T.name as label.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafanalib import core as g

from ffwatt.dashboards_src.panels import DATASOURCE, PanelSpec, PromTarget, T, steps


class RawPanel:
    """A panel already in Grafana's JSON form, for grafanalib's encoder."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def to_json_data(self) -> dict:
        return self.data


@dataclass
class XYChartSpec(PanelSpec):
    series_by: str = ""

    def __post_init__(self) -> None:
        if len(self.targets) != 2 or not all(t.name for t in self.targets):
            raise ValueError(f"XY chart {self.title!r}: two targets, x then y, each with a name")
        if not self.question.strip():
            raise ValueError(f"panel {self.title!r}: say what it answers")
        if not 1 <= self.w <= 24:
            raise ValueError(f"panel {self.title!r}: width {self.w} is not 1..24")
        for t in self.targets:
            if "scenario" not in t.q.labels:
                raise ValueError(f"XY chart {self.title!r}: {t.q} has no scenario label to join on")
        if self.series_by and not all(self.series_by in t.q.labels for t in self.targets):
            raise ValueError(f"XY chart {self.title!r}: not every target has the label {self.series_by!r}")

    @property
    def instant(self) -> bool:
        return True

    def grafana_targets(self) -> list[PromTarget]:
        return [PromTarget(expr=str(t.q), legendFormat="", refId=self.ref_id(i), instant=True, format="table",
                           datasource=DATASOURCE)
                for i, t in enumerate(self.targets)]

    def build(self, panel_id: int, pos: g.GridPos) -> RawPanel:
        x, y = self.targets
        transformations = [
            {"id": "organize", "options": {
                "excludeByName": {name: True for name in ("Time", "__name__", "job", "instance")},
                "renameByName": {f"Value #{self.ref_id(i)}": t.name for i, t in enumerate(self.targets)},
                "indexByName": {},
            }},
            {"id": "merge", "options": {}},
        ]
        if self.series_by:
            transformations.append({"id": "partitionByValues", "options": {
                "fields": [self.series_by], "keepFields": False, "naming": {"asLabels": False},
            }})

        def axis(t: T, placement: str) -> dict:
            return {"matcher": {"id": "byName", "options": t.name}, "properties": [
                {"id": "unit", "value": t.value_unit},
                {"id": "custom.axisLabel", "value": t.name},
                {"id": "custom.axisPlacement", "value": placement},
            ]}

        return RawPanel({
            "type": "xychart",
            "id": panel_id,
            "gridPos": pos.to_json_data(),
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "targets": [t.to_json_data() for t in self.grafana_targets()],
            "transformations": transformations,
            "fieldConfig": {
                "defaults": {
                    "color": {"mode": "palette-classic"},
                    "custom": {"show": "points", "pointSize": {"fixed": 8},
                               "hideFrom": {"legend": False, "tooltip": False, "viz": False}},
                    "mappings": [],
                    "thresholds": {"mode": "absolute", "steps": self.thresholds or steps("green")},
                    "unit": self.unit,
                },
                "overrides": [axis(x, "bottom"), axis(y, "left")],
            },
            "options": {
                "mapping": "auto",
                "series": [{"x": {"matcher": {"id": "byName", "options": x.name}},
                            "y": {"matcher": {"id": "byName", "options": y.name}}}],
                "legend": {"showLegend": bool(self.series_by), "displayMode": "list", "placement": "bottom",
                           "calcs": []},
                "tooltip": {"mode": "single", "sort": "none"},
            },
        })


def xychart(title: str, question: str, *, x: T, y: T, series_by: str = "", w: int = 12, h: int = 10) -> XYChartSpec:
    """y against x, one point per scenario; with series_by, one series per value of that label.
    The panel's unit is y's (x's is set on its axis)."""
    return XYChartSpec("xychart", title, question, (x, y), y.value_unit, w, h, series_by=series_by)
