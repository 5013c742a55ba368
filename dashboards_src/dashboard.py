"""The dashboard skeleton every ffwatt dashboard shares.

A dashboard module describes rows of PanelSpecs and its filter variables; this module
turns that into a grafanalib Dashboard with the conventions applied in one place:

- a `datasource` variable of type datasource (query "prometheus"), defaulting to the
  provisioned VictoriaMetrics datasource (fixed uid "victoriametrics"); every panel and
  target uses {"type": "prometheus", "uid": "${datasource}"}; no `__inputs`;
- filter variables fed by `label_values(metric, label)` (multi, All = ".*"), the
  label checked against the catalog metric;
- tags ["ffwatt", ...], a "dashboards" link list on the tag "ffwatt" (time range and
  variables carried over), schemaVersion 39, browser timezone, a stable uid;
- panels laid out left to right under their row, wrapping at 24 columns, ids in order;
- JSON with sorted keys, two-space indent and a final newline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from catalog import Metric
from dashboards_src.panels import DATASOURCE, TARGET_LABELS, LabelError, PanelSpec

SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAG = "ffwatt"
# The provisioned datasource (provisioning/datasources/): fixed uid and name.
DEFAULT_DATASOURCE_UID = "victoriametrics"
DEFAULT_DATASOURCE_NAME = "VictoriaMetrics"


@dataclass(frozen=True)
class Var:
    """A filter variable: the values of `label` on `metric` (label_values)."""

    name: str
    metric: Metric
    label: str
    title: str = ""

    def __post_init__(self) -> None:
        if self.label not in self.metric.labels and self.label not in TARGET_LABELS:
            raise LabelError(f"variable ${self.name}: {self.metric.name} has no label {self.label!r}")

    @property
    def query(self) -> str:
        return f"label_values({self.metric.name}, {self.label})"

    @property
    def ref(self) -> str:
        """The value to put in a matcher: selector(m, label=var.ref)."""
        return f"${self.name}"

    def template(self) -> g.Template:
        t = g.Template(
            name=self.name, query=self.query, dataSource=DATASOURCE, label=self.title or self.name.capitalize(),
            allValue=".*", includeAll=True, multi=True, refresh=g.REFRESH_ON_TIME_RANGE_CHANGE, sort=1,
        )
        t._current = {"selected": True, "text": ["All"], "value": ["$__all"]}
        return t


@dataclass
class Row:
    title: str
    panels: list[PanelSpec]


@dataclass
class DashboardSpec:
    uid: str
    title: str
    description: str
    rows: list[Row]
    variables: list[Var] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    time_from: str = "now-6h"
    refresh: str = "30s"

    @property
    def path(self) -> str:
        return f"provisioning/dashboards/{self.uid}.json"

    def panels(self) -> list[PanelSpec]:
        return [p for row in self.rows for p in row.panels]

    def build(self) -> g.Dashboard:
        return g.Dashboard(
            title=self.title, uid=self.uid, description=self.description,
            tags=[TAG, *self.tags], timezone="browser", refresh=self.refresh,
            time=g.Time(self.time_from, "now"), schemaVersion=SCHEMA_VERSION,
            graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, editable=True,
            links=[g.DashboardLink(type="dashboards", tags=[TAG], asDropdown=True, title="ffwatt dashboards",
                                   includeVars=False, keepTime=True)],
            templating=g.Templating(list=[datasource_variable(), *(v.template() for v in self.variables)]),
            panels=layout(self.rows),
        )

    def to_dict(self) -> dict:
        data = json.loads(json.dumps(self.build().to_json_data(), cls=DashboardEncoder))
        for legacy in ("__inputs", "rows"):  # file provisioning resolves no __inputs; rows is schema < 16
            data.pop(legacy, None)
        for variable in data["templating"]["list"]:
            if variable["type"] == "query":
                variable["definition"] = variable["query"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def datasource_variable() -> g.Template:
    t = g.Template(name="datasource", query="prometheus", type="datasource", label="Data source",
                   includeAll=False, multi=False, regex="", refresh=g.REFRESH_ON_DASHBOARD_LOAD)
    t._current = {"selected": True, "text": DEFAULT_DATASOURCE_NAME, "value": DEFAULT_DATASOURCE_UID}
    return t


def layout(rows: list[Row]) -> list[g.Panel]:
    """Row headers and their panels on the 24-column grid, left to right, wrapping."""
    panels: list[g.Panel] = []
    next_id = 1
    y = 0
    for row in rows:
        panels.append(g.RowPanel(title=row.title, id=next_id, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for spec in row.panels:
            if x + spec.w > GRID_WIDTH:
                y += line_height
                x = 0
                line_height = 0
            panels.append(spec.build(next_id, g.GridPos(h=spec.h, w=spec.w, x=x, y=y)))
            next_id += 1
            x += spec.w
            line_height = max(line_height, spec.h)
        y += line_height
    return panels
