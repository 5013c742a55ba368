"""The exporters' settings: the ones every exporter has, and parsing a command line.

A setting is a flag, an environment variable and a default (`common.settings.Setting`);
precedence: flag, then environment (FFWATT_<FLAG_NAME>), then the documented default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from ffwatt.common.settings import (
    Setting,
    add_settings,
    non_negative_float,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
)

# The exporter modules declare their settings with these, through this module.
__all__ = ["Setting", "add_settings", "common_settings", "non_negative_float", "non_negative_int", "parse", "port_number",
           "positive_float", "positive_int", "server_settings"]


def common_settings(default_port: int, default_refresh: float) -> tuple[Setting, ...]:
    return (
        Setting("listen-address", "0.0.0.0", "Address to serve /metrics and /health on. 0.0.0.0 is every interface: "
                "whoever reaches the port reads the metrics (container names and images, RAPL power) and, on the "
                "ffmpeg exporter, pushes progress, without authentication; 127.0.0.1 keeps it to this host."),
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
        Setting("max-connections-per-peer", 0, "Most connections from one address (IPv6: one /64); at the cap the "
                "peer's longest idle or slowest head makes room, else 503. 0: half of --max-connections (plus "
                "--max-streams for the ffmpeg exporter).", non_negative_int),
        Setting("max-head-connections", 0, "Most connections in the middle of a request head or TLS handshake; at "
                "the cap the slowest makes room (slowloris). 0: half of --max-connections.", non_negative_int),
        Setting("head-timeout", 10.0, "Seconds a request's head (request line, headers, TLS handshake) may take "
                "from its first byte.", positive_float),
        Setting("min-head-rate", 128.0, "Bytes/s a request head must average after its first 2 s, or the "
                "connection is closed.", positive_float),
        Setting("idle-timeout", 15.0, "Seconds a connection may stay silent before it is closed.", positive_float),
        Setting("min-body-rate", 16.0, "Bytes/s a request body must average after a 30 s grace, or the "
                "connection is closed.", positive_float),
        Setting("max-body-rate", 262144.0, "Bytes/s a request body is read at most (after a burst of as many "
                "bytes): bounds the CPU one pusher takes.", positive_float),
        Setting("auth-failures-per-minute", 10.0, "Failed basic-auth password checks one peer may cause per minute "
                "(in a burst of as many); beyond, 429 without a check (bcrypt).", positive_float),
        Setting("auth-checks-per-second", 2.0, "Basic-auth password checks of credentials not checked recently, all "
                "peers together, per second (in a burst of 4 s of them); beyond, 429.", positive_float),
    )


def parse(
    prog: str,
    description: str,
    settings: Sequence[Setting],
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """Parse flags with environment fallbacks; a bad value names the flag or variable."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings(parser, settings, os.environ if environ is None else environ)
    return parser.parse_args(argv)
