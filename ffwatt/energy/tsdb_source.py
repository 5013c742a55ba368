"""A TSDB's increase of the joules counters over a window (`readers.tsdb.scenario_energy_joules`).

For a meter that cannot reach the exporters while VictoriaMetrics scrapes them. The TSDB holds
only what it scraped, so the figure is off by up to about one scrape interval's energy (and the
query rounds the window up to whole seconds); counters read directly are exact over the window
and come first whenever they answer. No power samples.
"""

from __future__ import annotations

from ffwatt.common.urls import redact
from ffwatt.energy.source import SourceError, Window
from ffwatt.readers.tsdb import TsdbError, scenario_energy_joules

__all__ = ["TsdbSource"]


class TsdbSource:
    """A `WindowSource` of the TSDB at `url` (its user info authenticates; `where` never shows it)."""

    kind = "tsdb"
    what = "TSDB"

    def __init__(self, url: str, timeout: float, ca_file: str | None = None) -> None:
        self.url = url
        self.where = redact(url)
        self.timeout = timeout
        self.ca_file = ca_file

    def joules(self, window: Window) -> float:
        try:
            return scenario_energy_joules(self.url, window.wall_start, window.wall_end, timeout=self.timeout,
                                          ca_file=self.ca_file)
        except TsdbError as exc:
            raise SourceError(str(exc)) from exc

    def simulated(self) -> bool:
        return False  # a TSDB keeps no trace of whether the counters it scraped were simulated

    def note(self, why_not_direct: str) -> str:
        """The caveat a TSDB figure carries: why no counter was read directly, and its precision."""
        return (f"joules from the TSDB at {self.where} (no exporter read directly: {why_not_direct}); within about "
                "one scrape interval, the window rounded up to whole seconds")
