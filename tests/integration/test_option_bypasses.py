"""The options allow-list against the attacker's syntax, with the real static ffmpeg.

* Splitting: ffmpeg itself says how it split an `-x264-params` or `-kvazaar-params` string (libx264
  warns `Error parsing option 'KEY = VALUE'` for each name x264 does not know, libkvazaar
  `Invalid option: KEY=VALUE`); ffwatt's mirror (ffwatt/runner/plan/ffmpeg_syntax.py) must find the
  same pairs.
* Each bypass of issue 31 is first shown to work on plain ffmpeg (the victim file is overwritten),
  then handed to `ffwatt run` in a scenario file: the run refuses the scenario by the name the
  library would read, and the victim is untouched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ffwatt.cli.main import main
from ffwatt.runner.plan.ffmpeg_syntax import dict_pairs

ORIGINAL = b"precious victim file\n"
NO_EXPORTERS = ["--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]


def _encode(ffmpeg: str, encoder: str, option: str, value: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
                           "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10",  # a tiny synthetic source
                           "-frames:v", "3",                                    # a few frames: the encoder opens
                           "-c:v", encoder, f"-{option}", value,                # the option under test
                           "-f", "null", "-"],                                  # the output goes nowhere
                          capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


@pytest.mark.parametrize("text", ["zza=1:zzb=2", "zz'a b' = ' v v ' :zzq=1", r"zz\:y=1", "zz'x=y'=v:zzc='1:2'",
                                  "a=1::b=2", r"zzd\'e=f\\g"])
def test_ffmpeg_splits_x264_params_as_ffwatt_reads_them(ffmpeg, tmp_path, text):
    done = _encode(ffmpeg, "libx264", "x264-params", text, tmp_path)
    found = re.findall(r"Error parsing option '(.*) = (.*)'\.$", done.stderr, re.MULTILINE)
    assert found == dict_pairs(text), done.stderr


def test_ffmpeg_splits_kvazaar_params_at_commas_as_ffwatt_reads_them(ffmpeg, tmp_path):
    text = "zza=1,zz'b,c'=2,zzd:e=3"
    done = _encode(ffmpeg, "libkvazaar", "kvazaar-params", text, tmp_path)
    found = [tuple(pair.split("=", 1)) for pair in re.findall(r"Invalid option: (.*)\.$", done.stderr, re.MULTILINE)]
    assert found == dict_pairs(text, ","), done.stderr


# (encoder, option, value with VICTIM, the name the library reads, plain ffmpeg writes the victim)
BYPASSES = [
    ("libx264", "x264-params", "'dump-yuv'=VICTIM", "'dump-yuv'", True),
    ("libx264", "x264-params", r"d\ump-yuv=VICTIM", "'dump-yuv'", True),
    ("libx264", "x264-params", "'stats'=VICTIM:pass=1", "'stats'", True),
    ("libx264", "x264opts", "dump-yuv=VICTIM", "'dump-yuv'", True),
    ("libx265", "x265-params", "'csv'=VICTIM:csv-log-level=1", "'csv'", True),
    ("libx265", "x265-params", "scaling-list=VICTIM", "'scaling-list'", False),  # reads it
    ("libkvazaar", "kvazaar-params", "preset=ultrafast,cqmfile=VICTIM", "'cqmfile'", False),  # reads it
    ("libaom-av1", "aom-params", "film-grain-table=VICTIM", "'film-grain-table'", False),  # reads it
    ("libsvtav1", "svtav1-params", "preset=12:fgs-table=VICTIM", "'fgs-table'", False),  # reads it
]
IDS = [f"{option}:{value.split('VICTIM')[0]}" for _, option, value, _, _ in BYPASSES]


@pytest.mark.parametrize(("encoder", "option", "value"), [b[:3] for b in BYPASSES if b[4]],
                         ids=[i for i, b in zip(IDS, BYPASSES, strict=True) if b[4]])
def test_the_bypass_overwrites_the_victim_on_plain_ffmpeg(ffmpeg, tmp_path, encoder, option, value):
    """The control: the attack is real on this ffmpeg, so the refusal below is what protects the file."""
    victim = tmp_path / "victim"
    victim.write_bytes(ORIGINAL)
    _encode(ffmpeg, encoder, option, value.replace("VICTIM", str(victim)), tmp_path)
    assert victim.read_bytes() != ORIGINAL


@pytest.mark.parametrize(("encoder", "option", "value", "read_as", "writes"), BYPASSES, ids=IDS)
def test_ffwatt_run_refuses_the_bypass_by_name_and_the_victim_is_untouched(ffmpeg, tmp_path, capsys, encoder,
                                                                           option, value, read_as, writes):
    victim = tmp_path / "victim"
    victim.write_bytes(ORIGINAL)
    scenario_file = tmp_path / "attack.yml"
    attack = value.replace("VICTIM", str(victim)).replace("'", "''")  # YAML single quotes: '' is one quote
    scenario_file.write_text(
        "defaults: {preset: ultrafast, resolution: 160x90, fps: 10, duration: 1, crf: 30}\n"
        f"scenarios:\n  - {{name: attack, encoder: {encoder}, options: {{{option}: '{attack}'}}}}\n")
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--work-dir", str(tmp_path / "work"), "--no-quality", *NO_EXPORTERS])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"attack.yml: scenarios[0].options.{option}: refused: {read_as}" in err
    assert victim.read_bytes() == ORIGINAL
    assert not (tmp_path / "results").exists()  # refused before anything ran
