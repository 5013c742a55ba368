"""A token bucket: at most `rate` units per second on average, bursts up to `burst`.

Not thread-safe on its own: callers hold their lock (the ffmpeg exporter's state lock).
"""

from __future__ import annotations

import time


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
