"""Write every generated artefact from the catalog into this checkout (`make dashboards`).

The same code as `ffwatt dashboards --out DIR` (ffwatt/deploy/tree.py), plus what only a
checkout has: the compose files and docs/metrics.md, docs/dashboards.md. `--check` writes
nothing and exits 1 when a committed copy is stale (the staleness tests call `render_all()`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ffwatt.common.errors import FfwattError
from ffwatt.deploy.tree import render_repository, write_tree

ROOT = Path(__file__).resolve().parent.parent

# The modules whose render() the repository's files come from (ffwatt/deploy/tree.py joins them).
GENERATORS = ("ffwatt.catalog.docs", "ffwatt.dashboards_src.build", "ffwatt.deploy.tree")


def render_all() -> dict[str, str]:
    return render_repository(ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a committed copy is stale")
    args = parser.parse_args(argv)
    try:
        differ = write_tree(render_all(), ROOT, check=args.check)
    except FfwattError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in differ:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
