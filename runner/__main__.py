"""python -m runner ...  (the same as the `ffwatt` command)."""

import sys

from runner.cli import main

sys.exit(main())
