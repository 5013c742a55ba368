"""A results exporter started before its first results file (`make demo` starts the exporters,
then the benchmark) is waiting, not failing; a results directory that does not exist is failing."""

from __future__ import annotations

import logging

from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import build


def _health_after_a_refresh(results_dir) -> tuple[int, dict]:
    rt = build(load("results"), ["--listen-address", "127.0.0.1", "--port", "0", "--results-dir",
                                 str(results_dir)], {})
    try:
        rt.refresh_once()
        return rt.health()
    finally:
        rt.server.server_close()


def test_an_empty_results_dir_is_ok_and_logs_no_error(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    code, body = _health_after_a_refresh(tmp_path)
    assert (code, body["status"], body["errors"], body["details"]["file"]) == (200, "ok", 0, None)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_missing_results_dir_is_failing_and_named(tmp_path, caplog):
    missing = tmp_path / "nowhere"
    code, body = _health_after_a_refresh(missing)
    assert (code, body["status"]) == (503, "failing") and str(missing) in body["reason"]
    assert any(r.levelno == logging.ERROR and str(missing) in r.getMessage() for r in caplog.records)
