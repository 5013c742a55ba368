"""The catalog is the contract: its own rules, and the generated reference."""

import pytest

from ffwatt import catalog
from ffwatt.catalog import EXPORTERS, METRICS, Metric, metrics_of
from ffwatt.catalog import metrics as m
from scripts.generate import ROOT, render_all


def test_every_exporter_of_design_is_declared_with_its_port():
    ports = {e.name: e.port for e in EXPORTERS.values()}
    assert ports == {
        "cpu": 9500, "docker": 9501, "results": 9502, "qoe": 9503,
        "cost": 9504, "gpu": 9505, "ffmpeg": 9506, "rtmp": 9728, "streams": 9507, "health": 9600,
    }


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_every_exporter_emits_its_own_metrics_and_the_self_metrics(name):
    emitted = metrics_of(name)
    own = [x for x in emitted if x.exporter == name]
    assert own, f"{name} has no metrics of its own"
    assert m.EXPORTER_UP in emitted and m.EXPORTER_REFRESH_ERRORS in emitted


def test_metrics_of_unknown_exporter_names_it():
    with pytest.raises(KeyError, match="nope"):
        metrics_of("nope")


def test_metric_lookup_by_name():
    assert catalog.metric("ffwatt_cpu_energy_joules_total") is m.CPU_ENERGY
    with pytest.raises(KeyError, match="not in the ffwatt catalog"):
        catalog.metric("ffwatt_missing")


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        (dict(name="ffwatt_x_joules", kind="counter"), "ends in _total"),
        (dict(name="ffwatt_x_total", kind="gauge"), "only counters"),
        (dict(name="ffwatt_latency_ms"), "abbreviations"),
        (dict(name="ffwatt_clock_mhz"), "abbreviations"),
        (dict(name="ffwatt_x", labels=("run_id",)), "bounded label set"),
        (dict(name="ffwatt_x", unit="percent"), "not a catalog unit"),
        (dict(name="ffwatt_x", unit="currency"), "currency label"),
        (dict(name="ffwatt_x", kind="info"), "ends in _info"),
        (dict(name="ffwatt_x", unit="timestamp"), "_timestamp_seconds"),
        (dict(name="ffwatt_x", dashboarded=False), "say why"),
        (dict(name="node_x"), "ffwatt_"),
        (dict(name="ffwatt_x", help="no full stop"), "full stop"),
    ],
)
def test_metric_rules_reject_bad_declarations(kwargs, problem):
    base = dict(name="ffwatt_x", kind="gauge", help="A thing.", unit="count")
    with pytest.raises(ValueError, match=problem):
        Metric(**{**base, **kwargs})


def test_declared_metrics_follow_the_rules():
    # Re-running the checks on the real catalog: no declared metric has a problem.
    assert {name: list(x.problems()) for name, x in METRICS.items() if list(x.problems())} == {}


def test_energy_is_a_joules_counter_beside_a_watts_gauge():
    for energy, power in ((m.CPU_ENERGY, m.CPU_POWER), (m.GPU_ENERGY, m.GPU_POWER)):
        assert energy.kind == "counter" and energy.unit == "joules"
        assert power.kind == "gauge" and power.unit == "watts"
        assert energy.labels == power.labels


def test_replaced_names_are_unique():
    replaced = [x.replaces for x in METRICS.values() if x.replaces]
    assert len(replaced) == len(set(replaced))


def test_generated_files_are_current():
    stale = [path for path, text in render_all().items()
             if not (ROOT / path).exists() or (ROOT / path).read_text(encoding="utf-8") != text]
    assert stale == [], f"run `make dashboards`; stale: {stale}"


def test_metric_reference_lists_every_metric_and_migration():
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for x in METRICS.values():
        assert f"`{x.name}`" in text
        if x.replaces:
            assert f"| `{x.replaces}` | `{x.name}` |" in text
