"""A stream's CPU counter: each tick counted once while helpers come, go and are reaped, never
falling; its series kept a bounded time after the stream ends. Expected values are the ticks a
simulated tree really used (arithmetic in comments), not the code's own sums."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ffwatt.readers.proc import ProcStat
from ffwatt.readers.streams.counters import StreamSeries, TreeCpu
from ffwatt.readers.streams.discovery import StreamTree
from ffwatt.readers.streams.identity import Identity


def stat(pid, ppid=1, own=0, reaped=0, start=100) -> ProcStat:
    return ProcStat(pid, "ffmpeg", "S", ppid, utime=own, stime=0, cutime=reaped, cstime=0, starttime=start)


def test_a_helper_reaped_inside_the_tree_is_counted_once_and_whole():
    cpu = TreeCpu()
    assert cpu.update([stat(10, own=100), stat(11, ppid=10, own=50)]) == 150  # since the tree started
    # the helper runs 20 more ticks and exits; its parent waits for it: cutime += 70 (its whole life)
    assert cpu.update([stat(10, own=110, reaped=70)]) == 180  # 110 + 70: nothing twice
    assert cpu.update([stat(10, own=115, reaped=70)]) == 185


def test_a_helper_reaped_elsewhere_keeps_what_was_counted():
    cpu = TreeCpu()
    cpu.update([stat(10, own=100), stat(11, ppid=10, own=50)])
    # the helper runs 20 more ticks, then is reaped where the tree cannot see (SIGCHLD ignored)
    assert cpu.update([stat(10, own=110)]) == 160  # 150 + 10: its last 20 ticks are lost, nothing falls


def test_a_helper_born_and_reaped_between_two_scans_is_counted_through_its_parent():
    cpu = TreeCpu()
    cpu.update([stat(10, own=100)])
    assert cpu.update([stat(10, own=100, reaped=30)]) == 130


def test_a_reused_pid_in_the_tree_is_a_new_process():
    cpu = TreeCpu()
    cpu.update([stat(10, own=100), stat(11, ppid=10, own=50, start=200)])
    # 11 exited, reaped by 10 (cutime += 60), and a new 11 started with 5 ticks
    assert cpu.update([stat(10, own=100, reaped=60), stat(11, ppid=10, own=5, start=300)]) == 165  # 100+60+5


class Tree:
    """A simulated process tree: every tick any member uses, and the ticks the counter cannot see."""

    def __init__(self) -> None:
        self.procs = {1: {"ppid": 0, "own": 0, "reaped": 0, "start": 1}}
        self.used = 0  # every tick a member used
        self.unseen = 0  # ticks of members that ended without reaching a member's `reaped` since the last scan
        self.since_scan: dict[int, int] = {}
        self.next_pid = 2

    def run(self, i: int, ticks: int) -> None:
        pid = sorted(self.procs)[i % len(self.procs)]
        self.procs[pid]["own"] += ticks
        self.used += ticks
        self.since_scan[pid] = self.since_scan.get(pid, 0) + ticks

    def spawn(self, i: int) -> None:
        parent = sorted(self.procs)[i % len(self.procs)]
        self.procs[self.next_pid] = {"ppid": parent, "own": 0, "reaped": 0, "start": self.next_pid}
        self.next_pid += 1

    def exit(self, i: int, reaped_inside: bool) -> None:
        leaves = [p for p in sorted(self.procs) if p != 1 and not any(q["ppid"] == p for q in self.procs.values())]
        if not leaves:
            return
        pid = leaves[i % len(leaves)]
        gone = self.procs.pop(pid)
        if reaped_inside:
            self.procs[gone["ppid"]]["reaped"] += gone["own"] + gone["reaped"]
        else:
            self.unseen += self.since_scan.get(pid, 0)
        self.since_scan.pop(pid, None)

    def scan(self) -> list[ProcStat]:
        self.since_scan = {}
        return [stat(p, v["ppid"], v["own"], v["reaped"], v["start"]) for p, v in self.procs.items()]


def _events(exits: list[str]):
    return st.lists(st.tuples(st.sampled_from(["run", "spawn", "scan", *exits]), st.integers(0, 50),
                              st.integers(1, 40)), max_size=60)


def _replay(events, check) -> None:
    tree, cpu = Tree(), TreeCpu()
    last = cpu.update(tree.scan())
    for kind, i, ticks in events:
        if kind == "run":
            tree.run(i, ticks)
        elif kind == "spawn":
            tree.spawn(i)
        elif kind.startswith("exit"):
            tree.exit(i, kind == "exit-inside")
        else:
            now = cpu.update(tree.scan())
            check(last, now, tree)
            last = now


@settings(max_examples=300, deadline=None)
@given(events=_events(["exit-inside"]))
def test_with_every_helper_reaped_inside_every_tick_is_counted_once(events):
    def check(last, now, tree):
        assert last <= now == tree.used

    _replay(events, check)


@settings(max_examples=300, deadline=None)
@given(events=_events(["exit-inside", "exit-elsewhere"]))
def test_the_counter_never_falls_and_never_counts_a_tick_twice(events):
    def check(last, now, tree):
        # at most every tick used but those of members that ended unseen since the last scan
        assert last <= now <= tree.used - tree.unseen

    _replay(events, check)


def test_a_helper_of_a_helper_both_reaped_inside_since_the_last_scan_is_counted_once():
    cpu = TreeCpu()
    cpu.update([stat(10, own=100), stat(11, ppid=10, own=50), stat(12, ppid=11, own=30)])  # 180
    # 12 runs 5 more and exits, 11 waits for it (reaped 35), runs 7 more and exits, 10 waits for it
    # (reaped 57 + 35 = 92), 10 runs 3 more
    assert cpu.update([stat(10, own=103, reaped=92)]) == 195  # 180 + 5 + 7 + 3


# --- the series --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tree(label: str, pid: int, own: int, start: int = 100) -> StreamTree:
    return StreamTree((pid, start), Identity(label, "file", "libx264", "unknown", "unknown"),
                      (stat(pid, own=own, start=start),))


def values(series: StreamSeries, trees) -> dict[str, tuple[float, bool]]:
    return {v.identity.stream: (v.cpu_seconds, v.live) for v in series.update(trees)}


def test_an_ended_stream_is_kept_for_the_retention_then_dropped():
    clock = Clock()
    s = StreamSeries(15.0, clock, ticks_per_second=100)
    assert values(s, [tree("a", 10, 250)]) == {"a": (2.5, True)}  # 250 ticks / 100 per s
    clock.now = 1
    assert values(s, []) == {"a": (2.5, False)}  # ended at t=1: its last count stays
    clock.now = 16
    assert values(s, []) == {"a": (2.5, False)}  # 15 s later: still there
    clock.now = 16.5
    assert values(s, []) == {}


def test_a_restarted_channel_continues_its_counter_within_the_retention():
    clock = Clock()
    s = StreamSeries(15.0, clock, ticks_per_second=100)
    values(s, [tree("a", 10, 1000)])
    clock.now = 1
    values(s, [])
    clock.now = 3
    # a new process (new pid, start time) with the same label: 10 s + its own 0.5 s
    assert values(s, [tree("a", 20, 50, start=300)]) == {"a": (10.5, True)}
    clock.now = 4
    assert values(s, [tree("a", 20, 80, start=300)]) == {"a": (10.8, True)}


def test_a_label_given_up_by_a_live_tree_ends_its_series():
    clock = Clock()
    s = StreamSeries(0.0, clock, ticks_per_second=100)
    values(s, [tree("a", 10, 100), tree("a~20", 20, 300)])
    clock.now = 1
    # tree 10 ended: tree 20 takes "a", continuing a's count (1 s) with its own 3 s
    got = values(s, [tree("a", 20, 300)])
    assert got == {"a": (4.0, True), "a~20": (3.0, False)}
    clock.now = 2
    assert values(s, [tree("a", 20, 310)]) == {"a": (4.1, True)}
