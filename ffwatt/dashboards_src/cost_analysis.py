"""Cost analysis (uid cost-analysis): what each scenario cost, in energy and compute."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import T, bargauge, by, increase, selector, stat, table, timeseries
from ffwatt.dashboards_src.scenario import SOURCE_COLUMN, drill_down, energy_columns, energy_source

UID = "cost-analysis"

SCENARIO = Var("scenario", m.COST_TOTAL, "scenario")
ENCODER = Var("encoder", m.COST_TOTAL, "encoder")
CURRENCY = Var("currency", m.COST_TOTAL, "currency")
SC = {"scenario": SCENARIO.ref, "encoder": ENCODER.ref}
MONEY = {**SC, "currency": CURRENCY.ref}
# Every per-scenario table: the scenario links to the scenario dashboards; the energy source is coloured.
SCENARIO_TABLE = [drill_down(), SOURCE_COLUMN]


def dashboard() -> DashboardSpec:
    total = selector(m.COST_TOTAL, **MONEY)
    cost = Row("Cost", [
        timeseries("Total cost by scenario over time",
                   "How has each scenario's total cost (energy + compute) changed across results files? One line "
                   "per scenario and currency.",
                   T(total, "{scenario} ({currency})"), w=16, legendCalcs=["lastNotNull"]),
        stat("Total cost of the selected scenarios",
             "What did all selected scenarios cost together, per currency?",
             T(by("sum", total, "currency"), "{currency}"), w=8, h=8),
        bargauge("Current cost per scenario",
                 "Which scenario is the most expensive in the results file being served?",
                 T(total, "{scenario} ({currency})"), w=12),
        bargauge("Energy vs compute cost",
                 "Is a scenario's cost driven by the energy it drew or by the CPU time it used?",
                 T(selector(m.COST_ENERGY, **MONEY), "{scenario} energy ({currency})"),
                 T(selector(m.COST_COMPUTE, **MONEY), "{scenario} compute ({currency})"), w=12),
        bargauge("Cost per pixel",
                 "What does one processed pixel cost in each scenario? Scientific notation: the values are tiny.",
                 T(selector(m.COST_PER_PIXEL, **MONEY).with_unit("sci"), "{scenario} ({currency})"), w=12),
        bargauge("Cost per viewer-hour",
                 "What does one hour of one viewer cost in each scenario?",
                 T(selector(m.COST_PER_VIEWER_HOUR, **MONEY), "{scenario} ({currency})"), w=12),
        table("Cost breakdown",
              "Every cost figure of every selected scenario in one row, in the currency of its `currency` "
              "column, with the emissions beside the cost and the source of the energy both come from (see "
              "the energy source table). A scenario links to the same scenario on the results, QoE and cost "
              "dashboards.",
              T(total, name="Total"),
              T(selector(m.COST_ENERGY, **MONEY), name="Energy cost"),
              T(selector(m.COST_COMPUTE, **MONEY), name="Compute cost"),
              T(selector(m.COST_PER_PIXEL, **MONEY).with_unit("sci"), name="Per pixel"),
              T(selector(m.COST_PER_VIEWER_HOUR, **MONEY), name="Per viewer-hour"),
              T(selector(m.COST_EMISSIONS, **SC), name="Emissions (g CO2e)"),
              energy_source(**SC),
              sort="Total", desc=True, overrides=SCENARIO_TABLE),
    ])
    energy = Row("Energy and power", [
        bargauge("Energy per scenario",
                 "How many joules did each scenario draw: its own share of the machine's energy (what its cost "
                 "and emissions use), the whole machine's over its window, and its own above the idle baseline? "
                 "The rule that split the machine's energy is in the energy source table.",
                 T(selector(m.COST_ENERGY_JOULES, **SC), "{scenario} own share"),
                 T(selector(m.COST_MACHINE_ENERGY_JOULES, **SC), "{scenario} machine"),
                 T(selector(m.COST_NET_ENERGY_JOULES, **SC), "{scenario} above idle"), w=12),
        bargauge("Mean and net power per scenario",
                 "What was each scenario's mean power draw, and how much of it was above the idle baseline?",
                 T(selector(m.COST_MEAN_POWER, **SC), "{scenario} mean"),
                 T(selector(m.COST_NET_POWER, **SC), "{scenario} above idle"), w=12),
        bargauge("CPU core-seconds per scenario",
                 "How much CPU time did each scenario use (the base of its compute cost)?",
                 T(selector(m.COST_CORE_SECONDS, **SC), "{scenario}"), w=12),
        table("Energy source per scenario",
              "Where did each scenario's energy figure come from, and how was its share of the machine's energy "
              "found? Measured: the RAPL/NVML joules counters the runner read (rapl, nvml, rapl+nvml), power "
              "samples in the results file, or the TSDB's joules counters (load-aware). Not measured: the CPU "
              "power model (model, an estimate from CPU load and TDP on machines without RAPL), a simulator "
              "(simulated: sample data), or nowhere (unavailable: its energy cost and emissions are missing, not "
              "0). Attribution: cpu-time-share (the machine's active energy x the scenario's share of all CPU "
              "time, plus idle energy for the CPUs it held), exclusive (nothing else ran), "
              "gpu-process-utilisation or gpu-whole (GPU energy), whole-machine (no split); empty where the run "
              "did not record it, and so is its machine energy.",
              *energy_columns(**SC), energy_source(**SC), w=12, overrides=SCENARIO_TABLE),
    ])
    emissions = Row("Emissions", [
        bargauge("Emissions per scenario",
                 "How many grams of CO2e did each scenario's energy cause, at the configured grid carbon "
                 "intensity and PUE? Check the energy source table: a modelled energy gives modelled emissions.",
                 T(selector(m.COST_EMISSIONS, **SC), "{scenario}"), w=8),
        bargauge("Emissions per viewer-hour",
                 "How many grams of CO2e does one hour of one viewer cost in each scenario?",
                 T(selector(m.COST_EMISSIONS_PER_VIEWER_HOUR, **SC), "{scenario}"), w=8),
        bargauge("Emissions per stream-hour",
                 "How many grams of CO2e does one hour of one live stream cost, whatever its audience?",
                 T(selector(m.COST_EMISSIONS_PER_STREAM_HOUR, **SC), "{scenario}"), w=8),
        table("Energy, its spread and emissions",
              "Per scenario its own (attributed) energy, the half-width of the 95 % confidence interval over its "
              "repetitions (empty for a scenario run once), the whole machine's energy over its window beside it "
              "with the rule that split it, its emissions (from its own energy), and where the energy figure "
              "came from (a modelled energy gives modelled emissions).",
              *energy_columns(**SC),
              T(selector(m.COST_ENERGY_CI95, **SC), name="Energy ± (95 % CI)"),
              T(selector(m.COST_EMISSIONS, **SC), name="Emissions (g CO2e)"),
              T(selector(m.COST_EMISSIONS_PER_VIEWER_HOUR, **SC), name="g CO2e per viewer-hour"),
              energy_source(**SC),
              sort="Energy (own share)", desc=True, overrides=SCENARIO_TABLE),
    ])
    prices = Row("Prices and lookups", [
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
             "Which power usage effectiveness scales the machine's energy to the facility's (1 = the machine "
             "alone)?",
             T(selector(m.COST_PUE), "PUE"), w=4, decimals=2),
        stat("Failed TSDB energy lookups",
             "How many load-aware energy lookups (scenarios without power samples) failed over the selected "
             "time range? Above 0, some scenarios may show energy source `unavailable`.",
             T(by("sum", increase(m.COST_TSDB_ERRORS)), "failed lookups"), w=4,
             thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
    ])
    return DashboardSpec(
        uid=UID, title="ffwatt / Cost analysis",
        description="Energy, compute and total cost per scenario, per pixel and per viewer-hour, with the energy "
                    "and power they are computed from, where that energy came from, and its emissions in grams "
                    "of CO2e (cost exporter).",
        rows=[cost, energy, emissions, prices], variables=[SCENARIO, ENCODER, CURRENCY], tags=("cost", "results"),
        time_from="now-24h",
    )

