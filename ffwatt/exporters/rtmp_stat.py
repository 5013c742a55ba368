"""Parse nginx-rtmp's `/stat` XML (`rtmp_stat all;`) into plain values, in base units.

Standard library only; pure: bytes in, a `Stat` out, or `StatError` saying what was
wrong. The shape, as nginx-rtmp 1.2.x (Debian's libnginx-mod-rtmp) writes it:

    <rtmp>
      <pid>, <uptime> (s), <naccepted>, <bw_in>/<bw_out> (bits/s, 10 s average),
      <bytes_in>/<bytes_out> (counters)
      <server><application><name>live</name><live>
        <stream><name>, <time> (ms since the stream appeared), <bw_in>, <bytes_in>,
          <bw_out>, <bytes_out>, <bw_audio>, <bw_video> (bits/s, 10 s averages),
          <client><id>, <dropped>, <avsync> (ms), <publishing/>?, ...</client>*,
          <meta><video><width>, <height>, <frame_rate>, <codec>...</video>
                <audio>...</audio></meta>?,
          <nclients>, <publishing/>?, <active/>?
        </stream>*
        <nclients>
      </live></application>*</server>*
    </rtmp>

Safety, as defusedxml would have it: a body over `max_bytes` is refused before
parsing, and so is any DOCTYPE or ENTITY declaration (nginx-rtmp writes none; entity
expansion is how small XML becomes huge). Text is decoded as UTF-8 with replacement
first, because nginx-rtmp cuts `flashver` at 32 bytes, possibly inside a character.

A missing or non-numeric field is None (unknown), never 0.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ffwatt.common.errors import FfwattError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# About 14 series per stream: 1000 streams are ~14k series, a busy ingest server's worth.
DEFAULT_MAX_STREAMS = 1000
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class StatError(FfwattError, ValueError):
    """The /stat body is not nginx-rtmp statistics; the message says what was found."""


@dataclass(frozen=True)
class VideoMeta:
    """What the publisher announced in its onMetaData (None: not announced)."""

    width: float | None
    height: float | None
    frame_rate: float | None
    codec: str | None


@dataclass(frozen=True)
class Client:
    """One connection to a stream: its publisher or a player."""

    id: str
    publishing: bool
    dropped: float | None  # messages the server dropped for this client
    avsync_seconds: float | None  # audio minus video timestamp, publisher only


@dataclass(frozen=True)
class Stream:
    """One live stream of one application."""

    app: str
    name: str
    age_seconds: float | None
    bytes_in: float | None
    bytes_out: float | None
    audio_bytes_per_second: float | None  # bw_audio / 8: nginx-rtmp's 10 s average
    video_bytes_per_second: float | None  # bw_video / 8
    clients_count: float | None  # nclients: publisher + players
    publishing: bool
    clients: tuple[Client, ...]
    video: VideoMeta | None

    @property
    def publisher(self) -> Client | None:
        return next((c for c in self.clients if c.publishing), None)


@dataclass(frozen=True)
class Stat:
    """The whole /stat document."""

    pid: str | None
    nginx_version: str | None
    rtmp_version: str | None
    uptime_seconds: float | None
    accepted: float | None
    bytes_in: float | None
    bytes_out: float | None
    applications: tuple[str, ...]  # every live application, also those without streams
    streams: tuple[Stream, ...]


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _number(el: ET.Element | None, tag: str, scale: float = 1.0) -> float | None:
    text = _text(el, tag)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value * scale


def _video(stream: ET.Element) -> VideoMeta | None:
    video = stream.find("meta/video")
    if video is None:
        return None
    codec = _text(video, "codec")
    return VideoMeta(
        width=_number(video, "width"),
        height=_number(video, "height"),
        frame_rate=_number(video, "frame_rate"),
        codec=codec or None,
    )


def _client(el: ET.Element) -> Client:
    return Client(
        id=_text(el, "id") or "",
        publishing=el.find("publishing") is not None,
        dropped=_number(el, "dropped"),
        avsync_seconds=_number(el, "avsync", 1e-3),
    )


def _stream(app: str, el: ET.Element) -> Stream:
    clients = tuple(_client(c) for c in el.findall("client"))
    return Stream(
        app=app,
        name=_text(el, "name") or "",
        age_seconds=_number(el, "time", 1e-3),
        bytes_in=_number(el, "bytes_in"),
        bytes_out=_number(el, "bytes_out"),
        audio_bytes_per_second=_number(el, "bw_audio", 1 / 8),
        video_bytes_per_second=_number(el, "bw_video", 1 / 8),
        clients_count=_number(el, "nclients"),
        publishing=el.find("publishing") is not None,
        clients=clients,
        video=_video(el),
    )


def parse_stat(body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_streams: int = DEFAULT_MAX_STREAMS) -> Stat:
    """Parse one /stat document. `StatError` when it is empty, too big, declares a
    DOCTYPE or entities, is not well-formed XML, its root is not `<rtmp>`, or it lists
    more than `max_streams` streams (counted before parsing, and again after)."""
    if not body or not body.strip():
        raise StatError("empty /stat body")
    if len(body) > max_bytes:
        raise StatError(f"/stat body is {len(body)} bytes, over the limit of {max_bytes}")
    if _DECLARATION.search(body):
        raise StatError("/stat body declares a DOCTYPE or ENTITY; refused (nginx-rtmp writes neither)")
    tags = body.count(b"<stream>")  # milliseconds, where parsing 8 MiB takes a third of a second
    if tags > max_streams:
        raise StatError(f"/stat lists {tags} streams, over the limit of {max_streams} (--max-streams)")
    text = body.decode("utf-8", "replace")
    # the declaration names an encoding; ElementTree refuses a str that keeps it
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise StatError(f"/stat body is not well-formed XML: {exc}") from None
    if root.tag != "rtmp":
        raise StatError(f"/stat root element is <{root.tag}>, expected <rtmp> (is this nginx-rtmp's rtmp_stat?)")
    lives: list[tuple[str, list[ET.Element]]] = []
    for app_el in root.findall("server/application"):
        live = app_el.find("live")
        if live is None:
            continue  # an application without `live on;` (e.g. VOD) has no streams
        lives.append((_text(app_el, "name") or "", live.findall("stream")))
    count = sum(len(els) for _, els in lives)
    if count > max_streams:
        raise StatError(f"/stat lists {count} streams, over the limit of {max_streams} (--max-streams)")
    applications = [app for app, _ in lives]
    streams = [_stream(app, s) for app, els in lives for s in els]
    return Stat(
        pid=_text(root, "pid"),
        nginx_version=_text(root, "nginx_version"),
        rtmp_version=_text(root, "nginx_rtmp_version"),
        uptime_seconds=_number(root, "uptime"),
        accepted=_number(root, "naccepted"),
        bytes_in=_number(root, "bytes_in"),
        bytes_out=_number(root, "bytes_out"),
        applications=tuple(applications),
        streams=tuple(streams),
    )
