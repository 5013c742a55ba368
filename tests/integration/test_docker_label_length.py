"""The docker exporter leaves out a container whose name is over --max-label-length (real dockerd)."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from tests.harness import running_exporter


def test_a_container_name_over_the_label_length_is_left_out_and_health_says_so(docker_engine):
    short = docker_engine.run_busy(name="ffw-short", command="sleep 600")
    long_name = "ffw-" + "l" * 60
    long = docker_engine.run_busy(name=long_name, command="sleep 600")
    try:
        with running_exporter("docker", "--docker-host", docker_engine.base_url, "--refresh-interval", "0.25",
                              "--max-label-length", "40") as exp:
            exp.wait_for(lambda e: e.value(m.DOCKER_CPU.name, container="ffw-short") is not None, what="ffw-short")
            containers = {lbl["container"] for lbl, _ in exp.samples()[m.DOCKER_CONTAINER_INFO.name]}
            assert "ffw-short" in containers and long_name not in containers
            health = exp.health()
            assert health["status"] == "degraded", health
            assert "1 container(s) left out for a label value over 40 characters: container of 64" in health["reason"]
            assert exp.value(m.DOCKER_CONTAINERS.name) >= 2  # counted as running, only its series are left out
    finally:
        for c in (short, long):
            try:
                c.remove(force=True)
            except Exception:
                pass
