"""ffwatt's version, read from the installed distribution's metadata: pyproject.toml is the one
place it is written."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def ffwatt_version() -> str:
    """The installed ffwatt's version; "unknown" when run from a source tree that was never installed."""
    try:
        return version("ffwatt")
    except PackageNotFoundError:
        return "unknown"
