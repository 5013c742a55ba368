"""Comparing two runs (`--baseline-run OLD.json`): per-scenario deltas with their significance.

Scenarios are matched by name. For energy and encoding fps the delta is new mean - old
mean; where both runs repeated the scenario (>= 2 repetitions each) it carries the
half-width of its 95 % confidence interval from Welch's unequal-variance t-test
(`contract.formulas.welch_difference_ci95`), and is *significant* when that interval
excludes 0 (|delta| > half-width: two-sided, 5 %). Quality and bitrate are measured once
per scenario, so their deltas carry no significance. Standard library and `contract` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ffwatt.contract import formulas
from ffwatt.report.data import Row

__all__ = ["Change", "Comparison", "compare_rows"]


@dataclass(frozen=True, slots=True)
class Change:
    """One figure of one scenario, before and after. `ci95`: half-width of the delta's CI
    (`None` without repetitions on both sides); `significant`: `None` when unknown."""

    before: float | None
    after: float | None
    ci95: float | None = None
    significant: bool | None = None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def percent(self) -> float | None:
        if self.delta is None or not self.before:
            return None
        return self.delta / self.before * 100.0


@dataclass(frozen=True, slots=True)
class Comparison:
    scenario: str
    energy: Change
    fps: Change
    vmaf: Change
    bitrate: Change
    speed: Change
    repetitions: tuple[int, int]


def _welch(before: Sequence[float], after: Sequence[float], mean_before: float | None,
           mean_after: float | None) -> Change:
    if len(before) >= 2 and len(after) >= 2:
        diff, half, _df = formulas.welch_difference_ci95(before, after)
        significant = None if diff is None or half is None else abs(diff) > half
        return Change(formulas.mean_and_ci95(before)[0], formulas.mean_and_ci95(after)[0], half, significant)
    return Change(mean_before, mean_after)


def compare_rows(old: Sequence[Row], new: Sequence[Row]) -> list[Comparison]:
    """Deltas of every scenario present (by name) in both runs, in the new run's order."""
    by_name = {row.name: row for row in old}
    out = []
    for row in new:
        before = by_name.get(row.name)
        if before is None:
            continue
        a, b = before.scenario, row.scenario
        energy_a = [r.energy_joules for r in a.repetitions if r.energy_joules is not None]
        energy_b = [r.energy_joules for r in b.repetitions if r.energy_joules is not None]
        fps_a = [r.avg_fps for r in a.repetitions if r.avg_fps is not None]
        fps_b = [r.avg_fps for r in b.repetitions if r.avg_fps is not None]
        out.append(Comparison(
            scenario=row.name,
            energy=_welch(energy_a, energy_b, before.energy_joules, row.energy_joules),
            fps=_welch(fps_a, fps_b, a.avg_fps, b.avg_fps),
            vmaf=Change(a.vmaf, b.vmaf),
            bitrate=Change(before.bitrate_bps, row.bitrate_bps),
            speed=Change(a.speed, b.speed),
            repetitions=(len(a.repetitions), len(b.repetitions)),
        ))
    return out
