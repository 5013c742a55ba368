"""Every ffwatt exporter as its own process, each on a realistic source, plus
prometheus-node-exporter for comparison.

    results, qoe, cost  one generated enriched results file sized so that the results
                        exporter serves about 1,000 series (cost: no TSDB)
    cpu                 a fake RAPL powercap tree, 2 packages with core/uncore/dram
    gpu                 the real gpu exporter on a fake NVML with 2 GPUs (no GPU here)
    docker              a private Docker Engine with a few idle busybox containers,
                        when this runs as root with dockerd installed; else skipped
    ffmpeg              a few live streams registered by progress pushes
    health              probing all of the above
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import yaml

from bench.procs import ExporterProcess, NodeExporter, Process
from bench.sources import fake_nvml_state, fake_powercap, push_streams, scenarios_for_series, write_results

RESULTS_SERIES = 1_000
FFMPEG_STREAMS = 8
DOCKER_CONTAINERS = 3
GPU_WITHOUT_NVML = "gpu-no-nvml"


def docker_available() -> str | None:
    """None when a private Docker Engine can run here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    for binary in ("dockerd", "containerd", "runc", "busybox"):
        if not (shutil.which(binary) or shutil.which(binary, path="/usr/local/sbin:/usr/sbin:/sbin")):
            return f"{binary} not installed"
    return None


def start_docker_engine():
    """A private dockerd (servers.docker.DockerEngine), started; the caller closes it."""
    from ffwatt.testing.servers.docker import DockerEngine

    engine = DockerEngine()
    try:
        engine.start()
    except BaseException:
        engine.close()
        raise
    return engine


class Fleet:
    """Start with `with Fleet(workdir, engine) as fleet:`; `fleet.targets` maps a name to
    its process (ffwatt exporters by catalog name, then "node-exporter")."""

    def __init__(self, workdir: Path, engine=None, log=print, *, node_exporter: bool = True,
                 docker_host: str | None = None, gpu_without_nvml: bool = False):
        self.workdir = Path(workdir)
        self.engine = engine
        self.node_exporter = node_exporter
        self.docker_host = docker_host
        self.gpu_without_nvml = gpu_without_nvml
        self.log = log
        self.targets: dict[str, Process] = {}
        self.notes: dict[str, str] = {}
        self._stack = contextlib.ExitStack()

    def _start(self, proc: Process) -> Process:
        self.log(f"  starting {proc.name}")
        self._stack.enter_context(proc)
        self.targets[proc.name] = proc
        return proc

    def __enter__(self) -> Fleet:
        try:
            self._start_all()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _start_all(self) -> None:
        w = self.workdir
        logs = w / "logs"
        results_dir = w / "results"
        n = scenarios_for_series(RESULTS_SERIES)
        write_results(results_dir, n, 60)
        self.notes["results"] = f"{n} scenarios (enriched file)"
        for name in ("results", "qoe", "cost"):
            extra = ("--tsdb-url", "") if name == "cost" else ()
            self._start(ExporterProcess(name, "--results-dir", str(results_dir), *extra, workdir=logs))
        self.notes["qoe"] = self.notes["cost"] = self.notes["results"]

        tree = fake_powercap(w / "powercap")
        self._start(ExporterProcess("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "", workdir=logs))
        self.notes["cpu"] = "fake powercap tree, 2 packages x (package, core, uncore, dram)"

        if self.engine is not None:
            for k in range(DOCKER_CONTAINERS):
                self.engine.run_busy(name=f"ffw-bench-fleet-{k}", command="sleep 3600")
            # the socket through the environment: never name the engine's dir on a command line
            self._start(ExporterProcess("docker", workdir=logs, env={"FFWATT_DOCKER_HOST": self.engine.base_url}))
            self.notes["docker"] = f"private Docker Engine, {DOCKER_CONTAINERS} idle busybox containers"
        elif self.docker_host:
            self._start(ExporterProcess("docker", workdir=logs, env={"FFWATT_DOCKER_HOST": self.docker_host}))
            self.notes["docker"] = f"no Docker Engine ({docker_available() or 'not started'}): engine-down state"
        else:
            self.notes["docker"] = "skipped: " + (docker_available() or "no engine")

        state = fake_nvml_state(w / "nvml.json", gpus=2)
        self._start(ExporterProcess("gpu", module=["scripts.simulated_gpu", str(state)], workdir=logs))
        self.notes["gpu"] = "real gpu exporter on the fake NVML (simulated.nvml), 2 GPUs"
        if self.gpu_without_nvml:
            self._start(ExporterProcess("gpu", workdir=logs, label=GPU_WITHOUT_NVML))
            self.notes[GPU_WITHOUT_NVML] = ("the real gpu exporter on this GPU-less host (no NVML library: 0 GPUs, "
                                            "status ok); not probed by the health exporter")

        ffmpeg = self._start(ExporterProcess("ffmpeg", "--stream-timeout", "86400", workdir=logs))
        push_streams(ffmpeg.url, FFMPEG_STREAMS)
        self.notes["ffmpeg"] = f"{FFMPEG_STREAMS} streams registered by progress pushes"

        targets_file = w / "health-targets.yml"
        listed = [{"name": name, "url": proc.url, "kind": "ffwatt"} for name, proc in self.targets.items()
                  if name != GPU_WITHOUT_NVML]
        targets_file.write_text(yaml.safe_dump({"targets": listed}))
        self._start(ExporterProcess("health", "--targets-file", str(targets_file), "--timeout", "2", workdir=logs))
        self.notes["health"] = f"probing the {len(listed)} exporters above every 15 s"

        if not self.node_exporter:
            return
        binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
        if binary:
            self._start(NodeExporter(workdir=logs, binary=binary))
            self.notes["node-exporter"] = "prometheus-node-exporter, default collectors"
        else:
            self.notes["node-exporter"] = "skipped: prometheus-node-exporter not installed"
