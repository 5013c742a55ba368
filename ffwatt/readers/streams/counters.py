"""Each stream's CPU-seconds counter: monotonic while its tree changes, kept a bounded time after it ends.

**A tree's CPU time** is counted per member process, between two scans:

    ticks += own(p) now - own(p) before               for a member seen both times
           + reaped(p) now - reaped(p) before         (own = utime + stime, reaped = cutime + cstime)
           + own(p) + reaped(p)                       for a member seen for the first time
           - min(reaped(q) now - reaped(q) before,    for a member q whose children ended:
                 sum of those children's ticks before)  their time reaches q's `reaped` when q waits
                                                        for them, and was counted already
    cpu_seconds = ticks / CLK_TCK

so a helper process that ends and is reaped inside the tree is counted once, whole; one
reaped elsewhere (or auto-reaped) keeps what was counted up to the last scan. An ended
process's counted ticks are taken off its nearest surviving ancestor (a helper of a helper
that both ended since the last scan reaches the survivor's `reaped` through its parent).
Nothing is ever counted twice and the counter never falls: every term is a difference of
the kernel's own monotonic counters, and each subtraction is bounded by the addition it
corrects. Where, in one interval, some of a survivor's ended descendants were reaped inside
the tree and others not, the split is unknown and the larger subtraction is taken: the
counter may then miss up to what the latter had been counted. At its first scan a stream counts
its tree's CPU time since it started, as `process_cpu_seconds_total` does. What a member
uses between the last scan and its end without being reaped inside the tree is not counted
(at most one scan interval of that process).

**Each interval's growth** (what the energy attribution shares by, `StreamValue.interval_seconds`):
the tree's count now minus at the last scan; for a tree seen for the first time, its whole count
when its top process started after the last scan listed /proc (`listed_at`, to the clock tick
`starttime` is counted in: its CPU time all lies in the interval), else 0 (it ran before: the interval's part of its history is unknown, so it
starts sharing from its next scan, at most one interval missed). An ended stream grows by 0.

**Series lifetime**: a stream whose tree ended is served with its last values for
`retention` seconds (so the last scrape sees its last count), then dropped. A new tree
that takes the label of an ended one within that time (a channel restarted) continues its
counter from the ended one's last value, so the series stays monotonic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ffwatt.readers.proc import ProcStat
from ffwatt.readers.streams.discovery import StreamTree
from ffwatt.readers.streams.identity import Identity

__all__ = ["TreeCpu", "StreamSeries", "StreamValue"]


class TreeCpu:
    """The CPU ticks one process tree has used, counted per member (module docstring)."""

    def __init__(self) -> None:
        self.ticks = 0
        self._last: dict[int, ProcStat] = {}

    def update(self, members: Sequence[ProcStat]) -> int:
        now = {s.pid: s for s in members}
        added = 0
        reaped_growth: dict[int, int] = {}
        kept = 0  # members seen at the last update too: all of them, and none gone, is the common case
        for pid, stat in now.items():
            before = self._last.get(pid)
            if before is None or before.starttime != stat.starttime:
                added += stat.ticks
                continue
            kept += 1
            growth = stat.reaped_ticks - before.reaped_ticks
            added += stat.own_ticks - before.own_ticks + growth
            reaped_growth[pid] = growth
        gone = set() if kept == len(self._last) else {
            pid for pid, before in self._last.items() if pid not in now or now[pid].starttime != before.starttime}
        counted_below: dict[int, int] = {}
        for pid in gone:
            survivor = self._nearest_survivor(pid, gone)
            counted_below[survivor] = counted_below.get(survivor, 0) + self._last[pid].ticks
        for survivor, counted in counted_below.items():
            added -= min(reaped_growth.get(survivor, 0), counted)
        self._last = now
        self.ticks += added
        return self.ticks

    def _nearest_survivor(self, pid: int, gone: set[int]) -> int:
        """The closest ancestor (as last read) that still lives: where an ended process's time
        goes when the ones between it and there were reaped too."""
        parent = self._last[pid].ppid
        while parent in gone and parent != pid:
            pid, parent = parent, self._last[parent].ppid
        return parent


@dataclass(frozen=True)
class StreamValue:
    """What a stream's series show now."""

    identity: Identity
    cpu_seconds: float
    live: bool
    interval_seconds: float = 0.0  # CPU seconds the tree used since the last scan (module docstring)
    pids: tuple[int, ...] = ()  # the live tree's members


@dataclass
class _Series:
    identity: Identity
    base_seconds: float  # carried from an ended stream of the same label
    key: tuple[int, int] | None  # the live tree; None once it ended
    cpu_seconds: float
    ended_at: float | None = None
    interval_seconds: float = 0.0
    pids: tuple[int, ...] = ()


def boot_seconds() -> float:
    """Seconds since boot, the clock of /proc/<pid>/stat's `starttime` (suspend included)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class StreamSeries:
    """The streams' series, from one scan to the next."""

    def __init__(self, retention_seconds: float, clock: Callable[[], float] = time.monotonic,
                 ticks_per_second: int | None = None):
        self.retention = retention_seconds
        self._clock = clock
        self._tick = float(ticks_per_second or os.sysconf("SC_CLK_TCK"))
        self._cpu: dict[tuple[int, int], TreeCpu] = {}
        self._series: dict[str, _Series] = {}
        self._last_listed: float | None = None  # boot seconds when the last scan listed /proc

    def update(self, trees: Sequence[StreamTree], listed_at: float | None = None) -> list[StreamValue]:
        """The series after a scan of `trees`; `listed_at`: seconds since boot when that scan listed
        /proc (`boot_seconds()` taken before it; None: now)."""
        now = self._clock()
        since, self._last_listed = self._last_listed, boot_seconds() if listed_at is None else listed_at
        label_of = {t.key: t.identity.stream for t in trees}
        for key in [k for k in self._cpu if k not in label_of]:
            del self._cpu[key]
        for label, series in list(self._series.items()):
            if series.key is not None and label_of.get(series.key) != label:
                series.key, series.ended_at = None, now  # ended (or its tree took another label)
            if series.ended_at is not None and now - series.ended_at > self.retention:
                del self._series[label]
        for series in self._series.values():
            series.interval_seconds, series.pids = 0.0, ()
        for tree in trees:
            self._update_one(tree, since)
        return [StreamValue(s.identity, s.cpu_seconds, s.key is not None, s.interval_seconds, s.pids)
                for s in self._series.values()]

    def _update_one(self, tree: StreamTree, since: float | None) -> None:
        label = tree.identity.stream
        cpu = self._cpu.get(tree.key)
        if cpu is None:
            cpu = self._cpu[tree.key] = TreeCpu()
            # starttime is floored to a tick: one started just after the listing can read a tick earlier
            started = (tree.members[0].starttime + 1) / self._tick
            before = 0 if since is not None and started >= since else None  # None: its history is not the interval's
        else:
            before = cpu.ticks
        ticks = cpu.update(tree.members)
        series = self._series.get(label)
        if series is None:
            series = self._series[label] = _Series(tree.identity, 0.0, tree.key, 0.0)
        elif series.key is None:  # the label of an ended stream: continue its count
            series.key, series.ended_at, series.base_seconds = tree.key, None, series.cpu_seconds
        series.identity = tree.identity
        series.cpu_seconds = series.base_seconds + ticks / self._tick
        series.interval_seconds = 0.0 if before is None else (ticks - before) / self._tick
        series.pids = tree.pids
