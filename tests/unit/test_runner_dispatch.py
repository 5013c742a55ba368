"""The run loop's unit of dispatch (issue 22 on issue 25's executors): the schedule's items and
a scenario's repetitions gathered as they arrive, in any order."""

from __future__ import annotations

from ffwatt.energy.attribution import Attributed
from ffwatt.energy.reading import EnergyReading
from ffwatt.runner.execute.executor import InFlight, Job, Outcome
from ffwatt.runner.measure.measurer import QualityPass, Rep
from ffwatt.runner.plan.scenario_file import parse_scenarios
from ffwatt.runner.plan.schedule import Item
from ffwatt.runner.plan.schedule import schedule as build_schedule

SCENARIOS = """
defaults: {encoder: libx264, resolution: 160x90, fps: 30, duration: 1, repeat: 3}
scenarios:
  - {name: idle, idle: true}
  - {name: a, bitrate: 100k}
  - {name: b, bitrate: 200k}
  - {name: once, bitrate: 300k, repeat: 1}
"""


def schedule(order: str = "shuffled", together: bool = False) -> list[Item]:
    return build_schedule(parse_scenarios(SCENARIOS), order=order, seed=7, together=together)


def names(items: list[Item]) -> list[str]:
    return [i.scenario.name for i in items]


def test_shuffled_rounds_hold_each_scenario_once_per_repetition_with_the_idle_baseline_first():
    items = schedule()
    assert len(items) == 3 + 3 + 3 + 1  # every repetition once
    rounds = [items[0:4], items[4:7], items[7:10]]  # "once" is only in the first round
    assert sorted(names(rounds[0])) == ["a", "b", "idle", "once"]
    for r, members in enumerate(rounds):
        assert members[0].scenario.name == "idle"
        assert {i.repetition for i in members} == {r} and all(i.count == 1 for i in members)
    assert names(items) == names(schedule())  # the same seed, the same order


def test_each_scenarios_last_repetition_is_the_one_that_scores_quality():
    last = [i for i in schedule() if i.last]
    assert sorted(names(last)) == ["a", "b", "idle", "once"]
    assert {i.scenario.name: i.repetition for i in last} == {"idle": 2, "a": 2, "b": 2, "once": 0}


def test_sequential_keeps_the_files_order_with_repetitions_back_to_back():
    assert names(schedule(order="sequential")) == ["idle"] * 3 + ["a"] * 3 + ["b"] * 3 + ["once"]


def test_a_pinned_fleet_dispatches_every_repetition_of_a_scenario_as_one_job():
    items = schedule(together=True)  # a fleet's --pin-host
    assert [(i.scenario.name, i.repetition, i.count, i.last) for i in items] == [
        ("idle", 0, 3, True), ("a", 0, 3, True), ("b", 0, 3, True), ("once", 0, 1, True)]


def rep(joules: float) -> Rep:
    reading = EnergyReading(joules, "rapl", None, (), None, ())
    return Rep([], reading, (joules, joules + 1), 1, Attributed(joules, "cpu-time-share", None), 0.0)


def test_repetitions_that_arrive_out_of_order_are_recorded_in_schedule_order():
    s = parse_scenarios(SCENARIOS)[1]
    progress = InFlight()
    scored = QualityPass(vmaf=None, psnr=None, ssim=None, cpu_seconds=1.0, distorted="encoder_output", comparisons=())
    arrivals = [(2, "h3", scored), (0, "h1", None), (1, "h2", None)]
    for index, host, quality in arrivals:
        job = Job(s, None, None, repetition=index, quality=quality is not None)
        progress.add(job, Outcome([rep(float(index))], quality, hosts=(host,), lost_hosts=("gone",) if index else (),
                                  host_environments={host: {"cpu_cores": 1}}))
    whole = progress.outcome()
    assert [r.reading.joules for r in whole.reps] == [0.0, 1.0, 2.0]
    assert whole.hosts == ("h1", "h2", "h3") and whole.lost_hosts == ("gone",)
    assert whole.quality is scored  # the last repetition's, though it arrived first
    assert set(whole.host_environments) == {"h1", "h2", "h3"}


def test_a_pinned_job_fills_every_repetition_from_its_first():
    s = parse_scenarios(SCENARIOS)[1]
    progress = InFlight()
    progress.add(Job(s, None, None, repetition=0, repetitions=3),
                 Outcome([rep(0.0), rep(1.0), rep(2.0)], None, hosts=("h1",) * 3))
    whole = progress.outcome()
    assert len(progress.reps) == 3 and whole.hosts == ("h1",) * 3
