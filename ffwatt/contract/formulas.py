"""The formulas of ffwatt: energy, cost, pixels, quality and efficiency.

Pure functions, standard library only, no I/O. Every exporter that shows a
derived number computes it here, so the results, qoe and cost exporters can
never disagree about what "energy" or "cost per pixel" means.

Conventions
-----------
* Base units: seconds, watts, joules, cores, bits per second, pixels.
* ``None`` means *unknown*. A function returns ``None`` when its result is
  undefined for the inputs (no samples, division by zero pixels, no baseline)
  and passes ``None`` through when an input is unknown. It never invents a 0:
  a zero that really means "unknown" is the bug this project exists to remove.
* Nothing is clamped. A negative net power is a real reading (the scenario ran
  below the measured idle baseline) and is returned as such.
* Invalid arguments (a step of 0 s, a negative price, a malformed bitrate)
  raise ``ValueError`` with a message that says what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "JOULES_PER_KWH",
    "SECONDS_PER_HOUR",
    "REAL_TIME_SPEED",
    "Rendition",
    "trapezoid_integral",
    "trapezoid_energy_joules",
    "core_seconds",
    "mean_power",
    "mean_power_over",
    "energy_and_mean_power",
    "energy_cost",
    "compute_cost",
    "total_cost",
    "pixels_processed",
    "cost_per_pixel",
    "cost_per_viewer_hour",
    "quality_per_watt",
    "qoe_efficiency",
    "drop_ratio",
    "net_power",
    "net_energy",
    "parse_bitrate",
    "parse_bitrates",
    "parse_resolution",
    "emissions_grams",
    "per_viewer_hour",
    "per_stream_hour",
    "mean_and_ci95",
    "student_t_975",
    "cpu_model_power_watts",
    "marginal_energy_per_stream",
    "capacity_knee",
    "DEFAULT_CARBON_INTENSITY",
    "DEFAULT_TDP_WATTS",
    "stream_count",
    "names_stream_count",
    "MAX_STREAMS",
    "welch_difference_ci95",
    # issue 22
    "CPU_MODEL_IDLE_FRACTION",
    "DEFAULT_WATTS_PER_THREAD",
    "watts_per_thread",
    "cpu_thread_model_power_watts",
    "cpu_thread_model_energy_joules",
    "idle_energy_joules",
    "attributed_cpu_energy_joules",
    "attributed_gpu_energy_joules",
    "gpu_process_utilisation",
    "gpu_utilisation_share",
    "per_encode",
    # issue 30
    "ATTRIBUTION_VERSION",
    "DEFAULT_IDLE_BUSY_SHARE",
    "DEFAULT_ENERGY_PRICE_PER_KWH",
    "DEFAULT_CORE_HOUR_PRICE",
    "busy_share",
    "attributed_energy_joules",
    "agree",
]

JOULES_PER_KWH = 3.6e6
SECONDS_PER_HOUR = 3600.0
# A live stream keeps real time while its sustained speed is at least this factor: the runner's
# "fell behind" rule and every dashboard's speed threshold (0.99, not 1.0: out_time moves in whole
# frames, so a stream that keeps up reads a hair under 1x).
REAL_TIME_SPEED = 0.99


@dataclass(frozen=True, slots=True)
class Rendition:
    """One output of an encode: ``width`` x ``height`` pixels at ``fps`` frames/s.

    ``fps`` is ``None`` when the results file does not give a frame rate; the
    pixel count can then only come from measured frames.
    """

    width: int
    height: int
    fps: float | None = None


# --------------------------------------------------------------------------
# integrals over sampled series


def _check_step(step_seconds: float) -> float:
    if isinstance(step_seconds, bool) or not isinstance(step_seconds, (int, float)):
        raise ValueError(f"step_seconds must be a number, got {step_seconds!r}")
    if not math.isfinite(step_seconds) or step_seconds <= 0:
        raise ValueError(f"step_seconds must be a positive finite number, got {step_seconds!r}")
    return float(step_seconds)


def _inner_sum(values: Sequence[float]) -> float:
    """v0/2 + v1 + ... + v(n-2) + v(n-1)/2 for n >= 2; ValueError when not finite.

    A plain `sum`, not `math.fsum`: its rounding error (about n x 1e-16 relative, 4e-13
    for 3,600 samples) is ten orders of magnitude below any power meter's, and fsum took
    4.6x the time (a quarter of loading a large results file)."""
    try:
        total = sum(values) - (values[0] + values[-1]) / 2.0
    except OverflowError:
        total = math.inf
    except TypeError:
        raise ValueError("samples must be numbers") from None
    if not math.isfinite(total):
        raise ValueError("samples must be finite numbers and their sum must be finite")
    return total


def trapezoid_integral(values: Sequence[float], step_seconds: float) -> float | None:
    """Trapezoid rule over evenly spaced samples.

    integral = step x (v0/2 + v1 + ... + v(n-2) + v(n-1)/2)

    The samples span ``(n - 1) x step`` seconds. With fewer than two samples
    there is no interval, so the integral is unknown and ``None`` is returned
    (callers then fall back to another source, e.g. the TSDB counters).
    """
    step = _check_step(step_seconds)
    n = len(values)
    if n < 2:
        return None
    total = step * _inner_sum(values)
    if not math.isfinite(total):
        raise ValueError("integral is not finite")
    return total


def trapezoid_energy_joules(power_watts: Sequence[float], step_seconds: float) -> float | None:
    """Energy in joules from power samples in watts taken every ``step_seconds``.

    energy_J = step_s x (P0/2 + P1 + ... + P(n-2) + P(n-1)/2)

    ``None`` for fewer than two samples: one sample covers no interval, so the
    energy is unknown (not 0). The cost exporter then asks the TSDB for the
    increase of the joules counters over [start_time, end_time].
    """
    return trapezoid_integral(power_watts, step_seconds)


def core_seconds(cpu_usage_cores: Sequence[float], step_seconds: float) -> float | None:
    """CPU time in core-seconds from CPU usage samples (in cores) every ``step_seconds``.

    core_seconds = step_s x (C0/2 + C1 + ... + C(n-2) + C(n-1)/2)

    ``None`` for fewer than two samples (no interval: unknown, not 0).
    """
    return trapezoid_integral(cpu_usage_cores, step_seconds)


def mean_power(power_watts: Sequence[float]) -> float | None:
    """Time-weighted mean power in watts of evenly spaced samples.

    mean_W = (P0/2 + P1 + ... + P(n-2) + P(n-1)/2) / (n - 1)

    which is the trapezoid energy divided by the span it covers, so
    ``mean_power(p) x span == trapezoid_energy_joules(p, step)`` exactly and
    the step cancels out. (For evenly spaced samples it differs from the plain
    arithmetic mean only in giving the two end samples half weight.)
    One sample: that sample. No samples: ``None``.
    """
    n = len(power_watts)
    if n == 0:
        return None
    if n == 1:
        value = float(power_watts[0])
        if not math.isfinite(value):
            raise ValueError("power samples must be finite numbers")
        return value
    return _inner_sum(power_watts) / (n - 1)


def energy_and_mean_power(power_watts: Sequence[float], step_seconds: float) -> tuple[float | None, float | None]:
    """``(trapezoid_energy_joules, mean_power)`` of the same samples, summing them once
    (a results file of 3.6 M samples loads ~0.15 s faster than calling both)."""
    step = _check_step(step_seconds)
    if len(power_watts) < 2:
        return None, mean_power(power_watts)
    inner = _inner_sum(power_watts)
    energy = step * inner
    if not math.isfinite(energy):
        raise ValueError("integral is not finite")
    return energy, inner / (len(power_watts) - 1)


def mean_power_over(energy_joules: float | None, duration_seconds: float | None) -> float | None:
    """Mean power of a measured energy over the span it was measured on.

    mean_W = energy_J / duration_s

    ``None`` when either is unknown or the duration is 0.
    """
    if energy_joules is None or duration_seconds is None or duration_seconds == 0:
        return None
    return _ratio(energy_joules, duration_seconds)


# --------------------------------------------------------------------------
# cost


def _check_price(name: str, price: float) -> float:
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        raise ValueError(f"{name} must be a number, got {price!r}")
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {price!r}")
    return float(price)


DEFAULT_ENERGY_PRICE_PER_KWH = 0.30
"""The price per kWh the cost exporter and `ffwatt audit` use unless told otherwise (EUR)."""

DEFAULT_CORE_HOUR_PRICE = 0.04
"""The price per CPU core-hour the cost exporter and `ffwatt audit` use unless told otherwise (EUR)."""


def energy_cost(energy_joules: float | None, price_per_kwh: float) -> float | None:
    """Cost of ``energy_joules`` at ``price_per_kwh`` (currency per kWh).

    energy_cost = energy_J / 3.6e6 x price_per_kWh     (1 kWh = 3.6e6 J)

    ``None`` when the energy is unknown.
    """
    price = _check_price("price_per_kwh", price_per_kwh)
    if energy_joules is None:
        return None
    return energy_joules / JOULES_PER_KWH * price


def compute_cost(core_seconds_used: float | None, price_per_core_hour: float) -> float | None:
    """Cost of ``core_seconds_used`` CPU core-seconds at ``price_per_core_hour``.

    compute_cost = core_seconds / 3600 x price_per_core_hour

    ``None`` when the CPU time is unknown.
    """
    price = _check_price("price_per_core_hour", price_per_core_hour)
    if core_seconds_used is None:
        return None
    return core_seconds_used / SECONDS_PER_HOUR * price


def total_cost(energy_cost_value: float | None, compute_cost_value: float | None) -> float | None:
    """total_cost = energy_cost + compute_cost (same currency).

    ``None`` when either part is unknown: a total missing one of its parts
    would understate the cost while looking complete.
    """
    if energy_cost_value is None or compute_cost_value is None:
        return None
    return energy_cost_value + compute_cost_value


# --------------------------------------------------------------------------
# pixels


def pixels_processed(
    outputs: Sequence[Rendition],
    duration_seconds: float,
    streams: int = 1,
    measured_total_frames: int | None = None,
) -> int | None:
    """Pixels produced by a scenario.

    Single output (one rendition), frames measured:
        pixels = width x height x measured_total_frames
    where ``measured_total_frames`` is the frame count summed over all streams
    (the results file's ``total_frames``), i.e. frames per stream x streams.

    Otherwise, for an output ladder (or a single output with no measured frames):
        pixels = streams x sum over outputs of (width x height x fps x duration_s)
    every stream producing every output of the ladder. Measured frames are not
    used for a ladder because they count the input frames, not each output's.

    Rounded to the nearest integer. ``None`` when there are no outputs or a
    needed frame rate is unknown.
    """
    if isinstance(streams, bool) or not isinstance(streams, int) or streams < 0:
        raise ValueError(f"streams must be a non-negative integer, got {streams!r}")
    if not math.isfinite(duration_seconds) or duration_seconds < 0:
        raise ValueError(f"duration_seconds must be a non-negative finite number, got {duration_seconds!r}")
    if not outputs:
        return None
    if len(outputs) == 1 and measured_total_frames is not None:
        if measured_total_frames < 0:
            raise ValueError(f"measured_total_frames must be non-negative, got {measured_total_frames!r}")
        only = outputs[0]
        return int(only.width) * int(only.height) * int(measured_total_frames)
    total = 0.0
    for out in outputs:
        if out.fps is None:
            return None
        total += out.width * out.height * out.fps * duration_seconds
    total *= streams
    if not math.isfinite(total):
        raise ValueError("pixel count is out of range")
    return int(round(total))


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when that is not a finite number (a zero,
    underflowed or infinite denominator, or an overflowing result)."""
    if denominator == 0 or not math.isfinite(denominator):
        return None
    try:
        value = numerator / denominator
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def cost_per_pixel(total: float | None, pixels: int | None) -> float | None:
    """cost_per_pixel = total_cost / pixels.

    ``None`` when the total or the pixel count is unknown, or no pixels were
    processed (an idle baseline).
    """
    if total is None or pixels is None or pixels == 0:
        return None
    return _ratio(total, pixels)


def cost_per_viewer_hour(total: float | None, duration_seconds: float | None, viewers: int | None) -> float | None:
    """cost per viewer-hour = total_cost / (duration_s / 3600 x viewers).

    Callers pass the scenario's viewers, defaulting to its stream count.
    ``None`` when anything is unknown or the duration or viewer count is 0.
    """
    return per_viewer_hour(total, duration_seconds, viewers)


# --------------------------------------------------------------------------
# emissions


DEFAULT_CARBON_INTENSITY = 475.0
"""gCO2e per kWh: the world-average grid intensity CodeCarbon falls back to when it
knows nothing about the grid."""


def emissions_grams(energy_joules: float | None, intensity_g_per_kwh: float, pue: float = 1.0) -> float | None:
    """Emissions of the energy drawn, in grams of CO2-equivalent.

    emissions_g = energy_J / 3.6e6 x intensity_gCO2e_per_kWh x PUE

    PUE (power usage effectiveness, >= 1 in a data centre, 1.0 for the machine
    alone) scales the machine's energy up to what the building drew for it.
    ``None`` when the energy is unknown.
    """
    _check_price("intensity_g_per_kwh", intensity_g_per_kwh)
    if isinstance(pue, bool) or not isinstance(pue, (int, float)) or not math.isfinite(pue) or pue <= 0:
        raise ValueError(f"pue must be a positive finite number, got {pue!r}")
    if energy_joules is None:
        return None
    value = energy_joules / JOULES_PER_KWH * intensity_g_per_kwh * pue
    return value if math.isfinite(value) else None


def per_viewer_hour(amount: float | None, duration_seconds: float | None, viewers: int | None) -> float | None:
    """Any amount (money, grams) per viewer-hour = amount / (duration_s / 3600 x viewers).

    ``None`` when anything is unknown or the duration or viewer count is 0.
    """
    if amount is None or duration_seconds is None or viewers is None:
        return None
    if duration_seconds == 0 or viewers == 0:
        return None
    return _ratio(amount, duration_seconds / SECONDS_PER_HOUR * viewers)


def per_stream_hour(amount: float | None, duration_seconds: float | None, streams: int | None) -> float | None:
    """Any amount per stream-hour = amount / (duration_s / 3600 x streams): what one
    more hour of one live stream costs, independent of its audience."""
    return per_viewer_hour(amount, duration_seconds, streams)


# --------------------------------------------------------------------------
# repetitions

# Two-sided 95 % quantiles of Student's t, t(0.975, df), for df = 1..30.
_T_975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)


def student_t_975(df: int) -> float:
    """t(0.975, df): the two-sided 95 % quantile of Student's t with ``df`` degrees of freedom.

    Exact table for df <= 30; above, the Cornish-Fisher expansion around the normal
    quantile z = 1.959964 (error < 1e-5 for df > 30).
    """
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = 1.959963985
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_and_ci95(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean of repeated measurements and the half-width of its 95 % confidence interval.

    mean = sum(x) / n
    half_width = t(0.975, n - 1) x s / sqrt(n), s the sample standard deviation

    ``(None, None)`` for no values; the half-width is ``None`` for one value (one
    run says nothing about the spread, which is not 0).
    """
    n = len(values)
    if n == 0:
        return None, None
    mean = math.fsum(values) / n
    if n == 1:
        return mean, None
    variance = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    return mean, student_t_975(n - 1) * math.sqrt(variance) / math.sqrt(n)


# --------------------------------------------------------------------------
# capacity sweeps


def marginal_energy_per_stream(streams: Sequence[int], energy_joules: Sequence[float | None]) -> float | None:
    """Joules each extra live stream adds: the least-squares slope of energy against the
    stream count over the sweep's steps.

    slope = sum((n_i - mean_n)(E_i - mean_E)) / sum((n_i - mean_n)^2)

    Steps of equal duration compare directly. Steps with unknown energy are left out;
    ``None`` with fewer than two known steps of different stream counts.
    """
    pairs = [(float(n), float(e)) for n, e in zip(streams, energy_joules, strict=True) if e is not None]
    if len({n for n, _ in pairs}) < 2:
        return None
    mean_n = math.fsum(n for n, _ in pairs) / len(pairs)
    mean_e = math.fsum(e for _, e in pairs) / len(pairs)
    spread = math.fsum((n - mean_n) ** 2 for n, _ in pairs)
    return math.fsum((n - mean_n) * (e - mean_e) for n, e in pairs) / spread


def capacity_knee(streams: Sequence[int], held_real_time: Sequence[bool]) -> int | None:
    """The largest stream count that held real time, below the first count that did not.

    A sweep [1, 2, 4, 8] that held at 1, 2 and 4 and fell behind at 8 has its knee at 4.
    A count that held *after* one that failed does not count (noise, not capacity).
    ``None`` when even the first step fell behind.
    """
    knee = None
    for n, held in sorted(zip(streams, held_real_time, strict=True)):
        if not held:
            break
        knee = n
    return knee


# --------------------------------------------------------------------------
# CPU power model (an estimate, for machines without RAPL)

DEFAULT_TDP_WATTS = 85.0
"""The TDP CodeCarbon assumes for a CPU it cannot find in its table."""


def cpu_model_power_watts(tdp_watts: float, utilisation: float) -> float:
    """Estimated CPU power from its utilisation: CodeCarbon's machine formula.

    P_W = TDP_W x (0.1 + 0.9 x load^3), load the whole machine's CPU utilisation (0..1)

    A floor of 10 % of TDP when idle, rising with the cube of the load. It is a
    model, not a measurement: whatever it feeds is labelled ``model``.
    """
    _check_price("tdp_watts", tdp_watts)
    if not isinstance(utilisation, (int, float)) or not 0.0 <= utilisation <= 1.0:
        raise ValueError(f"utilisation must be from 0 to 1, got {utilisation!r}")
    return tdp_watts * (0.1 + 0.9 * utilisation**3)


# --------------------------------------------------------------------------
# the machine's share: a per-thread CPU model and attribution (issue 22)
#
# A scenario's own energy, the Kepler/Scaphandre rule: over the scenario's window the
# machine's energy E (measured or modelled) is an idle part (what the machine draws doing
# nothing) and an active part (the rest); the scenario gets the active part in proportion
# to its CPU time against all CPU time on the machine, and the idle part in proportion to
# the CPUs it held. docs/energy.md is the prose.

CPU_MODEL_IDLE_FRACTION = 0.1
"""The model's idle draw as a fraction of its full-load power: CodeCarbon's 10 % floor."""

DEFAULT_WATTS_PER_THREAD = 5.0
"""Watts per hardware thread at full load for a CPU whose TDP or thread count is not known:
a round figure for current parts (65 W / 16 threads = 4.1 W, 205 W / 40 = 5.1 W,
280 W / 64 = 4.4 W), charged per thread visible here, never a whole socket."""


def watts_per_thread(tdp_watts: float, threads: int) -> float:
    """W_thread = TDP_W / threads of the package: a thread's share of its CPU's TDP."""
    _check_price("tdp_watts", tdp_watts)
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return tdp_watts / threads


def cpu_thread_model_power_watts(watts_per_thread_value: float, threads_visible: int, utilisation: float,
                                 idle_fraction: float = CPU_MODEL_IDLE_FRACTION) -> float:
    """The machine's modelled CPU power at a utilisation (0..1 of the threads visible):

    P_W = W_thread x threads_visible x (f_idle + (1 - f_idle) x u)

    Linear in the load, so the energy of a window splits exactly into an idle part and a
    part proportional to CPU time (see `cpu_thread_model_energy_joules`).
    """
    _check_price("watts_per_thread", watts_per_thread_value)
    if not isinstance(utilisation, (int, float)) or not 0.0 <= utilisation <= 1.0:
        raise ValueError(f"utilisation must be from 0 to 1, got {utilisation!r}")
    return watts_per_thread_value * threads_visible * (idle_fraction + (1 - idle_fraction) * utilisation)


def cpu_thread_model_energy_joules(watts_per_thread_value: float, threads_visible: int, window_seconds: float,
                                   busy_cpu_seconds: float | None,
                                   idle_fraction: float = CPU_MODEL_IDLE_FRACTION) -> float | None:
    """The machine's modelled CPU energy over a window: the integral of
    `cpu_thread_model_power_watts`, with integral(u dt) = busy_cpu_seconds / threads_visible:

    E_J = W_thread x (f_idle x threads_visible x window_s + (1 - f_idle) x busy_cpu_s)

    `busy_cpu_seconds` is all CPU time on the machine over the window (/proc/stat).
    None when it is unknown.
    """
    if busy_cpu_seconds is None:
        return None
    _check_price("watts_per_thread", watts_per_thread_value)
    return watts_per_thread_value * (idle_fraction * threads_visible * window_seconds
                                     + (1 - idle_fraction) * busy_cpu_seconds)


def idle_energy_joules(idle_watts: float | None, window_seconds: float | None) -> float | None:
    """E_idle_J = P_idle_W x window_s (None when either is unknown)."""
    if idle_watts is None or window_seconds is None:
        return None
    return idle_watts * window_seconds


def attributed_cpu_energy_joules(machine_joules: float | None, idle_watts: float | None,
                                 window_seconds: float | None, scenario_cpu_seconds: float | None,
                                 machine_cpu_seconds: float | None, cpus_visible: int) -> float | None:
    """The scenario's own share of the machine's energy over its window (Kepler/Scaphandre):

    E_idle   = min(P_idle x window_s, E)                  the idle part (never more than E)
    E_active = E - E_idle
    share    = min(1, cpu_s / machine_cpu_s)              its CPU time against all CPU time
    held     = min(cpus_visible, cpu_s / window_s)        the CPUs it held, on average
    E_own_J  = E_active x share + E_idle x held / cpus_visible

    `cpu_s` is the scenario's process trees' CPU time (exact, wait4), `machine_cpu_s` all
    CPU time on the machine over the window (/proc/stat, in clock ticks: over a short
    window it can read below the exact figure, hence the share's bound of 1; the idle part's
    bound says a measured E below the idle estimate is all idle). With the linear model
    (`cpu_thread_model_energy_joules`) this is exactly W_thread x cpu_s, whatever else ran.
    None when an input is unknown or the machine used no CPU time (nothing to share).
    """
    if None in (machine_joules, idle_watts, window_seconds, scenario_cpu_seconds, machine_cpu_seconds):
        return None
    if window_seconds <= 0 or machine_cpu_seconds <= 0 or cpus_visible < 1:  # type: ignore[operator]
        return None
    idle = min(idle_watts * window_seconds, machine_joules)  # type: ignore[operator]
    active = machine_joules - idle  # type: ignore[operator]
    share = min(1.0, scenario_cpu_seconds / machine_cpu_seconds)  # type: ignore[operator]
    held = min(float(cpus_visible), scenario_cpu_seconds / window_seconds)  # type: ignore[operator]
    return active * share + idle * held / cpus_visible


def gpu_process_utilisation(sm: float, encoder: float, decoder: float) -> float:
    """How much of a GPU one process used in one NVML per-process sample, in engine-percent:

    u = smUtil + encUtil + decUtil

    The engines an encode can keep busy: NVENC (`encUtil`, the whole of a plain `*_nvenc`
    encode), NVDEC (`decUtil`, with `-hwaccel cuda`) and the SMs (`smUtil`: CUDA filters such
    as scale_cuda, and what the driver runs on the SMs for NVENC). Each is busy time over the
    same sample period, so their sum weighs an encoder-second like an SM-second: NVML gives no
    per-engine power to weigh them otherwise, and any one process's share is then its share
    of all the engine time the GPU was kept busy. `memUtil` is left out: memory-controller
    activity comes with the work of those engines, counting it would count that work twice.
    """
    return sm + encoder + decoder


def gpu_utilisation_share(samples: Iterable[tuple[int, float]], pids: Collection[int]) -> tuple[float, float]:
    """The scenario's and every process's utilisation over a window's NVML samples:

    mine = sum over samples whose pid is in `pids` of u
    all  = sum over every sample of u

    `samples` are (pid, u) pairs, u from `gpu_process_utilisation`; `pids` the scenario's
    ffmpeg process trees. `attributed_gpu_energy_joules(E, mine, all)` turns the pair into joules.
    """
    mine = everyone = 0.0
    for pid, used in samples:
        if used < 0:
            raise ValueError(f"a process's GPU utilisation cannot be negative (pid {pid}: {used!r})")
        everyone += used
        if pid in pids:
            mine += used
    return mine, everyone


def attributed_gpu_energy_joules(gpu_joules: float | None, process_utilisation: float | None,
                                 device_utilisation: float | None) -> float | None:
    """A GPU's energy charged to the scenario: by NVML's per-process utilisation when known,

    E_own_J = E_gpu x min(1, mine / all)                     ("gpu-process-utilisation")

    with `mine` and `all` from `gpu_utilisation_share` (its processes' utilisation, and every
    process's, summed over the same samples). Else (`process_utilisation` None: the driver
    gives no per-process samples) the whole of it (`E_gpu`, "gpu-whole"); so too when no
    process used the GPU over the window (`all` 0 or None): nobody else used it either.
    """
    if gpu_joules is None:
        return None
    if process_utilisation is None or not device_utilisation:
        return gpu_joules
    return gpu_joules * min(1.0, process_utilisation / device_utilisation)


ATTRIBUTION_VERSION = 1
"""The version of the attribution rules of this section (`cpu-time-share`, `gpu-whole`,
`gpu-process-utilisation`, `exclusive`), recorded beside the rule's name in every results entry
(`energy_attribution_version`): raised whenever one of their formulas changes, so `ffwatt audit`
never recomputes a figure with a rule it was not made with."""

DEFAULT_IDLE_BUSY_SHARE = 0.05
"""A window is idle (an idle baseline, the runner's idle probe) only while the machine keeps less
than this share of its visible CPUs busy (`busy_share`): 5 %, a tenth of a CPU on a 2-CPU VM."""


def busy_share(machine_cpu_seconds: float | None, cpus_visible: int | None,
               window_seconds: float | None) -> float | None:
    """The share of the visible CPUs the machine kept busy over a window (0..1):

    u = machine_cpu_s / (cpus_visible x window_s)

    `machine_cpu_s` is all CPU time on the machine over the window (/proc/stat). None when an
    input is unknown or the window holds no CPU time (no CPU, an empty window).
    """
    if machine_cpu_seconds is None or cpus_visible is None or window_seconds is None:
        return None
    return _ratio(machine_cpu_seconds, cpus_visible * window_seconds) if cpus_visible > 0 else None


def attributed_energy_joules(cpu_joules: float | None, gpus: Sequence[tuple[float, float | None, float | None]],
                             *, gpu_joules: float | None, idle_watts: float | None, window_seconds: float | None,
                             scenario_cpu_seconds: float | None, machine_cpu_seconds: float | None,
                             cpus_visible: int) -> float | None:
    """A scenario's own energy over one window, its CPU part and its GPU part together:

    E_own_J   = E_cpu_own + E_gpu_own
    E_cpu_own = attributed_cpu_energy_joules(E_cpu, P_idle, window_s, cpu_s, machine_cpu_s, cpus)
                (0 when the machine's energy has no CPU part: NVML alone)
    E_gpu_own = sum over GPUs g of attributed_gpu_energy_joules(E_g, mine_g, all_g)
                (the whole E_gpu when no per-GPU figure is given)

    `gpus` holds one (E_g, mine_g, all_g) per GPU. An `exclusive` scenario (nothing else ran)
    owns the machine's energy instead, E_own = E. None when nothing was measured or the CPU
    part's share is unknown (an input of `attributed_cpu_energy_joules` is).
    """
    if cpu_joules is None and gpu_joules is None and not gpus:
        return None
    own = 0.0
    if cpu_joules is not None:
        cpu_own = attributed_cpu_energy_joules(cpu_joules, idle_watts, window_seconds, scenario_cpu_seconds,
                                               machine_cpu_seconds, cpus_visible)
        if cpu_own is None:
            return None
        own += cpu_own
    if gpus:
        own += sum(attributed_gpu_energy_joules(joules, mine, everyone) or 0.0 for joules, mine, everyone in gpus)
    elif gpu_joules is not None:
        own += gpu_joules
    return own


def agree(recorded: float | None, recomputed: float | None, relative: float = 1e-6) -> bool:
    """Whether a recorded figure and its recomputation agree: both unknown, or

    |recorded - recomputed| <= relative x max(|recorded|, |recomputed|)   (or both within 1e-12 of 0)

    `ffwatt audit`'s test of every figure (1e-6: far above float rounding, far below any meter's
    precision, so only a changed figure or a changed rule fails it).
    """
    if recorded is None or recomputed is None:
        return recorded is None and recomputed is None
    return math.isclose(recorded, recomputed, rel_tol=relative, abs_tol=1e-12)


def per_encode(value: float | None, encodes: int) -> float | None:
    """A figure measured over `encodes` back-to-back encodes, per single encode: value / encodes."""
    if value is None:
        return None
    if not isinstance(encodes, int) or encodes < 1:
        raise ValueError(f"encodes must be a positive integer, got {encodes!r}")
    return value / encodes


# --------------------------------------------------------------------------
# quality of experience


def quality_per_watt(vmaf: float | None, mean_power_watts: float | None) -> float | None:
    """quality_per_watt = VMAF / mean power (VMAF points per watt).

    ``None`` when VMAF or the power is unknown, or the power is 0.
    """
    if vmaf is None or mean_power_watts is None or mean_power_watts == 0:
        return None
    return _ratio(vmaf, mean_power_watts)


def qoe_efficiency(pixels: int | None, vmaf: float | None, energy_joules: float | None) -> float | None:
    """Quality-weighted pixels per joule.

    efficiency = pixels x (VMAF / 100) / energy_J

    ``None`` when any input is unknown or the energy is 0.
    """
    if pixels is None or vmaf is None or energy_joules is None or energy_joules == 0:
        return None
    return _ratio(pixels * (vmaf / 100.0), energy_joules)


def drop_ratio(dropped: int | None, total: int | None) -> float | None:
    """drop_ratio = dropped_frames / total_frames (0..1 when dropped <= total).

    ``None`` when either count is unknown or no frames were handled.
    """
    if dropped is None or total is None or total == 0:
        return None
    return dropped / total


def net_power(scenario_mean_watts: float | None, baseline_mean_watts: float | None) -> float | None:
    """Net (marginal) power of a scenario over the idle baseline.

    net_W = scenario mean power - baseline mean power

    ``None`` without a baseline (or without scenario power). Not clamped: a
    negative value means the scenario drew less than the idle baseline, which
    points at a baseline taken under other conditions and is worth seeing.
    """
    if scenario_mean_watts is None or baseline_mean_watts is None:
        return None
    return scenario_mean_watts - baseline_mean_watts


def net_energy(
    scenario_energy_joules: float | None,
    baseline_mean_watts: float | None,
    duration_seconds: float | None,
) -> float | None:
    """Net (marginal) energy of a scenario over the idle baseline.

    net_J = scenario energy_J - baseline mean power_W x duration_s

    ``duration_seconds`` is the span the scenario energy was integrated over
    (the scenario's duration). ``None`` without a baseline or scenario energy.
    Not clamped (see :func:`net_power`).
    """
    if scenario_energy_joules is None or baseline_mean_watts is None or duration_seconds is None:
        return None
    return scenario_energy_joules - baseline_mean_watts * duration_seconds


# --------------------------------------------------------------------------
# parsing of the results files' string fields

_BITRATE_RE = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,9})?)\s*([kKmMgG]?)(?:bps|b/s)?\s*$")
_BITRATE_MULTIPLIER = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_bitrate(value: str | int) -> int:
    """Bits per second from an ffmpeg-style bitrate: ``"2500k"`` -> 2_500_000.

    Suffixes are decimal (SI, as ffmpeg's ``-b:v``): k = 1e3, M = 1e6, G = 1e9,
    either case; an optional ``bps``/``b/s`` unit is allowed; ``"1.5M"`` ->
    1_500_000. A plain non-negative integer (``2500000`` or ``"2500000"``) is
    bits per second. Result rounded to the nearest integer.
    Raises ``ValueError`` otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid bitrate {value!r}: expected a string like '2500k' or an integer")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid bitrate {value!r}: must not be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid bitrate {value!r}: expected a string like '2500k' or an integer")
    match = _BITRATE_RE.match(value)
    if match is None:
        raise ValueError(
            f"invalid bitrate {value!r}: expected a number with an optional k, M or G suffix, like '2500k'"
        )
    number, suffix = match.groups()
    return int(round(float(number) * _BITRATE_MULTIPLIER[suffix.lower()]))


def parse_bitrates(value: str | int) -> tuple[int, ...]:
    """Bits per second of each stream: ``"2500k"`` -> (2_500_000,), and the older
    runner's mixed-bitrate form ``"1000k,2500k,5000k"`` -> one bitrate per stream.

    Raises ``ValueError`` naming the bad part.
    """
    if isinstance(value, str) and "," in value:
        return tuple(parse_bitrate(part) for part in value.split(","))
    return (parse_bitrate(value),)


_RESOLUTION_RE = re.compile(r"^\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*$")


def parse_resolution(value: str) -> tuple[int, int]:
    """``(width, height)`` from ``"1280x720"`` (``x`` or ``X``, both positive).

    Raises ``ValueError`` otherwise.
    """
    if not isinstance(value, str):
        raise ValueError(f"invalid resolution {value!r}: expected a string like '1280x720'")
    match = _RESOLUTION_RE.match(value)
    if match is None:
        raise ValueError(f"invalid resolution {value!r}: expected WIDTHxHEIGHT, like '1280x720'")
    width, height = int(match.group(1)), int(match.group(2))
    if width == 0 or height == 0:
        raise ValueError(f"invalid resolution {value!r}: width and height must be positive")
    return width, height


MAX_STREAMS = 1_000_000
_STREAMS_IN_NAME_RE = re.compile(r"(?<![\w.])(\d+)\s*streams?\b", re.IGNORECASE)
_SINGLE_STREAM_RE = re.compile(r"\bsingle\s+stream\b", re.IGNORECASE)


def stream_count(name: str, streams_field: int | None = None) -> int:
    """Number of parallel streams of a scenario.

    1. the scenario's ``streams`` field when present (a positive integer);
    2. else from the name: ``"4 streams @ 5000k"`` -> 4,
       ``"single stream @ 1500k"`` -> 1, ``"1 stream"`` -> 1;
    3. else 1.

    Raises ``ValueError`` for a ``streams`` field that is not an integer from
    1 to ``MAX_STREAMS`` (a sanity bound), or a name that gives 0 or more than
    ``MAX_STREAMS`` streams.
    """
    if streams_field is not None:
        if (
            isinstance(streams_field, bool)
            or not isinstance(streams_field, int)
            or not 1 <= streams_field <= MAX_STREAMS
        ):
            raise ValueError(f"streams must be an integer from 1 to {MAX_STREAMS}, got {streams_field!r}")
        return streams_field
    match = _STREAMS_IN_NAME_RE.search(name)
    if match is not None:
        digits = match.group(1)
        count = int(digits) if len(digits) <= 7 else MAX_STREAMS + 1
        if not 1 <= count <= MAX_STREAMS:
            raise ValueError(f"scenario name {name!r} gives {digits} streams: need 1 to {MAX_STREAMS}")
        return count
    if _SINGLE_STREAM_RE.search(name):
        return 1
    return 1


def names_stream_count(name: str) -> bool:
    """True when a scenario name says how many streams it has ("4 streams @ 5000k", "single stream")."""
    return bool(_STREAMS_IN_NAME_RE.search(name) or _SINGLE_STREAM_RE.search(name))


# --------------------------------------------------------------------------
# comparing two runs


def welch_difference_ci95(
    before: Sequence[float], after: Sequence[float]
) -> tuple[float | None, float | None, float | None]:
    """Difference of two means with the half-width of its 95 % confidence interval (Welch).

    diff = mean(after) - mean(before)
    se = sqrt(s_a^2 / n_a + s_b^2 / n_b), s the sample standard deviations
    df = se^4 / ((s_a^2 / n_a)^2 / (n_a - 1) + (s_b^2 / n_b)^2 / (n_b - 1))   (Welch-Satterthwaite)
    half_width = t(0.975, floor(df)) x se   (the floor rounds towards the wider interval)

    Returns ``(diff, half_width, df)``. The difference is significant at 5 % (two-sided
    Welch t-test) when |diff| > half_width. ``(None, None, None)`` when either side has
    no values; half-width and df ``None`` when either has fewer than two (no spread
    known). Both sides without spread: half-width 0.0, df ``None``.
    """
    if not before or not after:
        return None, None, None
    mean_b, mean_a = math.fsum(before) / len(before), math.fsum(after) / len(after)
    diff = mean_a - mean_b
    if len(before) < 2 or len(after) < 2:
        return diff, None, None
    var_b = math.fsum((x - mean_b) ** 2 for x in before) / (len(before) - 1) / len(before)
    var_a = math.fsum((x - mean_a) ** 2 for x in after) / (len(after) - 1) / len(after)
    se2 = var_b + var_a
    if se2 == 0:
        return diff, 0.0, None
    df = se2**2 / (var_b**2 / (len(before) - 1) + var_a**2 / (len(after) - 1))
    return diff, student_t_975(max(1, math.floor(df))) * math.sqrt(se2), df
