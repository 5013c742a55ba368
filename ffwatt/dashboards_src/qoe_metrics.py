"""QoE metrics (uid qoe-metrics): how good each scenario's output is, and at what energy."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import Q, T, bargauge, by, selector, stat, steps, table, timeseries
from ffwatt.dashboards_src.scenario import SOURCE_COLUMN, drill_down, energy_attribution, energy_columns, energy_source
from ffwatt.dashboards_src.xychart import xychart

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


def bits_per_second(q: Q) -> Q:
    """A bytes/s gauge x 8: the bits per second encoders are compared in."""
    if q.unit != "Bps":
        raise ValueError(f"{q} is not in bytes/s")
    return Q(f"{q} * 8", q.metrics, q.labels, "bps")


def dashboard() -> DashboardSpec:
    vmaf = selector(m.QOE_VMAF, **F)
    energy = selector(m.COST_ENERGY_JOULES, **F)
    bitrate = bits_per_second(selector(m.RESULTS_MEASURED_BITRATE, **F))
    trade_offs = Row("Trade-offs", [
        xychart("Quality against energy",
                "What quality does each scenario buy with its energy? One point per scenario: VMAF up, joules "
                "right. The scenarios on the upper left win (more quality for less energy); a point below and "
                "right of another is beaten on both. Where each energy figure comes from (measured, modelled, "
                "simulated, unavailable) is in the table below.",
                x=T(energy, name="Energy"), y=T(vmaf, name="VMAF")),
        xychart("Rate-distortion",
                "How does quality grow with bitrate, per encoder? VMAF against the measured bitrate (bits/s), one "
                "series per encoder: the plot every encoding comparison starts from. A curve above and left of "
                "another reaches the same quality at a lower bitrate.",
                x=T(bitrate, name="Bitrate"), y=T(vmaf, name="VMAF"), series_by="encoder"),
        table("Trade-off figures per scenario",
              "The figures behind the two charts, one row per scenario, with where its energy figure came from "
              "(source: rapl, nvml, rapl+nvml, samples and tsdb are measured; model is an estimate; simulated is "
              "sample data; unavailable has none). Energy is the scenario's own share, the one the chart uses; "
              "the whole machine's over its window and the rule that split it stand beside it. A scenario links "
              "to the same scenario on the results, QoE and cost dashboards.",
              T(vmaf, name="VMAF"),
              T(bitrate, name="Bitrate"),
              *energy_columns(**F),
              T(selector(m.COST_MEAN_POWER, **F), name="Mean power"),
              energy_source(**F),
              sort="VMAF", desc=True, h=9, overrides=[drill_down(), SOURCE_COLUMN]),
    ])
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
             T(by("min", vmaf), "lowest"), thresholds=VMAF_STEPS, colorMode="background", w=6, h=8),
        stat("Highest drop ratio",
             "What is the highest frame drop ratio among the selected scenarios?",
             T(by("max", selector(m.QOE_DROP_RATIO, **F)), "highest"), thresholds=DROP_STEPS,
             colorMode="background", w=6, h=8),
        timeseries("Frame drop ratio over time",
                   "Did the drop ratio of a scenario change between results files?",
                   T(selector(m.QOE_DROP_RATIO, **F), "{scenario}"), thresholds=DROP_STEPS, min=0, w=12),
    ])
    summary = Row("Summary", [
        table("Quality summary",
              "Every quality figure of every selected scenario side by side, one row per scenario, with the source of "
              "the energy behind the per-watt and per-joule figures and the rule that gave the scenario its share of the "
              "machine's energy. A scenario links to the same scenario on the "
              "results, QoE and cost dashboards.",
              T(vmaf, name="VMAF"),
              T(selector(m.QOE_VMAF_P1, **F), name="VMAF 1st percentile"),
              T(selector(m.QOE_PSNR, **F), name="PSNR"),
              T(selector(m.QOE_SSIM, **F), name="SSIM"),
              T(selector(m.QOE_QUALITY_PER_WATT, **F), name="VMAF per watt"),
              T(selector(m.QOE_EFFICIENCY, **F), name="Pixels per joule (quality-weighted)"),
              T(selector(m.QOE_DROP_RATIO, **F), name="Drop ratio"),
              energy_source(**F), energy_attribution(**F),
              sort="VMAF", desc=True, h=9, overrides=[drill_down(), SOURCE_COLUMN]),
    ])
    return DashboardSpec(
        uid=UID, title="ffwatt / QoE metrics",
        description="VMAF, PSNR, SSIM, quality against energy and rate-distortion, quality per watt, "
                    "quality-weighted efficiency and frame drops per scenario, from the current results file (qoe, "
                    "results and cost exporters).",
        rows=[quality, trade_offs, efficiency, summary], variables=[SCENARIO, ENCODER, RESOLUTION], tags=("qoe", "results"),
        time_from="now-24h",
    )

