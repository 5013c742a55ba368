"""A `gst-launch-1.0` command line read minimally: its sinks' locations and its encoder.

gst-launch joins its arguments into one pipeline description, each argument one token (it
escapes the spaces inside), so `location="rtmp://h/app/KEY live=1"` in a shell is the one
argument `location=rtmp://h/app/KEY live=1`. Elements are separated by `!`; an element's
`name=value` tokens follow it. Read here:

- outputs: `rtmpsink`/`rtmp2sink` `location=` (librtmp's `URL option=value ...` form:
  `playpath=` and `app=` options override the URL's), `filesink`/`multifilesink`
  `location=`, `srtsink`/`srtclientsink` `uri=`, `rtspclientsink` `location=`,
  `hlssink`/`hlssink2` `playlist-location=`;
- the encoder: the first element named `...enc` that is not an audio encoder, its
  `bitrate=` in kbit/s (x264enc, x265enc, nvh264enc, vaapih264enc and most others);
- the resolution: the last `video/x-raw,width=W,height=H` caps before the encoder.

Options before the pipeline (`-e`, `-q`, `--gst-debug=3`) are skipped. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ffwatt.readers.streams.ffmpeg_argv import Output

__all__ = ["Pipeline", "parse"]

_SINK_PROPERTY = {
    "rtmpsink": "location", "rtmp2sink": "location", "filesink": "location", "multifilesink": "location",
    "srtsink": "uri", "srtclientsink": "uri", "rtspclientsink": "location",
    "hlssink": "playlist-location", "hlssink2": "playlist-location",
}
_AUDIO = ("aac", "mp3", "lame", "opus", "vorbis", "flac", "wav", "alaw", "mulaw", "speex", "ac3", "amr", "sbc")
_CAPS_NUMBER = re.compile(r"^\s*(?:\(\s*\w+\s*\))?\s*(\d{1,5})\s*$")


@dataclass(frozen=True)
class Pipeline:
    outputs: tuple[Output, ...]
    encoder: str | None
    bitrate_bps: int | None
    resolution: str | None


def parse(argv: Sequence[str]) -> Pipeline:
    """The sinks, encoder, bitrate and resolution of a gst-launch command line."""
    elements = _elements(argv[1:])
    outputs: list[Output] = []
    encoder = bitrate = resolution = None
    caps_before: str | None = None
    for name, props in elements:
        if name.startswith("video/x-raw"):
            caps_before = _caps_size(name) or caps_before
        elif encoder is None and name.endswith("enc") and not any(a in name for a in _AUDIO):
            encoder, bitrate, resolution = name, _kbits(props.get("bitrate")), caps_before
        elif name in _SINK_PROPERTY and props.get(_SINK_PROPERTY[name]):
            outputs.append(_sink_output(name, props[_SINK_PROPERTY[name]]))
    return Pipeline(tuple(outputs), encoder, bitrate, resolution or caps_before)


def _elements(args: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """[(element or caps, {property: value})] in pipeline order."""
    tokens = list(args)
    while tokens and tokens[0].startswith("-"):
        tokens.pop(0)  # gst-launch's own options (-e, -q, -v, --gst-debug=...)
    elements: list[tuple[str, dict[str, str]]] = []
    for token in tokens:
        key, eq, value = token.partition("=")
        if eq and elements and not any(c in key for c in "/,!"):
            elements[-1][1][key.strip()] = value.strip().strip('"')
            continue
        elements.extend((piece.strip(), {}) for piece in token.split("!") if piece.strip())
    return elements


def _sink_output(element: str, location: str) -> Output:
    """An output; for librtmp's `URL opt=value ...` the URL, with `app=`/`playpath=` as
    ffmpeg's `-rtmp_app`/`-rtmp_playpath`."""
    if element not in ("rtmpsink", "rtmp2sink"):
        return Output(location)
    url, *options = location.split()
    overrides = []
    for option in options:
        key, _, value = option.partition("=")
        if key in ("app", "playpath"):
            overrides.append((f"rtmp_{key}", value))
    return Output(url, tuple(overrides))


def _caps_size(caps: str) -> str | None:
    fields = {key.strip(): value for key, _, value in (part.partition("=") for part in caps.split(",")[1:])}
    width = _CAPS_NUMBER.match(fields.get("width", ""))
    height = _CAPS_NUMBER.match(fields.get("height", ""))
    if not width or not height or int(width.group(1)) == 0 or int(height.group(1)) == 0:
        return None
    return f"{int(width.group(1))}x{int(height.group(1))}"


def _kbits(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit() or len(value.strip()) > 9:
        return None
    return int(value.strip()) * 1000
