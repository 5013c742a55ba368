"""Each interval's energy split between streams, other and idle: figures worked out by hand (the
Kepler/Scaphandre rule of docs/energy.md), and conservation as a property over any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffwatt.energy.reading import EnergyReading, GpuWindow
from ffwatt.exporters.streams_meter import Interval
from ffwatt.exporters.streams_split import Consumer, split_interval


def reading(joules, *, window=1.0, cpus=2, machine=1.5, cpu_joules="same", gpu_joules=None, gpus=()):
    return EnergyReading(joules, "rapl", None, (), None, (), window_seconds=window, machine_cpu_seconds=machine,
                         cpus=cpus, cpu_joules=joules if cpu_joules == "same" else cpu_joules,
                         gpu_joules=gpu_joules, gpus=gpus)


def test_under_the_model_a_stream_pays_its_threads_watts_for_each_cpu_second():
    # 5 W per thread, 2 threads, 1 s, the machine busy 1.5 CPU-s: E = 5 x (0.1 x 2 x 1 + 0.9 x 1.5) = 7.75 J;
    # idle power = the model's idle term 5 x 0.1 x 2 = 1 W -> E_idle 1 J, E_active 6.75 J
    interval = Interval(reading(7.75), {})
    split = split_interval(interval, {"a": Consumer(0.6), "b": Consumer(0.3)}, idle_watts=1.0)
    # a: 6.75 x 0.6 / 1.5 + 1 x (0.6 / 1) / 2 = 2.7 + 0.3 = 3.0 = 5 W x 0.6 s; b: 1.35 + 0.15 = 1.5 = 5 x 0.3
    assert split.streams == pytest.approx({"a": 3.0, "b": 1.5})
    # other: the remaining 0.6 CPU-s, 2.7 + 0.3 = 3.0; idle: what no one held, 1 J x (1 - 1.5 / 2) = 0.25
    assert (split.other, split.idle) == pytest.approx((3.0, 0.25))
    assert split.method == "cpu-time-share"


def test_streams_reading_more_cpu_than_the_cpus_give_are_scaled_down_together():
    # 2 CPUs x 1 s = 2 CPU-s at most; the streams' ticks (read a moment apart from /proc/stat) say 3
    interval = Interval(reading(10.0, machine=1.8), {})
    split = split_interval(interval, {"a": Consumer(1.5), "b": Consumer(1.5)}, idle_watts=2.0)
    # scaled by 2/3: 1.0 each; the machine's CPU time is at least theirs: 2.0. E_idle 2 J, E_active 8 J:
    # each 8 x 1/2 + 2 x 1/2 = 5 J; other 0; idle 2 x (1 - 2/2) = 0
    assert split.streams == pytest.approx({"a": 5.0, "b": 5.0})
    assert (split.other, split.idle) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_an_interval_without_a_busy_tick_charges_no_one_for_cpu():
    split = split_interval(Interval(reading(3.0, machine=0.0), {}), {"a": Consumer(0.0)}, idle_watts=1.0)
    assert (split.streams, split.other, split.idle) == ({"a": 0.0}, 0.0, 3.0)


def test_each_gpu_is_split_by_per_process_utilisation_and_one_without_samples_goes_to_other():
    # NVML only (no RAPL): GPU-a rose 50 J, sampled: stream a's pid 10 at 60 %, b's pid 20 at 20 %,
    # a process that is no stream at 20 %; GPU-b rose 40 J, its driver keeps no per-process samples
    gpus = (GpuWindow("GPU-a", 50.0), GpuWindow("GPU-b", 40.0))
    interval = Interval(reading(90.0, cpu_joules=None, gpu_joules=90.0, gpus=gpus),
                        {"GPU-a": [(10, 60.0), (20, 20.0), (99, 20.0)], "GPU-b": None})
    split = split_interval(interval, {"a": Consumer(0.5, (10, 11)), "b": Consumer(0.2, (20,))}, idle_watts=1.0)
    # a: 50 x 60/100 = 30; b: 50 x 20/100 = 10; other: 50 x 20/100 + 40 whole = 50
    assert split.streams == pytest.approx({"a": 30.0, "b": 10.0})
    assert (split.other, split.idle) == pytest.approx((50.0, 0.0), abs=1e-12)
    assert split.method == "gpu-whole"  # a GPU was charged whole (to other)


def test_a_gpu_no_process_used_is_charged_whole_to_other_never_to_every_stream():
    interval = Interval(reading(20.0, cpu_joules=None, gpu_joules=20.0, gpus=(GpuWindow("GPU-a", 20.0),)),
                        {"GPU-a": []})
    split = split_interval(interval, {"a": Consumer(0.5, (10,)), "b": Consumer(0.5, (20,))}, idle_watts=1.0)
    assert split.streams == {"a": 0.0, "b": 0.0} and split.other == 20.0


@pytest.mark.parametrize("change", [dict(joules=None), dict(machine=None), dict(cpus=None), dict(window=0.0)])
def test_an_unknown_input_charges_no_one(change):
    args = dict(joules=5.0, window=1.0, cpus=2, machine=1.0) | change
    joules = args.pop("joules")
    assert split_interval(Interval(reading(joules, **args), {}), {"a": Consumer(0.5)}, idle_watts=1.0) is None
    assert split_interval(Interval(reading(5.0), {}), {"a": Consumer(0.5)}, idle_watts=None) is None


figures = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(cpu_j=figures, gpu_j=st.one_of(st.none(), figures), idle_w=figures,
       window=st.floats(min_value=0.01, max_value=60), cpus=st.integers(1, 256),
       load=st.floats(min_value=0, max_value=1), asks=st.lists(st.floats(min_value=0, max_value=1e4), max_size=6),
       used=st.lists(st.floats(min_value=0, max_value=100), max_size=8), says=st.booleans())
def test_streams_plus_other_plus_idle_is_the_machines_energy_and_no_part_is_negative(
        cpu_j, gpu_j, idle_w, window, cpus, load, asks, used, says):
    gpus = () if gpu_j is None else (GpuWindow("GPU-a", gpu_j),)
    machine = load * cpus * window
    # per-process samples: stream i owns pid i; pid 999 is no stream's
    samples = {"GPU-a": [(i % (len(asks) + 1) or 999, u) for i, u in enumerate(used)] if says else None}
    r = reading(cpu_j + (gpu_j or 0.0), window=window, cpus=cpus, machine=machine, cpu_joules=cpu_j,
                gpu_joules=gpu_j, gpus=gpus)
    streams = {f"s{i}": Consumer(ask, (i,)) for i, ask in enumerate(asks, 1)}
    split = split_interval(Interval(r, samples), streams, idle_watts=idle_w)
    total = sum(split.streams.values()) + split.other + split.idle
    assert total == pytest.approx(r.joules, rel=1e-9, abs=1e-9)
    assert min([*split.streams.values(), split.other, split.idle]) >= -1e-9 * max(1.0, r.joules)
