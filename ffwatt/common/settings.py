"""A setting is declared once: its name, type (a parser), default, help and environment variable.

    Setting("results-dir", "test_results", "Directory ...", Path)
        flag --results-dir, variable FFWATT_RESULTS_DIR, attribute results_dir

Precedence: the flag, then the variable, then the default. A bad value names the flag or the
variable it came from.

Two ways to declare, one machinery:

* an options struct whose fields are settings (`ffwatt run`, `worker`, `score`, `dashboards`): a
  frozen dataclass whose fields are `option(...)`. The struct IS the declaration: `add_options`
  builds the argparse options from it, `options_from` builds the struct from the parsed args;
  no field is copied by hand.

      @dataclass(frozen=True)
      class RunOptions:
          scenario_file: Path = option(help="scenario file", type=Path, positional=True)
          results_dir: Path = option(Path("test_results"), "Directory ...", Path)

* a tuple of `Setting`s parsed into a namespace (each exporter's `settings`, the agent's):
  `add_settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["REQUIRED", "Setting", "add_options", "add_settings", "boolean", "non_negative_float", "non_negative_int",
           "option", "options_from", "port_number", "positive_float", "positive_int", "settings_of"]

REQUIRED: Any = dataclasses.MISSING  # the default of a setting that must be given
_KEY = "ffwatt.setting"  # where an options field keeps its Setting


@dataclass(frozen=True)
class Setting:
    name: str  # flag name without dashes ("results-dir"); a positional argument's name
    default: Any
    help: str
    type: Callable[[str], Any] = str
    switch: bool = False  # a flag without a value; `--no-x` when the default is True
    positional: bool = False
    env_var: bool = True  # False: a flag only (positionals never have one)
    attr_name: str = ""  # the attribute it fills; default: the name with underscores
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return self.name if self.positional else f"--{self.name}"

    @property
    def env(self) -> str | None:
        if self.positional or not self.env_var:
            return None
        return "FFWATT_" + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.attr_name or self.name.replace("-", "_")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def parse(self, text: str) -> Any:
        """A value from its text; a switch's text is true/false (its variable's)."""
        if self.switch:
            on = boolean(text)
            return not on if self.default is True else on
        return self.type(text)


# --------------------------------------------------------------------------
# value parsers


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"must be >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {text}")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port 0-65535, got {text}")
    return value


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


# --------------------------------------------------------------------------
# options structs


def option(default: Any = REQUIRED, help: str = "", type: Callable[[str], Any] = str, *,  # noqa: A002
           flag: str = "", switch: bool = False, positional: bool = False, env: bool = True,
           metavar: str | None = None) -> Any:
    """A dataclass field that is also a setting; its flag is the field name with dashes unless
    `flag` names another (`quality` is `--no-quality`)."""
    proto = Setting(flag, default, help, type, switch=switch, positional=positional, env_var=env, metavar=metavar)
    return dataclasses.field(default=default, metadata={_KEY: proto})


def settings_of(cls: type) -> tuple[Setting, ...]:
    """The settings an options struct declares, in field order (fields without one are left out)."""
    out = []
    for f in dataclasses.fields(cls):
        proto = f.metadata.get(_KEY)
        if proto is not None:
            out.append(dataclasses.replace(proto, name=proto.name or f.name.replace("_", "-"), attr_name=f.name))
    return tuple(out)


def add_options(parser: argparse.ArgumentParser, cls: type, environ: Mapping[str, str],
                only: Iterable[str] | None = None) -> None:
    """The argparse options of an options struct (`only`: just these fields)."""
    wanted = None if only is None else set(only)
    add_settings(parser, [s for s in settings_of(cls) if wanted is None or s.attr in wanted], environ)


def options_from(cls: type, args: argparse.Namespace, **given: Any) -> Any:
    """The options struct from parsed args: every field that has a setting, plus `given`."""
    values = {s.attr: getattr(args, s.attr) for s in settings_of(cls) if hasattr(args, s.attr)}
    return cls(**{**values, **given})


# --------------------------------------------------------------------------
# argparse


def add_settings(parser: argparse.ArgumentParser, settings: Iterable[Setting], environ: Mapping[str, str]) -> None:
    """One argparse option per setting, its default taken from its environment variable when set."""
    for s in settings:
        if s.positional:
            parser.add_argument(s.attr, type=_typed(s), help=s.help, metavar=s.metavar)
            continue
        default = _default(s, environ, parser)
        shown = f"{s.help} [env {s.env}]" if s.env else s.help
        if s.switch:
            action = "store_false" if s.default is True else "store_true"
            parser.add_argument(s.flag, dest=s.attr, default=default, action=action, help=shown)
        else:
            parser.add_argument(s.flag, dest=s.attr, default=None if default is REQUIRED else default,
                                required=default is REQUIRED, type=_typed(s), metavar=s.metavar, help=shown)


def _default(setting: Setting, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> Any:
    if setting.env is None or setting.env not in environ:
        return setting.default
    text = environ[setting.env]
    try:
        return setting.parse(text)
    except (TypeError, ValueError) as exc:
        parser.error(f"environment variable {setting.env}={text!r} is invalid for {setting.flag}: {exc}")


def _typed(setting: Setting) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return setting.type(text)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    convert.__name__ = getattr(setting.type, "__name__", "value")
    return convert
