"""Docker exporter: per-container CPU, memory, network and block IO from the Engine API.

Each refresh (the runtime's background loop, never a scrape) lists the running
containers and fetches every container's stats concurrently on a bounded thread
pool. With API >= 1.41 the stats call is `one-shot` (about 10 ms instead of the
~1-2 s the daemon otherwise spends sampling twice); older daemons get the plain
`stream=false` call, still concurrent and still in the background.

Metric families are rebuilt on every refresh, so a container that stops leaves
/metrics at the next refresh. When the daemon cannot be reached the exporter keeps
running: `ffwatt_docker_engine_up` is 0, no container series are served (the
container count is left out: unknown), /health says degraded with the reason, and
the client is re-created on the next refresh, so the exporter recovers on its own
when the daemon comes back.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import docker
import requests
from docker import errors as docker_errors
from docker.utils import kwargs_from_env, version_gte

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import Setting, positive_float, positive_int
from ffwatt.exporters.labels import MAX_LABEL_LENGTH, LongLabels
from ffwatt.exporters.runtime import Exporter
from ffwatt.exporters.samples import Samples

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
ONE_SHOT_API = "1.41"
# The daemon answers stats of a container that is no longer running with this.
_ZERO_TIME = "0001-01-01T00:00:00"


@dataclass(frozen=True)
class ContainerReading:
    """One container's stats, in base units. None: the daemon did not report it."""

    cpu_seconds: float | None
    memory_working_set_bytes: float | None
    memory_limit_bytes: float | None
    network_receive_bytes: float | None
    network_transmit_bytes: float | None
    block_read_bytes: float | None
    block_write_bytes: float | None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def is_running_stats(stats: dict) -> bool:
    """False for the empty answer the daemon gives for a container that just stopped."""
    read = stats.get("read")
    return isinstance(read, str) and not read.startswith(_ZERO_TIME)


def working_set(memory_stats: dict) -> float | None:
    """usage minus inactive file cache, as `docker stats` computes it.

    cgroup v1 reports the hierarchical `total_inactive_file` (preferred when present),
    cgroup v2 `inactive_file`."""
    usage = _number(memory_stats.get("usage"))
    if usage is None:
        return None
    detail = _dict(memory_stats.get("stats"))
    for key in ("total_inactive_file", "inactive_file"):
        inactive = _number(detail.get(key))
        if inactive is not None and inactive < usage:
            return usage - inactive
    return usage


def block_io(blkio_stats: dict) -> tuple[float | None, float | None]:
    """(read, write) bytes summed over devices; (None, None) when not reported."""
    entries = blkio_stats.get("io_service_bytes_recursive")
    if not isinstance(entries, list):
        return None, None
    read = write = 0.0
    for entry in entries:
        entry = _dict(entry)
        op = str(entry.get("op", "")).lower()
        value = _number(entry.get("value")) or 0.0
        if op == "read":
            read += value
        elif op == "write":
            write += value
    return read, write


def network_io(stats: dict) -> tuple[float, float]:
    """(received, sent) bytes summed over interfaces.

    A container without interfaces (`--network none`: only loopback, which the daemon
    does not report) has sent and received 0 bytes over its interfaces: 0, not absent."""
    rx = tx = 0.0
    for iface in _dict(stats.get("networks")).values():
        iface = _dict(iface)
        rx += _number(iface.get("rx_bytes")) or 0.0
        tx += _number(iface.get("tx_bytes")) or 0.0
    return rx, tx


def read_container(stats: dict) -> ContainerReading:
    """Turn one Engine API stats document into base-unit readings."""
    cpu_ns = _number(_dict(_dict(stats.get("cpu_stats")).get("cpu_usage")).get("total_usage"))
    memory = _dict(stats.get("memory_stats"))
    rx, tx = network_io(stats)
    blk_read, blk_write = block_io(_dict(stats.get("blkio_stats")))
    return ContainerReading(
        cpu_seconds=None if cpu_ns is None else cpu_ns / 1e9,
        memory_working_set_bytes=working_set(memory),
        memory_limit_bytes=_number(memory.get("limit")),
        network_receive_bytes=rx,
        network_transmit_bytes=tx,
        block_read_bytes=blk_read,
        block_write_bytes=blk_write,
    )


def container_name(names: object, container_id: str) -> str:
    """The container's own name without the leading '/' (link aliases like /a/b skipped)."""
    if isinstance(names, list):
        plain = [n.lstrip("/") for n in names if isinstance(n, str)]
        for name in plain:
            if name and "/" not in name:
                return name
        if plain and plain[0]:
            return plain[0]
    return container_id[:12]


class DockerExporter(Exporter):
    name = "docker"
    settings = (
        Setting("docker-host", "",
                "Docker Engine API address: unix:///path/docker.sock or tcp://host:port. "
                f"Empty: $DOCKER_HOST when set, else {DEFAULT_DOCKER_HOST}."),
        Setting("stats-workers", 32, "Containers whose stats are fetched concurrently.", positive_int),
        Setting("stats-timeout", 5.0,
                "Seconds to wait for the container list and for each container's stats.", positive_float),
        MAX_LABEL_LENGTH,
    )

    def __init__(self, config):
        super().__init__(config)
        self.docker_host = config.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        self.workers = int(config.stats_workers)
        self.timeout = float(config.stats_timeout)
        self.max_label = int(config.max_label_length)
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="docker-stats")
        self._api_version: str | None = None
        self._one_shot = False
        self._containers = 0
        self._engine_up = False
        self._last_failures: list[str] = []

    # --- client ----------------------------------------------------------------------
    def _connect(self) -> docker.APIClient:
        with self._client_lock:
            if self._client is None:
                # TLS settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) as the docker CLI reads them.
                tls = kwargs_from_env(environment=os.environ).get("tls", False)
                client = docker.APIClient(base_url=self.docker_host, version="auto", timeout=self.timeout,
                                          tls=tls, max_pool_size=max(10, self.workers + 2))
                self._api_version = client.api_version
                self._one_shot = version_gte(client.api_version, ONE_SHOT_API)
                self.log.info("connected to Docker Engine at %s (API %s, one-shot stats %s)",
                              self.docker_host, client.api_version, "on" if self._one_shot else "off")
                self._client = client
            return self._client

    def _drop_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a dead connection pool must not matter
                pass

    def _stats(self, client: docker.APIClient, container_id: str) -> dict:
        if self._one_shot:
            return client.stats(container_id, stream=False, one_shot=True)
        return client.stats(container_id, stream=False)

    # --- refresh ---------------------------------------------------------------------
    def refresh(self, out: Samples) -> None:
        try:
            client = self._connect()
            listed = client.containers(filters={"status": "running"})
        except (docker_errors.DockerException, requests.RequestException, OSError) as exc:
            self._drop_client()
            self._engine_up = False
            self._containers = 0
            out.add(m.DOCKER_ENGINE_UP, 0)
            # fail(), not raise: serve "engine down, no containers" rather than the last
            # good data, which would show dead containers as alive.
            out.fail(f"Docker Engine at {self.docker_host} unreachable: {_reason(exc)}")
            return

        long_labels = LongLabels(self.max_label, "container")
        labelled = [c for c in listed if long_labels.allows(container=_label(c)[0], image=_label(c)[2])]
        futures = {self._pool.submit(self._stats, client, c["Id"]): c for c in labelled}
        done, pending = wait(futures, timeout=self.timeout + 1.0)
        failures: list[str] = []
        for future in pending:
            future.cancel()
            failures.append(f"{_label(futures[future])[0]}: no stats within {self.timeout:g}s")
        running = 0
        for future in done:
            listing = futures[future]
            name, short_id, image = _label(listing)
            try:
                stats = future.result()
            except docker_errors.NotFound:
                continue  # removed since the list: it is gone, not an error
            except (docker_errors.DockerException, requests.RequestException, OSError) as exc:
                failures.append(f"{name}: {_reason(exc)}")
                continue
            if not isinstance(stats, dict) or not is_running_stats(stats):
                continue  # stopped since the list
            running += 1
            reading = read_container(stats)
            labels = {"container": name, "id": short_id}
            out.add(m.DOCKER_CONTAINER_INFO, 1, image=image, **labels)
            out.add(m.DOCKER_CPU, reading.cpu_seconds, **labels)
            out.add(m.DOCKER_MEMORY_WORKING_SET, reading.memory_working_set_bytes, **labels)
            out.add(m.DOCKER_MEMORY_LIMIT, reading.memory_limit_bytes, **labels)
            out.add(m.DOCKER_NETWORK_RECEIVE, reading.network_receive_bytes, **labels)
            out.add(m.DOCKER_NETWORK_TRANSMIT, reading.network_transmit_bytes, **labels)
            out.add(m.DOCKER_BLOCK_READ, reading.block_read_bytes, **labels)
            out.add(m.DOCKER_BLOCK_WRITE, reading.block_write_bytes, **labels)

        self._engine_up = True
        self._containers = len(listed)
        self._last_failures = failures[:10]
        out.add(m.DOCKER_ENGINE_UP, 1)
        out.add(m.DOCKER_CONTAINERS, len(listed))
        if failures:
            out.warn(f"stats failed for {len(failures)} of {len(listed)} container(s): {failures[0]}")
        if long_labels.warning():
            out.warn(long_labels.warning())

    def health_details(self) -> dict:
        return {
            "docker_host": self.docker_host,
            "engine_up": self._engine_up,
            "api_version": self._api_version,
            "one_shot_stats": self._one_shot,
            "containers": self._containers,
            "stats_workers": self.workers,
            "stats_timeout_seconds": self.timeout,
            "max_label_length": self.max_label,
            "last_stats_failures": list(self._last_failures),
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._drop_client()


def _label(listing: dict) -> tuple[str, str, str]:
    container_id = str(listing.get("Id", ""))
    return container_name(listing.get("Names"), container_id), container_id[:12], str(listing.get("Image", ""))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
