"""Fuzzing beyond what tests/unit already does.

tests/unit/test_results_model.py fuzzes the loader with arbitrary bytes (up to 300),
arbitrary and mostly-invalid JSON documents, and truncations; tests/unit/test_ffmpeg_parse.py
fuzzes the progress parser with arbitrary chunks and structured key=value lines. Not
covered there, and covered here:

* mutations of the real sample files (both shapes): byte flips, deletions, insertions,
  duplicated spans; the loader raises ResultsError or returns a valid run;
* documents that pass validation by construction, with extreme but legal values: every
  run the loader accepts is published by the results, qoe and cost exporters and encoded
  in both exposition formats without an exception, no NaN and no infinity served;
* the progress parser gives the same blocks and counts however the body is split into
  chunks (the HTTP layer delivers arbitrary pieces);
* the ffmpeg exporter's HTTP push path with arbitrary bodies and chunked framing: only
  the documented statuses, never a 500 or a dead server, and /metrics stays valid.
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from ffwatt.catalog import EXPORTERS
from ffwatt.contract.loading import ResultsError, load_results_file
from ffwatt.exporters.config import common_settings, parse
from ffwatt.exporters.cost import CostExporter
from ffwatt.exporters.qoe import QoeExporter
from ffwatt.exporters.results import ResultsExporter
from ffwatt.exporters.samples import Samples
from ffwatt.readers.ffmpeg_progress import ProgressError, ProgressParser
from tests.harness import running_exporter

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "test_results").glob("test_results_*.json"))
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "test_results_20260116_090000.json"
    path.write_bytes(data)
    return path


def _exporters(results_dir: Path):
    out = []
    for cls in (ResultsExporter, QoeExporter, CostExporter):
        spec = EXPORTERS[cls.name]
        argv = ["--results-dir", str(results_dir)] + (["--tsdb-url", ""] if cls is CostExporter else [])
        out.append(cls(parse("fuzz", "", common_settings(spec.port, 1.0) + tuple(cls.settings), argv, environ={})))
    return out


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


class ArithmeticOnAcceptedRunError(Exception):
    """KNOWN, reported: a run the loader accepts makes an exporter's publish raise
    (ffwatt/exporters/results.py _frames rounds an infinite product; formulas.cost_per_viewer_hour
    divides by a product that underflows to 0). The refresh fails and the run is never
    served. Fix proposed to the owners; see the bench report."""


class NonFiniteServedError(AssertionError):
    """KNOWN, reported: formulas return +-inf for extreme but accepted inputs (durations of
    1e-300 or 1e300 s, 1e109 W) and Samples.add serves it; None (no series) is the rule."""


def publish_everywhere(path: Path) -> int:
    """Load `path`; when accepted, publish and encode it with all three exporters and
    check what would be served. Returns the scenario count (-1 when rejected)."""
    try:
        run = load_results_file(path, results_dir=path.parent)
    except ResultsError as err:
        assert str(err).startswith(f"{path.name}: $")
        return -1
    for exporter in _exporters(path.parent):
        samples = Samples(exporter.name)
        try:
            exporter.publish(run, samples)
        except (OverflowError, ZeroDivisionError) as exc:
            raise ArithmeticOnAcceptedRunError(f"{exporter.name}: {type(exc).__name__}: {exc}") from exc
        families = _Families(samples.families())
        text = generate_latest(families).decode()
        generate_openmetrics(families)  # must not raise either
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if not math.isfinite(s.value):
                    raise NonFiniteServedError(f"{exporter.name} would serve {s.name}{s.labels} = {s.value}")
    return len(run.scenarios)


# --------------------------------------------------------------------------- mutated sample files

mutation = st.tuples(
    st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.integers(min_value=1, max_value=64),
    st.binary(min_size=1, max_size=16) | st.sampled_from([b"-", b"1e999", b"NaN", b"null", b'"', b"{", b"]", b",",
                                                          b"\xff", b"\\u0000", b"-5", b"0"]),
)


def mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for kind, where, span, payload in edits:
        if not buf:
            break
        i = min(int(where * len(buf)), len(buf) - 1)
        if kind == "flip":
            buf[i] ^= 1 << (span % 8)
        elif kind == "delete":
            del buf[i:i + span]
        elif kind == "insert":
            buf[i:i] = payload
        elif kind == "duplicate":
            buf[i:i] = buf[i:i + span]
        else:
            del buf[i:]
    return bytes(buf)


@pytest.mark.skipif(not SAMPLES, reason="no sample results in test_results/")
@FUZZ
@given(sample=st.sampled_from(SAMPLES or [Path("none")]), edits=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_sample_files_load_or_fail_cleanly_and_publish(tmp_path, sample, edits):
    publish_everywhere(_write(tmp_path, mutate(sample.read_bytes(), edits)))


# --------------------------------------------------------------------------- valid documents, extreme values

big = st.floats(min_value=0, max_value=1e300, allow_nan=False, allow_infinity=False)
small_positive = st.floats(min_value=1e-300, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def enriched_scenario(draw, i: int):
    samples = draw(st.integers(min_value=0, max_value=8))
    start = draw(st.floats(min_value=0, max_value=4e9, allow_nan=False))
    duration = draw(st.one_of(big, st.just(0.0), st.floats(min_value=0, max_value=1e5)))
    total = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1)))
    dropped = None if total is None else draw(st.integers(min_value=0, max_value=total))
    doc = {
        "name": draw(st.sampled_from(["baseline idle", "{} streams @ 1k", "s{}", 'q"uote{}', "new\nline{}"])).format(i)
        if i else "baseline idle",
        "duration": duration,
        "start_time": start,
        "end_time": start + draw(st.floats(min_value=0, max_value=1e6)),
        "encoder_type": draw(st.sampled_from(["libx264", "none", "h264_nvenc", "é✓"])),
        "bitrate": draw(st.sampled_from(["2500k", "0", "1.5M", "999G", 0, 2**62])),
        "resolution": draw(st.sampled_from(["1920x1080", "1x1", "65535x65535"])),
        "fps": draw(small_positive),
        "vmaf_score": draw(st.floats(min_value=0, max_value=100)),
        "psnr_score": draw(big),
        "ssim_score": draw(st.floats(min_value=0, max_value=1)),
        "avg_fps": draw(big),
        "total_frames": total,
        "dropped_frames": dropped,
        "power_watts": draw(st.lists(st.one_of(big, st.just(0.0)), min_size=samples, max_size=samples)),
        "cpu_usage_cores": draw(st.lists(big, min_size=samples, max_size=samples)),
        "streams": draw(st.integers(min_value=1, max_value=2**31)),
        "viewers": draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1))),
    }
    if draw(st.booleans()):
        doc["step_seconds"] = draw(small_positive)
    if draw(st.booleans()):
        doc["pixels_processed"] = draw(st.integers(min_value=0, max_value=2**63 - 1))
    if draw(st.booleans()):
        doc["outputs"] = [{"resolution": r, "fps": draw(small_positive)} for r in ("640x360", "1920x1080")]
    return doc


@st.composite
def enriched_documents(draw):
    n = draw(st.integers(min_value=1, max_value=4))
    return {"test_metadata": {"test_date": "2026-01-16T09:00:00"},
            "scenarios": [draw(enriched_scenario(i)) for i in range(n)]}


@settings(FUZZ)
@given(document=enriched_documents())
def test_every_accepted_run_is_served_without_error_nan_or_infinity(tmp_path, document):
    publish_everywhere(_write(tmp_path, json.dumps(document).encode()))


def test_a_plain_valid_document_is_accepted(tmp_path):
    """The strategy above is not all rejections: a tame document passes and is served."""
    doc = {"test_metadata": {}, "scenarios": [
        {"name": "baseline idle", "duration": 60, "power_watts": [40.0, 41.0], "step_seconds": 60},
        {"name": "2 streams @ 2500k", "duration": 60, "encoder_type": "libx264", "bitrate": "2500k",
         "resolution": "1280x720", "fps": 30, "vmaf_score": 93.1, "total_frames": 3600, "dropped_frames": 2,
         "power_watts": [90.0, 95.0], "cpu_usage_cores": [3.0, 3.2], "step_seconds": 60}]}
    assert publish_everywhere(_write(tmp_path, json.dumps(doc).encode())) == 2


# --------------------------------------------------------------------------- progress parser: split invariance

_KEYS = st.sampled_from(["frame", "fps", "bitrate", "total_size", "out_time_us", "out_time_ms", "out_time",
                         "dup_frames", "drop_frames", "speed", "progress", "stream_0_0_q", "junk"])
_VALUES = st.one_of(st.sampled_from(["12", "N/A", "29.97", "2450.3kbits/s", "1.01x", "00:00:06.000000", "end",
                                     "continue", "-1", "9" * 30, "nan"]), st.text(max_size=12))
_LINES = st.lists(st.one_of(st.tuples(_KEYS, _VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"), st.text(max_size=20)),
                  max_size=30)


def _parse(pieces: list[bytes], max_line: int):
    parser = ProgressParser(max_line=max_line)
    blocks = []
    try:
        for piece in pieces:
            blocks += parser.feed(piece)
        blocks += parser.finish()
    except ProgressError:
        return "ProgressError"
    return blocks, parser.bad_lines, parser.bad_values, parser.unknown_keys, parser.blocks


@settings(max_examples=300, deadline=None)
@given(lines=_LINES, eol=st.sampled_from(["\n", "\r\n"]), cuts=st.lists(st.integers(min_value=0, max_value=2000)),
       max_line=st.sampled_from([16, 64, 4096]))
def test_progress_parser_result_does_not_depend_on_how_the_body_is_split(lines, eol, cuts, max_line):
    body = eol.join(lines).encode("utf-8", "surrogatepass")
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert _parse(pieces, max_line) == _parse([body], max_line)


# --------------------------------------------------------------------------- ffmpeg exporter push path

ALLOWED = {b"200", b"400", b"404", b"408", b"411", b"413", b"503"}


@pytest.fixture(scope="module")
def ffmpeg_exporter():
    with running_exporter("ffmpeg", "--stream-timeout", "2", "--max-body-bytes", "65536") as exp:
        yield exp


def _chunked(body: bytes, cuts: list[int]) -> bytes:
    points = sorted({c % (len(body) + 1) for c in cuts})
    out = b""
    for a, b in zip([0, *points], [*points, len(body)], strict=True):
        if b > a:
            out += b"%x\r\n" % (b - a) + body[a:b] + b"\r\n"
    return out + b"0\r\n\r\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_LINES, cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=5),
       framing=st.sampled_from(["chunked", "length", "garbage-chunks"]),
       stream=st.sampled_from(["fuzz", "fuzz-2", "../etc", "x" * 80, ""]))
def test_ffmpeg_push_path_answers_only_documented_statuses(ffmpeg_exporter, lines, cuts, framing, stream):
    body = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    head = f"POST /progress/{stream} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n".encode()
    if framing == "chunked":
        request = head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, cuts)
    elif framing == "length":
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    else:
        assume(body.strip())
        request = head + b"Transfer-Encoding: chunked\r\n\r\n" + body[:40] + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", ffmpeg_exporter.runtime.port), timeout=10) as s:
        try:
            s.sendall(request)
        except OSError:
            pass  # the server may answer and close before the whole body is sent
        answer = b""
        try:
            while len(answer) < 12:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    assert answer, "no answer at all"
    assert answer.split(b" ", 2)[1] in ALLOWED, answer[:200]
    text = ffmpeg_exporter.scrape()
    assert list(text_string_to_metric_families(text))
