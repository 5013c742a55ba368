"""One error hierarchy: every public exception class derives from `FfwattError`, and `ffwatt`
prints `error: <what and where>` and exits 2 for each, whichever subcommand raised it."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ffwatt
import scripts
from ffwatt.cli import main as cli
from ffwatt.common.errors import FfwattError

ROOT = Path(__file__).resolve().parents[2]


def _product_modules():
    for package in (ffwatt, scripts):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):  # a command: importing it runs it
                yield importlib.import_module(info.name)


def _public_exception_classes() -> dict[str, type]:
    found = {}
    for module in _product_modules():
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_public_exception_class_is_an_ffwatt_error():
    classes = _public_exception_classes()
    assert len(classes) > 30  # the scan sees the tree (34 public classes when this test was written)
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, FfwattError))
    assert outside == []


def _bad_hosts(tmp_path: Path) -> list[str]:
    hosts = tmp_path / "out" / "victoriametrics" / "hosts.yml"
    hosts.parent.mkdir(parents=True)
    hosts.write_text("central: ffwatt-{name}\nhosts: [{address: lab1, exporters: [results]}]\n")
    return ["dashboards", "--out", str(tmp_path / "out")]


def _bad_web_config(tmp_path: Path) -> list[str]:
    config = tmp_path / "web.yml"
    config.write_text("basic_auth_users:\n  admin: hunter2\n")  # not a bcrypt hash
    return ["exporter", "results", "--port", "0", "--results-dir", str(tmp_path), "--web-config-file", str(config)]


@pytest.mark.parametrize(("argv", "expected"), [
    (lambda tmp: ["exporter", "nonesuch"], "error: unknown exporter 'nonesuch'"),
    (lambda tmp: ["agent", "--exporters", "nonesuch"], "error: --exporters: nonesuch"),
    (lambda tmp: ["exporter", "health", "--port", "0", "--targets", "x"], "error: ffwatt health: --targets: 'x'"),
    (_bad_web_config, "basic_auth_users.admin"),
    (_bad_hosts, "hosts[0]: 'results' is not a per-host exporter"),
], ids=["unknown exporter", "agent flags", "health targets", "web config", "hosts.yml"])
def test_each_subcommand_prints_error_and_exits_2(tmp_path, capsys, argv, expected):
    args = argv(tmp_path)
    assert cli.main(args, environ={}) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err
    if args[0] == "dashboards":
        assert str(tmp_path / "out" / "victoriametrics" / "hosts.yml") in err  # names the file


def test_python_m_exporters_prints_error_and_exits_2():
    done = subprocess.run([sys.executable, "-m", "ffwatt.exporters", "nonesuch"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown exporter 'nonesuch'")
