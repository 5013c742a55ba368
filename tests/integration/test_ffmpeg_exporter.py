"""The ffmpeg exporter with real ffmpeg pushing -progress, and hostile clients over real HTTP."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from ffwatt.catalog import FFMPEG_END_REASONS, FFMPEG_REJECT_REASONS
from ffwatt.catalog import metrics as m
from tests.harness import assert_exposition_valid, running_exporter
from tests.servers import require_binary

FRAMES = 150
FAST = ("--refresh-interval", "0.2")
BLOCK = b"frame=%d\nfps=25.0\nbitrate= 800.0kbits/s\nout_time_us=1000000\nspeed=1.0x\nprogress=continue\n"


def _ffmpeg(url: str) -> subprocess.Popen:
    ffmpeg = require_binary("ffmpeg")
    # -re paces the test source at 25 fps: 150 frames take ~6 s, long enough to see the
    # stream live while it runs.
    return subprocess.Popen(
        [ffmpeg, "-nostdin", "-hide_banner", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-frames:v", str(FRAMES), "-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-",
         "-progress", url, "-stats_period", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rejected(exp, reason: str) -> float:
    return exp.value(m.FFMPEG_REJECTED.name, reason=reason)


def _post(exp, path: str, data, **kw) -> requests.Response:
    return requests.post(exp.url + path, data=data, timeout=10, **kw)


def _raw(port: int, payload: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if payload:
        sock.sendall(payload)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_a_stream_with_a_bitrate_is_promtool_clean():
    # -f null encodes (the test below) have no bitrate; a real muxer's 800 kbit/s is 100,000 B/s.
    # promtool refuses a `_bits` name, but only on a family with a sample: this one has one.
    with running_exporter("ffmpeg", *FAST) as exp:
        assert _post(exp, "/progress/muxed", BLOCK % 25).status_code in (200, 204)
        exp.wait_for(lambda e: e.value(m.FFMPEG_BITRATE.name, stream="muxed") == 100_000.0,
                     what="the bitrate in bytes/s")
        assert_exposition_valid("ffmpeg", exp.scrape())


def test_every_reason_is_exported_from_the_start():
    with running_exporter("ffmpeg", *FAST) as exp:
        samples = exp.samples()
        assert {lbl["reason"] for lbl, _ in samples[m.FFMPEG_REJECTED.name]} >= set(FFMPEG_REJECT_REASONS)
        assert {lbl["reason"]: v for lbl, v in samples[m.FFMPEG_ENDED.name]} == dict.fromkeys(FFMPEG_END_REASONS, 0)
        assert exp.value(m.FFMPEG_STREAMS.name) == 0
        assert m.FFMPEG_ACTIVE.name not in samples


def test_two_concurrent_libx264_encodes():
    with running_exporter("ffmpeg", *FAST, "--ended-grace", "3") as exp:
        procs = {name: _ffmpeg(f"{exp.url}/progress/{name}") for name in ("enc-a", "enc_b.1")}
        try:
            # Both live at once, each with its own series.
            exp.wait_for(lambda e: e.value(m.FFMPEG_STREAMS.name) == 2, timeout=15, what="two active streams")
            live = exp.scrape()
            for name in procs:
                assert exp.value(m.FFMPEG_ACTIVE.name, stream=name) == 1
            assert_exposition_valid("ffmpeg", live)  # promtool + catalog with streams present
            mid = {name: exp.value(m.FFMPEG_FRAMES.name, stream=name) for name in procs}
            assert all(0 < v < FRAMES for v in mid.values()), mid
            # The first block says speed=N/A (no series); then -re keeps it at or below real
            # time (start-up counts against it at first).
            speed = exp.wait_for(lambda e: e.value(m.FFMPEG_SPEED.name, stream="enc-a"), what="a speed reading")
            assert 0 < speed < 1.5

            stderr = {}
            for name, proc in procs.items():
                _, err = proc.communicate(timeout=30)
                assert proc.returncode == 0, err[-2000:]
                stderr[name] = err
        finally:
            for proc in procs.values():
                proc.kill()

        # ffmpeg's own last word on frames (its stderr stats line) ...
        for err in stderr.values():
            assert int(re.findall(rb"frame=\s*(\d+)", err)[-1]) == FRAMES
        # ... is what the exporter serves after progress=end, during the grace period.
        exp.wait_for(lambda e: all(e.value(m.FFMPEG_ACTIVE.name, stream=n) == 0 for n in procs), timeout=5,
                     what="both streams ended")
        for name in procs:
            assert exp.value(m.FFMPEG_FRAMES.name, stream=name) == FRAMES
            assert exp.value(m.FFMPEG_OUTPUT_TIME.name, stream=name) == pytest.approx(FRAMES / 25)
            assert exp.value(m.FFMPEG_DROPPED.name, stream=name) == 0
        assert exp.value(m.FFMPEG_STREAMS.name) == 0
        assert exp.value(m.FFMPEG_ENDED.name, reason="end") == 2
        # -f null has no output size: bitrate N/A leaves the series out rather than 0.
        assert exp.value(m.FFMPEG_BITRATE.name, stream="enc-a") is None

        # After the grace period they leave /metrics.
        exp.wait_for(lambda e: m.FFMPEG_FRAMES.name not in e.samples(), timeout=6, what="ended streams to leave")
        assert exp.value(m.FFMPEG_ENDED.name, reason="silent") == 0
        assert exp.health()["status"] == "ok"


def test_garbage_and_bad_values_are_counted_and_the_rest_used():
    with running_exporter("ffmpeg", *FAST) as exp:
        body = b"hello there\n\xff\xfe\nframe=abc\nframe=42\nfps=12.5\nspeed=N/A\nfuture_key=1\nprogress=continue\n"
        r = _post(exp, "/progress/junk", body)
        assert r.status_code == 200
        exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="junk") == 42, what="junk stream")
        assert exp.value(m.FFMPEG_FPS.name, stream="junk") == 12.5
        assert exp.value(m.FFMPEG_SPEED.name, stream="junk") is None  # N/A: no series, not 0
        assert _rejected(exp, "bad_line") == 2
        assert _rejected(exp, "bad_value") == 1
        details = exp.health()["details"]
        assert details["unknown_keys"] == 1 and details["unknown_key_names"] == ["future_key"]
        assert_exposition_valid("ffmpeg", exp.scrape())


def test_bad_paths_and_stream_names():
    with running_exporter("ffmpeg", *FAST) as exp:
        for path in ("/progress/a%20b", "/progress/" + "x" * 65, "/progress/a/b", "/progress/", "/progress/ä"):
            r = _post(exp, path, BLOCK % 1)
            assert r.status_code == 400, (path, r.status_code)
        assert _post(exp, "/somewhere", BLOCK % 1).status_code == 404
        exp.wait_for(lambda e: _rejected(e, "bad_stream_name") == 5, what="bad names counted")
        assert _rejected(exp, "bad_path") == 1
        assert exp.value(m.FFMPEG_STREAMS.name) == 0
        assert _post(exp, "/progress/" + "x" * 64, BLOCK % 1).status_code == 200


def test_oversized_bodies_get_413():
    with running_exporter("ffmpeg", *FAST, "--max-body-bytes", "1024") as exp:
        # Content-Length over the bound: refused before reading.
        r = _post(exp, "/progress/big", b"frame=1\n" * 200)
        assert r.status_code == 413
        # Chunked, crossing the bound part-way: ffmpeg's way of sending.
        sock = _raw(exp.runtime.port, b"POST /progress/big2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"".join(b"%x\r\n%s\r\n" % (len(BLOCK % i), BLOCK % i) for i in range(30)))
        assert _read_all(sock).startswith(b"HTTP/1.1 413")
        sock.close()
        # A line over 4 KiB is not progress output, whatever the body bound.
        with running_exporter("ffmpeg", *FAST) as exp2:
            r = _post(exp2, "/progress/longline", iter([b"frame=", b"1" * 5000, b"\nprogress=end\n"]))
            assert r.status_code == 413
            exp2.wait_for(lambda e: _rejected(e, "too_large") == 1, what="long line counted")
        exp.wait_for(lambda e: _rejected(e, "too_large") == 2, what="oversized bodies counted")
        # The blocks before the bound still counted; nothing else broke.
        assert exp.value(m.FFMPEG_FRAMES.name, stream="big2") is not None
        assert exp.value(m.FFMPEG_FRAMES.name, stream="big") is None
        assert _post(exp, "/progress/small", BLOCK % 3).status_code == 200


def test_max_streams():
    with running_exporter("ffmpeg", *FAST, "--max-streams", "1") as exp:
        assert _post(exp, "/progress/one", BLOCK % 1).status_code == 200
        assert _post(exp, "/progress/one", BLOCK % 2).status_code == 200  # same stream: fine
        assert _post(exp, "/progress/two", BLOCK % 1).status_code == 503
        assert exp.health()["details"]["rejected"].get("too_many_streams") == 1


def test_silent_clients_block_nobody_and_are_dropped():
    with running_exporter("ffmpeg", *FAST, "--stream-timeout", "4") as exp:
        port = exp.runtime.port
        head = b"POST /progress/%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        mute = _raw(port, b"")  # connects, never sends a byte
        headers_only = _raw(port, head % b"quiet")  # headers, then nothing
        one_block = _raw(port, head % b"hang" + b"%x\r\n%s\r\n" % (len(BLOCK % 9), BLOCK % 9))  # then hangs

        # Scrapes and other streams go on meanwhile.
        began = time.monotonic()
        exp.wait_for(lambda e: e.value(m.FFMPEG_ACTIVE.name, stream="hang") == 1, what="hanging stream live")
        assert exp.value(m.FFMPEG_FRAMES.name, stream="hang") == 9
        pushes = [threading.Thread(target=_post, args=(exp, f"/progress/busy{i}", BLOCK % i)) for i in range(8)]
        for t in pushes:
            t.start()
        for t in pushes:
            t.join(5)
        exp.wait_for(lambda e: e.value(m.FFMPEG_STREAMS.name) == 9, what="8 more streams")
        assert time.monotonic() - began < 3.0, "a silent client held things up"  # they hold 4 s

        # Past stream-timeout: the silent connections get 408 and close; the stream that
        # went quiet leaves /metrics as ended{reason="silent"}.
        assert _read_all(headers_only).startswith(b"HTTP/1.1 408")
        assert _read_all(one_block).startswith(b"HTTP/1.1 408")
        exp.wait_for(lambda e: e.value(m.FFMPEG_ACTIVE.name, stream="hang") is None, timeout=5,
                     what="silent stream to leave")
        assert _rejected(exp, "timeout") == 2
        assert exp.value(m.FFMPEG_ENDED.name, reason="silent") >= 1
        assert exp.health()["details"]["open_connections"] == 0
        scrape_began = time.monotonic()
        exp.scrape()
        assert time.monotonic() - scrape_began < 1.0
        mute.close()
        headers_only.close()
        one_block.close()
