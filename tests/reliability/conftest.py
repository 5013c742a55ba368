"""Reliability tests: load, fuzzing, faults, hostile HTTP. They assert behaviour (no
failed scrape, nothing good lost, each exporter says what happened), never timings.

All run by default (`make test`); the long ones carry `slow` so a quick local run can
leave them out with `-m "not slow"`. FFWATT_LOAD_SECONDS (default 60) sets the length
of the load test.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: load, fuzz, fault and hostile-HTTP tests (tests/reliability)")
    config.addinivalue_line("markers", "slow: takes a minute or more; still runs by default")
