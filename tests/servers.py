"""Real servers on loopback for integration tests: the `servers` package's launchers, with the
tests' policy for a machine that lacks one.

Every server is the real binary (VictoriaMetrics, vmalert, Prometheus, promtool, dockerd,
nginx-rtmp) started in a private temp dir (see `servers`). A missing binary (root, module)
skips the test with a reason, unless the environment asks for the real thing
(`FFWATT_REQUIRE_INTEGRATION=1` or `CI=true`); then it fails.
`scripts/install-system-deps.sh` installs the binaries on Debian/Ubuntu.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from ffwatt.common.process import free_port, wait_http
from ffwatt.common.server import ServerStartError, ServerUnavailableError, find_binary
from ffwatt.readers.tsdb import TsdbError
from ffwatt.runner.execute import rtmp_server as rtmp
from ffwatt.testing.servers import docker, tsdb, vmagent, vmalert
from ffwatt.testing.servers.docker import BUSYBOX_IMAGE
from ffwatt.testing.servers.vmalert import AlertSink

__all__ = [
    "ServerStartError",
    "TsdbError",
    "integration_required",
    "require_binary",
    "require_root",
    "require_rtmp_module",
    "free_port",
    "wait_http",
    "VictoriaMetrics",
    "dry_run_scrape_config",
    "Prometheus",
    "promtool",
    "promtool_check_metrics",
    "VMAlert",
    "vmalert_dry_run",
    "VmAgent",
    "vmagent_dry_run",
    "AlertSink",
    "DockerEngine",
    "BUSYBOX_IMAGE",
    "NginxRtmp",
]


# --------------------------------------------------------------------------
# skip-or-fail policy


def integration_required() -> bool:
    """True when missing binaries must fail the run instead of skipping."""
    return os.environ.get("FFWATT_REQUIRE_INTEGRATION", "") == "1" or os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if integration_required():
        pytest.fail(
            f"{reason} (integration tests are required here: FFWATT_REQUIRE_INTEGRATION=1 or CI=true)",
            pytrace=False,
        )
    pytest.skip(reason)


@contextlib.contextmanager
def _or_skip() -> Iterator[None]:
    """What this machine lacks (`ServerUnavailableError`) skips, or fails under CI."""
    try:
        yield
    except ServerUnavailableError as e:
        _unavailable(str(e))


def require_binary(name: str) -> str:
    """Absolute path of `name` on PATH (or the sbin dirs), else skip/fail."""
    with _or_skip():
        return find_binary(name)
    raise AssertionError("unreachable")  # _unavailable raised


def require_rtmp_module() -> None:
    """nginx's RTMP module on disk (or built in), else skip/fail naming the package."""
    with _or_skip():
        rtmp.find_rtmp_module(rtmp.find_nginx())


def require_root(what: str = "this test") -> None:
    if os.geteuid() != 0:
        _unavailable(f"{what} needs root")


# --------------------------------------------------------------------------
# the launchers, skipping where the machine lacks what they need


class VictoriaMetrics(tsdb.VictoriaMetrics):
    __doc__ = tsdb.VictoriaMetrics.__doc__

    def __init__(self, *args, **kwargs) -> None:
        with _or_skip():
            super().__init__(*args, **kwargs)


class Prometheus(tsdb.Prometheus):
    __doc__ = tsdb.Prometheus.__doc__

    def __init__(self, *args, **kwargs) -> None:
        with _or_skip():
            super().__init__(*args, **kwargs)


class VMAlert(vmalert.VMAlert):
    __doc__ = vmalert.VMAlert.__doc__

    def __init__(self, *args, **kwargs) -> None:
        with _or_skip():
            super().__init__(*args, **kwargs)


class VmAgent(vmagent.VmAgent):
    __doc__ = vmagent.VmAgent.__doc__

    def __init__(self, *args, **kwargs) -> None:
        with _or_skip():
            super().__init__(*args, **kwargs)


class DockerEngine(docker.DockerEngine):
    __doc__ = docker.DockerEngine.__doc__

    def __init__(self, *args, **kwargs) -> None:
        with _or_skip():
            super().__init__(*args, **kwargs)

    def busybox_image(self, tag: str = BUSYBOX_IMAGE) -> str:
        with _or_skip():
            return super().busybox_image(tag)
        raise AssertionError("unreachable")


class NginxRtmp(rtmp.RtmpServer):
    """nginx with the RTMP module, started exactly as the runner starts it, in a private temp
    dir on free loopback ports; `record=True` records every published stream under
    `record_dir`. Skips (or fails under CI) when nginx or its RTMP module is missing."""

    def __init__(self, *, record: bool = False, rtmp_port: int | None = None, http_port: int | None = None,
                 start_timeout: float = 30.0) -> None:
        nginx = require_binary("nginx")
        require_rtmp_module()
        super().__init__(nginx=nginx, rtmp_port=rtmp_port, http_port=http_port, start_timeout=start_timeout)
        if record:
            self.record_dir = self.work_dir / "recordings"


def _checker(run):
    def checked(*args, **kwargs):
        with _or_skip():
            return run(*args, **kwargs)
        raise AssertionError("unreachable")

    checked.__name__, checked.__doc__ = run.__name__, run.__doc__
    return checked


dry_run_scrape_config = _checker(tsdb.dry_run_scrape_config)
promtool = _checker(tsdb.promtool)
promtool_check_metrics = _checker(tsdb.promtool_check_metrics)
vmalert_dry_run = _checker(vmalert.vmalert_dry_run)
vmagent_dry_run = _checker(vmagent.vmagent_dry_run)
