"""python -m exporters NAME [flags]  (python -m exporters NAME --help lists the settings).

python -m exporters agent [--exporters cpu,gpu] [--cpu.FLAG ...]  runs the per-host
exporters in one process (exporters/agent.py).
"""

from __future__ import annotations

import sys

from exporters.registry import EXPORTER_CLASSES, load
from exporters.runtime import build


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m exporters {{{','.join(EXPORTER_CLASSES)}}} [flags]\n"
              "       python -m exporters agent [--exporters cpu,docker,gpu,ffmpeg] [--NAME.FLAG VALUE ...]")
        return 0 if argv else 2
    if argv[0] == "agent":
        from exporters import agent

        return agent.main(argv[1:])
    runtime = build(load(argv[0]), argv[1:])
    runtime.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
