"""Where a run's live streams publish: the RTMP application given (`--rtmp-url`, its `/stat` and the
directory it records to), or the runner's own nginx-rtmp (ffwatt/runner/execute/rtmp_server.py),
started at the first live scenario in the work dir (recording every stream), started again when it
died, stopped at the end. When no server can be had, `target()` says why and the live scenarios
are skipped with that reason; file scenarios still run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from ffwatt.runner.execute.rtmp_server import RtmpServer, RtmpServerError
from ffwatt.runner.measure.measurer import LiveTarget

__all__ = ["LiveTargets", "ServerEvents"]

log = logging.getLogger("ffwatt.run")


class ServerEvents(Protocol):
    """What the run is told about its own server (`record.recorder.RunRecorder` does it)."""

    def rtmp_server(self, rtmp_url: str, stat_url: str, pid: int | None, record_dir: Path | None) -> None: ...

    def error(self, message: str, line: str | None = None, *, scenario: str | None = None) -> None: ...


class LiveTargets:
    """The run's live target (module docstring): a given server (`rtmp_url` set) or its own under `work_dir`."""

    def __init__(self, events: ServerEvents, work_dir: Path, *, rtmp_url: str | None, stat_url: str | None,
                 record_dir: Path | None, nginx: str) -> None:
        self.events, self.work_dir, self.nginx = events, work_dir, nginx
        self.given = LiveTarget(rtmp_url, stat_url, record_dir) if rtmp_url else None
        self.server: RtmpServer | None = None  # our own, started at the first live scenario
        self.error: str | None = None  # why it could not start (then every live scenario is skipped)

    @property
    def own(self) -> bool:
        """Whether the streams go to the runner's own server (its recordings are the run's to delete)."""
        return self.given is None

    def target(self) -> tuple[LiveTarget | None, str | None]:
        """Where live streams publish, or why they cannot (the scenario is then skipped)."""
        if self.given is not None:
            return self.given, None
        if self.error is not None:
            return None, self.error
        if self.server is None:
            base = self.work_dir / "rtmp"
            self.server = RtmpServer(base, record_dir=base / "recordings", nginx=self.nginx)
        elif not self.server.running:
            log.warning("%s; starting it again", self.gone())
        if self.server.running:
            return LiveTarget(self.server.rtmp_url, self.server.stat_url, self.server.record_dir), None
        try:
            self.server.start()
        except RtmpServerError as exc:
            self.error = f"live mode needs an RTMP server and the runner's own could not start: {exc}"
            self.events.error(self.error)  # logged with each live scenario it skips
            return None, self.error
        self.events.rtmp_server(self.server.rtmp_url, self.server.stat_url, self.server.pid, self.server.record_dir)
        return LiveTarget(self.server.rtmp_url, self.server.stat_url, self.server.record_dir), None

    def gone(self) -> str | None:
        """Why our own server is not running any more (killed or crashed); None while it runs, or without one."""
        if self.server is None or self.server.running:
            return None
        proc = self.server.proc
        code = f" (exit status {proc.returncode})" if proc is not None and proc.returncode is not None else ""
        return f"the runner's nginx-rtmp is not running any more{code}: killed or crashed"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
