"""exporters.heap: freed heap really goes back to the system (Linux, glibc)."""

from __future__ import annotations

import re

import pytest

from ffwatt.exporters import heap


def resident_bytes() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


@pytest.fixture(autouse=True)
def _glibc_only():
    if heap._malloc_trim is None:
        pytest.skip("no malloc_trim in this C library (not glibc)")


def test_trim_returns_freed_heap_that_sits_below_live_data():
    heap.trim()
    chunks = [bytearray(2000) for _ in range(35_000)]  # ~70 MB of malloc (not pymalloc) blocks on the heap
    pinned = bytearray(2000)  # allocated last: the heap top stays in use, so free() alone cannot shrink it
    del chunks
    before = resident_bytes()
    assert heap.trim()
    after = resident_bytes()
    assert before - after > 30 * 2**20, f"resident {before / 2**20:.0f} MB -> {after / 2**20:.0f} MB"
    assert pinned  # still alive


def test_arenas_can_be_limited():
    assert heap.limit_arenas()
