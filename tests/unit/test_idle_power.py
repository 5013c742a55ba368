"""Issue 30: idle power measured and guarded: the idle check (`energy.idle.check_idle`) and a host's idle
power in order of preference (`runner.meter.idle_power.IdlePower`: an accepted baseline, else the probe,
else the model's term). Readings are built by hand; the figures are worked in the comments."""

from __future__ import annotations

import pytest

from ffwatt.energy.idle import check_idle
from ffwatt.energy.reading import EnergyReading
from ffwatt.runner.meter.idle_power import IdlePower


def _reading(joules: float | None, *, source: str = "rapl", window: float = 2.0, machine_cpu: float | None = 0.02,
             cpus: int = 2) -> EnergyReading:
    return EnergyReading(joules, source, None, (), None, (), window_seconds=window, machine_cpu_seconds=machine_cpu,
                         cpus=cpus, cpu_joules=joules)


def test_a_quiet_window_is_idle_and_its_power_is_its_cpu_energy_over_its_length():
    check = check_idle(_reading(46.0), origin="probe")  # 46 J / 2 s = 23 W; 0.02 / (2 x 2) = 0.5 % busy
    assert check.accepted and check.watts == pytest.approx(23.0) and check.busy_share == pytest.approx(0.005)
    assert check.why is None


def test_a_window_with_the_machine_busy_is_rejected_with_its_busy_share():
    # 41.2 W measured while other work kept 1.6 of 2 CPUs busy: 3.2 / (2 x 2) = 80 %
    check = check_idle(_reading(82.4, machine_cpu=3.2), origin="baseline", scenario="baseline idle")
    assert not check.accepted and check.busy_share == pytest.approx(0.8)
    assert check.watts == pytest.approx(41.2)  # measured, kept for the record, not used
    assert "80.0% of its 2 CPU(s) busy" in check.why and "5.0%" in check.why


@pytest.mark.parametrize(("reading", "why"), [
    (_reading(46.0, source="model"), "modelled"),
    (_reading(None, source="none"), "unknown"),
    (_reading(46.0, machine_cpu=None), "cannot be checked"),
], ids=["modelled", "unknown energy", "unknown CPU use"])
def test_a_window_that_cannot_teach_the_idle_power_is_never_accepted(reading, why):
    check = check_idle(reading, origin="probe")
    assert not check.accepted and why in check.why


def test_the_threshold_is_the_callers():
    # 0.3 / (2 x 2) = 7.5 % busy: over the default 5 %, under 10 %
    assert not check_idle(_reading(46.0, machine_cpu=0.3), origin="probe").accepted
    assert check_idle(_reading(46.0, machine_cpu=0.3), origin="probe", threshold=0.10).accepted


def test_an_accepted_baseline_comes_before_the_model_and_a_rejected_one_changes_nothing():
    idle = IdlePower(5.0, probe_seconds=None)  # model: 5 W x 0.1 x 2 threads = 1 W
    encode = _reading(100.0, machine_cpu=2.0)
    assert (idle.for_reading(encode).watts, idle.for_reading(encode).source) == (pytest.approx(1.0), "model")
    idle.learn(_reading(46.0), "quiet baseline")  # 23 W
    assert (idle.for_reading(encode).watts, idle.for_reading(encode).source) == (pytest.approx(23.0), "baseline")
    idle.learn(_reading(82.4, machine_cpu=3.2), "busy baseline")  # rejected: 23 W stays
    assert idle.for_reading(encode).watts == pytest.approx(23.0)
    assert [(c.scenario, c.accepted) for c in idle.take()] == [("quiet baseline", True), ("busy baseline", False)]
    assert idle.take() == ()  # each check is handed on once


def test_a_modelled_reading_always_takes_the_models_idle_term():
    idle = IdlePower(5.0, probe_seconds=None)
    idle.learn(_reading(46.0), "baseline")
    figure = idle.for_reading(_reading(30.0, source="model", cpus=4))
    assert (figure.watts, figure.source) == (pytest.approx(2.0), "model")  # 5 W x 0.1 x 4 threads


class _Meter:
    """The probe's view of a meter: whether it counts, and one window it returns."""

    def __init__(self, reading: EnergyReading, counts: bool = True) -> None:
        self.reading, self._counts, self.windows = reading, counts, 0

    def counts(self) -> bool:
        return self._counts

    def start(self) -> None:
        self.windows += 1

    def stop(self) -> EnergyReading:
        return self.reading


def test_the_probe_is_taken_once_and_only_while_no_baseline_was_accepted():
    meter = _Meter(_reading(46.0))
    idle = IdlePower(5.0, probe_seconds=0.01)
    check = idle.probe(meter)
    assert check is not None and check.origin == "probe" and check.accepted
    assert idle.for_reading(_reading(100.0)).source == "probe"
    assert idle.probe(meter) is None and meter.windows == 1  # once per host
    with_baseline = IdlePower(5.0, probe_seconds=0.01)
    with_baseline.learn(_reading(46.0), "baseline idle")
    assert with_baseline.probe(meter) is None and meter.windows == 1  # an accepted baseline needs no probe
    idle.learn(_reading(50.0), "baseline idle")  # 25 W: a baseline accepted later replaces the probe
    assert (idle.for_reading(_reading(100.0)).source, idle.for_reading(_reading(100.0)).watts) == ("baseline", 25.0)


def test_no_probe_when_it_is_off_or_the_meter_only_models():
    assert IdlePower(5.0, probe_seconds=None).probe(_Meter(_reading(46.0))) is None
    modelling = _Meter(_reading(46.0), counts=False)
    assert IdlePower(5.0, probe_seconds=0.01).probe(modelling) is None and modelling.windows == 0


def test_a_rejected_probe_leaves_the_models_term_and_stays_to_be_recorded():
    idle = IdlePower(5.0, probe_seconds=0.01)
    check = idle.probe(_Meter(_reading(82.4, machine_cpu=3.2)))
    assert not check.accepted and idle.for_reading(_reading(100.0)).source == "model"
    # an encode that failed took no check: the next repetition that completes carries it to the header
    assert idle.take() == (check,)
