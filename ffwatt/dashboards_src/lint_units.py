"""What a query's result is, read from its PromQL: its quantity and the labels it carries.

    derive(expr) -> Result(quantity="joules_per_frame", labels={"scenario", ...}, metrics={...},
                           problems=[...], unit_error=None)

The quantity follows `units`' rules from the catalog unit of each selected metric through what the
query does to it (rate, increase, sum of 0/1 states, a division, x 8 ...), so the lint can check
the unit a panel shows against the one its query's quantity is shown in everywhere else; a
combination without a rule leaves the quantity None and says why in `unit_error`.

The labels follow PromQL's rules (by, without, on, ignoring, group_left/right, label_replace), so
`problems` names every label an aggregation, a match or a join asks of a result that lacks it.
Raises ValueError for what does not parse. Grafana variables must be replaced before
(`queries.expand`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import promql_parser as pp

from ffwatt.catalog import METRICS
from ffwatt.dashboards_src import units
from ffwatt.dashboards_src.promql import TARGET_LABELS

_COMPARISONS = {"==", "!=", "<", ">", "<=", ">="}
_SET_OPS = {"and", "or", "unless"}
# Functions whose result is their first argument's quantity and labels (label_replace adds one).
_SAME = {"label_replace", "label_join", "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max",
         "sort", "sort_desc"}
_OVER_TIME = {"avg_over_time", "max_over_time", "min_over_time"}


@dataclass
class Result:
    quantity: str | None  # a units quantity, "scalar" for a number, "time" for time(); None: no rule
    labels: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    value: float | None = None  # a number literal's
    problems: list[str] = field(default_factory=list)  # labels asked of a result without them
    unit_error: str | None = None


def derive(expr: str) -> Result:
    try:
        tree = pp.parse(expr)
    except Exception as exc:  # the parser raises its own error types
        raise ValueError(f"does not parse as PromQL: {exc}") from None
    return _node(tree)


def _rule(fn, *args) -> tuple[str | None, str | None]:
    """(quantity, None), or (None, why) where `units` has no rule."""
    if any(a is None for a in args):
        return None, None
    try:
        return fn(*args), None
    except units.UnitError as exc:
        return None, str(exc)


def _leaf(metric_name: str, quantity_fn) -> Result:
    metric = METRICS.get(metric_name)
    if metric is None:
        raise ValueError(f"{metric_name} is not in the catalog")
    quantity, error = _rule(quantity_fn, metric)
    return Result(quantity, frozenset(metric.labels + TARGET_LABELS), frozenset({metric.name}), unit_error=error)


def _node(node) -> Result:
    if isinstance(node, pp.VectorSelector):
        return _leaf(node.name, lambda metric: "timestamp" if metric.unit == "timestamp" else units.quantity_of(metric))
    if isinstance(node, pp.NumberLiteral):
        return Result("scalar", value=float(node.val))
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _node(node.expr)
    if isinstance(node, pp.Call):
        return _call(node)
    if isinstance(node, pp.AggregateExpr):
        return _aggregate(node)
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    return Result(None, unit_error=f"no rule for a {type(node).__name__}")


def _call(node) -> Result:
    name = node.func.name
    if name == "time":
        return Result("time")
    if name == "vector":
        return Result("scalar")
    if name in ("rate", "irate", "increase"):
        fn = units.increase_quantity if name == "increase" else units.rate_quantity
        return _leaf(node.args[0].vector_selector.name, fn)
    if name in _OVER_TIME:  # a gauge's mean (max, min) over a window: the gauge's quantity
        return _leaf(node.args[0].vector_selector.name, units.quantity_of)
    if name in _SAME:
        inner = _node(node.args[0])
        if name in ("label_replace", "label_join"):
            inner.labels = inner.labels | {node.args[1].val}
        return inner
    out = Result(None, unit_error=f"no rule for the function {name}()")
    for arg in node.args:
        if not isinstance(arg, pp.StringLiteral | pp.NumberLiteral):
            inner = _node(arg.vector_selector if isinstance(arg, pp.MatrixSelector) else arg)
            out.metrics, out.problems = out.metrics | inner.metrics, out.problems + inner.problems
    return out


def _aggregate(node) -> Result:
    inner = _node(node.expr)
    op = str(node.op)
    quantity, error = _rule(units.aggregate, op, inner.quantity)
    labels: frozenset[str] = inner.labels if op in ("topk", "bottomk") else frozenset()
    problems = list(inner.problems)
    if node.modifier is not None:
        named = frozenset(node.modifier.labels)
        is_by = str(node.modifier.type).endswith("By")
        problems += [f"by ({label}): {_names(inner)} has no label {label!r}" for label in sorted(named - inner.labels)]
        labels = named if is_by else inner.labels - named
    return Result(quantity, labels, inner.metrics, problems=problems, unit_error=error or inner.unit_error)


def _names(result: Result) -> str:
    return " and ".join(sorted(result.metrics)) or "the result"


def _binary(node) -> Result:
    op = str(node.op)
    lhs, rhs = _node(node.lhs), _node(node.rhs)
    out = Result(None, lhs.labels, lhs.metrics | rhs.metrics, problems=lhs.problems + rhs.problems,
                 unit_error=lhs.unit_error or rhs.unit_error)
    if op in _SET_OPS:
        out.quantity = lhs.quantity
        if op == "or":
            out.labels = lhs.labels & rhs.labels
            if lhs.quantity != rhs.quantity:
                out.quantity, out.unit_error = None, f"a union of {lhs.quantity} and {rhs.quantity}"
    elif op in _COMPARISONS:
        bool_ = node.modifier is not None and node.modifier.return_bool
        out.quantity = "ratio" if bool_ else lhs.quantity
    else:
        out.quantity, error = _arithmetic(op, lhs, rhs)
        out.unit_error = out.unit_error or error
    if node.modifier is not None and rhs.quantity != "scalar" and lhs.quantity != "scalar":
        _match(node.modifier, lhs, rhs, out)
    return out


def _arithmetic(op: str, lhs: Result, rhs: Result) -> tuple[str | None, str | None]:
    if op == "-" and lhs.quantity == "time" and rhs.quantity == "timestamp":
        return "seconds", None  # time() - a Unix time: an age
    if op in ("+", "-"):
        same = lhs.quantity == rhs.quantity
        return (lhs.quantity, None) if same else (None, f"no rule for {lhs.quantity} {op} {rhs.quantity}")
    if op == "*":
        factor = rhs.value if rhs.quantity == "scalar" and rhs.value is not None else rhs.quantity
        return _rule(units.multiply, lhs.quantity, factor)
    if op == "/":
        return _rule(units.divide, lhs.quantity, rhs.quantity)
    return None, f"no rule for the operator {op}"


def _match(modifier, lhs: Result, rhs: Result, out: Result) -> None:
    """The result's labels under on/ignoring and group_left/right; labels asked of a side without them."""
    matching = modifier.matching
    if matching is not None and matching.labels:
        named = frozenset(matching.labels)
        kind = "on" if str(matching.type).endswith("Include") else "ignoring"
        for side in (lhs, rhs):
            out.problems += [f"{kind} ({label}): {_names(side)} has no label {label!r}"
                             for label in sorted(named - side.labels) if kind == "on"]
        out.labels = named if kind == "on" else lhs.labels - named
    extra = frozenset(modifier.group_labels or ())
    card = str(modifier.card)
    if card.endswith("ManyToOne"):
        out.problems += [f"group_left ({label}): {_names(rhs)} has no label {label!r}"
                         for label in sorted(extra - rhs.labels)]
        out.labels = lhs.labels | extra
    elif card.endswith("OneToMany"):
        out.problems += [f"group_right ({label}): {_names(lhs)} has no label {label!r}"
                         for label in sorted(extra - lhs.labels)]
        out.labels = rhs.labels | extra
