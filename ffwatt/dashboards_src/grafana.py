"""grafanalib adapters: the JSON shapes grafanalib 0.7.1 writes in an older form, or not at all.

    DATASOURCE       what every panel and target names: the dashboard's `datasource` variable
    PromTarget       a Prometheus target without grafanalib's legacy fields
    ModernBarGauge   a bar gauge in the fieldConfig/reduceOptions shape of Grafana 7 and later
    RawPanel         a panel already in Grafana's JSON form (the XY chart)
"""

from __future__ import annotations

import attr
from grafanalib import core as g

# The datasource every panel and target uses: the dashboard's `datasource` variable.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@attr.s
class PromTarget(g.Target):
    """grafanalib's Target without the legacy Graphite/step fields, with the `range`
    flag current Grafana reads beside `instant`."""

    def to_json_data(self) -> dict:
        return {
            "datasource": self.datasource,
            "editorMode": "code",
            "expr": self.expr,
            "format": self.format,
            "hide": self.hide,
            "instant": self.instant,
            "interval": self.interval,
            "legendFormat": self.legendFormat,
            "range": not self.instant,
            "refId": self.refId,
        }


@attr.s
class ModernBarGauge(g.BarGauge):
    """grafanalib 0.7.1's BarGauge writes the Grafana 6 `options.fieldOptions` shape;
    this writes the fieldConfig/reduceOptions shape of Grafana 7 and later."""

    overrides = attr.ib(factory=list)

    def to_json_data(self) -> dict:
        return self.panel_json({
            "fieldConfig": {
                "defaults": {
                    "color": {"mode": "thresholds"},
                    "decimals": self.decimals,
                    "mappings": self.valueMaps,
                    "max": self.max,
                    "min": self.min,
                    "unit": self.format,
                },
                "overrides": self.overrides,
            },
            "options": {
                "displayMode": self.displayMode,
                "minVizHeight": 16,
                "minVizWidth": 8,
                "namePlacement": "auto",
                "orientation": self.orientation,
                "reduceOptions": {"calcs": [self.calc], "fields": "", "values": False},
                "showUnfilled": True,
                "sizing": "auto",
                "valueMode": "color",
            },
            "type": g.BARGAUGE_TYPE,
        })

    def __attrs_post_init__(self) -> None:
        self.calc = "lastNotNull"


class RawPanel:
    """A panel already in Grafana's JSON form, for grafanalib's encoder."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def to_json_data(self) -> dict:
        return self.data
