"""Quality at the display resolution and `ffwatt score`, with the real static ffmpeg (issue 23).

The media are made here from lavfi testsrc2: a 1280x720 source (x264 at crf 0, so the
reference is the pattern itself) and a 320x180 encode of it. Expected values come from
ffmpeg commands written out below (a direct libvmaf run) and from numpy on decoded frames,
never from the code under test.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ffwatt.cli.main import main

NO_EXPORTERS = ["--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]
SRC_W, SRC_H, ENC_W, ENC_H, FPS, FRAMES = 1280, 720, 320, 180, 25, 50


def _ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def media(ffmpeg, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    src, enc, short, audio = d / "src720.mkv", d / "enc180.mkv", d / "short.mkv", d / "tone.wav"
    _ffmpeg(ffmpeg, "-f", "lavfi", "-i", f"testsrc2=size={SRC_W}x{SRC_H}:rate={FPS}:duration={FRAMES / FPS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "0", "-pix_fmt", "yuv420p", str(src))
    _ffmpeg(ffmpeg, "-i", str(src), "-vf", f"scale={ENC_W}:{ENC_H}:flags=bicubic", "-c:v", "libx264", "-preset",
            "veryfast", "-crf", "26", str(enc))
    _ffmpeg(ffmpeg, "-i", str(enc), "-frames:v", "40", "-c", "copy", str(short))
    _ffmpeg(ffmpeg, "-f", "lavfi", "-i", "sine=duration=1", str(audio))
    return {"src": src, "enc": enc, "short": short, "audio": audio, "dir": d}


def score_json(capsys, *argv: str) -> dict:
    rc = main(["score", *argv, "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def direct_vmaf(ffmpeg: str, distorted: Path, reference: Path, log: Path, *, d_scale: str, r_scale: str) -> float:
    """libvmaf run straight from ffmpeg: timestamps reset, both scaled with bicubic, distorted first."""
    graph = (f"[0:v]setpts=PTS-STARTPTS,scale={d_scale}:flags=bicubic,format=yuv420p[d];"
             f"[1:v]setpts=PTS-STARTPTS,scale={r_scale}:flags=bicubic,format=yuv420p[r];"
             f"[d][r]libvmaf=log_fmt=json:log_path={log}")
    _ffmpeg(ffmpeg, "-i", str(distorted), "-i", str(reference), "-lavfi", graph, "-f", "null", "-")
    return json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]


# --------------------------------------------------------------------------
# the runner


def test_a_small_rung_scores_well_below_at_the_source_size_than_at_its_own(ffmpeg, media, tmp_path, capsys):
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(
        f"defaults: {{encoder: libx264, preset: veryfast, crf: 26, resolution: {ENC_W}x{ENC_H}, fps: {FPS}, "
        f"duration: {FRAMES / FPS}, source: {{file: {media['src']}}}}}\n"
        "scenarios:\n  - {name: display}\n  - {name: own size, quality: {resolution: encode}}\n")
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--work-dir", str(tmp_path / "work"), "--keep-outputs", *NO_EXPORTERS])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()  # the run's summary
    (path,) = (tmp_path / "results").glob("test_results_*.json")
    by_name = {s["name"]: s for s in json.loads(path.read_text())["scenarios"]}  # rounds run in a shuffled order
    display, own = by_name["display"], by_name["own size"]
    assert display["vmaf_score"] < own["vmaf_score"] - 20, (
        f"320x180 encode of a 1280x720 source: VMAF {display['vmaf_score']:.2f} at 1280x720, "
        f"{own['vmaf_score']:.2f} at its own size")
    assert display["psnr"]["y"] < own["psnr"]["y"] - 3
    assert display["quality_reference"] == {"reference": "source", "distorted": "encoder_output",
                                            "resolution": "1280x720", "scaler": "bicubic", "scored_at": "source",
                                            "model": "vmaf_v0.6.1"}
    assert own["quality_reference"]["resolution"] == "320x180" and own["quality_reference"]["scored_at"] == "encode"
    assert display["vmaf"]["model"] == "vmaf_v0.6.1" and display["psnr"]["pooling"] == "mse"
    assert display["psnr_score"] == display["psnr"]["mean"]  # psnr_score keeps its meaning: MSE-pooled
    # `ffwatt score` is the same pass: the runner's output against the source file gives the same figures
    (output,) = (tmp_path / "work").glob("display-*.mkv")
    scored = score_json(capsys, str(output), str(media["src"]), "--ffmpeg", ffmpeg)
    assert scored["vmaf"]["mean"] == pytest.approx(display["vmaf_score"], abs=0.01)
    assert scored["psnr"]["y"] == pytest.approx(display["psnr"]["y"], abs=0.01)


# --------------------------------------------------------------------------
# ffwatt score against independent computations


def test_score_agrees_with_a_direct_libvmaf_run(ffmpeg, media, tmp_path, capsys):
    at_source = score_json(capsys, str(media["enc"]), str(media["src"]), "--ffmpeg", ffmpeg)
    direct = direct_vmaf(ffmpeg, media["enc"], media["src"], tmp_path / "a.json",
                         d_scale=f"{SRC_W}:{SRC_H}", r_scale=f"{SRC_W}:{SRC_H}")
    assert at_source["vmaf"]["mean"] == pytest.approx(direct, abs=0.01)
    assert at_source["resolution"] == "1280x720" and at_source["vmaf"]["model"] == "vmaf_v0.6.1"
    assert at_source["vmaf"]["min"] <= at_source["vmaf"]["p1"] <= at_source["vmaf"]["mean"]
    assert at_source["vmaf"]["harmonic_mean"] <= at_source["vmaf"]["mean"]
    at_encode = score_json(capsys, str(media["enc"]), str(media["src"]), "--ffmpeg", ffmpeg, "--resolution", "encode")
    direct = direct_vmaf(ffmpeg, media["enc"], media["src"], tmp_path / "b.json",
                         d_scale=f"{ENC_W}:{ENC_H}", r_scale=f"{ENC_W}:{ENC_H}")
    assert at_encode["vmaf"]["mean"] == pytest.approx(direct, abs=0.01)
    assert at_encode["vmaf"]["mean"] > at_source["vmaf"]["mean"] + 20


def _planes(raw: bytes, w: int, h: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    frame = w * h * 3 // 2
    out = []
    for i in range(len(raw) // frame):
        buf = np.frombuffer(raw, dtype=np.uint8, count=frame, offset=i * frame).astype(np.float64)
        y = buf[: w * h]
        u = buf[w * h: w * h + w * h // 4]
        v = buf[w * h + w * h // 4:]
        out.append((y, u, v))
    return out


def test_per_plane_psnr_equals_numpy_on_the_decoded_frames(ffmpeg, media, capsys):
    scored = score_json(capsys, str(media["enc"]), str(media["src"]), "--ffmpeg", ffmpeg)

    def decode(path: Path, scale: str) -> bytes:
        return subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(path), "-vf", scale, "-f",
                               "rawvideo", "-pix_fmt", "yuv420p", "-"], check=True, capture_output=True,
                              timeout=120).stdout

    dist = _planes(decode(media["enc"], f"scale={SRC_W}:{SRC_H}:flags=bicubic"), SRC_W, SRC_H)
    ref = _planes(decode(media["src"], "null"), SRC_W, SRC_H)
    assert len(dist) == len(ref) == FRAMES
    per_frame = {"y": [], "u": [], "v": []}
    weighted_mse = []
    for d, r in zip(dist, ref, strict=True):
        mses = [float(np.mean((a - b) ** 2)) for a, b in zip(d, r, strict=True)]
        for plane, mse in zip("yuv", mses, strict=True):
            per_frame[plane].append(10 * math.log10(255**2 / mse))
        weighted_mse.append((4 * mses[0] + mses[1] + mses[2]) / 6)  # planes weighted by their pixels (4:2:0)
    for plane in "yuv":
        expected = sum(per_frame[plane]) / FRAMES  # mean of per-frame values
        assert scored["psnr"][plane] == pytest.approx(expected, abs=0.01), plane
    # psnr.mean (psnr_score) is MSE-pooled: the PSNR of the mean of the per-frame pixel-weighted MSE
    assert scored["psnr"]["mean"] == pytest.approx(10 * math.log10(255**2 / (sum(weighted_mse) / FRAMES)), abs=0.01)
    assert scored["psnr"]["pooling"] == "mse"


def test_frames_csv_has_a_row_per_frame(ffmpeg, media, tmp_path, capsys):
    csv_path = tmp_path / "frames.csv"
    scored = score_json(capsys, str(media["enc"]), str(media["src"]), "--ffmpeg", ffmpeg, "--frames-csv",
                        str(csv_path))
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("frame,vmaf,psnr_y") and len(rows) == FRAMES + 1
    vmafs = [float(r.split(",")[1]) for r in rows[1:]]
    assert sum(vmafs) / FRAMES == pytest.approx(scored["vmaf"]["mean"], abs=1e-3)


# --------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(("distorted", "reference", "expected"), [
    ("missing.mkv", "src", "error: distorted: file '{dir}/missing.mkv' does not exist"),
    ("enc", "missing.mkv", "error: reference: file '{dir}/missing.mkv' does not exist"),
    ("audio", "src", "error: distorted: {dir}/tone.wav has no video stream"),
    ("short", "src", "error: frame counts differ: distorted {dir}/short.mkv has 40, reference {dir}/src720.mkv "
                     "has 50"),
    ("enc", "dir", "error: reference: file '{dir}' is a directory"),
])
def test_bad_inputs_exit_2_naming_what_is_wrong(ffmpeg, media, capsys, distorted, reference, expected):
    def path(name: str) -> str:
        return str(media[name]) if name in media else str(media["dir"] / name)

    rc = main(["score", path(distorted), path(reference), "--ffmpeg", ffmpeg])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(expected.format(dir=media["dir"])), err


def test_a_bad_resolution_exits_2(ffmpeg, media, capsys):
    rc = main(["score", str(media["enc"]), str(media["src"]), "--ffmpeg", ffmpeg, "--resolution", "huge"])
    assert rc == 2 and "error: --resolution: expected source, encode or WxH" in capsys.readouterr().err


def test_a_missing_ffmpeg_exits_2_naming_it(media, tmp_path, capsys):
    rc = main(["score", str(media["enc"]), str(media["src"]), "--ffmpeg", str(tmp_path / "no-ffmpeg")])
    assert rc == 2 and capsys.readouterr().err.startswith(f"error: ffmpeg not found at '{tmp_path / 'no-ffmpeg'}'")
