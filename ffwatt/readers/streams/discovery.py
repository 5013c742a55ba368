"""Which encoder process trees run on a host, from /proc: the streams the collector serves.

`Scanner.scan()` (every refresh, ~1 s) returns one `StreamTree` per live stream:

- **Encoders**: processes whose `comm` is one of `process_names` (`ffmpeg` by default; a
  name is matched by its first 15 characters, as the kernel keeps `comm`), not zombies.
- **One stream per tree**: an encoder with an encoder among its ancestors belongs to that
  ancestor's stream; a stream's members are its top process and every live descendant
  (helpers included), each read fresh every scan for the CPU counter.
- **Not ffwatt's own**: a tree is left out (counted in `own`) when an ancestor of its top is
  ffwatt: `comm` `ffwatt` (the console script: `ffwatt run`, `ffwatt worker`) or a Python
  started as `python -m ffwatt...`. The runner's encodes are its children (a worker's, its
  grandchildren), so they are never counted twice; an encoder anyone else starts is a stream.
- **Bounded**: at most `max_streams` trees, the ones already served first, then the oldest;
  the others are over the cap, each counted once in `dropped_total`.
- **Unique labels**: two live trees with the same label (the same file name) keep it for the
  older, the other gets `~<pid>` appended.

Cheap on a host with hundreds of processes: /proc is listed each scan, but a process's stat
(`readers.proc.read_stat`, the one reader of /proc/<pid>/stat) is read when it first appears,
then every scan while it is a stream's member, then again within a second while it is younger
than `YOUNG_SECONDS` (a wrapper script that `exec`s ffmpeg changes its comm, not its pid), then
about every `RECHECK_SECONDS`. A command line is read once per process (pid, start time and
comm), parsed once, and only its identity kept. A pid reused within one scan by an unrelated process is noticed at its next read.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ffwatt.readers import proc
from ffwatt.readers.proc import ProcStat
from ffwatt.readers.streams import procfs
from ffwatt.readers.streams.identity import DEFAULT_NAMING, Identity, Naming, identify

__all__ = ["Scanner", "Scan", "StreamTree", "DEFAULT_PROCESS_NAMES", "DEFAULT_MAX_STREAMS"]

DEFAULT_PROCESS_NAMES = ("ffmpeg",)
DEFAULT_MAX_STREAMS = 512
YOUNG_SECONDS = 10.0
RECHECK_SECONDS = 30.0
COMM_LENGTH = 15  # TASK_COMM_LEN - 1
_MAX_DEPTH = 64
_ENDED = ("Z", "X", "x")


@dataclass
class _Entry:
    stat: ProcStat
    first_seen: float
    next_check: float
    ffwatt: bool | None = None  # is this process ffwatt? (read lazily, for ancestors only)


@dataclass(frozen=True)
class StreamTree:
    """One live stream: its top encoder process and every member, read this scan."""

    key: tuple[int, int]  # (pid, start time) of the top process: names the tree while it lives
    identity: Identity
    members: tuple[ProcStat, ...]  # the top first

    @functools.cached_property
    def pids(self) -> tuple[int, ...]:
        return tuple(s.pid for s in self.members)


@dataclass(frozen=True)
class Scan:
    streams: tuple[StreamTree, ...]
    found: int  # trees of encoders ffwatt did not start, before the cap
    own: int  # trees ffwatt started (left out)
    over_cap: int  # trees left out by the cap now
    cut_cmdlines: int  # served trees whose command line was longer than procfs.MAX_CMDLINE_BYTES


@dataclass
class _Identities:
    """Identity per (pid, start time, comm); forgotten with the process."""

    naming: Naming
    by_key: dict[tuple[int, int, str], tuple[Identity, bool]] = field(default_factory=dict)

    def get(self, proc_root: str, stat: ProcStat) -> tuple[Identity, bool] | None:
        key = (stat.pid, stat.starttime, stat.comm)
        found = self.by_key.get(key)
        if found is None:
            read = procfs.read_cmdline(proc_root, stat.pid)
            if read is None:
                return None
            argv, cut = read
            found = self.by_key[key] = (identify(argv, stat.pid, self.naming, stat.comm), cut)
        return found

    def keep_only(self, live: set[tuple[int, int]]) -> None:
        for key in [k for k in self.by_key if (k[0], k[1]) not in live]:
            del self.by_key[key]


class Scanner:
    """Finds the stream trees under `proc_root` (`/proc`, or a fixture tree in tests)."""

    def __init__(self, proc_root: str = "/proc", process_names: Sequence[str] = DEFAULT_PROCESS_NAMES,
                 naming: Naming = DEFAULT_NAMING, max_streams: int = DEFAULT_MAX_STREAMS,
                 clock: Callable[[], float] = time.monotonic, jitter: Callable[[], float] = random.random):
        self.proc_root = proc_root
        self.names = frozenset(os.path.basename(n)[:COMM_LENGTH] for n in process_names)
        self.max_streams = max_streams
        self.dropped_total = 0
        self._clock = clock
        self._jitter = jitter
        self._entries: dict[int, _Entry] = {}
        self._members: set[int] = set()
        self._served: set[tuple[int, int]] = set()
        self._over_cap: set[tuple[int, int]] = set()
        self._identities = _Identities(naming)
        # the process tree's shape (who is a top, who belongs to which), kept until a process comes, goes,
        # or changes its parent, name or ended state: a scan then only re-reads the members' CPU ticks
        self._changed = True
        self._shape: tuple[list[ProcStat], int, dict[int, list[int]]] = ([], 0, {})
        self._kept = proc.KeptStats(proc_root)  # the members' stat files, read every scan

    @property
    def processes_known(self) -> int:
        return len(self._entries)

    def scan(self) -> Scan:
        now = self._clock()
        pids = procfs.list_pids(self.proc_root)  # OSError: the caller names the root
        fresh = self._refresh_entries(pids, now)
        if self._changed:
            tops, own = self._tops()
            self._shape = (tops, own, self._membership(tops))
            self._identities.keep_only({(e.stat.pid, e.stat.starttime) for e in self._entries.values()})
            self._changed = False
        tops, own, membership = self._shape
        members = self._members_of(membership, fresh)
        trees, cut = self._trees(sorted(tops, key=self._order), members)
        served = trees[: self.max_streams]
        over = {t.key for t in trees[self.max_streams:]}
        self.dropped_total += len(over - self._over_cap)
        self._over_cap = over
        self._served = {t.key for t in served}
        self._members = {pid for t in served for pid in t.pids}
        self._kept.keep_only(self._members)
        return Scan(_unique_labels(served), len(trees), own, len(over),
                    sum(1 for t in served if t.key in cut))

    # --- the process table --------------------------------------------------------------
    def _refresh_entries(self, pids: Iterable[int], now: float) -> set[int]:
        """Read new processes, members and those due a recheck; forget the gone. The pids read."""
        live = set(pids)
        for pid in [p for p in self._entries if p not in live]:
            del self._entries[pid]
            self._changed = True
        fresh = set()
        for pid in live & self._members:  # every scan, their files kept open
            if self._note(pid, self._kept.read(pid), now) is not None:
                fresh.add(pid)
        for pid in live - self._members:
            entry = self._entries.get(pid)
            if entry is not None and entry.next_check > now:
                continue
            entry = self._note(pid, proc.read_stat(pid, self.proc_root), now)
            if entry is not None:
                fresh.add(pid)
                young = now - entry.first_seen < YOUNG_SECONDS
                entry.next_check = now + (1.0 if young else RECHECK_SECONDS * (0.5 + self._jitter()))
        return fresh

    def _note(self, pid: int, stat: ProcStat | None, now: float) -> _Entry | None:
        """A process just read (None: gone): its entry, the shape marked changed where it changed."""
        entry = self._entries.get(pid)
        if stat is None:
            self._changed |= self._entries.pop(pid, None) is not None
            return None
        if entry is None or entry.stat.starttime != stat.starttime:
            entry = self._entries[pid] = _Entry(stat, now, now)
            self._changed = True
        elif _reshaped(entry.stat, stat):
            entry.ffwatt = None
            self._changed = True
        entry.stat = stat
        return entry

    def _is_encoder(self, stat: ProcStat) -> bool:
        return stat.comm in self.names and stat.state not in _ENDED

    def _ancestors(self, pid: int) -> Iterable[_Entry]:
        seen = 0
        entry = self._entries.get(pid)
        while entry is not None and seen < _MAX_DEPTH:
            parent = entry.stat.ppid
            entry = self._entries.get(parent) if parent != entry.stat.pid else None
            if entry is not None:
                yield entry
            seen += 1

    def _tops(self) -> tuple[list[ProcStat], int]:
        """Encoders without an encoder above them, ffwatt's own left out (their count)."""
        tops, own = [], 0
        for entry in self._entries.values():
            if not self._is_encoder(entry.stat):
                continue
            ancestors = list(self._ancestors(entry.stat.pid))
            if any(self._is_encoder(a.stat) for a in ancestors):
                continue
            if any(self._is_ffwatt(a) for a in ancestors):
                own += 1
            else:
                tops.append(entry.stat)
        return tops, own

    def _is_ffwatt(self, entry: _Entry) -> bool:
        if entry.ffwatt is None:
            entry.ffwatt = entry.stat.comm == "ffwatt" or (
                entry.stat.comm.startswith("python") and _runs_ffwatt_module(self.proc_root, entry.stat.pid))
        return entry.ffwatt

    def _membership(self, tops: Sequence[ProcStat]) -> dict[int, list[int]]:
        """top pid -> the pids of its members (the top first): every process below a top."""
        top_pids = {s.pid for s in tops}
        owner: dict[int, int | None] = {}

        def owner_of(pid: int) -> int | None:
            chain = []
            while pid not in owner and pid not in top_pids and len(chain) < _MAX_DEPTH:
                entry = self._entries.get(pid)
                if entry is None or entry.stat.ppid == pid:
                    break
                chain.append(pid)
                pid = entry.stat.ppid
            found = pid if pid in top_pids else owner.get(pid)
            for p in chain:
                owner[p] = found
            return found

        members: dict[int, list[int]] = {pid: [pid] for pid in top_pids}
        for pid in self._entries:
            top = None if pid in top_pids else owner_of(pid)
            if top is not None:
                members[top].append(pid)
        return members

    def close(self) -> None:
        """Close the stat files kept open."""
        self._kept.close()

    def _members_of(self, membership: dict[int, list[int]], fresh: set[int]) -> dict[int, list[ProcStat]]:
        """top pid -> its members' stats (top first), every one read this scan."""
        members: dict[int, list[ProcStat]] = {}
        for top, pids in membership.items():
            stats = members[top] = []
            for pid in pids:
                entry = self._entries.get(pid)
                stat = None if entry is None else entry.stat if pid in fresh else proc.read_stat(pid, self.proc_root)
                if stat is None or stat.starttime != entry.stat.starttime:  # type: ignore[union-attr]
                    continue  # gone since the listing (or the pid is someone else's now)
                entry.stat = stat  # type: ignore[union-attr]
                stats.append(stat)
        return members

    def _order(self, stat: ProcStat) -> tuple[int, int, int]:
        """Served trees first, then the oldest."""
        return (0 if (stat.pid, stat.starttime) in self._served else 1, stat.starttime, stat.pid)

    def _trees(self, tops: Sequence[ProcStat], members: dict[int, list[ProcStat]]
               ) -> tuple[list[StreamTree], set[tuple[int, int]]]:
        trees, cut = [], set()
        for top in tops:
            if not members.get(top.pid):
                continue  # the top itself ended meanwhile
            key = (top.pid, top.starttime)
            if len(trees) >= self.max_streams:
                trees.append(StreamTree(key, _UNNAMED, ()))  # over the cap: no command line read
                continue
            found = self._identities.get(self.proc_root, top)
            if found is None:
                continue
            identity, was_cut = found
            if was_cut:
                cut.add(key)
            trees.append(StreamTree(key, identity, tuple(members[top.pid])))
        return trees, cut


_UNNAMED = Identity("", "fallback", "unknown", "unknown", "unknown")


def _reshaped(before: ProcStat, now: ProcStat) -> bool:
    """Did what decides tops and members change: the parent, the name, whether it ended?"""
    return before.ppid != now.ppid or before.comm != now.comm or (before.state in _ENDED) != (now.state in _ENDED)


def _runs_ffwatt_module(proc_root: str, pid: int) -> bool:
    """A Python started as `python [options] -m ffwatt[.something] ...`."""
    read = procfs.read_cmdline(proc_root, pid)
    argv = read[0] if read else []
    for i, arg in enumerate(argv[1:], 1):
        if arg == "-m" and i + 1 < len(argv):
            return argv[i + 1] == "ffwatt" or argv[i + 1].startswith("ffwatt.")
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:] == "ffwatt" or arg[2:].startswith("ffwatt.")
        if not arg.startswith("-"):
            return False  # a script: python's own options are over
    return False


def _unique_labels(trees: Sequence[StreamTree]) -> tuple[StreamTree, ...]:
    """The older tree keeps a label two share; the younger gets `~<pid>` appended."""
    taken: set[str] = set()
    out = []
    for tree in sorted(trees, key=lambda t: (t.members[0].starttime, t.key[0])):
        label = tree.identity.stream
        if label in taken:
            label = f"{label[:240]}~{tree.key[0]}"
            tree = dataclasses.replace(tree, identity=dataclasses.replace(tree.identity, stream=label))
        taken.add(label)
        out.append(tree)
    return tuple(out)

