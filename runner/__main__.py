"""python -m runner ...: the same as the `ffwatt` command (cli/main.py)."""

import sys

from cli.main import main

sys.exit(main())
