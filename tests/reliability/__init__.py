"""Reliability tests: load, fuzzing, faults, hostile HTTP. They assert behaviour (no
failed scrape, nothing good lost, each exporter says what happened), never timings.

All run by default (`make test`); the long ones carry `slow` so a quick local run can
leave them out with `-m "not slow"`. FFWATT_LOAD_SECONDS (default 60) sets the length
of the load test.
"""

