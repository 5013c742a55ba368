"""ffwatt exporters: one module per exporter plus the shared runtime."""

__version__ = "0.1.0"
