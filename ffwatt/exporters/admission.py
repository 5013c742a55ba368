"""Who holds a connection of the bounded server (ffwatt/exporters/http_server.py), and who makes room.

Every connection is in one phase:

- `waiting`: no byte of its next request yet (just accepted, or an idle keep-alive);
- `head`: its request head or TLS handshake is under way (a first byte arrived);
- `busy`: a request is being answered or its body read (a progress push streams for minutes).

Three caps: all connections (`max_total`), the connections of one peer (`max_per_peer`; a
peer is an IPv4 address or an IPv6 /64, which one host can fill with addresses at will), and
the connections in the head phase (`max_head`, a fraction of the total, so heads can never take
the slots that answers and pushes need). When a cap is reached, the newcomer takes the place of
the connection under that cap that has waited longest for a request, else of the one whose head
has taken longest; with neither, it is refused.

Why the longest head goes: a well-behaved client sends its head (or its ClientHello) at once,
so it is never the oldest one in the head phase; clients that trickle a byte every few seconds
(slowloris) or stop half way through a ClientHello are, and they lose their place to newcomers
instead of locking them out. Under the head cap alone, a head younger than `HEAD_MIN_AGE` is
not taken (the cap is exceeded for a moment instead): a burst of scrapers shaking hands at once
is not a trickle, and there is room; under the total or a peer's cap, the oldest head goes
whatever its age, as a newcomer must get in. A busy connection is never taken. Victims are only chosen here: the
caller shuts their sockets down outside the lock (`Seat.sock`) and counts the reason.
Thread-safe.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

# Evicted connections whose threads have not ended yet: beyond this many, newcomers are refused
# rather than evicting more (bounds the threads an eviction storm can leave behind).
MAX_LEAVING = 32
# Seconds in the head phase before a connection may be taken to keep the head cap (a TLS
# handshake under load takes milliseconds; a trickler is cut off by the head byte rate after 2 s).
HEAD_MIN_AGE = 1.0
WAITING, HEAD, BUSY = "waiting", "head", "busy"
_REASON = {WAITING: "idle_evicted", HEAD: "head_evicted"}


def peer_key(address: str) -> str:
    """The peer a connection counts against: its IPv4 address (also when seen as ::ffff:a.b.c.d),
    or the /64 of an IPv6 address; anything else as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(eq=False)
class Seat:
    """One admitted connection. `sock` is what an eviction shuts down (the TLS socket once wrapped)."""

    peer: str
    sock: socket.socket
    phase: str = WAITING
    since: float = 0.0  # when it entered its phase (monotonic)
    gone: bool = False  # evicted or released: no longer counted


@dataclass(frozen=True)
class Verdict:
    seat: Seat | None  # None: refused
    refused: str | None = None  # why: "over_capacity" or "per_peer"
    victims: tuple[tuple[Seat, str], ...] = ()  # (seat, reason) to shut down


class Admission:
    def __init__(self, max_total: int, max_per_peer: int, max_head: int, *, clock=time.monotonic):
        self._clock = clock
        self.max_total = max_total
        self.max_per_peer = max_per_peer
        self.max_head = max(1, max_head)
        self._lock = threading.Lock()
        self._total = 0
        self._leaving = 0
        self._peers: Counter[str] = Counter()
        # insertion-ordered: the first is the one in that phase longest
        self._pools: dict[str, dict[Seat, None]] = {WAITING: {}, HEAD: {}}

    # --- counts (for tests and /health) ---------------------------------------------------
    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._pools[WAITING])

    @property
    def in_head(self) -> int:
        with self._lock:
            return len(self._pools[HEAD])

    # --- admission --------------------------------------------------------------------------
    def admit(self, address: str, sock: socket.socket) -> Verdict:
        """A new connection from `address`: a seat (and perhaps a victim), or a refusal."""
        peer = peer_key(address)
        with self._lock:
            victims: list[tuple[Seat, str]] = []
            if self._peers[peer] >= self.max_per_peer:
                if not self._evict_oldest(victims, peer):
                    return Verdict(None, "per_peer")
            elif self._total >= self.max_total and not self._evict_oldest(victims, None):
                return Verdict(None, "over_capacity")
            seat = Seat(peer, sock, since=self._clock())
            self._total += 1
            self._peers[peer] += 1
            self._pools[WAITING][seat] = None
            return Verdict(seat, None, tuple(victims))

    def enter(self, seat: Seat, phase: str) -> tuple[tuple[Seat, str], ...]:
        """Move `seat` to `phase`; the victims (at most one) that entering the head phase displaced."""
        with self._lock:
            if seat.gone or seat.phase == phase:
                return ()
            self._pools.get(seat.phase, {}).pop(seat, None)
            seat.phase, seat.since = phase, self._clock()
            victims: list[tuple[Seat, str]] = []
            if phase == HEAD and len(self._pools[HEAD]) >= self.max_head and self._leaving < MAX_LEAVING:
                self._evict_first(victims, self._pools[HEAD], None, min_age=HEAD_MIN_AGE)
            if phase in self._pools:
                self._pools[phase][seat] = None
            return tuple(victims)

    def release(self, seat: Seat) -> None:
        """The connection's thread ended."""
        with self._lock:
            if seat.gone:  # evicted earlier: counted out then
                self._leaving -= 1
                return
            self._count_out(seat)

    # --- inside the lock --------------------------------------------------------------------
    def _evict_oldest(self, victims: list, peer: str | None) -> bool:
        """Evict the oldest waiting seat (of `peer`, when given), else the oldest head."""
        if self._leaving >= MAX_LEAVING:
            return False
        return any(self._evict_first(victims, self._pools[phase], peer) for phase in (WAITING, HEAD))

    def _evict_first(self, victims: list, pool: dict[Seat, None], peer: str | None, min_age: float = 0.0) -> bool:
        victim = next((s for s in pool if peer is None or s.peer == peer), None)
        if victim is None or self._clock() - victim.since < min_age:
            return False  # the oldest is the first: when it is too young to take, all are
        reason = _REASON[victim.phase]
        self._count_out(victim)
        self._leaving += 1
        victims.append((victim, reason))
        return True

    def _count_out(self, seat: Seat) -> None:
        seat.gone = True
        self._pools.get(seat.phase, {}).pop(seat, None)
        self._total -= 1
        self._peers[seat.peer] -= 1
        if not self._peers[seat.peer]:
            del self._peers[seat.peer]
