"""Results overview (uid results-overview): which encoder wins in the results file being served,
then what ran, how far the run is, and the live streams' capacity."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row
from ffwatt.dashboards_src.panels import T, bargauge, stat, steps
from ffwatt.dashboards_src.promql import age, as_datetime, by, selector
from ffwatt.dashboards_src.provenance import sweep_figure_sources, sweep_sources
from ffwatt.dashboards_src.scenario import (
    BENCH,
    PSNR_STEPS,
    SSIM_STEPS,
    VMAF_STEPS,
    bitrate,
    figures,
    leaderboard,
    scenario_table,
)

UID = "results-overview"

F = BENCH.on(m.RESULTS_DURATION)
SWEEP = BENCH.on(m.RESULTS_SWEEP_STEP_SPEED)  # a sweep step is filtered by its scenario only
DAY = 86400.0


def _per_scenario(title: str, question: str, metric, **options):
    """One bar per selected scenario of one figure, on its own scale."""
    return bargauge(title, question, T(selector(metric, **F), "{scenario}"), **options)


def _run() -> Row:
    return Row("Run and results file", [
        stat("Scenarios done of planned",
             "How far is the run: scenarios in the results file being served, and how many the runner planned "
             "(`ffwatt run` rewrites the file after every scenario, so this moves while a run goes). 0 done "
             "means the file is empty or was rejected (see the exporter-health dashboard).",
             T(selector(m.RESULTS_SCENARIOS), "done"), T(selector(m.RESULTS_PLANNED), "planned"),
             thresholds=steps("red", (1, "green")), colorMode="background", w=5),
        stat("Skipped scenarios",
             "How many scenarios of the results file failed validation and are left out? Above 0, the "
             "results exporter's /health names each one with the JSON path of the bad field.",
             T(selector(m.RESULTS_SKIPPED), "skipped"),
             thresholds=steps("green", (1, "red")), colorMode="background", w=4),
        stat("Results file age",
             "How old is the results file being served? Yellow after a day, red after a week: is the benchmark "
             "still writing results?",
             T(age(m.RESULTS_FILE_TIMESTAMP), "age"),
             thresholds=steps("green", (DAY, "yellow"), (7 * DAY, "red")), w=5),
        stat("Results file written",
             "When was the results file being served last modified?",
             T(as_datetime(m.RESULTS_FILE_TIMESTAMP), "written"), w=5),
        stat("Selected scenarios' frames",
             "How many frames did the selected scenarios encode in total?",
             T(by("sum", selector(m.RESULTS_FRAMES, **F)), "frames"), w=5),
    ])


def _scenarios() -> Row:
    return Row("Scenarios", [
        scenario_table(
            "Scenarios",
            "What ran: every scenario of the results file with its schedule, duration, frame counts, measured "
            "bitrate (bits/s) and speed against real time (red below 0.99x). A scenario links to the same "
            "scenario on the results, QoE and cost dashboards and to its host over its own window.",
            T(selector(m.RESULTS_SCENARIO_INFO, **F), hide=True),
            *figures(F,
                     (m.RESULTS_DURATION, "Duration"),
                     (m.RESULTS_AVERAGE_FPS, "Average fps"),
                     (m.RESULTS_FRAMES, "Frames"),
                     (m.RESULTS_DROPPED_FRAMES, "Dropped frames"),
                     (m.RESULTS_STREAMS, "Streams"),
                     (m.RESULTS_PIXELS, "Pixels")),
            T(bitrate(F), name="Measured bitrate"),
            *figures(F,
                     (m.RESULTS_SPEED, "Speed"),
                     (m.RESULTS_OUTPUT_BYTES, "Output"),
                     (m.RESULTS_REPETITIONS, "Runs"),
                     (m.RESULTS_FPS_CI95, "fps ± (95 % CI)")),
            filters=F, sort="Started", h=10),
        _per_scenario("Duration per scenario", "How long was each scenario planned to run?", m.RESULTS_DURATION),
        _per_scenario("Average fps per scenario",
                      "Which scenarios encoded fastest? Average encoding frames per second over the scenario.",
                      m.RESULTS_AVERAGE_FPS),
        _per_scenario("Encoded frames per scenario", "How many frames did each scenario encode (all streams)?",
                      m.RESULTS_FRAMES, w=8),
        _per_scenario("Dropped frames per scenario",
                      "How many frames did each scenario drop? On its own scale, so a few drops show; red from 1.",
                      m.RESULTS_DROPPED_FRAMES, thresholds=steps("green", (1, "red")), w=8),
        _per_scenario("Streams per scenario", "How many concurrent streams did each scenario encode?",
                      m.RESULTS_STREAMS, w=8),
        _per_scenario("Pixels processed per scenario",
                      "How much picture did each scenario process (width x height x frames x streams)?",
                      m.RESULTS_PIXELS, w=24),
    ])


def _quality() -> Row:
    return Row("Quality", [
        _per_scenario("VMAF per scenario", "How good is each scenario's output? Details on the QoE metrics dashboard.",
                      m.QOE_VMAF, thresholds=VMAF_STEPS, max=100, w=8),
        _per_scenario("PSNR per scenario", "How close is each output to its source in PSNR?",
                      m.QOE_PSNR, thresholds=PSNR_STEPS, max=60, w=8),
        _per_scenario("SSIM per scenario", "How structurally similar is each output to its source (0-1)?",
                      m.QOE_SSIM, thresholds=SSIM_STEPS, max=1, decimals=4, w=8),
    ])


def _live() -> Row:
    step_energy = selector(m.COST_SWEEP_STEP_ENERGY, **SWEEP)
    return Row("Live streams and capacity", [
        _per_scenario("Live streams behind real time",
                      "How many of each live scenario's streams fell behind real time (sustained speed below 0.99x "
                      "after the warm-up)? Any above 0 means the machine could not keep that many streams live.",
                      m.RESULTS_STREAMS_BEHIND, thresholds=steps("green", (1, "red")), w=8),
        _per_scenario("Lowest sustained speed",
                      "How close to real time did each live scenario's slowest stream stay (1x = real time; red "
                      "below 0.99x)?", m.RESULTS_MIN_SPEED, w=8),
        _per_scenario("Duplicated frames",
                      "How many frames did ffmpeg duplicate to keep the live streams' frame rate?",
                      m.RESULTS_DUPLICATED_FRAMES, w=8),
        stat("Capacity knee",
             "How many live streams of the sweep's settings fit on this machine in real time? The largest count "
             "at which every stream held real time.",
             T(selector(m.RESULTS_SWEEP_KNEE), "{sweep}"), w=6, h=8),
        stat("Joules per extra stream",
             "What does one more live stream cost in energy? The slope of the sweep's energy over its stream "
             "counts (least squares), once per energy source of its steps (simulated in orange).",
             T(sweep_figure_sources(selector(m.COST_SWEEP_MARGINAL_ENERGY), step_energy, **F),
               "{sweep} · {source}"), w=6, h=8),
        bargauge("Sweep steps: energy per stream count",
                 "What did each step of a capacity sweep draw, one bar per stream count? Read with the lowest "
                 "speed beside it: the knee is where speed drops below 1x.",
                 T(sweep_sources(step_energy, **F), "{sweep}: {scenario} · {source}"), w=6, h=8),
        bargauge("Sweep steps: lowest speed per stream count",
                 "How close to real time did each sweep step's slowest stream stay (1x = real time)?",
                 T(selector(m.RESULTS_SWEEP_STEP_SPEED, **SWEEP), "{sweep}: {scenario}"), w=6, h=8),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / Results overview",
        description="The benchmark results file being served: which encoder and preset win (the leaderboard), "
                    "then the scenarios, schedule, duration, fps, frames, streams, pixels, quality scores and "
                    "the live streams' capacity (results, qoe and cost exporters).",
        question="Which encoder and preset win in this run, at what quality, bitrate, energy and cost?",
        headline=[leaderboard(F, F)],
        rows=[_scenarios(), _quality(), _live(), _run()], variables=BENCH.vars, tags=("results",),
        time_from="now-24h",
    )
