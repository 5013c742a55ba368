"""An encoder library's own option list (`x264-params` and the like) is read the way ffmpeg and the
library read it before the allow-list sees it (ffwatt/runner/plan/ffmpeg_syntax.py,
ffwatt/runner/plan/library_params.py). Expected tokens come from FFmpeg's documentation of its
quoting (doc/utils.texi, "Quoting and escaping"); tests/integration/test_option_bypasses.py checks
the same splitting against a real ffmpeg's own report of what it parsed.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ffwatt.runner.plan.encoder_options import static_problems
from ffwatt.runner.plan.ffmpeg_syntax import dict_pairs, get_token, x264opts_pairs
from ffwatt.runner.plan.library_params import LIBRARY_LISTS, param_list_problems


@pytest.mark.parametrize(("written", "token"), [
    # doc/utils.texi's own examples
    (r"Crime d\'Amour", "Crime d'Amour"),
    ("'Crime d'\\''Amour'", "Crime d'Amour"),
    ("'  this string starts and ends with whitespaces  '", "  this string starts and ends with whitespaces  "),
    ("' The string '\\'string\\'' is a string '", " The string 'string' is a string "),
    (r"c:\\foo", r"c:\foo"),
    # leading whitespace skipped, trailing whitespace dropped unless quoted or escaped
    ("   keyint   ", "keyint"), ("keyint\\ ", "keyint "), ("'key' ", "key"),
    ("'unclosed quote runs to the end", "unclosed quote runs to the end"),
    ("trailing backslash\\", "trailing backslash\\"),
])
def test_get_token_undoes_ffmpeg_quoting_as_its_documentation_says(written, token):
    assert get_token(written, 0, "")[0] == token


def test_a_token_stops_at_its_terminator_unless_quoted_or_escaped():
    assert get_token("a:b=c", 0, "=") == ("a:b", 3)  # a key ends at '=' only: the ':' is part of it
    assert get_token("'a=b'=c", 0, "=") == ("a=b", 5)
    assert get_token(r"a\=b=c", 0, "=") == ("a=b", 4)


def test_dict_pairs_splits_as_av_dict_parse_string():
    assert dict_pairs("keyint=60:min-keyint=60") == [("keyint", "60"), ("min-keyint", "60")]
    assert dict_pairs("'dump-yuv'=/tmp/v") == [("dump-yuv", "/tmp/v")]
    assert dict_pairs(r"d\ump-yuv=/tmp/v") == [("dump-yuv", "/tmp/v")]
    assert dict_pairs("keyint:dump-yuv=x") == [("keyint:dump-yuv", "x")]
    assert dict_pairs("preset=ultrafast,cqmfile=/tmp/v", ",") == [("preset", "ultrafast"), ("cqmfile", "/tmp/v")]
    assert dict_pairs("a=1::b=2") == [("a", "1"), (":b", "2")]  # one separator skipped; the next ':' is the key's
    for bad in ("'stats'=", "=x", "keyint"):
        with pytest.raises(ValueError):
            dict_pairs(bad)


def test_x264opts_is_split_at_every_colon_without_quoting():
    assert x264opts_pairs("keyint=60:psy:'a'=b") == [("keyint", "60"), ("psy", "1"), ("'a'", "b")]


@pytest.mark.parametrize(("key", "value", "read_as"), [
    ("x264-params", "'dump-yuv'=/tmp/v", "'dump-yuv'"),
    ("x264-params", r"d\ump-yuv=/tmp/v", "'dump-yuv'"),
    ("x264-params", "keyint=60:'stats'=/tmp/v", "'stats'"),
    ("x264-params", "nodump_yuv=1", "'nodump_yuv' (read by x264 as 'dump-yuv')"),  # x264 writes a file "false"
    ("x264-params", "no-cqm=1", "'no-cqm' (read by x264 as 'cqm')"),
    ("x264-params", "keyint:dump-yuv=x", "'keyint:dump-yuv'"),
    ("x264opts", "keyint=60:dump-yuv=/tmp/v", "'dump-yuv'"),
    ("x265-params", "'csv'=/tmp/v", "'csv'"),
    ("x265-params", "--csv=/tmp/v", "'--csv' (read by x265 as 'csv')"),
    ("x265-params", "scaling-list=/tmp/v", "'scaling-list'"),
    ("kvazaar-params", "preset=ultrafast,cqmfile=/tmp/v", "'cqmfile'"),
    ("aom-params", "film-grain-table=/tmp/v", "'film-grain-table'"),
    ("svtav1-params", "preset=8:fgs-table=/tmp/v", "'fgs-table'"),
])
def test_every_bypass_is_refused_by_the_name_the_library_reads(key, value, read_as):
    problems = param_list_problems(key, value)
    assert len(problems) == 1 and problems[0].startswith(f"refused: {read_as} is not one of the "), problems


def test_a_quote_left_after_ffmpeg_quoting_is_refused():
    (problem,) = param_list_problems("x264-params", r"keyint=6\'0")
    assert "a quote or backslash is left after ffmpeg's own quoting" in problem
    assert static_problems("tune", "'zerolatency'")[0].startswith("refused: the value")


def test_lists_ffwatt_does_not_parse_are_refused_whole():
    (problem,) = static_problems("rav1e-params", "speed=5")
    assert problem.startswith("refused: -rav1e-params holds an encoder library's own option list")


def test_allowed_settings_pass_also_in_the_spellings_the_library_reads_the_same():
    assert param_list_problems("x264-params", "keyint=60:min_keyint=30:no-psy=1:non-deterministic=1") == []
    assert param_list_problems("x265-params", "keyint=60:no-sao=1:aq_mode=2") == []
    assert param_list_problems("kvazaar-params", "preset=ultrafast,no-wpp=1,gop=8") == []
    assert param_list_problems("svtav1-params", "tune=0:film-grain=8") == []
    assert param_list_problems("aom-params", "enable-tpl-model=0:sharpness=2") == []


@given(st.sampled_from(sorted(LIBRARY_LISTS)), st.data())
def test_quoting_a_plain_value_changes_nothing(key, data):
    """Metamorphic: `name='value'` is `name=value` to ffmpeg, so the verdict is the same."""
    spec = LIBRARY_LISTS[key]
    name = data.draw(st.sampled_from(sorted(spec.allowed)))
    value = data.draw(st.from_regex(r"[0-9a-z]{1,8}", fullmatch=True))
    sep = "," if key == "kvazaar-params" else ":"
    plain = f"{name}={value}{sep}{name}={value}"
    quoted = f"{name}='{value}'{sep}'{name}'={value}"
    assert param_list_problems(key, plain) == []
    if key != "x264opts":  # x264opts has no quoting: its quotes stay, and are refused
        assert param_list_problems(key, quoted) == []
    else:
        assert param_list_problems(key, quoted) != []
