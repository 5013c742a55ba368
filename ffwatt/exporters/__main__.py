"""python -m ffwatt.exporters NAME [flags]: the same as `ffwatt exporter NAME [flags]` (ffwatt/exporters/command.py),
errors included (`error: ...`, exit 2)."""

import sys

from ffwatt.cli.main import main

sys.exit(main(["exporter", *sys.argv[1:]]))
