"""Which class implements each catalog exporter. Imported lazily so that, say, the
cpu exporter never imports pynvml or the docker SDK."""

from __future__ import annotations

import importlib

from exporters.runtime import Exporter

EXPORTER_CLASSES = {
    "cpu": "exporters.cpu:CpuExporter",
    "docker": "exporters.docker_stats:DockerExporter",
    "results": "exporters.results:ResultsExporter",
    "qoe": "exporters.qoe:QoeExporter",
    "cost": "exporters.cost:CostExporter",
    "gpu": "exporters.gpu:GpuExporter",
    "ffmpeg": "exporters.ffmpeg_progress:FfmpegExporter",
    "rtmp": "exporters.rtmp:RtmpExporter",
    "health": "exporters.health:HealthExporter",
}


def load(name: str) -> type[Exporter]:
    try:
        target = EXPORTER_CLASSES[name]
    except KeyError:
        raise SystemExit(f"unknown exporter {name!r}; choose one of: {', '.join(EXPORTER_CLASSES)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
