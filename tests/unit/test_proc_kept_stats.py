"""`readers.proc.KeptStats`: a stat file kept open reads fresh figures each time, and reads as gone once
its process has ended, even when the pid comes back as another process."""

from __future__ import annotations

import subprocess
import sys

from ffwatt.readers.proc import KeptStats, read_stat
from tests.fixtures.proc_tree import FakeProc


def test_a_kept_file_reads_the_processes_new_cpu_time_then_nothing_once_it_ended():
    child = subprocess.Popen([sys.executable, "-c", "import sys; [i for i in range(3 * 10**6)]; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    kept = KeptStats()
    try:
        first = kept.read(child.pid)
        assert first is not None and first.pid == child.pid
        for _ in range(200):  # it burns CPU, then waits: the kept file follows
            now = kept.read(child.pid)
            if now.own_ticks > first.own_ticks:
                break
            subprocess.run(["sleep", "0.02"])
        assert now.own_ticks > first.own_ticks
        assert now.own_ticks <= read_stat(child.pid).own_ticks  # never ahead of a fresh open
    finally:
        child.stdin.close()
        child.wait(10)
    assert kept.read(child.pid) is None  # reaped: ESRCH on the kept file, and no file to open
    kept.close()


def test_a_pid_taken_by_another_process_reads_that_one(tmp_path):
    proc = FakeProc(tmp_path / "proc")
    proc.add(100, "ffmpeg", argv=["ffmpeg"], utime=5, starttime=10)
    kept = KeptStats(proc.root)
    assert kept.read(100).starttime == 10
    proc.run(100, utime=3)
    assert kept.read(100).utime == 8
    proc.remove(100)
    assert kept.read(100) is None
    proc.add(100, "sh", argv=["sh"], starttime=99)
    assert (kept.read(100).comm, kept.read(100).starttime) == ("sh", 99)
    kept.close()
