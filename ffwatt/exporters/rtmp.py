"""rtmp exporter: nginx-rtmp server statistics from its `/stat` XML.

Each refresh (the runtime's background loop, never a scrape) GETs `--stat-url`
(`rtmp_stat all;` in nginx.conf), reads at most `--max-body-bytes` within
`--stat-timeout` seconds in all, and parses it with `exporters.rtmp_stat`. Per stream
(labels `app`, `stream`) it serves the ingest and egress byte counters, nginx-rtmp's
10 s audio/video ingest averages, clients, the stream's age, the publisher's A/V sync,
dropped messages and the announced video meta; per server its uptime, accepted
connections and byte counters; per application the number of streams.

The `stream` label is not nginx-rtmp's stream name, which is the publisher's stream key (a
credential) in the common `rtmp://host/app/KEY` set-up: it is `app/key-<hash of the name>`
(`readers.streams.identity.rtmp_stream_label`, the function the streams exporter names the
same stream with from ffmpeg's command line, so the two join on `stream`), or `app/name`
with `--stream-names plain`. No stream name is logged or shown in /health.

Streams that end leave /metrics at the next refresh (families are rebuilt each time).

Dropped messages: nginx-rtmp counts them per client, and a client's count leaves the
XML with the client. The exporter keeps, per stream, the last count of every client it
saw, so the stream's counter never goes down while the stream lives; the per-stream
state is dropped with the stream, and all of it when the server restarts (another
`pid`, or its uptime went down).

Bad input (server down, refused, slow, an HTTP error, an empty, huge, malformed or
DOCTYPE-declaring body, a root that is not `<rtmp>`, more than `--max-streams` streams):
the refresh raises `SourceError`, so the last good data keeps being served,
`ffwatt_exporter_up` is 0 and /health says degraded with the reason, then failing once
it is stale. A stream whose application or label is over `--max-label-length` characters
is left out (the others are served) and /health says degraded, naming it.
"""

from __future__ import annotations

import dataclasses
import time

import requests
import urllib3

from ffwatt.catalog import metrics as m
from ffwatt.common.urls import redact, scrub
from ffwatt.exporters.config import Setting, positive_float, positive_int
from ffwatt.exporters.http_body import BodyTooLargeError, read_body
from ffwatt.exporters.labels import MAX_LABEL_LENGTH, LongLabels
from ffwatt.exporters.rtmp_stat import DEFAULT_MAX_BYTES, DEFAULT_MAX_STREAMS, Stat, StatError, Stream, parse_stat
from ffwatt.exporters.runtime import Exporter, SourceError
from ffwatt.exporters.samples import Samples
from ffwatt.readers.streams.identity import HASHED, STREAM_NAMES_SETTING, rtmp_stream_label

DEFAULT_STAT_URL = "http://127.0.0.1:8080/stat"
READ_SIZE = 64 * 1024


def fetch(url: str, *, timeout: float, max_bytes: int, session: requests.Session | None = None) -> bytes:
    """GET `url`; the body, at most `max_bytes`, with the whole exchange (connect, headers,
    body) done within `timeout` seconds: the body is read one socket read at a time, each
    bounded by the time left, so a server that trickles bytes cannot stretch a refresh
    (requests' own timeout bounds each read, not the answer). `SourceError` otherwise."""
    deadline = time.monotonic() + timeout
    http = session if session is not None else requests.Session()
    shown = redact(url)  # the user info authenticates; messages never show its password
    try:
        # No redirect followed: basic auth from the URL's user info must not go where a 3xx points.
        with http.get(url, timeout=(timeout, timeout), stream=True, headers={"Accept-Encoding": "identity"},
                      allow_redirects=False) as r:
            if r.status_code != 200:
                raise SourceError(f"{shown} answered HTTP {r.status_code}")
            declared = r.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(f"{shown}: body of {int(declared)} bytes is over the limit of {max_bytes} bytes "
                                  "(--max-body-bytes)")
            return _read_body(r, shown, deadline, timeout, max_bytes)
    except requests.Timeout:
        raise SourceError(f"{shown}: no answer within {timeout:g} s (--stat-timeout)") from None
    except requests.ConnectionError as exc:
        raise SourceError(scrub(f"{shown} unreachable: {_reason(exc)}", url)) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise SourceError(scrub(f"{shown}: {_reason(exc)}", url)) from None
    finally:
        if session is None:
            http.close()


def _read_body(r: requests.Response, url: str, deadline: float, timeout: float, max_bytes: int) -> bytes:
    try:
        return read_body(r, deadline, max_bytes, READ_SIZE)
    except (TimeoutError, urllib3.exceptions.ReadTimeoutError):  # a read timed out, or the deadline passed
        raise SourceError(f"{url}: answer not complete within {timeout:g} s (--stat-timeout)") from None
    except BodyTooLargeError:
        raise SourceError(f"{url}: body over the limit of {max_bytes} bytes (--max-body-bytes)") from None


class DroppedMessages:
    """Per stream: the last dropped count of every client seen, so the sum never falls."""

    def __init__(self) -> None:
        self._server: tuple[str | None, float | None] = (None, None)
        self._streams: dict[tuple[str, str], dict[str, float]] = {}

    def update(self, stat: Stat) -> dict[tuple[str, str], float]:
        pid, uptime = stat.pid, stat.uptime_seconds
        last_pid, last_uptime = self._server
        if pid != last_pid or (uptime is not None and last_uptime is not None and uptime < last_uptime):
            self._streams = {}  # another server (or a restart): its client ids start over
        self._server = (pid, uptime)
        current: dict[tuple[str, str], dict[str, float]] = {}
        totals: dict[tuple[str, str], float] = {}
        for s in stat.streams:
            key = (s.app, s.name)
            seen = current.setdefault(key, dict(self._streams.get(key, {})))
            for c in s.clients:
                if c.dropped is not None:
                    # a client's own count only rises; max() keeps a late, smaller reading harmless
                    seen[c.id] = max(c.dropped, seen.get(c.id, 0.0))
            totals[key] = sum(seen.values())
        self._streams = current  # streams that ended are forgotten
        return totals


class RtmpExporter(Exporter):
    name = "rtmp"
    settings = (
        Setting("stat-url", DEFAULT_STAT_URL,
                "URL of nginx-rtmp's statistics XML (a location with `rtmp_stat all;`)."),
        Setting("stat-timeout", 2.0, "Seconds one GET of the statistics may take in all.", positive_float),
        Setting("max-body-bytes", DEFAULT_MAX_BYTES,
                "Largest statistics body accepted, in bytes; a larger one fails the refresh.", positive_int),
        Setting("max-streams", DEFAULT_MAX_STREAMS,
                "Most streams one statistics body may list; more fails the refresh (the last good data stays).",
                positive_int),
        MAX_LABEL_LENGTH,
        STREAM_NAMES_SETTING,
    )

    def __init__(self, config):
        super().__init__(config)
        self.stat_url = str(config.stat_url)
        self.timeout = float(config.stat_timeout)
        self.max_bytes = int(config.max_body_bytes)
        self.max_streams = int(config.max_streams)
        self.max_label = int(config.max_label_length)
        self.stream_names = str(config.stream_names)
        self._session = requests.Session()
        self._dropped = DroppedMessages()
        self._last: dict = {}

    def refresh(self, out: Samples) -> None:
        body = fetch(self.stat_url, timeout=self.timeout, max_bytes=self.max_bytes, session=self._session)
        t0 = time.perf_counter()
        try:
            stat = parse_stat(body, max_bytes=self.max_bytes, max_streams=self.max_streams)
        except StatError as exc:
            raise SourceError(scrub(f"{redact(self.stat_url)}: {exc}", self.stat_url)) from None
        parse_seconds = time.perf_counter() - t0
        labels = stream_labels(stat, self.stream_names)
        long_labels = LongLabels(self.max_label, "stream")
        stat = _without_long_labels(stat, labels, long_labels)
        dropped = self._dropped.update(stat)
        add_samples(out, stat, dropped, self.stream_names, labels=labels)
        if long_labels.warning():
            out.warn(long_labels.warning())
        duplicates = _duplicates(stat, labels)
        if duplicates:
            out.warn(f"streams listed twice (several server blocks share an application name), "
                     f"the last one served: {', '.join(duplicates[:5])}")
        self._last = {
            "nginx_pid": stat.pid,
            "nginx_version": stat.nginx_version,
            "nginx_rtmp_version": stat.rtmp_version,
            "applications": list(stat.applications),
            "streams": len(stat.streams),
            "body_bytes": len(body),
            "parse_seconds": round(parse_seconds, 6),
        }

    def health_details(self) -> dict:
        return {
            "stat_url": redact(self.stat_url),
            "stat_timeout_seconds": self.timeout,
            "max_body_bytes": self.max_bytes,
            "max_streams": self.max_streams,
            "max_label_length": self.max_label,
            "stream_names": self.stream_names,
            "last_stat": dict(self._last),
        }

    def close(self) -> None:
        self._session.close()


def _without_long_labels(stat: Stat, labels: dict[tuple[str, str], str], long_labels: LongLabels) -> Stat:
    """The stat without streams (and applications) whose labels are over the label bound."""
    streams = tuple(s for s in stat.streams if long_labels.allows(app=s.app, stream=labels[s.app, s.name]))
    applications = tuple(a for a in stat.applications if len(a) <= long_labels.limit)
    if len(streams) == len(stat.streams) and len(applications) == len(stat.applications):
        return stat
    return dataclasses.replace(stat, streams=streams, applications=applications)


def stream_labels(stat: Stat, names: str) -> dict[tuple[str, str], str]:
    """(app, name) -> the stream's `stream` label (`--stream-names` hashed or plain)."""
    return {(s.app, s.name): rtmp_stream_label(s.app, s.name, names) for s in stat.streams}


def add_samples(out: Samples, stat: Stat, dropped: dict[tuple[str, str], float], names: str = HASHED, *,
                labels: dict[tuple[str, str], str] | None = None) -> None:
    """Every sample of one /stat reading (pure apart from `out`); `labels`: `stream_labels(stat, names)`
    when the caller has them already (each is a hash of the stream key)."""
    if labels is None:
        labels = stream_labels(stat, names)
    out.add(m.RTMP_UPTIME, stat.uptime_seconds)
    out.add(m.RTMP_ACCEPTED, stat.accepted)
    out.add(m.RTMP_SERVER_RECEIVED, stat.bytes_in)
    out.add(m.RTMP_SERVER_SENT, stat.bytes_out)
    per_app = {app: 0 for app in stat.applications}
    for s in stat.streams:
        per_app[s.app] = per_app.get(s.app, 0) + 1
        _add_stream(out, s, dropped.get((s.app, s.name)), labels[s.app, s.name])
    for app, count in per_app.items():
        out.add(m.RTMP_STREAMS, count, app=app)


def _add_stream(out: Samples, s: Stream, dropped: float | None, label: str) -> None:
    labels = {"app": s.app, "stream": label}
    out.add(m.RTMP_STREAM_PUBLISHING, 1 if s.publishing else 0, **labels)
    out.add(m.RTMP_STREAM_RECEIVED, s.bytes_in, **labels)
    out.add(m.RTMP_STREAM_SENT, s.bytes_out, **labels)
    out.add(m.RTMP_STREAM_AUDIO_RATE, s.audio_bytes_per_second, **labels)
    out.add(m.RTMP_STREAM_VIDEO_RATE, s.video_bytes_per_second, **labels)
    out.add(m.RTMP_STREAM_CLIENTS, s.clients_count, **labels)
    out.add(m.RTMP_STREAM_AGE, s.age_seconds, **labels)
    publisher = s.publisher
    out.add(m.RTMP_STREAM_AVSYNC, publisher.avsync_seconds if publisher else None, **labels)
    out.add(m.RTMP_STREAM_DROPPED, dropped, **labels)
    if s.video is not None:
        out.add(m.RTMP_STREAM_WIDTH, s.video.width, **labels)
        out.add(m.RTMP_STREAM_HEIGHT, s.video.height, **labels)
        out.add(m.RTMP_STREAM_FPS, s.video.frame_rate, **labels)
        if s.video.codec:
            out.add(m.RTMP_STREAM_VIDEO, 1, codec=s.video.codec, **labels)


def _duplicates(stat: Stat, labels: dict[tuple[str, str], str]) -> list[str]:
    """Labels two streams share (by their labels: a name may be a stream key)."""
    seen: set[tuple[str, str]] = set()
    twice: set[str] = set()
    for s in stat.streams:
        key = (s.app, labels[s.app, s.name])
        if key in seen:
            twice.add(key[1])
        seen.add(key)
    return sorted(twice)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
