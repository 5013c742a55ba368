"""Token buckets: at most `rate` units per second on average, bursts up to `burst`.

`TokenBucket` is not thread-safe on its own: callers hold their lock (the ffmpeg exporter's
state lock). `AuthThrottle` is, and bounds the password checks (bcrypt, ~70 ms of CPU each at
cost 10) a server makes for credentials it has not seen: per peer and for all peers together.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class TokenBucket:
    def __init__(self, rate: float, burst: float, *, clock=time.monotonic) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"a token bucket needs rate > 0 and burst > 0, got {rate} and {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def take(self, amount: float = 1.0) -> bool:
        """Take `amount` units if there are that many; False (and nothing taken) when not."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True

    def give_back(self, amount: float = 1.0) -> None:
        self._tokens = min(self.burst, self._tokens + amount)

# Peers whose buckets are kept; the one unseen longest is forgotten first (its bucket was full
# again anyway unless it is still attacking, and then it is not the one unseen longest).
MAX_PEERS = 4096


# A peer whose last failed check is older than this counts as a scraper again.
CLEAN_SECONDS = 60.0


class _Peer:
    __slots__ = ("bucket", "failed_at")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.failed_at: float | None = None


class AuthThrottle:
    """Password checks allowed per peer (`per_peer_per_minute` failures, in a burst of as many) and
    for all peers together (`per_second`, in a burst of 4 s of them). The all-peers budget has two
    halves: one for peers without a failed check in the last `CLEAN_SECONDS` (a scraper), one for
    the others (an attacker), so a flood of failures cannot take the checks a new scraper needs.
    `take(peer)` before a check gives a ticket (None: over budget, answer 429 without checking);
    `settle(peer, ticket, ok)` after it: a success gives the tokens back, only failures count."""

    def __init__(self, per_peer_per_minute: float, per_second: float, *, clock=time.monotonic) -> None:
        self._per_peer = (per_peer_per_minute / 60.0, per_peer_per_minute)
        self._clean = TokenBucket(per_second / 2, per_second * 2, clock=clock)
        self._failing = TokenBucket(per_second / 2, per_second * 2, clock=clock)
        self._clock = clock
        self._peers: OrderedDict[str, _Peer] = OrderedDict()
        self._lock = threading.Lock()

    def _peer(self, peer: str) -> _Peer:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _Peer(TokenBucket(*self._per_peer, clock=self._clock))
            if len(self._peers) > MAX_PEERS:
                self._peers.popitem(last=False)
        self._peers.move_to_end(peer)
        return state

    def take(self, peer: str) -> TokenBucket | None:
        """A ticket for one check by `peer`, or None when it (or everyone) is over budget."""
        with self._lock:
            state = self._peer(peer)
            clean = state.failed_at is None or self._clock() - state.failed_at >= CLEAN_SECONDS
            shared = self._clean if clean else self._failing
            if not state.bucket.take():
                return None
            if not shared.take():
                state.bucket.give_back()
                return None
            return shared

    def settle(self, peer: str, ticket: TokenBucket, ok: bool) -> None:
        with self._lock:
            state = self._peer(peer)
            if ok:
                state.bucket.give_back()
                ticket.give_back()
            else:
                state.failed_at = self._clock()
