"""ffwatt/energy/process_cpu_time.py: wait4's rusage of a child and its reaped descendants, timeouts; /proc parsing
(ffwatt/readers/proc.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ffwatt.energy.process_cpu_time import process_tree_cpu_seconds, wait_with_rusage
from ffwatt.readers.proc import parse_stat

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass\n"


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_cpu_of_a_child_burning_half_a_second():
    proc = _python(BURN.format(seconds=0.5) + "raise SystemExit(3)")
    returncode, cpu = wait_with_rusage(proc, timeout=30)
    assert returncode == 3 and proc.returncode == 3
    assert 0.3 <= cpu < 5.0
    assert proc.poll() == 3 and proc.wait() == 3  # Popen stays consistent, nothing to reap twice


def test_cpu_includes_reaped_grandchildren():
    # The child starts a grandchild burning 0.4 s, waits for it, then burns 0.2 s itself.
    code = (f"import subprocess, sys\n"
            f"subprocess.run([sys.executable, '-c', {BURN.format(seconds=0.4)!r}], check=True)\n"
            + BURN.format(seconds=0.2))
    returncode, cpu = wait_with_rusage(_python(code), timeout=None)  # the blocking wait4
    assert returncode == 0
    assert cpu >= 0.5  # 0.4 + 0.2 (+ two interpreter start-ups)


def test_timeout_raises_and_leaves_the_child_running():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        t0 = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            wait_with_rusage(proc, timeout=0.2)
        assert 0.2 <= time.monotonic() - t0 < 2.0
        assert proc.poll() is None
    finally:
        proc.kill()
    returncode, cpu = wait_with_rusage(proc, timeout=10)
    assert returncode == -9  # killed by SIGKILL, as Popen reports it
    assert cpu >= 0.0


def test_a_child_already_reaped_is_an_error_not_zero_seconds():
    proc = subprocess.Popen(["true"])
    proc.wait()
    with pytest.raises(ChildProcessError, match="already reaped"):
        wait_with_rusage(proc, timeout=1)


# --------------------------------------------------------------------------
# /proc/<pid>/stat

# Fields 1..17 and a few more; comm holds ") (" and spaces, as a process can name itself.
TRICKY = "4242 (evil) (name x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 1234 5678 90\n"


def test_parse_stat_splits_at_the_last_parenthesis():
    stat = parse_stat(TRICKY)
    assert (stat.pid, stat.comm, stat.ppid) == (4242, "evil) (name x", 1)
    assert (stat.utime, stat.stime, stat.cutime, stat.cstime) == (250, 50, 7, 3)
    assert stat.ticks == 310  # 250 + 50 + 7 + 3


@pytest.mark.parametrize("text", ["", "garbage", "12 (x) S 1 2 3"])
def test_parse_stat_rejects_what_is_not_a_stat_line(text):
    with pytest.raises(ValueError):
        parse_stat(text)


def _stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    # fields 3..13 are filler; 14..17 are utime stime cutime cstime
    return f"{pid} ({comm}) S {ppid} 0 0 0 -1 0 0 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0 0 0 0\n"


def test_process_tree_from_a_fixture_proc(tmp_path):
    tree = {
        10: _stat_line(10, "ffmpeg) (x", 1, 100, 20, 30, 5),  # the encoder, with reaped children 30 + 5
        11: _stat_line(11, "helper", 10, 40, 10),            # its live child
        12: _stat_line(12, "grand child", 11, 6, 4),          # a live grandchild
        13: _stat_line(13, "other", 1, 999, 999),            # not in the tree
    }
    for pid, line in tree.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(line)
    (tmp_path / "self").mkdir()  # not a pid: ignored
    (tmp_path / "14").mkdir()    # a pid that exited between listdir and read: ignored
    ticks = (100 + 20 + 30 + 5) + (40 + 10) + (6 + 4)  # 215
    assert process_tree_cpu_seconds(10, str(tmp_path)) == pytest.approx(ticks / os.sysconf("SC_CLK_TCK"))
    assert process_tree_cpu_seconds(11, str(tmp_path)) == pytest.approx(60 / os.sysconf("SC_CLK_TCK"))
    assert process_tree_cpu_seconds(99, str(tmp_path)) is None  # unknown, not 0


def test_process_tree_of_a_live_child_grows():
    proc = _python(BURN.format(seconds=0.6) + "import time\ntime.sleep(30)")
    try:
        # a loaded machine may take long to give the child its 0.6 s of CPU: wait for it, bounded
        deadline = time.monotonic() + 20
        cpu = process_tree_cpu_seconds(proc.pid)
        while (cpu is None or cpu < 0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
            cpu = process_tree_cpu_seconds(proc.pid)
        assert cpu is not None and 0.5 <= cpu <= 2.0  # 0.6 s burned, read in clock ticks
    finally:
        proc.kill()
        proc.wait()


def test_process_tree_from_task_children_files(tmp_path):
    # Kernels with CONFIG_PROC_CHILDREN list each thread's children: no scan of /proc needed.
    lines = {
        20: _stat_line(20, "ffmpeg", 1, 10, 10),
        21: _stat_line(21, "child of thread", 20, 5, 5),
        22: _stat_line(22, "child of main", 20, 1, 1),
        23: _stat_line(23, "not listed", 20, 500, 500),  # listed nowhere: the children files are the truth
    }
    for pid, line in lines.items():
        (tmp_path / str(pid) / "task" / str(pid)).mkdir(parents=True)
        (tmp_path / str(pid) / "stat").write_text(line)
        (tmp_path / str(pid) / "task" / str(pid) / "children").write_text("")
    (tmp_path / "20" / "task" / "20" / "children").write_text("22 ")
    (tmp_path / "20" / "task" / "77").mkdir()
    (tmp_path / "20" / "task" / "77" / "children").write_text("21 ")
    ticks = 20 + 10 + 2  # 20's own, 21 via thread 77, 22 via the main thread
    assert process_tree_cpu_seconds(20, str(tmp_path)) == pytest.approx(ticks / os.sysconf("SC_CLK_TCK"))
