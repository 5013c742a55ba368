"""What the streams collector costs on a host running 50 encoder processes (issue 32).

streams_section: 50 processes named ffmpeg, each a `sh` started under that name (the kernel's `comm`
is the name of the file executed) with a real encoder's command line (RTMP output with a secret key,
codec, size, bitrate), blocked in the shell's own `read` on a pipe that never delivers: one process
per stream that uses no CPU itself, so what is measured is the collector. Then:

* the streams exporter alone, as its own process (`--refresh-interval 1`), once per energy source it
  can use here: the CPU model (no RAPL on this VM) and RAPL read from a simulated powercap tree. Its
  CPU time (/proc/<pid>/stat utime + stime, every thread) over `windows` windows of `seconds` each,
  after a warm-up, scraped every 5 s (the catalog's scrape interval): % of one core, the median of
  the windows and each window, for the whole process and for its refresh loop's thread alone;
* `ffwatt agent` with its default per-host exporters (cpu on the simulated tree, docker with no
  engine, gpu without a driver, ffmpeg, streams) beside the same 50 streams: resident memory (VmRSS,
  VmHWM) after as long, and the same agent without the streams exporter, for the difference.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from bench.procs import ExporterProcess, Process, free_port
from bench.sources import fake_powercap
from ffwatt.common import process
from ffwatt.readers.proc import read_stat

STREAMS = 50
NO_ENGINE = "unix:///nonexistent/ffwatt-bench-docker.sock"
SCRAPE_EVERY = 5.0
TARGET_PERCENT = 0.5


@contextlib.contextmanager
def encoder_trees(work: Path, count: int = STREAMS) -> Iterator[list[subprocess.Popen]]:
    """`count` processes named ffmpeg (module docstring), killed (their groups) on exit."""
    named = work / "bin" / "ffmpeg"
    named.parent.mkdir(parents=True, exist_ok=True)
    if not named.exists():
        named.symlink_to("/bin/sh")  # the kernel names a process after the file it executed: comm "ffmpeg"
    procs = []
    try:
        for i in range(count):
            argv = [str(named), "-c", "read line",  # a builtin: the shell blocks, no child process
                    "ffmpeg", "-re", "-i", f"/media/in{i}.mp4", "-c:v", "libx264", "-s", "1280x720", "-b:v", "2500k",
                    "-f", "flv", f"rtmp://127.0.0.1/live/channel{i}-secretkey{i:04d}"]
            procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
        yield procs
    finally:
        for p in procs:
            process.kill(p)
            p.stdin.close()


def _scrape(session: requests.Session, url: str) -> None:
    with contextlib.suppress(requests.RequestException):
        session.get(url + "/metrics", timeout=5)


def _threads(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of `pid` (/proc/<pid>/task/<tid>/stat)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = read_stat(int(tid), f"/proc/{pid}/task")
        if stat is not None:
            out[int(tid)] = stat.own_seconds
    return out


def cpu_percent_windows(proc: Process, *, windows: int, seconds: float, warmup: float
                        ) -> tuple[list[float], list[float]]:
    """% of one core `proc` used in each window (CPU seconds / wall seconds), scraped every 5 s over one
    connection; and its busiest thread's (the refresh loop: the scrapes run in a handler thread)."""
    time.sleep(warmup)
    whole, busiest = [], []
    session = requests.Session()  # one kept-alive connection, as Prometheus and VictoriaMetrics scrape
    _scrape(session, proc.url)
    for _ in range(windows):
        before, threads, began = proc.stat().cpu_seconds, _threads(proc.pid), time.monotonic()
        while (left := seconds - (time.monotonic() - began)) > 0:
            _scrape(session, proc.url)
            time.sleep(min(SCRAPE_EVERY, left))
        wall = time.monotonic() - began
        whole.append(100 * (proc.stat().cpu_seconds - before) / wall)
        after = _threads(proc.pid)
        busiest.append(100 * max(after[t] - threads.get(t, 0.0) for t in after) / wall)
    return whole, busiest


class Agent(Process):
    """`python -m ffwatt agent` on loopback with the exporters given, ready when each refreshed."""

    ready_path = "/health"
    ready_statuses = None

    def __init__(self, exporters: tuple[str, ...], *, workdir: Path, powercap_root: Path):
        self.ports = {name: free_port() for name in exporters}
        flags = [a for name, port in self.ports.items() for a in (f"--{name}.port", str(port))]
        extra = {"cpu": ["--cpu.powercap-root", str(powercap_root), "--cpu.hwmon-root", ""],
                 "docker": ["--docker.docker-host", NO_ENGINE],
                 "streams": ["--streams.powercap-root", str(powercap_root)]}
        argv = [sys.executable, "-m", "ffwatt", "agent", "--exporters", ",".join(exporters),
                "--listen-address", "127.0.0.1", *flags, *(a for name in exporters for a in extra.get(name, []))]
        super().__init__("agent-" + "-".join(exporters), argv, workdir=workdir, port=next(iter(self.ports.values())))

    def ready(self, answer) -> bool:
        return all(requests.get(f"http://127.0.0.1:{p}/health", timeout=5).json().get("refreshes", 0) > 0
                   for p in self.ports.values())


def _collector(work: Path, source: str, tree_root: Path) -> ExporterProcess:
    powercap = "" if source == "model" else str(tree_root)
    return ExporterProcess("streams", "--refresh-interval", "1", "--powercap-root", powercap, "--nvml", "false",
                           workdir=work / "logs", module=["ffwatt.exporters", "streams"], label=f"streams-{source}")


def streams_section(work: Path, *, windows: int = 5, seconds: float = 20.0, warmup: float = 5.0,
                    log: Callable[[str], None] = print) -> dict:
    work = Path(work) / "streams"
    tree = fake_powercap(work / "powercap")
    out: dict = {"streams": STREAMS, "refresh_seconds": 1.0, "scrape_every_seconds": SCRAPE_EVERY,
                 "windows": windows, "window_seconds": seconds, "target_percent": TARGET_PERCENT,
                 "collector": {}, "agent": {}}
    with encoder_trees(work) as trees:
        log(f"  {len(trees)} processes named ffmpeg running")
        for source in ("model", "rapl"):
            with _collector(work, source, tree.root) as collector:
                found = collector.health()["details"]["last_scan"]["found"]
                percents, refresh = cpu_percent_windows(collector, windows=windows, seconds=seconds, warmup=warmup)
                stat = collector.stat()
                energy = collector.health()["details"]["energy"]["source"]
            out["collector"][source] = {"found": found, "energy_source": energy, "cpu_percent_windows": percents,
                                        "cpu_percent_median": statistics.median(percents),
                                        "refresh_thread_percent_windows": refresh,
                                        "refresh_thread_percent": statistics.median(refresh),
                                        "rss_bytes": stat.rss_bytes}
            log(f"  collector ({energy}, {found} streams): median {statistics.median(percents):.3f} % of a core")
        for name, exporters in (("with_streams", ("cpu", "docker", "gpu", "ffmpeg", "streams")),
                                ("without_streams", ("cpu", "docker", "gpu", "ffmpeg"))):
            with Agent(exporters, workdir=work / "logs", powercap_root=tree.root) as agent:
                time.sleep(warmup + seconds)
                stat = agent.stat()
            out["agent"][name] = {"exporters": list(exporters), "rss_bytes": stat.rss_bytes,
                                  "peak_rss_bytes": stat.hwm_bytes, "threads": stat.threads}
            log(f"  agent {name}: RSS {stat.rss_bytes / 2**20:.1f} MiB (peak {stat.hwm_bytes / 2**20:.1f} MiB)")
    out["machine_cpus"] = os.cpu_count()
    return out


def targets(section: dict | None, agent_rss_mb: float) -> list[tuple[str, str, bool, str]]:
    """(target, measured, met, margin) for bench.md: the collector under 0.5 % of a core at 1 s, per source;
    the agent with it under `agent_rss_mb` MB resident (the agent's own target)."""
    if not section:
        return []
    with_streams, without = (section["agent"][k]["rss_bytes"] / 1e6 for k in ("with_streams", "without_streams"))
    out = [(f"the agent with the streams exporter beside {section['streams']} ffmpeg processes under "
            f"{agent_rss_mb:g} MB resident", f"{with_streams:.1f} MB ({without:.1f} MB without the streams exporter)",
            with_streams < agent_rss_mb, f"{abs(agent_rss_mb - with_streams):.1f} MB "
                                         f"{'under' if with_streams < agent_rss_mb else 'over'}")]
    for source, row in section["collector"].items():
        v = row["cpu_percent_median"]
        over = "under" if v < TARGET_PERCENT else "over"
        out.append((f"streams collector with {section['streams']} ffmpeg processes under {TARGET_PERCENT:g} % of "
                     f"a core at a {section['refresh_seconds']:g} s refresh ({source}; the whole exporter process, "
                     "scrapes included)",
                     f"median {v:.3f} % of {len(row['cpu_percent_windows'])} windows of {section['window_seconds']:g} "
                     f"s (CPU time); its refresh thread alone {row['refresh_thread_percent']:.3f} %",
                     v < TARGET_PERCENT, f"{abs(TARGET_PERCENT - v):.3f} % of a core {over} "
                                         f"({v / TARGET_PERCENT:.0%} of the limit)"))
    return out


def markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    mib = 2**20
    lines = ["## Streams collector: 50 encoder processes on the host", "",
             f"{section['streams']} processes named ffmpeg (a `sh` started as `ffmpeg` with an encoder's RTMP "
             "command line, blocked in its own `read`: no CPU of their own); the streams exporter as its own "
             f"process at a {section['refresh_seconds']:g} s refresh, scraped every "
             f"{section['scrape_every_seconds']:g} s; its CPU time (utime + stime) per wall second over "
             f"{section['windows']} windows of {section['window_seconds']:g} s.", "",
             "| energy source | streams found | % of a core, median | each window | refresh thread, median "
             "| RSS MiB |", "|---|---:|---:|---|---:|---:|"]
    for source, row in section["collector"].items():
        each = ", ".join(f"{p:.3f}" for p in row["cpu_percent_windows"])
        lines.append(f"| {source} ({row['energy_source']}) | {row['found']} | {row['cpu_percent_median']:.3f} "
                     f"| {each} | {row['refresh_thread_percent']:.3f} | {row['rss_bytes'] / mib:.1f} |")
    lines += ["", "`ffwatt agent` beside the same trees (cpu on a simulated powercap tree, docker without an "
              "engine, gpu without a driver):", "", "| agent | exporters | RSS MiB | peak RSS MiB | threads |",
              "|---|---|---:|---:|---:|"]
    for name, row in section["agent"].items():
        lines.append(f"| {name.replace('_', ' ')} | {', '.join(row['exporters'])} | {row['rss_bytes'] / mib:.1f} "
                     f"| {row['peak_rss_bytes'] / mib:.1f} | {row['threads']} |")
    return lines + [""]
