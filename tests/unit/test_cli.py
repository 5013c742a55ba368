"""`ffwatt`, the one command: its subcommands, its version, its errors and its aliases.
(`run`'s settings: test_runner_cli.py; `report`: test_report_cli.py.)"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from ffwatt.cli import main as cli
from ffwatt.common.version import ffwatt_version
from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import build
from ffwatt.runner.errors import RunInterruptedError, RunnerError

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("ffwatt", "scripts", "bench")
COMMANDS = ["run", "report", "score", "audit", "dashboards", "exporter", "agent", "worker", "scheduler", "fleet"]


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"], environ={})
    assert exit_info.value.code == 0
    assert re.findall(r"^    (\S+)", capsys.readouterr().out, re.M) == COMMANDS


def test_version_is_read_from_the_installed_metadata(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"], environ={})
    assert capsys.readouterr().out.strip() == f"ffwatt {version('ffwatt')}" == f"ffwatt {ffwatt_version()}"


def test_the_version_is_written_only_in_pyproject():
    written = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                if any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets):
                    written.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert written == []


def test_build_info_and_health_carry_the_installed_version(tmp_path):
    rt = build(load("results"), ["--listen-address", "127.0.0.1", "--port", "0", "--results-dir", str(tmp_path)],
               {})
    try:
        rt.refresh_once()
        body, _ = rt.snapshot.encode(None)
        assert f'ffwatt_exporter_build_info{{exporter="results",version="{ffwatt_version()}"}} 1.0' in body.decode()
        assert rt.health()[1]["version"] == ffwatt_version()
    finally:
        rt.server.server_close()


@pytest.mark.parametrize(("name", "extra"), [("ffmpeg", 256), ("rtmp", 0), ("streams", 0)])
def test_only_an_exporter_that_takes_pushes_widens_its_connection_caps_by_max_streams(name, extra, tmp_path):
    # ffmpeg holds a connection per pushed stream; rtmp's and streams' --max-streams count series,
    # and must not loosen the trickle defences (256 connections, 128 per peer by default)
    rt = build(load(name), ["--listen-address", "127.0.0.1", "--port", "0", "--max-streams", "256"], {})
    try:
        assert (rt.server.limits.max_connections, rt.server.limits.max_per_peer) == (256 + extra, 128 + extra)
    finally:
        rt.server.server_close()


@pytest.mark.parametrize(("error", "code", "message"), [
    (RunnerError("scenarios.yml: scenarios[0].crf: expected a number"), 2, "error: scenarios.yml: scenarios[0]"),
    (RunInterruptedError("SIGINT"), 130, "error: interrupted by SIGINT"),
    (KeyboardInterrupt(), 130, "error: interrupted"),
])
def test_a_user_error_prints_error_and_returns_its_exit_code(monkeypatch, capsys, error, code, message):
    def fail(opts, out=None):
        raise error

    monkeypatch.setattr("ffwatt.runner.run.run", fail)
    assert cli.main(["run", "s.yml"], environ={}) == code
    assert capsys.readouterr().err.startswith(message)


def test_a_subcommand_whose_package_is_missing_is_listed_and_says_so(monkeypatch, capsys):
    # The exporter image ships neither runner/ nor report/: `ffwatt` still builds and names them.
    monkeypatch.setitem(sys.modules, "ffwatt.runner.settings", None)
    monkeypatch.setitem(sys.modules, "ffwatt.report.cli", None)
    with pytest.raises(SystemExit):
        cli.main(["--help"], environ={})
    assert "(unavailable: " in capsys.readouterr().out
    assert cli.main(["run", "s.yml", "--resume"], environ={}) == 2
    assert capsys.readouterr().err.startswith("error: ffwatt run is unavailable (")
    assert cli.main(["report", "r.json"], environ={}) == 2
    assert "pip install 'ffwatt[report]'" in capsys.readouterr().err


def test_python_m_exporters_is_ffwatt_exporter():
    alias, command = _python("-m", "ffwatt.exporters", "--help"), _python("-m", "ffwatt", "exporter", "--help")
    assert alias.returncode == command.returncode == 0, alias.stderr + command.stderr
    assert alias.stdout == command.stdout and "ffwatt exporter agent" in alias.stdout
    unknown = _python("-m", "ffwatt.exporters", "nonesuch")
    assert unknown.returncode != 0 and "nonesuch" in unknown.stderr


def test_python_m_ffwatt_is_the_ffwatt_command():
    alias = _python("-m", "ffwatt", "--help")
    assert alias.returncode == 0, alias.stderr
    assert re.findall(r"^    (\S+)", alias.stdout, re.M) == COMMANDS


def test_pyproject_points_ffwatt_at_the_cli():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '\n[project.scripts]\nffwatt = "ffwatt.cli.main:main"\n' in text
