"""grafanalib's dashboard JSON turned into the sparse JSON Grafana 11.2 itself writes.

    normalise(board: dict) -> dict   (a new dict; the input is not changed)

The one place generated dashboards are normalised; `DashboardSpec.to_dict()` calls it,
so every dashboard, whichever module and helper built its panels, goes through it.
grafanalib 0.7.1 writes the Grafana 5-7 model: `null` for every unset attribute and keys
Grafana dropped long ago. What comes out:

- no `null` anywhere: an unset attribute is left out, as Grafana does (the first
  threshold step, `-Infinity`, is written without a value: Grafana sets it on load);
  a `null` inside a list is a bug and raises;
- none of grafanalib's legacy keys: `hideControls`, `sharedCrosshair`, `style`, `rows`,
  `__inputs` on the dashboard; `editable`, `error`, `span`, `minSpan`, `height` on
  panels; `columns`, `fontSize`, `color`, `mappings`, `styles` beside a table's
  fieldConfig; `useTags`, `tags`, `tagsQuery`, `tagValuesQuery`, `definition` and the
  interval-only `auto*` keys on variables; rows keep only the keys of Grafana's row
  model (no `targets`, `fieldConfig`, `maxDataPoints`, `transformations`, `links`...);
  panel keys left at Grafana's default (`transparent: false`, `links: []`, ...) dropped;
- `pluginVersion` (`GRAFANA_VERSION`) on every panel but rows, so Grafana runs none of
  its panel migrations from 6.x on load;
- table cells in the schema-38 form: `custom.cellOptions` instead of
  `custom.displayMode`, in defaults and overrides, converted as Grafana's own
  migration does;
- units: no space after `suffix:`/`prefix:` (Grafana adds one: `suffix: fps` renders
  "30  fps"). Which unit a panel shows is decided before, by `units`.

The unit tests decode every result with Grafana's typed SDK and fail on a key it does
not know, a `null` or one of the legacy keys above (tests/unit/test_grafana_schema.py).
"""

from __future__ import annotations

import copy
from typing import Any

# docker-compose.yml pins grafana/grafana-oss:11.2.0; keep in step with it (and with the
# grafana-foundation-sdk pin of the `test` extra).
GRAFANA_VERSION = "11.2.0"

LEGACY_DASHBOARD_KEYS = ("__inputs", "rows", "hideControls", "sharedCrosshair", "style")
LEGACY_PANEL_KEYS = ("editable", "error", "span", "minSpan", "height")
LEGACY_TABLE_KEYS = ("columns", "fontSize", "color", "mappings", "styles", "scroll", "sort", "transform")
LEGACY_VARIABLE_KEYS = ("useTags", "tags", "tagsQuery", "tagValuesQuery", "definition")
INTERVAL_VARIABLE_KEYS = ("auto", "auto_count", "auto_min")
LEGACY_TIMEPICKER_KEYS = ("time_options", "nowDelay", "hidden")
# Every key Grafana's row model has; a row keeps these and nothing else.
ROW_KEYS = ("collapsed", "gridPos", "id", "panels", "repeat", "title", "type")
# Panel keys at the value Grafana leaves out.
PANEL_DEFAULTS: dict[str, Any] = {"hideTimeOverride": False, "transparent": False, "links": [],
                                  "transformations": [], "interval": "", "timeFrom": "", "timeShift": ""}

# Grafana's migrateTableDisplayModeToCellOptions (schema 38).
_GAUGE_MODES = {"basic": "basic", "gradient-gauge": "gradient", "lcd-gauge": "lcd"}


def normalise(board: dict) -> dict:
    """The dashboard as Grafana 11.2 would save it (see the module docstring)."""
    out = _without_nulls(copy.deepcopy(board), "$")
    for key in LEGACY_DASHBOARD_KEYS:
        out.pop(key, None)
    timepicker = out.get("timepicker")
    if isinstance(timepicker, dict):
        for key in LEGACY_TIMEPICKER_KEYS:
            timepicker.pop(key, None)
    for variable in out.get("templating", {}).get("list", []):
        _variable(variable)
    out["panels"] = [_panel(p) for p in out.get("panels", [])]
    return out


def _without_nulls(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if any(item is None for item in value):
            raise ValueError(f"{path}: a null inside a list; Grafana has no meaning for it")
        return [_without_nulls(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _variable(variable: dict) -> None:
    for key in LEGACY_VARIABLE_KEYS:
        variable.pop(key, None)
    if variable.get("type") != "interval":
        for key in INTERVAL_VARIABLE_KEYS:
            variable.pop(key, None)


def _panel(panel: dict) -> dict:
    if panel.get("type") == "row":
        row = {k: v for k, v in panel.items() if k in ROW_KEYS}
        row["panels"] = [_panel(p) for p in row.get("panels", [])]
        return row
    for key in LEGACY_PANEL_KEYS:
        panel.pop(key, None)
    for key, default in PANEL_DEFAULTS.items():
        if key in panel and panel[key] == default:
            del panel[key]
    panel["pluginVersion"] = GRAFANA_VERSION
    field_config = panel.get("fieldConfig", {})
    if panel.get("type") == "table":
        for key in LEGACY_TABLE_KEYS:
            panel.pop(key, None)
        _cell_options(field_config)
    _units(field_config)
    return panel


def _cell_options(field_config: dict) -> None:
    custom = field_config.get("defaults", {}).get("custom", {})
    if "displayMode" in custom:
        custom["cellOptions"] = cell_options(custom.pop("displayMode"))
    for override in field_config.get("overrides", []):
        for prop in override.get("properties", []):
            if prop.get("id") == "custom.displayMode":
                prop["id"] = "custom.cellOptions"
                prop["value"] = cell_options(prop.get("value", "auto"))


def cell_options(display_mode: str) -> dict:
    """A table's pre-schema-38 `custom.displayMode` as `custom.cellOptions`."""
    if display_mode in _GAUGE_MODES:
        return {"type": "gauge", "mode": _GAUGE_MODES[display_mode]}
    if display_mode == "color-background":
        return {"type": "color-background", "mode": "gradient"}
    if display_mode == "color-background-solid":
        return {"type": "color-background", "mode": "basic"}
    return {"type": display_mode}


def grafana_unit(unit: str) -> str:
    """`suffix: fps` -> `suffix:fps`: Grafana puts its own space before a custom suffix."""
    for kind in ("suffix:", "prefix:"):
        if unit.startswith(kind):
            return kind + unit[len(kind):].strip()
    return unit


def _units(field_config: dict) -> None:
    defaults = field_config.get("defaults", {})
    if isinstance(defaults.get("unit"), str):
        defaults["unit"] = grafana_unit(defaults["unit"])
    for override in field_config.get("overrides", []):
        for prop in override.get("properties", []):
            if prop.get("id") == "unit" and isinstance(prop.get("value"), str):
                prop["value"] = grafana_unit(prop["value"])
