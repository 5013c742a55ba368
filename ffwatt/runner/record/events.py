"""NDJSON run events (`ffwatt run --events FILE`): one JSON object per line.

Every event has `event` (scenario-start, progress, scenario-done, scenario-skipped, error,
run-start, run-done; rtmp-server when the runner started its nginx-rtmp, with `rtmp_url`,
`stat_url`, `pid`; sweep-done with `knee_streams` and `marginal_joules_per_stream`;
scenario-host and attempt-lost on a fleet), `time` (unix seconds) and, where it concerns one,
`scenario` (its name). Lines are written whole and flushed, from any thread. Events are a side
channel: a failed write is dropped, the results file is the record.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from ffwatt.runner.errors import RunnerError

__all__ = ["EventLog"]


class EventLog:
    """Appends events to `path`; with `path=None` every call is a no-op."""

    def __init__(self, path: str | Path | None) -> None:
        self._lock = threading.Lock()
        self._file = None
        if path:
            try:
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise RunnerError(f"cannot open the events file {str(path)!r}: {exc.strerror or exc}") from None

    def emit(self, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str,
                          allow_nan=False) + "\n"
        with self._lock:
            if self._file is not None:
                try:
                    self._file.write(line)
                    self._file.flush()
                except (OSError, ValueError):
                    pass  # events are a side channel; the results file is the record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
