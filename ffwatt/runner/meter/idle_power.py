"""The idle power a scenario's attribution takes out first (`energy.attribution`), kept per host (issue 30).

In order of preference (`energy.idle.IDLE_ORIGINS`):

1. **an accepted idle baseline**: an idle baseline scenario's window, measured with counters, whose
   machine stayed under the idle threshold (`energy.idle.check_idle`); its mean CPU power. A later
   accepted baseline replaces an earlier one (it is the fresher figure); a rejected one changes nothing;
2. **the runner's idle probe**: when no baseline has been accepted yet, before the first encode the
   host measures (`probe`), the meter measures `probe_seconds` of nothing, once per host, when it
   counts (RAPL, NVML, a TSDB; never for the model), and the same check applies;
3. **the model's idle term** W_thread x f_idle x threads (`energy.attribution.model_idle_watts`): when
   neither was accepted, and always for a modelled reading (the model's baseline is the model).

Every check made (accepted or not) is kept until a repetition takes it (`take`) to the results
header (`idle.checks`), and each window records the figure it used (`IdleFigure`), so `ffwatt
audit` can recompute both.
"""

from __future__ import annotations

import time

from ffwatt.contract import formulas
from ffwatt.energy.attribution import model_idle_watts
from ffwatt.energy.idle import DEFAULT_PROBE_SECONDS, IdleCheck, IdleFigure, check_idle
from ffwatt.energy.reading import EnergyReading
from ffwatt.runner.meter.energy_meter import EnergyMeter

__all__ = ["IdlePower"]


class IdlePower:
    """This host's idle power (module docstring). `probe_seconds` None: no probe (`--no-idle-probe`)."""

    def __init__(self, watts_per_thread: float, *, threshold: float = formulas.DEFAULT_IDLE_BUSY_SHARE,
                 probe_seconds: float | None = DEFAULT_PROBE_SECONDS) -> None:
        self.watts_per_thread = watts_per_thread
        self.threshold = threshold
        self.probe_seconds = probe_seconds
        self.measured: IdleFigure | None = None  # the accepted baseline's or probe's figure
        self.probed = False
        self._pending: list[IdleCheck] = []  # checks made, not yet handed to a repetition (`take`)

    @property
    def measured_watts(self) -> float | None:
        return self.measured.watts if self.measured is not None else None

    def learn(self, baseline: EnergyReading, scenario: str) -> IdleCheck:
        """Check an idle baseline's window; keep its power when it was idle. The check, for the record."""
        check = check_idle(baseline, origin="baseline", threshold=self.threshold, scenario=scenario)
        if check.accepted:
            self.measured = IdleFigure(check.watts, "baseline", check)
        self._pending.append(check)
        return check

    def probe(self, meter: EnergyMeter) -> IdleCheck | None:
        """The runner's own idle probe, when one is due (module docstring); the check, or None when none
        was taken (off, done already, a baseline known, or a meter that only models)."""
        if self.probe_seconds is None or self.probed or self.measured is not None:
            return None
        self.probed = True
        if not meter.counts():
            return None
        meter.start()
        try:
            time.sleep(self.probe_seconds)
        finally:
            reading = meter.stop()
        check = check_idle(reading, origin="probe", threshold=self.threshold)
        if check.accepted:
            self.measured = IdleFigure(check.watts, "probe", check)
        self._pending.append(check)
        return check

    def take(self) -> tuple[IdleCheck, ...]:
        """The checks made since the last call: a repetition carries them to the results header, so a probe
        taken before an encode that failed reaches it with the next repetition that completes."""
        taken, self._pending = tuple(self._pending), []
        return taken

    def for_reading(self, reading: EnergyReading) -> IdleFigure:
        """The idle power to take out of `reading` (module docstring); its watts None when even the model's
        is unknown (no CPU count)."""
        if reading.source != "model" and self.measured is not None:
            return self.measured
        return IdleFigure(model_idle_watts(self.watts_per_thread, reading.cpus) if reading.cpus else None, "model")
