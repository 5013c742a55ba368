"""A setting is a CLI flag, an environment variable and a default, declared once.

    Setting("results-dir", "test_results", "Directory ...", Path)
        flag --results-dir, variable FFWATT_RESULTS_DIR, attribute results_dir

Precedence: the flag, then the variable, then the default. A bad value names the flag or the
variable it came from. The exporters (`exporters.config`) and `ffwatt run` (`runner.settings`)
declare their settings with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Setting", "add_settings", "add_switches", "boolean", "non_negative_float", "non_negative_int",
           "port_number", "positive_float", "positive_int"]


@dataclass(frozen=True)
class Setting:
    name: str  # flag name without dashes: "results-dir"
    default: Any
    help: str
    type: Callable[[str], Any] = str

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def env(self) -> str:
        return "FFWATT_" + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


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


def add_settings(parser: argparse.ArgumentParser, settings: Iterable[Setting], environ: Mapping[str, str]) -> None:
    """One `--flag VALUE` option per setting, its default taken from the environment when set there."""
    for s in settings:
        parser.add_argument(s.flag, dest=s.attr, default=_default(s, environ, parser), type=_typed(s),
                            help=f"{s.help} [env {s.env}]")


def add_switches(parser: argparse.ArgumentParser, switches: Iterable[Setting], environ: Mapping[str, str]) -> None:
    """One `--flag` (no value) per boolean setting; its variable takes true/false (`boolean`)."""
    for s in switches:
        parser.add_argument(s.flag, dest=s.attr, default=_default(s, environ, parser), action="store_true",
                            help=f"{s.help} [env {s.env}]")


def _default(setting: Setting, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> Any:
    if setting.env not in environ:
        return setting.default
    text = environ[setting.env]
    try:
        return setting.type(text)
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
