"""The streams exporter over HTTP: on a fixture /proc tree (exact values), and on the real /proc
with real ffmpeg publishers on the real nginx-rtmp, beside the rtmp exporter: both name each
stream alike, no stream key shows anywhere, and the series go when the publisher stops.

Expected values come from the fixture's ticks and, on the real host, from /proc/<pid>/stat
read here; the shared name from hashlib, not from the exporters' code."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path

import pytest

from ffwatt.catalog import metrics as m
from tests.fixtures.proc_tree import FakeProc
from tests.fixtures.stream_names import key as h
from tests.harness import assert_exposition_valid, running_exporter

TICK = os.sysconf("SC_CLK_TCK")
FAST = ("--refresh-interval", "0.2")


def series(exp, metric) -> dict[str, float]:
    return {lbl["stream"]: v for lbl, v in exp.samples().get(metric.name, [])}


# --- a fixture /proc --------------------------------------------------------------------------


@pytest.fixture
def proc(tmp_path) -> FakeProc:
    p = FakeProc(tmp_path / "proc")
    p.add(1, "systemd", ppid=0, argv=["/sbin/init"], starttime=1)
    return p


def test_cpu_seconds_and_info_per_stream_on_a_fixture_tree(proc):
    proc.add(100, "ffmpeg", argv=["ffmpeg", "-i", "x", "-c:v", "libx264", "-b:v", "3M", "-s", "1280x720", "-f",
                                  "flv", "rtmp://h/live/chan-key-1"], utime=300, stime=100, starttime=10)
    proc.add(101, "sh", ppid=100, argv=["sh"], utime=20, starttime=11)
    proc.add(200, "ffmpeg", argv=["ffmpeg", "-i", "x", "/rec/b.mp4"], utime=50, starttime=20)
    with running_exporter("streams", "--proc-root", str(proc.root), *FAST) as exp:
        assert_exposition_valid("streams", exp.scrape())
        a = f"live/{h('chan-key-1')}"
        assert series(exp, m.STREAM_CPU) == {a: (300 + 100 + 20) / TICK, "b.mp4": 50 / TICK}
        info = {lbl["stream"]: lbl for lbl, _ in exp.samples()[m.STREAM_INFO.name]}
        assert (info[a]["encoder"], info[a]["resolution"], info[a]["bitrate"]) == ("libx264", "1280x720", "3000k")
        assert (info["b.mp4"]["encoder"], info["b.mp4"]["bitrate"]) == ("unknown", "unknown")
        assert exp.value(m.STREAMS_DISCOVERED.name) == 2
        # the helper exits and its parent waits for it (cutime += 25: its 20 and 5 more)
        proc.remove(101)
        proc.run(100, utime=10, cutime=25)
        exp.wait_for(lambda e: series(e, m.STREAM_CPU).get(a) == (300 + 100 + 20 + 5 + 10) / TICK,
                     what="the reaped helper counted once")


def test_the_cap_drops_the_youngest_and_counts_them(proc):
    for i in range(4):
        proc.add(100 + i, "ffmpeg", argv=["ffmpeg", "-i", "x", f"/rec/s{i}.mp4"], starttime=10 + i)
    with running_exporter("streams", "--proc-root", str(proc.root), "--max-streams", "3", *FAST) as exp:
        assert set(series(exp, m.STREAM_CPU)) == {"s0.mp4", "s1.mp4", "s2.mp4"}
        assert exp.value(m.STREAMS_DISCOVERED.name) == 4
        assert exp.value(m.STREAMS_DROPPED.name) == 1
        health = exp.health()
        assert health["status"] == "degraded" and "1 stream(s) over --max-streams 3" in health["reason"]


def test_an_ended_stream_leaves_after_the_retention(proc):
    proc.add(100, "ffmpeg", argv=["ffmpeg", "-i", "x", "/rec/a.mp4"], utime=100, starttime=10)
    with running_exporter("streams", "--proc-root", str(proc.root), "--ended-retention", "1", *FAST) as exp:
        assert set(series(exp, m.STREAM_CPU)) == {"a.mp4"}
        ended = time.monotonic()
        proc.remove(100)
        exp.wait_for(lambda e: "a.mp4" not in series(e, m.STREAM_CPU), timeout=10, what="a.mp4 gone")
        assert time.monotonic() - ended >= 1.0  # kept for the retention first
        assert exp.samples().get(m.STREAM_INFO.name, []) == []


def test_a_proc_root_that_is_not_there_fails_the_refresh_and_says_why(tmp_path):
    missing = tmp_path / "no-proc"
    with running_exporter("streams", "--proc-root", str(missing), *FAST) as exp:
        health = exp.wait_for(lambda e: (hh := e.health())["status"] == "failing" and hh, what="failing")
        assert f"--proc-root {missing}: cannot list processes" in health["reason"]
        assert exp.value(m.EXPORTER_UP.name, exporter="streams") == 0


def test_a_bad_stream_label_regex_is_refused_naming_the_flag(capsys):
    with pytest.raises(SystemExit):
        with running_exporter("streams", "--stream-label", "(unclosed"):
            pass
    assert "--stream-label" in capsys.readouterr().err


# --- the real host: ffmpeg publishing to nginx-rtmp -------------------------------------------


def publisher(ffmpeg_as: str, url: str, seconds: float, log: Path, *, heavy: bool) -> subprocess.Popen:
    """A test source paced at real time, published to `url` (the heavy one encodes 4x the pixels)."""
    size = "640x360" if heavy else "320x180"
    argv = [ffmpeg_as, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-re",  # real time, as a live source
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "800k", "-g", "30", "-f", "flv", url]
    with open(log, "ab") as f:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)


def cpu_seconds_of(pid: int) -> float:
    """utime + stime + cutime + cstime of /proc/<pid>/stat, read here."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def test_real_publishers_join_the_rtmp_exporter_on_stream_and_no_key_leaks(nginx_rtmp, ffmpeg, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="ffwatt")
    ffmpeg_as = tmp_path / "ffmpeg"  # the kernel names the process after this link: comm "ffmpeg"
    ffmpeg_as.symlink_to(ffmpeg)
    suffix = f"{os.getpid()}x{time.monotonic_ns() % 10**6}"
    keys = {"twitch": f"live_81723_Zq9{suffix}", "query": f"chan{suffix}"}
    urls = {"twitch": f"{nginx_rtmp.rtmp_url}/{keys['twitch']}",
            "query": f"{nginx_rtmp.rtmp_url}/{keys['query']}?key=sEcReT{suffix}"}
    secrets = [*keys.values(), f"sEcReT{suffix}"]
    expected = {name: f"live/{h(key)}" for name, key in keys.items()}
    pubs = {name: publisher(str(ffmpeg_as), url, 6, tmp_path / f"{name}.log", heavy=name == "twitch")
            for name, url in urls.items()}
    texts: list[str] = []
    try:
        with running_exporter("streams", "--ended-retention", "1", *FAST) as streams, \
                running_exporter("rtmp", "--stat-url", nginx_rtmp.stat_url, *FAST) as rtmp:
            streams.wait_for(lambda e: set(expected.values()) <= set(series(e, m.STREAM_CPU)), timeout=15,
                             what="both publishers in the streams exporter")
            rtmp.wait_for(lambda e: set(expected.values()) <= set(series(e, m.RTMP_STREAM_RECEIVED)), timeout=15,
                          what="both streams in the rtmp exporter")
            # one name on both sides: the join needs no relabelling
            for label in expected.values():
                assert rtmp.value(m.RTMP_STREAM_PUBLISHING.name, app="live", stream=label) == 1
            # CPU seconds between two readings of /proc taken around a refresh begun after the first
            before = {n: cpu_seconds_of(p.pid) for n, p in pubs.items()}
            done = streams.runtime.state.refreshes
            streams.wait_for(lambda e: e.runtime.state.refreshes >= done + 2, what="a refresh after the reading")
            got = series(streams, m.STREAM_CPU)
            after = {n: cpu_seconds_of(p.pid) for n, p in pubs.items()}
            for name, label in expected.items():
                assert before[name] <= got[label] <= after[name], (name, before, got, after)
            assert after["twitch"] > after["query"]  # 4x the pixels: more CPU
            info = {lbl["stream"]: lbl for lbl, _ in streams.samples()[m.STREAM_INFO.name]}
            assert info[expected["twitch"]]["encoder"] == "libx264" and info[expected["twitch"]]["bitrate"] == "800k"
            texts += [streams.scrape(), rtmp.scrape(), json.dumps(streams.health()), json.dumps(rtmp.health())]
            # the publishers stop: both sides drop the stream
            for p in pubs.values():
                p.wait(timeout=20)
            streams.wait_for(lambda e: not set(expected.values()) & set(series(e, m.STREAM_CPU)), timeout=10,
                             what="the streams' series gone after the retention")
            rtmp.wait_for(lambda e: not set(expected.values()) & set(series(e, m.RTMP_STREAM_RECEIVED)),
                          timeout=10, what="the streams gone from nginx-rtmp")
            texts += [streams.scrape(), rtmp.scrape(), json.dumps(streams.health()), json.dumps(rtmp.health())]
    finally:
        for p in pubs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        for text in (*texts, logged):
            assert secret not in text
