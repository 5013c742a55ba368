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
# The sample names a declared family takes in, by type, as prometheus_client's parser has them.
_MEMBERS = {"summary": ("_count", "_sum", ""), "histogram": ("_count", "_sum", "_bucket")}


@dataclass(frozen=True)
class Scan:
    families: int  # as prometheus_client's text parser would count them
    names: frozenset[str]  # every declared family name, counter with _total, and every sample name


def scan(text: str) -> Scan | None:
    """The metric names of a well-formed text-format body, or None to fall back to the parser."""
    declared: dict[str, str] = {}  # family name -> type ("" for HELP only)
    samples: set[str] = set()
    families = 0
    # Families are counted as the parser yields them: a new one at each change of name,
    # and a sample outside the current family is a family of its own.
    current: str | None = None
    members: tuple[str, ...] = ()
    for line in text.split("\n"):
        if not line or line.isspace():
            continue
        if line[0] == "#":
            declaration = _DECLARATION.fullmatch(line)
            if declaration is None:
                # The parser splits comments on whitespace: "#x\tTYPE a b" declares too.
                words = line.split(None, 2)
                if len(words) > 1 and words[1] in ("HELP", "TYPE"):
                    return None  # a declaration not written the plain way: the parser decides
                continue  # a free comment
            kind, name, rest = declaration.groups()
            if name != current:
                families += current is not None
                current, members = name, (name,)
            if kind == "TYPE":
                kind_of = (rest or "").strip()
                if kind_of not in _TYPES or declared.get(name):
                    return None
                declared[name] = kind_of
                members = tuple(name + suffix for suffix in _MEMBERS.get(kind_of, ("",)))
            else:
                declared.setdefault(name, "")
            continue
        sample = _SAMPLE.fullmatch(line)
        if sample is None:
            return None
        name = sample.group(1)
        samples.add(name)
        if name not in members:
            families += 1 + (current is not None)
            current, members = None, ()
    families += current is not None
    names = set(declared) | samples
    for name, kind in declared.items():
        if kind == "counter" and not name.endswith("_total"):
            names.add(name + "_total")
        elif kind == "counter":
            names.add(name.removesuffix("_total"))  # the parser's family name
    return Scan(families=families, names=frozenset(names))
