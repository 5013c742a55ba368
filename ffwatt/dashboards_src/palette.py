"""The colours every dashboard uses for the same things: one colour per encoder, one per energy
source. A colour means one thing wherever it appears.

    encoder_series()    fieldConfig overrides colouring every series whose name names an encoder
    encoder_column()    the override colouring a table's `encoder` column by the same palette
    source_column()     the override for a table's `source` column: measured green/blue, the
                        model's estimate as "estimated (model)" in yellow, simulated in orange (the
                        warning colour), nothing in red
    warn_simulated()    the override colouring any series or stat named "... simulated ..." orange

Encoders of one codec share a hue (H.264 blue, HEVC green, AV1 purple), the software encoder the
middle shade; red, orange and yellow are left to meaning (bad, simulated, estimated).
"""

from __future__ import annotations

from ffwatt.catalog import ENERGY_SOURCES

ENCODER_COLOURS: dict[str, str] = {
    "libx264": "blue",
    "h264_nvenc": "dark-blue",
    "h264_qsv": "light-blue",
    "h264_vaapi": "semi-dark-blue",
    "libx265": "green",
    "hevc_nvenc": "dark-green",
    "hevc_qsv": "light-green",
    "hevc_vaapi": "semi-dark-green",
    "libsvtav1": "purple",
    "av1_nvenc": "dark-purple",
    "libaom-av1": "light-purple",
    "av1_qsv": "semi-dark-purple",
    "libvpx-vp9": "super-light-green",
    # not encoders: an idle baseline, a file that did not say
    "none": "text",
    "unknown": "text",
}

WARNING = "orange"  # simulated: not measured
ESTIMATE = "yellow"  # the CPU power model: an estimate
SIMULATED = "simulated"
ESTIMATED = "estimated (model)"  # what the dashboards call the `model` source

# The `source` label of ffwatt_cost_scenario_energy_source -> (text shown, colour).
SOURCE_LOOK: dict[str, tuple[str, str]] = {
    "rapl": ("rapl", "green"), "nvml": ("nvml", "green"), "rapl+nvml": ("rapl+nvml", "green"),
    "samples": ("samples", "green"), "tsdb": ("tsdb", "blue"),
    "model": (ESTIMATED, ESTIMATE), ESTIMATED: (ESTIMATED, ESTIMATE),
    "simulated": (SIMULATED, WARNING), "unavailable": ("unavailable", "red"),
    # where the RAPL counters and the GPU readings are read
    "powercap": ("powercap", "green"), "hwmon": ("hwmon", "green"),
}
if not set(ENERGY_SOURCES) <= set(SOURCE_LOOK):
    raise ValueError(f"give every catalog energy source a look: {sorted(ENERGY_SOURCES)}")


def encoder_pattern(encoder: str) -> str:
    """A regex matching a series name that names `encoder` as a word ("libx264 · 2 streams")
    and not another encoder containing it."""
    return r"(^|[^\w-])" + encoder.replace("-", r"\-") + r"([^\w-]|$)"


def encoder_series() -> list[dict]:
    """One override per encoder: series whose display name names it get its colour."""
    return [{"matcher": {"id": "byRegexp", "options": encoder_pattern(encoder)},
             "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}
            for encoder, colour in ENCODER_COLOURS.items()]


def _mappings(looks: dict[str, tuple[str, str]]) -> list[dict]:
    return [{"type": "value", "options": {
        value: {"text": text, "color": colour, "index": i} for i, (value, (text, colour)) in enumerate(looks.items())
    }}]


def _coloured_column(name: str, looks: dict[str, tuple[str, str]]) -> dict:
    return {"matcher": {"id": "byName", "options": name}, "properties": [
        {"id": "mappings", "value": _mappings(looks)},
        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
    ]}


def encoder_column() -> dict:
    """A table's `encoder` column in the encoders' colours."""
    return _coloured_column("encoder", {e: (e, c) for e, c in ENCODER_COLOURS.items()})


def source_column() -> dict:
    """A table's `source` column: where each energy figure came from, simulated in the warning colour."""
    return _coloured_column("source", SOURCE_LOOK)


def warn_simulated(*, line: bool = False) -> dict:
    """Series (or stat values) whose name says "simulated": the warning colour; on a graph
    (`line`) a dashed line instead, so the series keeps its own colour."""
    if line:
        prop = {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
    else:
        prop = {"id": "color", "value": {"mode": "fixed", "fixedColor": WARNING}}
    return {"matcher": {"id": "byRegexp", "options": f".*{SIMULATED}.*"}, "properties": [prop]}
