"""The agent against separate processes, and the older stack's TSDB claims measured.

agent_section (about 2 minutes): the per-host exporters (cpu on a fake powercap tree,
docker with no engine, gpu on the fake NVML, ffmpeg with 8 pushed streams) as separate
processes and, at the same time, as one `python -m ffwatt.exporters agent` process on the same
sources. Every exporter is scraped once a second for `seconds`; resident memory and CPU
of the agent against the sum of the separate processes, and each exporter's scrape
latency inside the agent against alone.

tsdb_section (at least 5 minutes): every exporter (the per-host ones in the agent, the
others as processes) and prometheus-node-exporter, scraped every second by a real
VictoriaMetrics and a real Prometheus at the same time for `seconds`. Then, from what
they stored:

* jitter: the spacing of consecutive stored timestamps of `up` per target, minus 1 s
  (p50, p99 and max of its absolute value). VictoriaMetrics stores each scrape at the
  tick it was due, so its spacing shows only ticks it skipped; Prometheus runs with
  `--no-scrape.adjust-timestamps` and stores when each scrape really started, which
  is the scheduling jitter;
* dropped samples: per target, the 1 s slots of the window without a successful
  scrape (no stored `up`, or `up` 0), as a share of all slots;
* storage: bytes on disk per sample after each has written its data out
  (VictoriaMetrics: force_flush and a snapshot, whose parts are the data; Prometheus:
  an admin snapshot, which writes the head block out compacted), each divided by the
  samples it ingested (its own counters);
* scrape latency as VictoriaMetrics measures it (`scrape_duration_seconds`, p50 and
  p99 over the window) per target.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import requests

from bench.procs import ExporterProcess, NodeExporter, Process, free_port
from bench.scrape import paced_all, percentile
from bench.sources import fake_nvml_state, fake_powercap, push_streams, scenarios_for_series, write_results
from ffwatt.common.process import HttpAnswer

AGENT_EXPORTERS = ("cpu", "docker", "gpu", "ffmpeg")
NO_ENGINE = "unix:///nonexistent/ffwatt-bench-docker.sock"


class AgentProcess(Process):
    """`python -m ffwatt.exporters agent` (on the fake NVML) serving each exporter on its own port."""

    ready_path = "/health"
    ready_statuses = None  # a failing exporter's /health is 503; ready() asks each port

    def __init__(self, *, workdir: Path, powercap_root: Path, nvml_state: Path):
        self.ports = {name: free_port() for name in AGENT_EXPORTERS}
        flags = [a for name, port in self.ports.items() for a in (f"--{name}.port", str(port))]
        code = ("import sys; from ffwatt.testing.simulated.nvml import FakeNvml; from pathlib import Path; "
                "FakeNvml.from_file(Path(sys.argv[1])).install(); "
                "from ffwatt.exporters.agent import main; sys.exit(main(sys.argv[2:]))")
        argv = [sys.executable, "-c", code, str(nvml_state), "--exporters", ",".join(AGENT_EXPORTERS),
                "--listen-address", "127.0.0.1", *flags, "--cpu.powercap-root", str(powercap_root),
                "--cpu.hwmon-root", "", "--docker.docker-host", NO_ENGINE]
        super().__init__("agent", argv, workdir=workdir, port=self.ports["cpu"])

    def ready(self, answer: HttpAnswer) -> bool:
        return all(requests.get(f"http://127.0.0.1:{p}/health", timeout=5).json().get("refreshes", 0) > 0
                   for p in self.ports.values())

    def target(self, name: str) -> SimpleNamespace:
        port = self.ports[name]
        return SimpleNamespace(name=name, port=port, url=f"http://127.0.0.1:{port}")


def _separate(work: Path, logs: Path, tree, state: Path) -> dict[str, Process]:
    return {
        "cpu": ExporterProcess("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "", workdir=logs),
        "docker": ExporterProcess("docker", workdir=logs, env={"FFWATT_DOCKER_HOST": NO_ENGINE}),
        "gpu": ExporterProcess("gpu", module=["scripts.simulated_gpu", str(state)], workdir=logs),
        "ffmpeg": ExporterProcess("ffmpeg", workdir=logs),
    }


def agent_section(work: Path, *, seconds: int = 60, log: Callable[[str], None] = print) -> dict:
    work = Path(work) / "agent"
    logs = work / "logs"
    tree = fake_powercap(work / "powercap")
    state = fake_nvml_state(work / "nvml.json", gpus=2)
    with contextlib.ExitStack() as stack:
        separate = {n: stack.enter_context(p) for n, p in _separate(work, logs, tree, state).items()}
        agent = stack.enter_context(AgentProcess(workdir=logs, powercap_root=tree.root, nvml_state=state))
        push_streams(separate["ffmpeg"].url, 8)
        push_streams(agent.target("ffmpeg").url, 8)
        targets = {**{f"{n} (alone)": p for n, p in separate.items()},
                   **{f"{n} (agent)": agent.target(n) for n in AGENT_EXPORTERS}}
        log(f"  agent vs separate processes: every exporter scraped once a second for {seconds} s")
        time.sleep(5)
        before = {n: p.stat() for n, p in separate.items()}
        agent_before = agent.stat()
        began = time.monotonic()
        paced = paced_all(targets, seconds, 1.0)
        elapsed = time.monotonic() - began
        after = {n: p.stat() for n, p in separate.items()}
        agent_after = agent.stat()
    per_exporter = {n: {"rss_bytes": after[n].rss_bytes,
                        "cpu_percent": 100 * (after[n].cpu_seconds - before[n].cpu_seconds) / elapsed,
                        "alone": paced[f"{n} (alone)"].summary(), "agent": paced[f"{n} (agent)"].summary()}
                    for n in AGENT_EXPORTERS}
    return {
        "exporters": list(AGENT_EXPORTERS), "seconds": seconds,
        "agent_rss_bytes": agent_after.rss_bytes, "agent_peak_rss_bytes": agent_after.hwm_bytes,
        "agent_cpu_percent": 100 * (agent_after.cpu_seconds - agent_before.cpu_seconds) / elapsed,
        "separate_rss_bytes": sum(r["rss_bytes"] for r in per_exporter.values()),
        "separate_cpu_percent": sum(r["cpu_percent"] for r in per_exporter.values()),
        "per_exporter": per_exporter,
    }


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and not f.is_symlink())


def _metric_value(url: str, name: str, match: Callable[[str], bool] = lambda line: True) -> float:
    total = 0.0
    for line in requests.get(url, timeout=10).text.splitlines():
        if line.startswith(name) and match(line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _scrape_config(targets: dict[str, str]) -> str:
    jobs = "\n".join(f"  - job_name: {job}\n    static_configs:\n      - targets: ['{address}']"
                     for job, address in targets.items())
    return f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}\n"


def jitter_and_drops(ups: dict[str, list[tuple[int, float]]], start_ms: int, end_ms: int) -> dict:
    """From each target's stored `up` samples [(timestamp ms, value)]: the spacing of
    consecutive timestamps minus 1 s, and the 1 s slots in [start, end) without a
    successful scrape (no sample, or up == 0)."""
    deviations, slots, dropped, per_job = [], 0, 0, {}
    expected = (end_ms - start_ms) // 1000
    for job, samples in ups.items():
        inside = sorted((t, v) for t, v in samples if start_ms <= t < end_ms)
        good = {(t - start_ms) // 1000 for t, v in inside if v == 1}
        stamps = [t for t, _ in inside]
        deviations += [abs(b - a - 1000) for a, b in zip(stamps, stamps[1:], strict=False)]
        slots += expected
        dropped += expected - len(good)
        per_job[job] = {"slots": expected, "dropped": expected - len(good)}
    return {
        "slots": slots, "dropped": dropped, "dropped_ratio": dropped / slots if slots else None,
        "jitter_ms": {"p50": percentile(deviations, 50), "p99": percentile(deviations, 99),
                      "max": max(deviations) if deviations else None, "intervals": len(deviations)},
        "by_job": per_job,
    }


def _vm_ups(vm, targets, start_ms: int, end_ms: int) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for job in targets:
        r = requests.get(vm.url + "/api/v1/export", params={"match[]": f'up{{job="{job}"}}',
                                                             "start": start_ms / 1000 - 5, "end": end_ms / 1000 + 5},
                         timeout=60)
        rows = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        out[job] = [(t, v) for row in rows for t, v in zip(row["timestamps"], row["values"], strict=True)]
    return out


def _prometheus_ups(prom, targets, start_ms: int, end_ms: int) -> dict[str, list[tuple[int, float]]]:
    out = {}
    window = (end_ms - start_ms) // 1000 + 10
    for job in targets:
        result = prom.query(f'up{{job="{job}"}}[{window}s]', time=end_ms / 1000 + 5)
        out[job] = [(round(float(t) * 1000), float(v)) for row in result for t, v in row["values"]]
    return out


def tsdb_section(work: Path, *, seconds: int = 300, log: Callable[[str], None] = print) -> dict:
    from ffwatt.testing.servers.tsdb import Prometheus, VictoriaMetrics

    work = Path(work) / "tsdb"
    logs = work / "logs"
    tree = fake_powercap(work / "powercap")
    state = fake_nvml_state(work / "nvml.json", gpus=2)
    results_dir = work / "results"
    write_results(results_dir, scenarios_for_series(1_000), 60)
    with contextlib.ExitStack() as stack:
        agent = stack.enter_context(AgentProcess(workdir=logs, powercap_root=tree.root, nvml_state=state))
        push_streams(agent.target("ffmpeg").url, 8)
        procs = {n: stack.enter_context(ExporterProcess(n, "--results-dir", str(results_dir),
                                                        *(("--tsdb-url", "") if n == "cost" else ()), workdir=logs))
                 for n in ("results", "qoe", "cost")}
        targets = {f"ffwatt-{n}": f"127.0.0.1:{agent.ports[n]}" for n in AGENT_EXPORTERS}
        targets.update({f"ffwatt-{n}": f"127.0.0.1:{p.port}" for n, p in procs.items()})
        probe = ",".join(f"{job[len('ffwatt-'):]}=http://{address}/metrics" for job, address in targets.items())
        procs["health"] = stack.enter_context(ExporterProcess("health", "--targets", probe, workdir=logs))
        targets["ffwatt-health"] = f"127.0.0.1:{procs['health'].port}"
        binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
        if binary:
            node = stack.enter_context(NodeExporter(workdir=logs, binary=binary))
            targets["node-exporter"] = f"127.0.0.1:{node.port}"
        config = _scrape_config(targets)
        vm = stack.enter_context(VictoriaMetrics(scrape_config_text=config, workdir=work / "vm"))
        # --no-scrape.adjust-timestamps: store when each scrape really started, not the tick it was
        # due (Prometheus moves timestamps up to 2 ms onto the tick, VictoriaMetrics stores the tick).
        prom = stack.enter_context(Prometheus(config_text=config, workdir=work / "prom",
                                              extra_args=("--web.enable-admin-api", "--no-scrape.adjust-timestamps")))
        log(f"  VictoriaMetrics and Prometheus scraping {len(targets)} targets every second for {seconds} s")
        time.sleep(5)  # both have started scraping
        start_ms = int(time.time()) * 1000 + 1000
        time.sleep(seconds + 2)
        end_ms = start_ms + seconds * 1000
        vm.flush()
        stored = {"victoriametrics": jitter_and_drops(_vm_ups(vm, targets, start_ms, end_ms), start_ms, end_ms),
                  "prometheus": jitter_and_drops(_prometheus_ups(prom, targets, start_ms, end_ms), start_ms, end_ms)}
        durations = {}
        for job in targets:
            row = {}
            for q in (0.5, 0.99):
                value = vm.value(f'quantile_over_time({q}, scrape_duration_seconds{{job="{job}"}}[{seconds}s])',
                                 time=end_ms / 1000)
                row[f"p{round(q * 100)}_ms"] = None if value is None else value * 1000
            durations[job] = row
        # Storage: each TSDB writes what it holds out to disk, then bytes per ingested sample.
        vm_samples = _metric_value(vm.url + "/metrics", "vm_rows_inserted_total", lambda line: "promscrape" in line)
        vm.persist()
        vm_bytes = _du(vm.data_dir / "data")
        prom_samples = _metric_value(prom.url + "/metrics", "prometheus_tsdb_head_samples_appended_total")
        snap = requests.post(prom.url + "/api/v1/admin/tsdb/snapshot", timeout=120).json()["data"]["name"]
        prom_bytes = _du(prom.data_dir / "snapshots" / snap)
        prom_wal_bytes = _du(prom.data_dir / "wal")
    return {
        "seconds": seconds, "targets": sorted(targets), "stored": stored, "scrape_duration_ms": durations,
        "storage": {
            "victoriametrics": {"bytes": vm_bytes, "samples": vm_samples,
                                "bytes_per_sample": vm_bytes / vm_samples if vm_samples else None},
            "prometheus": {"bytes": prom_bytes, "samples": prom_samples, "wal_bytes": prom_wal_bytes,
                           "bytes_per_sample": prom_bytes / prom_samples if prom_samples else None},
        },
    }


if __name__ == "__main__":
    import tempfile

    which = sys.argv[1] if len(sys.argv) > 1 else "agent"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else (60 if which == "agent" else 300)
    with tempfile.TemporaryDirectory() as tmp:
        section = agent_section if which == "agent" else tsdb_section
        print(json.dumps(section(Path(tmp), seconds=seconds, log=lambda m: print(m, file=sys.stderr)), indent=1))

