"""The example scenario files, shipped with the package: `ffwatt run quick` runs `quick.yml` here.

    quick        the demo's run: an idle baseline, short libx264/libx265 encodes, a live sweep
    default      a broader matrix of encoders and bitrates
    rd           rate-distortion curves for `ffwatt report` (BD-rate, BD-energy)
    live-sweep   a live capacity sweep over RTMP

`resolve(text)` is how `ffwatt run` reads its argument: an existing file is that file; otherwise
a bundled name (`quick` or `quick.yml`) is the bundled file; anything else is left as the path
it names, so the runner's "cannot read" error names it. The files are the one copy (the format:
docs/scenarios.md); their sources are lavfi test patterns, so they run anywhere.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled", "resolve"]

_HERE = Path(__file__).resolve().parent  # setuptools installs package data as plain files


def bundled() -> dict[str, Path]:
    """Name (file name without .yml) -> path of every bundled scenario file."""
    return {p.stem: p for p in sorted(_HERE.glob("*.yml"))}


def resolve(text: str) -> Path:
    """The scenario file `text` names: a file that exists, else a bundled name, else `Path(text)`."""
    given = Path(text)
    if given.exists():
        return given
    name = given.name.removesuffix(".yml").removesuffix(".yaml")
    if given.parent == Path(".") and name in bundled():
        return bundled()[name]
    return given
