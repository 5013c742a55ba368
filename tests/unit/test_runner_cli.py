"""The `ffwatt` command line, in-process through `main(argv)`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffwatt.cli import main as cli

SCENARIOS = "defaults: {encoder: libx264, resolution: 64x64, fps: 10, duration: 1}\nscenarios:\n  - {name: a, crf: 30}\n"


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    def fake_run(opts, out=None):
        seen["opts"] = opts
        return 0

    monkeypatch.setattr("ffwatt.runner.run.run", fake_run)
    return seen


def test_defaults(captured, tmp_path: Path):
    assert cli.main(["run", "s.yml"], environ={}) == 0
    opts = captured["opts"]
    # no progress URL, like the meter URLs: a plain run pushes to no exporter nobody started
    assert opts.results_dir == Path("test_results") and opts.progress_url is None
    assert opts.cpu_metrics_url is None and opts.gpu_metrics_url is None and opts.tsdb_url is None  # in process
    assert opts.powercap_root == "/sys/class/powercap" and opts.order == "shuffled" and opts.seed is None
    assert opts.min_window == 2.0 and opts.cool_down == 0.0 and not opts.exclusive and opts.tdp_watts is None
    assert opts.sample_interval == 1.0 and not opts.resume and not opts.dry_run and opts.quality


def test_environment_variables_and_flags(captured):
    env = {"FFWATT_RESULTS_DIR": "/r", "FFWATT_PROGRESS_URL": "", "FFWATT_RESUME": "true",
           "FFWATT_SAMPLE_INTERVAL": "0.5"}
    assert cli.main(["run", "s.yml", "--sample-interval", "2"], environ=env) == 0
    opts = captured["opts"]
    assert opts.results_dir == Path("/r") and opts.progress_url is None and opts.resume
    assert opts.sample_interval == 2.0  # the flag wins over the variable


def test_bad_environment_value_names_the_variable(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "s.yml"], environ={"FFWATT_SAMPLE_INTERVAL": "-1"})
    assert "FFWATT_SAMPLE_INTERVAL='-1' is invalid for --sample-interval" in capsys.readouterr().err


def test_runner_error_prints_error_and_exits_2(tmp_path: Path, capsys):
    assert cli.main(["run", str(tmp_path / "missing.yml")], environ={}) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_dry_run_needs_no_ffmpeg(tmp_path: Path, capsys):
    path = tmp_path / "s.yml"
    path.write_text(SCENARIOS)
    assert cli.main(["run", str(path), "--dry-run", "--ffmpeg", "/no/ffmpeg"], environ={}) == 0
    out = capsys.readouterr().out
    assert "/no/ffmpeg -nostdin" in out and "-crf 30" in out


def test_exporter_subcommand_forwards_to_python_m_exporters(monkeypatch):
    seen = []
    monkeypatch.setattr("ffwatt.exporters.command.main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["exporter", "cpu", "--port", "0"], environ={}) == 0
    assert seen == [["cpu", "--port", "0"]]


def test_agent_and_exporter_hand_their_own_help_on(capsys):
    from ffwatt.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["agent", "--help"], environ={})
    assert exit_info.value.code == 0 and "--exporters" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["exporter", "cpu", "--help"], environ={})
    assert "--powercap-root" in capsys.readouterr().out
    assert main(["agent", "--exporters", "health"], environ={}) == 2  # the checker is not a per-host exporter
    assert "error: --exporters: health" in capsys.readouterr().err


def test_a_bundled_scenario_name_runs_from_any_directory(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no scenarios/ here: the name is the package's quick.yml
    assert cli.main(["run", "quick", "--dry-run", "--ffmpeg", "/no/ffmpeg"], environ={}) == 0
    out = capsys.readouterr().out
    assert "baseline idle" in out and "/no/ffmpeg -nostdin" in out


def test_a_file_in_the_working_directory_wins_over_a_bundled_name(tmp_path: Path, monkeypatch, captured):
    from ffwatt.scenarios import bundled

    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "quick"], environ={}) == 0 and captured["opts"].scenario_file == bundled()["quick"]
    (tmp_path / "quick").write_text(SCENARIOS)
    assert cli.main(["run", "quick"], environ={}) == 0 and captured["opts"].scenario_file == Path("quick")
    assert cli.main(["run", "nonesuch.yml"], environ={}) == 0  # left to the runner, whose error names it
    assert captured["opts"].scenario_file == Path("nonesuch.yml")
