"""Live encoding (uid live-encoding): which live streams fall behind real time, then ffmpeg streams
as they encode, from -progress pushes, what each live stream costs in watts, joules per frame and per
viewer-hour (streams exporter, `live_energy`), and the RTMP server they publish to (nginx-rtmp, rtmp
exporter).

Rows are built one function each (`_streams`, `_receiver`, `live_energy.energy_row`, `rtmp_row`).
"""

from __future__ import annotations

from ffwatt.catalog import FFMPEG_END_REASONS, FFMPEG_REJECT_REASONS
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.live_energy import energy_row, energy_stream
from ffwatt.dashboards_src.live_rtmp import R, rtmp_row, rtmp_variables
from ffwatt.dashboards_src.panels import (
    T,
    bargauge,
    stat,
    state_timeline,
    steps,
    table,
    timeseries,
    value_mappings,
)
from ffwatt.dashboards_src.promql import below, bits, by, increase, rate, selector
from ffwatt.dashboards_src.units import REAL_TIME_SPEED

UID = "live-encoding"

# Lab hosts: the `host` label each host's vmagent adds (absent when VictoriaMetrics scrapes
# the exporter itself; "All" matches those too).
LAB_HOST = Var("host", m.FFMPEG_STREAMS, "host", "Lab host")
INSTANCE = Var("instance", m.FFMPEG_STREAMS, "instance", "ffmpeg exporter", chain=(("host", LAB_HOST.ref),))
STREAM = Var("stream", m.FFMPEG_FPS, "stream", chain=(("host", LAB_HOST.ref), ("instance", INSTANCE.ref)))
HOST = {"host": LAB_HOST.ref, "instance": INSTANCE.ref}
S = {**HOST, "stream": STREAM.ref}
BEHIND = f"below {REAL_TIME_SPEED:g}x"


def _headline() -> list:
    speed = selector(m.FFMPEG_SPEED, **S)
    return [
        stat("Streams behind real time",
             f"How many of the selected live streams encode slower than real time right now ({BEHIND}: they "
             "fall further behind every second)? 0 is green; the table beside names them.",
             T(by("sum", below(speed, REAL_TIME_SPEED), "host"), "{host} behind"),
             thresholds=steps("green", (1, "red")), colorMode="background", w=6, h=9),
        table("Streams by speed",
              f"Which streams are behind real time? Every selected stream with its host, slowest first: speed "
              f"({BEHIND} in red), encoding fps and output bitrate (bits/s).",
              T(speed, name="Speed"),
              T(selector(m.FFMPEG_FPS, **S), name="fps"),
              T(bits(selector(m.FFMPEG_BITRATE, **S)), name="Bitrate"),
              columns=("host", "stream"), sort="Speed", w=18, h=9),
    ]


def _streams() -> Row:
    return Row("Streams", [
        stat("Active streams",
             "How many ffmpeg processes are pushing progress right now?",
             T(selector(m.FFMPEG_STREAMS, **HOST), "{instance} {host}"), w=6),
        stat("Slowest stream speed",
             f"Is every selected stream keeping up with real time? Red {BEHIND}.",
             T(by("min", selector(m.FFMPEG_SPEED, **S)), "slowest"), colorMode="background", w=6),
        stat("Frames dropped over the range",
             "How many frames did the selected streams drop over the selected time range?",
             T(by("sum", increase(m.FFMPEG_DROPPED, **S)), "dropped"), thresholds=steps("green", (1, "red")), w=6),
        stat("Total output bitrate",
             "What is the selected streams' combined output bitrate (bits/s)?",
             T(by("sum", bits(selector(m.FFMPEG_BITRATE, **S))), "bitrate"), w=6),
        state_timeline("Stream activity",
                       "When was each stream pushing progress? A gap is a stream that ended or went silent.",
                       T(selector(m.FFMPEG_ACTIVE, **S), "{stream} {host}"),
                       mappings=value_mappings({"1": ("pushing", "green"), "0": ("idle", "red")}),
                       thresholds=steps("red", (1, "green"))),
        timeseries("Encoding fps per stream",
                   "How many frames per second does each stream's ffmpeg encode?",
                   T(selector(m.FFMPEG_FPS, **S), "{stream} {host}"), legendCalcs=["mean", "min", "lastNotNull"]),
        timeseries("Speed per stream",
                   f"How fast does each stream encode relative to real time (1x)? {BEHIND.capitalize()} (the red "
                   "line) it falls behind.",
                   T(selector(m.FFMPEG_SPEED, **S), "{stream} {host}"), min=0, legendCalcs=["mean", "min"]),
        timeseries("Output bitrate per stream",
                   "What bitrate (bits/s) does each stream write?",
                   T(bits(selector(m.FFMPEG_BITRATE, **S)), "{stream} {host}"), legendCalcs=["mean", "max"]),
        timeseries("Encoded frames per second (from the counter)",
                   "How many frames per second does each stream encode, averaged over each step? Derived from the "
                   "frame counter: a cross-check of the reported fps.",
                   T(rate(m.FFMPEG_FRAMES, **S), "{stream} {host}")),
        timeseries("Dropped and duplicated frames per second",
                   "Is a stream dropping or duplicating frames, and how fast?",
                   T(rate(m.FFMPEG_DROPPED, **S), "{stream} dropped {host}"),
                   T(rate(m.FFMPEG_DUPLICATED, **S), "{stream} duplicated {host}")),
        bargauge("Dropped and duplicated frames over the range",
                 "How many frames did each stream drop and duplicate over the selected time range?",
                 T(increase(m.FFMPEG_DROPPED, **S), "{stream} dropped {host}"),
                 T(increase(m.FFMPEG_DUPLICATED, **S), "{stream} duplicated {host}"),
                 thresholds=steps("green", (1, "red"))),
        timeseries("Output time per stream",
                   "How much media time has each stream written so far?",
                   T(selector(m.FFMPEG_OUTPUT_TIME, **S), "{stream} {host}")),
        timeseries("Bits written per second",
                   "How many bits per second does each stream's ffmpeg write to its output? Derived from the "
                   "output size counter: a cross-check of the reported bitrate.",
                   T(bits(rate(m.FFMPEG_OUTPUT_BYTES, **S)), "{stream} {host}")),
    ])


def _receiver() -> Row:
    return Row("Progress receiver", [
        timeseries("Rejected progress pushes",
                   "Are ffmpeg pushes or lines being rejected, and why? Reasons: "
                   + ", ".join(FFMPEG_REJECT_REASONS) + ".",
                   T(by("sum", rate(m.FFMPEG_REJECTED, **HOST), "reason"), "{reason}"),
                   drawStyle="bars", fillOpacity=80),
        bargauge("Streams ended over the range",
                 "How did streams end over the selected time range: " + " or ".join(FFMPEG_END_REASONS)
                 + " (end: ffmpeg said progress=end; silent: no push within the timeout)?",
                 T(by("sum", increase(m.FFMPEG_ENDED, **HOST), "reason"), "{reason}")),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / Live encoding",
        description="Which live streams fall behind real time, then live ffmpeg streams from -progress pushes: "
                    "fps, speed, bitrate, frames, drops and duplicates per stream, and how streams end (ffmpeg "
                    "exporter); each live stream's watts, joules per frame, joules and cost per viewer-hour "
                    "(streams exporter); the RTMP server they publish to: ingest and egress per stream, clients, "
                    "A/V sync, dropped messages, video meta (rtmp exporter).",
        question="Which live streams are behind real time, on which host?",
        headline=_headline(),
        rows=[_streams(), _receiver(), energy_row(LAB_HOST, R), rtmp_row()],
        variables=[LAB_HOST, INSTANCE, STREAM, energy_stream(LAB_HOST), *rtmp_variables()],
        tags=("live", "ffmpeg", "rtmp", "energy"),
        time_from="now-1h", refresh="10s",
    )
