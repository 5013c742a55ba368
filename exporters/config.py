"""Settings: every setting is a CLI flag and an environment variable, with a default.

Precedence: flag, then environment (FFWATT_<FLAG_NAME>), then the documented default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


def common_settings(default_port: int, default_refresh: float) -> tuple[Setting, ...]:
    return (
        Setting("listen-address", "0.0.0.0", "Address to serve /metrics and /health on."),
        Setting("port", default_port, "TCP port to listen on (0 picks a free one).", port_number),
        Setting("refresh-interval", default_refresh, "Seconds between refreshes of the source.", positive_float),
        Setting("log-level", "INFO", "Log level: DEBUG, INFO, WARNING, ERROR."),
    )


def server_settings() -> tuple[Setting, ...]:
    """The HTTP server's: web config (TLS, basic auth, headers) and its bounds."""
    return (
        Setting("web-config-file", "", "Prometheus exporter-toolkit web config (YAML): tls_server_config, "
                "basic_auth_users (bcrypt), http_server_config.headers; re-read when it changes. Empty: plain "
                "HTTP without authentication, to anyone who reaches --listen-address (0.0.0.0: every "
                "network of the host)."),
        Setting("max-connections", 0, "Most connections served at once; at the cap the longest idle one makes room, else 503, counted. 0: 256, plus "
                "--max-streams for the ffmpeg exporter.", non_negative_int),
        Setting("head-timeout", 10.0, "Seconds a request's head (request line, headers, TLS handshake) may take "
                "from its first byte.", positive_float),
        Setting("idle-timeout", 15.0, "Seconds a connection may stay silent before it is closed.", positive_float),
        Setting("min-body-rate", 16.0, "Bytes/s a request body must average after a 30 s grace, or the "
                "connection is closed.", positive_float),
        Setting("max-body-rate", 262144.0, "Bytes/s a request body is read at most (after a burst of as many "
                "bytes): bounds the CPU one pusher takes.", positive_float),
    )


def parse(
    prog: str,
    description: str,
    settings: Sequence[Setting],
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """Parse flags with environment fallbacks; a bad value names the flag or variable."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for s in settings:
        default = s.default
        if s.env in environ:
            default = _convert(s, environ[s.env], source=f"environment variable {s.env}", parser=parser)
        parser.add_argument(
            s.flag,
            dest=s.attr,
            default=default,
            type=_typed(s),
            help=f"{s.help} [env {s.env}]",
        )
    return parser.parse_args(argv)


def _typed(setting: Setting) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return setting.type(text)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    convert.__name__ = getattr(setting.type, "__name__", "value")
    return convert


def _convert(setting: Setting, text: str, *, source: str, parser: argparse.ArgumentParser) -> Any:
    try:
        return setting.type(text)
    except (TypeError, ValueError) as exc:
        parser.error(f"{source}={text!r} is invalid for {setting.flag}: {exc}")
