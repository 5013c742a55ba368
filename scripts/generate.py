"""Write every generated artefact from the catalog (`make dashboards`).

Each generator exposes `render() -> {relative path: text}`; the staleness test calls
`render_all()` too and compares with the committed files.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Modules with a render() function; added here as they are written.
GENERATORS = (
    "ffwatt.catalog.docs",
    "ffwatt.dashboards_src.build",
    "scripts.render_configs",
)


def render_all() -> dict[str, str]:
    files: dict[str, str] = {}
    for name in GENERATORS:
        for path, text in importlib.import_module(name).render().items():
            if path in files:
                raise ValueError(f"{name} and another generator both write {path}")
            files[path] = text
    return files


def main() -> int:
    for path, text in sorted(render_all().items()):
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
