"""ffwatt: energy, cost and quality telemetry for video-encoding and live-streaming
benchmarks. Every importable module lives under this one name."""
