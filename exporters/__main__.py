"""python -m exporters NAME [flags]: the same as `ffwatt exporter NAME [flags]` (exporters/command.py)."""

import sys

from exporters.command import main

sys.exit(main(sys.argv[1:]))
