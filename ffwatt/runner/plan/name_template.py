"""A scenario's `name:` template (`"{encoder} @ {bitrate}"`), filled in with bounded memory.

`str.format` would build whatever the template asks for before anything could check it:
`{preset:>50000000}` pads one name to 50 MB (ten such scenarios took 1 GB), a width of 2e9 ends in
`MemoryError`, and `{x.__class__}` walks attributes. So a template is read field by field
(`string.Formatter.parse`) and only these are filled in:

* `{key}`, `{key!s}`, `{key!r}` or `{key:spec}`: `key` one of the scenario's keys, no attribute or
  index (`{a.b}`, `{a[0]}`), no nested field in the spec (`{a:{b}}`), no positional `{}`;
* a spec of Python's format mini-language whose width and precision are at most the name's cap
  (a longer name is refused anyway);
* the name is built piece by piece and refused as soon as it passes `max_length` characters, so
  no more than one value's own text and `max_length` characters are ever held.

Every refusal is a `TemplateError` (a `ValueError`) saying what was wrong.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.settings import DEFAULT_MAX_NAME_LENGTH

__all__ = ["TemplateError", "render"]

# [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?$",
                   re.DOTALL)


class TemplateError(RunnerError, ValueError):
    """A name template that cannot be filled in within the bounds (module docstring)."""


def _cut(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _check_field(field: str, spec: str, conversion: str | None, values: Mapping[str, Any], cap: int) -> None:
    """`TemplateError` unless `{field!conversion:spec}` is allowed (module docstring); messages quote at
    most a few dozen characters of the template."""
    shown = "{" + _cut(field) + (f"!{conversion}" if conversion else "") + (f":{_cut(spec)}" if spec else "") + "}"
    if not field.isidentifier():
        raise TemplateError(f"{shown}: a field names a key of the scenario, like {{bitrate}} (no attribute, index or "
                            "positional field)")
    if field not in values:
        raise TemplateError(f"{shown}: the scenario has no key {_cut(field)!r}")
    if conversion not in (None, "s", "r"):
        raise TemplateError(f"{shown}: only the !s and !r conversions")
    if "{" in spec or "}" in spec:
        raise TemplateError(f"{shown}: no nested field in a format spec")
    found = _SPEC.match(spec)
    if found is None:
        raise TemplateError(f"{shown}: not a format spec (fill, align, sign, width, precision, type)")
    for part in ("width", "precision"):
        digits = found.group(part) or "0"
        if len(digits) > 6 or int(digits) > cap:
            raise TemplateError(f"{shown}: {part} {_cut(digits, 12)} is over {cap} (a name is at most {cap} "
                                "characters)")


def render(template: str, values: Mapping[str, Any], max_length: int = DEFAULT_MAX_NAME_LENGTH) -> str:
    """`template` filled in from `values`; `TemplateError` when a field is not allowed or the name would
    pass `max_length` characters."""
    pieces: list[str] = []
    length = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone "{" or "}"
        raise TemplateError(_cut(str(exc), 80)) from None
    for literal, field, spec, conversion in parsed:
        pieces.append(literal)
        length += len(literal)
        if field is not None:
            _check_field(field, spec or "", conversion, values, max_length)
            value = values[field]
            value = repr(value) if conversion == "r" else str(value) if conversion == "s" else value
            try:
                text = format(value, spec or "")
            except (TypeError, ValueError) as exc:  # a spec this value's type does not take
                raise TemplateError(f"{{{_cut(field)}:{_cut(spec or '')}}}: {_cut(str(exc), 80)}") from None
            pieces.append(text)
            length += len(text)
        if length > max_length:
            raise TemplateError(f"the name is longer than {max_length} characters (--max-name-length)")
    return "".join(pieces)
