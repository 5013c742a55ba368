"""One unit per quantity: the rules that turn a catalog unit, and what a query does to it, into
the one Grafana unit that quantity is shown in on every dashboard.

    quantity_of(metric)                 catalog unit of a metric's value ("joules", "factor", ...)
    rate_quantity(metric)               of its rate(): joules -> watts, bytes -> bytes_per_second ...
    aggregate("sum", "ratio")           -> "count": a sum of 0/1 states counts them
    divide("joules", "frames")          -> "joules_per_frame"
    multiply("bytes_per_second", 8)     -> "bits_per_second"
    display_unit("factor")              -> "suffix:x"
    display_unit("ratio", state=True)   -> "none": a 0/1 state with value mappings is no percentage

Both sides use these rules: the query builder (`promql.Q`) derives the unit of what it builds,
and the dashboard lint derives it again from the PromQL text of the generated JSON and fails
where a panel shows another one. A combination without a rule raises `UnitError`: a new kind of
figure gets a rule here first, so it is shown the same way everywhere.

The choices (what the users of each dashboard think in):

- bitrate in bits/s everywhere (`bps`): a byte rate of media or network traffic is multiplied by
  8 in the query; only storage IO stays in bytes/s (`Bps`), as node-mixin shows disks;
- speed against real time as a factor (`x`), with one threshold everywhere (`SPEED_STEPS`: red
  below 0.99, the runner's definition of falling behind);
- counts, sums of 0/1 states included, as plain numbers (`none`), never percentages;
- energy per frame (J/frame) and per stream-second of video (J/s) for comparisons across
  scenarios of different length and stream count; a live stream's energy and cost per viewer-hour
  (J/viewer-hour, money per viewer-hour in the `currency` of the prices).
"""

from __future__ import annotations

from ffwatt.catalog import Metric
from ffwatt.catalog import metrics as m
from ffwatt.common.errors import FfwattError
from ffwatt.contract import formulas


class UnitError(FfwattError, ValueError):
    """A combination of quantities without a rule (add one), or a quantity never to be shown as it is."""


# Quantity -> the Grafana unit it is shown in. Catalog units first, then derived quantities.
DISPLAY: dict[str, str] = {
    "seconds": "s",
    "bytes": "bytes",
    "joules": "joule",
    "watts": "watt",
    "celsius": "celsius",
    "hertz": "hertz",
    "ratio": "percentunit",
    "decibels": "dB",
    "bits_per_second": "bps",
    "frames": "short",
    # Grafana has no fps unit; a custom suffix keeps the number readable.
    "frames_per_second": "suffix:fps",
    "pixels": "short",
    "pixels_per_joule": "short",
    "score": "none",
    "score_per_watt": "none",
    # The currency is a label (`currency`), not known when the dashboard is generated: plain
    # numbers with SI abbreviations; legends and columns name the currency.
    "currency": "short",
    # A cost per pixel is tiny: scientific notation.
    "currency_per_pixel": "sci",
    # Grafana has "massg" (grams); CO2e is said in the legend and description.
    "grams": "massg",
    "grams_per_kilowatt_hour": "suffix:g/kWh",
    "factor": "suffix:x",
    "count": "none",
    "info": "none",
    # derived
    "cores": "short",  # CPU seconds per second
    "per_second": "cps",  # a rate of a count
    "storage_bytes_per_second": "Bps",
    "timestamp_ms": "dateTimeAsIso",
    "joules_per_frame": "si:J/frame",
    "joules_per_video_second": "si:J/s",
    "joules_per_viewer_hour": "si:J/viewer-hour",
    "currency_per_viewer_hour": "short",  # the currency is a label, as for "currency"
    "one": "none",  # the 1 of a join (`group`, an info series, `== bool`)
}

# Never shown as they are: the reason, and what to do.
NOT_SHOWN = {
    "bytes_per_second": "a data rate in bytes/s: multiply by 8, bitrates are shown in bits/s",
    "timestamp": "a Unix time: show age() (seconds) or as_datetime() (a date)",
    "scalar": "a bare number",
}

# Speeds against real time: shown as a factor with SPEED_STEPS wherever they appear.
SPEED_METRICS = frozenset(x.name for x in (m.RESULTS_SPEED, m.RESULTS_MIN_SPEED, m.RESULTS_SWEEP_STEP_SPEED,
                                           m.FFMPEG_SPEED))
# The runner's definition of a stream behind real time, one threshold everywhere.
REAL_TIME_SPEED = formulas.REAL_TIME_SPEED
SPEED_STEPS = [{"color": "red", "value": None}, {"color": "green", "value": REAL_TIME_SPEED}]

# Byte counters of storage: their rate stays in bytes/s.
STORAGE_IO = frozenset(x.name for x in (m.DOCKER_BLOCK_READ, m.DOCKER_BLOCK_WRITE))
# Metrics shown in a quantity of their own rather than their catalog unit's.
METRIC_QUANTITY = {m.COST_PER_PIXEL.name: "currency_per_pixel"}

_RATES = {"joules": "watts", "bytes": "bytes_per_second", "seconds": "cores", "frames": "frames_per_second",
          "count": "per_second"}
_INCREASES = {"joules": "joules", "bytes": "bytes", "seconds": "seconds", "frames": "frames", "count": "count"}
_DIVISIONS = {("joules", "frames"): "joules_per_frame", ("joules", "seconds"): "joules_per_video_second",
              ("watts", "frames_per_second"): "joules_per_frame",  # J/s over frames/s
              ("joules_per_hour", "count"): "joules_per_viewer_hour",  # over viewers
              ("currency_per_hour", "count"): "currency_per_viewer_hour"}
_PRODUCTS = {("seconds", "count"): "seconds",  # duration x streams: stream-seconds
             ("kilowatts", "currency"): "currency_per_hour",  # kW x price per kWh
             ("cores", "currency"): "currency_per_hour"}  # cores x price per core-hour
_SCALINGS = {("bytes_per_second", 8.0): "bits_per_second", ("timestamp", 1000.0): "timestamp_ms",
             ("watts", formulas.SECONDS_PER_HOUR): "joules_per_hour",
             ("watts", formulas.SECONDS_PER_HOUR / formulas.JOULES_PER_KWH): "kilowatts"}
AGGREGATIONS = ("sum", "max", "min", "avg", "count", "group", "topk", "bottomk")


def quantity_of(metric: Metric) -> str:
    """The quantity of a metric's raw value."""
    return METRIC_QUANTITY.get(metric.name, metric.unit)


def rate_quantity(metric: Metric) -> str:
    """The quantity of rate() of a counter."""
    if metric.name in STORAGE_IO:
        return "storage_bytes_per_second"
    if metric.unit not in _RATES:
        raise UnitError(f"rate() of {metric.name} ({metric.unit}): no rule for the rate of {metric.unit!r}")
    return _RATES[metric.unit]


def increase_quantity(metric: Metric) -> str:
    """The quantity of increase() of a counter."""
    if metric.unit not in _INCREASES:
        raise UnitError(f"increase() of {metric.name}: no rule for the increase of {metric.unit!r}")
    return _INCREASES[metric.unit]


def aggregate(op: str, quantity: str) -> str:
    """sum of 0/1 states (ratios) counts them; count() counts; group() is the 1 of a join."""
    if op not in AGGREGATIONS:
        raise UnitError(f"aggregation {op!r} is not one of {AGGREGATIONS}")
    if op == "count":
        return "count"
    if op == "group":
        return "one"
    if op == "sum" and quantity == "ratio":
        return "count"
    return quantity


def divide(numerator: str, denominator: str) -> str:
    """a / b: the same quantity gives a ratio; joules per frame, per second of video."""
    if denominator in ("one", "info"):
        return numerator
    if numerator == denominator:
        return "ratio"
    if (numerator, denominator) in _DIVISIONS:
        return _DIVISIONS[(numerator, denominator)]
    raise UnitError(f"no rule for {numerator} / {denominator}")


def multiply(a: str, b: str | float) -> str:
    """a * b: by the 1 of a join (unchanged), by a scalar (bytes/s x 8, seconds x 1000), or a product."""
    if isinstance(b, float | int):
        if (a, float(b)) in _SCALINGS:
            return _SCALINGS[(a, float(b))]
        raise UnitError(f"no rule for {a} * {b:g}")
    if b in ("one", "info"):  # an info series (or a 0/1 filtered to its 1s) is 1
        return a
    if a in ("one", "info"):
        return b
    if (a, b) in _PRODUCTS:
        return _PRODUCTS[(a, b)]
    if (b, a) in _PRODUCTS:
        return _PRODUCTS[(b, a)]
    raise UnitError(f"no rule for {a} * {b}")


def display_unit(quantity: str, *, state: bool = False) -> str:
    """The Grafana unit a quantity is shown in; `state`: the panel maps 0 and 1 to texts."""
    if quantity == "ratio" and state:
        return "none"
    if quantity in NOT_SHOWN:
        raise UnitError(f"{quantity}: {NOT_SHOWN[quantity]}")
    if quantity not in DISPLAY:
        raise UnitError(f"no Grafana unit for the quantity {quantity!r}; add one to units.DISPLAY")
    return DISPLAY[quantity]
