"""Scenario files: validation, defaults, matrix expansion, and the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.scenario import matrix_sha256, slug
from ffwatt.runner.plan.scenario_file import load_scenarios, parse_scenarios
from ffwatt.scenarios import bundled

ROOT = Path(__file__).resolve().parents[2]


def parse(text: str, **kwargs):
    return parse_scenarios(text, file_name="t.yml", **kwargs)


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(RunnerError) as info:
        parse(text, **kwargs)
    return str(info.value)


BASE = """
defaults: {encoder: libx264, preset: veryfast, resolution: 640x360, fps: 30, duration: 4}
scenarios:
"""


def test_defaults_are_merged_under_each_scenario_and_the_scenario_wins():
    (a, b) = parse(BASE + "  - {name: a, bitrate: 1000k}\n  - {name: b, bitrate: 2M, fps: 25, streams: 3}\n")
    assert (a.encoder, a.preset, a.resolution, a.width, a.height, a.fps, a.duration) == (
        "libx264", "veryfast", "640x360", 640, 360, 30.0, 4.0)
    assert a.bitrate == "1000k" and a.bitrate_bps == 1_000_000 and a.streams == 1 and a.repeat == 1
    assert b.fps == 25.0 and b.bitrate_bps == 2_000_000 and b.streams == 3
    assert a.source.kind == "lavfi" and a.source.name == "testsrc2" and a.mode == "file"


def test_null_in_a_scenario_removes_a_default():
    text = "defaults: {encoder: libx264, bitrate: 1000k, resolution: 64x64, fps: 30, duration: 1}\n" \
           "scenarios:\n  - {name: q, bitrate: null, crf: 23}\n"
    (s,) = parse(text)
    assert s.bitrate is None and s.crf == 23.0


def test_matrix_expands_the_cartesian_product_in_order_with_the_name_template():
    scenarios = parse(BASE + '  - name: "{encoder} @ {bitrate}"\n'
                      "    matrix: {encoder: [libx264, libx265], bitrate: [1000k, 3000k]}\n")
    assert [s.name for s in scenarios] == ["libx264 @ 1000k", "libx264 @ 3000k", "libx265 @ 1000k",
                                           "libx265 @ 3000k"]
    assert [(s.encoder, s.bitrate) for s in scenarios][3] == ("libx265", "3000k")


def test_a_template_that_gives_duplicate_names_is_refused():
    message = error_of(BASE + '  - name: "{encoder}"\n    matrix: {bitrate: [1000k, 3000k]}\n')
    assert "t.yml: scenarios[0].name:" in message and "same name" in message


def test_bad_bitrate_names_the_file_and_the_key_path():
    message = error_of(BASE + "  - {name: a, bitrate: 1000k}\n  - {name: b, bitrate: 1000k}\n"
                       "  - {name: c, bitrate: fast}\n")
    assert message == 't.yml: scenarios[2].bitrate: expected a bitrate like "2500k", got "fast"'


def test_every_problem_is_collected_and_raised_once():
    message = error_of(BASE + "  - {name: a, bitrate: fast, colour: red}\n  - {name: b, crf: 20, fps: -1}\n")
    assert message.startswith("3 problems in the scenario file:")
    assert "scenarios[0].bitrate" in message and "scenarios[0].colour: unknown key" in message
    assert "scenarios[1].fps: expected a number > 0" in message


def test_unknown_top_level_key_and_missing_scenarios():
    message = error_of("defaults: {}\nscenario: []\n")
    assert "t.yml: scenario: unknown key" in message and "t.yml: scenarios: expected a non-empty list" in message


def test_bad_yaml_names_the_line():
    message = error_of("scenarios:\n  - {name: a\n")
    assert message.startswith("t.yml: not valid YAML: line ")


def test_exactly_one_rate_control_is_required():
    assert "expected exactly one rate control (bitrate, crf or qp), got none" in error_of(BASE + "  - {name: a}\n")
    assert "got bitrate and crf" in error_of(BASE + "  - {name: a, bitrate: 1M, crf: 20}\n")


def test_mode_is_file_or_live():
    (live,) = parse(BASE + "  - {name: a, bitrate: 1M, mode: live}\n")
    assert live.mode == "live" and live.live
    assert "scenarios[0].mode: expected 'file' or 'live', got \"rtmp\"" in error_of(
        BASE + "  - {name: a, bitrate: 1M, mode: rtmp}\n")


def test_idle_baseline_ignores_encode_defaults_but_refuses_explicit_encode_keys():
    (idle,) = parse(BASE + "  - {name: baseline idle, idle: true, duration: 3}\n")
    assert idle.idle and idle.encoder == "none" and idle.duration == 3.0 and idle.resolution is None
    assert "scenarios[0].bitrate: an idle baseline encodes nothing" in error_of(
        BASE + "  - {name: idle, idle: true, bitrate: 1M}\n")


def test_duplicate_names_are_refused():
    assert "duplicate scenario name \"a\"" in error_of(BASE + "  - {name: a, crf: 20}\n  - {name: a, qp: 20}\n")


def test_ladder_rungs_and_their_errors():
    (s,) = parse(BASE + "  - name: ladder\n    outputs:\n      - {resolution: 640x360, bitrate: 800k}\n"
                 "      - {resolution: 320x180, bitrate: 300k, fps: 15}\n")
    assert [(r.width, r.height, r.bitrate_bps, r.fps) for r in s.outputs] == [(640, 360, 800_000, None),
                                                                              (320, 180, 300_000, 15.0)]
    message = error_of(BASE + "  - name: ladder\n    bitrate: 1M\n    outputs: [{resolution: 64x6x, bitrate: 1k}]\n")
    assert "scenarios[0].outputs[0].resolution: expected a resolution like \"1280x720\"" in message
    assert "scenarios[0].bitrate: a ladder (outputs) sets a bitrate per rung" in message


def test_source_file_must_exist_and_is_resolved_against_the_scenario_file(tmp_path: Path):
    clip = tmp_path / "clip.mkv"
    clip.write_bytes(b"x")
    (s,) = parse(BASE + "  - {name: a, crf: 20, source: {file: clip.mkv}}\n", base_dir=tmp_path)
    assert s.source.kind == "file" and s.source.path == str(clip)
    message = error_of(BASE + "  - {name: a, crf: 20, source: {file: gone.mkv}}\n", base_dir=tmp_path)
    assert "t.yml: scenarios[0].source.file: source file" in message and "gone.mkv' does not exist" in message


def test_types_are_checked():
    message = error_of(BASE + "  - {name: a, crf: 20, streams: 0, repeat: true, duration: 0, encoder: 'lib x'}\n")
    assert "scenarios[0].streams: expected an integer from 1 to 256, got 0" in message
    assert "scenarios[0].repeat: expected an integer" in message
    assert "scenarios[0].duration: expected a number > 0" in message
    assert "scenarios[0].encoder: expected a name like 'libx264'" in message


def test_slug_is_a_valid_stream_name_and_distinct_for_distinct_names():
    assert slug("baseline") == "baseline"
    a, b = slug("libx264 @ 1000k"), slug("libx264 @ 1000k!")
    assert a != b and all(c.isalnum() or c in "_.-" for c in a + b) and len(a) <= 48


def test_matrix_fingerprint_changes_with_the_scenarios():
    one = parse(BASE + "  - {name: a, crf: 20}\n")
    two = parse(BASE + "  - {name: a, crf: 21}\n")
    assert matrix_sha256(one) == matrix_sha256(parse(BASE + "  - {name: a, crf: 20}\n")) != matrix_sha256(two)


def test_shipped_default_file_has_the_older_stacks_four_scenarios():
    scenarios = load_scenarios(bundled()["default"])
    assert [s.name for s in scenarios] == ["baseline idle", "2 streams @ 2500k", "4 streams @ 5000k",
                                           "single stream @ 1500k"]
    assert [s.streams for s in scenarios[1:]] == [2, 4, 1]
    assert all(s.resolution == "1280x720" and s.fps == 30 and s.encoder == "libx264" and s.preset == "veryfast"
               and s.duration == 60 for s in scenarios[1:])


def test_shipped_quick_file_has_a_baseline_two_encoders_repeats_two_streams_and_a_live_sweep():
    scenarios = load_scenarios(bundled()["quick"])
    assert scenarios[0].idle and len(scenarios) == 5
    encodes = [s for s in scenarios[1:] if not s.live]
    assert len({s.encoder for s in encodes}) == 2 and len({s.bitrate for s in encodes}) == 2
    assert any(s.streams == 2 for s in encodes) and any(s.repeat == 2 for s in encodes)
    (live,) = [s for s in scenarios if s.live]
    assert live.sweep == (1, 2) and live.encoder == "libx264" and 6 <= live.duration <= 8  # ends at 2 streams


def test_shipped_live_sweep_file_sweeps_1_2_4_8_streams_after_a_baseline():
    baseline, sweep = load_scenarios(bundled()["live-sweep"])
    assert baseline.idle and sweep.live and sweep.sweep == (1, 2, 4, 8) and sweep.resolution == "320x180"


def test_missing_file_is_a_runner_error(tmp_path: Path):
    with pytest.raises(RunnerError, match="scenario file not found"):
        load_scenarios(tmp_path / "nope.yml")
