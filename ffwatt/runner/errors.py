"""The one error class the runner raises for anything the user can fix.

`ffwatt` catches their base (`common.errors.FfwattError`), prints `error: <message>` and exits
2 (130 when interrupted). A message says where (file, scenario, key), what was expected and what
was found.
"""

from __future__ import annotations

from ffwatt.common.errors import FfwattError


class RunnerError(FfwattError):
    """A problem the user can fix: a bad scenario file, no ffmpeg, an unwritable results dir."""


class RunStoppedError(RunnerError):
    """The run cannot go on: completed scenarios are kept, those in flight are listed in `not_run` as
    "interrupted by <cause>", and the run can be continued with `--resume`."""

    def __init__(self, cause: str, message: str) -> None:
        self.cause = cause
        super().__init__(message)


class RunInterruptedError(RunStoppedError):
    """SIGINT or SIGTERM arrived; completed scenarios are kept."""

    exit_code = 130

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(signal_name, f"interrupted by {signal_name}; completed scenarios are kept (continue with "
                         "--resume)")


class FleetLostError(RunStoppedError):
    """`--cluster`: the Dask scheduler went away mid-run (exit 1, like a failed scenario)."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__("the loss of the Dask scheduler", message)


class ScenarioUnrunnableError(RunnerError):
    """No executor can run this scenario (a fleet without a worker that has its encoder, say): it
    is skipped, with this message as the reason."""
