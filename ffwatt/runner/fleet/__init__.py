"""The fleet: `ffwatt worker` (one Dask worker per lab host) and `ffwatt run --cluster` (docs/fleet.md)."""
