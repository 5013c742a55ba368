"""Metrics from many hosts: what one lab host sends, and how many samples per second one
VictoriaMetrics ingests from 4 vmagents (issue 25). Loopback only, bounded in time.

vmagent_section:

* one host: the agent (cpu on a fake powercap tree of 2 packages, docker with no engine, gpu on
  the fake NVML with 2 GPUs, ffmpeg with 8 pushed streams) scraped by a vmagent with the lab
  host's rendered scrape config (catalog intervals), labelled host=agent; its samples per
  second, counted in VictoriaMetrics over `host_seconds`, is what one lab host sends;
* the load: 4 vmagents, each its own host label, scrape `jobs` copies of a results exporter's
  exposition of about `series` series every second (the real exporter's text, served as a
  snapshot so the load generator stays cheap) and remote-write to one VictoriaMetrics for
  `seconds`. Measured: rows VictoriaMetrics inserted from remote writes per second (its own
  vm_rows_inserted_total{type="promremotewrite"}), its CPU per million rows, the samples the
  vmagents scraped, and their backlog at the end (pending bytes; 0: it kept up).

Hosts one VictoriaMetrics serves = ingested rows per second / one host's samples per second.
A lower bound: the vmagents, the exporters and the bench share this machine's cores with it.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.agent_tsdb import AgentProcess, _metric_value
from bench.procs import ExporterProcess, proc_stat
from bench.sources import fake_nvml_state, fake_powercap, push_streams, scenarios_for_series, write_results

AGENTS = 4
SERIES = 5_000
JOBS = 4
MILLION = 1_000_000


class _Snapshot:
    """One fixed exposition served on 127.0.0.1 from a thread (any path)."""

    def __init__(self, body: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _load_config(address: str, jobs: int) -> str:
    listed = "\n".join(f"  - job_name: load-{j}\n    static_configs:\n      - targets: ['{address}']"
                       for j in range(jobs))
    return f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{listed}\n"


def _one_host(work: Path, vm, seconds: int, log: Callable[[str], None]) -> dict:
    from ffwatt.catalog import EXPORTERS
    from ffwatt.deploy.scrape import render_vmagent_config
    from ffwatt.testing.servers.vmagent import VmAgent

    tree = fake_powercap(work / "powercap")
    state = fake_nvml_state(work / "nvml.json", gpus=2)
    with contextlib.ExitStack() as stack:
        agent = stack.enter_context(AgentProcess(workdir=work / "logs", powercap_root=tree.root, nvml_state=state))
        push_streams(agent.target("ffmpeg").url, 8)
        targets = {name: [f"127.0.0.1:{port}"] for name, port in agent.ports.items() if name in EXPORTERS}
        vmagent = stack.enter_context(VmAgent(vm.url + "/api/v1/write", labels={"host": "agent"},
                                              scrape_config_text=render_vmagent_config(targets),
                                              workdir=work / "vmagent-agent"))
        log(f"  one lab host (agent: {', '.join(targets)}) through its vmagent for {seconds} s")
        time.sleep(seconds + 5)
        vmagent.stop()
        vm.flush()
        end = time.time() - 3
        samples = vm.value(f'sum(count_over_time({{host="agent"}}[{seconds}s]))', time=end) or 0.0
        series = vm.value(f'count(last_over_time({{host="agent"}}[{seconds}s]))', time=end) or 0.0
    return {"seconds": seconds, "samples_per_second": samples / seconds, "series": series,
            "exporters": sorted(targets)}


def vmagent_section(work: Path, *, seconds: int = 60, host_seconds: int = 30, series: int = SERIES,
                    jobs: int = JOBS, log: Callable[[str], None] = print) -> dict:
    from ffwatt.testing.servers.tsdb import VictoriaMetrics
    from ffwatt.testing.servers.vmagent import VmAgent

    work = Path(work) / "vmagent"
    results_dir = work / "results"
    write_results(results_dir, scenarios_for_series(series), 60)
    with contextlib.ExitStack() as stack:
        vm = stack.enter_context(VictoriaMetrics(workdir=work / "vm"))
        host = _one_host(work, vm, host_seconds, log)
        exporter = stack.enter_context(ExporterProcess("results", "--results-dir", str(results_dir),
                                                       workdir=work / "logs"))
        body = requests.get(exporter.url + "/metrics", timeout=30).content
        exposed = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        snapshot = _Snapshot(body)
        stack.callback(snapshot.close)
        config = _load_config(snapshot.address, jobs)
        agents = [stack.enter_context(VmAgent(vm.url + "/api/v1/write", scrape_config_text=config,
                                              labels={"host": f"load{i}"}, workdir=work / f"vmagent-{i}"))
                  for i in range(AGENTS)]
        offered = AGENTS * jobs * exposed
        log(f"  {AGENTS} vmagents x {jobs} jobs x {exposed} series, every second ({offered} samples/s offered), "
            f"into one VictoriaMetrics for {seconds} s")
        time.sleep(5)  # every agent has scraped and sent once

        def inserted() -> float:
            return _metric_value(vm.url + "/metrics", "vm_rows_inserted_total", lambda line: "promremotewrite" in line)

        rows0, cpu0, t0 = inserted(), proc_stat(vm.proc.pid).cpu_seconds, time.monotonic()
        scraped0 = sum(a.self_metric("vm_promscrape_scraped_samples_sum") for a in agents)
        time.sleep(seconds)
        rows1, cpu1, t1 = inserted(), proc_stat(vm.proc.pid).cpu_seconds, time.monotonic()
        scraped1 = sum(a.self_metric("vm_promscrape_scraped_samples_sum") for a in agents)
        pending = sum(a.pending_bytes() for a in agents)
        elapsed = t1 - t0
        rate = (rows1 - rows0) / elapsed
        vm_cpu = (cpu1 - cpu0) / elapsed
    per_host = host["samples_per_second"]
    return {
        "agents": AGENTS, "jobs": jobs, "series_per_job": exposed, "seconds": seconds,
        "offered_samples_per_second": offered,
        "scraped_samples_per_second": (scraped1 - scraped0) / elapsed,
        "ingested_samples_per_second": rate,
        "vm_cpu_cores": vm_cpu,
        "vm_cpu_seconds_per_million": vm_cpu / rate * MILLION if rate else None,
        "pending_bytes_at_end": pending,
        "one_host": host,
        "hosts_served": rate / per_host if per_host else None,
    }


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(vmagent_section(Path(tmp), seconds=seconds, log=lambda m: print(m, file=sys.stderr)),
                         indent=1))
