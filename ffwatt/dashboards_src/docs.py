"""docs/dashboards.md, written from the dashboard definitions so it never goes stale."""

from __future__ import annotations

from ffwatt.catalog import METRICS
from ffwatt.dashboards_src.dashboard import (
    DEFAULT_DATASOURCE_NAME,
    DEFAULT_DATASOURCE_UID,
    SCHEMA_VERSION,
    DashboardSpec,
    iter_panels,
)
from ffwatt.dashboards_src.normalise import GRAFANA_VERSION
from ffwatt.dashboards_src.panels import PanelSpec

_INTRO = f"""\
# ffwatt dashboards

Generated from `ffwatt/dashboards_src/` by `make dashboards`; do not edit by hand.

Seven Grafana dashboards, written as code with grafanalib from the metric catalog
(`ffwatt/catalog/`), provisioned from `provisioning/dashboards/<uid>.json`. Each answers its
users' first question in its headline, at the top (y=0), before any scrolling; the rows below
hold the detail. Every panel's unit, description and legend labels come from the catalog entries
it queries, so a panel cannot query a metric or a label no exporter emits.

## What is proven here, and what is not

Grafana itself cannot be installed on the machines ffwatt is built on, so each dashboard is
proven in these ways instead, every run of `make test`:

- **Schema**: Grafana's own typed SDK (`grafana-foundation-sdk`, the {GRAFANA_VERSION} line)
  decodes every dashboard, and encoding it again gives back every key
  (`tests/unit/test_grafana_schema.py`);
- **Queries**: every target parses as PromQL (promql-parser) once Grafana's variables are
  replaced; every metric is in the catalog, every matched, grouped or joined label is on the
  result it is asked of, counters appear only in rate()/increase() (`tests/unit/test_dashboards.py`);
- **Lint** (`ffwatt/dashboards_src/lint.py`, `tests/unit/test_dashboard_lint.py`): a headline at
  y=0; each value's unit derived from the catalog unit and what the query does to it, one unit
  per quantity; one speed threshold; the encoder palette; every filter variable honoured by
  every query, and the benchmark filters chained; where every energy figure came from. On the
  dashboards before this version it found 146 problems (e.g. "Publishing streams" as
  `percentunit`, bitrates in bytes/s, speed as a percentage, no headline);
- **Data**: with every exporter running on the sample data, scraped by a real VictoriaMetrics
  and a real Prometheus, every target of every panel returns data
  (`tests/e2e/test_every_panel_has_data.py`; `make demo` checks the same after a real benchmark).

Not proven, because only a running Grafana shows it: how panels look (colours, stacking,
legends, column order); that Grafana's transformations (merge, organize, partitionByValues,
sortBy) shape the frames as intended; that the colour overrides by regular expression match the
series names Grafana derives; and that the data links open the target dashboard with the
scenario's host and time window (they use `${{__data.fields.<column>.numeric}}` for the window).
Grafana's dashboard migrations are not run either: the JSON is written in the 11.2 form, with
`pluginVersion` set so Grafana runs none.

## Conventions

- **Headline**: the panels at y=0 answer the dashboard's first question (the table below);
  every row comes after them.
- **Data source**: a `datasource` variable (type datasource, Prometheus-compatible),
  defaulting to the provisioned {DEFAULT_DATASOURCE_NAME} datasource (uid
  `{DEFAULT_DATASOURCE_UID}`). Every panel and query uses
  `{{"type": "prometheus", "uid": "${{datasource}}"}}`; pick Prometheus there to compare.
  No `__inputs`: file provisioning does not resolve them.
- **Filters**: variables fed by `label_values(metric{{earlier filters}}, label)`, multi-select
  with "All" sent as `.*`, chained (each lists what the ones before it leave); every query
  honours every filter its metrics have a label for. The benchmark dashboards filter by lab
  host, clip, encoder, preset, resolution and scenario.
- **Counters** (`*_total`) only appear inside `rate(...[$__rate_interval])`, or
  `increase(...[$__range])` for totals over the selected time range.
- **Instant vs range**: stat, bar gauge, table and XY chart panels show the current value and
  send instant queries; time series and state timelines send range queries.
- **One unit per quantity** (`ffwatt/dashboards_src/units.py`): bitrates in bits/s (`bps`:
  byte rates of media and network are multiplied by 8; only storage IO stays `Bps`); speed
  against real time as a factor (`suffix:x`) with one threshold everywhere (red below 0.99x,
  the runner's definition of behind real time); counts, sums of 0/1 states included, as plain
  numbers (`none`); a 0/1 state shown through value mappings is `none`, not a percentage;
  seconds `s`, bytes `bytes`, joules `joule`, watts `watt`, ratios `percentunit`, decibels
  `dB`, frames per second `suffix:fps`, money `short` with the currency in the legend, cost per
  pixel `sci`, energy per frame `si:J/frame` and per stream-second of video `si:J/s` (so
  scenarios of different length and stream count compare). Timestamps are shown as an age
  (`time() - ts`, seconds) or as a date (`ts * 1000`).
- **Colour**: one colour per encoder (`ffwatt/dashboards_src/palette.py`: H.264 blues, HEVC
  greens, AV1 purples) on every series named after an encoder and every `encoder` column; red,
  orange and yellow are left to meaning.
- **Provenance**: every panel showing joules, watts, cost or carbon says where each figure came
  from: a `source` column (tables) or the source in the series name (graphs, bars, stats):
  measured (rapl, nvml, rapl+nvml, samples, tsdb; powercap or hwmon for RAPL, nvml for GPUs),
  "estimated (model)" (the CPU power model) in yellow, simulated in orange (a dashed line on a
  graph), unavailable in red.
- **Energy**: CPU power is the rate of the RAPL joules counter per zone; host totals add
  only the package and DRAM zones (core and uncore are inside a package, psys contains
  it), never every zone.
- **Trade-offs** (QoE metrics): XY charts of VMAF against the scenario's own joules per frame
  (one series per encoder and energy source; the upper left wins) and rate-distortion curves
  (VMAF against the measured bitrate, one curve per encoder, resolution and clip), built from
  table-format instant queries merged by scenario.
- **Per-scenario tables**: the `scenario` cell links to the same scenario on the results
  overview, QoE metrics and cost analysis dashboards (data source and time range carried), and
  to its host's power, live encoding and containers over the scenario's own window
  (`var-host`, `from`/`to` from the row's Started and Ended).
- Tags `ffwatt` plus a topic; a "ffwatt dashboards" link menu (tag `ffwatt`) on each
  dashboard carries the time range and the variables; schemaVersion {SCHEMA_VERSION};
  browser time zone; stable uids (the older stack's four uids are kept); read-only, as
  provisioned (`allowUiUpdates: false`); each line of panels fills the 24 columns.
- **JSON**: sparse, as Grafana {GRAFANA_VERSION} writes it (`ffwatt/dashboards_src/normalise.py`):
  no `null`, none of grafanalib's legacy keys, `pluginVersion` on every panel, table
  cells as `cellOptions`; sorted keys.
"""

_HOWTO = """\
## Adding a metric to a dashboard

1. **Catalog first.** Declare the metric in `ffwatt/catalog/metrics.py` (name, kind, help,
   unit, labels, exporter) and make its exporter emit it. A metric nobody should plot
   gets `dashboarded=False` and a `why_not_dashboarded`.
2. Add a panel in the dashboard module (`dashboards_src/<dashboard>.py`) with the
   helpers of `ffwatt/dashboards_src/panels.py` and the queries of
   `ffwatt/dashboards_src/promql.py`, passing the catalog entry, never a name:

   ```python
   timeseries("GPU temperature", "How hot does each GPU run?",
              T(selector(m.GPU_TEMPERATURE, gpu=GPU.ref), "GPU {gpu}"))
   ```

   `selector()` refuses labels the metric does not have and counters; counters go
   through `rate()` / `increase()`; `by("sum", q, "label")` refuses labels the result
   no longer has; legends (`{label}`) are checked the same way. The unit and the
   description (the panel's question, then each metric's help) follow from the catalog.
   A figure of a new kind (a new unit, or a new division or product) needs a rule in
   `ffwatt/dashboards_src/units.py` first, so it is shown the same way everywhere; a new
   energy metric needs its provenance in `ffwatt/dashboards_src/provenance.py`.
3. `make dashboards` regenerates the JSON and this page; commit both. `make test`
   fails while a committed copy is stale, while a dashboarded metric is on no panel,
   on any query that does not parse or names an unknown metric or label, and on any
   lint problem (unit, colour, filter, provenance, headline).

## Adding a dashboard

1. Create `dashboards_src/<name>.py` with `UID = "<uid>"` and `dashboard()` returning a
   `DashboardSpec` (title, description, its first question and the headline panels that
   answer it, rows of panels, filter variables `Var(name,
   metric, label)`, tags, time range). Keep the uid stable forever: links and bookmarks
   use it.
2. Add the module to `MODULES` in `ffwatt/dashboards_src/build.py`.
3. `make dashboards`, then `make test`. The dashboard gets the datasource variable, the
   link menu, layout, panel ids and JSON formatting from `ffwatt/dashboards_src/dashboard.py`.
"""


def _variables(spec: DashboardSpec) -> list[str]:
    if not spec.variables:
        return []
    lines = ["| variable | values from |", "|---|---|"]
    lines += [f"| `${v.name}` | `{v.query}` |" for v in spec.variables]
    return lines + [""]


def _panel_lines(panels: list[PanelSpec], units: dict[str, str]) -> list[str]:
    lines = []
    for panel in panels:
        names = ", ".join(f"`{m.name}`" for m in panel.metrics)
        lines.append(f"- **{panel.title}** ({panel.kind}, unit `{units[panel.title]}`): {panel.question} "
                     f"Metrics: {names}.")
        lines += [f"  - `{t.q}`" for t in panel.targets]
    return lines + [""]


def _headlines(specs: list[DashboardSpec]) -> list[str]:
    lines = ["## First questions", "", "| dashboard | its first question | answered at y=0 by |", "|---|---|---|"]
    for spec in specs:
        panels = ", ".join(f"**{p.title}**" for p in spec.headline)
        lines.append(f"| [{spec.title}](#{_anchor(spec)}) | {spec.question} | {panels} |")
    return lines + [""]


def render_markdown(specs: list[DashboardSpec]) -> str:
    lines = [_INTRO, *_headlines(specs)]
    shown: set[str] = set()
    for spec in specs:
        lines += [
            f"### {spec.title}",
            "",
            f"uid `{spec.uid}`, file `{spec.path}`, tags {', '.join(f'`{t}`' for t in ('ffwatt', *spec.tags))}, "
            f"default range {spec.time_from} to now, refresh {spec.refresh}.",
            "",
            spec.description,
            "",
        ]
        lines += _variables(spec)
        # Units as Grafana is given them (after normalise()).
        units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in iter_panels(spec.to_dict())
                 if p["type"] != "row"}
        lines += [f"#### Headline (y=0): {spec.question}", ""] + _panel_lines(spec.headline, units)
        for row in spec.rows:
            lines += [f"#### {row.title}", ""] + _panel_lines(row.panels, units)
        shown.update(m.name for panel in spec.panels() for m in panel.metrics)
    hidden = [m for m in METRICS.values() if m.name not in shown]
    lines += ["## Catalog metrics on no panel", ""]
    if hidden:
        lines += [f"- `{m.name}`: {m.why_not_dashboarded or 'dashboarded in the catalog but on no panel (a bug)'}"
                  for m in hidden]
    else:
        lines.append("None.")
    lines += ["", _HOWTO]
    return "\n".join(lines).rstrip("\n") + "\n"


def _anchor(spec: DashboardSpec) -> str:
    text = spec.title.lower()
    return "".join(ch for ch in text.replace(" ", "-") if ch.isalnum() or ch in "-_")
