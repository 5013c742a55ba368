"""A fast, strict scan of the Prometheus text format for the health checker.

prometheus_client's parser builds an object per sample and holds the GIL for
~70 ms on a 3,000-series body; the health checker only needs to know that the body
is well formed and which metric names it holds. `scan` does that with one regex
per line and gives up (None) on anything it does not fully recognise, so the
caller falls back to the real parser, which then names the error. A body the scan
accepts is one the parser accepts too (tests/unit/test_exposition_scan.py holds
the two side by side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABELS = r'\{(?:[ \t]*[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\\n]|\\[\\"n])*+"[ \t]*,?)*+[ \t]*\}'
_VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN"
_SAMPLE = re.compile(rf"({_NAME})(?:{_LABELS})?[ \t]+(?:{_VALUE})(?:[ \t]+-?[0-9]+)?[ \t]*")
_DECLARATION = re.compile(rf"# (HELP|TYPE)[ \t]+({_NAME})(?:[ \t]+(.*))?")
_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
# A sample belongs to a declared family by name or by one of these suffixes.
_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")


@dataclass(frozen=True)
class Scan:
    families: int  # as prometheus_client's text parser would count them
    names: frozenset[str]  # every declared family name, counter with _total, and every sample name


def scan(text: str) -> Scan | None:
    """The metric names of a well-formed text-format body, or None to fall back to the parser."""
    declared: dict[str, str] = {}  # family name -> type ("" for HELP only)
    samples: set[str] = set()
    for line in text.split("\n"):
        if not line or line.isspace():
            continue
        if line[0] == "#":
            declaration = _DECLARATION.fullmatch(line)
            if declaration is None:
                if line.startswith(("# HELP", "# TYPE")):
                    return None  # malformed declaration: the parser words the error
                continue  # a free comment
            kind, name, rest = declaration.groups()
            if kind == "TYPE":
                if (rest or "").strip() not in _TYPES or declared.get(name):
                    return None
                declared[name] = rest.strip()
            else:
                declared.setdefault(name, "")
            continue
        sample = _SAMPLE.fullmatch(line)
        if sample is None:
            return None
        samples.add(sample.group(1))
    names = set(declared) | samples
    for name, kind in declared.items():
        if kind == "counter" and not name.endswith("_total"):
            names.add(name + "_total")
        elif kind == "counter":
            names.add(name.removesuffix("_total"))  # the parser's family name
    undeclared = {s for s in samples if not _belongs(s, declared)}
    return Scan(families=len(declared) + len(undeclared), names=frozenset(names))


def _belongs(sample: str, declared: dict[str, str]) -> bool:
    if sample in declared:
        return True
    return any(sample.endswith(suffix) and sample[: -len(suffix)] in declared for suffix in _SUFFIXES)
