"""Issue 29, item 6: `ffwatt score` refuses a pair whose frame rates differ, unless `--force`.

The pair is made with the static ffmpeg: the reference is 100 frames of lavfi `testsrc2` at
25 fps (4 s), the distorted the same 100 frames retimed to 12.5 fps (8 s: slow motion). Paired
frame by frame they are the same pictures; in time they are not, which is what VMAF 11 on
such a pair meant before this check. The refusal names both files and both rates (exit 2);
`--force` resamples the distorted to the reference's 25 fps and says so. Fails on the code
before issue 29, which scored the pair silently.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ffwatt.cli.main import main


def _make(ffmpeg: str, path: Path, *filters: str) -> Path:
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-frames:v", "100",
                    *filters, "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def pair(ffmpeg, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("rates")
    reference = _make(ffmpeg, tmp / "reference.mkv")
    # the same 100 frames, twice as long each: 12.5 fps
    distorted = _make(ffmpeg, tmp / "distorted.mkv", "-vf", "setpts=2*PTS", "-r", "12.5")
    return distorted, reference


def test_frame_rates_that_differ_are_refused_naming_both(ffmpeg, pair, capsys):
    distorted, reference = pair
    assert main(["score", str(distorted), str(reference), "--ffmpeg", ffmpeg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: frame rates differ: ")
    assert f"distorted {distorted} is 12.5 fps" in err and f"reference {reference} is 25 fps" in err
    assert "--force" in err


def test_force_resamples_the_distorted_to_the_reference_rate_and_says_so(ffmpeg, pair, capsys):
    distorted, reference = pair
    assert main(["score", str(distorted), str(reference), "--ffmpeg", ffmpeg, "--force", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["resampled"].startswith("--force: the distorted (12.5 fps) was resampled to the reference's 25 fps")
    # 100 reference frames, each paired with the resampled distorted frame at its time: the pictures of a slow
    # motion (frame n of the distorted shows frame n/2 of the reference), so the score stays low
    assert out["vmaf"]["frames"] == 100 and out["vmaf"]["mean"] < 60
    assert main(["score", str(distorted), str(reference), "--ffmpeg", ffmpeg, "--force"]) == 0
    assert "resampled  --force: the distorted (12.5 fps)" in capsys.readouterr().out
