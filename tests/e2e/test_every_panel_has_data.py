"""The proof that a dashboard works without Grafana: all ten exporters on loopback,
scraped by a real VictoriaMetrics and a real Prometheus through the generated scrape
config, and every target of every panel returns data on both."""

from __future__ import annotations

import time

import pytest

from scripts.demo import check_until_complete, report
from scripts.stack import LocalStack
from tests.servers import require_binary, require_root, require_rtmp_module


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for binary in ("victoria-metrics", "prometheus", "ffmpeg", "dockerd", "nginx"):
        require_binary(binary)
    require_rtmp_module()
    require_root("the end-to-end test (it starts a private dockerd)")
    with LocalStack(tmp_path_factory.mktemp("stack"), prometheus=True) as s:
        s.wait_until_scraped()
        yield s


@pytest.mark.parametrize("tsdb_name", ["VictoriaMetrics", "Prometheus"])
def test_every_panel_target_returns_data(stack, tsdb_name):
    tsdb = stack.tsdbs()[tsdb_name]
    results = check_until_complete(stack, tsdb, timeout=90)
    assert len(results) > 50, "the dashboards should have many targets"
    missing = [r for r in results if not r.has_data]
    assert not missing, report(results, tsdb_name)


def test_every_exporter_is_healthy_in_its_own_eyes_and_the_checkers(stack):
    assert stack.health() == {name: "ok" for name in stack.exporters}
    deadline = time.monotonic() + 30
    while True:
        healthy = stack.vm.value("sum(ffwatt_health_target_healthy)")
        if healthy == len(stack.exporters) - 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert healthy == len(stack.exporters) - 1, "the health checker sees every other exporter healthy"


def test_load_aware_cost_uses_the_scraped_joules(stack):
    # The cost exporter was pointed at this VictoriaMetrics: its own config says so.
    cost = stack.exporters["cost"].exporter
    assert cost.config.tsdb_url == stack.vm.url
