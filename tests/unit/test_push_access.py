"""The decisions behind the ffmpeg exporter's push endpoint and the label bound, without a server."""

from __future__ import annotations

import os

import pytest

from ffwatt.exporters.labels import LongLabels, too_long
from ffwatt.exporters.push_access import TokenError, TokenFile, networks, peer_allowed
from ffwatt.exporters.rate_limit import TokenBucket
from ffwatt.exporters.rtmp_stat import StatError, parse_stat
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure.progress import Forwarder, read_token, token_refusal


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers_are_allowed_by_default(peer):
    assert peer_allowed(peer, ())


@pytest.mark.parametrize("peer", ["192.0.2.7", "10.0.0.1", "::ffff:192.0.2.7", "fd00::2", "0.0.0.0", "", "x"])
def test_other_peers_are_refused_by_default(peer):
    assert not peer_allowed(peer, ())


def test_push_allow_opens_the_networks_it_names():
    allow = networks(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8,")
    assert [str(n) for n in allow] == ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]
    assert peer_allowed("10.200.3.4", allow) and peer_allowed("192.0.2.7", allow)
    assert peer_allowed("::ffff:10.1.1.1", allow)  # an IPv4 peer on a dual-stack socket
    assert peer_allowed("fd00::2", allow) and peer_allowed("fe80::1%eth0", networks("fe80::/10"))
    assert not peer_allowed("192.0.2.8", allow) and not peer_allowed("11.0.0.1", allow)
    assert peer_allowed("198.51.100.1", networks("0.0.0.0/0"))
    assert networks("") == ()


def test_a_bad_network_names_itself():
    with pytest.raises(ValueError, match="'10.0.0.300/8' is not an IP network"):
        networks("10.0.0.0/8,10.0.0.300/8")


def test_the_token_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "token"
    path.write_text("first\n")
    token = TokenFile(path)
    assert token.accepts("Bearer first") and token.accepts("bearer  first ")
    assert not token.accepts(None) and not token.accepts("first") and not token.accepts("Basic first")
    assert not token.accepts("Bearer firs") and not token.accepts("Bearer first2")
    path.write_text("second-token\n")
    assert token.accepts("Bearer second-token") and not token.accepts("Bearer first")
    path.write_text("")  # a broken rewrite keeps the last good token and says why
    os.utime(path, ns=(1, 1))
    assert token.accepts("Bearer second-token")
    assert "is empty; the previous token stays in force" in token.error


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"), (b"two words\n", "more than one word"), (b"\xff\xfe", "not ASCII"),
    (b"x" * 5000, "over 4096 bytes"),
])
def test_an_unusable_token_file_is_refused_at_start(tmp_path, content, message):
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(TokenError, match=message):
        TokenFile(path)


def test_the_runner_reads_its_token_or_says_which_file_is_wrong(tmp_path):
    (tmp_path / "t").write_text("  tok-1\n")
    assert read_token(tmp_path / "t") == "tok-1"
    with pytest.raises(RunnerError, match="--progress-token-file .*missing"):
        read_token(tmp_path / "missing")
    (tmp_path / "e").write_text("\n")
    with pytest.raises(RunnerError, match="expected one token"):
        read_token(tmp_path / "e")


def test_a_token_bucket_allows_its_burst_then_its_rate():
    now = [0.0]
    bucket = TokenBucket(2.0, 4.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(5)] == [True] * 4 + [False]
    now[0] = 0.5  # one more token after half a second at 2/s
    assert bucket.take() and not bucket.take()
    now[0] = 100.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 4
    assert not bucket.take(5.0)


def test_long_label_values_are_named_and_counted():
    assert too_long({"stream": "a" * 8}, 8) is None
    assert too_long({"app": "live", "stream": "a" * 9}, 8).startswith("stream of 9 characters")
    left_out = LongLabels(8, "stream")
    assert left_out.allows(stream="short") and not left_out.allows(stream="x" * 20) and not left_out.allows(app="y" * 9)
    assert left_out.warning().startswith("2 stream(s) left out for a label value over 8 characters: stream of 20")
    assert LongLabels(8, "container").warning() is None


def test_parse_stat_counts_streams_before_reading_them():
    one = b"<stream><name>s%d</name></stream>"
    body = b"<rtmp><server><application><name>live</name><live>%s</live></application>" \
           b"<application><name>tv</name><live>%s</live></application></server></rtmp>"
    doc = body % (one % 1 + one % 2, one % 3)
    assert len(parse_stat(doc, max_streams=3).streams) == 3
    with pytest.raises(StatError, match="lists 3 streams, over the limit of 2"):
        parse_stat(doc, max_streams=2)
    spaced = doc.replace(b"<stream>", b"<stream >")  # not nginx-rtmp's spelling: counted after parsing
    with pytest.raises(StatError, match="lists 3 streams, over the limit of 2"):
        parse_stat(spaced, max_streams=2)


@pytest.mark.parametrize(("url", "refused"), [
    ("http://10.0.0.5:9506", True),
    ("http://exporter.lab:9506", True),
    ("http://127.0.0.1:9506", False),
    ("http://localhost:9506", False),
    ("http://[::1]:9506", False),
    ("https://10.0.0.5:9506", False),
])
def test_the_push_token_is_never_sent_over_plain_http_off_loopback(url, refused):
    assert (token_refusal(url, "tok") is not None) == refused
    assert token_refusal(url, None) is None  # no token: nothing to protect


def test_a_forwarder_with_a_token_to_a_plain_http_host_off_loopback_never_connects(caplog):
    forwarder = Forwarder("http://192.0.2.1:9506", "s-1", token="tok", timeout=0.5)
    assert forwarder._conn is None
    forwarder.send(b"frame=1\nprogress=continue\n")  # a no-op, no error
    assert "plain http" in caplog.text
