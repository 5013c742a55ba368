"""The health checker against real targets on loopback: real ffwatt exporters, a refused
port, silent and trickling servers, and HTTP servers that answer wrong."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import yaml

from ffwatt.catalog import HEALTH_REASONS, metrics_of
from ffwatt.catalog import metrics as m
from ffwatt.exporters.health import classify_exposition, make_target, probe
from ffwatt.testing.servers.targets import OPENMETRICS, FakeHttp, Route, SilentServer
from tests.fake_targets import catalog_exposition, health_json
from tests.harness import assert_exposition_valid, running_exporter
from tests.servers import free_port

RESULTS_DIR = Path(__file__).resolve().parents[2] / "test_results"
TIMEOUT = 1.0
SLOW = 0.6  # answers this long after the request: under the timeout, so healthy

FOREIGN = b"""# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.25
"""
SLOW_BODY = b"""# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total 7
"""

# name -> (reason, healthy, reachable)
EXPECTED = {
    "results": ("ok", 1, 1),
    "qoe": ("ok", 1, 1),
    "results-no-data": ("health_failing", 0, 1),
    "cost": ("ok", 1, 1),  # a fake ffwatt exporter whose /health says degraded
    "gpu": ("http_status", 0, 1),  # a fake ffwatt exporter with no /health
    "refused": ("refused", 0, 0),
    "silent-1": ("timeout", 0, 0),
    "silent-2": ("timeout", 0, 0),
    "silent-3": ("timeout", 0, 0),
    "trickle": ("timeout", 0, 1),
    "error-500": ("http_status", 0, 1),
    "garbage": ("invalid_exposition", 0, 1),
    "empty": ("empty_body", 0, 1),
    "foreign": ("missing_metrics", 0, 1),
    "slow": ("ok", 1, 1),
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Every kind of target, running; yields the targets file listing them."""
    if not any(RESULTS_DIR.glob("test_results_*.json")):
        pytest.skip(f"no sample results in {RESULTS_DIR}")
    missing_dir = tmp_path_factory.mktemp("no-results") / "missing"  # empty would be ok: waiting for a run
    with contextlib.ExitStack() as stack:
        results = stack.enter_context(running_exporter("results", "--results-dir", str(RESULTS_DIR)))
        qoe = stack.enter_context(running_exporter("qoe", "--results-dir", str(RESULTS_DIR)))
        no_data = stack.enter_context(running_exporter("results", "--results-dir", str(missing_dir)))
        degraded = stack.enter_context(FakeHttp({
            "/metrics": Route(200, catalog_exposition("cost", openmetrics=True), OPENMETRICS),
            "/health": Route(200, health_json("degraded", "price unset, using the default")),
        }))
        no_health = stack.enter_context(FakeHttp({"/metrics": Route(200, catalog_exposition("gpu"))}))
        silent = [stack.enter_context(SilentServer()) for _ in range(3)]
        trickle = stack.enter_context(SilentServer(trickle=True))
        odd = stack.enter_context(FakeHttp({
            "/error": Route(500, b"internal error\n"),
            "/garbage": Route(200, b"<html><body>It works!</body></html>\n", "text/html"),
            "/empty": Route(200, b""),
            "/foreign": Route(200, FOREIGN),
            "/slow": Route(200, SLOW_BODY, delay=SLOW),
        }))
        targets = [
            {"name": "results", "url": results.url},
            {"name": "qoe", "url": qoe.url, "kind": "ffwatt"},
            {"name": "results-no-data", "url": no_data.url, "kind": "ffwatt", "exporter": "results"},
            {"name": "cost", "url": degraded.url + "/metrics"},
            {"name": "gpu", "url": no_health.url},
            {"name": "refused", "url": f"http://127.0.0.1:{free_port()}/metrics"},
            *({"name": f"silent-{i}", "url": s.url} for i, s in enumerate(silent, 1)),
            {"name": "trickle", "url": trickle.url},
            {"name": "error-500", "url": odd.url + "/error"},
            {"name": "garbage", "url": odd.url + "/garbage"},
            {"name": "empty", "url": odd.url + "/empty"},
            {"name": "foreign", "url": odd.url + "/foreign", "kind": "ffwatt", "exporter": "results"},
            {"name": "slow", "url": odd.url + "/slow", "kind": "prometheus", "expect": ["app_requests_total"]},
        ]
        path = tmp_path_factory.mktemp("health") / "targets.yaml"
        path.write_text(yaml.safe_dump({"targets": targets}))
        yield path


@pytest.fixture(scope="module")
def checker(zoo):
    with running_exporter("health", "--targets-file", str(zoo), "--timeout", str(TIMEOUT),
                          "--refresh-interval", "3600") as exp:
        yield exp


def _by_target(samples, name):
    return {lbl["target"]: v for lbl, v in samples.get(name, [])}


def test_each_target_is_classified_right(checker):
    s = checker.samples()
    healthy = _by_target(s, m.HEALTH_TARGET_HEALTHY.name)
    reachable = _by_target(s, m.HEALTH_TARGET_REACHABLE.name)
    reasons: dict[str, dict[str, float]] = {}
    for labels, value in s[m.HEALTH_TARGET_REASON.name]:
        reasons.setdefault(labels["target"], {})[labels["reason"]] = value
    got = {}
    for target in EXPECTED:
        current = [r for r, v in reasons[target].items() if v == 1]
        assert sorted(reasons[target]) == sorted(HEALTH_REASONS), target  # every reason, one series each
        assert len(current) == 1, (target, reasons[target])
        got[target] = (current[0], healthy[target], reachable[target])
    assert got == EXPECTED
    assert s[m.HEALTH_TARGETS.name][0][1] == len(EXPECTED)
    assert s[m.HEALTH_TARGETS_HEALTHY.name][0][1] == sum(h for _, h, _ in EXPECTED.values())


def test_one_cycle_takes_about_one_timeout_not_the_sum(checker):
    s = checker.samples()
    (labels, duration), = s[m.EXPORTER_REFRESH_DURATION.name]
    assert labels == {"exporter": "health"}
    # four targets each hold a probe for the whole timeout; in sequence that would be >= 4 s
    assert TIMEOUT * 0.9 <= duration < 2 * TIMEOUT


def test_response_times(checker):
    response = _by_target(checker.samples(), m.HEALTH_TARGET_RESPONSE.name)
    assert SLOW <= response["slow"] < TIMEOUT
    assert response["results"] < SLOW
    assert response["refused"] < SLOW
    for name in ("silent-1", "trickle"):
        assert TIMEOUT * 0.9 <= response[name] <= TIMEOUT + 0.6
    last = _by_target(checker.samples(), m.HEALTH_TARGET_LAST_CHECK.name)
    assert all(abs(t - time.time()) < 60 for t in last.values())


def test_health_details_say_why(checker):
    body = checker.health()
    assert body["status"] == "ok"  # targets being down is data, not a failure of the checker
    details = body["details"]
    per = details["per_target"]
    assert per["error-500"]["detail"] == "HTTP 500"
    assert per["refused"]["detail"] == "connection refused"
    assert per["foreign"]["detail"].startswith(f"missing {len(metrics_of('results'))} metrics: ffwatt_results_")
    assert per["gpu"]["detail"] == "/health: HTTP 404"
    assert per["results-no-data"]["detail"].startswith("/health: failing")
    assert per["results-no-data"]["exporter_status"] == "failing"
    assert per["cost"]["status"] == "degraded"
    assert per["cost"]["exporter_reason"] == "price unset, using the default"
    assert details["degraded"] == ["cost"]
    assert per["results"]["status"] == "healthy"
    assert set(details["unhealthy"]) == {n for n, (r, *_) in EXPECTED.items() if r != "ok"}
    assert details["targets"] == len(EXPECTED)


def test_consecutive_failures_count_up_and_stay_zero_when_healthy(checker):
    before = checker.runtime.state.refreshes
    checker.runtime.trigger_refresh()
    checker.wait_for(lambda e: e.runtime.state.refreshes > before, timeout=10, what="a second cycle")
    failures = _by_target(checker.samples(), m.HEALTH_TARGET_FAILURES.name)
    for target, (_reason, healthy, _) in EXPECTED.items():
        assert failures[target] == (0 if healthy else before + 1), target


def test_exposition_is_valid_and_matches_the_catalog(checker):
    assert_exposition_valid("health", checker.scrape())


def test_real_exporter_output_holds_every_catalog_metric_in_both_formats():
    with running_exporter("results", "--results-dir", str(RESULTS_DIR)) as exp:
        target = make_target("results", exp.url)
        assert probe(target, TIMEOUT).reason == "ok"
        for accept, content_type in ((None, "text/plain; version=0.0.4"),
                                     (OPENMETRICS, "application/openmetrics-text; version=1.0.0")):
            reason, detail = classify_exposition(200, content_type, exp.scrape(accept).encode(), target.expect)
            assert reason == "ok", detail


def test_a_target_that_comes_up_turns_healthy():
    port = free_port()
    with running_exporter("health", "--targets", f"late=http://127.0.0.1:{port}/metrics", "--timeout", "1",
                          "--refresh-interval", "3600") as checker:
        assert checker.value(m.HEALTH_TARGET_REASON.name, target="late", reason="refused") == 1
        assert checker.value(m.HEALTH_TARGET_FAILURES.name, target="late") == 1
        with FakeHttp({"/metrics": Route(200, SLOW_BODY)}, port=port):
            before = checker.runtime.state.refreshes
            checker.runtime.trigger_refresh()
            checker.wait_for(lambda e: e.runtime.state.refreshes > before, what="a second cycle")
            assert checker.value(m.HEALTH_TARGET_HEALTHY.name, target="late") == 1
            assert checker.value(m.HEALTH_TARGET_FAILURES.name, target="late") == 0
            assert checker.value(m.HEALTH_TARGET_REASON.name, target="late", reason="ok") == 1
            assert checker.value(m.HEALTH_TARGET_REASON.name, target="late", reason="refused") == 0
