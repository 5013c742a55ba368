"""What a report is made of: its options and everything the renderers show. `report.build`
fills a `Report`, `report.render` writes it out; both import it from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffwatt.report.compare import Comparison
from ffwatt.report.corpus import Anchor
from ffwatt.report.curve import DEFAULT_MIN_OVERLAP, Curve, Delta
from ffwatt.report.data import Prices, Row, RunInput
from ffwatt.report.hull import Ladder
from ffwatt.report.operating import DEFAULT_TARGETS, OperatingPoint, Target

__all__ = ["ReportOptions", "Report"]


@dataclass(frozen=True, slots=True)
class ReportOptions:
    results: tuple[Path, ...]
    out: Path
    prices: Prices = Prices()
    baseline_run: Path | None = None
    tsdb_url: str | None = None
    method: str = "pchip"
    title: str = "ffwatt benchmark report"
    anchor: str | None = None
    min_overlap: float = DEFAULT_MIN_OVERLAP
    targets: tuple[Target, ...] = DEFAULT_TARGETS


@dataclass
class Report:
    """Everything the renderers show."""

    options: ReportOptions
    runs: list[RunInput]
    rows: list[Row]
    curves: list[Curve]
    deltas: list[Delta]
    charts: list[Any] = field(default_factory=list)
    missing_charts: list[tuple[str, str]] = field(default_factory=list)
    baseline: RunInput | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    power_source: str = "power samples in the results file"
    notes: list[str] = field(default_factory=list)
    anchor: Anchor | None = None
    ladders: list[Ladder] = field(default_factory=list)
    points: list[OperatingPoint] = field(default_factory=list)
    model_notes: list[str] = field(default_factory=list)

    @property
    def incomplete(self) -> list[Row]:
        """Scenarios whose encode got fewer frames than expected: named at the top, in no curve."""
        return [r for r in self.rows if r.incomplete]
