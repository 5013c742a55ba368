"""The docker exporter against a real, private Docker Engine (tests/servers.py)."""

from __future__ import annotations

import time

from ffwatt.catalog import metrics as m
from tests.harness import assert_exposition_valid, running_exporter
from tests.servers import DockerEngine

FAST = ("--refresh-interval", "0.25")


def _exporter(engine: DockerEngine, *args: str):
    return running_exporter("docker", "--docker-host", engine.base_url, *FAST, *args)


def _cpu(exp, name: str) -> float | None:
    return exp.value(m.DOCKER_CPU.name, container=name)


def test_busy_container_shows_one_core(docker_engine, busy_container):
    name = busy_container.name
    with _exporter(docker_engine) as exp:
        exp.wait_for(lambda e: _cpu(e, name) is not None, what=f"{name} in /metrics")
        samples = exp.samples()
        info = [lbl for lbl, _ in samples[m.DOCKER_CONTAINER_INFO.name] if lbl["container"] == name]
        assert info == [{"container": name, "id": busy_container.id[:12], "image": "ffwatt-busybox:test"}]
        assert exp.value(m.DOCKER_ENGINE_UP.name) == 1
        assert exp.value(m.DOCKER_CONTAINERS.name) >= 1
        assert exp.value(m.DOCKER_MEMORY_WORKING_SET.name, container=name) > 0
        assert exp.value(m.DOCKER_MEMORY_LIMIT.name, container=name) > 0
        # --network none: no interfaces, so 0 bytes (not absent).
        assert exp.value(m.DOCKER_NETWORK_RECEIVE.name, container=name) == 0
        assert exp.value(m.DOCKER_NETWORK_TRANSMIT.name, container=name) == 0
        assert exp.value(m.DOCKER_BLOCK_READ.name, container=name) is not None
        assert_exposition_valid("docker", exp.scrape())
        details = exp.health()["details"]
        assert details["engine_up"] and details["one_shot_stats"]

        # `yes` burns one core of the machine: the counter's rate is about 1 CPU second per second.
        # Both ends are taken just after a refresh published a new value, so the window is
        # the refreshes' own (give or take the 50 ms polling).
        t0, c0 = _next_reading(exp, name)
        time.sleep(3.0)
        t1, c1 = _next_reading(exp, name)
        rate = (c1 - c0) / (t1 - t0)
        print(f"cpu rate of {name}: {rate:.3f} cores")
        assert 0.5 <= rate <= 1.2, f"cpu rate {rate:.2f} cores"


def _next_reading(exp, name: str) -> tuple[float, float]:
    before = _cpu(exp, name)
    value = exp.wait_for(lambda e: (v := _cpu(e, name)) != before and v, what="a new cpu reading")
    return time.monotonic(), value


def test_scrape_never_waits_for_docker(docker_engine, busy_container):
    with _exporter(docker_engine) as exp:
        exp.wait_for(lambda e: _cpu(e, busy_container.name) is not None, what="container")
        began = time.monotonic()
        for _ in range(20):
            exp.scrape()
        assert (time.monotonic() - began) / 20 < 0.1  # snapshot served, no stats call per scrape


def test_removed_container_leaves(docker_engine):
    keep = docker_engine.run_busy(name="ffw-keep", command="sleep 600")
    gone = docker_engine.run_busy(name="ffw-gone", command="sleep 600")
    try:
        with _exporter(docker_engine) as exp:
            exp.wait_for(lambda e: _cpu(e, "ffw-gone") is not None and _cpu(e, "ffw-keep") is not None,
                         what="both containers")
            gone.remove(force=True)
            exp.wait_for(lambda e: all(lbl.get("container") != "ffw-gone"
                                       for series in e.samples().values() for lbl, _ in series),
                         what="every ffw-gone series to vanish")
            assert _cpu(exp, "ffw-keep") is not None
            assert exp.health()["status"] == "ok"
    finally:
        for c in (keep, gone):
            try:
                c.remove(force=True)
            except Exception:
                pass


def test_daemon_restart_is_survived():
    with DockerEngine() as engine:  # our own: the session engine must not be restarted
        engine.run_busy(name="ffw-phoenix", command="sleep 600", restart_policy={"Name": "always"})
        with _exporter(engine) as exp:
            exp.wait_for(lambda e: _cpu(e, "ffw-phoenix") is not None, what="container")

            engine.stop()
            exp.wait_for(lambda e: e.value(m.DOCKER_ENGINE_UP.name) == 0, what="engine_up 0")
            assert _cpu(exp, "ffw-phoenix") is None  # no stale container series
            assert exp.value(m.DOCKER_CONTAINERS.name) is None  # unknown, not 0
            health = exp.health()
            assert health["status"] == "degraded"
            assert "unreachable" in health["reason"] and engine.base_url in health["reason"]
            assert exp.value(m.EXPORTER_UP.name) == 0  # the refresh failed: the engine is its source
            errors_while_down = exp.runtime.state.errors
            assert errors_while_down >= 1
            assert_exposition_valid("docker", exp.scrape())

            engine.start()
            exp.wait_for(lambda e: e.value(m.DOCKER_ENGINE_UP.name) == 1, timeout=20, what="engine_up 1")
            exp.wait_for(lambda e: _cpu(e, "ffw-phoenix") is not None, timeout=20,
                         what="container back after the daemon restarted")
            exp.wait_for(lambda e: e.health()["status"] == "ok", what="health ok again")
            assert exp.value(m.EXPORTER_UP.name) == 1
            assert exp.runtime.state.failing_now is False


def test_stats_are_fetched_concurrently(docker_engine):
    """Without one-shot (daemons older than API 1.41) each stats call takes ~2 s; the
    bounded pool fetches them side by side, so a refresh takes ~2 s, not 2 s x N."""
    containers = [docker_engine.run_busy(name=f"ffw-par{i}", command="sleep 600") for i in range(4)]
    try:
        # One worker per running container (other tests' containers may share this engine).
        workers = str(len(docker_engine.client.containers.list()))
        with _exporter(docker_engine, "--stats-workers", workers, "--refresh-interval", "30") as exp:
            exporter = exp.runtime.exporter
            assert exporter._one_shot  # this daemon has API >= 1.41
            exporter._one_shot = False  # take the slow path an older daemon would
            began = time.monotonic()
            exp.runtime.refresh_once()
            took = time.monotonic() - began
            assert all(_cpu(exp, f"ffw-par{i}") is not None for i in range(4))
            assert took < 3.5, f"refresh took {took:.1f}s for {workers} slow stats calls on {workers} workers"
    finally:
        for c in containers:
            c.remove(force=True)
