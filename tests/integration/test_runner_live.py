"""`ffwatt run` in live mode on a real nginx-rtmp with the real static ffmpeg.

The server is `tests.servers.NginxRtmp` (recording on) given to the runner with
`--rtmp-url`, or the runner's own (`servers.rtmp.RtmpServer`, found through the
`rtmp-server` event). Expected values are computed here: stream names from the slug
rule, frames from fps x duration x streams; the file-mode VMAF of the same settings is
the reference the live VMAF is compared with.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from ffwatt.cli.main import main
from ffwatt.common.process import processes_mentioning
from ffwatt.contract.loading import load_results_file
from ffwatt.runner.plan.scenario import slug
from tests.servers import NginxRtmp, integration_required

NO_EXPORTERS = ["--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]


@pytest.fixture(scope="module")
def nginx() -> str:
    """nginx with the RTMP module, for tests where the runner starts its own (skips, or fails under CI)."""
    from ffwatt.runner.execute.rtmp_server import RtmpServerError, find_rtmp_module
    from tests.servers import require_binary

    path = require_binary("nginx")
    try:
        find_rtmp_module(path)
    except RtmpServerError as exc:
        if integration_required():
            pytest.fail(f"{exc} (integration tests are required here)", pytrace=False)
        pytest.skip(str(exc))
    return path


@pytest.fixture(scope="module")
def server():
    with NginxRtmp(record=True) as s:
        yield s


def only_results(directory: Path) -> tuple[Path, dict]:
    (path,) = sorted(directory.glob("test_results_*.json"))
    return path, json.loads(path.read_text())


MAIN = """
defaults: {encoder: libx264, preset: veryfast, resolution: 320x180, fps: 30, bitrate: 400k}
scenarios:
  - {name: baseline idle, idle: true, duration: 1}
  - {name: live two, mode: live, streams: 2, duration: 5}
  - {name: file one, duration: 5}
  - {name: tiny, mode: live, duration: 4, resolution: 160x90, preset: ultrafast, bitrate: 150k,
     sweep: {streams: [1, 2]}}
"""


@pytest.fixture(scope="module")
def main_run(ffmpeg, server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    (tmp / "main.yml").write_text(MAIN)
    seen: set[str] = set()
    stop = threading.Event()

    def watch_stat() -> None:  # the stream names /stat shows while the run publishes
        while not stop.is_set():
            try:
                text = requests.get(server.stat_url, timeout=2).text
                seen.update(part.split("</name>")[0] for part in text.split("<name>")[1:])
            except requests.RequestException:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_stat, daemon=True)
    watcher.start()
    try:
        rc = main(["run", str(tmp / "main.yml"), "--results-dir", str(tmp / "results"), "--ffmpeg", ffmpeg,
                   "--work-dir", str(tmp / "work"), "--rtmp-url", server.rtmp_url, "--rtmp-stat-url",
                   server.stat_url, "--rtmp-record-dir", str(server.record_dir), "--order", "sequential",
                   *NO_EXPORTERS])  # the file's order: the checks below read the scenarios in it
    finally:
        stop.set()
        watcher.join(5)
    path, doc = only_results(tmp / "results")
    return {"rc": rc, "path": path, "doc": doc, "seen": seen, "tmp": tmp}


def by_name(doc: dict) -> dict[str, dict]:
    return {s["name"]: s for s in doc["scenarios"]}


def test_two_live_streams_appear_in_the_servers_stat_while_publishing(main_run):
    assert main_run["rc"] == 0, main_run["doc"].get("not_run")
    assert {f"{slug('live two')}-1", f"{slug('live two')}-2"} <= main_run["seen"]
    assert f"{slug('tiny @ 2 streams')}-2" in main_run["seen"]


def test_live_results_load_and_carry_the_live_fields(main_run):
    run = load_results_file(main_run["path"])
    assert [s.name for s in run.scenarios] == ["baseline idle", "live two", "file one", "tiny @ 1 streams",
                                               "tiny @ 2 streams"]
    live = by_name(main_run["doc"])["live two"]
    assert live["mode"] == "live" and live["streams"] == 2
    assert abs(live["total_frames"] - 30 * 5 * 2) <= 6  # fps x duration x streams = 300
    assert live["dropped_frames"] == 0 and live["duplicated_frames"] == 0 and live["fell_behind_streams"] == 0
    assert 0.95 <= live["speed"] <= 1.2 and live["min_speed"] > 0.9  # paced at real time, unlike file mode
    assert live["cpu_core_seconds"] > 0 and live["energy_joules"] > 0 and live["end_time"] - live["start_time"] >= 4
    assert [d["stream"] for d in live["streams_detail"]] == [f"{slug('live two')}-1", f"{slug('live two')}-2"]
    for d in live["streams_detail"]:
        assert d["fell_behind"] is False and d["dropped_frames"] == 0 and 25 <= d["avg_fps"] <= 36
    assert live["quality_reference"]["distorted"] == "server_delivered"
    assert by_name(main_run["doc"])["file one"]["quality_reference"]["distorted"] == "encoder_output"


def test_live_vmaf_of_a_stream_that_kept_up_is_within_2_points_of_file_mode(main_run):
    scenarios = by_name(main_run["doc"])
    live, file = scenarios["live two"]["vmaf_score"], scenarios["file one"]["vmaf_score"]
    assert 50 < file <= 100 and abs(live - file) <= 2, (live, file)


def test_the_sweep_reports_a_knee_of_at_least_one_stream(main_run):
    (sweep,) = main_run["doc"]["sweeps"]
    assert sweep["name"] == "tiny" and sweep["knee_streams"] >= 1
    steps = sweep["steps"]
    assert [s["streams"] for s in steps] == [1, 2] and [s["scenario"] for s in steps] == ["tiny @ 1 streams",
                                                                                         "tiny @ 2 streams"]
    assert steps[0]["held_real_time"] and all(s["energy_joules"] > 0 for s in steps)
    assert all(s["net_power_watts"] is not None and s["vmaf"] > 0 for s in steps)  # the baseline ran first
    assert sweep["marginal_joules_per_stream"] is not None
    for step in ("tiny @ 1 streams", "tiny @ 2 streams"):
        entry = by_name(main_run["doc"])[step]
        assert entry["sweep"] == "tiny" and entry["mode"] == "live"
    assert main_run["doc"]["planned_scenarios"] == 5
    assert processes_mentioning(str(main_run["tmp"])) == []


def test_a_recording_that_lost_frames_scores_lower(main_run, ffmpeg, tmp_path):
    """The quality pass on a server recording with frames missing (a stream that lost frames) scores
    lower than on the whole recording, and does not fail."""
    from ffwatt.runner.measure import quality as q
    from ffwatt.runner.measure.processes import run_measured
    from ffwatt.runner.plan.scenario_file import parse_scenarios

    (s,) = parse_scenarios(MAIN.split("  - {name: baseline")[0] + "  - {name: live two, mode: live, duration: 5}\n")
    whole = tmp_path / "whole.flv"
    run_measured([ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-t", "5", "-i",
                  "testsrc2=size=320x180:rate=30", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "400k",
                  "-f", "flv", str(whole)], tmp_path / "a.log", 60, what="whole")
    lossy = tmp_path / "lossy.flv"
    # drop frames 40-69 (1 s), keeping the timestamps of the rest, as a server losing packets would
    run_measured([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(whole), "-vf",
                  "select='not(between(n\\,40\\,69))'", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset",
                  "veryfast", "-b:v", "400k", "-f", "flv", str(lossy)], tmp_path / "b.log", 60, what="lossy")
    size = (s.width, s.height)
    a = q.measure(ffmpeg, s, whole, tmp_path / "qa", source_size=size, encode_size=size, vmaf=True, timeout=120)
    b = q.measure(ffmpeg, s, lossy, tmp_path / "qb", source_size=size, encode_size=size, vmaf=True, timeout=120)
    assert a.vmaf.mean - b.vmaf.mean > 2 and b.psnr.mean < a.psnr.mean


# --------------------------------------------------------------------------
# faults


FAULTS = """
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, bitrate: 150k}
scenarios:
  - {name: live victim, mode: live, duration: 8}
  - {name: live after, mode: live, duration: 3}
  - {name: file after, duration: 2}
"""


def test_server_killed_mid_run_fails_that_scenario_and_the_run_goes_on(ffmpeg, nginx, tmp_path):
    """The runner's own nginx-rtmp is killed while `live victim` publishes: that scenario is
    recorded as failed with the reason, the server is started again for `live after` (scored
    on its recording), the file scenario runs, and no ffmpeg or nginx is left."""
    (tmp_path / "faults.yml").write_text(FAULTS)
    events = tmp_path / "events.ndjson"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            lines = events.read_text().splitlines() if events.exists() else []
            found = [json.loads(x) for x in lines]
            pids = [e["pid"] for e in found if e["event"] == "rtmp-server"]
            started = [e for e in found if e["event"] == "scenario-start" and e["scenario"] == "live victim"]
            if pids and started and time.time() - started[0]["time"] > 2.5:
                os.killpg(pids[0], signal.SIGKILL)  # nginx and its worker: the whole server dies
                killed.append(pids[0])
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    rc = main(["run", str(tmp_path / "faults.yml"), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--nginx", nginx, "--work-dir", str(tmp_path / "work"), "--events", str(events),
               "--order", "sequential", *NO_EXPORTERS])  # the victim first, as the file says
    thread.join(5)
    assert killed, "the runner's nginx-rtmp was never seen publishing"
    assert rc == 1
    _, doc = only_results(tmp_path / "results")
    (failed,) = doc["not_run"]
    assert failed["name"] == "live victim" and failed["status"] == "failed"
    assert "stream(s) failed" in failed["reason"] and "nginx-rtmp is not running any more" in failed["reason"]
    assert [s["name"] for s in doc["scenarios"]] == ["live after", "file after"]
    after = doc["scenarios"][0]
    assert after["mode"] == "live" and after["total_frames"] > 0
    # scored on the restarted server's recording in the run's work dir
    assert after["quality_reference"]["distorted"] == "server_delivered" and after["vmaf_score"] > 50
    pids = [json.loads(x)["pid"] for x in events.read_text().splitlines() if '"rtmp-server"' in x]
    assert len(pids) == 2 and pids[0] != pids[1]  # started again after the kill
    assert processes_mentioning(str(tmp_path)) == []


def test_nginx_missing_skips_live_scenarios_naming_the_packages(ffmpeg, tmp_path):
    (tmp_path / "s.yml").write_text("""
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, bitrate: 150k, duration: 1}
scenarios:
  - {name: live one, mode: live}
  - {name: file one}
""")
    rc = main(["run", str(tmp_path / "s.yml"), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--nginx", str(tmp_path / "no-such-nginx"), "--no-quality", *NO_EXPORTERS])
    assert rc == 1
    _, doc = only_results(tmp_path / "results")
    (skipped,) = doc["not_run"]
    assert skipped["name"] == "live one" and skipped["status"] == "skipped"
    assert "nginx not found" in skipped["reason"] and "nginx libnginx-mod-rtmp" in skipped["reason"]
    assert [s["name"] for s in doc["scenarios"]] == ["file one"]


@pytest.mark.parametrize("where", ["wrong application", "not an RTMP port"])
def test_a_refused_publish_fails_the_scenario_and_the_run_goes_on(ffmpeg, server, tmp_path, where):
    url = (server.rtmp_url.rsplit("/", 1)[0] + "/nope" if where == "wrong application"
           else f"rtmp://127.0.0.1:{server.http_port}/live")  # the HTTP /stat port answers no RTMP
    (tmp_path / "s.yml").write_text("""
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, bitrate: 150k, duration: 1}
scenarios:
  - {name: live refused, mode: live, streams: 2}
  - {name: file one}
""")
    started = time.monotonic()
    rc = main(["run", str(tmp_path / "s.yml"), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--rtmp-url", url, "--no-quality", *NO_EXPORTERS])
    assert rc == 1 and time.monotonic() - started < 30
    _, doc = only_results(tmp_path / "results")
    (failed,) = doc["not_run"]
    assert failed["name"] == "live refused" and failed["status"] == "failed"
    assert "2 of 2 stream(s) failed" in failed["reason"] and "refused the publish" in failed["reason"]
    assert [s["name"] for s in doc["scenarios"]] == ["file one"]
