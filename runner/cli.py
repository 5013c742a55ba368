"""`ffwatt`: the command line (placeholder until the runner lands)."""


def main(argv=None) -> int:
    raise SystemExit("ffwatt: not implemented yet")
