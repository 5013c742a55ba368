"""python -m cli ...: the same as the `ffwatt` command."""

import sys

from cli.main import main

sys.exit(main())
