"""What the benchmark dashboards (results, QoE, cost) share: their filters, the figures they compare
scenarios by, the leaderboard, and the drill-down from a scenario.

    BENCH.vars, BENCH.on(metric)      $host, $clip, $encoder, $preset, $resolution, $scenario (chained)
    per_frame(F), per_video_second(F) the scenario's own joules per frame / per stream-second of video
    leaderboard(F)                    the headline table: which encoder and preset win, per clip
    scenario_table(title, question, *targets, **options)
                                      a table of scenarios: Started/Ended columns and the drill-down
    energy_source(F), energy_attribution(F), energy_columns(F)

The drill-down (`drill_down()`, on every scenario table's `scenario` column): the same scenario on
the results, QoE and cost dashboards (range kept), and its host's power, live encoding and
containers over the scenario's own window (`var-host`, `from`/`to` from the row's Started and
Ended, in ms). A scenario of a local run has host "unknown": no host matches it, and Grafana then
selects the variable's first option, All.
"""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import Filters
from ffwatt.dashboards_src.panels import PanelSpec, T, steps, table
from ffwatt.dashboards_src.promql import Q, as_datetime, bits, divide, is_one, multiply, selector
from ffwatt.dashboards_src.provenance import SCENARIO_IDENTITY, scenario_source

BENCH = Filters(m.RESULTS_SCENARIO_INFO, ("host", "host", "Lab host"), ("clip", "clip", "Clip"),
                ("encoder", "encoder", "Encoder"), ("preset", "preset", "Preset"),
                ("resolution", "resolution", "Resolution"), ("scenario", "scenario", "Scenario"))

# Quality bands: VMAF below 70 is visibly degraded, 85+ is good for streaming.
VMAF_STEPS = steps("red", (70, "yellow"), (85, "green"))
PSNR_STEPS = steps("red", (30, "yellow"), (38, "green"))
SSIM_STEPS = steps("red", (0.9, "yellow"), (0.95, "green"))

# The dashboards a scenario drills down to, by uid (tests check they exist).
DRILL_DOWN = (("results-overview", "Results overview"), ("qoe-metrics", "QoE metrics"),
              ("cost-analysis", "Cost analysis"))
DRILL_DOWN_IN_TIME = (("host-power", "Host power"), ("live-encoding", "Live encoding"),
                      ("containers", "Containers"))
SCENARIO_FIELD = "scenario"
STARTED, ENDED = "Started", "Ended"
# What every link carries: the scenario of the row, the data source and the time range.
CARRIED = "var-scenario=${__data.fields.scenario}&${datasource:queryparam}&${__url_time_range}"
# The scenario's host and its own window (ms since the epoch, the numbers behind the date columns).
IN_TIME = (f"var-host=${{__data.fields.host}}&from=${{__data.fields.{STARTED}.numeric}}"
           f"&to=${{__data.fields.{ENDED}.numeric}}&${{datasource:queryparam}}")
# Label columns of a scenario table, first and in this order.
COLUMNS = ("encoder", "preset", "resolution", "clip", "bitrate", "scenario", "host", "source", "attribution",
           "currency")


def drill_down() -> dict:
    """The `scenario` column's data links (see the module docstring)."""
    links = [{"title": f"{title}: ${{__data.fields.scenario}}", "url": f"/d/{uid}?{CARRIED}"}
             for uid, title in DRILL_DOWN]
    links += [{"title": f"{title} on ${{__data.fields.host}} while ${{__data.fields.scenario}} ran",
               "url": f"/d/{uid}?{IN_TIME}"} for uid, title in DRILL_DOWN_IN_TIME]
    return {"matcher": {"id": "byName", "options": SCENARIO_FIELD}, "properties": [{"id": "links", "value": links}]}


def window(f: dict[str, str]) -> tuple[T, T]:
    """The scenario's start and end as date columns: the drill-down's from and to."""
    return (T(as_datetime(m.RESULTS_START, **f), name=STARTED), T(as_datetime(m.RESULTS_END, **f), name=ENDED))


def scenario_table(title: str, question: str, *targets: T, **options) -> PanelSpec:
    """A table with one row per scenario, its window and the drill-down on its scenario column."""
    f = options.pop("filters")
    overrides = [drill_down(), *options.pop("overrides", [])]
    return table(title, question, *targets, *window(f), columns=COLUMNS, overrides=overrides, **options)


def figures(f: dict[str, str], *columns: tuple) -> tuple[T, ...]:
    """Table columns of scenario figures: (metric, column name) each, filtered by `f`."""
    return tuple(T(selector(metric, **f), name=name) for metric, name in columns)


def energy_source(f: dict[str, str]) -> T:
    """A hidden-value target adding each scenario's energy source as a `source` column."""
    return T(is_one(selector(m.COST_ENERGY_SOURCE, **f)), hide=True)


def energy_attribution(f: dict[str, str]) -> T:
    """A hidden-value target adding each scenario's attribution rule as an `attribution` column."""
    return T(selector(m.COST_ENERGY_ATTRIBUTION, **f), hide=True)


def energy_columns(f: dict[str, str]) -> tuple[T, ...]:
    """The scenario's own (attributed) energy, the whole machine's over its window, and the rule."""
    return (T(selector(m.COST_ENERGY_JOULES, **f), name="Energy (own share)"),
            T(selector(m.COST_MACHINE_ENERGY_JOULES, **f), name="Machine energy"),
            energy_attribution(f))


def per_frame(f: dict[str, str], energy=m.COST_ENERGY_JOULES) -> Q:
    """Joules per encoded frame (all streams): the scenario's own energy (or, with `energy`, the
    whole machine's over its window) / its frames."""
    return divide(selector(energy, **f), selector(m.RESULTS_FRAMES, **f), on=SCENARIO_IDENTITY)


def per_video_second(f: dict[str, str]) -> Q:
    """Joules per stream-second of video: energy / (duration x streams), as the report's J/s."""
    seconds = multiply(selector(m.RESULTS_DURATION, **f), selector(m.RESULTS_STREAMS, **f))
    return divide(selector(m.COST_ENERGY_JOULES, **f), seconds, on=SCENARIO_IDENTITY)


def bitrate(f: dict[str, str]) -> Q:
    """The measured bitrate of one stream, in bits/s."""
    return bits(selector(m.RESULTS_MEASURED_BITRATE, **f))


def leaderboard(f: dict[str, str], money: dict[str, str]) -> PanelSpec:
    """Encoder x preset x resolution x clip: quality, bitrate, energy per frame and per second of
    video, power and cost per viewer-hour, best quality per joule first."""
    return scenario_table(
        "Encoder leaderboard",
        "Which encoder and preset win, per clip and resolution? One row per scenario: VMAF and its 1 % low "
        "(the worst 1 % of frames), the measured bitrate in bits/s, the scenario's own energy per frame and "
        "per stream-second of video (comparable across scenarios of different length and stream count) with "
        "the whole machine's per frame beside it, its mean power and what a viewer-hour costs, where its "
        "energy came from (source: measured rapl, nvml, samples, tsdb; \"estimated (model)\"; simulated in "
        "orange) and how the machine's energy was split (attribution). Sorted by quality per joule, best "
        "first. A scenario links to its QoE and cost figures and to its host's power, live encoding and "
        "containers over its own window.",
        *figures(f,
                 (m.QOE_EFFICIENCY, "Quality per joule"),
                 (m.QOE_VMAF, "VMAF"),
                 (m.QOE_VMAF_P1, "VMAF 1 % low")),
        T(bitrate(f), name="Bitrate"),
        T(per_frame(f), name="J per frame"),
        T(per_frame(f, m.COST_MACHINE_ENERGY_JOULES), name="Machine J per frame"),
        T(per_video_second(f), name="J per second of video"),
        T(selector(m.COST_MEAN_POWER, **f), name="Mean power"),
        T(selector(m.COST_PER_VIEWER_HOUR, **money), name="Cost per viewer-hour"),
        energy_source(f), energy_attribution(f),
        filters=f, sort="Quality per joule", desc=True, h=10)


def with_source(q: Q, f: dict[str, str]) -> Q:
    """A scenario figure carrying its energy source (for legends: "{scenario} · {source}")."""
    return scenario_source(q, **f)
