"""What a scenario's `options:` may pass to ffmpeg: encoder options only.

Each `key: value` becomes `-key value` after `-c:v ENCODER` (ffwatt/runner/measure/commands.py), so a key
that is not an encoder option could add an input (`i`), an output (`y`, or any option
that takes no argument: its value is then read as an output file), a filter, a format,
or change the duration or the mapping, and the results would still carry the scenario's
labels. Two checks, both before any encode:

* `static_problems` (the scenario loader, no ffmpeg needed): names that are refused
  whatever the encoder (`REFUSED`, each with what it would do), options whose names say
  they write or read files, values that are not plain option values (too long, control
  characters, filter-graph syntax, a quote or backslash: ffmpeg hands a plain option's value
  over as it is, and a library may read the quote itself), and the encoder libraries' own lists
  (`x264-params` and the like) read as ffmpeg and the library read them, each name on the
  library's allow-list (ffwatt/runner/plan/library_params.py).
* `encoder_option_problems` (the run, after `ffmpeg -h encoder=NAME` was probed once per
  encoder): the key must be one of the options that encoder lists, or one of the generic
  rate-control and GOP options (`GENERIC_OPTIONS`), and must not be shadowed by an ffmpeg
  command-line option (ffmpeg matches its own options first, so `-stats` is its progress
  switch, not libx264's stats file, and the value after it becomes an output).

docs/scenarios.md ("Encoder options") states these rules for users.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ffwatt.runner.plan.library_params import LIBRARY_LISTS, UNPARSED_LIST, param_list_problems

__all__ = ["GENERIC_OPTIONS", "REFUSED", "MAX_VALUE_LENGTH", "static_problems", "encoder_option_problems"]

# Generic rate-control, GOP and encoder-setup options (AVCodecContext options and the
# private options most encoders share). Each takes one argument and only tunes the encoder.
# pix_fmt is not here: the runner sets yuv420p so every output compares with the reference.
GENERIC_OPTIONS = frozenset({
    # rate control
    "b", "maxrate", "minrate", "bufsize", "rc_init_occupancy", "crf", "qp", "qmin", "qmax", "qdiff", "qcomp",
    "i_qfactor", "b_qfactor",
    # GOP structure
    "g", "keyint_min", "bf", "refs", "sc_threshold", "force_key_frames",
    # encoder setup
    "preset", "tune", "profile", "level", "threads",
})

_INPUT = "adds an input"
_OUTPUT = "adds an output or overwrites files"
_FILTER = "adds a filter"
_FORMAT = "sets a format"
_DURATION = "changes the duration"
_MAPPING = "changes the mapping"
_FILES = "reads or writes a file"
_SCENARIO = "is the scenario's own setting (use its key in the scenario, not in options)"
_RUNNER = "changes how the runner drives ffmpeg"

# Refused whatever the encoder, with what each would do. Not the whole list: any other
# ffmpeg command-line option is refused at run time (`encoder_option_problems`).
REFUSED: dict[str, str] = {
    **dict.fromkeys(("i", "stream_loop", "re", "readrate", "itsoffset", "itsscale", "dump_attachment"), _INPUT),
    **dict.fromkeys(("y", "n", "attach", "shortest", "fs", "stats", "nostats", "benchmark", "benchmark_all",
                     "dump", "hex", "debug_ts", "copyts", "vn", "an", "sn", "dn"), _OUTPUT),
    **dict.fromkeys(("filter_complex", "filter_complex_script", "filter_script", "lavfi", "vf", "af", "filter",
                     "bsf", "absf", "vbsf"), _FILTER),
    **dict.fromkeys(("f", "c", "codec", "vcodec", "acodec", "scodec", "tag", "vtag", "pix_fmt", "fflags"), _FORMAT),
    **dict.fromkeys(("t", "to", "ss", "sseof", "frames", "vframes", "aframes", "dframes", "timelimit", "r", "fpsmax",
                     "fps_mode", "vsync", "ss_to"), _DURATION),
    **dict.fromkeys(("map", "map_metadata", "map_chapters", "metadata", "program", "stream_group"), _MAPPING),
    **dict.fromkeys(("progress", "report", "passlogfile", "pass", "vstats", "vstats_file", "sdp_file",
                     "init_hw_device", "filter_hw_device", "hwaccel", "hwaccel_device", "protocol_whitelist",
                     "x264-stats"), _FILES),
    **dict.fromkeys(("s", "size", "aspect"), _SCENARIO),
    **dict.fromkeys(("nostdin", "stdin", "hide_banner", "loglevel", "v", "stats_period", "xerror",
                     "ignore_unknown", "max_error_rate", "filter_threads"), _RUNNER),
}
# Encoder options whose names say they take a file (libx264's `stats` and `passlogfile`,
# x265's `csv` and `analysis-save`, SVT-AV1's `stat-file`, `*file`...), refused for every
# encoder: a word of the name (split at - _ .) is one of these, or ends in "file".
_FILE_WORDS = frozenset({"stat", "stats", "passlog", "dump", "recon", "csv", "analysis", "cqm", "rpu", "fgs"})
MAX_VALUE_LENGTH = 256
# Filter-graph syntax: link labels, chain separators, and the filters that read files or
# take commands (movie=, drawtext=textfile=, subtitles=, sendcmd=...).
_FILTER_SYNTAX = re.compile(r"[\[\];]|\b(a?movie|textfile|fontfile|filename|subtitles|ass|sendcmd|zmq|file)\s*=",
                            re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUOTING = re.compile(r"['\"\\]")  # quotes and backslashes: no plain option value needs them


def _names_a_file(name: str) -> bool:
    words = re.split(r"[-_.]", name.lower())
    return any(w in _FILE_WORDS or (w.endswith("file") and w != "profile") for w in words)


def short(text: object, limit: int = 60) -> str:
    """`text` as a quoted string of at most about `limit` characters (never the whole of a huge value)."""
    value = str(text)
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def static_problems(key: str, value: str) -> list[str]:
    """Why `key: value` cannot be an encoder option whatever the encoder (messages without the path)."""
    if key in REFUSED:
        return [f"refused: -{key} {REFUSED[key]}; options: takes encoder options only"]
    if _names_a_file(key):
        return [f"refused: -{key} {_FILES}; options: takes encoder options only"]
    problems = []
    if len(value) > MAX_VALUE_LENGTH:
        problems.append(f"value of {len(value)} characters; at most {MAX_VALUE_LENGTH}")
    elif _CONTROL.search(value):
        problems.append(f"control characters in the value {short(value)}")
    elif LIBRARY_LISTS.get(key) or UNPARSED_LIST.search(key):
        problems += param_list_problems(key, value)
    elif _QUOTING.search(value):
        problems.append(f"refused: the value {short(value)} has a quote or backslash (ffmpeg passes an option's value "
                        "as it is; the encoder library may read the quote itself)")
    elif _FILTER_SYNTAX.search(value):
        problems.append(f"refused: the value {short(value)} has filter-graph syntax ({_FILTER})")
    return problems


def encoder_option_problems(key: str, encoder: str, encoder_options: frozenset[str],
                            cli_options: frozenset[str]) -> str | None:
    """Why `key` is not an option of `encoder` here (None when it is)."""
    bare = key[2:] if key.startswith("no") else None
    if key not in GENERIC_OPTIONS and (key in cli_options or bare in cli_options):
        return (f"refused: -{key} is an ffmpeg command-line option, not an encoder option (ffmpeg would take it "
                "first, and a value after an option without argument becomes an output file)")
    if key in GENERIC_OPTIONS or key in encoder_options:
        return None
    return (f"-{key} is not an option of {encoder} (`ffmpeg -h encoder={encoder}`) nor a generic rate-control or "
            f"GOP option ({', '.join(sorted(GENERIC_OPTIONS))})")


def check_options(items: Iterable[tuple[str, str, tuple[tuple[str, str], ...]]],
                  encoder_options: Callable[[str], frozenset[str] | None], cli_options: frozenset[str],
                  file_name: str) -> list[str]:
    """Every problem of `(scenario name, encoder, options)` items, one line each, naming the file and scenario.

    `encoder_options(encoder)` is None for an encoder this ffmpeg lacks: that scenario is
    skipped by the run anyway, so its options are not checked."""
    problems = []
    for name, encoder, options in items:
        known = encoder_options(encoder) if options else None
        if known is None:
            continue
        for key, _value in options:
            why = encoder_option_problems(key, encoder, known, cli_options)
            if why:
                problems.append(f"{file_name}: scenario {short(name)}: options.{key}: {why}")
    return problems
