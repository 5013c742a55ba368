"""Settings declared once: each options struct is its own declaration, the parser is built from
it and the struct from the parsed args, so a default, a flag and a variable cannot drift apart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ffwatt.cli import main as cli
from ffwatt.common.settings import options_from, settings_of
from ffwatt.deploy.tree import DashboardsOptions
from ffwatt.exporters.agent import AGENT_SETTINGS
from ffwatt.exporters.config import common_settings, server_settings
from ffwatt.runner.settings import RunOptions, ScoreOptions, WorkerOptions


def _parsed(cls: type, argv: list[str], environ: dict[str, str] | None = None):
    """The options struct `ffwatt ARGV` would run with (the subcommand itself is not run)."""
    return options_from(cls, cli._parser(environ or {}).parse_args(argv))


def test_every_field_of_run_and_worker_is_a_setting_but_the_worker_s_connect_timeout():
    assert [s.attr for s in settings_of(RunOptions)] == [f.name for f in dataclasses.fields(RunOptions)]
    assert {f.name for f in dataclasses.fields(WorkerOptions)} - {s.attr for s in settings_of(WorkerOptions)} == {
        "connect_timeout"}


def test_the_parsed_defaults_are_the_struct_defaults():
    assert _parsed(RunOptions, ["run", "s.yml"]) == RunOptions(scenario_file=Path("s.yml"))
    assert _parsed(WorkerOptions, ["worker", "tcp://127.0.0.1:8786"]) == WorkerOptions(scheduler="tcp://127.0.0.1:8786")
    assert _parsed(ScoreOptions, ["score", "a.mkv", "b.mkv"]) == ScoreOptions(Path("a.mkv"), Path("b.mkv"))


def test_every_setting_is_a_flag_and_a_variable_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"], environ={})
    text = " ".join(capsys.readouterr().out.split())
    for s in settings_of(RunOptions):
        if not s.positional:
            assert s.flag in text and f"[env {s.env}]" in text, s.name


def test_a_negated_switch_reads_its_flag_and_its_variable():
    for argv, env, quality in ((["--no-quality"], {}, False), ([], {"FFWATT_NO_QUALITY": "true"}, False),
                               ([], {"FFWATT_NO_QUALITY": "0"}, True), ([], {}, True)):
        assert _parsed(RunOptions, ["run", "s.yml", *argv], env).quality is quality, (argv, env)


def test_a_bad_value_names_its_flag(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "s.yml", "--order", "random"], environ={})
    assert stopped.value.code == 2 and "--order" in capsys.readouterr().err


def test_a_required_setting_without_a_value_is_refused(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["dashboards"], environ={})
    assert stopped.value.code == 2 and "--out" in capsys.readouterr().err
    assert [s.attr for s in settings_of(DashboardsOptions) if s.required] == ["out"]


def test_score_options_come_from_their_struct():
    flags = {s.flag for s in settings_of(ScoreOptions)}
    assert flags == {"distorted", "reference", "--ffmpeg", "--resolution", "--model", "--json", "--frames-csv",
                     "--force"}
    ffmpeg = {s.attr: s for s in settings_of(RunOptions)}["ffmpeg"]
    assert {s.attr: s for s in settings_of(ScoreOptions)}["ffmpeg"].help == ffmpeg.help  # one text for one flag


def test_the_agent_shares_the_exporters_declarations_of_its_common_flags():
    own = {s.name: s for s in AGENT_SETTINGS}
    every = {s.name: s for s in common_settings(0, 1.0) + server_settings()}
    assert own["listen-address"] == every["listen-address"]
    assert own["web-config-file"] == every["web-config-file"]
