"""python -m exporters NAME [flags]: the same as `ffwatt exporter NAME [flags]` (ffwatt/exporters/command.py)."""

import sys

from ffwatt.exporters.command import main

sys.exit(main(sys.argv[1:]))
