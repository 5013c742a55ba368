"""Scenario names and their templates are bounded (ffwatt/runner/plan/name_template.py,
ffwatt/runner/plan/scenario_file.py): a width bomb is refused before any padding is built, a name
is at most 256 characters by default, and a template reads the scenario's keys, nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.plan.name_template import TemplateError, render
from ffwatt.runner.plan.scenario_file import parse_scenarios

ROOT = Path(__file__).resolve().parents[2]
BASE = "defaults: {encoder: libx264, resolution: 160x90, fps: 30, duration: 1, crf: 30}\nscenarios:\n"
# issue 31's bomb: one entry, ten names, each padded to 50 MB by `str.format` (181 bytes of YAML)
BOMB = BASE + "  - {name: '{preset:>WIDTH}', matrix: {preset: [a, b, c, d, e, f, g, h, i, j]}}\n"


def test_templates_fill_in_the_scenarios_keys_with_format_specs():
    values = {"encoder": "libx264", "bitrate": "2500k", "crf": 7, "fps": 29.97}
    assert render("{encoder} @ {bitrate}", values) == "libx264 @ 2500k"
    assert render("crf {crf:02d} at {fps:.1f} fps, {encoder!r}", values) == "crf 07 at 30.0 fps, 'libx264'"
    assert render("{encoder:>10}|", values) == "   libx264|"


@pytest.mark.parametrize(("template", "why"), [
    ("{encoder:>50000000}", "width 50000000 is over 256"),
    ("{encoder:>2000000000}", "width 2000000000 is over 256"),
    ("{fps:.100000f}", "precision 100000 is over 256"),
    ("{encoder:>99999999999999999999}", "width 999999999999... is over 256"),
    ("{encoder.__class__}", "a field names a key of the scenario"),
    ("{encoder[0]}", "a field names a key of the scenario"),
    ("{}", "a field names a key of the scenario"),
    ("{0}", "a field names a key of the scenario"),
    ("{encoder:{fps}}", "no nested field"),
    ("{encoder!a}", "only the !s and !r conversions"),
    ("{nosuch}", "the scenario has no key 'nosuch'"),
    ("{fps:d}", "Unknown format code 'd'"),
    ("{encoder", "expected '}'"),
])
def test_templates_outside_the_bounds_are_refused_saying_why(template, why):
    with pytest.raises(TemplateError, match=None) as info:
        render(template, {"encoder": "libx264", "fps": 29.97})
    assert why in str(info.value) and len(str(info.value)) < 200


def test_a_template_whose_name_passes_the_cap_is_refused_as_it_is_built():
    with pytest.raises(TemplateError, match="longer than 256 characters"):
        render("{preset}{bitrate}", {"preset": "p" * 1_000_000, "bitrate": "1k"})
    assert len(render("x" * 256, {})) == 256


def test_a_long_literal_name_and_a_long_sweep_step_name_are_refused_by_the_loader():
    text = BASE + f"  - {{name: '{'n' * 257}'}}\n" + f"  - {{name: '{'s' * 250}', mode: live, sweep: {{streams: [1, 2]}}}}\n"
    with pytest.raises(RunnerError) as info:
        parse_scenarios(text, file_name="long.yml")
    message = str(info.value)
    assert "long.yml: scenarios[0].name: a name of 257 characters" in message
    assert "long.yml: scenarios[1].name: a name of 262 characters" in message  # its step "<name> @ 1 streams"
    assert "at most 256 (--max-name-length)" in message and len(message) < 1000
    parse_scenarios(BASE + f"  - {{name: '{'n' * 300}'}}\n", max_name_length=300)  # the cap is a setting


def test_the_width_bomb_is_refused_fast_and_small(tmp_path):
    """`ffwatt run` on the bomb, in its own process: refused naming the template, within 1 s of CPU for the
    run itself and under 100 MB peak RSS for the whole process (before: 1.06 GB RSS). The peak is the
    process's own `VmHWM` (/proc/self/status): `wait4`'s `ru_maxrss` would also count the pytest process it
    was forked from."""
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(BOMB.replace("WIDTH", "50000000"))
    probe = ("import re, sys, time; import ffwatt.runner.run; from ffwatt.cli.main import main; "
             "t = time.process_time(); rc = main(['run', sys.argv[1], '--dry-run']); cpu = time.process_time() - t; "
             "peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1); "
             "print(f'cpu={cpu:.3f} peak_kib={peak}', file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    assert "bomb.yml: scenarios[0].name: bad name template" in done.stderr
    assert "width 50000000 is over 256" in done.stderr
    figures = dict(item.split("=") for item in done.stderr.rsplit("\n", 2)[-2].split())
    assert float(figures["cpu"]) < 1.0, done.stderr
    assert int(figures["peak_kib"]) < 100 * 1024, f"peak RSS {int(figures['peak_kib']) / 1024:.0f} MB"
