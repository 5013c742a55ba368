"""Live encoding (uid live-encoding): ffmpeg streams as they encode, from -progress pushes, and
the RTMP server they publish to (nginx-rtmp, rtmp exporter)."""

from __future__ import annotations

from ffwatt.catalog import FFMPEG_END_REASONS, FFMPEG_REJECT_REASONS
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import (
    T,
    bargauge,
    by,
    increase,
    rate,
    selector,
    stat,
    state_timeline,
    steps,
    table,
    timeseries,
    value_mappings,
)

UID = "live-encoding"

# Lab hosts: the `host` label each host's vmagent adds (absent when VictoriaMetrics scrapes
# the exporter itself; "All" matches those too).
LAB_HOST = Var("host", m.FFMPEG_STREAMS, "host", "Lab host")
INSTANCE = Var("instance", m.FFMPEG_STREAMS, "instance", "ffmpeg exporter")
STREAM = Var("stream", m.FFMPEG_FPS, "stream")
HOST = {"host": LAB_HOST.ref, "instance": INSTANCE.ref}
S = {"host": LAB_HOST.ref, "instance": INSTANCE.ref, "stream": STREAM.ref}

# The RTMP server side: its own filters, the server need not run where the encoders do.
RTMP_INSTANCE = Var("rtmp_instance", m.RTMP_UPTIME, "instance", "rtmp exporter")
APP = Var("app", m.RTMP_STREAMS, "app", "RTMP application")
RTMP_STREAM = Var("rtmp_stream", m.RTMP_STREAM_CLIENTS, "stream", "RTMP stream")
SERVER = {"instance": RTMP_INSTANCE.ref}
R = {"instance": RTMP_INSTANCE.ref, "app": APP.ref, "stream": RTMP_STREAM.ref}

# ffmpeg's speed: 1 = real time; a live stream below it falls behind.
SPEED_STEPS = steps("red", (1, "green"))


def dashboard() -> DashboardSpec:
    streams = Row("Streams", [
        stat("Active streams",
             "How many ffmpeg processes are pushing progress right now?",
             T(selector(m.FFMPEG_STREAMS, **HOST), "{instance} {host}"), w=6),
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
                       T(selector(m.FFMPEG_ACTIVE, **S), "{stream} {host}"),
                       mappings=value_mappings({"1": ("pushing", "green"), "0": ("idle", "red")}),
                       thresholds=steps("red", (1, "green"))),
        timeseries("Encoding fps per stream",
                   "How many frames per second does each stream's ffmpeg encode?",
                   T(selector(m.FFMPEG_FPS, **S), "{stream} {host}"), legendCalcs=["mean", "min", "lastNotNull"]),
        timeseries("Speed per stream",
                   "How fast does each stream encode relative to real time (100 % = 1x)? Below the red line it "
                   "falls behind.",
                   T(selector(m.FFMPEG_SPEED, **S), "{stream} {host}"), thresholds=SPEED_STEPS, min=0,
                   legendCalcs=["mean", "min"]),
        timeseries("Output bitrate per stream",
                   "What bitrate does each stream write?",
                   T(selector(m.FFMPEG_BITRATE, **S), "{stream} {host}"), legendCalcs=["mean", "max"]),
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
        timeseries("Bytes written per second",
                   "How many bytes per second does each stream's ffmpeg write to its output? Derived from the "
                   "output size counter: a cross-check of the reported bitrate (x 8).",
                   T(rate(m.FFMPEG_OUTPUT_BYTES, **S), "{stream} {host}")),
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
                    "per stream, and how streams end (ffmpeg exporter); the RTMP server they publish to: ingest "
                    "and egress per stream, clients, A/V sync, dropped messages, video meta (rtmp exporter).",
        rows=[streams, receiver, _rtmp_server()], variables=[LAB_HOST, INSTANCE, STREAM, RTMP_INSTANCE, APP, RTMP_STREAM],
        tags=("live", "ffmpeg", "rtmp"),
        time_from="now-1h", refresh="10s",
    )


def _rtmp_server() -> Row:
    return Row("RTMP server (nginx-rtmp)", [
        stat("Publishing streams",
             "How many streams have a publisher on the RTMP server right now?",
             T(by("sum", selector(m.RTMP_STREAM_PUBLISHING, **R)), "publishing"), w=6),
        stat("Clients",
             "How many clients (publishers and players) are connected to the selected streams?",
             T(by("sum", selector(m.RTMP_STREAM_CLIENTS, **R)), "clients"), w=6),
        stat("Connections accepted over the range",
             "How many RTMP connections did the server accept over the selected time range? Many more than "
             "streams and players means clients reconnecting.",
             T(by("sum", increase(m.RTMP_ACCEPTED, **SERVER)), "accepted"), w=6),
        stat("Server uptime",
             "How long has the RTMP server been running? A restart during a benchmark cuts every stream.",
             T(selector(m.RTMP_UPTIME, **SERVER), "{instance}"), w=6),
        timeseries("Ingest per stream",
                   "How many bytes per second does the server receive for each stream? The rate of the ingest "
                   "byte counter (x 8 for bits/s): what the publisher really delivered.",
                   T(rate(m.RTMP_STREAM_RECEIVED, **R), "{stream}"), legendCalcs=["mean", "min", "max"]),
        timeseries("Egress per stream",
                   "How many bytes per second does the server send to each stream's players? 0 without players.",
                   T(rate(m.RTMP_STREAM_SENT, **R), "{stream}"), legendCalcs=["mean", "max"]),
        timeseries("Audio and video ingest (nginx-rtmp's 10 s average)",
                   "How does each stream's ingest split into audio and video? nginx-rtmp's own 10 s averages: "
                   "0 during a stream's first 10 s; the ingest panel's counter rate is exact.",
                   T(selector(m.RTMP_STREAM_VIDEO_RATE, **R), "{stream} video"),
                   T(selector(m.RTMP_STREAM_AUDIO_RATE, **R), "{stream} audio")),
        timeseries("Publisher A/V sync",
                   "How far apart are audio and video timestamps of each stream's publisher? Drifting away from 0 "
                   "means the encoder cannot keep audio and video together.",
                   T(selector(m.RTMP_STREAM_AVSYNC, **R), "{stream}"), legendCalcs=["mean", "min", "max"]),
        timeseries("Clients per stream",
                   "How many clients (the publisher plus players) does each stream have?",
                   T(selector(m.RTMP_STREAM_CLIENTS, **R), "{stream}")),
        timeseries("Dropped messages per second",
                   "Is the server dropping messages for a stream's clients (players too slow to keep up)?",
                   T(rate(m.RTMP_STREAM_DROPPED, **R), "{stream}"), drawStyle="bars", fillOpacity=80),
        timeseries("Server traffic",
                   "How many bytes per second does the whole RTMP server receive and send (all connections)?",
                   T(rate(m.RTMP_SERVER_RECEIVED, **SERVER), "{instance} in"),
                   T(rate(m.RTMP_SERVER_SENT, **SERVER), "{instance} out")),
        timeseries("Streams per application",
                   "How many streams does each RTMP application list over time?",
                   T(selector(m.RTMP_STREAMS, instance=RTMP_INSTANCE.ref, app=APP.ref), "{app}")),
        state_timeline("Stream publishing",
                       "When did each stream have a publisher? A gap is a stream that ended; 'waiting' is players "
                       "waiting for a publisher.",
                       T(selector(m.RTMP_STREAM_PUBLISHING, **R), "{stream}"),
                       mappings=value_mappings({"1": ("publishing", "green"), "0": ("waiting", "orange")}),
                       thresholds=steps("orange", (1, "green"))),
        table("Streams on the server",
              "What does each stream carry: video codec, size and frame rate its publisher announced, and how long "
              "it has been on the server.",
              T(selector(m.RTMP_STREAM_VIDEO, **R), hide=True),
              T(selector(m.RTMP_STREAM_WIDTH, **R), name="Width"),
              T(selector(m.RTMP_STREAM_HEIGHT, **R), name="Height"),
              T(selector(m.RTMP_STREAM_FPS, **R), name="Frame rate"),
              T(selector(m.RTMP_STREAM_AGE, **R), name="On the server for"), h=6),
    ])
