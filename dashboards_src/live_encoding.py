"""Live encoding (uid live-encoding): ffmpeg streams as they encode, from -progress pushes."""

from __future__ import annotations

from catalog import FFMPEG_END_REASONS, FFMPEG_REJECT_REASONS
from catalog import metrics as m
from dashboards_src.dashboard import DashboardSpec, Row, Var
from dashboards_src.panels import (
    T,
    bargauge,
    by,
    increase,
    rate,
    selector,
    stat,
    state_timeline,
    steps,
    timeseries,
    value_mappings,
)

UID = "live-encoding"

INSTANCE = Var("instance", m.FFMPEG_STREAMS, "instance", "ffmpeg exporter")
STREAM = Var("stream", m.FFMPEG_FPS, "stream")
HOST = {"instance": INSTANCE.ref}
S = {"instance": INSTANCE.ref, "stream": STREAM.ref}

# ffmpeg's speed: 1 = real time; a live stream below it falls behind.
SPEED_STEPS = steps("red", (1, "green"))


def dashboard() -> DashboardSpec:
    streams = Row("Streams", [
        stat("Active streams",
             "How many ffmpeg processes are pushing progress right now?",
             T(selector(m.FFMPEG_STREAMS, **HOST), "{instance}"), w=6),
        stat("Slowest stream speed",
             "Is every selected stream keeping up with real time? Red below 1x (100 %).",
             T(by("min", selector(m.FFMPEG_SPEED, **S)), "slowest"), thresholds=SPEED_STEPS,
             colorMode="background", w=6),
        stat("Frames dropped over the range",
             "How many frames did the selected streams drop over the selected time range?",
             T(by("sum", increase(m.FFMPEG_DROPPED, **S)), "dropped"), thresholds=steps("green", (1, "red")), w=6),
        stat("Total output bitrate",
             "What is the selected streams' combined output bitrate?",
             T(by("sum", selector(m.FFMPEG_BITRATE, **S)), "bitrate"), w=6),
        state_timeline("Stream activity",
                       "When was each stream pushing progress? A gap is a stream that ended or went silent.",
                       T(selector(m.FFMPEG_ACTIVE, **S), "{stream}"),
                       mappings=value_mappings({"1": ("pushing", "green"), "0": ("idle", "red")}),
                       thresholds=steps("red", (1, "green"))),
        timeseries("Encoding fps per stream",
                   "How many frames per second does each stream's ffmpeg encode?",
                   T(selector(m.FFMPEG_FPS, **S), "{stream}"), legendCalcs=["mean", "min", "lastNotNull"]),
        timeseries("Speed per stream",
                   "How fast does each stream encode relative to real time (100 % = 1x)? Below the red line it "
                   "falls behind.",
                   T(selector(m.FFMPEG_SPEED, **S), "{stream}"), thresholds=SPEED_STEPS, min=0,
                   legendCalcs=["mean", "min"]),
        timeseries("Output bitrate per stream",
                   "What bitrate does each stream write?",
                   T(selector(m.FFMPEG_BITRATE, **S), "{stream}"), legendCalcs=["mean", "max"]),
        timeseries("Encoded frames per second (from the counter)",
                   "How many frames per second does each stream encode, averaged over each step? Derived from the "
                   "frame counter: a cross-check of the reported fps.",
                   T(rate(m.FFMPEG_FRAMES, **S), "{stream}")),
        timeseries("Dropped and duplicated frames per second",
                   "Is a stream dropping or duplicating frames, and how fast?",
                   T(rate(m.FFMPEG_DROPPED, **S), "{stream} dropped"),
                   T(rate(m.FFMPEG_DUPLICATED, **S), "{stream} duplicated")),
        bargauge("Dropped and duplicated frames over the range",
                 "How many frames did each stream drop and duplicate over the selected time range?",
                 T(increase(m.FFMPEG_DROPPED, **S), "{stream} dropped"),
                 T(increase(m.FFMPEG_DUPLICATED, **S), "{stream} duplicated"),
                 thresholds=steps("green", (1, "red"))),
        timeseries("Output time per stream",
                   "How much media time has each stream written so far?",
                   T(selector(m.FFMPEG_OUTPUT_TIME, **S), "{stream}")),
        timeseries("Bytes written per second",
                   "How many bytes per second does each stream's ffmpeg write to its output? Derived from the "
                   "output size counter: a cross-check of the reported bitrate (x 8).",
                   T(rate(m.FFMPEG_OUTPUT_BYTES, **S), "{stream}")),
    ])
    receiver = Row("Progress receiver", [
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
    return DashboardSpec(
        uid=UID, title="ffwatt / Live encoding",
        description="Live ffmpeg streams from -progress pushes: fps, speed, bitrate, frames, drops and duplicates "
                    "per stream, and how streams end (ffmpeg exporter).",
        rows=[streams, receiver], variables=[INSTANCE, STREAM], tags=("live", "ffmpeg"),
        time_from="now-1h", refresh="10s",
    )
