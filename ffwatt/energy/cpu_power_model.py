"""The CPU power model's figure: watts per hardware thread, and why that figure.

    figure = model_figure(cpuinfo_text, threads_visible=os.cpu_count(), tdp_override=None)
    figure.watts_per_thread, figure.why

The machine's modelled power is `watts_per_thread x threads visible here`
(`formulas.cpu_thread_model_power_watts`), a VM's share of its host's socket, never the
whole socket. The figure comes from, in order:

0. `--watts-per-thread W`: the figure itself (alone: with a TDP it would be said twice);
1. `--tdp-watts` (the CPU *package's* TDP) when given, divided by the package's threads as below;
   when those are unknown (under a hypervisor, a CPU name without a core count) it is refused
   (`ModelFigureError`) with the fix: dividing a package's TDP by a VM's 2 vCPUs would charge each
   of them half a socket (issue 30);
2. the CPU model's TDP from CodeCarbon's table (`ffwatt/energy/data/cpu_power.csv`, a generated copy:
   `scripts/update_cpu_power.py`) matched on /proc/cpuinfo's `model name`, divided by the
   package's threads:
   * `--package-threads N` when given (the host CPU's threads per package),
   * the name's own core count when it has one ("AMD EPYC 7763 64-Core Processor": 64 cores,
     x 2 with SMT, i.e. when the `ht` flag is set),
   * else, on bare metal, /proc/cpuinfo's `siblings` (threads per physical package),
   * never `siblings` or `os.cpu_count()` under a hypervisor (the `hypervisor` flag): a VM's
     topology is its own, and its 2 vCPUs are not the host's package, so dividing the
     socket's TDP by them would charge a VM the whole socket (the bug of issue 22);
3. else `formulas.DEFAULT_WATTS_PER_THREAD` (documented, per thread).

Matching: the model name is lowercased, trade marks, "CPU", "Processor", "N-Core" and the
"@ x.xxGHz" tail are dropped, and the longest table name whose words all occur in order
and contiguously in it wins ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz" ->
"Intel Xeon Platinum 8375C").
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ffwatt.common.errors import FfwattError
from ffwatt.contract import formulas

__all__ = ["ModelFigure", "ModelFigureError", "model_figure", "this_machine", "cpu_model_name", "TABLE_PATH", "load_table", "match_tdp"]

TABLE_PATH = Path(__file__).resolve().parent / "data" / "cpu_power.csv"

_NOISE = re.compile(r"\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|\b\d+-core\b|@.*$|,")
_CORES = re.compile(r"\b(\d+)-core\b", re.IGNORECASE)


class ModelFigureError(FfwattError, ValueError):
    """The CPU model's settings cannot be honoured on this machine; the message says what to give instead."""


@dataclass(frozen=True)
class ModelFigure:
    """Watts per thread and where it came from (recorded in the results header and logged)."""

    watts_per_thread: float
    why: str
    cpu_model: str | None
    tdp_watts: float | None  # the package TDP used, None for the default figure
    package_threads: int | None  # what the TDP was divided by


def _words(name: str) -> tuple[str, ...]:
    return tuple(_NOISE.sub(" ", name.lower()).split())


@lru_cache(maxsize=4)
def load_table(path: str = str(TABLE_PATH)) -> dict[tuple[str, ...], float]:
    """The table as normalised name words -> TDP watts. A row whose TDP is not a positive number
    (the upstream table has a few, e.g. "27.29.5") is left out: that CPU is then unknown.
    ValueError naming the file when its columns are not Name,TDP."""
    out: dict[tuple[str, ...], float] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"Name", "TDP"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected the columns Name,TDP, found {reader.fieldnames}")
        for row in reader:
            try:
                tdp = float(row["TDP"])
            except (TypeError, ValueError):
                continue
            words = _words(row["Name"] or "")
            if words and tdp > 0:
                out.setdefault(words, tdp)
    return out


def match_tdp(model_name: str, table: dict[tuple[str, ...], float]) -> tuple[str, float] | None:
    """(table name, TDP) of the longest table entry whose words occur contiguously in the name."""
    words = _words(model_name)
    best: tuple[tuple[str, ...], float] | None = None
    for entry, tdp in table.items():
        n = len(entry)
        if (best is None or n > len(best[0])) and any(words[i:i + n] == entry for i in range(len(words) - n + 1)):
            # a bare number ("3280") must not match a part of another model's name by itself
            if n == 1 and not any(c.isalpha() for c in entry[0]):
                continue
            best = (entry, tdp)
    return None if best is None else (" ".join(best[0]), best[1])


def cpu_model_name(cpuinfo_text: str) -> str | None:
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return None


def _field(cpuinfo_text: str, name: str) -> str | None:
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _package_threads(cpuinfo_text: str, model_name: str | None) -> tuple[int | None, str]:
    flags = set((_field(cpuinfo_text, "flags") or "").split())
    cores = _CORES.search(model_name or "")
    if cores:
        smt = 2 if "ht" in flags else 1
        return int(cores.group(1)) * smt, f"{cores.group(1)} cores from the model name x {smt} thread(s) per core"
    if "hypervisor" in flags:
        return None, "the package's thread count is unknown under a hypervisor (the VM's topology is its own)"
    siblings = _field(cpuinfo_text, "siblings")
    if siblings and siblings.isdigit() and int(siblings) > 0:
        return int(siblings), f"{siblings} threads per package (/proc/cpuinfo siblings, bare metal)"
    return None, "/proc/cpuinfo gives no thread count per package"


def model_figure(cpuinfo_text: str, threads_visible: int, tdp_override: float | None = None,
                 table_path: str = str(TABLE_PATH), *, package_threads: int | None = None,
                 watts_per_thread: float | None = None) -> ModelFigure:
    """The model's watts per thread for this machine: see the module docstring. `ModelFigureError` when
    the settings cannot be honoured here (a package TDP whose package's threads are unknown)."""
    name = cpu_model_name(cpuinfo_text)
    if watts_per_thread is not None:
        if tdp_override is not None or package_threads is not None:
            raise ModelFigureError("--watts-per-thread is the model's figure itself: give it alone, without "
                                   "--tdp-watts or --package-threads")
        formulas.watts_per_thread(watts_per_thread, 1)  # ValueError for a bad figure
        return ModelFigure(watts_per_thread, f"--watts-per-thread {watts_per_thread:g} W", name, None, None)
    if package_threads is not None:
        threads, how = package_threads, f"--package-threads {package_threads}"
    else:
        threads, how = _package_threads(cpuinfo_text, name)
    if tdp_override is not None:
        if threads is None:
            raise ModelFigureError(
                f"--tdp-watts {tdp_override:g} is the CPU package's TDP, but {how}: dividing it by the "
                f"{threads_visible} thread(s) visible here would charge them the whole package. Give the "
                "package's hardware threads (--package-threads N, the host CPU's), or the figure per thread "
                "itself (--watts-per-thread W)")
        return ModelFigure(formulas.watts_per_thread(tdp_override, threads),
                           f"--tdp-watts {tdp_override:g} W / {threads} thread(s) ({how})", name, tdp_override,
                           threads)
    matched = match_tdp(name, load_table(table_path)) if name else None
    if matched is None:
        what = f"CPU {name!r} is not in the TDP table" if name else "/proc/cpuinfo names no CPU model"
        return ModelFigure(formulas.DEFAULT_WATTS_PER_THREAD,
                           f"{what}: the default {formulas.DEFAULT_WATTS_PER_THREAD:g} W per thread", name, None, None)
    entry, tdp = matched
    if threads is None:
        return ModelFigure(formulas.DEFAULT_WATTS_PER_THREAD,
                           f"CPU {name!r} is {entry!r} ({tdp:g} W TDP) but {how} (--package-threads N gives it): "
                           f"the default {formulas.DEFAULT_WATTS_PER_THREAD:g} W per thread", name, None, None)
    return ModelFigure(formulas.watts_per_thread(tdp, threads),
                       f"CPU {name!r} is {entry!r}: {tdp:g} W TDP / {threads} threads ({how})", name, tdp, threads)


def this_machine(tdp_override: float | None = None, *, package_threads: int | None = None,
                 watts_per_thread: float | None = None) -> ModelFigure:
    """`model_figure` for the machine this runs on (/proc/cpuinfo, the threads visible here)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    return model_figure(text, os.cpu_count() or 1, tdp_override, package_threads=package_threads,
                        watts_per_thread=watts_per_thread)
