"""The health checker's fast scan against prometheus_client's parser, side by side:
where the scan answers it must answer what the parser does, and it must never
accept a body the parser rejects."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.parser import text_string_to_metric_families as parse_text

from ffwatt.catalog import EXPORTERS
from ffwatt.exporters.health import exposed_names
from ffwatt.readers.exposition import scan
from tests.fake_targets import catalog_exposition


def parsed(text: str):
    families = list(parse_text(text))
    return len(families), exposed_names(families)


def assert_same_as_parser(text: str) -> None:
    fast = scan(text)
    assert fast is not None, "the scan gave up on a body prometheus_client wrote"
    assert (fast.families, set(fast.names)) == parsed(text)


@pytest.mark.parametrize("exporter", list(EXPORTERS))
def test_every_catalog_exposition_scans_like_the_parser(exporter):
    assert_same_as_parser(catalog_exposition(exporter).decode())


names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: not n.endswith(("_total", "_created", "_bucket", "_count", "_sum", "_info")))
label_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=0, max_value=10**12)


@st.composite
def registries(draw):
    registry = CollectorRegistry()
    kinds = (Counter, Gauge, Histogram, Summary, Info)
    for name in draw(st.lists(names, min_size=1, max_size=5, unique=True)):
        kind = draw(st.sampled_from(kinds))
        labelnames = draw(st.lists(st.sampled_from(["zone", "scenario", "host"]), max_size=2, unique=True))
        metric = kind(name, draw(st.text(max_size=20)), labelnames, registry=registry)
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            child = metric.labels(*[draw(label_values) for _ in labelnames]) if labelnames else metric
            if kind is Counter:
                child.inc(abs(draw(st.floats(min_value=0, max_value=1e12))))
            elif kind is Gauge:
                child.set(draw(values))
            elif kind is Info:
                child.info({"version": draw(label_values)})
            else:
                child.observe(draw(st.floats(min_value=-1e9, max_value=1e9)))
    return registry


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registry=registries())
def test_what_prometheus_client_writes_scans_like_the_parser(registry):
    assert_same_as_parser(generate_latest(registry).decode())


NODE = """# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.21
# a free comment
node_untyped_thing{a="b"} 3 1700000000000
node_other 4
"""


def test_undeclared_samples_are_families_of_their_own():
    assert_same_as_parser(NODE)
    assert scan(NODE).families == 3


def test_families_are_counted_in_order_as_the_parser_yields_them():
    # found by the mutation test below: a family's samples after another declaration
    # are a family of their own
    text = "# HELP node_load1 x\n# TYPE ode_load1 gauge\nnode_load1 1\n"
    assert_same_as_parser(text)
    assert scan(text).families == 3


@pytest.mark.parametrize("body", [
    "hello world\n",
    "<html><body>It works!</body></html>",
    '{"status": "ok"}',
    "up 1 2 3\n",
    'up{job="a} 1\n',  # unterminated label value
    'up{job="a\\q"} 1\n',  # an escape the format does not have
    "up one\n",
    "# TYPE up gauge\n# TYPE up counter\nup 1\n",  # declared twice
    "# TYPE up sometype\nup 1\n",
    "# TYPE\n",
    "#1 TYPE up counter\nup 1\n",  # the parser splits comments on whitespace: a declaration
    "# \tTYPE up counter\nup 1\n",
])
def test_anything_unusual_falls_back_to_the_parser(body):
    assert scan(body) is None


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_a_mutated_body_the_scan_accepts_the_parser_accepts(data):
    mutated = catalog_exposition("cpu").decode() + NODE
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        position = data.draw(st.integers(min_value=0, max_value=len(mutated)))
        cut = data.draw(st.integers(min_value=0, max_value=5))
        insert = data.draw(st.text(alphabet='{}"=,\\ #\n\r\tabc019.-+eE_NaInfHELPTYPE', max_size=4))
        mutated = mutated[:position] + insert + mutated[position + cut:]
    fast = scan(mutated)
    if fast is not None:
        assert (fast.families, set(fast.names)) == parsed(mutated)
