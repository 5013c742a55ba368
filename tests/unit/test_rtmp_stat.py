"""nginx-rtmp /stat parsing and the rtmp exporter's samples, on XML captured from a real
nginx-rtmp (Debian libnginx-mod-rtmp 1.2.2; tests/fixtures/rtmp/capture.py wrote it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffwatt.catalog import metrics as m
from ffwatt.exporters.rtmp import DroppedMessages, add_samples
from ffwatt.exporters.rtmp_stat import StatError, parse_stat
from ffwatt.exporters.samples import Samples
from ffwatt.readers.streams.identity import PLAIN
from ffwatt.runner.execute.rtmp_server import RtmpServerError, command, find_rtmp_module, render_config
from tests.fixtures.stream_names import hashed as key_label

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rtmp"
TWO = (FIXTURES / "stat_two_streams.xml").read_bytes()
IDLE = (FIXTURES / "stat_idle.xml").read_bytes()


def _stream(xml: bytes, name: str):
    return next(s for s in parse_stat(xml).streams if s.name == name)


# --- parsing ------------------------------------------------------------------------------


def test_server_fields_of_the_captured_stat():
    stat = parse_stat(TWO)
    assert (stat.pid, stat.nginx_version, stat.rtmp_version) == ("781", "1.22.1", "1.1.4")
    assert stat.uptime_seconds == 12
    assert stat.accepted == 3  # two publishers and one player
    assert (stat.bytes_in, stat.bytes_out) == (2604379, 1107480)
    assert stat.applications == ("live",)
    assert [s.name for s in stat.streams] == ["cam1", "cam2"]


def test_stream_fields_are_in_base_units():
    cam2 = _stream(TWO, "cam2")
    assert cam2.app == "live"
    assert cam2.age_seconds == pytest.approx(11.793)  # <time>11793</time> ms
    assert (cam2.bytes_in, cam2.bytes_out) == (1294302, 1099553)
    assert cam2.audio_bytes_per_second == pytest.approx(72896 / 8)  # bw_audio bits/s -> bytes/s = 9112
    assert cam2.video_bytes_per_second == pytest.approx(816784 / 8)  # = 102098
    assert cam2.clients_count == 2 and cam2.publishing
    assert [(c.id, c.publishing) for c in cam2.clients] == [("4", False), ("3", True)]
    assert cam2.publisher is not None and cam2.publisher.id == "3"
    assert cam2.publisher.avsync_seconds == pytest.approx(-0.012)  # <avsync>-12</avsync> ms
    assert cam2.video is not None
    assert (cam2.video.width, cam2.video.height, cam2.video.frame_rate, cam2.video.codec) == (320, 180, 30, "H264")


def test_an_idle_server_lists_its_application_without_streams():
    stat = parse_stat(IDLE)
    assert stat.applications == ("live",) and stat.streams == ()


def test_missing_and_non_numeric_fields_are_unknown_not_zero():
    xml = (b"<rtmp><uptime>x</uptime><server><application><name>live</name><live>"
           b"<stream><name>a</name><bytes_in>nan</bytes_in></stream></live></application></server></rtmp>")
    stat = parse_stat(xml)
    assert stat.uptime_seconds is None and stat.accepted is None
    (a,) = stat.streams
    assert a.bytes_in is None and a.bytes_out is None and a.video is None and a.publisher is None
    assert not a.publishing


def test_a_flashver_cut_inside_a_character_still_parses():
    # nginx-rtmp cuts flashver at 32 bytes, possibly inside a UTF-8 sequence
    xml = TWO.replace(b"LNX 9,0,124,2", b"LNX \xc3")
    assert len(parse_stat(xml).streams) == 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"<rtmp><uptime>1</uptime>", "not well-formed"),
        (b"<html><body>502 Bad Gateway</body></html>", "expected <rtmp>"),
        (b"garbage \x00\x01", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE rtmp [<!ENTITY a "aaaa">]><rtmp>&a;</rtmp>', "DOCTYPE or ENTITY"),
        (b"<!doctype rtmp><rtmp/>", "DOCTYPE or ENTITY"),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(body, says):
    with pytest.raises(StatError, match=says):
        parse_stat(body)


def test_a_body_over_the_limit_is_refused_before_parsing():
    huge = b"<rtmp>" + b"<x/>" * (1024 * 1024 // 4) + b"</rtmp>"  # 1 MiB of well-formed XML
    with pytest.raises(StatError, match="over the limit of 65536"):
        parse_stat(huge, max_bytes=65536)
    assert parse_stat(huge).streams == ()  # the default limit (8 MiB) takes it


# --- samples ------------------------------------------------------------------------------


def _samples(xml: bytes) -> Samples:
    out = Samples("rtmp")
    stat = parse_stat(xml)
    add_samples(out, stat, DroppedMessages().update(stat))
    return out


def test_samples_of_the_captured_stat():
    out = _samples(TWO)
    cam2 = {"app": "live", "stream": key_label("live", "cam2")}
    assert out.value(m.RTMP_UPTIME) == 12
    assert out.value(m.RTMP_ACCEPTED) == 3
    assert out.value(m.RTMP_STREAMS, app="live") == 2
    assert out.value(m.RTMP_STREAM_RECEIVED, **cam2) == 1294302
    assert out.value(m.RTMP_STREAM_SENT, **cam2) == 1099553
    assert out.value(m.RTMP_STREAM_CLIENTS, **cam2) == 2
    assert out.value(m.RTMP_STREAM_AVSYNC, **cam2) == pytest.approx(-0.012)
    assert out.value(m.RTMP_STREAM_DROPPED, **cam2) == 0
    assert out.value(m.RTMP_STREAM_WIDTH, **cam2) == 320
    assert out.value(m.RTMP_STREAM_FPS, **cam2) == 30
    assert out.value(m.RTMP_STREAM_VIDEO, codec="H264", **cam2) == 1
    assert out.value(m.RTMP_STREAM_PUBLISHING, **cam2) == 1


def test_the_stream_label_hashes_the_name_nginx_lists_unless_names_are_plain():
    stat = parse_stat(TWO)
    hashed, plain = Samples("rtmp"), Samples("rtmp")
    add_samples(hashed, stat, DroppedMessages().update(stat))
    add_samples(plain, stat, DroppedMessages().update(stat), PLAIN)
    # the name is the publisher's stream key: never a label value by default
    assert hashed.value(m.RTMP_STREAM_RECEIVED, app="live", stream="cam2") is None
    assert hashed.value(m.RTMP_STREAM_RECEIVED, app="live", stream=key_label("live", "cam2")) == 1294302
    assert plain.value(m.RTMP_STREAM_RECEIVED, app="live", stream="live/cam2") == 1294302
    exposition = "".join(str(f.samples) for f in hashed.families())
    assert "'cam1'" not in exposition and "'cam2'" not in exposition


def test_streams_that_ended_leave_and_the_application_count_drops_to_zero():
    out = _samples(IDLE)
    assert out.value(m.RTMP_STREAMS, app="live") == 0
    assert out.value(m.RTMP_STREAM_RECEIVED, app="live", stream=key_label("live", "cam1")) is None


def _with_dropped(pid: str, uptime: int, clients: dict[str, int]) -> bytes:
    body = "".join(f"<client><id>{cid}</id><dropped>{n}</dropped></client>" for cid, n in clients.items())
    return (f"<rtmp><pid>{pid}</pid><uptime>{uptime}</uptime><server><application><name>live</name><live>"
            f"<stream><name>s</name>{body}</stream></live></application></server></rtmp>").encode()


def test_dropped_messages_never_fall_when_a_client_leaves():
    d = DroppedMessages()
    key = ("live", "s")
    assert d.update(parse_stat(_with_dropped("1", 5, {"1": 0, "2": 7})))[key] == 7
    assert d.update(parse_stat(_with_dropped("1", 6, {"1": 0, "2": 9, "3": 1})))[key] == 10  # 0 + 9 + 1
    # player 2 left with 9 dropped: it still counts
    assert d.update(parse_stat(_with_dropped("1", 7, {"1": 0, "3": 4})))[key] == 13  # 9 + 4


def test_dropped_messages_start_over_for_a_new_stream_or_a_restarted_server():
    d = DroppedMessages()
    key = ("live", "s")
    d.update(parse_stat(_with_dropped("1", 5, {"2": 7})))
    assert key not in d.update(parse_stat(IDLE))  # the stream ended: forgotten
    assert d.update(parse_stat(_with_dropped("1", 9, {"3": 1})))[key] == 1
    d.update(parse_stat(_with_dropped("1", 10, {"3": 5})))
    # a restarted server (uptime went down) reuses client ids: no carry-over
    assert d.update(parse_stat(_with_dropped("1", 1, {"3": 2})))[key] == 2


# --- the server's config and command line -------------------------------------------------


def test_config_keeps_every_path_in_the_work_dir_and_listens_on_loopback(tmp_path):
    text = render_config(tmp_path, rtmp_port=1935, http_port=8080, module=Path("/m/ngx_rtmp_module.so"),
                         record_dir=tmp_path / "rec", user=None)
    assert text.startswith("load_module /m/ngx_rtmp_module.so;")
    assert "listen 127.0.0.1:1935;" in text and "listen 127.0.0.1:8080;" in text
    assert "rtmp_stat all;" in text and "live on;" in text and "worker_processes 1;" in text
    assert f"record_path {tmp_path / 'rec'};" in text and "record_unique off;" in text
    for line in text.splitlines():
        if line.strip().split(" ")[0] in ("pid", "error_log", "access_log") or "_temp_path" in line:
            assert str(tmp_path) in line, line
    assert "user " not in text


def test_config_without_recording_or_module_line(tmp_path):
    text = render_config(tmp_path, rtmp_port=1, http_port=2, module=None, user="root root")
    assert "record " not in text and "record_path" not in text and "load_module" not in text
    assert "user root root;" in text


def test_command_points_nginx_at_the_private_config(tmp_path):
    argv = command("/usr/sbin/nginx", tmp_path)
    assert argv == ["/usr/sbin/nginx", "-p", f"{tmp_path}/", "-e", str(tmp_path / "error.log"),
                    "-c", str(tmp_path / "nginx.conf")]


def test_a_missing_module_names_the_package(tmp_path):
    fake_nginx = tmp_path / "nginx"
    fake_nginx.write_text("#!/bin/sh\necho 'configure arguments: --prefix=/x' >&2\n")
    fake_nginx.chmod(0o755)
    with pytest.raises(RtmpServerError, match="libnginx-mod-rtmp"):
        find_rtmp_module(str(fake_nginx), candidates=(str(tmp_path / "modules"),))


def test_a_built_in_module_needs_no_load_module(tmp_path):
    fake_nginx = tmp_path / "nginx"
    fake_nginx.write_text("#!/bin/sh\necho 'configure arguments: --add-module=../nginx-rtmp-module' >&2\n")
    fake_nginx.chmod(0o755)
    assert find_rtmp_module(str(fake_nginx), candidates=(str(tmp_path / "modules"),)) is None


# --- robustness -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, len(TWO)), junk=st.binary(max_size=40), at=st.integers(0, len(TWO)))
def test_any_mangled_stat_is_a_stat_or_a_stat_error(cut, junk, at):
    body = (TWO[:at] + junk + TWO[at:])[:max(cut, 1)]
    try:
        stat = parse_stat(body)
    except StatError:
        return
    out = Samples("rtmp")
    try:
        add_samples(out, stat, DroppedMessages().update(stat))
    except ValueError as exc:  # e.g. a negative counter: the runtime fails the refresh, keeps the last data
        assert "cannot be negative" in str(exc)
    out.families()
