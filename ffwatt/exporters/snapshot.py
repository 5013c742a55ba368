"""What a scrape serves: a snapshot of encoded families, replaced whole by the refresh loop
(`runtime`). Families are encoded once per format and the bytes reused by every scrape until the
next refresh; given a function, they are even built only when a scrape first needs them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric as Family

__all__ = ["Encoded", "Snapshot"]


class Encoded:
    """Families plus their encodings, made once per format and reused by every scrape. Given a function,
    the families are built at the first scrape that needs them, not at every refresh (a source refreshed
    each second and scraped every 5 s builds them a fifth as often)."""

    _EOF = b"# EOF\n"

    def __init__(self, families: tuple[Family, ...] | Callable[[], Iterable[Family]]):
        self._make = families if callable(families) else None
        self._families = None if callable(families) else families
        self._lock = threading.Lock()
        self._cache: dict[str, bytes] = {}

    @property
    def families(self) -> tuple[Family, ...]:
        if self._families is None:
            with self._lock:
                if self._families is None:
                    self._families = tuple(self._make())  # type: ignore[misc]
        return self._families

    def collect(self):  # the registry protocol generate_latest expects
        return self.families

    def encode(self, encoder, content_type: str) -> bytes:
        body = self._cache.get(content_type)
        if body is None:
            body = encoder(self)
            if body.endswith(self._EOF):  # OpenMetrics: one # EOF, added by the snapshot
                body = body[: -len(self._EOF)]
            self._cache[content_type] = body  # a racing scrape at worst encodes twice
        return body


@dataclass(frozen=True)
class Snapshot:
    """What a scrape serves: the exporter's self-metrics and its data. Immutable;
    replaced whole by the refresh loop. The data part is shared between snapshots
    while the source is unchanged, so large data is encoded once, not every refresh."""

    own: Encoded
    data: Encoded
    live: Callable[[], Encoded] | None = None  # the server's counters, current at each scrape

    @property
    def families(self) -> tuple[Family, ...]:
        live = self.live().families if self.live is not None else ()
        return self.own.families + live + self.data.families

    def encode(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        body = self.own.encode(encoder, content_type)
        if self.live is not None:
            body += self.live().encode(encoder, content_type)
        body += self.data.encode(encoder, content_type)
        if content_type.startswith("application/openmetrics-text"):
            body += Encoded._EOF
        return body, content_type
