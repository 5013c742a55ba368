"""Who may push progress to the ffmpeg exporter, and how fast: the token, the address
allow-list, one writer per stream, rate limits. Real exporter, real HTTP, real ffmpeg."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
import requests

from ffwatt.catalog import metrics as m
from ffwatt.readers.ffmpeg_progress import read_blocks
from ffwatt.runner.measure.progress import Forwarder
from tests.harness import running_exporter
from tests.servers import require_binary

FAST = ("--refresh-interval", "0.2")
BLOCK = b"frame=%d\nfps=25.0\nout_time_us=1000000\nspeed=1.0x\nprogress=continue\n"
END = b"frame=%d\nfps=25.0\nout_time_us=2000000\nspeed=1.0x\nprogress=end\n"
HEAD = b"POST /progress/%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
FRAMES = 50


def _rejected(exp, reason: str) -> float:
    return exp.value(m.FFMPEG_REJECTED.name, reason=reason)


def _post(exp, stream: str, data: bytes, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.post(f"{exp.url}/progress/{stream}", data=data, headers=headers, timeout=10)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _encode(ffmpeg: str, progress: str) -> list[str]:
    return [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
            "-frames:v", str(FRAMES), "-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-",
            "-progress", progress, "-stats_period", "0.1"]


# --- the token -----------------------------------------------------------------------------------


def test_without_the_token_pushes_are_refused_with_it_accepted(tmp_path):
    token_file = tmp_path / "push.token"
    token_file.write_text("s3cret-token-1\n")
    with running_exporter("ffmpeg", *FAST, "--push-token-file", str(token_file)) as exp:
        assert _post(exp, "anon", BLOCK % 1).status_code == 401
        r = _post(exp, "wrong", BLOCK % 1, token="s3cret-token-2")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.post(f"{exp.url}/progress/basic", data=BLOCK % 1, auth=("u", "s3cret-token-1"),
                             timeout=10).status_code == 401  # the right secret in the wrong scheme
        assert _post(exp, "good", BLOCK % 7, token="s3cret-token-1").status_code == 200
        exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="good") == 7, what="the authorised push")
        assert _rejected(exp, "unauthorized") == 3
        samples = exp.samples()[m.FFMPEG_FRAMES.name]
        assert [lbl["stream"] for lbl, _ in samples] == ["good"]  # nothing of the refused pushes
        assert exp.health()["details"]["push_token_required"] is True

        # Rotated without a restart: the file is read again when it changes.
        token_file.write_text("s3cret-token-2\n")
        assert _post(exp, "good", BLOCK % 8, token="s3cret-token-1").status_code == 401
        assert _post(exp, "good", BLOCK % 9, token="s3cret-token-2").status_code == 200
        exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="good") == 9, what="the new token's push")


def test_a_missing_token_file_stops_the_exporter_at_start(tmp_path):
    from ffwatt.exporters.push_access import TokenError

    with pytest.raises(TokenError, match="cannot read the push token file .*nowhere"):
        with running_exporter("ffmpeg", "--push-token-file", str(tmp_path / "nowhere")):
            pass
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenError, match="is empty"):
        with running_exporter("ffmpeg", "--push-token-file", str(tmp_path / "empty")):
            pass


def test_real_ffmpeg_through_the_runners_forwarder_carries_the_token(tmp_path):
    """ffmpeg's own -progress http:// cannot send a header, so it is refused; the runner's path
    (ffmpeg -progress pipe:1, blocks forwarded by ffwatt/runner/measure/progress.py Forwarder) sends the token."""
    ffmpeg = require_binary("ffmpeg")
    token_file = tmp_path / "push.token"
    token_file.write_text("tok-4f9a")
    with running_exporter("ffmpeg", *FAST, "--push-token-file", str(token_file)) as exp:
        direct = subprocess.run(_encode(ffmpeg, f"{exp.url}/progress/direct"), capture_output=True, timeout=60)
        exp.wait_for(lambda e: _rejected(e, "unauthorized") >= 1, what="ffmpeg's own push refused")
        assert exp.value(m.FFMPEG_FRAMES.name, stream="direct") is None, direct.stderr[-1000:]

        forwarder = Forwarder(exp.url, "forwarded", token="tok-4f9a")
        proc = subprocess.Popen(_encode(ffmpeg, "pipe:1"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        read_blocks(proc.stdout, lambda _fields, raw: forwarder.send(raw))
        assert proc.wait(60) == 0
        forwarder.close()
        exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="forwarded") == FRAMES, what="forwarded frames")
        assert exp.value(m.FFMPEG_ACTIVE.name, stream="forwarded") == 0  # progress=end arrived
        assert exp.value(m.FFMPEG_ENDED.name, reason="end") == 1


# --- one writer per stream -----------------------------------------------------------------------


def test_a_second_writer_to_a_live_stream_is_refused_and_the_first_keeps_its_data():
    with running_exporter("ffmpeg", *FAST) as exp:
        first = socket.create_connection(("127.0.0.1", exp.runtime.port), timeout=10)
        try:
            first.sendall(HEAD % b"cam" + _chunk(BLOCK % 100000))
            exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="cam") == 100000, what="the first writer")

            # The attack of the issue: overwrite the frames, then end the stream.
            assert _post(exp, "cam", BLOCK % 3).status_code == 409
            assert _post(exp, "cam", END % 3).status_code == 409
            exp.wait_for(lambda e: _rejected(e, "stream_taken") == 2, what="the refusals counted")
            assert exp.value(m.FFMPEG_FRAMES.name, stream="cam") == 100000
            assert exp.value(m.FFMPEG_ACTIVE.name, stream="cam") == 1

            # The owner goes on and ends its stream; then the name is free for the next run.
            first.sendall(_chunk(END % 100050) + b"0\r\n\r\n")
            assert _read_all(first).startswith(b"HTTP/1.1 200")
        finally:
            first.close()
        exp.wait_for(lambda e: e.value(m.FFMPEG_ACTIVE.name, stream="cam") == 0, what="the stream ended")
        assert exp.value(m.FFMPEG_FRAMES.name, stream="cam") == 100050
        assert _post(exp, "cam", BLOCK % 1).status_code == 200
        exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="cam") == 1, what="the next run's push")


def test_a_writer_that_disconnects_leaves_the_name_to_the_next():
    with running_exporter("ffmpeg", *FAST) as exp:
        with socket.create_connection(("127.0.0.1", exp.runtime.port), timeout=10) as gone:
            gone.sendall(HEAD % b"crash" + _chunk(BLOCK % 40))
            exp.wait_for(lambda e: e.value(m.FFMPEG_FRAMES.name, stream="crash") == 40, what="the first writer")
        exp.wait_for(lambda e: e.health()["details"]["open_connections"] == 0, what="the connection to close")
        assert _post(exp, "crash", BLOCK % 2).status_code == 200  # e.g. the runner's retry
        assert _rejected(exp, "stream_taken") == 0


# --- rate limits ---------------------------------------------------------------------------------


def test_a_stream_over_its_block_rate_gets_429_and_is_counted():
    with running_exporter("ffmpeg", *FAST, "--stream-blocks-per-second", "1") as exp:
        flood = b"".join(BLOCK % i for i in range(1, 41))  # 40 blocks at once; the burst is 4
        r = _post(exp, "flood", flood)
        assert r.status_code == 429 and "--stream-blocks-per-second" in r.text
        exp.wait_for(lambda e: _rejected(e, "rate_limited") == 1, what="the refusal counted")
        frames = exp.value(m.FFMPEG_FRAMES.name, stream="flood")
        assert 1 <= frames <= 5  # the burst's blocks were taken, the rest refused
        assert _post(exp, "other", BLOCK % 1).status_code == 200  # other streams unaffected


def test_all_streams_together_are_rate_limited():
    with running_exporter("ffmpeg", *FAST, "--total-blocks-per-second", "2") as exp:
        codes = [_post(exp, f"s{i}", BLOCK % 1).status_code for i in range(20)]  # the burst is 8
        assert codes.count(200) <= 9 and codes.count(429) >= 11, codes
        exp.wait_for(lambda e: _rejected(e, "rate_limited") == codes.count(429), what="the refusals counted")
        assert "--total-blocks-per-second" in _post(exp, "late", BLOCK % 1).text


def test_a_body_over_its_byte_rate_gets_429_before_it_is_all_read():
    with running_exporter("ffmpeg", *FAST, "--max-body-bytes-per-second", "1000") as exp:
        sock = socket.create_connection(("127.0.0.1", exp.runtime.port), timeout=10)
        sent = [0]

        def push() -> None:  # 100 MB of unknown keys, as fast as the socket takes them
            line = b"k=" + b"v" * 1000 + b"\n"
            try:
                sock.sendall(HEAD % b"fat")
                for _ in range(100_000):
                    sock.sendall(_chunk(line))
                    sent[0] += len(line)
            except OSError:
                pass

        t = threading.Thread(target=push, daemon=True)
        t0 = time.monotonic()
        t.start()
        answer = _read_all(sock)
        sock.close()
        t.join(10)
        assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
        assert b"--max-body-bytes-per-second" in answer
        assert time.monotonic() - t0 < 5 and sent[0] < 10_000_000
        exp.wait_for(lambda e: _rejected(e, "rate_limited") == 1, what="the refusal counted")


# --- label length --------------------------------------------------------------------------------


def test_a_stream_name_over_the_label_length_is_refused():
    with running_exporter("ffmpeg", *FAST, "--max-label-length", "10") as exp:
        assert _post(exp, "a" * 11, BLOCK % 1).status_code == 400
        assert "--max-label-length 10" in _post(exp, "b" * 11, BLOCK % 1).text
        assert _post(exp, "a" * 10, BLOCK % 1).status_code == 200
        exp.wait_for(lambda e: _rejected(e, "bad_stream_name") == 2, what="the long names counted")
