"""The seam between the run loop and where a scenario runs: the `Executor` protocol, the `Job` it is
given and the `Outcome` it gives back. Two executors stand side by side: here
(ffwatt/runner/execute/local.py) and a Dask fleet (ffwatt/runner/execute/fleet/client.py).

The loop dispatches a job (`start`), polls which are done (`ready`), and collects each
(`outcome`): the local executor has measured a job by the time `start` returns, a fleet collects
each as its worker finishes it. `Outcome` raises `processes.EncodeError` when the scenario failed
and `ScenarioUnrunnableError` when no one can run it any more. A fleet may finish a scenario's
repetitions out of order: `InFlight` gathers them in schedule order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ffwatt.runner.measure.measurer import LiveTarget, QualityPass, Rep
from ffwatt.runner.plan.scenario import Scenario

__all__ = ["Executor", "InFlight", "Job", "Outcome"]

HostEnvironment = dict[str, Any]  # a host's block in the results file (measure.host_environment)


@dataclass(eq=False)
class Job:
    """One dispatch: `repetitions` repetitions of a scenario from its `repetition`-th (0-based; one
    repetition, except a fleet's `--pin-host` job, which runs them all), then its quality pass when
    `quality`. `sweep` names the capacity sweep it is a step of."""

    scenario: Scenario
    target: LiveTarget | None
    sweep: str | None
    repetition: int = 0
    repetitions: int = 1
    quality: bool = False


@dataclass(frozen=True)
class Outcome:
    """What running a job gave: its `Rep`s, the quality pass (or None) and, on a fleet, where:
    `hosts[i]` ran repetition i, `lost_hosts` were lost while running it (the attempt then ran
    again elsewhere), `host_environments` {host: environment}."""

    reps: list[Rep]
    quality: QualityPass | None
    hosts: tuple[str, ...] = ()
    lost_hosts: tuple[str, ...] = ()
    host_environments: dict[str, HostEnvironment] | None = None


class Executor(Protocol):
    """Where the jobs of a run are measured (module docstring)."""

    excused: set[str]  # scenarios skipped for a reason that does not fail the run (a fleet without the encoder)

    def cannot_run(self, s: Scenario) -> str | None:
        """Why no one here can run `s` (it is skipped), or None."""
        ...

    def start(self, job: Job, work_dir: Path) -> None: ...

    def ready(self, jobs: list[Job], timeout: float) -> list[Job]:
        """The jobs among `jobs` whose outcome can be collected, waiting up to `timeout` s for one."""
        ...

    def outcome(self, job: Job) -> Outcome: ...

    def cancel(self, jobs: list[Job]) -> None: ...

    def close(self) -> None: ...


@dataclass
class InFlight:
    """A scenario in flight: the repetitions that arrived (by index in the schedule), where they ran
    (a fleet's hosts by index, the hosts lost on the way, each host's environment) and its quality."""

    reps: dict[int, Rep] = field(default_factory=dict)
    hosts: dict[int, str] = field(default_factory=dict)
    lost_hosts: list[str] = field(default_factory=list)
    host_environments: dict[str, HostEnvironment] = field(default_factory=dict)
    quality: QualityPass | None = None

    def add(self, job: Job, outcome: Outcome) -> None:
        for i, rep in enumerate(outcome.reps):
            self.reps[job.repetition + i] = rep
            if i < len(outcome.hosts):
                self.hosts[job.repetition + i] = outcome.hosts[i]
        self.lost_hosts += [h for h in outcome.lost_hosts if h not in self.lost_hosts]
        self.host_environments.update(outcome.host_environments or {})
        if outcome.quality is not None:
            self.quality = outcome.quality

    def outcome(self) -> Outcome:
        """Every repetition in schedule order, as one `Outcome`."""
        order = sorted(self.reps)
        return Outcome([self.reps[i] for i in order], self.quality,
                       hosts=tuple(self.hosts[i] for i in order) if len(self.hosts) == len(order) else (),
                       lost_hosts=tuple(self.lost_hosts), host_environments=self.host_environments or None)
