"""streams exporter (9507, in the agent): the live encodes on this host that ffwatt did not start.

Each refresh (1 s by default) scans `--proc-root` for encoder processes
(`readers.streams.discovery`: `--process-names`, one stream per process tree, the runner's
own encodes left out, at most `--max-streams`), names each stream from its command line
without its stream key (`readers.streams.identity`, `--stream-label`, `--stream-names`) and
serves per stream:

- `ffwatt_stream_cpu_seconds_total{stream}`: the tree's CPU time, monotonic while helper
  processes come and go (`readers.streams.counters`);
- `ffwatt_stream_info{stream,encoder,resolution,bitrate}` from the command line;

- `ffwatt_stream_energy_joules_total{stream}` and `ffwatt_stream_power_watts{stream}`: its share of
  the machine's energy by the runner's rule, and `ffwatt_host_other_energy_joules_total`,
  `ffwatt_host_idle_energy_joules_total` beside them, so streams + other + idle = the machine's
  energy; `ffwatt_streams_energy_source_info{source,attribution}` says where the energy comes
  from and by which rule it is split (`exporters.streams_energy`);

and the collector's own state: streams found (`ffwatt_streams_discovered`) and left out by
the cap (`ffwatt_streams_dropped_total`, each once; their CPU time is other's). A stream that
ends is served with its last values for `--ended-retention` seconds, then leaves /metrics.

Failures: a `--proc-root` that cannot be listed fails the refresh (up 0, /health names it);
streams over the cap, command lines too long to read whole and an interval whose energy is
unknown are warnings (/health degraded). Nothing here logs a command line: it holds stream keys.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import Setting, non_negative_float, positive_int
from ffwatt.exporters.runtime import Exporter, SourceError
from ffwatt.exporters.samples import Samples
from ffwatt.exporters.streams_energy import ENERGY_SETTINGS, StreamsEnergy
from ffwatt.readers.streams.counters import StreamSeries, boot_seconds
from ffwatt.readers.streams.discovery import DEFAULT_MAX_STREAMS, DEFAULT_PROCESS_NAMES, Scanner
from ffwatt.readers.streams.identity import STREAM_LABEL_SETTING, STREAM_NAMES_SETTING, Naming, compile_rule
from ffwatt.readers.streams.procfs import MAX_CMDLINE_BYTES


def process_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError("give at least one process name, e.g. ffmpeg,gst-launch-1.0")
    return names


class StreamsExporter(Exporter):
    name = "streams"
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("proc-root", "/proc", "The proc filesystem to read processes from (a container needs the host's: "
                "`pid: host`)."),
        Setting("process-names", ",".join(DEFAULT_PROCESS_NAMES),
                "Comma-separated process names (comm, first 15 characters) whose process trees are streams.",
                process_names),
        Setting("max-streams", DEFAULT_MAX_STREAMS,
                "Most streams served; trees over it are left out and counted.", positive_int),
        Setting("ended-retention", 15.0,
                "Seconds a stream's series stay after its processes end (so the last scrape sees its last count).",
                non_negative_float),
        STREAM_NAMES_SETTING,
        STREAM_LABEL_SETTING,
        *ENERGY_SETTINGS,
    )
    default_refresh_seconds: ClassVar[float | None] = 1.0

    def __init__(self, config):
        super().__init__(config)
        self.proc_root = str(config.proc_root)
        names = config.process_names
        self.process_names = process_names(names) if isinstance(names, str) else tuple(names)
        self.naming = Naming(config.stream_names, compile_rule(config.stream_label))
        self.scanner = Scanner(self.proc_root, self.process_names, self.naming, int(config.max_streams))
        self.series = StreamSeries(float(config.ended_retention))
        self.energy = StreamsEnergy.from_config(config, self.proc_root)
        self._last: dict = {}

    def refresh(self, out: Samples) -> None:
        listed = boot_seconds()
        try:
            scan = self.scanner.scan()
        except OSError as exc:
            raise SourceError(f"--proc-root {self.proc_root}: cannot list processes: "
                              f"{exc.strerror or type(exc).__name__}") from None
        values = self.series.update(scan.streams, listed_at=listed)
        self.energy.update(values)
        self.energy.add_samples(out, values)
        for v in values:
            i = v.identity
            out.add(m.STREAM_CPU, v.cpu_seconds, stream=i.stream)
            out.add(m.STREAM_INFO, 1, stream=i.stream, encoder=i.encoder, resolution=i.resolution, bitrate=i.bitrate)
        out.add(m.STREAMS_DISCOVERED, scan.found)
        out.add(m.STREAMS_DROPPED, self.scanner.dropped_total)
        if scan.over_cap:
            out.warn(f"{scan.over_cap} stream(s) over --max-streams {self.scanner.max_streams} left out")
        if scan.cut_cmdlines:
            out.warn(f"{scan.cut_cmdlines} stream(s) with a command line over {MAX_CMDLINE_BYTES} bytes: "
                     "named from its first part only")
        self._last = {
            "streams": len(scan.streams),
            "ended_streams_kept": sum(1 for v in values if not v.live),
            "found": scan.found,
            "own_encodes_left_out": scan.own,
            "over_cap": scan.over_cap,
            "dropped_total": self.scanner.dropped_total,
            "processes_known": self.scanner.processes_known,
            "labels_by_rule": values,  # counted when /health asks, not every second
        }

    def close(self) -> None:
        self.scanner.close()

    def health_details(self) -> dict:
        return {
            "proc_root": self.proc_root,
            "process_names": list(self.process_names),
            "max_streams": self.scanner.max_streams,
            "stream_names": self.naming.names,
            "stream_label_rule": self.naming.rule is not None,
            "ended_retention_seconds": self.series.retention,
            "last_scan": {**self._last,
                          "labels_by_rule": dict(Counter(v.identity.rule for v in self._last.get("labels_by_rule", ())))},
            "energy": self.energy.health_details(),
        }
