"""Hostile scenario files: alias and matrix bombs, huge values, and sources that are not files.
Each is refused with `error: ...` and exit 2 through the CLI, or a `RunnerError` naming the problem."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ffwatt.cli import main as cli
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.scenario_file import MAX_YAML_NODES, load_scenarios, parse_scenarios

BASE = """
defaults: {encoder: libx264, preset: veryfast, resolution: 640x360, fps: 30, duration: 4, crf: 23}
scenarios:
"""


def billion_laughs() -> str:
    """The classic YAML alias bomb: 9 levels of 9 references, 9**9 (387 M) strings once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefghi":
        below = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{below}"] * 9) + "]")
    lines.append("scenarios: *i")
    return "\n".join(lines) + "\n"


def run_cli(tmp_path: Path, text: str, *extra: str, environ=None) -> int:
    path = tmp_path / "s.yml"
    path.write_text(text)
    return cli.main(["run", str(path), "--dry-run", "--ffmpeg", "/no/ffmpeg", *extra], environ=environ or {})


def test_an_alias_bomb_is_refused_with_exit_2_and_no_memory_error(tmp_path: Path, capsys):
    text = billion_laughs()
    assert len(text.encode()) < 600  # the size of issue 24's bomb (536 bytes)
    started = time.monotonic()
    rc = run_cli(tmp_path, text)  # a MemoryError or a traceback would escape main() and fail here
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error: s.yml: YAML aliases expand to more than {MAX_YAML_NODES:,} nodes; refused")
    assert "lol" not in err and len(err) < 300
    print(f"alias bomb ({len(text.encode())} bytes) refused in {took:.3f} s")  # shown with pytest -s


def test_a_recursive_alias_and_deep_nesting_are_refused_without_a_traceback():
    with pytest.raises(RunnerError, match="recursive YAML alias"):
        parse_scenarios("scenarios: &a [*a]\n", file_name="t.yml")
    with pytest.raises(RunnerError, match="t.yml: YAML nested too deeply"):
        parse_scenarios("scenarios: " + "[" * 5000 + "]" * 5000 + "\n", file_name="t.yml")


def test_aliases_that_stay_small_still_work():
    text = BASE.replace("crf: 23}", "crf: 23, options: &opts {tune: zerolatency}}") + \
        "  - {name: a}\n  - {name: b, options: *opts}\n"
    assert [dict(s.options) for s in parse_scenarios(text, file_name="t.yml")] == [{"tune": "zerolatency"}] * 2


def test_a_matrix_bomb_is_refused_naming_the_count(tmp_path: Path, capsys):
    keys = ("bitrate", "fps", "duration", "streams", "repeat", "viewers", "preset", "encoder")
    text = "scenarios:\n  - name: x\n    matrix:\n" + "".join(f"      {k}: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for k in keys)
    assert len(text) < 600
    assert run_cli(tmp_path, text) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: s.yml: scenarios[0].matrix: expands to 43,046,721 scenarios (9 x 9 x 9 x 9 x 9 x "
                          "9 x 9 x 9), over the limit of 10,000 (--max-scenarios)")


def test_the_scenario_cap_is_settable_and_counts_the_whole_file(tmp_path: Path, capsys):
    text = BASE + "  - {name: '{bitrate}', crf: null, matrix: {bitrate: [1k, 2k, 3k]}}\n  - {name: b}\n"
    assert run_cli(tmp_path, text, "--max-scenarios", "4") == 0
    capsys.readouterr()
    text += "  - {name: 'c {bitrate}', crf: null, matrix: {bitrate: [1k, 2k]}}\n"
    assert run_cli(tmp_path, text, environ={"FFWATT_MAX_SCENARIOS": "4"}) == 2
    assert ("scenarios[2].matrix: expands to 2 scenarios (2), 6 in the file so far, over the limit of 4"
            in capsys.readouterr().err)


def test_messages_never_quote_a_whole_huge_value():
    huge = "x" * 1_000_000
    with pytest.raises(RunnerError) as info:
        parse_scenarios(BASE + f"  - {{name: a, fps: '{huge}', resolution: [{', '.join(['1'] * 10_000)}]}}\n",
                        file_name="t.yml")
    message = str(info.value)
    assert "scenarios[0].fps: expected a number" in message and "scenarios[0].resolution:" in message
    assert len(message) < 1000


def test_a_scenario_file_over_the_size_limit_is_refused(tmp_path: Path):
    path = tmp_path / "big.yml"
    path.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(RunnerError, match="big.yml: scenario file larger than 4 MiB"):
        load_scenarios(path)


def source_error(tmp_path: Path, file: str) -> str:
    with pytest.raises(RunnerError) as info:
        parse_scenarios(BASE + f"  - {{name: a, source: {{file: '{file}'}}}}\n", file_name="t.yml", base_dir=tmp_path)
    return str(info.value)


def test_a_device_source_is_refused():
    assert "source file '/dev/zero' is a character device; expected a regular file (or a link to one)" in \
        source_error(Path("/"), "/dev/zero")


def test_a_fifo_a_directory_and_a_link_to_a_device_are_refused(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe")
    assert "pipe' is a fifo (named pipe); expected a regular file" in source_error(tmp_path, "pipe")
    (tmp_path / "dir").mkdir()
    assert "dir' is a directory; expected a regular file" in source_error(tmp_path, "dir")
    (tmp_path / "zero").symlink_to("/dev/zero")
    assert "zero' is a character device" in source_error(tmp_path, "zero")


def test_a_link_to_a_regular_file_is_a_source(tmp_path: Path):
    (tmp_path / "clip.mkv").write_bytes(b"x")
    (tmp_path / "link.mkv").symlink_to(tmp_path / "clip.mkv")
    (s,) = parse_scenarios(BASE + "  - {name: a, source: {file: link.mkv}}\n", file_name="t.yml", base_dir=tmp_path)
    assert s.source.path == str(tmp_path / "link.mkv")
