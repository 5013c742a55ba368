"""The order a run measures in (issue 22): repetitions are rounds over the whole matrix.

`repeat: N` is N rounds. With `order` "shuffled" (the default) each round is the matrix in a
random order drawn from `seed` (recorded in the results header's `meter`, so a run can be
replayed), the idle baselines first in each round (the scenarios after them use the idle power
they measured); "sequential" is the order of the file with each scenario's repetitions back to
back. Capacity sweeps are not in the rounds: they run after them, their steps in order, each
step's repetitions back to back (the sweep's stop rule needs each step's result). The unit of
dispatch is one repetition (`Item`); `together` (a fleet's `--pin-host`) makes it a scenario's
repetitions all at once, so one host measures them back to back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ffwatt.runner.plan.scenario import Scenario

__all__ = ["ORDERS", "Item", "planned", "repetitions", "schedule"]

ORDERS = ("shuffled", "sequential")


@dataclass(frozen=True)
class Item:
    """One dispatch of the schedule: `count` repetitions of `scenario` from its `repetition`-th (0-based)."""

    scenario: Scenario
    repetition: int
    count: int = 1

    @property
    def last(self) -> bool:
        """Whether it holds the scenario's last repetition (the one whose outputs are scored)."""
        return self.repetition + self.count >= self.scenario.repeat


def planned(scenarios: tuple[Scenario, ...]) -> tuple[Scenario, ...]:
    """Scenarios as they run: a sweep stands for its steps (all of them: an upper bound, it may stop early)."""
    return tuple(step for s in scenarios for step in (s.sweep_steps() if s.sweep else (s,)))


def repetitions(scenario: Scenario, *, together: bool) -> list[Item]:
    """One scenario's repetitions back to back (a sweep step's), as dispatched."""
    if together:
        return [Item(scenario, 0, scenario.repeat)]
    return [Item(scenario, r) for r in range(scenario.repeat)]


def schedule(scenarios: tuple[Scenario, ...], *, order: str, seed: int, together: bool = False) -> list[Item]:
    """Every repetition of every scenario but the sweeps, in the order they run (module docstring)."""
    plain = [s for s in scenarios if not s.sweep]
    if together:
        return [Item(s, 0, s.repeat) for s in plain]
    if order == "sequential":
        return [Item(s, r) for s in plain for r in range(s.repeat)]
    rng = random.Random(seed)
    out: list[Item] = []
    for r in range(max((s.repeat for s in plain), default=0)):
        members = [s for s in plain if s.repeat > r]
        encodes = [s for s in members if not s.idle]
        rng.shuffle(encodes)
        out.extend(Item(s, r) for s in [s for s in members if s.idle] + encodes)
    return out
