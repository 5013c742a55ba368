"""A live stream's `stream` label, from its encoder's command line, with no credential in it.

Stream keys are credentials: whoever has one can publish (or hijack) the channel. They are
never in a label, a log line or a file; a stream is named by where it goes and a short
stable hash of its key: `key-` + the first 8 hex digits of BLAKE2b (personalised
`ffwatt-stream`) of the key. The hash identifies, it does not protect a guessable key (it
can be checked against guesses): stream keys should be random, as YouTube's and Twitch's are.

Rules, the first that gives a label wins:

1. `--stream-label REGEX`: matched over the command line (its arguments joined by spaces,
   the last 64 KiB, every credential already replaced by its hash); the group named
   `stream`, else the first group, else the whole match.
2. `-metadata ffwatt_stream=NAME` on an output.
3. The first output of the best kind (RTMP, then other network outputs, then HLS, then
   files; `-`, `pipe:` and the null muxer name nothing):

   | output | label (`--stream-names hashed`, the default) | `plain` |
   |---|---|---|
   | `rtmp[s,t,e,te,ts]://[u:p@]host/app/NAME?args` | `app/key-<hash of NAME>` | `app/NAME` |
   | `srt://host:port?streamid=ID&passphrase=P` | `srt://host:port/key-<hash of ID>` | `srt://host:port/ID` |
   | `rtsp://`, `http(s)://`, `udp://`, others | `scheme://host:port/key-<hash of path>` | `scheme://host:port/path` |
   | HLS playlist (`-f hls`, `.m3u8`) | `parent/name.m3u8` | same |
   | a file | its base name | same |

   RTMP's application and name are read as ffmpeg sends them and nginx-rtmp lists them
   (`urls.rtmp_app_and_name`; `-rtmp_app`/`-rtmp_playpath` override), so the rtmp exporter,
   which names nginx-rtmp's streams with `rtmp_stream_label`, gives the same label.
   Query strings and `user:password@` are never in a label, in either mode; `plain` is for
   servers whose stream names are not secrets (publishers authenticated by `?key=` args).
4. Nothing: `pid-<pid>`; also for a command line with more than 128 URLs or 256 credentials
   (no encoder needs them; the work stays bounded).

Whatever rule made it, a label then has every credential found anywhere on the command line
(URL user info, query values, SRT stream ids and passphrases, RTMP stream names in hashed
mode, the values of `-headers`, `-passphrase`, `-rtmp_playpath` and the like; 4 characters
or more) replaced by its hash, control characters replaced by U+FFFD, and is at most 256
characters (a longer one keeps its first 246 and ends in `~` and a hash of the whole).
The info labels (encoder, resolution, bitrate) are `unknown` when not given and `other`
when not a short plain token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ffwatt.common.settings import Setting
from ffwatt.readers.streams import ffmpeg_argv, gst_argv
from ffwatt.readers.streams.credentials import (
    HASHED,
    PLAIN,
    RTMP_SCHEMES,
    TooStrangeError,
    digest,
    find_credentials,
    key_hash,
    normalise,
    redact,
)
from ffwatt.readers.streams.ffmpeg_argv import Output
from ffwatt.readers.streams.urls import query_values, rtmp_app_and_name, split_url

__all__ = ["DEFAULT_NAMING", "HASHED", "PLAIN", "STREAM_NAMES", "MAX_LABEL_LENGTH", "Identity", "Naming", "compile_rule",
           "identify", "key_hash", "rtmp_stream_label", "STREAM_NAMES_SETTING", "STREAM_LABEL_SETTING"]

STREAM_NAMES = (HASHED, PLAIN)
MAX_LABEL_LENGTH = 256
RULE_WINDOW = 64 * 1024  # characters of the command line a --stream-label regex sees (its end)
UNKNOWN, OTHER = "unknown", "other"

_INFO_VALUE = re.compile(r"[A-Za-z0-9._:+-]{1,64}")


def compile_rule(text: str) -> re.Pattern[str] | None:
    """The `--stream-label` regex (None when empty); ValueError when it is not one."""
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None


def stream_names(text: str) -> str:
    """`hashed` or `plain` (the `--stream-names` setting's type)."""
    if text not in STREAM_NAMES:
        raise ValueError(f"expected one of {', '.join(STREAM_NAMES)}, got {text!r}")
    return text


def stream_label_rule(text: str) -> str:
    """A `--stream-label` regex, checked (the setting's type)."""
    compile_rule(text)
    return text


# Both the streams and the rtmp exporter take it: they must agree for their labels to join.
STREAM_NAMES_SETTING = Setting(
    "stream-names", HASHED,
    "How a stream's name shows in its `stream` label: hashed (`app/key-1a2b3c4d`: stream names are stream keys, "
    "credentials) or plain (`app/name`: only where names are not secrets). The streams and rtmp exporters must "
    "use the same.", stream_names)
STREAM_LABEL_SETTING = Setting(
    "stream-label", "",
    "A regular expression over an encoder's command line whose group `stream` (else its first group) names the "
    "stream; credentials are hashed before it sees the command line. Empty: the output's name.", stream_label_rule)


@dataclass(frozen=True)
class Naming:
    """How labels are made: `names` hashed or plain, and the user's `--stream-label` regex."""

    names: str = HASHED
    rule: re.Pattern[str] | None = None


DEFAULT_NAMING = Naming()


@dataclass(frozen=True)
class Identity:
    stream: str  # the label
    rule: str  # which rule named it: user-rule, metadata, rtmp, srt, url, hls, file, fallback
    encoder: str
    resolution: str
    bitrate: str


def _bounded(label: str) -> str:
    if len(label) <= MAX_LABEL_LENGTH:
        return label
    return label[: MAX_LABEL_LENGTH - 10] + "~" + digest(label, 4)


def rtmp_stream_label(app: str, name: str, names: str = HASHED) -> str:
    """`app/key-<hash of name>` (hashed) or `app/name` (plain): what both the streams collector
    and the rtmp exporter call an RTMP stream."""
    shown = name if names == PLAIN else key_hash(name)
    return _bounded(normalise(f"{app}/{shown}"))


# --- the label of one output ------------------------------------------------------------------


def _is_nothing(out: Output) -> bool:
    target = out.target
    return not target.strip() or target in ("-", "/dev/null") or target.startswith("pipe:") or out.format == "null"


def _rank(out: Output) -> int | None:
    """0 RTMP, 1 another network output, 2 HLS, 3 a file; None names nothing."""
    if _is_nothing(out):
        return None
    url = split_url(out.target)
    if url is not None and url.scheme != "file":
        return 0 if url.scheme in RTMP_SCHEMES else 1
    return 2 if out.format == "hls" or out.target.lower().endswith(".m3u8") else 3


def _output_label(out: Output, names: str) -> tuple[str, str]:
    """(label, rule) of an output that names something."""
    url = split_url(out.target)
    if url is not None and url.scheme in RTMP_SCHEMES:
        app, name = rtmp_app_and_name(url.path)
        if out.last("rtmp_app") is not None:  # options ffmpeg sends instead of the URL's
            app = out.last("rtmp_app").split("?", 1)[0]
        if out.last("rtmp_playpath") is not None:
            name = out.last("rtmp_playpath").split("?", 1)[0]
        return rtmp_stream_label(app, name, names), "rtmp"
    if url is not None and url.scheme == "srt":
        streamid = query_values(url.query).get("streamid") or out.last("srt_streamid")
        if not streamid:
            return url.where, "srt"
        return f"{url.where}/{streamid if names == PLAIN else key_hash(streamid)}", "srt"
    if url is not None and url.scheme != "file":
        path = url.path_only
        if not path.strip("/"):
            return url.where, "url"
        return (url.where + path if names == PLAIN else f"{url.where}/{key_hash(path)}"), "url"
    path = out.target[len("file:"):] if out.target.startswith("file:") else out.target
    if url is not None:
        path = url.path_only
    if _rank(out) == 2:
        parent = os.path.basename(os.path.dirname(path))
        return (f"{parent}/{os.path.basename(path)}" if parent else os.path.basename(path)), "hls"
    return os.path.basename(path) or path, "file"


def _metadata_name(out: Output) -> str | None:
    for option, value in out.options:
        if option in ("metadata", "metadata:g"):
            key, eq, name = value.partition("=")
            if eq and key == "ffwatt_stream" and name:
                return name
    return None


def _user_rule(rule: re.Pattern[str], argv: Sequence[str], secrets: Sequence[str]) -> str | None:
    # the window's end, redacted with room for a credential that straddles its start
    longest = len(secrets[0]) if secrets else 0
    text = redact(" ".join(argv)[-(RULE_WINDOW + longest):], secrets)[-RULE_WINDOW:]
    match = rule.search(text)
    if match is None:
        return None
    if "stream" in rule.groupindex:
        found = match.group("stream")
    elif rule.groups:
        found = match.group(1)
    else:
        found = match.group(0)
    return found or None


# --- putting it together ----------------------------------------------------------------------


def _info(value: str | None, secrets: Sequence[str]) -> str:
    if value is None:
        return UNKNOWN
    if not _INFO_VALUE.fullmatch(value) or value in secrets:
        return OTHER
    return value


def _bitrate(bps: int | None) -> str | None:
    if bps is None:
        return None
    return f"{bps // 1000}k" if bps % 1000 == 0 else str(bps)


def _is_gst(argv: Sequence[str], comm: str) -> bool:
    return comm.startswith("gst-launch") or os.path.basename(argv[0]).startswith("gst-launch")


def identify(argv: Sequence[str], pid: int, naming: Naming = DEFAULT_NAMING, comm: str = "") -> Identity:
    """The identity of the encoder whose command line is `argv` (its process is `pid`)."""
    if not argv:
        return Identity(f"pid-{pid}", "fallback", UNKNOWN, UNKNOWN, UNKNOWN)
    argv = _without_interpreter(argv, comm)
    try:
        secrets = find_credentials(argv, naming.names)
    except TooStrangeError:
        return Identity(f"pid-{pid}", "fallback", UNKNOWN, UNKNOWN, UNKNOWN)
    if _is_gst(argv, comm):
        pipeline = gst_argv.parse(argv)
        outputs = pipeline.outputs
        chosen = _chosen(outputs)
        encoder, resolution, bitrate = pipeline.encoder, pipeline.resolution, _bitrate(pipeline.bitrate_bps)
    else:
        outputs = ffmpeg_argv.parse(argv)
        chosen = _chosen(outputs)
        encoder = ffmpeg_argv.video_encoder(chosen) if chosen else None
        resolution = ffmpeg_argv.video_resolution(chosen) if chosen else None
        bitrate = _bitrate(ffmpeg_argv.video_bitrate(chosen)) if chosen else None
    label, rule = _label(argv, outputs, chosen, naming, secrets)
    if label is None or not label.strip():
        label, rule = f"pid-{pid}", "fallback"
    else:
        label = _bounded(normalise(redact(label, secrets)))
    return Identity(label, rule, _info(encoder, secrets), _info(resolution, secrets), _info(bitrate, secrets))


def _without_interpreter(argv: Sequence[str], comm: str) -> Sequence[str]:
    """A script's command line starts with its interpreter (`/bin/sh /usr/local/bin/ffmpeg ...`):
    drop it when the script, not the interpreter, is the process's name."""
    if comm and len(argv) > 1 and os.path.basename(argv[0])[:15] != comm and os.path.basename(argv[1])[:15] == comm:
        return argv[1:]
    return argv


def _chosen(outputs: Sequence[Output]) -> Output | None:
    """The first output of the best kind (`_rank`)."""
    ranked = [(rank, i) for i, out in enumerate(outputs) if (rank := _rank(out)) is not None]
    return outputs[min(ranked)[1]] if ranked else None


def _label(argv: Sequence[str], outputs: Sequence[Output], chosen: Output | None, naming: Naming,
           secrets: Sequence[str]) -> tuple[str | None, str]:
    if naming.rule is not None:
        found = _user_rule(naming.rule, argv, secrets)
        if found:
            return found, "user-rule"
    for out in outputs:
        name = _metadata_name(out)
        if name:
            return name, "metadata"
    if chosen is None:
        return None, "fallback"
    return _output_label(chosen, naming.names)
