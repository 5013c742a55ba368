"""The dashboard skeleton every ffwatt dashboard shares.

A dashboard module describes its headline (the panels that answer its users' first question),
rows of PanelSpecs below it, and its filter variables; this module turns that into a grafanalib
Dashboard with the conventions applied in one place:

- the headline at y=0, above every row and without a row header, so the first question is
  answered before any scrolling (after the kubernetes/node mixins' headline rows);
- a `datasource` variable of type datasource (query "prometheus"), defaulting to the
  provisioned VictoriaMetrics datasource (fixed uid "victoriametrics"); every panel and
  target uses {"type": "prometheus", "uid": "${datasource}"}; no `__inputs`;
- filter variables fed by `label_values(metric{earlier filters}, label)` (multi, All = ".*"),
  chained: each lists only the values the filters before it leave; `Filters.on(metric)` gives the
  matchers of every filter the metric can honour, so every query honours every filter;
- tags ["ffwatt", ...], a "dashboards" link list on the tag "ffwatt" (time range and
  variables carried over), schemaVersion 39, browser timezone, a stable uid;
- a panel that rate()s counters scraped more slowly than the datasource's timeInterval
  (the fastest scrape interval) gets their scrape interval as its min interval
  (`min_interval`), so $__rate_interval spans 4 scrapes;
- read-only (`editable: false`), as the provider provisions it (`allowUiUpdates: false`
  in provisioning/dashboards/provider.yml): a change made in the UI could never be saved;
- panels laid out left to right, wrapping at 24 columns, ids in order; each line of panels
  fills the 24 columns and has one height (no holes): widths of a short line are stretched in
  proportion, heights to the line's tallest panel;
- the JSON normalised to what Grafana 11.2 writes (ffwatt/dashboards_src/normalise.py), sorted
  keys, two-space indent and a final newline.
"""


from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from ffwatt.catalog import EXPORTERS, Metric
from ffwatt.dashboards_src.grafana import DATASOURCE
from ffwatt.dashboards_src.normalise import normalise
from ffwatt.dashboards_src.panels import PanelSpec
from ffwatt.dashboards_src.promql import RATE_INTERVAL, TARGET_LABELS, LabelError, selector_text

SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAG = "ffwatt"
# The provisioned datasource (provisioning/datasources/): fixed uid and name.
DEFAULT_DATASOURCE_UID = "victoriametrics"
DEFAULT_DATASOURCE_NAME = "VictoriaMetrics"
# provisioning/dashboards/provider.yml sets allowUiUpdates: false (a test checks they agree).
EDITABLE = False


@dataclass(frozen=True)
class Var:
    """A filter variable: the values of `label` on `metric` (label_values), narrowed by the
    filters before it (`chain`: label -> "$var")."""

    name: str
    metric: Metric
    label: str
    title: str = ""
    chain: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.label not in self.metric.labels and self.label not in TARGET_LABELS:
            raise LabelError(f"variable ${self.name}: {self.metric.name} has no label {self.label!r}")

    @property
    def query(self) -> str:
        return f"label_values({selector_text(self.metric, dict(self.chain))}, {self.label})"

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


class Filters:
    """Chained filter variables over one metric's labels: (name, label, title) each, in order.

        BENCH = Filters(m.RESULTS_SCENARIO_INFO, ("host", "host", "Lab host"), ("clip", "clip", "Clip"), ...)
        selector(m.QOE_VMAF, **BENCH.on(m.QOE_VMAF))    every filter the metric has a label for
    """

    def __init__(self, metric: Metric, *specs: tuple[str, str, str]) -> None:
        self.vars: list[Var] = []
        for name, label, title in specs:
            chain = tuple((v.label, v.ref) for v in self.vars)
            self.vars.append(Var(name, metric, label, title, chain))

    def on(self, metric: Metric) -> dict[str, str]:
        """Matchers of every filter whose label the metric has: a catalog label of it, or a scrape
        label the filter lists (one that is no catalog label of the filter's own metric)."""
        return {v.label: v.ref for v in self.vars
                if v.label in metric.labels or (v.label in TARGET_LABELS and v.label not in v.metric.labels)}


@dataclass
class Row:
    title: str
    panels: list[PanelSpec]


@dataclass
class DashboardSpec:
    uid: str
    title: str
    description: str
    # The panels at y=0 that answer the dashboard's first question, and that question.
    headline: list[PanelSpec]
    question: str
    rows: list[Row]
    variables: list[Var] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    time_from: str = "now-6h"
    refresh: str = "30s"

    @property
    def path(self) -> str:
        return f"provisioning/dashboards/{self.uid}.json"

    def panels(self) -> list[PanelSpec]:
        return self.headline + [p for row in self.rows for p in row.panels]

    def build(self) -> g.Dashboard:
        return g.Dashboard(
            title=self.title, uid=self.uid, description=self.description,
            tags=[TAG, *self.tags], timezone="browser", refresh=self.refresh,
            time=g.Time(self.time_from, "now"), schemaVersion=SCHEMA_VERSION,
            graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, editable=EDITABLE,
            links=[g.DashboardLink(type="dashboards", tags=[TAG], asDropdown=True, title="ffwatt dashboards",
                                   includeVars=True, keepTime=True)],
            templating=g.Templating(list=[datasource_variable(), *(v.template() for v in self.variables)]),
            panels=layout(self.headline, self.rows),
        )

    def to_dict(self) -> dict:
        data = normalise(json.loads(json.dumps(self.build().to_json_data(), cls=DashboardEncoder)))
        intervals = {spec.title: min_interval(spec) for spec in self.panels()}
        for panel in data["panels"]:
            if intervals.get(panel.get("title")):
                panel["interval"] = intervals[panel["title"]]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def iter_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel of a rendered dashboard (`to_dict()`), including panels nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


FASTEST_SCRAPE_SECONDS = min(e.scrape_interval_seconds for e in EXPORTERS.values())


def min_interval(spec: PanelSpec) -> str:
    """A panel's min interval ("15s") when it rate()s counters of an exporter scraped more
    slowly than the datasources' timeInterval (the fastest scrape interval), else "".

    Grafana's $__rate_interval is max($__interval + min interval, 4 x min interval): with
    the panel's min interval at the slowest scrape interval among its counters, every
    rate window spans at least 4 scrapes, so rate() has its two samples on Prometheus
    too at short ranges. A counter every exporter emits (exporter None) counts as the
    slowest exporter's."""
    if not any(RATE_INTERVAL in str(t.q) for t in spec.targets):
        return ""
    slowest = max(e.scrape_interval_seconds for e in EXPORTERS.values())
    seconds = max((EXPORTERS[m.exporter].scrape_interval_seconds if m.exporter in EXPORTERS else slowest
                   for m in spec.metrics if m.kind == "counter"), default=0)
    return f"{seconds:g}s" if seconds > FASTEST_SCRAPE_SECONDS else ""


def datasource_variable() -> g.Template:
    t = g.Template(name="datasource", query="prometheus", type="datasource", label="Data source",
                   includeAll=False, multi=False, regex="", refresh=g.REFRESH_ON_DASHBOARD_LOAD)
    t._current = {"selected": True, "text": DEFAULT_DATASOURCE_NAME, "value": DEFAULT_DATASOURCE_UID}
    return t


def layout(headline: list[PanelSpec], rows: list[Row]) -> list[g.Panel]:
    """The headline at y=0, then row headers and their panels on the 24-column grid, left to
    right, wrapping; each line filled (see `fill_line`)."""
    if not headline:
        raise ValueError("a dashboard answers its first question at the top: give it a headline")
    panels: list[g.Panel] = []
    y = _place(headline, panels, 0)
    for row in rows:
        panels.append(g.RowPanel(title=row.title, id=len(panels) + 1, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y = _place(row.panels, panels, y + 1)
    return panels


def _place(specs: list[PanelSpec], panels: list[g.Panel], y: int) -> int:
    """Append the specs' panels from line y on; the y below them."""
    for line in lines(specs):
        height = max(spec.h for spec in line)
        x = 0
        for spec, width in zip(line, fill_line([spec.w for spec in line]), strict=True):
            panels.append(spec.build(len(panels) + 1, g.GridPos(h=height, w=width, x=x, y=y)))
            x += width
        y += height
    return y


def lines(specs: list[PanelSpec]) -> list[list[PanelSpec]]:
    """The panels of a row split into lines of at most 24 columns, in order."""
    out: list[list[PanelSpec]] = []
    used = GRID_WIDTH
    for spec in specs:
        if used + spec.w > GRID_WIDTH:
            out.append([])
            used = 0
        out[-1].append(spec)
        used += spec.w
    return out


def fill_line(widths: list[int]) -> list[int]:
    """Widths stretched in proportion to fill the 24 columns, the rounding remainder
    given to the last panels: [12] -> [24]; [8, 8] -> [12, 12]; [6, 6, 6] -> [8, 8, 8]."""
    total = sum(widths)
    if total > GRID_WIDTH:
        raise ValueError(f"widths {widths} exceed {GRID_WIDTH} columns")
    filled = [w * GRID_WIDTH // total for w in widths]
    for i in range(GRID_WIDTH - sum(filled)):
        filled[-1 - i % len(filled)] += 1
    return filled
