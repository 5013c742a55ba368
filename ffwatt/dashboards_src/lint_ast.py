"""PromQL's syntax tree, read for the lint: every selector and every label list of an expression.

    analyse(expr) -> Analysis: every VectorSelector (metric, matchers, how it is used) and every
                     by/without/on/ignoring/group_x label list, from the AST of promql-parser (a test
                     dependency). Grafana variables must be replaced before (`queries.expand`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import promql_parser as pp


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value) with op one of = != =~ !~
    in_range: bool  # inside a range selector [..]
    function: str | None  # the function reading that range selector


@dataclass(frozen=True)
class Grouping:
    kind: str  # by, without, on, ignoring, group_left, group_right
    labels: tuple[str, ...]
    metrics: tuple[str, ...]  # catalog metrics selected below it


@dataclass
class Analysis:
    selectors: list[Selector] = field(default_factory=list)
    groupings: list[Grouping] = field(default_factory=list)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors if s.metric}


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _op(matcher) -> str:
    text = str(matcher.op)
    for name, op in _OPS.items():
        if text.endswith(name) or text == op:
            return op
    raise ValueError(f"unknown matcher op {text!r}")


def _children(node) -> list:
    if isinstance(node, pp.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return [node.expr]
    return []


def _walk(node, parents: tuple = ()) -> Iterator[tuple[object, tuple]]:
    yield node, parents
    for child in _children(node):
        yield from _walk(child, parents + (node,))


def _metric_names(node) -> tuple[str, ...]:
    return tuple(sorted({n.name for n, _ in _walk(node) if isinstance(n, pp.VectorSelector) and n.name}))


def analyse(expr: str) -> Analysis:
    """Parse a PromQL expression (Grafana variables already expanded) and collect its
    selectors and label lists. Raises ValueError when it does not parse."""
    try:
        tree = pp.parse(expr)
    except Exception as exc:  # the parser raises its own error types
        raise ValueError(f"does not parse as PromQL: {exc}") from None
    result = Analysis()
    for node, parents in _walk(tree):
        if isinstance(node, pp.VectorSelector):
            matchers = tuple((m.name, _op(m), m.value) for m in node.matchers.matchers)
            in_range = bool(parents) and isinstance(parents[-1], pp.MatrixSelector)
            function = None
            if in_range and len(parents) >= 2 and isinstance(parents[-2], pp.Call):
                function = parents[-2].func.name
            result.selectors.append(Selector(node.name, matchers, in_range, function))
        elif isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            kind = "by" if str(node.modifier.type).endswith("By") else "without"
            result.groupings.append(Grouping(kind, tuple(node.modifier.labels), _metric_names(node.expr)))
        elif isinstance(node, pp.BinaryExpr) and node.modifier is not None:
            metrics = _metric_names(node)
            matching = node.modifier.matching
            if matching is not None and matching.labels:
                kind = "on" if str(matching.type).endswith("Include") else "ignoring"
                result.groupings.append(Grouping(kind, tuple(matching.labels), metrics))
            if node.modifier.group_labels:
                result.groupings.append(Grouping("group", tuple(node.modifier.group_labels), metrics))
    return result
