"""Scenario `options:` take encoder options only: the loader's encoder-independent rules and the
run's per-encoder allow-list (ffwatt/runner/plan/encoder_options.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure import commands as cmd
from ffwatt.runner.measure import ffmpeg_probe as ff
from ffwatt.runner.plan.encoder_options import GENERIC_OPTIONS, check_options, encoder_option_problems, static_problems
from ffwatt.runner.plan.scenario import Scenario
from ffwatt.runner.plan.scenario_file import parse_scenarios

BASE = """
defaults: {encoder: libx264, preset: veryfast, resolution: 640x360, fps: 30, duration: 4, crf: 23}
scenarios:
"""

# Every option of issue 24's list: each adds an input, an output, a filter or a format, or
# changes the duration or the mapping, or writes a file.
INJECTED = {
    "y": "/tmp/x", "i": "/etc/passwd", "f": "null", "filter_complex": "nullsrc", "vf": "movie=/etc/passwd",
    "af": "anull", "filter": "null", "lavfi": "nullsrc", "map": "0:v", "t": "0.4", "to": "1", "ss": "1",
    "frames": "10", "vframes": "10", "fs": "1000", "stream_loop": "-1", "attach": "/etc/passwd",
    "dump_attachment": "/tmp/x", "progress": "/tmp/x", "report": "1", "stats": "/tmp/x", "passlogfile": "/tmp/x",
    "pass": "1", "filter_complex_script": "/tmp/x", "pix_fmt": "yuv444p", "s": "64x64", "r": "5",
}


def parse(text: str):
    return parse_scenarios(text, file_name="t.yml")


def error_of(text: str) -> str:
    with pytest.raises(RunnerError) as info:
        parse(text)
    return str(info.value)


def test_every_injected_option_is_refused_at_load_naming_its_key_all_at_once():
    options = ", ".join(f"{key}: {value!r}" for key, value in INJECTED.items())
    message = error_of(BASE + f"  - {{name: a, options: {{{options}}}}}\n")
    assert message.startswith(f"{len(INJECTED)} problems in the scenario file:")
    for key in INJECTED:
        assert f"t.yml: scenarios[0].options.{key}: refused: -{key} " in message, key
    assert "-y adds an output or overwrites files" in message
    assert "-i adds an input" in message and "-vf adds a filter" in message and "-f sets a format" in message
    assert "-t changes the duration" in message and "-map changes the mapping" in message


@pytest.mark.parametrize("value", ["drawtext=textfile=/etc/passwd", "movie=/etc/passwd", "[in]null[out]",
                                   "zerolatency;movie=x", "subtitles=/etc/passwd"])
def test_filter_graph_syntax_in_a_value_is_refused(value):
    message = error_of(BASE + f"  - {{name: a, options: {{tune: {value!r}}}}}\n")
    assert "scenarios[0].options.tune: refused: the value" in message and "filter-graph syntax" in message


@pytest.mark.parametrize(("params", "refused"), [
    ("x264-params: 'keyint=60:stats=/tmp/x'", "'stats'"), ("x264-params: 'dump_yuv=/tmp/y'", "'dump_yuv'"),
    ("x265-params: 'csv=/tmp/x'", "'csv'"), ("svtav1-params: 'stat-file=/tmp/x'", "'stat-file'"),
    ("x264opts: 'qpfile=/tmp/q'", "'qpfile'")])
def test_file_naming_keys_inside_an_encoder_parameter_list_are_refused(params, refused):
    message = error_of(BASE + f"  - {{name: a, options: {{{params}}}}}\n")
    assert f"refused: {refused}" in message and "settings ffwatt allows; the others may read or write a file" in message


def test_encoder_options_and_generic_ones_load_as_written():
    (s,) = parse(BASE + "  - {name: a, options: {tune: zerolatency, x264-params: 'keyint=60:min-keyint=60', "
                        "g: 60, bf: 0, maxrate: 3M, bufsize: 6M, profile: high, force_key_frames: 'expr:gte(t,n_forced*2)'}}\n")
    assert dict(s.options) == {"tune": "zerolatency", "x264-params": "keyint=60:min-keyint=60", "g": "60", "bf": "0",
                               "maxrate": "3M", "bufsize": "6M", "profile": "high",
                               "force_key_frames": "expr:gte(t,n_forced*2)"}


def test_a_huge_value_is_refused_without_quoting_it_whole():
    message = error_of(BASE + f"  - {{name: a, options: {{tune: {'z' * 100_000}}}}}\n")
    assert "value of 100000 characters; at most 256" in message and len(message) < 300


def test_an_argv_builder_refuses_an_option_the_loader_would_refuse():
    (s,) = parse(BASE + "  - {name: a}\n")
    forged = Scenario(**{**s.__dict__, "options": (("y", "/tmp/x"),)})
    with pytest.raises(RunnerError, match=r"options\.y: refused: -y adds an output"):
        cmd.encode_command(forged, "ffmpeg", [cmd.output_paths(forged, Path("w"), 1)[0]])


# `ffmpeg -h encoder=libx264` and `ffmpeg -h long`, abridged from ffmpeg 9.0's output.
LIBX264_HELP = """Encoder libx264 [libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10]:
    General capabilities: dr1 delay threads reorderedopaque flush reconframe
    Supported pixel formats: yuv420p yuvj420p yuv422p
libx264 AVOptions:
  -preset            <string>     E..V....... Set the encoding preset (cf. x264 --fullhelp) (default "medium")
  -tune              <string>     E..V....... Tune the encoding params (cf. x264 --fullhelp)
  -aq-mode           <int>        E..V....... AQ method (from -1 to INT_MAX) (default -1)
     none            0            E..V.......
     variance        1            E..V....... Variance AQ (complexity mask)
  -stats             <string>     E..V....... Filename for 2 pass stats
  -x264-params       <dictionary> E..V....... Override the x264 configuration
"""
CLI_HELP = """Universal media converter
usage: ffmpeg [options] [[infile options] -i infile]... {[outfile options] outfile}...

Global options (affect whole program instead of just one file):
-y                  overwrite output files
-stats              print progress report during encoding
-copyts             copy timestamps
-b <bitrate>        video bitrate (please use -b:v)
-profile <profile>  set profile
-ac[:<stream_spec>] <channels>  set number of audio channels
-autorotate         automatically insert correct rotate filters
"""


def test_encoder_help_and_cli_help_are_parsed():
    assert ff.parse_encoder_options(LIBX264_HELP) == {"preset", "tune", "aq-mode", "stats", "x264-params"}
    assert ff.parse_cli_options(CLI_HELP) == {"y", "stats", "copyts", "b", "profile", "ac", "autorotate"}


def test_the_allow_list_is_the_encoders_own_options_plus_the_generic_ones():
    own, cli = ff.parse_encoder_options(LIBX264_HELP), ff.parse_cli_options(CLI_HELP)
    for key in ("tune", "aq-mode", "x264-params", *GENERIC_OPTIONS):
        assert encoder_option_problems(key, "libx264", own, cli) is None, key
    why = encoder_option_problems("x265-params", "libx264", own, cli)
    assert why.startswith("-x265-params is not an option of libx264 (`ffmpeg -h encoder=libx264`)")


@pytest.mark.parametrize("key", ["stats", "autorotate", "nocopyts", "noautorotate"])
def test_a_key_ffmpeg_takes_as_its_own_option_is_refused_even_when_the_encoder_lists_it(key):
    # -stats is ffmpeg's progress switch (no argument): `-stats /tmp/x` would add /tmp/x as an output
    why = encoder_option_problems(key, "libx264", ff.parse_encoder_options(LIBX264_HELP), ff.parse_cli_options(CLI_HELP))
    assert why is not None and why.startswith(f"refused: -{key} is an ffmpeg command-line option")


def test_check_options_names_the_file_and_scenario_and_skips_encoders_ffmpeg_lacks():
    own, cli = ff.parse_encoder_options(LIBX264_HELP), ff.parse_cli_options(CLI_HELP)
    lookup = {"libx264": own}.get
    problems = check_options([("a", "libx264", (("tune", "film"), ("cq", "20"))),
                              ("b", "libx264", (("autorotate", "1"),)),
                              ("c", "nosuch", (("anything", "1"),))], lookup, cli, "t.yml")
    assert problems == [
        "t.yml: scenario 'a': options.cq: " + encoder_option_problems("cq", "libx264", own, cli),
        "t.yml: scenario 'b': options.autorotate: " + encoder_option_problems("autorotate", "libx264", own, cli),
    ]


def test_static_problems_of_a_plain_option_are_none():
    assert static_problems("tune", "zerolatency") == [] and static_problems("profile", "high") == []
