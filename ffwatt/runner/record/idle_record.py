"""The results header's `idle` (issue 30, `contract.schema.IdleRecord`): the idle threshold and probe
settings, every idle check the run made (an idle baseline's window, a host's idle probe), and the
idle power last used, with where it came from. Plain dicts, as the header is kept by the writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ffwatt.contract.schema import IdleCheckRecord, IdleRecord
from ffwatt.energy.idle import IdleCheck, IdleFigure
from ffwatt.runner.measure.measurer import Rep

__all__ = ["check_line", "header_idle", "note_reps"]


def header_idle(threshold: float, probe_seconds: float | None) -> dict[str, Any]:
    """The header's `idle` before anything was measured: its settings."""
    return msgspec.to_builtins(IdleRecord(threshold=threshold, probe_seconds=probe_seconds))


def _check(check: IdleCheck, host: str | None) -> IdleCheckRecord:
    return IdleCheckRecord(origin=check.origin, accepted=check.accepted, scenario=check.scenario, host=host,
                           energy_source=check.source, window_s=check.window_seconds,
                           cpu_energy_joules=check.cpu_joules, machine_cpu_seconds=check.machine_cpu_seconds,
                           cpus_visible=check.cpus, busy_share=check.busy_share, watts=check.watts, why=check.why)


def _figure(figure: IdleFigure, host: str | None) -> dict[str, Any]:
    """The header's current figure: the idle power used, and the measurement it came from."""
    check = figure.check
    return {"watts": figure.watts, "source": figure.source, "host": host,
            "busy_share": check.busy_share if check else None, "window_s": check.window_seconds if check else None,
            "scenario": check.scenario if check else None}


def note_reps(idle: dict[str, Any], reps: Sequence[Rep], hosts: Sequence[str]) -> list[IdleCheck]:
    """Add the repetitions' idle checks and the idle power they used to the header's `idle` (in place);
    the checks added. `hosts[i]`: the fleet host of repetition i (empty for a local run)."""
    added = []
    for i, rep in enumerate(reps):
        host = hosts[i] if i < len(hosts) else None
        for check in rep.idle_checks:
            idle.setdefault("checks", []).append(msgspec.to_builtins(_check(check, host)))
            added.append(check)
        if rep.idle is not None:
            idle.update({k: v for k, v in _figure(rep.idle, host).items()})
    for key in [k for k, v in idle.items() if v is None]:
        del idle[key]
    return added


def check_line(check: IdleCheck) -> str:
    """The log line of an idle check."""
    what = f"idle baseline {check.scenario!r}" if check.origin == "baseline" else "idle probe"
    figure = f"{check.watts:.2f} W" if check.watts is not None else "no measured power"
    share = f"{check.busy_share:.1%}" if check.busy_share is not None else "unknown"
    over = f" over {check.window_seconds:.1f} s" if check.window_seconds is not None else ""
    verdict = "accepted as the idle power" if check.accepted else f"not used: {check.why}"
    return f"{what}: {figure}{over}, machine {share} busy: {verdict}"
