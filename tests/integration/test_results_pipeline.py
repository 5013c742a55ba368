"""results, qoe and cost scraped by a real VictoriaMetrics through the rendered scrape
config: every metric the catalog assigns to them is queryable with the exporter's value."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

from ffwatt.catalog import metrics_of
from ffwatt.deploy.scrape import render_scrape_config
from scripts.stack import SAMPLE_RESULTS
from tests.harness import parse_samples, running_exporter
from tests.servers import VictoriaMetrics, dry_run_scrape_config, free_port, require_binary, wait_http


def test_every_catalog_metric_of_the_trio_reaches_victoriametrics_with_its_value(tmp_path):
    require_binary("victoria-metrics")
    with (running_exporter("results", "--results-dir", str(SAMPLE_RESULTS)) as results,
          running_exporter("qoe", "--results-dir", str(SAMPLE_RESULTS)) as qoe,
          running_exporter("cost", "--results-dir", str(SAMPLE_RESULTS), "--tsdb-url", "") as cost):
        exporters = {"results": results, "qoe": qoe, "cost": cost}
        config = render_scrape_config({n: [f"127.0.0.1:{e.runtime.port}"] for n, e in exporters.items()},
                                      scrape_interval_override="1s")
        path = tmp_path / "scrape.yml"
        path.write_text(config)
        dry = dry_run_scrape_config(path)
        assert dry.returncode == 0, dry.stdout + dry.stderr

        with VictoriaMetrics(path) as vm:
            vm.wait_query('count(up{job=~"ffwatt-(results|qoe|cost)"} == 1)',
                          lambda r: r and float(r[0]["value"][1]) == 3)
            for name, exp in exporters.items():
                served = parse_samples(exp.scrape())
                for metric in metrics_of(name):
                    if metric.exporter is None:
                        continue  # self-metrics change every refresh; covered by the e2e test
                    sample_name = metric.name
                    expected = served.get(sample_name)
                    assert expected, f"{name} serves no {sample_name}"
                    count = len(expected)
                    result = vm.wait_query(f'{sample_name}{{job="ffwatt-{name}"}}',
                                           lambda r, count=count: len(r) == count)
                    got = {_key(s["metric"], metric.labels): float(s["value"][1]) for s in result}
                    for labels, value in expected:
                        key = _key(labels, metric.labels)
                        assert key in got, f"{sample_name}{labels} missing in VictoriaMetrics"
                        assert math.isclose(got[key], value, rel_tol=1e-9), (sample_name, labels, got[key], value)


def _key(labels: dict, names: tuple[str, ...]) -> tuple:
    return tuple(labels.get(n, "") for n in names)


def test_sigterm_shuts_an_exporter_process_down_cleanly(tmp_path):
    port = free_port()
    env = dict(os.environ, FFWATT_RESULTS_DIR=str(SAMPLE_RESULTS), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "ffwatt.exporters", "results", "--listen-address", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = out.decode()
    assert proc.returncode == 0, log
    assert "SIGTERM received, shutting down" in log
    assert f":{port}/metrics" in log, "the start-up line says where it serves"
