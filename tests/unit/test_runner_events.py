"""The run recorder: one call per state change reaches the results file, the NDJSON events and the log."""

from __future__ import annotations

import json
import logging

import pytest

from ffwatt.contract.results_writer import ResultsWriter
from ffwatt.contract.schema import ScenarioEntry
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.record.events import EventLog
from ffwatt.runner.record.recorder import RunRecorder


def _events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def recorder(tmp_path):
    events = EventLog(tmp_path / "events.ndjson")
    writer = ResultsWriter(tmp_path / "results", "test_results_20260101_000000.json", {"test_date": "2026-01-01"})
    yield RunRecorder(events, writer)
    events.close()


def test_a_skipped_scenario_is_in_the_file_the_events_and_the_log(recorder, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ffwatt.run")
    recorder.run_started("/s.yml", 2, resumed=False)
    recorder.scenario_skipped("a", "no libsvtav1")
    doc = json.loads(recorder.path.read_text())
    assert doc["not_run"] == [{"name": "a", "status": "skipped", "reason": "no libsvtav1"}]
    events = _events(tmp_path / "events.ndjson")
    assert [e["event"] for e in events] == ["run-start", "scenario-skipped"]
    assert events[1] == {"event": "scenario-skipped", "time": events[1]["time"], "scenario": "a",
                         "reason": "no libsvtav1"}
    assert ("ffwatt.run", logging.WARNING, "a: skipped: no libsvtav1") in caplog.record_tuples


def test_an_interrupted_scenario_is_failed_with_the_signal_and_a_fatal_event(recorder, tmp_path):
    recorder.scenario_interrupted("b", "SIGTERM", "interrupted by SIGTERM; completed scenarios are kept")
    doc = json.loads(recorder.path.read_text())
    assert doc["not_run"] == [{"name": "b", "status": "failed", "reason": "interrupted by SIGTERM"}]
    (event,) = _events(tmp_path / "events.ndjson")
    assert event["event"] == "error" and event["fatal"] is True and event["scenario"] == "b"


def test_a_done_scenario_replaces_its_not_run_entry_and_announces_its_summary(recorder, tmp_path):
    recorder.scenario_failed("c", "ffmpeg exited with 1")
    recorder.scenario_done(ScenarioEntry(name="c", duration=1.0, avg_fps=30.0))
    doc = json.loads(recorder.path.read_text())
    assert doc["not_run"] == [] and doc["scenarios"] == [{"name": "c", "duration": 1.0, "avg_fps": 30.0}]
    assert recorder.entry("c").avg_fps == 30.0
    done = _events(tmp_path / "events.ndjson")[-1]
    assert (done["event"], done["scenario"], done["avg_fps"]) == ("scenario-done", "c", 30.0)


def test_a_results_write_that_fails_stops_the_run_before_the_event(recorder, tmp_path):
    (tmp_path / "results").write_text("a file where the results dir should be")
    with pytest.raises(RunnerError, match="completed scenarios so far are in the last file written there"):
        recorder.scenario_skipped("d", "no encoder")
    assert _events(tmp_path / "events.ndjson") == []


def test_an_error_the_run_goes_on_without_touches_no_results(recorder, tmp_path, caplog):
    recorder.error("quality pass failed: boom", "e: quality pass failed, scores unknown: boom", scenario="e")
    recorder.error("progress URL 'x' is not http://host:port")  # no log line of its own
    assert not recorder.path.exists()
    first, second = _events(tmp_path / "events.ndjson")
    assert first["scenario"] == "e" and first["fatal"] is False and "scenario" not in second
    assert [r.message for r in caplog.records] == ["e: quality pass failed, scores unknown: boom"]
