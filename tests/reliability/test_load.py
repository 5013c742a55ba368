"""Load: every exporter, each in its own process, under SCRAPERS concurrent keep-alive
scrapers at once for FFWATT_LOAD_SECONDS (default 60): no scrape fails and resident
memory stays flat.

Reading of "100 concurrent scrapers for 60 s against each exporter" on a 2-core machine:
one window in which all eight exporters each get their own 100 scrapers (800 keep-alive
connections, each scraping back to back with no pause), rather than eight windows one
after the other (8 minutes). The exporters run as separate processes (bench.fleet, the
same sources as `make bench`), so each one's memory is its own. The scrapers are asyncio
connections in one thread: 800 Python threads starve each other on the GIL (some got
their first turn only after 15 s), which would test the client, not the exporters. What
is tested is concurrency (100 open connections and handler threads per exporter, the
refresh loop running under them) and the absence of failures and leaks, not throughput.

Memory: VmRSS sampled every second; "after warm-up" is the highest reading in the first
quarter of the window (at most 15 s), "at the end" the last reading under load. Stable:
end <= max(warm-up x 1.2, warm-up + 10 MB).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

import pytest

from bench.fleet import Fleet, docker_available, start_docker_engine
from bench.scrape import ACCEPT
from tests.reliability.helpers import UP

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

LOAD_SECONDS = float(os.environ.get("FFWATT_LOAD_SECONDS", "60"))
SCRAPERS = int(os.environ.get("FFWATT_LOAD_SCRAPERS", "100"))
MB = 1024 * 1024


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("load")
    with contextlib.ExitStack() as stack:
        engine = None
        if docker_available() is None:
            engine = start_docker_engine()
            stack.callback(engine.close)
        # without an engine the docker exporter still runs and serves its engine-down state
        running = stack.enter_context(Fleet(work, engine, log=lambda _m: None, node_exporter=False,
                                            docker_host=f"unix://{work}/no-docker.sock"))
        yield running


async def _scraper(port: int, stop_at: float, failures: list[str], done: list[int], slot: int) -> None:
    """One keep-alive scraper: GET /metrics back to back until stop_at; reconnects after a failure."""
    request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {ACCEPT}\r\n\r\n".encode()
    reader = writer = None
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status = head.split(b" ", 2)[1]
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is None:
                raise ValueError(f"no Content-Length in {head[:200]!r}")
            body = await asyncio.wait_for(reader.readexactly(length), 30)
            if status != b"200" or UP not in body:
                raise ValueError(f"HTTP {status.decode()}, {len(body)} bytes")
            done[slot] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}"[:300])
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _load(targets, seconds: float, failures, done) -> None:
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds
    await asyncio.gather(*(_scraper(proc.port, stop_at, failures[name], done[name], k)
                           for name, proc in targets.items() for k in range(SCRAPERS)))


def test_concurrent_scrapers_never_fail_and_memory_stays_flat(fleet, record_property):
    targets = fleet.targets
    assert len(targets) == 8, sorted(targets)
    failures: dict[str, list[str]] = {n: [] for n in targets}
    done: dict[str, list[int]] = {n: [0] * SCRAPERS for n in targets}
    rss: dict[str, list[tuple[float, int]]] = {n: [] for n in targets}
    stop = threading.Event()
    begin = time.monotonic()

    def monitor() -> None:
        while not stop.is_set():
            for name, proc in targets.items():
                if proc.alive:
                    rss[name].append((time.monotonic() - begin, proc.stat().rss_bytes))
            stop.wait(1.0)

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    try:
        asyncio.run(asyncio.wait_for(_load(targets, LOAD_SECONDS, failures, done), LOAD_SECONDS + 120))
    finally:
        stop.set()
        watcher.join(10)

    dead = [n for n, p in targets.items() if not p.alive]
    assert not dead, f"exporter processes died under load: {dead}"
    failed = {n: (len(f), f[:3]) for n, f in failures.items() if f}
    assert not failed, f"failed scrapes: {failed}"
    for name in targets:
        assert all(done[name]), f"{name}: {done[name].count(0)} of {SCRAPERS} scrapers never got an answer"

    warm_until = min(15.0, LOAD_SECONDS / 4)
    grown = {}
    for name, readings in rss.items():
        warm = max(v for t, v in readings if t <= warm_until)
        end = readings[-1][1]
        record_property(f"{name}_rss_mb", f"{warm / MB:.1f} -> {end / MB:.1f}")
        record_property(f"{name}_scrapes", sum(done[name]))
        if end > max(warm * 1.2, warm + 10 * MB):
            grown[name] = f"{warm / MB:.1f} MB after warm-up -> {end / MB:.1f} MB at the end"
    assert not grown, f"resident memory grew under load: {grown}"
