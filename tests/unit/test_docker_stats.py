"""Turning Engine API stats documents (cgroup v1 and v2 shapes) into readings."""

from __future__ import annotations

import pytest

from ffwatt.exporters.docker_stats import ContainerReading, container_name, is_running_stats, read_container

# Shape from Docker 20.10 on cgroup v1 (trimmed from a real answer).
V1 = {
    "read": "2026-11-23T07:24:35.825820842Z",
    "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 8192},
        {"major": 8, "minor": 0, "op": "Sync", "value": 12288},
        {"major": 8, "minor": 0, "op": "Total", "value": 12288},
        {"major": 8, "minor": 16, "op": "Read", "value": 1000},
    ]},
    "cpu_stats": {"cpu_usage": {"total_usage": 1046995425, "percpu_usage": [12510434, 1034484991]},
                  "system_cpu_usage": 10791460000000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}},
    "memory_stats": {"usage": 548864, "limit": 25276063744,
                     "stats": {"inactive_file": 4096, "total_inactive_file": 8192, "rss": 61440}},
    "name": "/burn",
}

# Shape from Docker 24 on cgroup v2 (as documented for the Engine API).
V2 = {
    "read": "2024-01-01T00:00:00.000000001Z",
    "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 259, "minor": 0, "op": "read", "value": 2_000_000},
        {"major": 259, "minor": 0, "op": "write", "value": 500},
    ]},
    "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000, "usage_in_kernelmode": 1, "usage_in_usermode": 2}},
    "memory_stats": {"usage": 10_000_000, "limit": 2_147_483_648,
                     "stats": {"anon": 6_000_000, "file": 4_000_000, "inactive_file": 3_000_000}},
    "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 10}, "eth1": {"rx_bytes": 5, "tx_bytes": 1}},
}


def test_cgroup_v1():
    assert read_container(V1) == ContainerReading(
        cpu_seconds=pytest.approx(1.046995425),
        memory_working_set_bytes=548864 - 8192,  # hierarchical total_inactive_file wins on v1
        memory_limit_bytes=25276063744,
        network_receive_bytes=0.0,  # --network none: no interfaces reported
        network_transmit_bytes=0.0,
        block_read_bytes=5096.0,  # Read summed over devices; Sync/Total ignored
        block_write_bytes=8192.0,
    )


def test_cgroup_v2():
    r = read_container(V2)
    assert r.cpu_seconds == 2.5
    assert r.memory_working_set_bytes == 7_000_000
    assert r.memory_limit_bytes == 2_147_483_648
    assert (r.network_receive_bytes, r.network_transmit_bytes) == (105, 11)
    assert (r.block_read_bytes, r.block_write_bytes) == (2_000_000, 500)


def test_missing_pieces_are_none_not_zero():
    r = read_container({"read": "2024-01-01T00:00:00Z", "blkio_stats": {"io_service_bytes_recursive": None},
                        "memory_stats": {}, "cpu_stats": {}})
    assert r.cpu_seconds is None and r.memory_working_set_bytes is None and r.memory_limit_bytes is None
    assert r.block_read_bytes is None and r.block_write_bytes is None
    empty = read_container({"blkio_stats": {"io_service_bytes_recursive": []}})
    assert (empty.block_read_bytes, empty.block_write_bytes) == (0, 0)  # reported, no IO yet


def test_inactive_file_larger_than_usage_keeps_usage():
    r = read_container({"memory_stats": {"usage": 100, "stats": {"inactive_file": 200}}})
    assert r.memory_working_set_bytes == 100


def test_stopped_container_stats_are_recognised():
    assert is_running_stats(V1)
    assert not is_running_stats({"read": "0001-01-01T00:00:00Z", "memory_stats": {}})
    assert not is_running_stats({})


def test_container_name():
    assert container_name(["/burn"], "abc") == "burn"
    assert container_name(["/web/db", "/db"], "abc") == "db"  # a link alias is not the name
    assert container_name([], "0123456789abcdef") == "0123456789ab"
    assert container_name(None, "0123456789abcdef") == "0123456789ab"
