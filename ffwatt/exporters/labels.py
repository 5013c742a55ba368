"""The bound on label values that come from outside (stream names, container names, images,
scenario names).

One setting, `--max-label-length` (env FFWATT_MAX_LABEL_LENGTH), shared by the exporters
whose label values someone else chooses: rtmp (application and stream names from
publishers), ffmpeg (pushed stream names), docker (container names and images), results, qoe
and cost (the results file's names, checked by the loader, ffwatt/contract/loading.py). Behind
them all, `Samples.add` leaves out any sample with a longer label value (and says so), so no
exporter can serve one.

Over the bound a value is refused, never cut: two long names with the same first N
characters would otherwise become one series (a duplicate sample breaks the whole
scrape). The item carrying it (a stream, a container) is left out of /metrics and the
exporter's /health says so (degraded); the ffmpeg exporter answers the push 400.
"""

from __future__ import annotations

from collections.abc import Mapping

from ffwatt.catalog import MAX_LABEL_VALUE_LENGTH as DEFAULT_MAX_LABEL_LENGTH
from ffwatt.exporters.config import Setting, positive_int

__all__ = ["DEFAULT_MAX_LABEL_LENGTH", "MAX_LABEL_LENGTH", "LongLabels", "too_long"]

MAX_LABEL_LENGTH = Setting(
    "max-label-length", DEFAULT_MAX_LABEL_LENGTH,
    "Longest label value taken from outside (stream, application, container, image or scenario name), in "
    "characters; an item with a longer one is left out and /health says so.", positive_int)


def too_long(labels: Mapping[str, str], limit: int) -> str | None:
    """None when every value is at most `limit` characters, else a short reason naming the label."""
    for name, value in labels.items():
        if len(value) > limit:
            return f"{name} of {len(value)} characters (over --max-label-length {limit}): {value[:40]!r}..."
    return None


class LongLabels:
    """Counts what one refresh left out for a too-long label, and says it once as a warning."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what  # "stream", "container"
        self.left_out = 0
        self.first: str | None = None

    def allows(self, **labels: str) -> bool:
        reason = too_long(labels, self.limit)
        if reason is None:
            return True
        self.left_out += 1
        if self.first is None:
            self.first = reason
        return False

    def warning(self) -> str | None:
        if not self.left_out:
            return None
        return f"{self.left_out} {self.what}(s) left out for a label value over {self.limit} characters: {self.first}"
