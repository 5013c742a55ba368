"""ffwatt exporters: one module per exporter plus the shared runtime."""
