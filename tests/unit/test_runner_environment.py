"""ffwatt/runner/measure/host_environment.py: what is known is recorded, what is not is absent (never "" or a guess)."""

from __future__ import annotations

import pynvml
import pytest

from ffwatt.runner.measure import host_environment as environment
from ffwatt.runner.measure.host_environment import collect_environment, cpu_model, version_probe_command
from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml

# A stand-in ffmpeg: `-version` prints a banner; an encode prints what the real encoders print.
FAKE_FFMPEG = r"""#!/bin/sh
case "$1" in
  -version) echo "ffmpeg version 7.1-test Copyright (c) 2000-2024"; echo "built with gcc"; exit 0;;
esac
case "$*" in
  *libx264*) printf 'junk\000x264 - core 164 r3095 baee400 - H.264/MPEG-4 AVC codec\000'; exit 0;;
  *libx265*) echo "x265 [info]: HEVC encoder version 3.5+1-f0c1022b6" >&2; exit 0;;
  *libsvtav1*) printf 'Svt[info]: SVT [version]:\tSVT-AV1 Encoder Lib v1.7.0\n' >&2; exit 0;;
  *h264_nvenc*) echo "Cannot load libcuda.so.1" >&2; exit 1;;
esac
exit 0
"""


@pytest.fixture
def fake_ffmpeg(tmp_path):
    path = tmp_path / "ffmpeg"
    path.write_text(FAKE_FFMPEG)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def no_gpu(monkeypatch):
    def fail():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)


def test_versions_from_what_the_encoders_print(fake_ffmpeg, no_gpu):
    env = collect_environment(fake_ffmpeg, ["libx264", "libx265", "libsvtav1", "h264_nvenc", "libx264", "mpeg4"])
    assert env["ffmpeg_version"] == "ffmpeg version 7.1-test Copyright (c) 2000-2024"
    assert env["ffmpeg_path"] == fake_ffmpeg
    # nvenc failed and mpeg4 has no probe: absent, not guessed
    assert env["encoder_versions"] == {"libx264": "core 164 r3095 baee400", "libx265": "3.5+1-f0c1022b6",
                                       "libsvtav1": "1.7.0"}
    assert "gpu_model" not in env and "gpu_driver" not in env
    assert env["cpu_cores"] >= 1 and env["kernel"] and env["hostname"]
    assert all(v not in (None, "") for v in env.values())


def test_a_missing_ffmpeg_only_shortens_the_dict(tmp_path, no_gpu):
    env = collect_environment(str(tmp_path / "nope"), ["libx264"])
    assert "ffmpeg_version" not in env and "encoder_versions" not in env
    assert env["ffmpeg_path"] == str(tmp_path / "nope")


def test_gpu_from_nvml(fake_ffmpeg, monkeypatch):
    FakeNvml([FakeGpu(index=0, name="NVIDIA L4"), FakeGpu(index=1, name="NVIDIA L4")],
             driver_version="550.54.15").install(monkeypatch.setattr)
    env = collect_environment(fake_ffmpeg, [])
    assert env["gpu_model"] == "NVIDIA L4" and env["gpu_driver"] == "550.54.15"
    assert "encoder_versions" not in env


def test_cpu_model_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\n\nHardware\t: BCM2835\n")
    empty = tmp_path / "empty"
    empty.write_text("model name\t:\n")
    assert cpu_model(str(x86)) == "AMD EPYC 7B13"
    assert cpu_model(str(arm)) == "BCM2835"
    assert cpu_model(str(empty)) is None
    assert cpu_model(str(tmp_path / "absent")) is None


def test_probe_command_is_one_tiny_frame():
    argv = version_probe_command("ffmpeg", "libx265", "hevc")
    assert argv[argv.index("-frames:v") + 1] == "1"
    assert "testsrc2=size=64x64:rate=1" in argv and argv[-3:] == ["-f", "hevc", "-"]


def test_probes_are_bounded(fake_ffmpeg, monkeypatch, no_gpu):
    seen = []
    real = environment.subprocess.run

    def run(argv, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real(argv, **kwargs)

    monkeypatch.setattr(environment.subprocess, "run", run)
    collect_environment(fake_ffmpeg, ["libx264"])
    assert seen and all(t is not None and t > 0 for t in seen)
