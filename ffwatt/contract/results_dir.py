"""The results directory: its newest results file is the current run, reloaded when it changes.

Which file is newest: the latest `YYYYMMDD_HHMMSS` (UTC, as `ffwatt run` names its files) in
the name; files without one rank below all that have one; ties go to the latest mtime, then
the name. A name dated more than `FUTURE_SLACK` ahead of the clock is not believed: such a
file ranks by its mtime instead (when it was last written), so a mis-named or planted file
does not shadow the newest real run by its name alone.
"""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ffwatt.contract.loading import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_LABEL_LENGTH,
    DEFAULT_MAX_SCENARIOS,
    PathLike,
    ResultsError,
    load_results_file,
)
from ffwatt.contract.model import ResultsRun

__all__ = ["DEFAULT_PATTERN", "FUTURE_SLACK", "ResultsDirectory", "results_file_timestamp"]

DEFAULT_PATTERN = "test_results_*.json"

FUTURE_SLACK = timedelta(days=1)
"""How far ahead of the clock a name's date may be and still rank the file (a writer in
another time zone names its files up to 14 h ahead of UTC)."""

_STAMP_RE = re.compile(r"(?<!\d)(\d{8}_\d{6})(?!\d)")


def results_file_timestamp(name: str) -> datetime | None:
    """The ``YYYYMMDD_HHMMSS`` timestamp in a results file name, or ``None``."""
    match = _STAMP_RE.search(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d_%H%M%S")
    except ValueError:
        return None


class ResultsDirectory:
    """The current run of a results directory, reloaded when the newest file changes.

    The newest file is the one with the latest `YYYYMMDD_HHMMSS` in its name (module
    docstring: names dated in the future rank by mtime). A file is reloaded only when the newest file's path,
    mtime (ns) or size changes, never on a timer.

    Use from a refresh loop::

        try:
            results.load_if_changed()
        except ResultsError as exc:   # raised once per distinct bad file version
            errors_total += 1
            log.warning("%s", exc)    # names the file and the JSON path
        serve(results.current)        # last good run, None until one loaded

    ``current`` is the last run that loaded; ``last_error`` is the error of the
    newest file when it is bad (``None`` once the newest file is good again).
    """

    def __init__(
        self,
        path: PathLike,
        pattern: str = DEFAULT_PATTERN,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_scenarios: int = DEFAULT_MAX_SCENARIOS,
        max_label_length: int = DEFAULT_MAX_LABEL_LENGTH,
    ) -> None:
        self.path = Path(path)
        self.pattern = pattern
        self.max_bytes = max_bytes
        self.max_scenarios = max_scenarios
        self.max_label_length = max_label_length
        self.current: ResultsRun | None = None
        self.last_error: ResultsError | None = None
        self._loaded: tuple[Path, int, int] | None = None
        self._failed: tuple[Path, int, int] | None = None

    def newest(self) -> Path | None:
        """The newest regular file matching the pattern, or ``None`` (none, or no directory)."""
        try:
            candidates = [(results_file_timestamp(p.name), p) for p in self.path.glob(self.pattern)]
        except OSError:
            return None
        horizon = datetime.now(UTC).replace(tzinfo=None) + FUTURE_SLACK
        candidates = [(_believed(stamp, p, horizon), p) for stamp, p in candidates]
        # Group by name timestamp, newest group first; stat only as far as needed.
        candidates.sort(key=lambda c: (c[0] is not None, c[0] or datetime.min), reverse=True)
        i = 0
        while i < len(candidates):
            stamp = candidates[i][0]
            j = i
            best: tuple[int, str, Path] | None = None
            while j < len(candidates) and candidates[j][0] == stamp:
                candidate = candidates[j][1]
                j += 1
                try:
                    info = candidate.stat()
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                key = (info.st_mtime_ns, candidate.name, candidate)
                if best is None or key[:2] > best[:2]:
                    best = key
            if best is not None:
                return best[2]
            i = j
        return None

    def load_if_changed(self) -> ResultsRun | None:
        """Load the newest file if it changed since the last call.

        Returns the new run (also stored in ``current``), or ``None`` when
        nothing changed or there is no results file (``current`` is then kept).
        Raises :class:`ResultsError` when the changed file is bad, once per
        distinct (path, mtime, size); ``current`` keeps the last good run.
        """
        newest = self.newest()
        if newest is None:
            return None
        try:
            info = newest.stat()
        except OSError:
            return None  # vanished since listing; the next call lists again
        signature = (newest, info.st_mtime_ns, info.st_size)
        if signature == self._loaded:
            self.last_error = None
            return None
        if signature == self._failed:
            return None
        try:
            run = load_results_file(newest, max_bytes=self.max_bytes, results_dir=self.path,
                                    max_scenarios=self.max_scenarios, max_label_length=self.max_label_length)
        except ResultsError as exc:
            self._failed = signature
            self.last_error = exc
            raise
        self._loaded = (newest, run.mtime_ns, run.size)
        self._failed = None
        self.last_error = None
        self.current = run
        return run


def _believed(stamp: datetime | None, path: Path, horizon: datetime) -> datetime | None:
    """The name's date, or the file's mtime (UTC) when the name is dated past `horizon`."""
    if stamp is None or stamp <= horizon:
        return stamp
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    except OSError:
        return None
