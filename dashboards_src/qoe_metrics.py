"""QoE metrics (uid qoe-metrics): how good each scenario's output is, and at what energy."""

from __future__ import annotations

from catalog import metrics as m
from dashboards_src.dashboard import DashboardSpec, Row, Var
from dashboards_src.panels import T, bargauge, by, selector, stat, steps, table, timeseries

UID = "qoe-metrics"

SCENARIO = Var("scenario", m.QOE_VMAF, "scenario")
ENCODER = Var("encoder", m.QOE_VMAF, "encoder")
RESOLUTION = Var("resolution", m.QOE_VMAF, "resolution")
F = {"scenario": SCENARIO.ref, "encoder": ENCODER.ref, "resolution": RESOLUTION.ref}

# Quality bands: VMAF below 70 is visibly degraded, 85+ is good for streaming.
VMAF_STEPS = steps("red", (70, "yellow"), (85, "green"))
PSNR_STEPS = steps("red", (30, "yellow"), (38, "green"))
SSIM_STEPS = steps("red", (0.9, "yellow"), (0.95, "green"))
# Drop ratio: under 0.1 % is clean, 1 % and above is visibly broken.
DROP_STEPS = steps("green", (0.001, "yellow"), (0.01, "red"))


def dashboard() -> DashboardSpec:
    vmaf = selector(m.QOE_VMAF, **F)
    quality = Row("Quality", [
        bargauge("VMAF per scenario",
                 "How good is each scenario's output? VMAF 0-100: red below 70, yellow below 85, green from 85.",
                 T(vmaf, "{scenario}"), thresholds=VMAF_STEPS, max=100, w=12),
        timeseries("VMAF over time",
                   "Did a scenario's VMAF change between results files? The line is the value in the results "
                   "file being served; the threshold lines mark 70 and 85.",
                   T(vmaf, "{scenario}"), thresholds=VMAF_STEPS, min=0, max=100, w=12),
        bargauge("VMAF of the worst frames",
                 "Does a good mean hide bad frames? Per scenario the mean, the harmonic mean, the 1st percentile "
                 "and the minimum of the per-frame VMAF (measured runs only: files without per-frame details "
                 "show the mean alone).",
                 T(vmaf, "{scenario} mean"),
                 T(selector(m.QOE_VMAF_HARMONIC_MEAN, **F), "{scenario} harmonic mean"),
                 T(selector(m.QOE_VMAF_P1, **F), "{scenario} 1st percentile"),
                 T(selector(m.QOE_VMAF_MIN, **F), "{scenario} min"),
                 thresholds=VMAF_STEPS, max=100, w=24, h=10),
        bargauge("PSNR per scenario",
                 "How close is each output to its source in PSNR? Red below 30 dB, yellow below 38 dB.",
                 T(selector(m.QOE_PSNR, **F), "{scenario}"), thresholds=PSNR_STEPS, max=60, w=12),
        bargauge("SSIM per scenario",
                 "How structurally similar is each output to its source? SSIM 0-1: red below 0.9, yellow below "
                 "0.95.",
                 T(selector(m.QOE_SSIM, **F), "{scenario}"), thresholds=SSIM_STEPS, max=1, decimals=4, w=12),
    ])
    efficiency = Row("Efficiency", [
        bargauge("Quality per watt",
                 "Which scenario buys the most VMAF per watt of mean power? Higher is better.",
                 T(selector(m.QOE_QUALITY_PER_WATT, **F), "{scenario}"), w=8, decimals=3),
        bargauge("QoE efficiency",
                 "Which scenario delivers the most quality-weighted pixels per joule? Higher is better.",
                 T(selector(m.QOE_EFFICIENCY, **F), "{scenario}"), w=8),
        bargauge("Frame drop ratio",
                 "Which scenarios dropped frames? Green below 0.1 %, yellow below 1 %, red from 1 %.",
                 T(selector(m.QOE_DROP_RATIO, **F), "{scenario}"), thresholds=DROP_STEPS, max=1, w=8,
                 decimals=3),
        stat("Worst VMAF",
             "What is the lowest VMAF among the selected scenarios?",
             T(by("min", vmaf), "lowest"), thresholds=VMAF_STEPS, colorMode="background", w=6),
        stat("Highest drop ratio",
             "What is the highest frame drop ratio among the selected scenarios?",
             T(by("max", selector(m.QOE_DROP_RATIO, **F)), "highest"), thresholds=DROP_STEPS,
             colorMode="background", w=6),
        timeseries("Frame drop ratio over time",
                   "Did the drop ratio of a scenario change between results files?",
                   T(selector(m.QOE_DROP_RATIO, **F), "{scenario}"), thresholds=DROP_STEPS, min=0, w=12),
    ])
    summary = Row("Summary", [
        table("Quality summary",
              "Every quality figure of every selected scenario side by side, one row per scenario.",
              T(vmaf, name="VMAF"),
              T(selector(m.QOE_VMAF_P1, **F), name="VMAF 1st percentile"),
              T(selector(m.QOE_PSNR, **F), name="PSNR"),
              T(selector(m.QOE_SSIM, **F), name="SSIM"),
              T(selector(m.QOE_QUALITY_PER_WATT, **F), name="VMAF per watt"),
              T(selector(m.QOE_EFFICIENCY, **F), name="Pixels per joule (quality-weighted)"),
              T(selector(m.QOE_DROP_RATIO, **F), name="Drop ratio"),
              sort="VMAF", desc=True, h=9),
    ])
    return DashboardSpec(
        uid=UID, title="ffwatt / QoE metrics",
        description="VMAF, PSNR, SSIM, quality per watt, quality-weighted efficiency and frame drops per scenario, "
                    "from the current results file (qoe exporter).",
        rows=[quality, efficiency, summary], variables=[SCENARIO, ENCODER, RESOLUTION], tags=("qoe", "results"),
        time_from="now-24h",
    )

