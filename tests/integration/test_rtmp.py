"""The rtmp exporter on a real nginx-rtmp (servers.rtmp, as the runner starts it) with
real ffmpeg streams publishing to it, scraped by a real VictoriaMetrics; and its faults:
/stat answering garbage, 1 MB of XML, nothing, slowly, or not at all, and nginx killed.

Expected values come from the ffmpeg arguments and from /stat read here with plain
ElementTree, not from the exporter's parser."""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ffwatt.catalog import metrics as m
from ffwatt.deploy.scrape import render_scrape_config
from ffwatt.runner.execute.rtmp_server import RtmpServer, RtmpServerError
from tests.fixtures.stream_names import hashed
from tests.harness import assert_exposition_valid, running_exporter
from tests.servers import NginxRtmp, VictoriaMetrics, require_binary

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "rtmp" / "stat_two_streams.xml").read_bytes()
FAST = ("--refresh-interval", "0.2", "--stat-timeout", "1")
CAMS = {hashed("live", "cam1"), hashed("live", "cam2")}  # the fixture's streams, as labelled


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def publish(url: str, seconds: float, log: Path) -> subprocess.Popen:
    """A 320x180 30 fps test source with a sine tone, paced at real time, to `url`."""
    argv = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-re",  # real time, as a live source
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",  # audio: A/V sync needs both
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
            "-c:a", "aac", "-f", "flv", url]
    with open(log, "ab") as f:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)


def stat_streams(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml.split("?>", 1)[-1])
    return {s.findtext("name"): s for s in root.iter("stream")}


def series(exp, name: str) -> dict[str, float]:
    """stream label -> value of the exporter's samples of `name`."""
    return {lbl["stream"]: v for lbl, v in exp.samples().get(name, [])}


@pytest.fixture
def nginx(tmp_path) -> Iterator[NginxRtmp]:
    with NginxRtmp(record=True) as server:
        yield server


# --- the real thing ----------------------------------------------------------------------------


def _both_with_meta(xml: str, names: tuple[str, ...]) -> bool:
    streams = stat_streams(xml)
    return set(streams) == set(names) and all(s.find("meta/video") is not None for s in streams.values())


def test_two_live_streams_reach_stat_the_exporter_and_victoriametrics(nginx, tmp_path):
    require_binary("victoria-metrics")
    names = ("it-cam1", "it-cam2")
    labels = {hashed("live", n) for n in names}  # the names are stream keys: hashed in the label
    pubs: list[subprocess.Popen] = []
    try:
        with running_exporter("rtmp", "--stat-url", nginx.stat_url, *FAST) as exp:
            config = render_scrape_config({"rtmp": [f"127.0.0.1:{exp.runtime.port}"]}, scrape_interval_override="1s")
            with VictoriaMetrics(scrape_config_text=config) as vm:
                pubs += [publish(f"{nginx.rtmp_url}/{n}", 4, tmp_path / f"{n}.log") for n in names]
                # /stat, read here: both streams publishing, with the announced meta
                deadline = time.monotonic() + 15
                while not _both_with_meta(nginx.stat(), names) and time.monotonic() < deadline:
                    time.sleep(0.1)
                streams = stat_streams(nginx.stat())
                assert set(streams) == set(names), nginx.stat()
                for s in streams.values():
                    assert s.find("publishing") is not None
                    assert s.findtext("meta/video/width") == "320" and s.findtext("meta/video/height") == "180"

                # the exporter: both streams, promtool clean, exactly the catalog's metrics
                # (a snapshot taken before nginx had the meta would lack the width: wait for a later one)
                exp.wait_for(lambda e: set(series(e, m.RTMP_STREAM_RECEIVED.name)) == labels
                             and set(series(e, m.RTMP_STREAM_AVSYNC.name)) == labels
                             and set(series(e, m.RTMP_STREAM_WIDTH.name)) == labels, timeout=10,
                             what="both streams with a publisher and their meta in the exporter")
                text = exp.scrape()
                assert_exposition_valid("rtmp", text)
                samples = exp.samples()
                for n in names:
                    one = {"app": "live", "stream": hashed("live", n)}
                    assert exp.value(m.RTMP_STREAM_WIDTH.name, **one) == 320
                    assert exp.value(m.RTMP_STREAM_HEIGHT.name, **one) == 180
                    assert exp.value(m.RTMP_STREAM_FPS.name, **one) == 30
                    assert exp.value(m.RTMP_STREAM_VIDEO.name, codec="H264", **one) == 1
                    assert exp.value(m.RTMP_STREAM_CLIENTS.name, **one) == 1  # its publisher
                    assert exp.value(m.RTMP_STREAM_PUBLISHING.name, **one) == 1
                    assert exp.value(m.RTMP_STREAM_RECEIVED.name, **one) > 10_000
                    assert abs(exp.value(m.RTMP_STREAM_AVSYNC.name, **one)) < 1.0  # seconds, not ms
                assert exp.value(m.RTMP_STREAMS.name, app="live") == 2
                assert exp.value(m.RTMP_ACCEPTED.name) >= 2
                assert [v for _, v in samples[m.EXPORTER_UP.name]] == [1]

                # VictoriaMetrics scraped them through the generated scrape config
                got = vm.wait_query(f'{m.RTMP_STREAM_RECEIVED.name}{{job="ffwatt-rtmp"}} > 0',
                                    lambda r: len(r) == 2, timeout=30)
                assert {r["metric"]["stream"] for r in got} == labels

                # the byte counter only rises while the stream lives
                first = series(exp, m.RTMP_STREAM_RECEIVED.name)
                time.sleep(0.6)
                later = series(exp, m.RTMP_STREAM_RECEIVED.name)
                assert all(later[n] >= first[n] for n in labels if n in later)

            for p in pubs:
                assert p.wait(30) == 0, (tmp_path / "it-cam1.log").read_text()
            # streams that ended leave /metrics; the application stays, with 0 streams
            exp.wait_for(lambda e: not series(e, m.RTMP_STREAM_RECEIVED.name), timeout=10,
                         what="ended streams to leave")
            assert exp.value(m.RTMP_STREAMS.name, app="live") == 0
            assert exp.health()["status"] == "ok"
    finally:
        for p in pubs:
            p.kill()
            p.wait(10)
    # the server recorded what it received, for scoring what viewers got
    for n in names:
        assert nginx.recording(n).stat().st_size > 10_000


def test_nginx_killed_keeps_the_last_data_and_ended_streams_leave_after_its_restart(nginx, tmp_path):
    pub = publish(f"{nginx.rtmp_url}/it-crash", 60, tmp_path / "crash.log")
    try:
        with running_exporter("rtmp", "--stat-url", nginx.stat_url, *FAST) as exp:
            exp.wait_for(lambda e: hashed("live", "it-crash") in series(e, m.RTMP_STREAM_RECEIVED.name), timeout=15,
                         what="the stream in the exporter")
            old_pid = nginx.pid
            nginx.kill()
            exp.wait_for(lambda e: e.health()["status"] != "ok", timeout=10, what="health to notice")
            health = exp.health()
            assert health["status"] == "degraded"
            assert "unreachable" in health["reason"] and nginx.stat_url in health["reason"]
            assert hashed("live", "it-crash") in series(exp, m.RTMP_STREAM_RECEIVED.name)  # last good data
            assert exp.value(m.EXPORTER_UP.name, exporter="rtmp") == 0

            nginx.start()  # same ports, a new nginx: the publisher died with the old one
            assert nginx.pid != old_pid
            exp.wait_for(lambda e: e.health()["status"] == "ok", timeout=10, what="recovery")
            assert hashed("live", "it-crash") not in series(exp, m.RTMP_STREAM_RECEIVED.name)
            assert exp.value(m.RTMP_UPTIME.name) < 30
    finally:
        pub.kill()
        pub.wait(10)


# --- bad /stat answers, from a stand-in server --------------------------------------------------


HUGE = b"<rtmp>" + b"<server></server>" * (1024 * 1024 // 17 + 1) + b"</rtmp>"  # 1 MB, well-formed


class _Stat(http.server.BaseHTTPRequestHandler):
    mode = "good"

    def do_GET(self) -> None:  # noqa: N802
        mode = type(self).mode
        if mode == "slow":
            time.sleep(3)
        if mode == "trickle":  # headers at once, then a byte every 0.2 s for 4 s
            self.send_response(200)
            self.send_header("Content-Length", "20")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(20):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            return
        body = {
            "good": FIXTURE, "slow": FIXTURE, "garbage": b"\x00\x01 this is not XML <<<",
            "empty": b"", "html": b"<html><body>502 Bad Gateway</body></html>",
            "huge": HUGE, "huge-unsized": HUGE,
            "doctype": b'<!DOCTYPE r [<!ENTITY a "x">]><rtmp>&a;</rtmp>',
        }.get(mode, b"")
        self.send_response(500 if mode == "error" else 200)
        self.send_header("Content-Type", "text/xml")
        if mode != "huge-unsized":  # without a length: the body runs to the connection's end
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, type[_Stat]]]:
    handler = type("Stat", (_Stat,), {"mode": "good"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stat", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("garbage", "not well-formed XML"),
        ("empty", "empty /stat body"),
        ("html", "expected <rtmp>"),
        ("huge", "over the limit of 524288 bytes"),
        ("huge-unsized", "over the limit of 524288 bytes"),
        ("doctype", "DOCTYPE or ENTITY"),
        ("error", "answered HTTP 500"),
        ("slow", "no answer within 1 s"),
        ("trickle", "answer not complete within 1 s"),
    ],
)
def test_a_bad_stat_answer_keeps_the_last_good_data_and_health_says_why(stand_in, mode, reason):
    url, handler = stand_in
    with running_exporter("rtmp", "--stat-url", url, "--max-body-bytes", str(512 * 1024), *FAST) as exp:
        exp.wait_for(lambda e: set(series(e, m.RTMP_STREAM_RECEIVED.name)) == CAMS,
                     what="the good data")
        handler.mode = mode
        exp.wait_for(lambda e: e.health()["status"] != "ok", timeout=10, what=f"health to notice {mode}")
        health = exp.health()
        assert health["status"] == "degraded" and reason in health["reason"], health
        assert health["errors"] >= 1
        assert set(series(exp, m.RTMP_STREAM_RECEIVED.name)) == CAMS  # last good data
        assert exp.value(m.EXPORTER_UP.name, exporter="rtmp") == 0
        t0 = time.perf_counter()
        exp.scrape()
        assert time.perf_counter() - t0 < 0.5  # a scrape never waits for /stat
        handler.mode = "good"
        exp.wait_for(lambda e: e.health()["status"] == "ok", timeout=10, what="recovery")


def test_one_megabyte_of_real_looking_stat_is_served_under_the_default_limit(stand_in):
    url, handler = stand_in
    handler.mode = "huge"  # 1 MB of well-formed <rtmp>, no streams: under the 8 MiB default
    with running_exporter("rtmp", "--stat-url", url, *FAST) as exp:
        assert exp.health()["status"] == "ok"
        assert exp.health()["details"]["last_stat"]["body_bytes"] > 1024 * 1024
        assert series(exp, m.RTMP_STREAM_RECEIVED.name) == {}


def test_nothing_listening_is_a_clear_reason():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        with running_exporter("rtmp", "--stat-url", f"http://127.0.0.1:{port}/stat", *FAST) as exp:
            health = exp.health()
            assert health["status"] == "failing"  # never had good data
            assert f"http://127.0.0.1:{port}/stat unreachable" in health["reason"]
            assert exp.value(m.EXPORTER_UP.name, exporter="rtmp") == 0


# --- the server's own errors ---------------------------------------------------------------------


def test_a_taken_port_is_a_clear_error(tmp_path):
    require_binary("nginx")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(RtmpServerError, match=f"port 127.0.0.1:{port} \\(rtmp\\) is taken"):
            RtmpServer(tmp_path / "a", rtmp_port=port).start()
        with pytest.raises(RtmpServerError, match=f"port 127.0.0.1:{port} \\(http\\) is taken"):
            RtmpServer(tmp_path / "b", http_port=port).start()


def test_a_missing_module_names_the_debian_package(tmp_path):
    require_binary("nginx")
    with pytest.raises(RtmpServerError, match="install the Debian package libnginx-mod-rtmp"):
        RtmpServer(tmp_path, module=tmp_path / "nowhere" / "ngx_rtmp_module.so").start()


def test_a_module_nginx_refuses_fails_with_the_error_log(tmp_path):
    require_binary("nginx")
    bogus = tmp_path / "ngx_rtmp_module.so"
    bogus.write_bytes(b"not a shared object")
    with pytest.raises(RtmpServerError, match="did not start") as err:
        RtmpServer(tmp_path / "w", module=bogus).start(timeout=5)
    assert "ngx_rtmp_module.so" in str(err.value)  # nginx's own complaint, from its error log


def test_stop_ends_nginx_and_its_worker(tmp_path):
    require_binary("nginx")
    with NginxRtmp() as server:
        pid = server.pid
        assert pid is not None
        requests.get(server.stat_url, timeout=5).raise_for_status()
        server.stop()
        assert server.pid is None
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)
        with pytest.raises(requests.ConnectionError):
            requests.get(server.stat_url, timeout=2)
