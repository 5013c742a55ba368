"""The real gpu exporter on a simulated NVML (`simulated.nvml`), in its own process:

    python -m scripts.simulated_gpu STATE.json [gpu exporter flags]

STATE.json is what `FakeNvml.write` writes; it is re-read when it changes, so a test or the bench can
lose a GPU from outside. The exporter labels what it serves simulated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ffwatt.exporters.command import main as exporters_main
from ffwatt.testing.simulated.nvml import FakeNvml


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    FakeNvml.from_file(Path(argv[0])).install()
    return exporters_main(["gpu", *argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
