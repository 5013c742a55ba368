"""The whole ffwatt pipeline on loopback: every exporter, a real VictoriaMetrics (and
optionally a real Prometheus) scraping them through the generated scrape config, and
a check that runs every dashboard panel's queries against them.

Used by `make demo` (scripts/demo.py) and by the end-to-end test, so the demo and the
proof are the same code. Where this machine lacks the hardware, sources are simulated
at the lowest boundary and the real exporter code runs: RAPL through a powercap tree
in a temp dir whose energy_uj counters a thread advances, NVML through the pynvml
fake (`simulated.nvml`). Docker is the real engine (a private dockerd with busybox
containers, when running as root), ffmpeg is real ffmpeg encoding a test source,
and the rtmp exporter reads a real nginx-rtmp (servers.rtmp, as the runner
starts it) that two real ffmpeg streams publish to and one ffmpeg plays back.
The streams exporter finds those publishers (and the progress feeders) in the real
/proc, as it would on a production host, and charges each its share of the machine's
energy read from the same simulated powercap tree and NVML (labelled simulated); its
stream labels are the rtmp exporter's, so viewers and energy join.
The real-server launchers are the ones the tests use (the `servers` package).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffwatt.catalog import EXPORTERS
from ffwatt.common.server import ServerUnavailableError
from ffwatt.common.urls import HttpError, fetch
from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import Runtime, build
from ffwatt.runner.execute.rtmp_server import RtmpServer, RtmpServerError, find_nginx, find_rtmp_module
from ffwatt.testing.servers.docker import DockerEngine
from ffwatt.testing.servers.feeders import FfmpegFeeder, RtmpFeeder
from ffwatt.testing.servers.tsdb import Prometheus, VictoriaMetrics
from ffwatt.testing.simulated.nvml import FUNCTIONS as NVML_FUNCTIONS
from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml
from ffwatt.testing.simulated.powercap import FakePowercap

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RESULTS = ROOT / "test_results"
log = logging.getLogger("ffwatt.stack")

# Grafana fills these in; for checking, values that select everything over a window
# that holds the stack's few minutes of data.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "10m",
    "${__range}": "10m",
}


def substitute_variables(expr: str) -> str:
    """Replace Grafana's built-in and template variables as a dashboard linter does."""
    import re

    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    # Template variables only appear inside =~ matchers: select everything.
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?", ".*", expr)


class RaplSimulator:
    """A powercap tree whose counters a thread advances like a busy encode box would."""

    # zone entry -> (name, watts)
    ZONES = {
        "intel-rapl:0": ("package-0", 42.0),
        "intel-rapl:0:0": ("core", 30.0),
        "intel-rapl:0:1": ("uncore", 4.0),
        "intel-rapl:0:2": ("dram", 6.5),
    }

    def __init__(self, base: Path):
        from ffwatt.readers.powercap import SIMULATED_MARKER

        self.tree = FakePowercap(base)
        for entry, (name, _) in self.ZONES.items():
            self.tree.zone(entry, name, 0)
        self.root = self.tree.root
        (self.root / SIMULATED_MARKER).write_text("RAPL counters advanced by scripts/stack.py, not measured\n")
        self._energy = {entry: 0.0 for entry in self.ZONES}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rapl-simulator", daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.25):
            now = time.monotonic()
            for k, (entry, (_, watts)) in enumerate(self.ZONES.items()):
                wobble = 1 + 0.1 * ((int(now * 2) + k) % 5 - 2) / 2  # +-10 %, deterministic
                self._energy[entry] += watts * wobble * (now - last) * 1e6
                self._write_atomically(entry, int(self._energy[entry]))
            last = now

    def _write_atomically(self, entry: str, energy_uj: int) -> None:
        # sysfs reads are atomic; a plain rewrite could be read half-written.
        target = self.root / entry / "energy_uj"
        tmp = target.with_name("energy_uj.tmp")
        tmp.write_text(f"{energy_uj}\n")
        os.replace(tmp, target)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@dataclass
class TargetResult:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    series: int
    error: str | None = None

    @property
    def has_data(self) -> bool:
        return self.series > 0 and self.error is None


class LocalStack:
    """Start with `with LocalStack(workdir) as stack:`; everything stops on exit."""

    def __init__(self, workdir: Path, *, results_dir: Path = SAMPLE_RESULTS, prometheus: bool = False,
                 docker: bool = True, ffmpeg: bool = True, rtmp: bool = True, scrape_interval: str = "1s",
                 defer_feeders: bool = False):
        self.workdir = Path(workdir)
        # The live feeders and the busy container keep a CPU or more busy; a benchmark run first (the demo's) wants the machine
        # quiet during its idle baseline, or the runner rightly rejects it as not idle (issue 30):
        # `defer_feeders` holds them until `start_feeders()`.
        self.defer_feeders = defer_feeders
        self._feeders: list = []
        self.results_dir = Path(results_dir)
        self.want_prometheus = prometheus
        self.want_docker = docker
        self.want_ffmpeg = ffmpeg
        self.want_rtmp = rtmp
        self.rtmp_server = None
        self.scrape_interval = scrape_interval
        self.exporters: dict[str, Runtime] = {}
        self.sources: dict[str, str] = {}  # exporter -> what it reads here, for the report
        self.vm = None
        self.prometheus = None
        self.docker_engine = None
        self._stack = contextlib.ExitStack()

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_sources()
        for name in EXPORTERS:
            self._start_exporter(name, self._exporter_args(name))
        # The health checker probes the others where they really listen.
        targets = ",".join(f"{n}=http://127.0.0.1:{rt.port}/metrics" for n, rt in self.exporters.items())
        self._start_exporter("health", ["--targets", targets, "--timeout", "2", "--refresh-interval", "2"])
        self.sources["health"] = f"probes the {len(self.exporters) - 1} exporters above"

        config = self.scrape_config()
        (self.workdir / "scrape.yml").write_text(config)
        self.vm = self._stack.enter_context(VictoriaMetrics(scrape_config_text=config))
        if self.want_prometheus:
            self.prometheus = self._stack.enter_context(Prometheus(config_text=config))
        # The cost exporter asks this VictoriaMetrics for scenarios without power samples.
        self.exporters["cost"].exporter.config.tsdb_url = self.vm.url

    def _start_sources(self) -> None:
        rapl = RaplSimulator(self.workdir / "powercap")
        rapl.start()
        self._stack.callback(rapl.stop)
        self.powercap_root = rapl.root
        self.sources["cpu"] = "simulated RAPL powercap tree (this machine has no RAPL)"

        self.sources["gpu"] = self._nvml_source()
        self.docker_url = self._docker_source()
        self.rtmp_stat_url = self._rtmp_source()

    def _nvml_source(self) -> str:
        import pynvml

        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            pynvml.nvmlShutdown()
            return f"real NVML, {count} GPU(s)"
        except pynvml.NVMLError:
            # GPU 1 is a Pascal card: no NVML energy counter, so the integrated power gauge has data too.
            pascal = FakeGpu(index=1, name="Tesla P4", power_mw=48_000, power_limit_mw=75_000,
                             errors={"nvmlDeviceGetTotalEnergyConsumption": pynvml.NVML_ERROR_NOT_SUPPORTED})
            fake = FakeNvml([FakeGpu(index=0), pascal], realtime=True)
            # (a function an older nvidia-ml-py lacks, e.g. nvmlDeviceGetTemperatureV, is left as the fake's)
            saved = {name: getattr(pynvml, name) for name in NVML_FUNCTIONS if hasattr(pynvml, name)}
            fake.install()
            self._stack.callback(lambda: [setattr(pynvml, n, f) for n, f in saved.items()])
            return "simulated NVML with 2 GPUs (no NVIDIA driver here)"

    def _docker_source(self) -> str | None:
        if not self.want_docker:
            self.sources["docker"] = "disabled"
            return None
        try:
            engine = self._stack.enter_context(DockerEngine())
        except ServerUnavailableError as exc:  # no dockerd here, or not root
            self.sources["docker"] = f"cannot start a private dockerd ({exc}): no container data"
            return None
        self._feeder(lambda: engine.run_busy(name="encoder-busy"))   # burns one core (a load: deferrable)
        engine.run_busy(name="encoder-idle", command="sleep 100000")  # idles
        self.docker_engine = engine
        self.sources["docker"] = "real Docker Engine (private dockerd) with 2 busybox containers"
        return engine.base_url

    def _rtmp_source(self) -> str | None:
        """A real nginx-rtmp with two publishers and a player; None (and a note) when the
        machine has no nginx with the RTMP module or no ffmpeg."""
        if not self.want_rtmp:
            self.sources["rtmp"] = "disabled"
            return None
        try:
            find_rtmp_module(find_nginx())
        except RtmpServerError as exc:
            self.sources["rtmp"] = f"no nginx-rtmp on this machine ({exc}): no RTMP data"
            return None
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            self.sources["rtmp"] = "no ffmpeg on this machine: nothing publishes, no RTMP data"
            return None
        # Recording on, so a runner publishing here (the demo's live scenarios) can score
        # what the server delivered.
        self.rtmp_record_dir = self.workdir / "nginx-rtmp" / "records"
        server = self._stack.enter_context(RtmpServer(self.workdir / "nginx-rtmp", record_dir=self.rtmp_record_dir))
        self._feeder(self._started(RtmpFeeder(ffmpeg, server.rtmp_url, self.workdir / "nginx-rtmp")))
        self.rtmp_server = server
        self.sources["rtmp"] = (f"real nginx-rtmp on {server.rtmp_url} (pid {server.pid}): 2 ffmpeg streams "
                                "publishing, 1 playing back")
        return server.stat_url

    def _feeder(self, start: Callable[[], object]) -> None:
        """Start a load (a live feeder, the busy container) now, or at `start_feeders()` when deferred."""
        self._feeders.append(start)
        if not self.defer_feeders:
            start()

    def _started(self, feeder) -> Callable[[], None]:
        def start() -> None:
            feeder.start()
            self._stack.callback(feeder.stop)

        return start

    def start_feeders(self) -> None:
        """Start the feeders held back by `defer_feeders` (idempotent)."""
        if self.defer_feeders:
            self.defer_feeders = False
            for start in self._feeders:
                start()

    def _exporter_args(self, name: str) -> list[str]:
        results = ["--results-dir", str(self.results_dir)]
        return {
            "cpu": ["--powercap-root", str(self.powercap_root), "--sample-interval", "0.5",
                    "--refresh-interval", "0.5"],
            "docker": ["--docker-host", self.docker_url or "unix:///nonexistent/docker.sock",
                       "--refresh-interval", "1"],
            "results": results,
            "qoe": results,
            "cost": results + ["--tsdb-url", ""],  # set once VictoriaMetrics is up
            "gpu": ["--refresh-interval", "1"],
            "ffmpeg": ["--stream-timeout", "10"],
            # nowhere (port 9 is discard) when there is no nginx-rtmp: up 0, /health says why
            "rtmp": ["--stat-url", self.rtmp_stat_url or "http://127.0.0.1:9/stat", "--stat-timeout", "1"],
            # the real /proc: the feeders' ffmpeg processes are live streams ffwatt did not start
            "streams": ["--powercap-root", str(self.powercap_root), "--refresh-interval", "1"],
        }.get(name)

    def _start_exporter(self, name: str, args: list[str] | None) -> None:
        if args is None:  # the health checker is started once the others listen
            return
        runtime = build(load(name), ["--listen-address", "127.0.0.1", "--port", "0", *args], environ={})
        runtime.start()
        self._stack.callback(runtime.stop)
        self.exporters[name] = runtime
        if name in ("results", "qoe", "cost"):
            self.sources[name] = f"sample results in {_relative(self.results_dir)}"
        if name == "streams":
            self.sources[name] = ("the ffmpeg processes on this machine (the publishers to nginx-rtmp among them), "
                                  "charged the simulated RAPL tree's and NVML's energy")
        if name == "ffmpeg":
            if self.want_ffmpeg and shutil.which("ffmpeg"):
                self._feeder(self._started(FfmpegFeeder(f"http://127.0.0.1:{runtime.port}", self.workdir / "ffmpeg")))
                self.sources["ffmpeg"] = "real ffmpeg: 2 libx264 encodes of a test source pushing -progress"
            else:
                self.sources["ffmpeg"] = "no ffmpeg on this machine: no live streams"

    # --- scraping -------------------------------------------------------------------------
    def scrape_config(self) -> str:
        from ffwatt.deploy.scrape import render_scrape_config

        targets = {name: [f"127.0.0.1:{rt.port}"] for name, rt in self.exporters.items()}
        return render_scrape_config(targets, scrape_interval_override=self.scrape_interval)

    def tsdbs(self) -> dict[str, object]:
        out = {"VictoriaMetrics": self.vm}
        if self.prometheus is not None:
            out["Prometheus"] = self.prometheus
        return out

    def wait_until_scraped(self, timeout: float = 60.0) -> None:
        """Until every exporter is up in every TSDB and rates have two samples to work on."""
        want = len(self.exporters)
        for name, tsdb in self.tsdbs().items():
            tsdb.wait_query('count(up{job=~"ffwatt-.*"} == 1)',
                            lambda r: r and float(r[0]["value"][1]) >= want, timeout=timeout)
            log.info("%s scrapes all %d exporters", name, want)
        # rate() needs at least two samples of a counter inside its window.
        time.sleep(5)

    # --- the panel check ------------------------------------------------------------------
    def check_panels(self, tsdb) -> list[TargetResult]:
        from ffwatt.dashboards_src.queries import iter_targets

        results = []
        for t in iter_targets():
            expr = substitute_variables(t.expr)
            try:
                result = tsdb.query(expr)
                series = len(result) if isinstance(result, list) else 0
                error = None
            except Exception as exc:  # report it in the table; the caller decides
                series, error = 0, str(exc)
            results.append(TargetResult(t.dashboard, t.panel, t.ref_id, expr, series, error))
        return results

    def health(self) -> dict[str, str]:
        out = {}
        for name, rt in self.exporters.items():
            try:
                out[name] = fetch(f"http://127.0.0.1:{rt.port}/health", 5).json()["status"]
            except HttpError as exc:
                out[name] = f"unreachable: {exc}"
        return out


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use scripts/demo.py (make demo)")
