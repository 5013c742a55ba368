"""Scrape latency, CPU and memory of every exporter process, beside node-exporter.

The client scrapes like Prometheus: a keep-alive session per scraper
(requests.Session), Prometheus's Accept header (OpenMetrics first) and
`Accept-Encoding: gzip`. Latency is the client's wall time from sending the request
to having read the whole body. Phases, all bounded in count and time:

1. warm-up: a few scrapes of each target;
2. idle: nobody scrapes for IDLE_SECONDS; CPU (utime+stime) over the window as % of a
   core, resident memory (VmRSS) at its end;
3. 1 s scrape: PACED_COUNT scrapes of each target, one per second, the targets
   staggered within the second; latency p50/p99, CPU % of a core, VmRSS;
3b. the same pace with a lean client (http.client keep-alive with TCP_NODELAY, as Go's
   HTTP client that Prometheus uses sets it): latency p50/p99 without the ~1-2 ms that
   requests itself spends reading a 150 KB body on this machine;
4. burst: per target in turn, BURST_THREADS scrapers x BURST_PER_THREAD scrapes as fast
   as they go (1,000 scrapes): latency p50/p99, throughput, CPU seconds per 1,000
   scrapes, peak memory (VmHWM), failed scrapes.

The client is one Python process on the same 2 cores as the servers: under the burst,
latency includes the client's own queueing (the GIL), the same for every target.
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from bench.procs import Process

# What Prometheus 2.x sends when it scrapes (scrape/scrape.go: acceptHeader).
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
HEADERS = {"Accept": ACCEPT, "Accept-Encoding": "gzip", "User-Agent": "ffwatt-bench"}

WARMUP = 20
IDLE_SECONDS = 20.0
PACED_COUNT = 30
PACED_INTERVAL = 1.0
BURST_THREADS = 50
BURST_PER_THREAD = 20
REQUEST_TIMEOUT = 10.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Sampled:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    body_bytes: int = 0

    def add(self, other: Sampled) -> None:
        self.latencies += other.latencies
        self.failures += other.failures
        self.body_bytes = max(self.body_bytes, other.body_bytes)

    def summary(self) -> dict:
        return {"n": len(self.latencies), "p50_ms": _ms(percentile(self.latencies, 50)),
                "p99_ms": _ms(percentile(self.latencies, 99)), "max_ms": _ms(max(self.latencies, default=None)),
                "failures": len(self.failures), "first_failure": self.failures[0] if self.failures else None}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def scrape(session: requests.Session, url: str, into: Sampled) -> None:
    began = time.perf_counter()
    try:
        r = session.get(url, headers=HEADERS, timeout=REQUEST_TIMEOUT)
        body = r.content
        took = time.perf_counter() - began
    except requests.RequestException as exc:
        into.failures.append(f"{type(exc).__name__}: {exc}"[:300])
        return
    if r.status_code != 200 or not body:
        into.failures.append(f"HTTP {r.status_code}, {len(body)} bytes")
        return
    into.latencies.append(took)
    into.body_bytes = max(into.body_bytes, len(r.content))


class LeanSession:
    """Keep-alive GETs through http.client with TCP_NODELAY: little client overhead."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.conn.request("GET", path, headers=HEADERS)
            r = self.conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def scrape_lean(session: LeanSession, into: Sampled) -> None:
    began = time.perf_counter()
    try:
        status, body = session.get("/metrics")
    except (OSError, http.client.HTTPException) as exc:
        into.failures.append(f"{type(exc).__name__}: {exc}"[:300])
        return
    took = time.perf_counter() - began
    if status != 200 or not body:
        into.failures.append(f"HTTP {status}, {len(body)} bytes")
        return
    into.latencies.append(took)
    into.body_bytes = max(into.body_bytes, len(body))


def count_series(url: str) -> int:
    """Samples in the text exposition (lines that are not comments)."""
    text = requests.get(url, headers={"Accept": "text/plain"}, timeout=REQUEST_TIMEOUT).text
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def paced_all(targets: dict[str, Process], count: int, interval: float, lean: bool = False) -> dict[str, Sampled]:
    """`count` scrapes of every target, one per `interval`, targets staggered; with
    requests.Session, or with LeanSession when `lean`."""
    results = {name: Sampled() for name in targets}
    start = time.monotonic() + 0.2
    offsets = {name: i * interval / max(len(targets), 1) for i, name in enumerate(targets)}

    def worker(name: str, proc: Process) -> None:
        session = LeanSession(proc.port) if lean else requests.Session()
        try:
            for i in range(count):
                delay = start + offsets[name] + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if lean:
                    scrape_lean(session, results[name])
                else:
                    scrape(session, proc.url + "/metrics", results[name])
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(n, p), daemon=True) for n, p in targets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(count * interval + 60)
    return results


def burst(url: str, threads: int, per_thread: int) -> tuple[Sampled, float]:
    """`threads` scrapers, each doing `per_thread` scrapes back to back; (results, wall s)."""
    parts = [Sampled() for _ in range(threads)]
    gate = threading.Barrier(threads + 1)

    def worker(part: Sampled) -> None:
        with requests.Session() as s:
            scrape(s, url, Sampled())  # connect before the clock starts, as a scraper would be
            gate.wait(30)
            for _ in range(per_thread):
                scrape(s, url, part)

    pool = [threading.Thread(target=worker, args=(p,), daemon=True) for p in parts]
    for t in pool:
        t.start()
    gate.wait(30)
    began = time.perf_counter()
    for t in pool:
        t.join(per_thread * REQUEST_TIMEOUT + 30)
    wall = time.perf_counter() - began
    total = Sampled()
    for p in parts:
        total.add(p)
    return total, wall


def scrape_section(targets: dict[str, Process], *, idle_seconds: float = IDLE_SECONDS,
                   paced_count: int = PACED_COUNT, burst_threads: int = BURST_THREADS,
                   burst_per_thread: int = BURST_PER_THREAD, log: Callable[[str], None] = print) -> dict:
    rows: dict[str, dict] = {name: {} for name in targets}
    for name, proc in targets.items():
        with requests.Session() as s:
            for _ in range(WARMUP):
                scrape(s, proc.url + "/metrics", Sampled())
        rows[name]["series"] = count_series(proc.url + "/metrics")

    log(f"  idle: {idle_seconds:g} s, no scrapes")
    before = {n: p.stat() for n, p in targets.items()}
    began = time.monotonic()
    time.sleep(idle_seconds)
    elapsed = time.monotonic() - began
    for n, p in targets.items():
        after = p.stat()
        rows[n]["idle_cpu_percent"] = round(100 * (after.cpu_seconds - before[n].cpu_seconds) / elapsed, 3)
        rows[n]["idle_rss_bytes"] = after.rss_bytes

    log(f"  1 s scrape: {paced_count} scrapes of each target, one per second")
    before = {n: p.stat() for n, p in targets.items()}
    began = time.monotonic()
    paced = paced_all(targets, paced_count, PACED_INTERVAL)
    elapsed = time.monotonic() - began
    for n, p in targets.items():
        after = p.stat()
        rows[n]["paced"] = paced[n].summary()
        rows[n]["paced_cpu_percent"] = round(100 * (after.cpu_seconds - before[n].cpu_seconds) / elapsed, 3)
        rows[n]["paced_rss_bytes"] = after.rss_bytes
        rows[n]["paced_rss_anon_bytes"] = after.rss_anon_bytes
        rows[n]["paced_rss_file_bytes"] = after.rss_file_bytes
        rows[n]["body_bytes"] = paced[n].body_bytes

    log(f"  1 s scrape, lean client: {paced_count} scrapes of each target, one per second")
    lean = paced_all(targets, paced_count, PACED_INTERVAL, lean=True)
    for n in targets:
        rows[n]["paced_lean"] = lean[n].summary()

    for n, p in targets.items():
        log(f"  burst: {burst_threads} scrapers x {burst_per_thread} scrapes of {n}")
        before_stat = p.stat()
        sampled, wall = burst(p.url + "/metrics", burst_threads, burst_per_thread)
        after = p.stat()
        done = len(sampled.latencies) + len(sampled.failures)
        rows[n]["burst"] = sampled.summary()
        rows[n]["burst"]["wall_seconds"] = round(wall, 3)
        rows[n]["burst"]["scrapes_per_second"] = round(len(sampled.latencies) / wall, 1) if wall else None
        cpu = after.cpu_seconds - before_stat.cpu_seconds
        rows[n]["cpu_seconds_per_1000_scrapes"] = round(cpu * 1000 / done, 3) if done else None
        rows[n]["peak_rss_bytes"] = after.hwm_bytes
        rows[n]["threads_after_burst"] = after.threads
    return {
        "method": {
            "client": "requests.Session keep-alive, Prometheus Accept header, Accept-Encoding gzip",
            "warmup_scrapes": WARMUP, "idle_seconds": idle_seconds, "paced_scrapes": paced_count,
            "paced_interval_seconds": PACED_INTERVAL, "burst_threads": burst_threads,
            "burst_scrapes_per_thread": burst_per_thread,
        },
        "targets": rows,
    }
