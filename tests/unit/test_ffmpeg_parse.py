"""The ffmpeg -progress parser: values, N/A, split input, garbage, and a fuzz test."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffwatt.readers.ffmpeg_progress import (
    Block,
    ProgressError,
    ProgressParser,
    parse_bitrate,
    parse_clock,
    parse_microseconds,
    parse_speed,
    read_blocks,
)

# What ffmpeg 5.1 sent for a real libx264 encode (captured), one block per stats period.
FIRST = (b"frame=1\nfps=0.00\nstream_0_0_q=0.0\nbitrate=N/A\ntotal_size=N/A\nout_time_us=0\n"
         b"out_time_ms=0\nout_time=00:00:00.000000\ndup_frames=0\ndrop_frames=0\nspeed=N/A\nprogress=continue\n")
LAST = (b"frame=150\nfps=24.98\nstream_0_0_q=-1.0\nbitrate= 723.5kbits/s\ntotal_size=542632\n"
        b"out_time_us=6000000\nout_time_ms=6000000\nout_time=00:00:06.000000\ndup_frames=2\ndrop_frames=1\n"
        b"speed=1.01x\nprogress=end\n")


def test_real_blocks_parse():
    p = ProgressParser()
    first, last = p.feed(FIRST + LAST)
    assert first == Block(frame=1, fps=0.0, bitrate_bps=None, total_size_bytes=None, out_time_seconds=0.0,
                          dup_frames=0, drop_frames=0, speed=None, end=False)
    assert last == Block(frame=150, fps=24.98, bitrate_bps=723500.0, total_size_bytes=542632,
                         out_time_seconds=6.0, dup_frames=2, drop_frames=1, speed=1.01, end=True)
    assert (p.bad_lines, p.bad_values, p.unknown_keys) == (0, 0, 0)  # stream_0_0_q is known
    assert p.blocks == 2 and not p.pending


def test_read_blocks_hands_over_each_block_with_its_raw_bytes():
    # The runner forwards the raw bytes to the exporter: block by block, exactly as read.
    got = []
    parser = read_blocks(io.BytesIO(FIRST + LAST), lambda block, raw: got.append((block, raw)))
    assert [(b.frame, b.end, raw) for b, raw in got] == [(1, False, FIRST), (150, True, LAST)]
    assert parser.blocks == 2


def test_read_blocks_takes_a_last_line_without_newline():
    got = []
    read_blocks(io.BytesIO(b"frame=7\nprogress=end"), lambda block, raw: got.append((block, raw)))
    assert [(b.frame, b.end, raw) for b, raw in got] == [(7, True, b"frame=7\nprogress=end")]


def test_read_blocks_reads_past_an_overlong_line_to_the_end():
    # A line over max_line is skipped and counted; its block goes on, the stream is read to EOF
    # (ffmpeg must never block on a full pipe) and the raw bytes are still forwarded whole.
    first = b"frame=1\n" + b"x" * 100 + b"\nprogress=continue\n"
    got = []
    parser = read_blocks(io.BytesIO(first + LAST), lambda block, raw: got.append((block, raw)), max_line=32)
    assert [(b.frame, b.end, raw) for b, raw in got] == [(1, False, first), (150, True, LAST)]
    assert parser.bad_lines == 1


def test_not_available_leaves_fields_unset():
    (block,) = ProgressParser().feed(b"frame=3\nbitrate=N/A\nspeed=N/A\nout_time_us=N/A\nprogress=continue\n")
    assert block.frame == 3
    assert block.bitrate_bps is None and block.speed is None and block.out_time_seconds is None


@pytest.mark.parametrize("text, bps", [
    ("1234.5kbits/s", 1_234_500.0),
    ("  12.0kbits/s", 12_000.0),
    ("2.5Mbits/s", 2_500_000.0),
    ("800bits/s", 800.0),
    ("1e+03kbits/s", 1_000_000.0),
])
def test_bitrate(text, bps):
    assert parse_bitrate(text.strip()) == pytest.approx(bps)


@pytest.mark.parametrize("text", ["kbits/s", "12kb/s", "-1kbits/s", "12 kbytes/s", "infkbits/s"])
def test_bad_bitrate(text):
    with pytest.raises(ValueError):
        parse_bitrate(text)


def test_speed():
    assert parse_speed("1.02x") == pytest.approx(1.02)
    assert parse_speed("77x") == 77.0
    assert parse_speed("1.5e+03x") == 1500.0
    for bad in ("1.02", "fastx", "-1x", "nanx"):
        with pytest.raises(ValueError):
            parse_speed(bad)


def test_out_time_us_and_ms_are_both_microseconds():
    assert parse_microseconds("6000000") == 6.0
    assert parse_microseconds("-40000") == pytest.approx(-0.04)
    (block,) = ProgressParser().feed(b"out_time_ms=2500000\nprogress=continue\n")
    assert block.out_time_seconds == 2.5  # ffmpeg's out_time_ms is microseconds too


def test_out_time_precedence_and_clock():
    assert parse_clock("01:02:03.500000") == 3723.5
    assert parse_clock("-00:00:00.040000") == pytest.approx(-0.04)
    (block,) = ProgressParser().feed(b"out_time=00:00:07.000000\nout_time_ms=1\nprogress=continue\n")
    assert block.out_time_seconds == 7.0  # out_time beats out_time_ms
    (block,) = ProgressParser().feed(b"out_time=00:00:07.000000\nout_time_us=3000000\nprogress=continue\n")
    assert block.out_time_seconds == 3.0  # out_time_us beats both


def test_garbage_lines_and_bad_values_are_counted_and_ignored():
    p = ProgressParser()
    (block,) = p.feed(b"hello\n=x\n\xff\xfe=1\nframe=abc\nfps=-3\nframe=7\nnew_key_2030=1\n\n"
                      b"drop_frames=1.5\nprogress=whatever\n")
    assert block.frame == 7 and block.fps is None and block.drop_frames is None
    assert block.end is False  # an unknown progress= value closes the block as "continue"
    assert p.bad_lines == 3  # "hello", "=x", non-UTF-8
    assert p.bad_values == 4  # frame=abc, fps=-3, drop_frames=1.5, progress=whatever
    assert p.unknown_keys == 1 and p.unknown_key_names == {"new_key_2030"}


def test_a_bad_value_later_in_a_block_unsets_an_earlier_good_one():
    (block,) = ProgressParser().feed(b"frame=5\nframe=x\nprogress=continue\n")
    assert block.frame is None


def test_split_chunks_across_line_boundaries():
    data = FIRST + LAST
    for size in (1, 2, 3, 7, 50):
        p = ProgressParser()
        blocks = []
        for i in range(0, len(data), size):
            blocks += p.feed(data[i:i + size])
        assert [b.frame for b in blocks] == [1, 150]
        assert blocks[-1].end


def test_block_ends_only_at_progress_line():
    p = ProgressParser()
    assert p.feed(b"frame=1\nfps=2\n") == []
    assert p.pending
    (block,) = p.feed(b"progress=continue\n")
    assert block.frame == 1 and not p.pending


def test_crlf_and_missing_final_newline():
    p = ProgressParser()
    assert p.feed(b"frame=4\r\nprogress=end") == []
    (block,) = p.finish()
    assert block.frame == 4 and block.end


def test_each_block_starts_fresh():
    p = ProgressParser()
    a, b = p.feed(b"frame=1\nspeed=2x\nprogress=continue\nframe=2\nprogress=continue\n")
    assert a.speed == 2.0 and b.speed is None


def test_line_too_long_is_fatal():
    p = ProgressParser(max_line=64)
    with pytest.raises(ProgressError):
        p.feed(b"frame=" + b"1" * 100 + b"\n")
    p = ProgressParser(max_line=64)
    with pytest.raises(ProgressError):  # without a newline too: the buffer is bounded
        for _ in range(10):
            p.feed(b"x" * 10)


def test_huge_number_is_a_bad_value_not_a_crash():
    p = ProgressParser()
    (block,) = p.feed(b"frame=" + b"9" * 4000 + b"\nfps=1e999\nprogress=continue\n")
    assert block.frame is None and block.fps is None  # both would break float() downstream
    assert ProgressParser().feed(b"frame=9223372036854775808\nprogress=end\n")[0].frame is None
    assert ProgressParser().feed(b"frame=9223372036854775807\nprogress=end\n")[0].frame == 2**63 - 1


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20), st.integers(min_value=8, max_value=300))
def test_fuzz_only_progress_error(pieces, max_line):
    p = ProgressParser(max_line=max_line)
    try:
        for piece in pieces:
            for block in p.feed(piece):
                assert isinstance(block, Block)
        p.finish()
    except ProgressError:
        pass


_KEYS = st.sampled_from(["frame", "fps", "bitrate", "total_size", "out_time_us", "out_time_ms", "out_time",
                         "dup_frames", "drop_frames", "speed", "progress", "stream_0_0_q", "x"])
_VALUES = st.one_of(st.sampled_from(["9" * 400 + ":00:00", "9" * 400 + "kbits/s", "9" * 25, "N/A", "0", "-1", "1.5", "12kbits/s", "1x", "00:00:01.5", "end",
                                     "continue", "nan", "inf", "1e309", ""]), st.text(max_size=20))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_KEYS, _VALUES), max_size=40))
def test_fuzz_structured_lines(pairs):
    body = "".join(f"{k}={v}\n" for k, v in pairs).encode("utf-8", "surrogatepass")
    try:
        blocks = ProgressParser().feed(body)
    except ProgressError:
        return
    for b in blocks:
        for count in (b.frame, b.dup_frames, b.drop_frames, b.total_size_bytes):
            assert count is None or 0 <= count < 2**63
        for value in (b.frame, b.fps, b.bitrate_bps, b.total_size_bytes, b.out_time_seconds, b.dup_frames,
                      b.drop_frames, b.speed):
            assert value is None or math.isfinite(float(value))  # what Samples.add will do with it
        for rate in (b.fps, b.speed, b.bitrate_bps):
            assert rate is None or rate >= 0 and rate != float("inf")
