"""The streams' recording rules, rendered into alerts.yml, evaluated by a real vmalert over a
real VictoriaMetrics holding synthetic series whose figures are worked out by hand below."""

from __future__ import annotations

import time

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.deploy.recording_rules import COST_PER_VIEWER_HOUR, ENERGY_PER_VIEWER_HOUR
from scripts import render_configs as rc
from tests.servers import VictoriaMetrics, VMAlert, promtool

A, B, QUIET = "live/key-aaaa0001", "live/key-bbbb0002", "live/key-cccc0003"


def _series(now: float) -> str:
    """[now-7min, now+3min] every 5 s (fresh while vmalert runs).

    A: one encoding host, 20 W (joules +100 per 5 s), 1.5 cores (CPU s +7.5 per 5 s), on one ingest
       server with 11 clients: 10 viewers and its publisher.
    B: two encoding hosts at 5 W each, 0.5 core each; two ingest servers with 4 and 2 clients
       (3 + 1 = 4 viewers).
    QUIET: 7 W, only its publisher connected: no viewer, no figure.
    Prices: 0.30 EUR per kWh, 0.05 EUR per core-hour.
    """
    lines = []
    for i in range(-84, 37):
        t = now + 5 * i
        ms, k = int(t * 1000), i + 84

        def add(name, labels, value, ms=ms):
            lines.append(f"{name}{{{labels}}} {value} {ms}")

        enc, rtmp = 'job="ffwatt-streams"', 'job="ffwatt-rtmp",app="live"'
        add(m.STREAM_ENERGY.name, f'stream="{A}",{enc},instance="enc1:9507"', 1000 + 100 * k)
        add(m.STREAM_CPU.name, f'stream="{A}",{enc},instance="enc1:9507"', 50 + 7.5 * k)
        for host in ("enc1", "enc2"):
            add(m.STREAM_ENERGY.name, f'stream="{B}",{enc},instance="{host}:9507"', 25 * k)
            add(m.STREAM_CPU.name, f'stream="{B}",{enc},instance="{host}:9507"', 2.5 * k)
        add(m.STREAM_ENERGY.name, f'stream="{QUIET}",{enc},instance="enc1:9507"', 35 * k)
        add(m.STREAM_CPU.name, f'stream="{QUIET}",{enc},instance="enc1:9507"', 1 * k)
        for stream, server, clients in ((A, "in1", 11), (B, "in1", 4), (B, "in2", 2), (QUIET, "in1", 1)):
            add(m.RTMP_STREAM_CLIENTS.name, f'stream="{stream}",{rtmp},instance="{server}:9728"', clients)
            add(m.RTMP_STREAM_PUBLISHING.name, f'stream="{stream}",{rtmp},instance="{server}:9728"', 1)
        add(m.COST_ENERGY_PRICE.name, 'currency="EUR",job="ffwatt-cost",instance="c:9504"', 0.30)
        add(m.COST_CORE_HOUR_PRICE.name, 'currency="EUR",job="ffwatt-cost",instance="c:9504"', 0.05)
    return "\n".join(lines) + "\n"


def test_promtool_checks_the_rendered_rules(tmp_path):
    path = tmp_path / "alerts.yml"
    path.write_text(rc.render_alert_rules())
    cp = promtool("check", "rules", str(path))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SUCCESS" in cp.stdout


def test_vmalert_records_joules_and_cost_per_viewer_hour_per_stream(tmp_path):
    rules = tmp_path / "alerts.yml"
    rules.write_text(rc.render_alert_rules(for_override="0s"))
    with VictoriaMetrics() as vm:
        vm.import_prometheus(_series(time.time()))
        with VMAlert(rules, vm.url, remote_write_url=vm.url, evaluation_interval="1s"):
            energy = vm.wait_query(ENERGY_PER_VIEWER_HOUR, lambda r: len(r) == 2, timeout=60)
            cost = vm.wait_query(COST_PER_VIEWER_HOUR, lambda r: len(r) == 2, timeout=60)
    joules = {r["metric"]["stream"]: float(r["value"][1]) for r in energy}
    money = {(r["metric"]["stream"], r["metric"]["currency"]): float(r["value"][1]) for r in cost}
    # A: 20 W x 3600 s / 10 viewers = 7200 J per viewer-hour
    # B: (5 + 5) W x 3600 / (3 + 1) viewers = 9000 J per viewer-hour; QUIET: no viewer, no series
    assert joules == pytest.approx({A: 7200.0, B: 9000.0}, rel=1e-6)
    # A: energy 20 W x 3600 s = 72000 J = 0.02 kWh per hour x 0.30 = 0.006 EUR/h, compute 1.5 cores x
    #    0.05 = 0.075 EUR/h; (0.006 + 0.075) / 10 viewers = 0.0081 EUR per viewer-hour
    # B: (10 x 3600 / 3.6e6 x 0.30 + 1.0 x 0.05) / 4 = (0.003 + 0.05) / 4 = 0.01325
    assert money == pytest.approx({(A, "EUR"): 0.0081, (B, "EUR"): 0.01325}, rel=1e-6)
