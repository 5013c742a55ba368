"""`ffwatt exporter NAME [flags]` (alias: `python -m ffwatt.exporters NAME`): serve one exporter, or
the per-host exporters in one process with `agent` (ffwatt/exporters/agent.py).
`ffwatt exporter NAME --help` lists the exporter's settings."""

from __future__ import annotations

from collections.abc import Sequence

from ffwatt.exporters import agent
from ffwatt.exporters.registry import EXPORTER_CLASSES, load
from ffwatt.exporters.runtime import build

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: ffwatt exporter {{{','.join(EXPORTER_CLASSES)}}} [flags]\n"
              "       ffwatt exporter agent [--exporters cpu,docker,gpu,ffmpeg] [--NAME.FLAG VALUE ...]\n"
              "(python -m ffwatt.exporters is the same command)")
        return 0 if argv else 2
    if argv[0] == "agent":
        return agent.main(argv[1:])
    runtime = build(load(argv[0]), argv[1:])
    runtime.serve_forever()
    return 0
