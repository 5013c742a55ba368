"""XY charts (Grafana's `xychart`): one figure of each scenario against another.

    xychart("Quality against energy per frame", "Which scenarios ...?",
            x=T(per_frame_energy, name="Energy per frame"), y=T(vmaf, name="VMAF"),
            series_by=("encoder", "source"))
    xychart(..., series_by=("encoder", "resolution", "clip"), curves=True)   rate-distortion curves

grafanalib 0.7.1 has no XY chart; `XYChartSpec` is a PanelSpec that writes the panel JSON itself,
in the options of Grafana 11.1 and later (`mapping` and matcher-based `series`; Grafana migrates
the older `seriesMapping`/`dims` only below pluginVersion 11.1, and normalise() sets 11.2.0).
Both targets are table-format instant queries, one row per scenario. The transformations:

1. organize: drop the time and the scrape labels (job and instance differ between exporters);
2. merge: one row per scenario, matched on the labels both rows carry;
3. organize: name the value columns after T.name (after the merge, which drops renamed names);
4. with `curves`: sort by x, so each series' line runs left to right;
5. with `series_by`: partitionByValues on those labels, one frame (one series, one legend entry)
   per combination, named after its values ("libx264 simulated").

Series named after an encoder get its colour (`palette`); the x and y columns are matched by name;
each axis gets its unit from its quantity and its T.name as label.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafanalib import core as g

from ffwatt.dashboards_src import palette
from ffwatt.dashboards_src.grafana import DATASOURCE, PromTarget, RawPanel
from ffwatt.dashboards_src.panels import PanelSpec, T, steps
from ffwatt.dashboards_src.tables import SCRAPE_COLUMNS


@dataclass
class XYChartSpec(PanelSpec):
    series_by: tuple[str, ...] = ()
    curves: bool = False

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
        for label in self.series_by:
            if not any(label in t.q.labels for t in self.targets):
                raise ValueError(f"XY chart {self.title!r}: no target has the label {label!r}")

    @property
    def instant(self) -> bool:
        return True

    def grafana_targets(self) -> list[PromTarget]:
        return [PromTarget(expr=str(t.q), legendFormat="", refId=self.ref_id(i), instant=True, format="table",
                           datasource=DATASOURCE)
                for i, t in enumerate(self.targets)]

    def _transformations(self) -> list[dict]:
        x = self.targets[0]
        steps_ = [
            {"id": "organize", "options": {"excludeByName": {name: True for name in SCRAPE_COLUMNS},
                                           "renameByName": {}, "indexByName": {}}},
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {}, "indexByName": {},
                "renameByName": {f"Value #{self.ref_id(i)}": t.name for i, t in enumerate(self.targets)}}},
        ]
        if self.curves:
            steps_.append({"id": "sortBy", "options": {"fields": {}, "sort": [{"field": x.name, "desc": False}]}})
        if self.series_by:
            steps_.append({"id": "partitionByValues", "options": {
                "fields": list(self.series_by), "keepFields": False, "naming": {"asLabels": False},
            }})
        return steps_

    def _overrides(self) -> list[dict]:
        def axis(t: T, placement: str) -> dict:
            return {"matcher": {"id": "byName", "options": t.name}, "properties": [
                {"id": "unit", "value": self.target_unit(t)},
                {"id": "custom.axisLabel", "value": t.name},
                {"id": "custom.axisPlacement", "value": placement},
            ]}

        x, y = self.targets
        colours = palette.encoder_series() if "encoder" in self.series_by else []
        return [axis(x, "bottom"), axis(y, "left")] + colours

    def build(self, panel_id: int, pos: g.GridPos) -> RawPanel:
        x, y = self.targets
        return RawPanel({
            "type": "xychart",
            "id": panel_id,
            "gridPos": pos.to_json_data(),
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "targets": [t.to_json_data() for t in self.grafana_targets()],
            "transformations": self._transformations(),
            "fieldConfig": {
                "defaults": {
                    "color": {"mode": "palette-classic"},
                    "custom": {"show": "points+lines" if self.curves else "points", "pointSize": {"fixed": 8},
                               "hideFrom": {"legend": False, "tooltip": False, "viz": False}},
                    "mappings": [],
                    "thresholds": {"mode": "absolute", "steps": self.thresholds or steps("green")},
                    "unit": self.unit,
                },
                "overrides": self._overrides(),
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


def xychart(title: str, question: str, *, x: T, y: T, series_by: tuple[str, ...] = (), curves: bool = False,
            w: int = 12, h: int = 10) -> XYChartSpec:
    """y against x, one point per scenario; with series_by, one series per combination of those
    labels' values; with curves, each series' points joined left to right. The panel's unit is y's
    (x's is set on its axis)."""
    return XYChartSpec("xychart", title, question, (x, y), y.q.unit, w, h, series_by=tuple(series_by),
                       curves=curves)
