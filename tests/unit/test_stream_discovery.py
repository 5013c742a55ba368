"""Finding the streams on a host from /proc: fixture trees laid out as the kernel does
(tests/fixtures/proc_tree.py), and the real /proc with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ffwatt.readers import proc as proc_reader
from ffwatt.readers.streams import procfs
from ffwatt.readers.streams.discovery import RECHECK_SECONDS, YOUNG_SECONDS, Scanner
from ffwatt.readers.streams.identity import rtmp_stream_label
from tests.fixtures.proc_tree import Clock, FakeProc

PUSH = ["ffmpeg", "-re", "-i", "in.mp4", "-c:v", "libx264", "-f", "flv"]


@pytest.fixture
def proc(tmp_path) -> FakeProc:
    p = FakeProc(tmp_path / "proc")
    p.add(1, "systemd", ppid=0, argv=["/sbin/init"], starttime=1)
    p.add(50, "bash", ppid=1, argv=["-bash"], starttime=50)
    return p


def scanner(proc: FakeProc, clock: Clock | None = None, **kw) -> Scanner:
    return Scanner(str(proc.root), clock=clock or Clock(), jitter=lambda: 0.5, **kw)


def by_label(scan) -> dict[str, tuple[int, ...]]:
    return {t.identity.stream: t.pids for t in scan.streams}


def test_each_encoder_tree_is_one_stream_with_its_helpers(proc):
    proc.add(100, "ffmpeg", ppid=50, argv=[*PUSH, "rtmp://h/live/cam1"], starttime=200)
    proc.add(101, "ffmpeg", ppid=100, argv=["ffmpeg", "-i", "pipe:0", "/rec/cam1.mp4"], starttime=210)
    proc.add(102, "sh", ppid=101, argv=["sh", "-c", "upload"], starttime=220)
    proc.add(200, "ffmpeg", ppid=50, argv=[*PUSH, "rtmp://h/live/cam2"], starttime=300)
    proc.add(300, "sleep", ppid=50, argv=["sleep", "60"], starttime=400)
    scan = scanner(proc).scan()
    assert by_label(scan) == {rtmp_stream_label("live", "cam1"): (100, 101, 102),
                              rtmp_stream_label("live", "cam2"): (200,)}
    assert (scan.found, scan.own, scan.over_cap) == (2, 0, 0)


def test_the_runners_own_encodes_are_left_out(proc):
    # `ffwatt run` (the console script: comm ffwatt) -> ffmpeg
    proc.add(60, "ffwatt", ppid=50, argv=["/usr/bin/python3", "/usr/local/bin/ffwatt", "run"], starttime=60)
    proc.add(61, "ffmpeg", ppid=60, argv=[*PUSH, "rtmp://h/live/bench1"], starttime=61)
    # `python -m ffwatt.cli worker` -> its Dask process -> ffmpeg
    proc.add(70, "python3", ppid=50, argv=["python3", "-u", "-m", "ffwatt.cli", "worker"], starttime=70)
    proc.add(71, "python3", ppid=70, argv=["python3", "-c", "from multiprocessing.spawn import spawn_main"],
             starttime=71)
    proc.add(72, "ffmpeg", ppid=71, argv=[*PUSH, "rtmp://h/live/bench2"], starttime=72)
    # a Python script that merely mentions ffwatt is not ffwatt
    proc.add(80, "python3", ppid=50, argv=["python3", "feed.py", "-m", "ffwatt"], starttime=80)
    proc.add(81, "ffmpeg", ppid=80, argv=[*PUSH, "rtmp://h/live/prod"], starttime=81)
    scan = scanner(proc).scan()
    assert by_label(scan) == {rtmp_stream_label("live", "prod"): (81,)}
    assert (scan.found, scan.own) == (1, 2)


def test_process_names_are_matched_on_comm_and_zombies_are_no_stream(proc):
    proc.add(100, "gst-launch-1.0", ppid=50, argv=["gst-launch-1.0", "videotestsrc", "!", "x264enc", "!",
                                                   "filesink", "location=/rec/a.mp4"], starttime=100)
    proc.add(101, "ffmpeg", ppid=50, argv=[], state="Z", starttime=101)
    proc.add(102, "ffmpeg-static-6", ppid=50, argv=["/opt/ffmpeg-static-6.0", "-i", "x", "b.mp4"], starttime=102)
    scan = scanner(proc, process_names=("ffmpeg", "/usr/bin/gst-launch-1.0")).scan()
    assert by_label(scan) == {"a.mp4": (100,)}


def test_a_comm_with_spaces_and_parentheses_is_read_whole(proc):
    proc.add(100, "ff) (mpeg", ppid=50, argv=["x", "out.mp4"], starttime=100)
    assert by_label(scanner(proc, process_names=("ff) (mpeg",)).scan()) == {"out.mp4": (100,)}


def test_the_cap_keeps_served_streams_first_and_counts_each_dropped_tree_once(proc):
    proc.add(100, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "a.mp4"], starttime=500)
    proc.add(101, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "b.mp4"], starttime=600)
    proc.add(102, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "c.mp4"], starttime=700)
    s = scanner(proc, max_streams=2)
    scan = s.scan()
    assert set(by_label(scan)) == {"a.mp4", "b.mp4"}  # the oldest two
    assert (scan.found, scan.over_cap, s.dropped_total) == (3, 1, 1)
    assert s.scan().over_cap == 1 and s.dropped_total == 1  # still over: counted once
    # an older tree appears: the served ones keep their places, the newcomer is over the cap
    proc.add(103, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "d.mp4"], starttime=100)
    scan = s.scan()
    assert set(by_label(scan)) == {"a.mp4", "b.mp4"}
    assert (scan.over_cap, s.dropped_total) == (2, 2)
    proc.remove(100)
    scan = s.scan()
    assert set(by_label(scan)) == {"b.mp4", "d.mp4"}  # b served before; then the oldest left
    assert s.dropped_total == 2


def test_two_trees_with_one_label_keep_it_for_the_older(proc):
    proc.add(100, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "/a/out.mp4"], starttime=900)
    proc.add(101, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "y", "/b/out.mp4"], starttime=800)
    assert by_label(scanner(proc).scan()) == {"out.mp4": (101,), "out.mp4~100": (100,)}


def test_a_wrapper_that_execs_ffmpeg_is_found_at_the_next_scan(proc):
    clock = Clock()
    s = scanner(proc, clock)
    proc.add(100, "entrypoint.sh", ppid=50, argv=["/bin/sh", "/entrypoint.sh"], starttime=100)
    assert s.scan().streams == ()
    proc.update(100, comm="ffmpeg", argv=[*PUSH, "rtmp://h/live/cam9"])  # exec: same pid, start time
    clock.now += 1.0
    assert set(by_label(s.scan())) == {rtmp_stream_label("live", "cam9")}


def test_an_old_process_is_reread_every_recheck_period_not_every_scan(proc, monkeypatch):
    clock = Clock()
    s = scanner(proc, clock)
    proc.add(100, "sh", ppid=50, argv=["sh"], starttime=100)
    s.scan()
    reads: list[int] = []
    real = proc_reader.read_stat
    monkeypatch.setattr(proc_reader, "read_stat", lambda pid, root: reads.append(pid) or real(pid, root))
    clock.now += YOUNG_SECONDS + 1
    s.scan()  # the young period is over: one more read, then the slow schedule
    assert reads.count(100) == 1
    proc.update(100, comm="ffmpeg", argv=["ffmpeg", "-i", "x", "late.mp4"])
    for _ in range(int(RECHECK_SECONDS) - 1):  # jitter 0.5: the next read RECHECK_SECONDS x (0.5 + 0.5) later
        clock.now += 1.0
        assert s.scan().streams == ()
    assert reads.count(100) == 1
    clock.now += 1.0
    assert set(by_label(s.scan())) == {"late.mp4"}
    assert reads.count(100) == 2


def test_a_command_line_is_read_once_per_process_and_again_for_a_reused_pid(proc, monkeypatch):
    clock = Clock()
    s = scanner(proc, clock)
    proc.add(100, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "first.mp4"], starttime=100)
    reads: list[int] = []
    real = procfs.read_cmdline
    monkeypatch.setattr(procfs, "read_cmdline", lambda root, pid: reads.append(pid) or real(root, pid))
    for _ in range(5):
        clock.now += 1
        assert set(by_label(s.scan())) == {"first.mp4"}
    assert reads == [100]
    proc.remove(100)
    proc.add(100, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "second.mp4"], starttime=999)
    clock.now += 1
    assert set(by_label(s.scan())) == {"second.mp4"}
    assert reads == [100, 100]


def test_a_process_gone_between_listing_and_reading_is_skipped(proc, monkeypatch):
    proc.add(100, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "a.mp4"], starttime=100)
    proc.add(101, "ffmpeg", ppid=50, argv=["ffmpeg", "-i", "x", "b.mp4"], starttime=101)
    real = procfs.list_pids
    monkeypatch.setattr(procfs, "list_pids", lambda root: [*real(root), 4000])  # listed, never readable
    proc_101 = proc.root / "101" / "cmdline"
    proc_101.unlink()  # stat readable, command line gone: it ended meanwhile
    assert set(by_label(scanner(proc).scan())) == {"a.mp4"}


def test_a_proc_root_that_cannot_be_listed_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        Scanner(str(tmp_path / "nope")).scan()


def test_read_cmdline_is_bounded_and_decodes_odd_bytes(tmp_path):
    d = tmp_path / "7"
    d.mkdir()
    (d / "cmdline").write_bytes(b"ffmpeg\0-i\0\xff\xfeodd\0" + b"x" * (procfs.MAX_CMDLINE_BYTES + 10) + b"\0")
    argv, cut = procfs.read_cmdline(str(tmp_path), 7)
    assert cut and argv[:3] == ["ffmpeg", "-i", "\ufffd\ufffdodd"]
    assert sum(len(a) + 1 for a in argv) <= procfs.MAX_CMDLINE_BYTES + 1


# --- the real /proc ----------------------------------------------------------------------------


def _named(tmp_path: Path, name: str, target: str) -> str:
    """`target` under another name: the kernel names a process (comm) after the file it ran."""
    link = tmp_path / name
    link.symlink_to(target)
    return str(link)


def _wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # its own session: the script and its children
    proc.wait()


def test_the_real_proc_shows_a_real_process_tree(tmp_path):
    script = tmp_path / "ffmpeg"
    script.write_text("#!/bin/sh\nsleep 30 &\nsleep 30\n")
    script.chmod(0o755)
    proc = subprocess.Popen([str(script), "-f", "flv", "rtmp://127.0.0.1/live/real-key-123"], start_new_session=True)
    try:
        s = Scanner("/proc", ("ffmpeg",))
        mine = _wait_for(lambda: next((t for t in s.scan().streams if t.key[0] == proc.pid and len(t.pids) == 3),
                                      None), "the script and its two sleeps")
        assert mine.identity.stream == rtmp_stream_label("live", "real-key-123")
        # the independent reading: the kernel's children list, and field 22 of stat (start time)
        children = {int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()}
        assert set(mine.pids) == {proc.pid} | children
        assert mine.key == (proc.pid, int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]))
    finally:
        _stop(proc)


def test_an_encoder_under_a_real_ffwatt_process_is_left_out(tmp_path):
    encoder = _named(tmp_path, "ffmpeg", "/bin/sleep")
    runner = tmp_path / "ffwatt"  # the console script's name: the kernel's comm for it
    runner.write_text(f"#!{sys.executable}\nimport subprocess\nsubprocess.run([{encoder!r}, '30'])\n")
    runner.chmod(0o755)
    other = subprocess.Popen([encoder, "31"], start_new_session=True)
    proc = subprocess.Popen([str(runner), "run"], start_new_session=True)
    try:
        s = Scanner("/proc", ("ffmpeg",))

        def under_runner() -> list[int]:
            return [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]

        child = _wait_for(under_runner, "the runner's encoder")[0]
        scan = s.scan()
        pids = {t.key[0] for t in scan.streams}
        assert child not in pids and other.pid in pids
        assert scan.own >= 1
    finally:
        _stop(proc)
        _stop(other)
