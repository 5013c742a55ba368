"""Metrics from many hosts: vmagents on loopback, each labelling what it scrapes with its host's
name, remote-write to a real VictoriaMetrics; both hosts' series are queryable by host, and
what is scraped while VictoriaMetrics is down arrives from vmagent's disk buffer once it is
back (same port, same data dir), none lost.

Two vmagents stand for two lab hosts; the target is a real exporter (results, on the sample
data) that both scrape every second, as a host's vmagent scrapes its agent.
"""

from __future__ import annotations

import time
from pathlib import Path

from ffwatt.catalog import EXPORTERS
from ffwatt.catalog import metrics as m
from ffwatt.deploy import scrape
from tests.harness import running_exporter
from tests.servers import VictoriaMetrics, VmAgent

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RESULTS = ROOT / "test_results"
HOSTS = ("lab1", "lab2")
SCRAPE_SECONDS = 1.0
OUTAGE_SECONDS = 10.0
METRIC = m.RESULTS_SCENARIOS.name  # one series per scrape target: one sample per scrape


def _timestamps(vm: VictoriaMetrics, host: str) -> list[float]:
    rows = vm.export(f'{METRIC}{{host="{host}"}}')
    assert len(rows) == 1, rows
    return sorted(t / 1000 for t in rows[0]["timestamps"])


def _largest_gap(stamps: list[float]) -> float:
    return max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=float("inf"))


def _wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        time.sleep(interval)


def test_two_hosts_through_vmagent_and_nothing_lost_while_the_store_is_down() -> None:
    with running_exporter("results", "--results-dir", str(SAMPLE_RESULTS)) as results, \
            VictoriaMetrics() as vm:
        config = scrape.render_vmagent_config({"results": [f"127.0.0.1:{results.runtime.port}"]},
                                              scrape_interval_override=f"{SCRAPE_SECONDS:g}s")
        write_url = vm.url + "/api/v1/write"
        agents = [VmAgent(write_url, scrape_config_text=config, labels={"host": host}) for host in HOSTS]
        try:
            for agent in agents:
                agent.start()
            # both hosts' series, told apart by host only (same job, same target)
            got = vm.wait_query(f"count by (host, job) ({METRIC})", lambda r: len(r) == 2, timeout=30)
            assert {r["metric"]["host"] for r in got} == set(HOSTS)
            assert {r["metric"]["job"] for r in got} == {EXPORTERS["results"].job}
            assert vm.wait_query(f'up{{host="lab2", job="{EXPORTERS["results"].job}"}} == 1')
            scenarios = vm.value(f'{METRIC}{{host="lab1"}}')
            assert scenarios is not None and scenarios > 0
            time.sleep(3 * SCRAPE_SECONDS)  # a few samples before the outage

            stopped_at = time.time()
            vm.stop()
            time.sleep(OUTAGE_SECONDS / 2)
            # meanwhile the agents keep scraping, and hold what they cannot send
            assert all(a.running for a in agents)
            assert all(a.self_metric("vmagent_remotewrite_errors_total") > 0 for a in agents)
            time.sleep(OUTAGE_SECONDS / 2)
            vm.restart()  # the same port and data dir
            restarted_at = time.time()

            def window(host: str) -> list[float]:
                return [t for t in _timestamps(vm, host) if stopped_at - 3 <= t <= restarted_at + 2]

            def delivered() -> bool:
                # blocks that failed during the outage wait in vmagent's retry back-off (doubling,
                # so up to ~8 s after the store is back), not only in the buffer's pending bytes
                for host in HOSTS:
                    stamps = window(host)
                    if not stamps or stamps[-1] < restarted_at + 1 or _largest_gap(stamps) >= 2 * SCRAPE_SECONDS:
                        return False
                return True

            try:
                _wait(delivered, 45, "what the agents scraped during the outage, in the restarted VictoriaMetrics")
            except TimeoutError:
                pass  # the assertions below say what is missing
            for host in HOSTS:
                stamps = window(host)
                during = [t for t in stamps if stopped_at < t < restarted_at]
                # one sample per scrape across the outage: no hole, and as many as the seconds it lasted
                assert _largest_gap(stamps) < 2 * SCRAPE_SECONDS, \
                    (host, [round(t - stopped_at, 2) for t in stamps], restarted_at - stopped_at)
                assert len(during) >= (restarted_at - stopped_at) / SCRAPE_SECONDS - 2, (host, len(during))
            assert all(a.pending_bytes() == 0 for a in agents)  # the buffers drained
        finally:
            for agent in agents:
                agent.close()


def test_a_scenarios_tsdb_energy_is_its_own_hosts() -> None:
    # The cost exporter's lookup for a scenario without power samples: on a fleet, the joules
    # counters of the host it ran on only, not the fleet's sum over its window.
    from ffwatt.readers.tsdb import host_selector, scenario_energy_joules

    start = time.time() - 3600
    lines = []
    watts = {"lab1": 10, "lab.2": 100, "labx2": 1000}
    for k in range(31):  # every 10 s for 300 s
        ts = int((start + 10 * k) * 1000)
        lines += [f'{m.CPU_ENERGY.name}{{socket="0",zone="package",host="{host}"}} {w * 10 * k} {ts}'
                  for host, w in watts.items()]
    with VictoriaMetrics() as vm:
        vm.import_prometheus("\n".join(lines) + "\n")
        window = (vm.url, start + 50, start + 250)
        assert scenario_energy_joules(*window, selector=host_selector("lab1")) == 2_000
        # "." in a host's name is itself, not any character: not labx2's 1000 W
        assert scenario_energy_joules(*window, selector=host_selector("lab.2", 'socket="0"')) == 20_000
        assert scenario_energy_joules(*window, selector=host_selector(None)) == 222_000  # no host: every series
