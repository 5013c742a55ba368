"""Results overview (uid results-overview): what the current results file holds."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import T, age, as_datetime, bargauge, by, selector, stat, steps, table
from ffwatt.dashboards_src.scenario import drill_down

UID = "results-overview"

SCENARIO = Var("scenario", m.RESULTS_DURATION, "scenario")
ENCODER = Var("encoder", m.RESULTS_DURATION, "encoder")
RESOLUTION = Var("resolution", m.RESULTS_DURATION, "resolution")
F = {"scenario": SCENARIO.ref, "encoder": ENCODER.ref, "resolution": RESOLUTION.ref}

DAY = 86400.0


def dashboard() -> DashboardSpec:
    file_row = Row("Results file", [
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
    scenarios = Row("Scenarios", [
        table("Scenarios",
              "What ran: every scenario of the results file with its preset, schedule, duration and frame "
              "counts. A scenario links to the same scenario on the results, QoE and cost dashboards.",
              T(selector(m.RESULTS_SCENARIO_INFO, **F), hide=True),
              T(as_datetime(m.RESULTS_START, **F), name="Started"),
              T(as_datetime(m.RESULTS_END, **F), name="Ended"),
              T(selector(m.RESULTS_DURATION, **F), name="Duration"),
              T(selector(m.RESULTS_AVERAGE_FPS, **F), name="Average fps"),
              T(selector(m.RESULTS_FRAMES, **F), name="Frames"),
              T(selector(m.RESULTS_DROPPED_FRAMES, **F), name="Dropped frames"),
              T(selector(m.RESULTS_STREAMS, **F), name="Streams"),
              T(selector(m.RESULTS_PIXELS, **F), name="Pixels"),
              T(selector(m.RESULTS_MEASURED_BITRATE, **F), name="Measured bitrate"),
              T(selector(m.RESULTS_SPEED, **F), name="Speed (x real time)"),
              T(selector(m.RESULTS_OUTPUT_BYTES, **F), name="Output"),
              T(selector(m.RESULTS_REPETITIONS, **F), name="Runs"),
              T(selector(m.RESULTS_FPS_CI95, **F), name="fps ± (95 % CI)"),
              sort="Started", h=10, overrides=[drill_down()]),
        bargauge("Duration per scenario",
                 "How long was each scenario planned to run?",
                 T(selector(m.RESULTS_DURATION, **F), "{scenario}")),
        bargauge("Average fps per scenario",
                 "Which scenarios encoded fastest? Average encoding frames per second over the scenario.",
                 T(selector(m.RESULTS_AVERAGE_FPS, **F), "{scenario}")),
        bargauge("Frame statistics",
                 "How many frames did each scenario encode, and how many did it drop?",
                 T(selector(m.RESULTS_FRAMES, **F), "{scenario} encoded"),
                 T(selector(m.RESULTS_DROPPED_FRAMES, **F), "{scenario} dropped"), h=10),
        bargauge("Streams per scenario",
                 "How many concurrent streams did each scenario encode?",
                 T(selector(m.RESULTS_STREAMS, **F), "{scenario}"), h=10),
        bargauge("Pixels processed per scenario",
                 "How much picture did each scenario process (width x height x frames x streams)?",
                 T(selector(m.RESULTS_PIXELS, **F), "{scenario}"), w=24),
    ])
    quality = Row("Quality", [
        bargauge("VMAF per scenario",
                 "How good is each scenario's output? Details on the QoE metrics dashboard.",
                 T(selector(m.QOE_VMAF, **F), "{scenario}"),
                 thresholds=steps("red", (70, "yellow"), (85, "green")), max=100, w=8),
        bargauge("PSNR per scenario",
                 "How close is each output to its source in PSNR?",
                 T(selector(m.QOE_PSNR, **F), "{scenario}"),
                 thresholds=steps("red", (30, "yellow"), (38, "green")), max=60, w=8),
        bargauge("SSIM per scenario",
                 "How structurally similar is each output to its source (0-1)?",
                 T(selector(m.QOE_SSIM, **F), "{scenario}"),
                 thresholds=steps("red", (0.9, "yellow"), (0.95, "green")), max=1, decimals=4, w=8),
    ])
    live = Row("Live streams and capacity", [
        bargauge("Live streams behind real time",
                 "How many of each live scenario's streams fell behind real time (sustained speed below 0.99 "
                 "after the warm-up)? Any above 0 means the machine could not keep that many streams live.",
                 T(selector(m.RESULTS_STREAMS_BEHIND, **F), "{scenario}"),
                 thresholds=steps("green", (1, "red")), w=8),
        bargauge("Lowest sustained speed",
                 "How close to real time did each live scenario's slowest stream stay (1 = real time)?",
                 T(selector(m.RESULTS_MIN_SPEED, **F), "{scenario}"),
                 thresholds=steps("red", (0.99, "green")), w=8),
        bargauge("Duplicated frames",
                 "How many frames did ffmpeg duplicate to keep the live streams' frame rate?",
                 T(selector(m.RESULTS_DUPLICATED_FRAMES, **F), "{scenario}"), w=8),
        stat("Capacity knee",
             "How many live streams of the sweep's settings fit on this machine in real time? The largest count "
             "at which every stream held real time.",
             T(selector(m.RESULTS_SWEEP_KNEE), "{sweep}"), unit="short", w=6, h=8),
        stat("Joules per extra stream",
             "What does one more live stream cost in energy? The slope of the sweep's energy over its stream "
             "counts (least squares).",
             T(selector(m.COST_SWEEP_MARGINAL_ENERGY), "{sweep}"), w=6, h=8),
        bargauge("Sweep steps: energy per stream count",
                 "What did each step of a capacity sweep draw, one bar per stream count? Read with the lowest "
                 "speed beside it: the knee is where speed drops below 1.",
                 T(selector(m.COST_SWEEP_STEP_ENERGY), "{sweep}: {scenario}"), w=6, h=8),
        bargauge("Sweep steps: lowest speed per stream count",
                 "How close to real time did each sweep step's slowest stream stay (1 = real time)?",
                 T(selector(m.RESULTS_SWEEP_STEP_SPEED), "{sweep}: {scenario}"),
                 thresholds=steps("red", (0.99, "green")), w=6, h=8),
    ])
    return DashboardSpec(
        uid=UID, title="ffwatt / Results overview",
        description="The benchmark results file being served: scenarios, schedule, duration, fps, frames, streams, "
                    "pixels and quality scores (results and qoe exporters).",
        rows=[file_row, scenarios, quality, live], variables=[SCENARIO, ENCODER, RESOLUTION], tags=("results",),
        time_from="now-24h",
    )

