"""Refresh ffwatt/energy/data/cpu_power.csv (a generated file) from CodeCarbon's wheel.

    python -m scripts.update_cpu_power [--version X.Y.Z]

`pip download --no-deps codecarbon` into a temp dir, then the table
(`codecarbon/data/hardware/cpu_power.csv`) and the wheel's license are copied out unchanged.
Only the data is taken, never CodeCarbon's code. The header must still be `Name,TDP`:
anything else is an error naming what was found (the CPU power model's reader expects those columns).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TABLE = "codecarbon/data/hardware/cpu_power.csv"
DATA = Path(__file__).resolve().parent.parent / "ffwatt" / "energy" / "data"


def refresh(version: str | None = None, data_dir: Path = DATA) -> str:
    """Download the wheel, write the table and its license; returns the wheel's file name."""
    spec = f"codecarbon=={version}" if version else "codecarbon"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", spec,
                        "-d", tmp], check=True)
        wheels = sorted(Path(tmp).glob("codecarbon-*.whl"))
        if not wheels:
            raise SystemExit(f"error: pip downloaded no codecarbon wheel into {tmp}")
        with zipfile.ZipFile(wheels[-1]) as wheel:
            table = wheel.read(TABLE).decode("utf-8")
            licenses = [n for n in wheel.namelist() if n.endswith("licenses/LICENSE") or n.endswith("/LICENSE")]
            license_text = wheel.read(licenses[0]).decode("utf-8") if licenses else None
        header = table.splitlines()[0].strip() if table else ""
        if header != "Name,TDP":
            raise SystemExit(f"error: {wheels[-1].name}:{TABLE}: expected the header 'Name,TDP', found {header!r}")
        (data_dir / "cpu_power.csv").write_text(table, encoding="utf-8")
        if license_text:
            (data_dir / "cpu_power.LICENSE").write_text(license_text, encoding="utf-8")
        return wheels[-1].name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="a codecarbon version (default: the newest)")
    args = parser.parse_args(argv)
    print(f"ffwatt/energy/data/cpu_power.csv refreshed from {refresh(args.version)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
