"""Faults: the TSDB and the Docker daemon killed and restarted, RAPL counters wrapping,
NVML losing a GPU, results files replaced or truncated mid-read.

Each test checks the same three things: nothing crashes (the exporter process or
runtime keeps serving, never restarted), nothing good is lost (counters keep rising,
last good data stays served, flushed TSDB data survives), and the exporter says what
happened (/health status and reason, error counters).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
import requests

from bench.procs import ExporterProcess
from bench.sources import enriched_text, fake_nvml_state, results_name, write_atomically, write_results
from ffwatt.catalog import metrics as m
from tests.harness import parse_samples, running_exporter
from tests.reliability.helpers import check_scrape, health, value, wait_until

pytestmark = pytest.mark.reliability
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- VictoriaMetrics


def _export_timestamps(vm, metric: str) -> list[int]:
    """Raw sample timestamps (ms) of `metric`, without forcing a flush first."""
    r = requests.get(vm.url + "/api/v1/export", params={"match[]": metric}, timeout=30)
    r.raise_for_status()
    stamps: list[int] = []
    for line in r.text.splitlines():
        if line.strip():
            stamps += json.loads(line)["timestamps"]
    return sorted(stamps)


@pytest.fixture
def scraped_results(tmp_path):
    """A results exporter (in-process) and the rendered scrape config for it at 1 s."""
    from ffwatt.deploy.scrape import render_scrape_config

    write_results(tmp_path / "results", 3, 10)
    with running_exporter("results", "--results-dir", str(tmp_path / "results")) as exp:
        yield exp, render_scrape_config({"results": [f"127.0.0.1:{exp.runtime.port}"]}, scrape_interval_override="1s")


def _wait_samples(vm, metric: str, at_least: int) -> list[int]:
    return wait_until(lambda: (lambda ts: ts if len(ts) >= at_least else None)(_export_timestamps(vm, metric)),
                      timeout=60, what=f"{at_least} scraped samples of {metric}", interval=0.5)


def test_victoriametrics_sigkill_after_a_durable_flush_keeps_every_scraped_sample(scraped_results):
    from tests.servers import VictoriaMetrics

    exp, config = scraped_results
    metric = m.RESULTS_SCENARIOS.name
    with VictoriaMetrics(scrape_config_text=config) as vm:
        vm.flush()
        _wait_samples(vm, metric, 5)
        vm.persist()
        before = _export_timestamps(vm, metric)
        vm.kill()  # SIGKILL: no clean shutdown
        assert not vm.running
        vm.start()
        after = _export_timestamps(vm, metric)
        lost = sorted(set(before) - set(after))
        assert not lost, f"{len(lost)} of {len(before)} flushed samples lost across SIGKILL"
        assert vm.value(metric) == 3.0
        # scraping goes on after the restart, the exporter never noticed
        wait_until(lambda: len(_export_timestamps(vm, metric)) > len(before), timeout=30,
                   what="new scrapes after the restart", interval=0.5)
        assert health(exp.url)["status"] == "ok"


def test_victoriametrics_sigkill_without_flush_loses_only_the_unflushed_tail(scraped_results, record_property):
    """VictoriaMetrics 1.79 keeps ingested rows in memory for ~5 s before they reach disk
    (searchable after ~1 s, durable later); a SIGKILL loses that tail (measured: the last
    6-9 s at a 1 s scrape), never older data, and never leaves a hole."""
    from tests.servers import VictoriaMetrics

    exp, config = scraped_results
    metric = m.RESULTS_SCENARIOS.name
    with VictoriaMetrics(scrape_config_text=config) as vm:
        first_scrape = time.time()
        # enough scrapes that some must have left the in-memory buffer (no flush asked)
        wait_until(lambda: time.time() - first_scrape > 15, timeout=30, what="15 s of scrapes", interval=0.5)
        killed_at = time.time()
        vm.kill()
        vm.start()
        survived = [t for t in _export_timestamps(vm, metric) if t < killed_at * 1000]
        assert survived, "nothing scraped in the 15 s before the SIGKILL survived"
        gaps = [b - a for a, b in zip(survived, survived[1:], strict=False)]
        assert all(g <= 2_500 for g in gaps), f"a hole in the surviving samples: gaps {gaps} ms"
        lost_seconds = killed_at - survived[-1] / 1000
        record_property("victoriametrics_sigkill_lost_seconds", round(lost_seconds, 1))
        log.warning("VictoriaMetrics SIGKILL without flush: %d samples survived, the last %.1f s were lost",
                    len(survived), lost_seconds)
        wait_until(lambda: vm.value(metric) == 3.0, timeout=30, what="scraping resumed after the restart")


# --------------------------------------------------------------------------- Docker daemon


def test_docker_daemon_sigkill_and_restart_without_restarting_the_exporter(tmp_path):
    from tests.servers import DockerEngine

    with DockerEngine() as engine:
        engine.run_busy(name="ffw-rel-phoenix", command="sleep 600", restart_policy={"Name": "always"})
        # the socket through the environment: DockerEngine.kill() kills every process whose
        # command line names the engine's directory
        with ExporterProcess("docker", "--refresh-interval", "0.5", "--stats-timeout", "2", workdir=tmp_path,
                             env={"FFWATT_DOCKER_HOST": engine.base_url}) as exporter:
            pid = exporter.pid

            def container_cpu():
                return value(exporter.url, m.DOCKER_CPU.name, container="ffw-rel-phoenix")

            wait_until(lambda: container_cpu() is not None, what="the container's series")
            errors_before = value(exporter.url, m.EXPORTER_REFRESH_ERRORS.name)

            engine.kill()  # SIGKILL dockerd (and its containerd and shims)
            wait_until(lambda: value(exporter.url, m.DOCKER_ENGINE_UP.name) == 0, what="engine_up 0")
            assert container_cpu() is None, "a dead engine's containers are still served"
            h = health(exporter.url)
            assert h["status"] in ("degraded", "failing") and "unreachable" in h["reason"], h
            assert value(exporter.url, m.EXPORTER_UP.name) == 0
            assert value(exporter.url, m.EXPORTER_REFRESH_ERRORS.name) > errors_before

            engine.start()
            wait_until(lambda: value(exporter.url, m.DOCKER_ENGINE_UP.name) == 1, timeout=30, what="engine_up 1")
            wait_until(lambda: container_cpu() is not None, timeout=30, what="the container back")
            wait_until(lambda: health(exporter.url)["status"] == "ok", what="health ok again")
            assert exporter.alive and exporter.pid == pid, "the exporter was restarted"


# --------------------------------------------------------------------------- RAPL wrap-around


def test_rapl_counter_keeps_rising_across_many_wraps(tmp_path):
    from ffwatt.testing.simulated.powercap import FakePowercap

    range_uj = 10_000_000  # a 10 J counter: wraps every few steps
    step_uj = 2_300_000
    steps = 40
    tree = FakePowercap(tmp_path / "powercap")
    tree.zone("intel-rapl:0", "package-0", 1_000_000, max_energy_range_uj=range_uj)
    energy_file = tree.root / "intel-rapl:0" / "energy_uj"
    labels = {"socket": "0", "zone": "package"}
    with running_exporter("cpu", "--powercap-root", str(tree.root), "--hwmon-root", "", "--sample-interval", "0.05",
                          "--refresh-interval", "0.05") as exp:
        wait_until(lambda: exp.value(m.CPU_ENERGY.name, **labels) is not None, what="the package zone")
        start = exp.value(m.CPU_ENERGY.name, **labels)
        raw = 1_000_000
        seen = [start]
        for _ in range(steps):
            raw = (raw + step_uj) % range_uj
            write_atomically(energy_file, f"{raw}\n")  # sysfs reads are atomic: never a half-written value
            time.sleep(0.1)  # at least one sampler pass per step: less than one range between readings
            seen.append(exp.value(m.CPU_ENERGY.name, **labels))
        drops = [(a, b) for a, b in zip(seen, seen[1:], strict=False) if b < a]
        assert not drops, f"the joules counter went down: {drops[:3]}"
        expected = start + steps * step_uj / 1e6
        wait_until(lambda: exp.value(m.CPU_ENERGY.name, **labels) == pytest.approx(expected, abs=1e-6),
                   what=f"{expected} J after {steps} steps")
        assert exp.value(m.CPU_WRAPS.name, **labels) >= steps * step_uj // range_uj - 1
        assert exp.health()["status"] == "ok"


# --------------------------------------------------------------------------- NVML


def test_nvml_losing_a_gpu_keeps_the_other_and_recovers_in_a_separate_process(tmp_path):
    from ffwatt.testing.simulated.nvml import FakeNvml

    state = fake_nvml_state(tmp_path / "nvml.json", gpus=2)
    fake = FakeNvml.from_file(state)  # our handle on the same state file
    with ExporterProcess("gpu", "--refresh-interval", "0.2", module=["scripts.simulated_gpu", str(state)],
                         workdir=tmp_path) as exporter:
        pid = exporter.pid

        def energy(gpu: str):
            return value(exporter.url, m.GPU_ENERGY.name, gpu=gpu)

        wait_until(lambda: energy("1") is not None, what="GPU 1")
        gpu0_before = energy("0")

        fake.gpus[1].lost = True
        fake.gpus[0].energy_mj += 5_000  # GPU 0 keeps working meanwhile
        fake.write(state)
        wait_until(lambda: energy("1") is None, what="GPU 1's series gone")
        wait_until(lambda: energy("0") == pytest.approx(gpu0_before + 5.0), what="GPU 0 still read")
        h = health(exporter.url)
        assert h["status"] == "degraded" and "lost" in h["reason"].lower(), h

        fake.gpus[1].lost = False
        fake.gpus[0].energy_mj += 5_000
        fake.write(state)
        wait_until(lambda: energy("1") is not None, what="GPU 1 back")
        wait_until(lambda: health(exporter.url)["status"] == "ok", what="health ok again")
        assert energy("0") == pytest.approx(gpu0_before + 10.0), "GPU 0's energy counter was reset"
        assert exporter.alive and exporter.pid == pid


# --------------------------------------------------------------------------- results files


def test_results_file_replaced_by_rename_while_scraped_is_never_served_half(tmp_path):
    """A writer replaces the newest file (temp + rename) 150 times with a 5- or a
    7-scenario run while a scraper reads as fast as it can: every scrape shows one whole
    run (scenario count and per-scenario series agree), and no error is counted."""
    directory = tmp_path / "results"
    directory.mkdir()
    target = directory / results_name(0)
    texts = {n: enriched_text(n, 50, name_prefix=f"run{n} ") for n in (5, 7)}
    write_atomically(target, texts[5])
    stop = threading.Event()
    problems: list[str] = []
    seen_counts: set[float] = set()

    with running_exporter("results", "--results-dir", str(directory), "--refresh-interval", "0.01") as exp:
        def scraper() -> None:
            with requests.Session() as s:
                while not stop.is_set():
                    try:
                        text = s.get(exp.url + "/metrics", timeout=10).text
                    except requests.RequestException as exc:
                        problems.append(f"scrape failed: {exc}")
                        continue
                    samples = parse_samples(text)
                    count = samples[m.RESULTS_SCENARIOS.name][0][1]
                    names = {lbl["scenario"] for lbl, _ in samples.get(m.RESULTS_DURATION.name, [])}
                    prefixes = {n.split(" ", 1)[0] for n in names}
                    seen_counts.add(count)
                    if count not in (5.0, 7.0) or len(names) != count or prefixes != {f"run{int(count)}"}:
                        problems.append(f"scenarios {count}, {len(names)} duration series, runs {prefixes}")

        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        for i in range(150):
            write_atomically(target, texts[7 if i % 2 == 0 else 5])
            time.sleep(0.01)
        stop.set()
        thread.join(30)
        assert not problems, problems[:5]
        assert seen_counts == {5.0, 7.0}, f"the scraper saw only {seen_counts}"
        assert exp.value(m.EXPORTER_REFRESH_ERRORS.name) == 0
        assert exp.health()["status"] == "ok"


def test_results_file_truncated_in_place_keeps_last_good_counts_once_and_recovers(tmp_path):
    """A writer rewrites the newest file in place and is caught halfway: the exporter keeps
    serving the last good run, counts exactly one error however often it looks, names the
    file in /health, and serves the new run once the write completes."""
    directory = tmp_path / "results"
    directory.mkdir()
    target = directory / results_name(0)
    write_atomically(target, enriched_text(5, 50))
    new = enriched_text(7, 50).encode()
    with running_exporter("results", "--results-dir", str(directory), "--refresh-interval", "3600") as exp:
        runtime = exp.runtime
        assert exp.value(m.RESULTS_SCENARIOS.name) == 5

        fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, new[: len(new) // 2])  # the writer is halfway
            for _ in range(3):  # the refresh loop looks three times meanwhile
                runtime.refresh_once()
            assert exp.value(m.RESULTS_SCENARIOS.name) == 5, "the last good run was dropped"
            assert exp.value(m.EXPORTER_REFRESH_ERRORS.name) == 1
            assert exp.value(m.EXPORTER_UP.name) == 0
            h = exp.health()
            assert h["status"] == "degraded" and target.name in h["reason"], h
            assert len(exp.samples()[m.RESULTS_DURATION.name]) == 5
            os.write(fd, new[len(new) // 2:])  # the write completes
        finally:
            os.close(fd)
        runtime.refresh_once()
        assert exp.value(m.RESULTS_SCENARIOS.name) == 7
        assert exp.value(m.EXPORTER_REFRESH_ERRORS.name) == 1
        assert exp.value(m.EXPORTER_UP.name) == 1
        assert exp.health()["status"] == "ok"


def test_every_scrape_succeeds_while_the_results_file_churns(tmp_path):
    """Scrapes during reloads of a big run (1,000 scenarios): none fails, none is partial."""
    directory = tmp_path / "results"
    write_results(directory, 1_000, 20, seq=0)
    with running_exporter("results", "--results-dir", str(directory), "--refresh-interval", "0.05") as exp:
        failures = []
        with requests.Session() as s:
            for i in range(1, 6):
                write_results(directory, 1_000 - i, 20, seq=i)
                for _ in range(10):
                    problem = check_scrape(s, exp.url)
                    if problem:
                        failures.append(problem)
        assert not failures, failures[:5]
        wait_until(lambda: exp.value(m.RESULTS_SCENARIOS.name) == 995, what="the last run")
        assert exp.value(m.EXPORTER_REFRESH_ERRORS.name) == 0
