"""QoE metrics (uid qoe-metrics): which encoder buys the most quality for its bits and joules, and
how good each scenario's output is."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row
from ffwatt.dashboards_src.panels import T, bargauge, stat, steps, timeseries
from ffwatt.dashboards_src.promql import by, selector
from ffwatt.dashboards_src.scenario import (
    BENCH,
    PSNR_STEPS,
    SSIM_STEPS,
    VMAF_STEPS,
    bitrate,
    energy_attribution,
    energy_columns,
    energy_source,
    figures,
    leaderboard,
    per_frame,
    scenario_table,
    with_source,
)
from ffwatt.dashboards_src.xychart import xychart

UID = "qoe-metrics"

F = BENCH.on(m.QOE_VMAF)
# Drop ratio: under 0.1 % is clean, 1 % and above is visibly broken; the bars end at 2 % so a
# few drops show (a scenario beyond fills its bar, red).
DROP_STEPS = steps("green", (0.001, "yellow"), (0.01, "red"))
DROP_SCALE = 0.02


def _trade_offs() -> Row:
    vmaf = selector(m.QOE_VMAF, **F)
    return Row("Trade-offs", [
        xychart("Quality against energy per frame",
                "What quality does each scenario buy with its energy? One point per scenario: VMAF up, its own "
                "joules per encoded frame right (per frame, so longer and multi-stream scenarios compare fairly), "
                "one series per encoder and energy source (\"estimated (model)\" and simulated say so in the "
                "legend). The scenarios on the upper left win (more quality for less energy); a point below and "
                "right of another is beaten on both.",
                x=T(with_source(per_frame(F), F), name="Energy per frame"), y=T(vmaf, name="VMAF"),
                series_by=("encoder", "source")),
        xychart("Rate-distortion",
                "How does quality grow with bitrate, per encoder? VMAF against the measured bitrate (bits/s), one "
                "curve per encoder, resolution and clip: the plot every encoding comparison starts from. A curve "
                "above and left of another reaches the same quality at a lower bitrate.",
                x=T(bitrate(F), name="Bitrate"), y=T(vmaf, name="VMAF"),
                series_by=("encoder", "resolution", "clip"), curves=True),
        scenario_table(
            "Trade-off figures per scenario",
            "The figures behind the two charts, one row per scenario, with where its energy figure came from "
            "(source: rapl, nvml, rapl+nvml, samples and tsdb are measured; \"estimated (model)\" is the CPU "
            "power model; simulated is sample data; unavailable has none). Energy is the scenario's own share; "
            "the whole machine's over its window and the rule that split it stand beside it.",
            T(vmaf, name="VMAF"),
            T(bitrate(F), name="Bitrate"),
            T(per_frame(F), name="J per frame"),
            *energy_columns(F),
            T(selector(m.COST_MEAN_POWER, **F), name="Mean power"),
            energy_source(F),
            filters=F, sort="VMAF", desc=True, h=9),
    ])


def _quality() -> Row:
    vmaf = selector(m.QOE_VMAF, **F)
    return Row("Quality", [
        bargauge("VMAF per scenario",
                 "How good is each scenario's output? VMAF 0-100: red below 70, yellow below 85, green from 85.",
                 T(vmaf, "{scenario}"), thresholds=VMAF_STEPS, max=100, w=12),
        timeseries("VMAF over time",
                   "Did a scenario's VMAF change between results files? The line is the value in the results "
                   "file being served; the threshold lines mark 70 and 85.",
                   T(vmaf, "{scenario}"), thresholds=VMAF_STEPS, min=0, max=100, w=12),
        bargauge("VMAF of the worst frames",
                 "Does a good mean hide bad frames? Per scenario the mean, the harmonic mean, the 1st percentile "
                 "(the 1 % low) and the minimum of the per-frame VMAF (measured runs only: files without "
                 "per-frame details show the mean alone).",
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


def _efficiency() -> Row:
    drops = selector(m.QOE_DROP_RATIO, **F)
    return Row("Efficiency and drops", [
        bargauge("Quality per watt",
                 "Which scenario buys the most VMAF per watt of mean power? Higher is better; the energy source "
                 "follows each name (simulated in orange).",
                 T(with_source(selector(m.QOE_QUALITY_PER_WATT, **F), F), "{scenario} · {source}"),
                 w=8, decimals=3),
        bargauge("QoE efficiency",
                 "Which scenario delivers the most quality-weighted pixels per joule? Higher is better; the "
                 "energy source follows each name.",
                 T(with_source(selector(m.QOE_EFFICIENCY, **F), F), "{scenario} · {source}"), w=8),
        bargauge("Frame drop ratio",
                 "Which scenarios dropped frames? Green below 0.1 %, yellow below 1 %, red from 1 %; the bars end "
                 "at 2 %.",
                 T(drops, "{scenario}"), thresholds=DROP_STEPS, max=DROP_SCALE, w=8, decimals=3),
        stat("Worst VMAF",
             "What is the lowest VMAF among the selected scenarios?",
             T(by("min", selector(m.QOE_VMAF, **F)), "lowest"), thresholds=VMAF_STEPS, colorMode="background",
             w=6, h=8),
        stat("Highest drop ratio",
             "What is the highest frame drop ratio among the selected scenarios?",
             T(by("max", drops), "highest"), thresholds=DROP_STEPS, colorMode="background", w=6, h=8),
        timeseries("Frame drop ratio over time",
                   "Did the drop ratio of a scenario change between results files?",
                   T(drops, "{scenario}"), thresholds=DROP_STEPS, min=0, w=12),
    ])


def _summary() -> Row:
    return Row("Summary", [
        scenario_table(
            "Quality summary",
            "Every quality figure of every selected scenario side by side, one row per scenario, with the source "
            "of the energy behind the per-watt and per-joule figures and the rule that gave the scenario its "
            "share of the machine's energy.",
            *figures(F,
                     (m.QOE_VMAF, "VMAF"),
                     (m.QOE_VMAF_P1, "VMAF 1 % low"),
                     (m.QOE_PSNR, "PSNR"),
                     (m.QOE_SSIM, "SSIM"),
                     (m.QOE_QUALITY_PER_WATT, "VMAF per watt"),
                     (m.QOE_EFFICIENCY, "Pixels per joule (quality-weighted)"),
                     (m.QOE_DROP_RATIO, "Drop ratio")),
            energy_source(F), energy_attribution(F),
            filters=F, sort="VMAF", desc=True, h=9),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / QoE metrics",
        description="Which encoder buys the most quality for its bits and joules (the leaderboard, quality "
                    "against energy per frame, rate-distortion curves), then VMAF, PSNR, SSIM, quality per watt, "
                    "quality-weighted efficiency and frame drops per scenario (qoe, results and cost exporters).",
        question="Which encoder buys the most quality for its bits and joules?",
        headline=[leaderboard(F, F)],
        rows=[_trade_offs(), _quality(), _efficiency(), _summary()], variables=BENCH.vars,
        tags=("qoe", "results"), time_from="now-24h",
    )
