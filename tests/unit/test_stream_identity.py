"""A stream's label from its encoder's command line: the output ffmpeg (or gst-launch) really
writes to, named as nginx-rtmp names it, with no credential in it, whatever the syntax.

Expected labels are written out by hand from the rules in readers/streams/identity.py; the
hash is recomputed here with hashlib. The real ffmpeg and nginx-rtmp agreeing on the names is
checked in tests/integration/test_streams_exporter.py."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffwatt.readers.streams import ffmpeg_argv
from ffwatt.readers.streams.identity import (
    DEFAULT_NAMING,
    MAX_LABEL_LENGTH,
    PLAIN,
    Naming,
    compile_rule,
    identify,
    key_hash,
    rtmp_stream_label,
)
from ffwatt.readers.streams.urls import rtmp_app_and_name
from tests.fixtures.stream_names import key as h

FF = ["ffmpeg", "-nostdin", "-re", "-i", "in.mp4", "-c:v", "libx264", "-b:v", "2500k"]
SECRET = "live_8d1f0c2a_SeCrEtKeY"


def label(*tail: str, naming: Naming = DEFAULT_NAMING, argv=FF) -> str:
    return identify([*argv, *tail], 4242, naming).stream


def assert_no_secret(identity_or_text, *secrets: str) -> None:
    text = str(identity_or_text)
    for secret in secrets:
        assert secret not in text, (secret, text)


# --- RTMP ------------------------------------------------------------------------------------


def test_the_hash_is_blake2b_personalised_and_stable():
    assert key_hash(SECRET) == h(SECRET)
    assert key_hash(SECRET) == key_hash(str(SECRET))
    assert key_hash("a") != key_hash("b")


def test_an_rtmp_stream_key_in_the_path_is_hashed_and_the_app_kept():
    got = identify([*FF, "-f", "flv", f"rtmp://a.rtmp.youtube.com/live2/{SECRET}"], 1)
    assert got.stream == f"live2/{h(SECRET)}"
    assert got.rule == "rtmp"
    assert_no_secret(got, SECRET)


@pytest.mark.parametrize("url, app, name", [
    # user info, query keys: dropped, never part of the name (nginx-rtmp cuts `?args`)
    (f"rtmp://user:{SECRET}@host:1935/live/cam1?key={SECRET}&x=1", "live", "cam1"),
    (f"rtmps://host/live/{SECRET}?token=abc", "live", SECRET),
    # args in the application: nginx-rtmp cuts them there too
    (f"rtmp://host/live?token={SECRET}/cam1", "live", "cam1"),
    # `/app/instance/name`: ffmpeg sends app `app/instance`
    ("rtmp://host/app/inst/cam1", "app/inst", "cam1"),
    # a `:` before the next `/` keeps it in the name
    ("rtmp://host/app/mp4:dir/file", "app", "mp4:dir/file"),
    # ffmpeg drops `.flv` and prefixes `mp4:` to `.mp4` names (checked against nginx in integration)
    ("rtmp://host/live/cam1.flv", "live", "cam1"),
    ("rtmp://host/live/vid.mp4", "live", "mp4:vid.mp4"),
    # `#` is no fragment to ffmpeg: it is sent as part of the name
    ("rtmp://host/live/a#b", "live", "a#b"),
    ("rtmp://[::1]:1935/live/cam1", "live", "cam1"),
    # the last `@` ends the user info, as in av_url_split
    (f"rtmp://u:p@ss@{SECRET}@host/live/cam1", "live", "cam1"),
])
def test_rtmp_urls_are_named_as_ffmpeg_sends_them(url, app, name):
    got = label("-f", "flv", url)
    assert got == f"{app}/{h(name)}" == rtmp_stream_label(app, name)
    assert label("-f", "flv", url, naming=Naming(PLAIN)) == f"{app}/{name}"
    assert "?" not in got and "@" not in got


def test_query_values_and_user_info_never_show_even_in_plain_mode():
    url = f"rtmp://bob:{SECRET}@host/live/cam1?key={SECRET}"
    got = identify([*FF, "-f", "flv", url], 1, Naming(PLAIN))
    assert got.stream == "live/cam1"
    assert_no_secret(got, SECRET, "bob")


def test_rtmp_app_and_playpath_options_name_the_stream_instead_of_the_url():
    got = label("-rtmp_app", "live?t=1", "-rtmp_playpath", f"{SECRET}?x=1", "-f", "flv", "rtmp://host/ignored/x")
    assert got == f"live/{h(SECRET)}"


def test_the_first_rtmp_output_names_the_stream_whatever_comes_first():
    got = label("-f", "mp4", "/rec/local.mp4", "-f", "flv", f"rtmp://h/live/{SECRET}", "-f", "flv",
                "rtmp://h2/live/other")
    assert got == f"live/{h(SECRET)}"


def test_tee_slaves_are_outputs_escaped_separators_included():
    tee = rf"[f=flv:onfail=ignore]rtmp://a/live/{SECRET}|[f=flv]rtmp://b/live/k2\|x"
    assert label("-f", "tee", tee) == f"live/{h(SECRET)}"
    outputs = ffmpeg_argv.parse(["ffmpeg", "-c:v", "libx264", "-f", "tee", tee])
    assert [o.target for o in outputs] == [f"rtmp://a/live/{SECRET}", "rtmp://b/live/k2|x"]
    assert [o.format for o in outputs] == ["flv", "flv"]
    assert all(ffmpeg_argv.video_encoder(o) == "libx264" for o in outputs)


# --- other protocols, files ------------------------------------------------------------------


def test_srt_stream_id_is_hashed_and_the_passphrase_never_shown():
    url = f"srt://ingest.example:9000?streamid={SECRET}&passphrase=correcthorse&mode=caller"
    assert label("-f", "mpegts", url) == f"srt://ingest.example:9000/{h(SECRET)}"
    plain = label("-f", "mpegts", url, naming=Naming(PLAIN))
    assert plain == f"srt://ingest.example:9000/{SECRET}"
    assert_no_secret(plain, "correcthorse")
    assert label("-f", "mpegts", "srt://ingest.example:9000?mode=caller") == "srt://ingest.example:9000"


@pytest.mark.parametrize("url, hashed_path, plain", [
    (f"rtsp://admin:{SECRET}@cam.local:8554/live/ch1?token={SECRET}", "/live/ch1", "rtsp://cam.local:8554/live/ch1"),
    ("https://upload.example/hls/ch1/index.m3u8?cid=XYZW1234", "/hls/ch1/index.m3u8",
     "https://upload.example/hls/ch1/index.m3u8"),
    ("udp://239.0.0.1:1234?pkt_size=1316", None, "udp://239.0.0.1:1234"),
])
def test_other_network_outputs_show_where_and_hash_the_path(url, hashed_path, plain):
    where = plain if hashed_path is None else plain[: -len(hashed_path)]
    assert label("-f", "mpegts", url) == (where if hashed_path is None else f"{where}/{h(hashed_path)}")
    assert label("-f", "mpegts", url, naming=Naming(PLAIN)) == plain
    assert_no_secret(label("-f", "mpegts", url, naming=Naming(PLAIN)), SECRET, "XYZW1234", "admin")


@pytest.mark.parametrize("tail, expected, rule", [
    (["/srv/rec/channel-4.mp4"], "channel-4.mp4", "file"),
    (["file:/srv/rec/channel-4.mkv"], "channel-4.mkv", "file"),
    (["-f", "hls", "/srv/hls/ch7/index.m3u8"], "ch7/index.m3u8", "hls"),
    (["/srv/hls/ch8.m3u8"], "hls/ch8.m3u8", "hls"),
    # a boolean option before the output does not swallow it; an AVOption takes one value
    (["-shortest", "-an", "-nostats", "out.mp4"], "out.mp4", "file"),
    (["-rtmp_live", "live", "-f", "flv", "rtmp://h/live/cam"], f"live/{h('cam')}", "rtmp"),
    # `--`: the next argument is a file whatever it looks like
    (["--", "-odd-name.mp4"], "-odd-name.mp4", "file"),
])
def test_files_and_hls_playlists_are_named_by_their_base_name(tail, expected, rule):
    got = identify([*FF, *tail], 1)
    assert (got.stream, got.rule) == (expected, rule)


@pytest.mark.parametrize("tail", [["-f", "null", "-"], ["-"], ["pipe:1"], ["/dev/null"], [], ["-c:v"]])
def test_an_output_that_names_nothing_falls_back_to_the_pid(tail):
    got = identify([*FF, *tail], 4242)
    assert (got.stream, got.rule) == ("pid-4242", "fallback")


def test_an_interpreter_script_named_ffmpeg_is_read_from_its_own_arguments():
    argv = ["/bin/sh", "/usr/local/bin/ffmpeg", "-i", "x", "-f", "flv", "rtmp://h/live/cam"]
    assert identify(argv, 1, comm="ffmpeg").stream == f"live/{h('cam')}"


# --- user rules ------------------------------------------------------------------------------


def test_metadata_names_the_stream():
    got = identify([*FF, "-metadata", "title=x", "-metadata", "ffwatt_stream=channel-7", "-f", "flv",
                    f"rtmp://h/live/{SECRET}"], 1)
    assert (got.stream, got.rule) == ("channel-7", "metadata")


def test_a_user_rule_takes_its_named_group_else_its_first_else_the_match():
    argv = [*FF, "-f", "flv", "rtmp://h/live/cam", "-metadata", "comment=channel=news-1 x"]
    assert identify(argv, 1, Naming(rule=compile_rule(r"(?P<pre>\w+)=(?P<stream>news-\d)"))).stream == "news-1"
    assert identify(argv, 1, Naming(rule=compile_rule(r"channel=(\S+)"))).stream == "news-1"
    assert identify(argv, 1, Naming(rule=compile_rule(r"news-\d"))).stream == "news-1"
    # no match: the next rule names it
    assert identify(argv, 1, Naming(rule=compile_rule(r"sports-\d"))).rule == "rtmp"


def test_a_user_rule_cannot_capture_a_credential():
    argv = [*FF, "-headers", f"Authorization: Bearer {SECRET}", "-f", "flv",
            f"rtmp://u:{SECRET}x@h/live/{SECRET}?k={SECRET}"]
    for rule in (r"rtmp://(\S+)", r"live/(\S+)", r"(.*)"):
        got = identify(argv, 1, Naming(rule=compile_rule(rule)))
        assert got.rule == "user-rule"
        assert_no_secret(got, SECRET)
    # the whole header value is a credential: the rule sees no `Bearer` to match, the output names it
    assert identify(argv, 1, Naming(rule=compile_rule(r"Bearer (\S+)"))).stream == f"live/{h(SECRET)}"
    assert identify(argv, 1, Naming(rule=compile_rule(r"live/([^?]+)"))).stream == h(SECRET)


def test_a_bad_rule_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_rule("(unclosed")
    assert compile_rule("") is None


# --- hostile input ---------------------------------------------------------------------------


def test_a_huge_command_line_gives_a_bounded_label():
    argv = ["ffmpeg", *(["-metadata", "x=" + "y" * 1000] * 2000), "-f", "flv", "rtmp://h/live/" + "k" * 100_000]
    got = identify(argv, 1, Naming(PLAIN))
    assert len(got.stream) <= MAX_LABEL_LENGTH
    assert got.stream.startswith("live/kkkk") and "~" in got.stream
    # two long names that share their first 246 characters stay apart
    other = identify([*argv[:-1], "rtmp://h/live/" + "k" * 99_999 + "z"], 1, Naming(PLAIN))
    assert other.stream != got.stream and len(other.stream) <= MAX_LABEL_LENGTH


def test_control_characters_and_replaced_bytes_never_reach_a_label():
    got = identify([*FF, "/tmp/a\nb\x1b[31m\ufffd.mp4"], 1)
    assert got.stream == "a\ufffdb\ufffd[31m\ufffd.mp4"
    # nginx-rtmp lists the same name: both sides give the same label
    assert rtmp_stream_label("live", "a\x01b", PLAIN) == label("-f", "flv", "rtmp://h/live/a\x01b",
                                                               naming=Naming(PLAIN))


def test_quotes_and_shell_syntax_are_just_characters():
    got = identify([*FF, "-f", "flv", "rtmp://h/live/'$(rm -rf /)'\"`x`\""], 1, Naming(PLAIN))
    assert got.stream == "live/'$(rm -rf /)'\"`x`\""


def test_info_labels_are_unknown_when_absent_and_other_when_not_a_plain_token():
    got = identify(["ffmpeg", "-i", "x", "-c:v", "lib x264;drop", "-b:v", "fast", "-s", "9x", "out.mp4"], 1)
    assert (got.encoder, got.bitrate, got.resolution) == ("other", "unknown", "unknown")
    got = identify(["ffmpeg", "-i", "x", "out.mp4"], 1)
    assert (got.encoder, got.bitrate, got.resolution) == ("unknown", "unknown", "unknown")


@pytest.mark.parametrize("options, encoder, resolution, bitrate", [
    (["-c:v", "libx264", "-b:v", "2500k", "-s", "1280x720"], "libx264", "1280x720", "2500k"),
    (["-vcodec", "h264_nvenc", "-b", "2.5M", "-s", "hd1080"], "h264_nvenc", "1920x1080", "2500k"),
    # the last matching option wins; a `-c` for every stream counts, an audio one does not
    (["-c", "copy", "-c:v:0", "libx265", "-c:a", "aac", "-vb", "800000"], "libx265", "unknown", "800k"),
    (["-c:v", "libsvtav1", "-vf", "fps=30,scale=w=854:h=480,format=yuv420p"], "libsvtav1", "854x480", "unknown"),
    (["-c:v", "libx264", "-filter:v", "scale=640:360", "-b:v", "1500123"], "libx264", "640x360", "1500123"),
])
def test_encoder_resolution_and_bitrate_come_from_the_output_options(options, encoder, resolution, bitrate):
    got = identify(["ffmpeg", "-s", "99x99", "-i", "x", *options, "-f", "flv", "rtmp://h/live/cam"], 1)
    assert (got.encoder, got.resolution, got.bitrate) == (encoder, resolution, bitrate)


# --- gst-launch ------------------------------------------------------------------------------


def test_a_gstreamer_rtmp_pipeline_is_named_like_ffmpeg_publishing_the_same_stream():
    argv = ["gst-launch-1.0", "-e", "videotestsrc", "is-live=true", "!", "video/x-raw,width=1280,height=720",
            "!", "x264enc", "bitrate=2500", "tune=zerolatency", "!", "flvmux", "streamable=true", "!",
            "rtmpsink", f"location=rtmp://u:pw@host/live/{SECRET} live=1"]
    got = identify(argv, 1)
    assert got.stream == label("-f", "flv", f"rtmp://host/live/{SECRET}") == f"live/{h(SECRET)}"
    assert (got.encoder, got.resolution, got.bitrate) == ("x264enc", "1280x720", "2500k")
    assert_no_secret(got, SECRET, "pw")


def test_gstreamer_librtmp_options_and_file_sinks():
    rtmp = ["gst-launch-1.0", "audiotestsrc", "!", "voaacenc", "!", "flvmux", "!", "rtmp2sink",
            f"location=rtmp://host/x/y app=live playpath={SECRET}"]
    assert identify(rtmp, 1).stream == f"live/{h(SECRET)}"
    assert identify(rtmp, 1).encoder == "unknown"  # an audio encoder is not the stream's encoder
    files = ["gst-launch-1.0", "videotestsrc!x264enc!mp4mux", "!", "filesink", "location=/rec/ch2.mp4"]
    assert identify(files, 1).stream == "ch2.mp4"
    srt = ["gst-launch-1.0", "videotestsrc", "!", "x264enc", "!", "mpegtsmux", "!", "srtsink",
           f"uri=srt://host:9000?streamid={SECRET}", "passphrase=correcthorse"]
    got = identify(srt, 1, Naming(rule=compile_rule(r"passphrase=(\S+)")))
    assert got.stream == h("correcthorse")


# --- properties ------------------------------------------------------------------------------

KEY_CHARS = string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@%# \t\"\\\u00e9\u4e2d"


@settings(max_examples=300, deadline=None)
@given(key=st.text(alphabet=KEY_CHARS, min_size=8, max_size=60), app=st.sampled_from(["live", "app", "in"]))
def test_no_key_ever_shows_and_both_sides_agree(key, app):
    url = f"rtmp://host/{app}/{key}"
    got = identify(["ffmpeg", "-i", "x", "-f", "flv", url], 1)
    _, name = rtmp_app_and_name(f"/{app}/{key}")
    assert got.stream == rtmp_stream_label(app, name)
    assert key not in got.stream


@settings(max_examples=200, deadline=None)
@given(argv=st.lists(st.text(max_size=30), max_size=30))
def test_any_command_line_gives_a_bounded_label(argv):
    got = identify(["ffmpeg", *argv], 7)
    assert 0 < len(got.stream) <= MAX_LABEL_LENGTH
    assert not any(c in got.stream for c in "\n\r\x00")


@pytest.mark.parametrize("hostile", [
    "a://" * 32000,  # 32,000 URLs in one argument
    "rtmp://h/x?" + "".join(f"k{i}=v{i:04d}&" for i in range(1000)),  # 1,000 query values
])
def test_a_command_line_with_absurdly_many_urls_or_credentials_names_nothing(hostile):
    got = identify(["ffmpeg", "-i", hostile, "-f", "flv", f"rtmp://h/live/{SECRET}"], 9)
    assert (got.stream, got.rule) == ("pid-9", "fallback")
