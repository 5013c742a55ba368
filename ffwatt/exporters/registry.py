"""Which class implements each catalog exporter. Imported lazily so that, say, the
cpu exporter never imports pynvml or the docker SDK."""

from __future__ import annotations

import importlib

from ffwatt.common.errors import FfwattError
from ffwatt.exporters.runtime import Exporter

EXPORTER_CLASSES = {
    "cpu": "ffwatt.exporters.cpu:CpuExporter",
    "docker": "ffwatt.exporters.docker_stats:DockerExporter",
    "results": "ffwatt.exporters.results:ResultsExporter",
    "qoe": "ffwatt.exporters.qoe:QoeExporter",
    "cost": "ffwatt.exporters.cost:CostExporter",
    "gpu": "ffwatt.exporters.gpu:GpuExporter",
    "ffmpeg": "ffwatt.exporters.ffmpeg_progress:FfmpegExporter",
    "rtmp": "ffwatt.exporters.rtmp:RtmpExporter",
    "streams": "ffwatt.exporters.streams:StreamsExporter",
    "health": "ffwatt.exporters.health:HealthExporter",
}


def load(name: str) -> type[Exporter]:
    try:
        target = EXPORTER_CLASSES[name]
    except KeyError:
        raise FfwattError(f"unknown exporter {name!r}; choose one of: {', '.join(EXPORTER_CLASSES)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
