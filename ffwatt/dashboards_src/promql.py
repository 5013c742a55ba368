"""PromQL built from catalog Metric entries: the only way a dashboard writes a query.

Nothing here writes a metric name or a label name by hand: names, label sets, kinds and units
come from `catalog`. The helpers refuse what would make a panel say "No data" or lie:

    selector(m.QOE_VMAF, scenario="$scenario", encoder="$encoder")
        -> 'ffwatt_qoe_vmaf_score{scenario=~"$scenario",encoder=~"$encoder"}'
    selector(m.QOE_VMAF, zone="$zone")        -> LabelError: the metric has no `zone`
    selector(m.CPU_ENERGY)                    -> KindError: a counter goes in rate()/increase()
    selector(m.CPU_POWER, zone=["$zone", ("=~", "package.*")])   two matchers on one label
    rate(m.CPU_ENERGY, zone="$zone")          -> 'rate(ffwatt_cpu_energy_joules_total{zone=~"$zone"}[$__rate_interval])'
    increase(m.CPU_ENERGY)                    -> 'increase(ffwatt_cpu_energy_joules_total[$__range])'
    by("sum", rate(m.CPU_ENERGY), "zone")     -> 'sum by (zone) (rate(...))'; refuses labels the
                                                 expression no longer has
    divide(a, b, on=SCENARIO)                 -> 'a / on (scenario, ...) b' (one figure per scenario
                                                 from two exporters)
    bits(q)                                   -> 'q * 8' (bytes/s -> bits/s)
    scale(q, 3600), subtract(a, b), above(q, 0), top(10, q), over_time("avg", m.RTMP_STREAM_CLIENTS)
    priced(q, by("max", selector(m.COST_ENERGY_PRICE), "currency"))
                                              -> 'q * on () group_left (currency) max by (currency) (...)'

Every helper returns a `Q`: a str (the PromQL text) that also carries the catalog metrics it
selects, the labels still present on its result and its quantity (`units`: rate of joules is
watts, a sum of 0/1 states a count, joules over frames joules per frame...); `Q.unit` is the
Grafana unit that quantity is shown in. Panel builders take the unit from it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ffwatt.catalog import Metric
from ffwatt.common.errors import FfwattError
from ffwatt.dashboards_src import units

# Labels the scraper adds to every series (not in the catalog's label sets). `host`: the lab
# host's vmagent adds it to everything it remote-writes (-remoteWrite.label, issue 25); series
# the central VictoriaMetrics scrapes itself lack it, and a filter's "All" (=~".*") still
# matches them.
TARGET_LABELS = ("job", "instance", "host")

RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"
_WINDOWS = (RATE_INTERVAL, RANGE)
_MATCH_OPS = ("=", "!=", "=~", "!~")


class LabelError(FfwattError, ValueError):
    """A label the metric (or the expression) does not have."""


class KindError(FfwattError, ValueError):
    """A metric used in a way its kind forbids (a counter outside rate(), a gauge in rate())."""


class Q(str):
    """A PromQL expression (the str) with the catalog metrics it selects, the labels its result
    still carries, and its quantity (see `units`)."""

    metrics: tuple[Metric, ...]
    labels: frozenset[str]
    quantity: str

    def __new__(cls, text: str, metrics: tuple[Metric, ...], labels, quantity: str) -> Q:
        q = super().__new__(cls, text)
        q.metrics = tuple(metrics)
        q.labels = frozenset(labels)
        q.quantity = quantity
        return q

    @property
    def unit(self) -> str:
        return units.display_unit(self.quantity)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _matchers(label: str, value: Any) -> list[tuple[str, str]]:
    """(op, value) pairs: a plain value is a regex (=~, what multi-value and All variables need)."""
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        op, text = item if isinstance(item, tuple) else ("=~", item)
        if op not in _MATCH_OPS:
            raise ValueError(f"matcher operator {op!r} is not one of {_MATCH_OPS}")
        out.append((op, str(text)))
    return out


def selector_text(metric: Metric, matchers: dict[str, Any]) -> str:
    parts = []
    for label, value in matchers.items():
        if label not in metric.labels and label not in TARGET_LABELS:
            have = ", ".join(metric.labels + TARGET_LABELS)
            raise LabelError(f"{metric.name} has no label {label!r} (it has: {have})")
        parts += [f"{label}{op}{_quote(text)}" for op, text in _matchers(label, value)]
    return metric.name + ("{" + ",".join(parts) + "}" if parts else "")


def _labels(metric: Metric) -> frozenset[str]:
    return frozenset(metric.labels + TARGET_LABELS)


def selector(metric: Metric, **matchers: Any) -> Q:
    """`name{label=~"value",...}` for a gauge or info metric.

    A matcher value is a regex (`=~`) unless given as `(op, value)` with op one of = != =~ !~,
    or a list of those (several matchers on one label). Only the metric's catalog labels and the
    scrape labels may be matched."""
    if metric.kind == "counter":
        raise KindError(f"{metric.name} is a counter: use rate() or increase(), never its raw value")
    if metric.unit == "timestamp":
        raise KindError(f"{metric.name} is a timestamp: use age() or as_datetime()")
    return Q(selector_text(metric, matchers), (metric,), _labels(metric), units.quantity_of(metric))


def _counter(metric: Metric, fn: str, window: str, matchers: dict[str, Any], quantity: str) -> Q:
    if metric.kind != "counter":
        raise KindError(f"{fn}() of {metric.name}: only counters go in {fn}(); it is a {metric.kind}")
    if window not in _WINDOWS:
        raise ValueError(f"{fn}() window must be one of {_WINDOWS}, not {window!r}")
    text = f"{fn}({selector_text(metric, matchers)}[{window}])"
    return Q(text, (metric,), _labels(metric), quantity)


def rate(metric: Metric, **matchers: Any) -> Q:
    """`rate(counter{...}[$__rate_interval])`: per-second rate of a counter."""
    quantity = units.rate_quantity(metric) if metric.kind == "counter" else ""
    return _counter(metric, "rate", RATE_INTERVAL, matchers, quantity)


def increase(metric: Metric, window: str = RANGE, **matchers: Any) -> Q:
    """`increase(counter{...}[$__range])` (total over the dashboard's range), or over
    `$__rate_interval` for a per-step series."""
    quantity = units.increase_quantity(metric) if metric.kind == "counter" else ""
    return _counter(metric, "increase", window, matchers, quantity)


def age(metric: Metric, **matchers: Any) -> Q:
    """`time() - timestamp{...}`: seconds since a `_timestamp_seconds` gauge's time."""
    if metric.unit != "timestamp":
        raise KindError(f"age() of {metric.name}: it is not a timestamp")
    return Q(f"time() - {selector_text(metric, matchers)}", (metric,), _labels(metric), "seconds")


def as_datetime(metric: Metric, **matchers: Any) -> Q:
    """`timestamp{...} * 1000`: a Unix time in the milliseconds Grafana's date units take."""
    if metric.unit != "timestamp":
        raise KindError(f"as_datetime() of {metric.name}: it is not a timestamp")
    quantity = units.multiply("timestamp", 1000)
    return Q(f"{selector_text(metric, matchers)} * 1000", (metric,), _labels(metric), quantity)


def by(op: str, q: Q, *labels: str) -> Q:
    """`op by (labels) (q)`; every label must still be on q's result."""
    missing = [label for label in labels if label not in q.labels]
    if missing:
        raise LabelError(f"cannot group {q} by {missing}: its result has {sorted(q.labels)}")
    grouping = f" by ({', '.join(labels)}) " if labels else ""
    return Q(f"{op}{grouping}({q})", q.metrics, labels, units.aggregate(op, q.quantity))


def is_one(q: Q) -> Q:
    """`q == 1`: keep the series of a 1-valued state/reason metric that are set."""
    return Q(f"{q} == 1", q.metrics, q.labels, q.quantity)


def below(q: Q, threshold: float) -> Q:
    """`q < bool threshold`: 1 where q is below it, 0 elsewhere (a 0/1 state; sum() counts them)."""
    return Q(f"{q} < bool {threshold:g}", q.metrics, q.labels, "ratio")


def bits(q: Q) -> Q:
    """A byte rate x 8: the bits per second bitrates are shown in."""
    return Q(f"{q} * 8", q.metrics, q.labels, units.multiply(q.quantity, 8))


def _on(labels: tuple[str, ...], *qs: Q) -> str:
    for q in qs:
        missing = [label for label in labels if label not in q.labels]
        if missing:
            raise LabelError(f"cannot match on {missing}: {q} has {sorted(q.labels)}")
    return f"on ({', '.join(labels)}) "


def divide(numerator: Q, denominator: Q, *, on: tuple[str, ...] = (), group_left: bool = False) -> Q:
    """`a / b`, matched on identical label sets, or `on (labels)` (two exporters' series of one
    scenario differ in job and instance); `group_left`: several numerator series per denominator
    series, each keeping its own labels (a stream's watts per source over its viewers)."""
    if not on and numerator.labels != denominator.labels:
        raise LabelError(f"{numerator} / {denominator}: label sets differ, the division would match nothing")
    matching = (_on(on, numerator, denominator) if on else "") + ("group_left () " if group_left else "")
    labels = numerator.labels if group_left or not on else frozenset(on)
    return Q(f"{_paren(numerator)} / {matching}{_paren(denominator)}", numerator.metrics + denominator.metrics,
             labels, units.divide(numerator.quantity, denominator.quantity))


def add(a: Q, b: Q, *, on: tuple[str, ...], group_left: bool = False) -> Q:
    """`a + on (labels) [group_left ()] b`: two parts of one quantity (a cost's energy and compute parts)."""
    if a.quantity != b.quantity:
        raise units.UnitError(f"{a} + {b}: {a.quantity} and {b.quantity} do not add up")
    matching = _on(on, a, b) + ("group_left () " if group_left else "")
    return Q(f"{_paren(a)} + {matching}{_paren(b)}", a.metrics + b.metrics, a.labels if group_left else frozenset(on),
             a.quantity)


def subtract(a: Q, b: Q) -> Q:
    """`a - b` of two series with identical label sets and one quantity."""
    if a.labels != b.labels:
        raise LabelError(f"{a} - {b}: label sets differ, the difference would match nothing")
    if a.quantity != b.quantity:
        raise units.UnitError(f"{a} - {b}: {a.quantity} minus {b.quantity}")
    return Q(f"{_paren(a)} - {_paren(b)}", a.metrics + b.metrics, a.labels, a.quantity)


def scale(q: Q, factor: float) -> Q:
    """`q * factor`: a change of unit with a rule in `units` (W x 3600 s = J per hour, W x 0.001 = kW)."""
    return Q(f"{_paren(q)} * {factor:g}", q.metrics, q.labels, units.multiply(q.quantity, factor))


def priced(q: Q, price: Q, label: str = "currency") -> Q:
    """`q * on () group_left (currency) price`: q in money per `price`'s unit, once per currency."""
    if label not in price.labels:
        raise LabelError(f"{price} has no label {label!r}")
    return Q(f"{_paren(q)} * on () group_left ({label}) {_paren(price)}", q.metrics + price.metrics,
             q.labels | {label}, units.multiply(q.quantity, price.quantity))


def above(q: Q, threshold: float) -> Q:
    """`q > threshold`: only the series above it, with their values (a filter, not a 0/1 state)."""
    return Q(f"{_paren(q)} > {threshold:g}", q.metrics, q.labels, q.quantity)


def top(k: int, q: Q) -> Q:
    """`topk(k, q)`: the k largest series of q, labels kept."""
    return Q(f"topk({int(k)}, {q})", q.metrics, q.labels, units.aggregate("topk", q.quantity))


def over_time(fn: str, metric: Metric, **matchers: Any) -> Q:
    """`avg_over_time(gauge{...}[$__rate_interval])` (or max, min): a gauge over each step, as a rate
    beside it covers the same window."""
    if fn not in ("avg", "max", "min"):
        raise ValueError(f"over_time(): {fn!r} is not avg, max or min")
    if metric.kind == "counter":
        raise KindError(f"{fn}_over_time() of {metric.name}: a counter goes in rate() or increase()")
    text = f"{fn}_over_time({selector_text(metric, matchers)}[{RATE_INTERVAL}])"
    return Q(text, (metric,), _labels(metric), units.quantity_of(metric))


def multiply(a: Q, b: Q) -> Q:
    """`a * b` of two series with identical label sets (one exporter's figures of one scenario)."""
    if a.labels != b.labels:
        raise LabelError(f"{a} * {b}: label sets differ, the product would match nothing")
    return Q(f"{_paren(a)} * {_paren(b)}", a.metrics + b.metrics, a.labels, units.multiply(a.quantity, b.quantity))


def join_label(q: Q, info: Q, label: str, *, on: tuple[str, ...]) -> Q:
    """`q * on (labels) group_left (label) info`: q's series with `label` copied from the matching
    series of a 1-valued info (or `== 1` filtered state) query."""
    if label not in info.labels:
        raise LabelError(f"{info} has no label {label!r} to copy")
    text = f"{_paren(q)} * {_on(on, q, info)}group_left ({label}) {_paren(info)}"
    return Q(text, q.metrics + info.metrics, q.labels | {label}, units.multiply(q.quantity, "one"))


def spread(q: Q, groups: Q, *, on: tuple[str, ...]) -> Q:
    """`q * on (labels) group_right groups`: q's value on each series of a 1-valued `groups`
    query (its labels), e.g. a sweep's figure once per source its steps came from."""
    text = f"{_paren(q)} * {_on(on, q, groups)}group_right () {_paren(groups)}"
    return Q(text, q.metrics + groups.metrics, groups.labels, units.multiply(q.quantity, groups.quantity))


def relabel(q: Q, label: str, replacement: str, value_regex: str) -> Q:
    """`label_replace(q, label, replacement, label, regex)`: rename some values of a label."""
    if label not in q.labels:
        raise LabelError(f"{q} has no label {label!r}")
    args = ", ".join(_quote(x) for x in (label, replacement, label, value_regex))
    return Q(f"label_replace({q}, {args})", q.metrics, q.labels, q.quantity)


def union(*qs: Q) -> Q:
    """`a or b or ...`: the series of every query (of one quantity; their label sets may differ)."""
    quantities = {q.quantity for q in qs}
    if len(quantities) != 1:
        raise ValueError(f"a union of different quantities {sorted(quantities)}")
    labels = frozenset.intersection(*(q.labels for q in qs))
    metrics = tuple(x for q in qs for x in q.metrics)
    return Q(" or ".join(_paren(q) for q in qs), metrics, labels, qs[0].quantity)


def _paren(q: Q) -> str:
    """q, in parentheses unless it is a plain selector or a function call."""
    text = str(q)
    bare = _QUOTED.sub('""', text)
    return text if " " not in bare or _is_call(bare) else f"({text})"


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _is_call(text: str) -> bool:
    """`name(...)` whose first "(" closes at the very end."""
    start = text.find("(")
    if start <= 0 or not text[:start].replace("_", "").isalnum():
        return False
    depth = 0
    for i, ch in enumerate(text[start:], start):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i == len(text) - 1
    return False
