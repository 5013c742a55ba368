"""Expositions and /health answers for the health checker's tests; the HTTP targets that
serve them are `servers.targets`."""

from __future__ import annotations

import json

from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from ffwatt.exporters.samples import Samples


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def catalog_exposition(exporter: str, *, openmetrics: bool = False) -> bytes:
    """An exposition declaring every catalog metric of `exporter` (no samples): what an
    ffwatt exporter with an empty source serves."""
    registry = _Families(Samples(exporter).families())
    return (generate_openmetrics if openmetrics else generate_latest)(registry)


def health_json(status: str, reason: str | None = None) -> bytes:
    return json.dumps({"status": status, "reason": reason}).encode()
