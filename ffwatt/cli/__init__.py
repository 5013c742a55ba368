"""`ffwatt`: the one command line. Thin; the work is done in the packages below it."""
