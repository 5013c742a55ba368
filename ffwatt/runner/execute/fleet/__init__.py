"""The fleet: `ffwatt worker` (one Dask worker per lab host: `worker`, `capabilities`, `task`) and
`ffwatt run --cluster` (the client side, an executor beside the local one: `client`); docs/fleet.md."""
