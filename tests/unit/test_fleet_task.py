"""A fleet worker's checks before it encodes: the bytes hash to the SHA-256 the controller took before
dispatch (issue 25 item 1), for a file read from a shared path and for one shipped with the task, at the
absolute path the controller meant; and the scenario's options suit this host's own ffmpeg (issue 31).
Expected digests are computed here with hashlib, not with the code under test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ffwatt.runner.execute.fleet.task import _place_source, refused_here
from ffwatt.runner.measure.ffmpeg_probe import probe
from ffwatt.runner.measure.processes import EncodeError
from ffwatt.runner.plan.scenario_file import load_scenarios, parse_scenarios

BASE = "defaults: {encoder: libx264, resolution: 160x90, fps: 25, duration: 1, bitrate: 100k}\nscenarios:\n"
BYTES = b"the source's bytes as the controller hashed them"


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "shared" / "clip.mkv"
    path.parent.mkdir()
    path.write_bytes(BYTES)
    return path


def scenario(clip: Path):
    (s,) = parse_scenarios(BASE + f"  - {{name: a, source: {{file: {clip}}}}}\n")
    return s


def test_a_shared_source_whose_bytes_hash_as_dispatched_is_read_in_place(clip, tmp_path):
    s = scenario(clip)
    assert _place_source(s, None, tmp_path, "w1", hashlib.sha256(BYTES).hexdigest()) is s


def test_a_shared_source_changed_after_the_controllers_hash_is_refused_naming_both_digests(clip, tmp_path):
    s = scenario(clip)
    expected = hashlib.sha256(BYTES).hexdigest()
    clip.write_bytes(BYTES + b" and one more line")  # changed on the shared disk between dispatch and the read
    found = hashlib.sha256(clip.read_bytes()).hexdigest()
    with pytest.raises(EncodeError) as caught:
        _place_source(s, None, tmp_path, "w1", expected)
    assert str(caught.value) == (f"a: source {clip} on host w1 has SHA-256 {found}, expected {expected} (the "
                                 "controller's hash before dispatch): the file changed since, or this host reads "
                                 "another copy")


def test_a_shipped_source_is_written_to_the_work_dir_and_checked(clip, tmp_path):
    s = scenario(clip)
    work = tmp_path / "work"
    work.mkdir()
    placed = _place_source(s, BYTES, work, "w1", hashlib.sha256(BYTES).hexdigest())
    assert Path(placed.source.path) == work / "source-clip.mkv" and (work / "source-clip.mkv").read_bytes() == BYTES
    with pytest.raises(EncodeError, match=r"has SHA-256 [0-9a-f]{64}, expected 0{64}"):
        _place_source(s, BYTES, work, "w1", "0" * 64)


def test_a_source_missing_on_the_worker_is_named_before_any_hash(clip, tmp_path):
    s = scenario(clip)
    clip.unlink()
    with pytest.raises(EncodeError, match=r"a: source .*clip\.mkv is not on host w1 .*mount it at the same path"):
        _place_source(s, None, tmp_path, "w1", hashlib.sha256(BYTES).hexdigest())


def test_a_lavfi_source_has_nothing_to_check(tmp_path):
    (s,) = parse_scenarios(BASE + "  - {name: a, source: testsrc2}\n")
    assert _place_source(s, None, tmp_path, "w1", None) is s


def test_a_relative_source_is_made_absolute_against_the_scenario_files_folder(tmp_path, monkeypatch):
    """A worker reading a shared path must get the controller's file, not one relative to its own working
    directory: the loader resolves a relative `file:` against the scenario file's folder, absolutely."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "clip.mkv").write_bytes(BYTES)
    (lab / "s.yml").write_text(BASE + "  - {name: a, source: {file: clip.mkv}}\n")
    monkeypatch.chdir(tmp_path)  # the controller runs `ffwatt run lab/s.yml` from the folder above
    (s,) = load_scenarios(Path("lab") / "s.yml")
    assert s.source.path == str(lab / "clip.mkv") and Path(s.source.path).is_absolute()


@pytest.mark.skipif(not Path("/usr/bin/ffmpeg").exists(), reason="Debian's ffmpeg (5.1) is not installed")
def test_options_are_checked_again_against_the_workers_own_ffmpeg(ffmpeg):
    """`mb_info` is an option of libx264 in the static ffmpeg 9 the controller checked with, not in Debian's
    ffmpeg 5.1: a worker running that one refuses the scenario, naming itself and its ffmpeg."""
    (s,) = parse_scenarios(BASE + "  - {name: a, options: {mb_info: '1'}}\n")
    assert refused_here(s, probe(ffmpeg), "w9") is None
    old = probe("/usr/bin/ffmpeg")
    refused = refused_here(s, old, "w9")
    assert isinstance(refused, EncodeError)
    assert str(refused).startswith(f"a: refused by the ffmpeg of host w9 ({old.version}): host w9: scenario 'a': "
                                   "options.mb_info: -mb_info is not an option of libx264")
