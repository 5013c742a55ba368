"""An ffmpeg command line read the way ffmpeg reads it (fftools/cmdutils.c `split_commandline`).

- An argument that does not start with `-` (or is `-` alone, or follows `--`) is an output
  file or URL; the options since the previous output (or input) belong to it.
- `-i X` names an input; the options before it belong to that input and are dropped here.
- An option takes the next argument as its value unless it is one of ffmpeg's own boolean
  options (`BOOLEAN_OPTIONS`, or `-no` + one of them). Every other option, ffmpeg's or a
  codec's, format's or protocol's AVOption (`-preset`, `-rtmp_live`, `-passphrase`), takes
  one. The name before a `:` is the option, the rest its stream specifier (`-c:v:0`).
- Options after the last output are ignored (ffmpeg only warns about them).

`-f tee` outputs are split into their slaves (`[f=flv]rtmp://a/x|[f=flv]rtmp://b/y`). What
an output encodes is read from its options as ffmpeg applies them: for a stream, the last
matching option wins. Pure functions, standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ffwatt.contract.formulas import parse_bitrate

__all__ = ["BOOLEAN_OPTIONS", "Output", "parse", "video_encoder", "video_bitrate", "video_resolution"]

# ffmpeg's options that take no value (ffmpeg 5.1 to 7.1, fftools/ffmpeg_opt.c and cmdutils).
BOOLEAN_OPTIONS = frozenset({
    "y", "n", "ignore_unknown", "copy_unknown", "recast_media", "benchmark", "benchmark_all", "stdin",
    "dump", "hex", "re", "copyts", "start_at_zero", "shortest", "bitexact", "xerror", "copyinkf", "stats",
    "debug_ts", "vn", "an", "sn", "dn", "vstats", "qphist", "psnr", "autorotate", "autoscale",
    "fix_sub_duration", "fix_sub_duration_heartbeat", "accurate_seek", "seek_timestamp", "find_stream_info",
    "ignore_chapters", "display_hflip", "display_vflip", "force_fps", "print_graphs", "deinterlace", "intra",
    "sameq", "same_quant", "hide_banner", "report", "L", "version", "buildconf", "formats", "muxers",
    "demuxers", "devices", "codecs", "decoders", "encoders", "bsfs", "protocols", "filters", "pix_fmts",
    "layouts", "sample_fmts", "dispositions", "colors",
})

# ffmpeg's named frame sizes (libavutil/parseutils.c), the common ones.
_NAMED_SIZES = {
    "ntsc": "720x480", "pal": "720x576", "qcif": "176x144", "cif": "352x288", "4cif": "704x576",
    "vga": "640x480", "svga": "800x600", "xga": "1024x768", "hd480": "852x480", "hd720": "1280x720",
    "hd1080": "1920x1080", "2k": "2048x1080", "2kflat": "1998x1080", "2kscope": "2048x858", "4k": "4096x2160",
    "uhd2160": "3840x2160", "uhd4320": "7680x4320",
}
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")
_SCALE = re.compile(r"(?:^|[,;\]])\s*scale\s*=\s*([^,;\[]*)")


@dataclass(frozen=True)
class Output:
    """One output: its file name or URL as given, and the options given for it, in order."""

    target: str
    options: tuple[tuple[str, str], ...] = ()

    def last(self, *names: str, spec_prefix: str | None = None) -> str | None:
        """The value of the last option among `names` (exact, or `name:SPEC` with SPEC starting
        with `spec_prefix` when given), ffmpeg's "last matching option wins"."""
        found = None
        for option, value in self.options:
            name, colon, spec = option.partition(":")
            if name not in names:
                continue
            if not colon or (spec_prefix is not None and spec.startswith(spec_prefix)):
                found = value
        return found

    @property
    def format(self) -> str | None:
        return self.last("f")


def parse(argv: Sequence[str]) -> tuple[Output, ...]:
    """The outputs of an ffmpeg command line (`argv[0]` is the program)."""
    outputs: list[Output] = []
    pending: list[tuple[str, str]] = []
    i, dashdash = 1, -1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            dashdash = i
            continue
        if not arg.startswith("-") or arg == "-" or dashdash == i - 1:
            outputs.extend(_expand(Output(arg, tuple(pending))))
            pending = []
            continue
        name = arg[1:]
        base = name.split(":", 1)[0]
        if base == "i":
            i += 1  # an input: its options are not an output's
            pending = []
        elif base in BOOLEAN_OPTIONS or (base.startswith("no") and base[2:] in BOOLEAN_OPTIONS):
            pending.append((name, "1"))
        elif i < len(argv):
            pending.append((name, argv[i]))
            i += 1
    return tuple(outputs)


def _expand(out: Output) -> list[Output]:
    """A tee output's slaves, each with the output's options and its own `f=` format."""
    if out.format != "tee":
        return [out]
    slaves = []
    for slave in _split_unescaped(out.target, "|"):
        options, target = _slave_options(slave)
        extra = tuple(("f", v) for k, v in options if k == "f")
        slaves.append(Output(_unescape(target), out.options + extra))
    return slaves


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if c == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _slave_options(slave: str) -> tuple[list[tuple[str, str]], str]:
    """`[f=flv:onfail=ignore]url` -> ([("f", "flv"), ("onfail", "ignore")], "url")."""
    if not slave.startswith("["):
        return [], slave
    close = slave.find("]")
    if close < 0:
        return [], slave
    options = []
    for part in _split_unescaped(slave[1:close], ":"):
        key, _, value = part.partition("=")
        options.append((key, _unescape(value)))
    return options, slave[close + 1:]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --- what an output encodes ------------------------------------------------------------------


def video_encoder(out: Output) -> str | None:
    """`-c:v`, `-codec:v`, `-vcodec` or a `-c` for every stream: the last one given."""
    found = None
    for option, value in out.options:
        name, colon, spec = option.partition(":")
        if name == "vcodec" or (name in ("c", "codec") and (not colon or spec.startswith("v"))):
            found = value
    return found


def video_bitrate(out: Output) -> int | None:
    """Bits per second of `-b:v`, `-vb` or `-b` (ffmpeg's SI suffixes); None when not given or
    not a number."""
    found = None
    for option, value in out.options:
        name, colon, spec = option.partition(":")
        if name == "vb" or (name == "b" and (not colon or spec.startswith("v"))):
            found = value
    if found is None:
        return None
    try:
        return parse_bitrate(found)
    except ValueError:
        return None


def video_resolution(out: Output) -> str | None:
    """`WxH` from `-s` (a size or one of ffmpeg's names), else from a `scale=W:H` in the video
    filter (`-vf`, `-filter:v`); None when neither gives two positive numbers."""
    size = out.last("s", spec_prefix="v")
    if size is not None:
        return _size(_NAMED_SIZES.get(size, size))
    graph = out.last("vf") or out.last("filter", spec_prefix="v")
    if graph is None:
        return None
    found = None
    for match in _SCALE.finditer(graph):
        found = _scale_size(match.group(1)) or found
    return found


def _size(text: str) -> str | None:
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        return None
    return f"{int(match.group(1))}x{int(match.group(2))}"


def _scale_size(args: str) -> str | None:
    """`1280:720`, `w=1280:h=720`, `width=1280:height=720` -> `1280x720`."""
    named: dict[str, str] = {}
    positional: list[str] = []
    for part in args.split(":"):
        key, eq, value = part.partition("=")
        if eq:
            named[key.strip()] = value.strip()
        else:
            positional.append(part.strip())
    width = named.get("w", named.get("width", positional[0] if positional else ""))
    height = named.get("h", named.get("height", positional[1] if len(positional) > 1 else ""))
    return _size(f"{width}x{height}") if width.isdigit() and height.isdigit() else None
