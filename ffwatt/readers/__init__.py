"""Readers of the outside world, below both the exporters and the runner: RAPL powercap and
NVML (the hardware), the TSDB's query API, ffmpeg's `-progress` blocks and Prometheus text.
One reader, several users: the cpu exporter and the runner's meter read the same code."""
