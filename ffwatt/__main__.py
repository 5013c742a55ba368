"""python -m ffwatt ...: the same as the `ffwatt` command."""

import sys

from ffwatt.cli.main import main

sys.exit(main())
