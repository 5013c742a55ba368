"""Scenario `options:` with the real static ffmpeg: an injected option never reaches ffmpeg, one that
the encoder does not list is refused before any encode, and encoder options still work."""

from __future__ import annotations

import json
from pathlib import Path

from ffwatt.cli.main import main

NO_EXPORTERS = ["--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]
SMALL = "defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, duration: 1, crf: 30}\nscenarios:\n"


def run_cli(tmp_path: Path, text: str, ffmpeg: str, capsys) -> tuple[int, str]:
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(text)
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--work-dir", str(tmp_path / "work"), "--no-quality", *NO_EXPORTERS])
    return rc, capsys.readouterr().err


def test_an_injected_output_no_longer_overwrites_a_file(ffmpeg, tmp_path, capsys):
    victim = tmp_path / "victim.mkv"
    victim.write_text("precious\n")
    # before: `-y VICTIM` made VICTIM a second output, overwritten with a default encode
    rc, err = run_cli(tmp_path, SMALL + f"  - {{name: a, options: {{y: '{victim}'}}}}\n", ffmpeg, capsys)
    assert victim.read_text() == "precious\n"
    assert rc == 2 and "error: s.yml: scenarios[0].options.y: refused: -y adds an output or overwrites files" in err
    assert not (tmp_path / "work").exists() and not (tmp_path / "results").exists()  # nothing ran


def test_options_the_encoder_does_not_list_are_refused_before_any_encode(ffmpeg, tmp_path, capsys):
    victim = tmp_path / "victim.mkv"
    victim.write_text("precious\n")
    text = SMALL + (f"  - {{name: a, options: {{autorotate: '{victim}'}}}}\n"  # ffmpeg's own switch: VICTIM an output
                    "  - {name: b, options: {x265-params: 'keyint=60'}}\n"  # libx265's, not libx264's
                    "  - {name: c, encoder: libx265, options: {x265-params: 'keyint=60'}}\n")  # fine
    rc, err = run_cli(tmp_path, text, ffmpeg, capsys)
    assert rc == 2 and err.startswith("error: 2 problems in the scenario file:")
    assert "s.yml: scenario 'a': options.autorotate: refused: -autorotate is an ffmpeg command-line option" in err
    assert "s.yml: scenario 'b': options.x265-params: -x265-params is not an option of libx264" in err
    assert "scenario 'c'" not in err
    assert victim.read_text() == "precious\n" and not (tmp_path / "results").exists()


def test_tune_and_generic_gop_options_are_accepted_and_reach_the_encoder(ffmpeg, tmp_path, capsys):
    text = SMALL + "  - {name: a, options: {tune: zerolatency, g: 15, bf: 0, x264-params: 'scenecut=0'}}\n"
    rc, err = run_cli(tmp_path, text, ffmpeg, capsys)
    assert rc == 0, err
    (path,) = sorted((tmp_path / "results").glob("test_results_*.json"))
    (scenario,) = json.loads(path.read_text())["scenarios"]
    assert scenario["name"] == "a" and scenario["total_frames"] == 30
