"""The live encoding dashboard's RTMP server row (nginx-rtmp, rtmp exporter): publishers, players,
ingest and egress in bits/s, A/V sync, dropped messages, the streams' video meta.

The server has its own filters: it need not run where the encoders do.
"""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import Row, Var
from ffwatt.dashboards_src.panels import T, stat, state_timeline, steps, table, timeseries, value_mappings
from ffwatt.dashboards_src.promql import bits, by, increase, rate, selector

RTMP_INSTANCE = Var("rtmp_instance", m.RTMP_UPTIME, "instance", "rtmp exporter")
APP = Var("app", m.RTMP_STREAMS, "app", "RTMP application", chain=(("instance", RTMP_INSTANCE.ref),))
RTMP_STREAM = Var("rtmp_stream", m.RTMP_STREAM_CLIENTS, "stream", "RTMP stream",
                  chain=(("instance", RTMP_INSTANCE.ref), ("app", APP.ref)))
SERVER = {"instance": RTMP_INSTANCE.ref}
R = {"instance": RTMP_INSTANCE.ref, "app": APP.ref, "stream": RTMP_STREAM.ref}


def rtmp_variables() -> list[Var]:
    return [RTMP_INSTANCE, APP, RTMP_STREAM]


def _now() -> list:
    return [
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
    ]


def _traffic() -> list:
    return [
        timeseries("Ingest per stream",
                   "How many bits per second does the server receive for each stream? The rate of the ingest "
                   "byte counter: what the publisher really delivered.",
                   T(bits(rate(m.RTMP_STREAM_RECEIVED, **R)), "{stream}"), legendCalcs=["mean", "min", "max"]),
        timeseries("Egress per stream",
                   "How many bits per second does the server send to each stream's players? 0 without players.",
                   T(bits(rate(m.RTMP_STREAM_SENT, **R)), "{stream}"), legendCalcs=["mean", "max"]),
        timeseries("Audio and video ingest (nginx-rtmp's 10 s average)",
                   "How does each stream's ingest split into audio and video (bits/s)? nginx-rtmp's own 10 s "
                   "averages: 0 during a stream's first 10 s; the ingest panel's counter rate is exact.",
                   T(bits(selector(m.RTMP_STREAM_VIDEO_RATE, **R)), "{stream} video"),
                   T(bits(selector(m.RTMP_STREAM_AUDIO_RATE, **R)), "{stream} audio")),
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
                   "How many bits per second does the whole RTMP server receive and send (all connections)?",
                   T(bits(rate(m.RTMP_SERVER_RECEIVED, **SERVER)), "{instance} in"),
                   T(bits(rate(m.RTMP_SERVER_SENT, **SERVER)), "{instance} out")),
        timeseries("Streams per application",
                   "How many streams does each RTMP application list over time?",
                   T(selector(m.RTMP_STREAMS, instance=RTMP_INSTANCE.ref, app=APP.ref), "{app}")),
    ]


def rtmp_row() -> Row:
    return Row("RTMP server (nginx-rtmp)", _now() + _traffic() + [
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
