"""Shared fixtures for the real servers (see tests/servers.py).

Session-scoped servers are shared by every test: use unique metric names or
label values per test, and do not stop/restart them (make your own
``VictoriaMetrics()`` / ``DockerEngine()`` for that).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import DockerEngine, NginxRtmp, VictoriaMetrics, integration_required

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: runs real servers or binaries (VictoriaMetrics, promtool, dockerd...)"
    )
    config.addinivalue_line("markers", "e2e: the whole pipeline end to end (exporters -> TSDB -> dashboard queries)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests under tests/integration and tests/e2e carry their marker
    # automatically, so `-m "not integration"` needs no bookkeeping.
    for item in items:
        try:
            rel = Path(str(item.path)).resolve().relative_to(_HERE)
        except ValueError:
            continue
        top = rel.parts[0] if rel.parts else ""
        if top == "integration":
            item.add_marker(pytest.mark.integration)
        elif top == "e2e":
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The static ffmpeg of imageio-ffmpeg (libvmaf, libx264, libx265, libsvtav1): the runner's default."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        if integration_required():
            pytest.fail(f"the static ffmpeg of imageio-ffmpeg is required here: {exc}")
        pytest.skip(f"imageio-ffmpeg's static ffmpeg is not available: {exc}")


@pytest.fixture(scope="session")
def victoriametrics() -> Iterator[VictoriaMetrics]:
    """One VictoriaMetrics for the session, no scrape config. Load data with
    ``import_prometheus``; read with ``wait_query``/``query``."""
    with VictoriaMetrics() as vm:
        yield vm


@pytest.fixture(scope="session")
def nginx_rtmp() -> Iterator[NginxRtmp]:
    """One private nginx-rtmp for the session (skips without nginx and its RTMP module).
    Publish to ``f"{nginx_rtmp.rtmp_url}/<unique stream>"``; read ``stat()``."""
    with NginxRtmp() as server:
        yield server


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """One private dockerd for the session (root only; skips otherwise)."""
    with DockerEngine() as engine:
        yield engine


@pytest.fixture
def busy_container(docker_engine: DockerEngine):
    """A running container burning one CPU on the session engine; removed after."""
    container = docker_engine.run_busy()
    yield container
    try:
        container.remove(force=True)
    except Exception:
        pass
