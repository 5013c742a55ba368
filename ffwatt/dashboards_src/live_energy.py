"""The live encoding dashboard's energy row (issue 32): what each live stream on a host costs, from
the streams exporter (each stream's share of the machine's energy by the runner's rule), joined on
`stream` with nginx-rtmp's viewers and frame rate (rtmp exporter) and the cost exporter's prices.

Every energy figure carries where the collector's machine energy came from (`provenance.streams_source`:
"estimated (model)" for the CPU model, simulated in orange). The per-viewer-hour figures are the
recording rules' (`stream_energy`), over the dashboard's rate interval.
"""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import Row, Var
from ffwatt.dashboards_src.panels import T, bargauge, stat, steps, table, timeseries
from ffwatt.dashboards_src.promql import by, increase, rate, selector, top
from ffwatt.dashboards_src.provenance import source_stat, streams_source
from ffwatt.dashboards_src.stream_energy import (
    cost_per_viewer_hour,
    joules_per_frame,
    joules_per_viewer_hour,
    stream_cores,
    stream_watts,
    viewers,
)

TOP = 10


def energy_stream(host: Var) -> Var:
    """The streams exporter's streams on the selected hosts (its labels: hashed keys, file names)."""
    return Var("energy_stream", m.STREAM_INFO, "stream", "Stream (energy)", chain=(("host", host.ref),))


def energy_row(host: Var, rtmp: dict[str, str]) -> Row:
    """`host`: the lab host filter; `rtmp`: nginx-rtmp's filters (instance, app, stream)."""
    eh = {"host": host.ref}
    e = {**eh, "stream": energy_stream(host).ref}
    watts = stream_watts(e, eh)
    per_stream = "{stream} · {source}"
    return Row("Energy per live stream (streams exporter)", [
        stat("Watts of the live streams",
             "How much of the host's power do its live streams draw right now? Their attributed shares of the "
             "machine's energy (CPU time share of the active part, CPUs held of the idle part), summed per host.",
             T(by("sum", streams_source(rate(m.STREAM_ENERGY, **e), **eh), "host", "source"), "{host} · {source}"),
             w=6),
        stat("Live streams found",
             "How many encoder process trees (ffmpeg, or --process-names) that ffwatt did not start run on each "
             "host? The runner's own encodes are left out.",
             T(selector(m.STREAMS_DISCOVERED, **eh), "{host}"), w=6),
        stat("Streams left out by the cap",
             "How many stream trees were left out over the selected range because the host ran more than "
             "--max-streams? Their CPU time is charged to other. 0 is green.",
             T(by("sum", increase(m.STREAMS_DROPPED, **eh)), "left out"), thresholds=steps("green", (1, "red")), w=6),
        source_stat("Energy source",
                    "Where does each host's streams collector read the machine's energy? rapl / nvml (measured), "
                    "model (the per-thread CPU model, an estimate) or simulated (orange: the demo's tree).",
                    m.STREAMS_ENERGY_SOURCE, eh),
        timeseries("Watts per stream",
                   "How many watts does each live stream draw? Its encoder process tree's share of the machine's "
                   "energy per second, by the rule the runner charges a benchmark scenario with.",
                   T(streams_source(rate(m.STREAM_ENERGY, **e), **eh), "{stream} {host} · {source}"),
                   legendCalcs=["mean", "max", "lastNotNull"]),
        bargauge(f"Top {TOP} streams by watts",
                 "Which streams cost the most power right now (the last collector interval)? Candidates to move to "
                 "a hardware encoder.",
                 T(top(TOP, streams_source(selector(m.STREAM_POWER, **e), **eh)), "{stream} {host} · {source}")),
        timeseries("Joules per frame per stream",
                   "How much energy does each stream spend on one frame? Its watts over the frame rate its "
                   "publisher announced to nginx-rtmp (a stream behind real time reads low).",
                   T(joules_per_frame(watts, rtmp), per_stream), legendCalcs=["mean", "lastNotNull"]),
        timeseries("Energy per viewer-hour per stream",
                   "How many joules does an hour of each stream cost per viewer? Its watts x 3600 s over its viewers "
                   "(nginx-rtmp's clients minus the publisher); no viewer, no figure.",
                   T(joules_per_viewer_hour(watts, viewers(rtmp)), per_stream), legendCalcs=["mean", "lastNotNull"]),
        timeseries("Cost per viewer-hour per stream",
                   "What does an hour of each stream cost per viewer? Its energy (kWh x the cost exporter's price per "
                   "kWh) and CPU (cores x the price per core-hour) over its viewers, per currency.",
                   T(cost_per_viewer_hour(watts, stream_cores(e), viewers(rtmp)), "{stream} {currency} · {source}"),
                   legendCalcs=["mean", "lastNotNull"]),
        timeseries("CPU cores per stream",
                   "How many CPU cores does each stream's encoder process tree keep busy? The share of the active "
                   "energy follows it.",
                   T(rate(m.STREAM_CPU, **e), "{stream} {host}"), legendCalcs=["mean", "max"]),
        table("Live streams",
              "What does each live stream encode (codec, size and bitrate from its command line), and what does it "
              "draw now? Stream keys are hashed, never shown.",
              T(selector(m.STREAM_INFO, **e), hide=True),
              T(streams_source(selector(m.STREAM_POWER, **e), **eh), name="Watts"),
              T(rate(m.STREAM_CPU, **e), name="CPU cores"),
              columns=("host", "stream"), sort="Watts", desc=True),
    ])
