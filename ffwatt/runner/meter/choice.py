"""Which energy sources a meter reads, and, at each window's start, which of them it uses.

The sources (`energy.source`) come from the settings (`counter_sources`):

* no URL at all: the in-process meter, RAPL under `powercap_root` and NVML, read with the
  exporters' own readers (`energy.rapl_source`, `energy.nvml_source`);
* any URL: the exporters and the TSDB given (`energy.exporter_source`, `energy.tsdb_source`),
  each a *required* source: one that does not answer leaves the energy unknown.

At a window's start, `choose` reads every counter source: those that serve counters are used
(their joules add up: "rapl", "nvml", "rapl+nvml"); when none does, the TSDB is asked at the end,
else the CPU model (`energy.model_source`) estimates, except when a required source did not
answer (the energy is then unknown, never replaced by an estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ffwatt.energy.counters import Counters
from ffwatt.energy.exporter_source import ExporterSource
from ffwatt.energy.nvml_source import NvmlSource
from ffwatt.energy.rapl_source import RaplSource
from ffwatt.energy.source import CounterSource, SourceError

__all__ = ["Choice", "choose", "counter_sources", "source_name"]


def counter_sources(*, cpu_metrics_url: str | None, gpu_metrics_url: str | None, in_process: bool,
                    powercap_root: str | None, nvml: bool, timeout: float,
                    ca_file: str | None) -> list[CounterSource]:
    """The counter sources the settings name (module docstring), in the order they are read."""
    sources: list[CounterSource] = []
    if cpu_metrics_url:
        sources.append(ExporterSource.cpu(cpu_metrics_url, timeout, ca_file))
    if gpu_metrics_url:
        sources.append(ExporterSource.gpu(gpu_metrics_url, timeout, ca_file))
    if in_process:
        if powercap_root:
            sources.append(RaplSource(powercap_root))
        if nvml:
            sources.append(NvmlSource())
    return sources


@dataclass
class Choice:
    """What a window is measured with, decided at its start."""

    used: list[CounterSource] = field(default_factory=list)  # sources whose counters are used
    start: dict[str, Counters] = field(default_factory=dict)  # their counters at the start, by kind
    why_not: list[str] = field(default_factory=list)  # why the others are not used (or why none is)
    unreachable: list[CounterSource] = field(default_factory=list)  # required, not answering: energy unknown


def choose(sources: Sequence[CounterSource]) -> Choice:
    """Read every counter source now: which serve counters, their readings, and why the others do not."""
    choice = Choice()
    if not sources:
        choice.why_not.append("no cpu or gpu exporter URL given")
    for source in sources:
        try:
            counters = source.read()
        except SourceError as exc:
            choice.why_not.append(f"{source.what} unreachable: {exc}")
            if source.required:  # a local reader that fails is no counter, not an unknown energy
                choice.unreachable.append(source)
            continue
        if not counters:
            choice.why_not.append(source.why_no_counters())
            continue
        choice.used.append(source)
        choice.start[source.kind] = counters
    return choice


def source_name(used: Sequence[CounterSource]) -> str:
    """"rapl", "nvml" or "rapl+nvml" for the counter sources used; "" for none."""
    kinds = {s.kind for s in used}
    return "+".join(k for k in ("rapl", "nvml") if k in kinds)
