"""Tables: several instant queries merged into one row per label set, each value a named column.

    build_table(spec, common, thresholds) -> grafanalib Table

Transformations, in the order Grafana needs them:

1. organize: drop the time, `__name__` and the scrape labels (job and instance differ between
   exporters: rows of one scenario from two exporters would not merge) and the hidden values;
2. merge (several targets): one row per label set;
3. organize: name the value columns (`Value #A` -> T.name) and put the label columns of
   `columns` first. Renaming comes after the merge because Grafana's merge drops a renamed
   field's display name.

Column overrides: each value column's unit where it differs from the panel's; a speed column's
one threshold (`units.SPEED_STEPS`) as coloured text; the `encoder` column in the encoders'
colours and the `source` column in the sources' (`palette`).
"""

from __future__ import annotations

from typing import Any, Protocol

from grafanalib import core as g

from ffwatt.dashboards_src import palette, units

SCRAPE_COLUMNS = ("Time", "__name__", "job", "instance")


class PanelSpec(Protocol):
    """What a table is built from (panels.PanelSpec)."""

    targets: tuple[Any, ...]  # panels.T
    unit: str
    mappings: list
    options: dict

    def ref_id(self, index: int) -> str: ...

    def target_unit(self, t: Any) -> str: ...


def value_column(spec: PanelSpec, index: int) -> str:
    """What Grafana's Prometheus table frames call target `index`'s value."""
    return "Value" if len(spec.targets) == 1 else f"Value #{spec.ref_id(index)}"


def shown_labels(spec: PanelSpec) -> set[str]:
    """Label columns the table keeps."""
    dropped = set(SCRAPE_COLUMNS) | set(spec.options.get("hide", ()))
    return {label for t in spec.targets for label in t.q.labels} - dropped


def _column_overrides(spec: PanelSpec) -> list[dict]:
    overrides = []
    for i, t in enumerate(spec.targets):
        if t.hide:
            continue
        column = t.name or value_column(spec, i)
        properties = []
        if spec.target_unit(t) != spec.unit:
            properties.append({"id": "unit", "value": spec.target_unit(t)})
        if t.speed:
            properties += [{"id": "thresholds", "value": {"mode": "absolute", "steps": units.SPEED_STEPS}},
                           {"id": "custom.cellOptions", "value": {"type": "color-text"}}]
        if properties:
            overrides.append({"matcher": {"id": "byName", "options": column}, "properties": properties})
    labels = shown_labels(spec)
    if "encoder" in labels:
        overrides.append(palette.encoder_column())
    if "source" in labels:
        overrides.append(palette.source_column())
    return overrides


def _transformations(spec: PanelSpec) -> list[dict]:
    o = spec.options
    hidden = {name: True for name in SCRAPE_COLUMNS + tuple(o.get("hide", ()))}
    rename: dict[str, str] = {}
    for i, t in enumerate(spec.targets):
        if t.hide:
            hidden[value_column(spec, i)] = True
        elif t.name and t.name != value_column(spec, i):
            rename[value_column(spec, i)] = t.name
    first = list(o.get("columns", ()))
    order = first + [value_column(spec, i) for i, t in enumerate(spec.targets) if not t.hide]
    index = {name: i for i, name in enumerate(order)}
    if len(spec.targets) == 1:
        return [{"id": "organize", "options": {"excludeByName": hidden, "renameByName": rename,
                                               "indexByName": index}}]
    return [
        {"id": "organize", "options": {"excludeByName": hidden, "renameByName": {}, "indexByName": {}}},
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {}, "renameByName": rename, "indexByName": index}},
    ]


def build_table(spec: PanelSpec, common: dict, thresholds: list[dict]) -> g.Panel:
    o = spec.options
    sort = [g.TableSortByField(displayName=o["sort"], desc=o.get("desc", False))] if o.get("sort") else []
    return g.Table(
        **common, unit=spec.unit, thresholds=thresholds,
        overrides=_column_overrides(spec) + o.get("overrides", []), transformations=_transformations(spec),
        filterable=True, sortBy=sort,
        extraJson={"fieldConfig": {"defaults": {"mappings": spec.mappings}}},
    )
