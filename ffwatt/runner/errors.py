"""The one error class the runner raises for anything the user can fix.

`ffwatt` catches their base (`common.errors.FfwattError`), prints `error: <message>` and exits
2 (130 when interrupted). A message says where (file, scenario, key), what was expected and what
was found.
"""

from __future__ import annotations

from ffwatt.common.errors import FfwattError


class RunnerError(FfwattError):
    """A problem the user can fix: a bad scenario file, no ffmpeg, an unwritable results dir."""


class RunInterruptedError(RunnerError):
    """SIGINT or SIGTERM arrived; completed scenarios are kept."""

    exit_code = 130

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"interrupted by {signal_name}; completed scenarios are kept (continue with --resume)")


class ScenarioUnrunnableError(RunnerError):
    """No executor can run this scenario (a fleet without a worker that has its encoder, say): it
    is skipped, with this message as the reason."""
