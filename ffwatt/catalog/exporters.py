"""Every ffwatt exporter: name, default port, scrape interval.

The scrape config, the health checker's default targets, the compose services and
the docs are all derived from this list.
"""

from __future__ import annotations

from ffwatt.catalog.model import Exporter

CPU = Exporter("cpu", 9500, 5, "CPU package/core/dram energy from RAPL powercap sysfs.", per_host=True)
DOCKER = Exporter("docker", 9501, 5, "Per-container CPU, memory, network and block IO via the Docker Engine API.", per_host=True)
RESULTS = Exporter("results", 9502, 15, "Scenario metadata, fps and frames from benchmark results files.")
QOE = Exporter("qoe", 9503, 15, "VMAF, PSNR, SSIM, quality per watt, efficiency and drop ratio from results files.")
COST = Exporter("cost", 9504, 15, "Energy, compute and total cost per scenario from results files and the TSDB.")
GPU = Exporter("gpu", 9505, 5, "NVIDIA GPU power, energy, temperature, utilization incl. NVENC/NVDEC through NVML.", per_host=True)
FFMPEG = Exporter("ffmpeg", 9506, 1, "Live ffmpeg encoding progress pushed by -progress http://.../progress/<stream>.", per_host=True)
RTMP = Exporter("rtmp", 9728, 1, "nginx-rtmp server statistics from its /stat XML: per stream ingest and egress bytes, "
                "clients, A/V sync, video meta; server uptime and connections.")
STREAMS = Exporter("streams", 9507, 5, "Live encoder processes on the host that ffwatt did not start, from /proc: "
                  "per stream attributed joules and watts, CPU seconds and metadata, stream keys hashed; the "
                  "host's other and idle energy.", per_host=True)
HEALTH = Exporter("health", 9600, 15, "Probes every exporter's /metrics and /health and reports which serve real data.")

EXPORTERS: dict[str, Exporter] = {e.name: e for e in (CPU, DOCKER, RESULTS, QOE, COST, GPU, FFMPEG, RTMP, STREAMS, HEALTH)}
