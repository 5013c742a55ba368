"""The streams exporter's energy on a fixture /proc tree, one refresh at a time: under the CPU model a
stream is charged exactly its thread's watts for each CPU-second it used in the interval, whatever else
ran; the counters add up to the machine's modelled energy; a stream that ran before it was first seen
is charged from its next interval only, one started since the last scan for all of its time."""

from __future__ import annotations

import os
import time

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import build
from ffwatt.exporters.samples import Samples
from ffwatt.readers.streams.counters import boot_seconds
from tests.fixtures.proc_tree import FakeProc

TICK = os.sysconf("SC_CLK_TCK")
FILE = ["ffmpeg", "-i", "x", "-c:v", "libx264"]


@pytest.fixture
def proc(tmp_path) -> FakeProc:
    p = FakeProc(tmp_path / "proc")
    p.add(1, "systemd", ppid=0, argv=["/sbin/init"], starttime=1)
    return p


@pytest.fixture
def exporter(proc):
    runtime = build(load("streams"), ["--listen-address", "127.0.0.1", "--port", "0", "--proc-root", str(proc.root),
                                      "--powercap-root", "", "--nvml", "false", "--watts-per-thread", "4",
                                      "--ended-retention", "0"], environ={})
    yield runtime.exporter
    runtime.server.server_close()


def refresh(exporter) -> Samples:
    out = Samples("streams")
    exporter.refresh(out)
    return out


def energy(out: Samples) -> dict[str, float]:
    return {k[0]: v for k, v in out._values[m.STREAM_ENERGY].items()}


def test_the_model_charges_each_stream_its_threads_watts_per_cpu_second_and_the_parts_add_up(proc, exporter):
    proc.add(100, "ffmpeg", argv=[*FILE, "/rec/a.mp4"], utime=900, starttime=10)  # ran before the collector
    proc.add(200, "ffmpeg", argv=[*FILE, "/rec/b.mp4"], utime=50, starttime=20)
    first = refresh(exporter)
    assert energy(first) == {}  # one reading: no interval yet, no energy served (unknown, not 0)
    proc.run(100, utime=30)  # 0.3 s at 100 ticks/s
    proc.run(200, stime=10)  # 0.1 s
    proc.machine(busy=150, idle=50)  # the machine: 0.75 of 2 CPUs busy
    time.sleep(0.5)  # so 0.4 CPU-s fit the interval's 2 x ~0.5 CPU-s
    out = refresh(exporter)
    w = exporter.energy.figure.watts_per_thread
    assert w == 4.0  # --watts-per-thread
    per_tick = w / TICK
    # the model's rule, worked out in test_streams_split: a stream's joules = W_thread x its CPU-s, exactly
    assert energy(out) == pytest.approx({"a.mp4": 30 * per_tick, "b.mp4": 10 * per_tick})
    reading = exporter.energy._last_reading
    busy = 0.75 * 2 * reading.window_seconds
    machine = w * (0.1 * 2 * reading.window_seconds + 0.9 * busy)  # the machine's modelled joules
    other, idle = out.value(m.HOST_OTHER_ENERGY), out.value(m.HOST_IDLE_ENERGY)
    assert sum(energy(out).values()) + other + idle == pytest.approx(machine)
    assert other == pytest.approx(w * (busy - 0.4))  # everything else pays its CPU-s the same way
    assert out.value(m.STREAMS_ENERGY_SOURCE, source="model", attribution="cpu-time-share") == 1
    assert out.value(m.STREAM_POWER, stream="a.mp4") == pytest.approx(30 * per_tick / reading.window_seconds)


def test_a_stream_started_since_the_last_scan_pays_for_all_its_time_one_seen_late_from_its_next_interval(
        proc, exporter):
    refresh(exporter)
    proc.add(300, "ffmpeg", argv=[*FILE, "/rec/new.mp4"], utime=20, starttime=int(boot_seconds() * TICK) + 1)
    proc.add(400, "sh", argv=["sh", "wrap.sh"], utime=500, starttime=5)  # an old wrapper ...
    proc.machine(busy=100, idle=100)
    time.sleep(0.3)
    refresh(exporter)
    proc.update(400, comm="ffmpeg", argv=[*FILE, "/rec/late.mp4"])  # ... that exec'd ffmpeg: same pid
    proc.run(300, utime=10)
    proc.machine(busy=100, idle=100)
    time.sleep(1.1)  # a young process is read again after a second (readers.streams.discovery)
    out = refresh(exporter)
    per_tick = exporter.energy.figure.watts_per_thread / TICK
    # new.mp4: 20 ticks of its first interval + 10 of the second; late.mp4: its 500 ticks of history are
    # no interval's (they ran before it was seen): 0 so far
    assert energy(out) == pytest.approx({"new.mp4": 30 * per_tick, "late.mp4": 0.0})


def test_a_stream_that_ends_leaves_with_its_energy_series(proc, exporter):
    proc.add(100, "ffmpeg", argv=[*FILE, "/rec/a.mp4"], starttime=10)
    refresh(exporter)
    proc.machine(busy=10, idle=10)
    refresh(exporter)
    proc.remove(100)
    assert "a.mp4" in energy(refresh(exporter))  # ended now: served once more with its last count
    out = refresh(exporter)  # then gone (--ended-retention 0)
    assert energy(out) == {} and out.value(m.HOST_IDLE_ENERGY) is not None


def test_an_unknown_interval_moves_no_counter_and_says_why(proc, exporter):
    proc.add(100, "ffmpeg", argv=[*FILE, "/rec/a.mp4"], starttime=10)
    refresh(exporter)
    proc.machine(busy=10, idle=10)
    before = refresh(exporter)
    (proc.root / "stat").unlink()
    proc.run(100, utime=50)
    after = refresh(exporter)
    assert energy(after) == energy(before)
    assert after.value(m.STREAM_POWER, stream="a.mp4") is None
    assert any("unknown, charged to no one" in w and "stat" in w for w in after.warnings)


def test_scans_within_one_clock_tick_add_their_cpu_time_to_the_interval_still_open(proc, exporter):
    proc.add(100, "ffmpeg", argv=[*FILE, "/rec/a.mp4"], starttime=10)
    refresh(exporter)
    proc.machine(busy=100, idle=100)
    time.sleep(0.2)
    refresh(exporter)
    before = energy(refresh(exporter))  # /proc/stat did not move since: the interval stays open
    proc.run(100, utime=7)
    mid = refresh(exporter)  # still no tick on the machine: nothing charged yet, the 7 ticks kept
    assert energy(mid) == before
    proc.run(100, utime=5)
    proc.machine(busy=100, idle=100)
    time.sleep(0.2)
    out = refresh(exporter)
    per_tick = exporter.energy.figure.watts_per_thread / TICK
    assert energy(out)["a.mp4"] - before["a.mp4"] == pytest.approx(12 * per_tick)  # 7 + 5 ticks, once
