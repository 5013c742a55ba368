"""Cost analysis (uid cost-analysis): what a viewer-hour costs per encoder, then what each scenario
cost in energy and compute, the energy behind it and its emissions."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import T, bargauge, stat, steps, timeseries
from ffwatt.dashboards_src.promql import by, increase, selector
from ffwatt.dashboards_src.scenario import BENCH, energy_columns, energy_source, figures, scenario_table, with_source

UID = "cost-analysis"

CURRENCY = Var("currency", m.COST_TOTAL, "currency", "Currency")
F = BENCH.on(m.COST_ENERGY_JOULES)
MONEY = {**F, "currency": CURRENCY.ref}
SOURCE_NOTE = " The energy source follows each name (\"estimated (model)\", simulated in orange)."


def _per_scenario(title: str, question: str, metric, f: dict[str, str], legend: str = "{scenario}", **options):
    """One bar per selected scenario of an energy-based figure, with its energy source."""
    return bargauge(title, question + SOURCE_NOTE,
                    T(with_source(selector(metric, **f), F), legend + " · {source}"), **options)


def _headline() -> list:
    per_viewer_hour = with_source(selector(m.COST_PER_VIEWER_HOUR, **MONEY), F)
    return [
        stat("Cheapest viewer-hour per encoder",
             "What does a viewer-hour cost with each encoder at its cheapest selected scenario, per currency and "
             "energy source?",
             T(by("min", per_viewer_hour, "encoder", "currency", "source"), "{encoder} ({currency}) · {source}"),
             w=8, h=9, colorMode="background"),
        bargauge("What a viewer-hour costs",
                 "What does one hour of one viewer cost in each scenario (total cost / (duration in hours x "
                 "viewers))? One bar per scenario in its encoder's colour; the energy source follows each name.",
                 T(per_viewer_hour, "{encoder} {preset} {resolution} {clip} · {scenario} ({currency}) · {source}"),
                 w=16, h=9),
    ]


def _cost() -> Row:
    total = with_source(selector(m.COST_TOTAL, **MONEY), F)
    return Row("Cost", [
        timeseries("Total cost by scenario over time",
                   "How has each scenario's total cost (energy + compute) changed across results files? One line "
                   "per scenario and currency; a simulated energy's line is dashed.",
                   T(total, "{scenario} ({currency}) · {source}"), w=16, legendCalcs=["lastNotNull"]),
        stat("Total cost of the selected scenarios",
             "What did all selected scenarios cost together, per currency and energy source?",
             T(by("sum", total, "currency", "source"), "{currency} · {source}"), w=8, h=8),
        _per_scenario("Current cost per scenario", "Which scenario is the most expensive in the results file?",
                      m.COST_TOTAL, MONEY, "{scenario} ({currency})"),
        bargauge("Energy vs compute cost",
                 "Is a scenario's cost driven by the energy it drew or by the CPU time it used?" + SOURCE_NOTE,
                 T(with_source(selector(m.COST_ENERGY, **MONEY), F), "{scenario} energy ({currency}) · {source}"),
                 T(selector(m.COST_COMPUTE, **MONEY), "{scenario} compute ({currency})"), w=12),
        _per_scenario("Cost per pixel",
                      "What does one processed pixel cost in each scenario? Scientific notation: the values are tiny.",
                      m.COST_PER_PIXEL, MONEY, "{scenario} ({currency})", w=24),
        scenario_table(
            "Cost breakdown",
            "Every cost figure of every selected scenario in one row, in the currency of its `currency` column, "
            "with the emissions beside the cost and the source of the energy both come from.",
            *figures(MONEY,
                     (m.COST_TOTAL, "Total"),
                     (m.COST_ENERGY, "Energy cost"),
                     (m.COST_COMPUTE, "Compute cost"),
                     (m.COST_PER_PIXEL, "Per pixel"),
                     (m.COST_PER_VIEWER_HOUR, "Per viewer-hour")),
            T(selector(m.COST_EMISSIONS, **F), name="Emissions (g CO2e)"),
            energy_source(F),
            filters=F, sort="Total", desc=True),
    ])


def _energy() -> Row:
    return Row("Energy and power", [
        bargauge("Energy per scenario",
                 "How many joules did each scenario draw: its own share of the machine's energy (what its cost "
                 "and emissions use), the whole machine's over its window, and its own above the idle baseline? "
                 "The rule that split the machine's energy is in the energy source table." + SOURCE_NOTE,
                 T(with_source(selector(m.COST_ENERGY_JOULES, **F), F), "{scenario} own share · {source}"),
                 T(with_source(selector(m.COST_MACHINE_ENERGY_JOULES, **F), F), "{scenario} machine · {source}"),
                 T(with_source(selector(m.COST_NET_ENERGY_JOULES, **F), F), "{scenario} above idle · {source}"),
                 w=12),
        bargauge("Mean and net power per scenario",
                 "What was each scenario's mean power draw, and how much of it was above the idle baseline?"
                 + SOURCE_NOTE,
                 T(with_source(selector(m.COST_MEAN_POWER, **F), F), "{scenario} mean · {source}"),
                 T(with_source(selector(m.COST_NET_POWER, **F), F), "{scenario} above idle · {source}"), w=12),
        bargauge("CPU core-seconds per scenario",
                 "How much CPU time did each scenario use (the base of its compute cost)?",
                 T(selector(m.COST_CORE_SECONDS, **F), "{scenario}"), w=12),
        scenario_table(
            "Energy source per scenario",
            "Where did each scenario's energy figure come from, and how was its share of the machine's energy "
            "found? Measured: the RAPL/NVML joules counters the runner read (rapl, nvml, rapl+nvml), power "
            "samples in the results file, or the TSDB's joules counters (load-aware). Not measured: the CPU power "
            "model (\"estimated (model)\", from CPU load and TDP on machines without RAPL), a simulator "
            "(simulated: sample data, in orange), or nowhere (unavailable: its energy cost and emissions are "
            "missing, not 0). Attribution: cpu-time-share (the machine's active energy x the scenario's share of "
            "all CPU time, plus idle energy for the CPUs it held), exclusive (nothing else ran), "
            "gpu-process-utilisation or gpu-whole (GPU energy), whole-machine (no split); empty where the run "
            "did not record it, and so is its machine energy.",
            *energy_columns(F), energy_source(F), filters=F, w=12),
    ])


def _emissions() -> Row:
    return Row("Emissions", [
        _per_scenario("Emissions per scenario",
                      "How many grams of CO2e did each scenario's energy cause, at the configured grid carbon "
                      "intensity and PUE?", m.COST_EMISSIONS, F, w=8),
        _per_scenario("Emissions per viewer-hour",
                      "How many grams of CO2e does one hour of one viewer cost in each scenario?",
                      m.COST_EMISSIONS_PER_VIEWER_HOUR, F, w=8),
        _per_scenario("Emissions per stream-hour",
                      "How many grams of CO2e does one hour of one live stream cost, whatever its audience?",
                      m.COST_EMISSIONS_PER_STREAM_HOUR, F, w=8),
        scenario_table(
            "Energy, its spread and emissions",
            "Per scenario its own (attributed) energy, the half-width of the 95 % confidence interval over its "
            "repetitions (empty for a scenario run once), the whole machine's energy over its window beside it "
            "with the rule that split it, its emissions (from its own energy), and where the energy figure "
            "came from (a modelled energy gives modelled emissions).",
            *energy_columns(F),
            *figures(F,
                     (m.COST_ENERGY_CI95, "Energy ± (95 % CI)"),
                     (m.COST_EMISSIONS, "Emissions (g CO2e)"),
                     (m.COST_EMISSIONS_PER_VIEWER_HOUR, "g CO2e per viewer-hour")),
            energy_source(F),
            filters=F, sort="Energy (own share)", desc=True),
    ])


def _prices() -> Row:
    return Row("Prices and lookups", [
        stat("Energy price",
             "Which price per kilowatt-hour does the cost exporter apply?",
             T(selector(m.COST_ENERGY_PRICE, currency=CURRENCY.ref), "per kWh ({currency})"), w=6, decimals=4),
        stat("Compute price",
             "Which price per CPU core-hour does the cost exporter apply?",
             T(selector(m.COST_CORE_HOUR_PRICE, currency=CURRENCY.ref), "per core-hour ({currency})"), w=6,
             decimals=4),
        stat("Carbon intensity",
             "Which grid carbon intensity (grams of CO2e per kWh) turns energy into emissions? The default, "
             "475, is the world average CodeCarbon falls back to: set your grid's with --carbon-intensity.",
             T(selector(m.COST_CARBON_INTENSITY), "intensity"), w=4),
        stat("PUE",
             "Which power usage effectiveness scales the machine's energy to the facility's (1x = the machine "
             "alone)?",
             T(selector(m.COST_PUE), "PUE"), w=4, decimals=2),
        stat("Failed TSDB energy lookups",
             "How many load-aware energy lookups (scenarios without power samples) failed over the selected "
             "time range? Above 0, some scenarios may show energy source `unavailable`.",
             T(by("sum", increase(m.COST_TSDB_ERRORS)), "failed lookups"), w=4, thresholds=steps("green", (1, "red"))),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / Cost analysis",
        description="What a viewer-hour costs per encoder, then energy, compute and total cost per scenario, per "
                    "pixel and per viewer-hour, with the energy and power they are computed from, where that "
                    "energy came from, and its emissions in grams of CO2e (cost exporter).",
        question="What does a viewer-hour cost with each encoder?",
        headline=_headline(),
        rows=[_cost(), _energy(), _emissions(), _prices()], variables=[*BENCH.vars, CURRENCY],
        tags=("cost", "results"), time_from="now-24h",
    )
