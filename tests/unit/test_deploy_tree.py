"""`ffwatt dashboards --out DIR`: the provisioning tree from the package alone, byte for byte the
committed copies that `make dashboards` writes with the same code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ffwatt.deploy.stack import REPO_ONLY
from ffwatt.deploy.tree import HOSTS, render_repository

ROOT = Path(__file__).resolve().parents[2]


def _ffwatt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # from a directory outside the checkout: nothing may be read relative to the working directory
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ffwatt", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_tree_is_the_committed_copies_byte_for_byte(tmp_path):
    done = _ffwatt("dashboards", "--out", "deploy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tree = _tree(tmp_path / "deploy")
    assert {p.split("/")[0] for p in tree} == {"provisioning", "victoriametrics"}
    assert sum(p.startswith("provisioning/dashboards/") and p.endswith(".json") for p in tree) >= 7
    assert {"victoriametrics/scrape.yml", "victoriametrics/alerts.yml", HOSTS,
            "provisioning/datasources/datasources.yml"} <= set(tree)
    differ = sorted(p for p, data in tree.items() if (ROOT / p).read_bytes() != data)
    assert differ == []
    # everything the checkout's generator writes, less the compose files and the docs
    expected = {p for p in render_repository(ROOT) if p not in REPO_ONLY and not p.startswith("docs/")}
    assert set(tree) == expected


def test_a_second_run_writes_nothing_and_check_finds_a_changed_file(tmp_path):
    assert _ffwatt("dashboards", "--out", "d", cwd=tmp_path).returncode == 0
    again = _ffwatt("dashboards", "--out", "d", cwd=tmp_path)
    assert again.returncode == 0 and "0 file(s) written" in again.stdout
    (tmp_path / "d" / "victoriametrics" / "alerts.yml").write_text("groups: []\n")
    check = _ffwatt("dashboards", "--out", "d", "--check", cwd=tmp_path)
    assert check.returncode == 1 and "victoriametrics/alerts.yml" in check.stdout
    assert (tmp_path / "d" / "victoriametrics" / "alerts.yml").read_text() == "groups: []\n"  # --check wrote nothing


def test_the_hosts_file_in_the_tree_is_its_input(tmp_path):
    hosts = tmp_path / "d" / HOSTS
    hosts.parent.mkdir(parents=True)
    hosts.write_text("central: metrics.lab\nhosts:\n  - enc1.lab.example\n")
    assert _ffwatt("dashboards", "--out", "d", cwd=tmp_path).returncode == 0
    assert "enc1.lab.example:9500" in (tmp_path / "d" / "victoriametrics" / "targets" / "cpu.yml").read_text()
    assert "metrics.lab:9502" in (tmp_path / "d" / "victoriametrics" / "targets" / "results.yml").read_text()
    assert hosts.read_text() == "central: metrics.lab\nhosts:\n  - enc1.lab.example\n"  # an input: left as it is
