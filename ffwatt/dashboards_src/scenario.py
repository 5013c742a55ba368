"""What the per-scenario views share: drill-down links and the energy source column.

    table(..., energy_source(**F), overrides=[drill_down(), SOURCE_COLUMN])

- `drill_down()`: a fieldConfig override putting data links on a table's `scenario`
  column: the same scenario on the results-overview, qoe-metrics and cost-analysis
  dashboards, with the data source and the time range carried
  (`var-scenario=${__data.fields.scenario}&${datasource:queryparam}&${__url_time_range}`).
- `energy_source(**matchers)`: a table target whose value is hidden and whose `source`
  label becomes a column (measured: rapl, nvml, rapl+nvml, samples, tsdb; not measured:
  model, simulated, unavailable); the table's merge puts it on the scenario's row.
- `SOURCE_COLUMN`: that column coloured, measured sources green/blue, the estimate
  orange, simulated purple, nothing red.
- `energy_attribution(**matchers)`: the same for the rule that split the machine's energy
  into the scenario's share (`attribution` column; empty where the file did not record it).
- `energy_columns(**matchers)`: the scenario's attributed energy beside the machine's, with
  the attribution rule: what every table of energy per scenario shows.
"""

from __future__ import annotations

from ffwatt.catalog import ENERGY_SOURCES
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.panels import T, is_one, selector

# The dashboards a scenario drills down to, by uid (tests check they exist).
DRILL_DOWN = (("results-overview", "Results overview"), ("qoe-metrics", "QoE metrics"),
              ("cost-analysis", "Cost analysis"))
SCENARIO_FIELD = "scenario"
# What every link carries: the scenario of the row, the data source and the time range.
CARRIED = "var-scenario=${__data.fields.scenario}&${datasource:queryparam}&${__url_time_range}"

SOURCE_COLOURS = {"rapl": "green", "nvml": "green", "rapl+nvml": "green", "samples": "green", "tsdb": "blue",
                  "model": "orange", "simulated": "purple", "unavailable": "red"}
if set(SOURCE_COLOURS) != set(ENERGY_SOURCES):
    raise ValueError(f"colour every catalog energy source: {sorted(ENERGY_SOURCES)}")


def drill_down() -> dict:
    """The `scenario` column's data links to the same scenario on the scenario dashboards."""
    links = [{"title": f"{title}: ${{__data.fields.scenario}}", "url": f"/d/{uid}?{CARRIED}"}
             for uid, title in DRILL_DOWN]
    return {"matcher": {"id": "byName", "options": SCENARIO_FIELD}, "properties": [{"id": "links", "value": links}]}


def energy_source(**matchers) -> T:
    """A hidden-value target adding each scenario's energy source as a `source` column."""
    return T(is_one(selector(m.COST_ENERGY_SOURCE, **matchers)), hide=True)


def energy_attribution(**matchers) -> T:
    """A hidden-value target adding each scenario's attribution rule as an `attribution` column."""
    return T(selector(m.COST_ENERGY_ATTRIBUTION, **matchers), hide=True)


def energy_columns(**matchers) -> tuple[T, ...]:
    """The scenario's own (attributed) energy, the whole machine's over its window, and the rule."""
    return (T(selector(m.COST_ENERGY_JOULES, **matchers), name="Energy (own share)"),
            T(selector(m.COST_MACHINE_ENERGY_JOULES, **matchers), name="Machine energy"),
            energy_attribution(**matchers))


def source_mappings() -> list[dict]:
    return [{"type": "value", "options": {
        source: {"text": source, "color": colour, "index": i}
        for i, (source, colour) in enumerate(SOURCE_COLOURS.items())
    }}]


SOURCE_COLUMN = {"matcher": {"id": "byName", "options": "source"}, "properties": [
    {"id": "mappings", "value": source_mappings()},
    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
]}
