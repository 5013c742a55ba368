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

_INTRO = f"""\
# ffwatt dashboards

Generated from `ffwatt/dashboards_src/` by `make dashboards`; do not edit by hand.

Seven Grafana dashboards, written as code with grafanalib from the metric catalog
(`ffwatt/catalog/`), provisioned from `provisioning/dashboards/<uid>.json`. Every panel's
unit, description and legend labels come from the catalog entries it queries, so a
panel cannot query a metric or a label no exporter emits: the unit tests parse every
query as PromQL and check it against the catalog, and the end-to-end tests run every
query against a real VictoriaMetrics and Prometheus fed by the exporters.

## Conventions

- **Data source**: a `datasource` variable (type datasource, Prometheus-compatible),
  defaulting to the provisioned {DEFAULT_DATASOURCE_NAME} datasource (uid
  `{DEFAULT_DATASOURCE_UID}`). Every panel and query uses
  `{{"type": "prometheus", "uid": "${{datasource}}"}}`; pick Prometheus there to compare.
  No `__inputs`: file provisioning does not resolve them.
- **Filters**: variables fed by `label_values(metric, label)`, multi-select with
  "All" sent as `.*`; queries match them with `=~`.
- **Counters** (`*_total`) only appear inside `rate(...[$__rate_interval])`, or
  `increase(...[$__range])` for totals over the selected time range.
- **Instant vs range**: stat, bar gauge and table panels show the current value and send
  instant queries; time series and state timelines send range queries.
- **Units**: from the catalog unit (seconds `s`, bytes `bytes`, joules `joule`, watts
  `watt`, ratio `percentunit`, decibels `dB`, bits per second `bps`, frames per second
  `suffix:fps` (Grafana has no fps unit and adds its own space), money `short` with the
  currency in the legend, cost per pixel `sci`); a rate of joules is `watt`, of bytes
  `Bps`, of CPU seconds cores, of counts `cps`. A 0/1 state with value mappings (up,
  reachable, degraded, pushing) is `none`, not a percentage. Timestamps are shown as an
  age (`time() - ts`, seconds) or as a date (`ts * 1000`).
- **Energy**: CPU power is the rate of the RAPL joules counter per zone; host totals add
  only the package and DRAM zones (core and uncore are inside a package, psys contains
  it), never every zone.
- **Trade-offs** (QoE metrics): XY charts of VMAF against energy (the upper left wins)
  and VMAF against the measured bitrate, one series per encoder (rate-distortion), built
  from table-format instant queries merged by scenario.
- **Per-scenario tables**: the `scenario` cell links to the same scenario on the results
  overview, QoE metrics and cost analysis dashboards (data source and time range
  carried); wherever energy is tabulated, a `source` column says whether it was measured
  (rapl, nvml, rapl+nvml, samples, tsdb), modelled, simulated or unavailable.
- Tags `ffwatt` plus a topic; a "ffwatt dashboards" link menu (tag `ffwatt`) on each
  dashboard carries the time range and the variables; schemaVersion {SCHEMA_VERSION};
  browser time zone; stable uids (the older stack's four uids are kept); read-only, as
  provisioned (`allowUiUpdates: false`); each row's panels fill the 24 columns.
- **JSON**: sparse, as Grafana {GRAFANA_VERSION} writes it (`ffwatt/dashboards_src/normalise.py`):
  no `null`, none of grafanalib's legacy keys, `pluginVersion` on every panel, table
  cells as `cellOptions`; sorted keys. `tests/unit/test_grafana_schema.py` decodes each
  dashboard with Grafana's typed SDK (`grafana-foundation-sdk`, 11.2 line) and fails on
  any key it would drop.
"""

_HOWTO = """\
## Adding a metric to a dashboard

1. **Catalog first.** Declare the metric in `ffwatt/catalog/metrics.py` (name, kind, help,
   unit, labels, exporter) and make its exporter emit it. A metric nobody should plot
   gets `dashboarded=False` and a `why_not_dashboarded`.
2. Add a panel in the dashboard module (`dashboards_src/<dashboard>.py`) with the
   helpers of `ffwatt/dashboards_src/panels.py`, passing the catalog entry, never a name:

   ```python
   timeseries("GPU temperature", "How hot does each GPU run?",
              T(selector(m.GPU_TEMPERATURE, gpu=GPU.ref), "GPU {gpu}"))
   ```

   `selector()` refuses labels the metric does not have and counters; counters go
   through `rate()` / `increase()`; `by("sum", q, "label")` refuses labels the result
   no longer has; legends (`{label}`) are checked the same way. The unit and the
   description (the panel's question, then each metric's help) follow from the catalog.
3. `make dashboards` regenerates the JSON and this page; commit both. `make test`
   fails while a committed copy is stale, while a dashboarded metric is on no panel,
   and on any query that does not parse or names an unknown metric or label.

## Adding a dashboard

1. Create `dashboards_src/<name>.py` with `UID = "<uid>"` and `dashboard()` returning a
   `DashboardSpec` (title, description, rows of panels, filter variables `Var(name,
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


def render_markdown(specs: list[DashboardSpec]) -> str:
    lines = [_INTRO, "## Dashboards", ""]
    for spec in specs:
        lines.append(f"- [{spec.title}](#{_anchor(spec)}) (`{spec.uid}`)")
    lines.append("")
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
        for row in spec.rows:
            lines += [f"#### {row.title}", ""]
            for panel in row.panels:
                names = ", ".join(f"`{m.name}`" for m in panel.metrics)
                lines.append(f"- **{panel.title}** ({panel.kind}, unit `{units[panel.title]}`): {panel.question} "
                             f"Metrics: {names}.")
                for t in panel.targets:
                    lines.append(f"  - `{t.q}`")
                shown.update(m.name for m in panel.metrics)
            lines.append("")
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
