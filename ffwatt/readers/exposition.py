"""A fast, strict scan of the Prometheus text format: the one hand-written reader of it.

Two questions, one grammar (the regexes below):

* `scan(text)`, for the health checker: is the body well formed, and which metric names
  does it hold?
* `samples(text, name)`, for the runner's energy meter: every sample of one metric, by
  its labels (read every second from a gpu exporter's body, where the full parser costs
  far more).

Anything else parses with prometheus_client's parser (`text_string_to_metric_families`).

prometheus_client's parser builds an object per sample and holds the GIL for
~70 ms on a 3,000-series body; the health checker only needs to know that the body
is well formed and which metric names it holds. `scan` does that with one regex
per line and gives up (None) on anything it does not fully recognise, so the
caller falls back to the real parser, which then names the error. A body the scan
accepts is one the parser accepts too (tests/unit/test_exposition_scan.py holds
the two side by side).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABELS = r'\{(?:[ \t]*[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\\n]|\\[\\"n])*+"[ \t]*,?)*+[ \t]*\}'
_VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN"
_SAMPLE = re.compile(rf"({_NAME})(?:{_LABELS})?[ \t]+(?:{_VALUE})(?:[ \t]+-?[0-9]+)?[ \t]*")
# The same sample, with the labels and the value captured; one label pair of the labels.
_SAMPLE_PARTS = re.compile(rf"({_NAME})({_LABELS})?[ \t]+({_VALUE})(?:[ \t]+-?[0-9]+)?[ \t]*")
_LABEL_PAIR = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\[\\"n])*)"[ \t]*,?')
_ESCAPE = re.compile(r"\\([\\\"n])")
_ESCAPED = {"\\": "\\", '"': '"', "n": "\n"}
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


Labels = tuple[tuple[str, str], ...]
"""A sample's labels, sorted by name: `(("socket", "0"), ("zone", "package"))`."""


def samples(text: str, name: str) -> dict[Labels, float]:
    """Every sample of metric `name` in a text-format body: sorted labels -> value.

    Only the lines starting with `name` are matched (a family that shares the prefix, such as
    `name_created`, is not `name`); a line that is not a well-formed sample, or whose value is
    not a finite number, is left out. Timestamps are ignored.
    """
    out: dict[Labels, float] = {}
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        sample = _SAMPLE_PARTS.fullmatch(line)
        if sample is None or sample.group(1) != name:
            continue
        value = float(sample.group(3))
        if not math.isfinite(value):
            continue
        pairs = _LABEL_PAIR.findall(sample.group(2)[1:-1]) if sample.group(2) else []
        out[tuple(sorted((key, _ESCAPE.sub(lambda e: _ESCAPED[e[1]], raw)) for key, raw in pairs))] = value
    return out
