"""The rtmp exporter's bounds on what /stat may make it serve: streams per response and the
length of a label value. A stand-in /stat on loopback serves what each test needs."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.exporters.rtmp_stat import DEFAULT_MAX_BYTES, DEFAULT_MAX_STREAMS
from tests.fixtures.stream_names import bounded, hashed
from tests.harness import running_exporter

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "rtmp" / "stat_two_streams.xml").read_bytes()
FAST = ("--refresh-interval", "0.2", "--stat-timeout", "5")

_STREAM = (b"<stream><name>s%06d</name><time>11793</time><bw_in>974160</bw_in><bytes_in>1294302</bytes_in>"
           b"<bw_out>0</bw_out><bytes_out>0</bytes_out><bw_audio>79864</bw_audio><bw_video>894296</bw_video>"
           b"<nclients>1</nclients><publishing/><active/></stream>\n")


def many_streams(max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Well-formed nginx-rtmp statistics with as many streams as fit under `max_bytes`."""
    head = b"<rtmp><pid>99</pid><uptime>50</uptime><server><application><name>live</name><live>\n"
    tail = b"</live></application></server></rtmp>\n"
    count = (max_bytes - len(head) - len(tail)) // len(_STREAM % 0)
    return head + b"".join(_STREAM % i for i in range(count)) + tail


class _Stat(http.server.BaseHTTPRequestHandler):
    body = FIXTURE

    def do_GET(self) -> None:  # noqa: N802
        body = type(self).body
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, type[_Stat]]]:
    handler = type("Stat", (_Stat,), {"body": FIXTURE})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stat", handler
    finally:
        server.shutdown()
        server.server_close()


CAMS = {hashed("live", "cam1"), hashed("live", "cam2")}  # the fixture's streams, as labelled


def streams(exp) -> set[str]:
    return {lbl["stream"] for lbl, _ in exp.samples().get(m.RTMP_STREAM_RECEIVED.name, [])}


def test_eight_mebibytes_of_streams_is_refused_and_the_last_good_data_kept(stand_in):
    url, handler = stand_in
    big = many_streams()
    assert len(big) <= DEFAULT_MAX_BYTES  # under the body limit: the stream cap is what refuses it
    count = big.count(b"<stream>")
    assert count > 20 * DEFAULT_MAX_STREAMS
    with running_exporter("rtmp", "--stat-url", url, *FAST) as exp:
        exp.wait_for(lambda e: streams(e) == CAMS, what="the good data")
        handler.body = big
        exp.wait_for(lambda e: e.health()["status"] != "ok", timeout=20, what="health to notice the big /stat")
        health = exp.health()
        assert health["status"] == "degraded", health
        assert f"lists {count} streams, over the limit of {DEFAULT_MAX_STREAMS} (--max-streams)" in health["reason"]
        assert streams(exp) == CAMS  # the last good data, not 30,000 streams
        assert exp.value(m.EXPORTER_UP.name, exporter="rtmp") == 0
        t0 = time.perf_counter()
        text = exp.scrape()
        assert time.perf_counter() - t0 < 0.5 and len(text) < 100_000
        handler.body = FIXTURE
        exp.wait_for(lambda e: e.health()["status"] == "ok", timeout=20, what="recovery")


def test_the_stream_cap_is_settable(stand_in):
    url, handler = stand_in
    with running_exporter("rtmp", "--stat-url", url, "--max-streams", "1", *FAST) as exp:
        health = exp.health()
        assert health["status"] == "failing"  # never had good data: 2 streams over a cap of 1
        assert "lists 2 streams, over the limit of 1" in health["reason"]
        assert health["details"]["max_streams"] == 1


def test_a_long_stream_name_is_bounded_and_a_label_over_the_set_length_left_out(stand_in):
    url, handler = stand_in
    long_name = "x" * 300
    handler.body = FIXTURE.replace(b"<name>cam1</name>", b"<name>" + long_name.encode() + b"</name>")
    with running_exporter("rtmp", "--stat-url", url, *FAST) as exp:  # hashed: a short label whatever the name
        assert streams(exp) == {hashed("live", long_name), hashed("live", "cam2")}
    plain = ("--stream-names", "plain")
    with running_exporter("rtmp", "--stat-url", url, *plain, *FAST) as exp:
        # 305 characters: the first 246, `~` and a hash of the whole (two long names never merge)
        assert streams(exp) == {bounded(f"live/{long_name}"), "live/cam2"}
        assert max(len(line) for line in exp.scrape().splitlines()) < 400
        assert exp.health()["status"] == "ok"
    with running_exporter("rtmp", "--stat-url", url, *plain, "--max-label-length", "100", *FAST) as exp:
        assert streams(exp) == {"live/cam2"}  # served without the stream whose label is too long
        health = exp.health()
        assert health["status"] == "degraded"
        assert "1 stream(s) left out for a label value over 100 characters" in health["reason"]
        assert "stream of 255 characters" in health["reason"]  # 246 + `~` + 8
