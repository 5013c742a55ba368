"""The benchmark runner (`ffwatt run`): scenario files, ffmpeg encodes, quality, energy,
results files. Imports `catalog` and `contract`; the exporters never import it."""
