"""Issue 29, item 7: hostile strings and planted links, through `ffwatt report` in-process.

A preset that is mathtext (`$\\undefinedmacro$`) must be drawn as written, not crash the
charts; names that a spreadsheet runs as formulas (`=HYPERLINK(...)`, `@SUM`, `+1`, `-2+3`)
must land in the CSV files as text; links planted in the output directory under the
temporary names the report once used, or at a final name, must not be followed. Each test
fails on the code before issue 29.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")

from ffwatt.cli.main import main  # noqa: E402
from tests.report_samples import encode, write_doc  # noqa: E402

POINTS = [(200, 60.0, 30.0), (400, 70.0, 33.0), (800, 80.0, 36.0), (1600, 88.0, 39.0)]


def _results(tmp_path: Path, *, clip: str = "bike", encoders=("x264", "x265"), presets=("p", "p"),
             names=None) -> Path:
    scenarios = []
    for k, (encoder, preset) in enumerate(zip(encoders, presets, strict=True)):
        for j, (kbps, vmaf, psnr) in enumerate(POINTS):
            s = encode(clip, encoder, "640x360", kbps * (1 - 0.2 * k), vmaf, psnr, 40.0 + 10 * k + j, preset=preset)
            if names is not None:
                s["name"] = names(encoder, j)
            scenarios.append(s)
    return write_doc(tmp_path / "test_results_20260101_000000.json", scenarios)


def test_a_mathtext_preset_is_drawn_as_written(tmp_path):
    results = _results(tmp_path, presets=("$\\undefinedmacro$", "fast"))
    out = tmp_path / "report"
    assert main(["report", str(results), "--out", str(out)], environ={}) == 0
    svg = (out / "rd_vmaf.svg").read_text()
    assert "x264/$\\undefinedmacro$" in svg  # the legend shows the text itself
    assert "x264/$\\undefinedmacro$" in (out / "bd.csv").read_text()


FORMULAS = ['=HYPERLINK("http://example.invalid/","click")', "@SUM(1+1)", "+1+1", "-2+3", "\tTAB", "\rCR"]


def test_formula_like_text_lands_in_the_csv_files_as_text(tmp_path):
    def name(encoder: str, j: int) -> str:
        return f"{FORMULAS[(j + 4 * (encoder == '+1+1')) % len(FORMULAS)]} {encoder} {j}"

    results = _results(tmp_path, clip="-2+3", encoders=("@SUM(1+1)", "+1+1"), names=name)
    out = tmp_path / "report"
    assert main(["report", str(results), "--out", str(out)], environ={}) == 0
    scenarios = list(csv.DictReader((out / "scenarios.csv").open(newline="")))
    written = {name(e, j) for e in ("@SUM(1+1)", "+1+1") for j in range(len(POINTS))}
    assert {r["scenario"] for r in scenarios} == {"'" + n for n in written}  # every one opens like a formula
    assert {r["clip"] for r in scenarios} == {"'-2+3"}
    assert {r["encoder"] for r in scenarios} == {"'@SUM(1+1)", "'+1+1"}
    bd = list(csv.DictReader((out / "bd.csv").open(newline="")))
    assert bd and all(r["anchor"] == "'@SUM(1+1)/p" and r["test"] == "'+1+1/p" and r["clip"] == "'-2+3" for r in bd)
    # numbers stay numbers: a negative BD-rate is written as a number, not prefixed
    assert float(next(r for r in bd if r["figure"] == "BD-rate (VMAF)")["value"]) < 0


def test_links_planted_in_the_output_directory_are_never_followed(tmp_path):
    results = _results(tmp_path)
    out = tmp_path / "report"
    out.mkdir()
    victims = tmp_path / "victims"
    victims.mkdir()
    planted = {}
    for name in ("report.html", "bd.csv", "scenarios.csv", "summary.md", "rd_vmaf.png", "rd_vmaf.svg"):
        victim = victims / name
        victim.write_text("precious")
        (out / f".{name}.tmp").symlink_to(victim)  # the temporary names the report used to write through
        planted[name] = victim
    dangling = victims / "created-through-a-dangling-link"
    (out / ".operating_points.csv.tmp").symlink_to(dangling)
    final_victim = victims / "final"
    final_victim.write_text("precious")
    (out / "summary.md").symlink_to(final_victim)  # a link at a final name: replaced, its target left alone

    assert main(["report", str(results), "--out", str(out)], environ={}) == 0
    assert all(v.read_text() == "precious" for v in planted.values())
    assert not dangling.exists()
    assert final_victim.read_text() == "precious"
    summary = out / "summary.md"
    assert not summary.is_symlink() and summary.read_text().startswith("# ffwatt benchmark report")
    assert (out / "bd.csv").read_text().startswith("clip,")
    assert not [p for p in os.listdir(out) if p.endswith(".tmp") and not (out / p).is_symlink()]  # none left over
