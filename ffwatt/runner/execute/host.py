"""The one factory of a host's measurement: its CPU power model figure, its energy meter and its
measurer, built from the run's settings. The local run builds one for this machine
(ffwatt/runner/run.py); a fleet worker one for each task, on its own host
(ffwatt/runner/execute/fleet/task.py).

Where the energy sources are chosen: the meter's settings below (URLs, `powercap_root`) name them,
ffwatt/runner/meter/choice.py picks among them at each window's start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ffwatt.energy.cpu_power_model import ModelFigure, this_machine
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo
from ffwatt.runner.measure.measurer import Measurer, ReportError
from ffwatt.runner.meter.energy_meter import EnergyMeter
from ffwatt.runner.meter.idle_power import IdlePower
from ffwatt.runner.settings import RunOptions

__all__ = ["HostMeasurement", "host_measurement"]


@dataclass(frozen=True)
class HostMeasurement:
    """A host's CPU model figure, meter and measurer, made together."""

    model: ModelFigure
    meter: EnergyMeter
    measurer: Measurer


def host_measurement(opts: RunOptions, info: FfmpegInfo, *, powercap_root: str, progress_url: str | None,
                     progress_token: str | None, emit: Callable[..., None], report_error: ReportError,
                     idle: IdlePower | None = None, proc_stat: str = "/proc/stat") -> HostMeasurement:
    """This host's measurement for a run with `opts` (module docstring). `powercap_root` and `proc_stat`:
    where the in-process meter reads RAPL and the machine's CPU time here; `idle`: this host's idle power
    as earlier tasks left it (a fleet worker's), else a new one. `ModelFigureError` when the CPU model's
    settings cannot be honoured here (`--tdp-watts` under a hypervisor without `--package-threads`)."""
    model = this_machine(opts.tdp_watts, package_threads=opts.package_threads,
                         watts_per_thread=opts.watts_per_thread)
    ca_file = str(opts.exporter_ca_file) if opts.exporter_ca_file else None  # https exporters, TSDB, progress
    meter = EnergyMeter(cpu_metrics_url=opts.cpu_metrics_url or None, gpu_metrics_url=opts.gpu_metrics_url or None,
                        tsdb_url=opts.tsdb_url or None, step_seconds=opts.sample_interval,
                        watts_per_thread=model.watts_per_thread, powercap_root=powercap_root, proc_stat=proc_stat,
                        ca_file=ca_file)
    if idle is None:
        idle = IdlePower(model.watts_per_thread, threshold=opts.idle_threshold,
                         probe_seconds=opts.idle_probe_seconds if opts.idle_probe else None)
    measurer = Measurer(info, meter, idle, emit=emit,
                        report_error=report_error, progress_url=progress_url, progress_token=progress_token,
                        min_window=opts.min_window, quality=opts.quality, exclusive=opts.exclusive,
                        progress_ca_file=ca_file)
    return HostMeasurement(model, meter, measurer)
