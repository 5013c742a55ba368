"""`ffwatt audit`'s arithmetic: every energy figure of a results file recomputed from the inputs the
file records, with `contract.formulas` alone (issue 30; docs/energy.md, "How to check a figure").

    audit = audit_file(path)            # ResultsError when the file cannot be read
    audit.scenarios[0].checks           # each figure: recorded, recomputed, the formula with its numbers
    audit.disagreeing                   # names of the scenarios with a figure that does not agree

What is recomputed, per scenario, from its `energy_inputs` (one measurement window per repetition):

* each window: the machine's energy is its CPU part plus its GPU part; its busy share; a modelled
  CPU part (`formulas.cpu_thread_model_energy_joules` at the recorded watts per thread); a modelled
  idle term; an idle power measured by a probe or a baseline is one the header's `idle.checks`
  accepted (on the same host); the scenario's own energy (`formulas.attributed_energy_joules`, or the
  machine's for `exclusive`);
* per repetition and for the scenario: the figures per single encode (window / encodes) and their
  means: `energy_joules`, `machine_energy_joules`, `cpu_core_seconds`;
* an idle baseline's verdict (`idle_accepted` against the header's threshold);
* the header's idle checks (watts = E_cpu / window, busy share, accepted), and each capacity sweep
  step's energy (its scenario's).

Agreement is `formulas.agree` (1e-6 relative). A figure that cannot be recomputed is a `note`, not a
disagreement: a file written before issue 30 records no inputs, a window whose energy is unknown
has nothing to recompute, a rule version this ffwatt does not know is not applied. Cost and carbon
are not recorded in a results file; they are derived here from the recomputed energy and CPU time
at the prices given (`Prices`), to be printed beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ffwatt.contract import formulas
from ffwatt.contract.loading import load_results_file
from ffwatt.contract.schema import EnergyInputs, IdleRecord, MeterRecord, RuleError, ScenarioEntry, Sweep

__all__ = ["Audit", "Check", "Prices", "ScenarioAudit", "audit_file", "audit_scenario"]

MEASURED_IDLE = ("baseline", "probe")


@dataclass(frozen=True)
class Prices:
    """What cost and carbon are derived with (the cost exporter's defaults)."""

    energy_price: float = formulas.DEFAULT_ENERGY_PRICE_PER_KWH
    core_hour_price: float = formulas.DEFAULT_CORE_HOUR_PRICE
    carbon_intensity: float = formulas.DEFAULT_CARBON_INTENSITY
    pue: float = 1.0
    currency: str = "EUR"


@dataclass(frozen=True)
class Check:
    """One figure: where it is in the file, what the file says, what the formula gives, and the formula
    with its numbers (`--explain`)."""

    where: str
    recorded: float | None
    recomputed: float | None
    formula: str

    @property
    def agrees(self) -> bool:
        return formulas.agree(self.recorded, self.recomputed)


@dataclass
class ScenarioAudit:
    name: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what cannot be recomputed, and why
    worked: list[tuple[str, str]] = field(default_factory=list)  # (what, the formula with its numbers): --explain
    windows: int = 0  # measurement windows recomputed
    derived: dict[str, float | None] = field(default_factory=dict)  # cost and carbon, from the recomputed figures

    @property
    def agrees(self) -> bool:
        return all(c.agrees for c in self.checks)


@dataclass
class Audit:
    path: Path
    scenarios: list[ScenarioAudit]
    header: ScenarioAudit  # the header's idle checks and the sweeps, as one more "scenario"
    prices: Prices

    @property
    def disagreeing(self) -> list[str]:
        return [s.name for s in [*self.scenarios, self.header] if not s.agrees]


@dataclass(frozen=True)
class _Context:
    """What the file's header says that a scenario's recomputation needs."""

    idle: IdleRecord | None
    idle_fraction: float


def audit_file(path: Path, prices: Prices = Prices()) -> Audit:
    """Recompute every figure of the results file at `path` (module docstring). `ResultsError` (exit 2) when
    the loader refuses the file; a scenario the loader skipped is named in a note."""
    run = load_results_file(path)  # the loader's checks first: a file it refuses is not audited
    doc = json.loads(Path(path).read_bytes())
    meter = _typed(doc.get("meter"), MeterRecord)
    context = _Context(_typed(doc.get("idle"), IdleRecord),
                       meter.model_idle_fraction if meter and meter.model_idle_fraction is not None
                       else formulas.CPU_MODEL_IDLE_FRACTION)
    entries: list[ScenarioEntry] = []
    header = ScenarioAudit("(header)")
    header.notes += [f"skipped by the loader: {error}" for error in run.skipped]
    for item in doc["scenarios"]:
        entry = _typed(item, ScenarioEntry)
        if entry is not None:
            entries.append(entry)
    scenarios = [audit_scenario(e, context, prices) for e in entries]
    _audit_header(header, context, [_typed(w, Sweep) for w in doc.get("sweeps") or []], scenarios)
    return Audit(Path(path), scenarios, header, prices)


def _typed(value: Any, kind: type) -> Any:
    """`value` as the struct `kind`, its rules checked; None when it is absent or not valid (the loader
    already said which scenario it skipped and why)."""
    if value is None:
        return None
    try:
        typed = msgspec.convert(value, kind)
        if isinstance(typed, ScenarioEntry):
            typed.check()
    except (msgspec.ValidationError, RuleError, TypeError, ValueError):
        return None
    return typed


# ---------------------------------------------------------------- one scenario


def audit_scenario(entry: ScenarioEntry, context: _Context, prices: Prices = Prices()) -> ScenarioAudit:
    """Every figure of one scenario recomputed from its `energy_inputs` (module docstring)."""
    out = ScenarioAudit(entry.name)
    windows = entry.energy_inputs or []
    if not windows:
        recorded = [name for name, value in (("energy_joules", entry.energy_joules),
                                             ("machine_energy_joules", entry.machine_energy_joules),
                                             ("repetitions[].energy_joules", any(r.energy_joules is not None
                                                                                 for r in entry.repetitions or ())),
                                             ("power_watts", bool(entry.power_watts))) if value]
        out.notes.append(f"{', '.join(recorded)} cannot be recomputed: the file records no energy_inputs (written "
                         "before issue 30, or by another tool)" if recorded else
                         "the file records no energy figure and no energy_inputs: nothing to recompute")
        _derive(out, entry.energy_joules, entry.cpu_core_seconds, prices)
        return out
    version = entry.energy_attribution_version
    if version is not None and version != formulas.ATTRIBUTION_VERSION:
        out.notes.append(f"made with attribution rule version {version}; this ffwatt applies version "
                         f"{formulas.ATTRIBUTION_VERSION}: not recomputed")
        return out
    per_encode = [_window(out, i, w, entry, context) for i, w in enumerate(windows)]
    out.windows = len(windows)
    reps = entry.repetitions or []
    if reps and len(reps) != len(windows):
        out.checks.append(Check("repetitions", float(len(reps)), float(len(windows)),
                                "one energy_inputs window per repetition"))
    why = entry.energy_error or "no reason given"
    for name in ("energy_joules", "machine_energy_joules", "cpu_core_seconds"):
        values = [p.get(name) for p in per_encode]
        if name == "cpu_core_seconds" and entry.encoder == "none":
            continue  # an idle baseline encodes nothing
        for i, rep in enumerate(reps[:len(values)]):
            _compare(out, f"repetitions[{i}].{name}", getattr(rep, name), values[i],
                     f"energy_inputs[{i}]: window figure / {windows[i].encodes or 1} encode(s)", why)
        _compare(out, name, getattr(entry, name), _mean(values), f"mean over {len(values)} window(s) of the figure "
                 f"per encode = ({' + '.join(_num(v) for v in values)}) / {len(values)}", why)
    if entry.encoder == "none":
        _baseline(out, entry, windows, context)
    _derive(out, _mean([p.get("energy_joules") for p in per_encode]),
            _mean([p.get("cpu_core_seconds") for p in per_encode]), prices)
    return out


def _compare(out: ScenarioAudit, where: str, recorded: float | None, recomputed: float | None, formula: str,
             why: str) -> None:
    """A check of one figure; a figure the file leaves out although its inputs give one (the repetitions
    measured energy differently, one of them is unknown) is a note: absent is the runner's "unknown"."""
    if recorded is None and recomputed is not None:
        out.notes.append(f"{where} is absent from the file although its inputs give {_num(recomputed)}: {why}")
    elif recorded is not None or recomputed is not None:
        out.checks.append(Check(where, recorded, recomputed, formula))


def _window(out: ScenarioAudit, i: int, w: EnergyInputs, entry: ScenarioEntry, context: _Context) -> dict[str, Any]:
    """One window's checks; its figures per single encode (own energy, machine energy, CPU seconds)."""
    at = f"energy_inputs[{i}]"
    encodes = int(w.encodes or 1)
    found: dict[str, Any] = {"cpu_core_seconds": formulas.per_encode(w.cpu_seconds, encodes)}
    if w.busy_share is not None:
        share = formulas.busy_share(w.machine_cpu_seconds, w.cpus_visible, w.window_s)
        out.checks.append(Check(f"{at}.busy_share", w.busy_share, share,
                                f"u = machine_cpu_s / (cpus x window_s) = {_num(w.machine_cpu_seconds)} / "
                                f"({w.cpus_visible} x {_num(w.window_s)})"))
    if w.machine_energy_joules is None:
        out.notes.append(f"{at}: the window's energy is unknown ({w.energy_source or 'no source'}): nothing to "
                         f"recompute; {entry.energy_error or 'no reason given'}")
        return found
    parts = [v for v in (w.cpu_energy_joules, w.gpu_energy_joules) if v is not None]
    out.checks.append(Check(f"{at}.machine_energy_joules", w.machine_energy_joules, sum(parts) if parts else None,
                            "E = E_cpu + E_gpu = " + " + ".join(_num(v) for v in parts)))
    _modelled(out, at, w, context)
    own = _own(out, at, w, context)
    found.update(energy_joules=formulas.per_encode(own, encodes),
                 machine_energy_joules=formulas.per_encode(w.machine_energy_joules, encodes))
    return found


def _modelled(out: ScenarioAudit, at: str, w: EnergyInputs, context: _Context) -> None:
    """A modelled CPU part, and a modelled idle term, against the model's formulas."""
    f_idle = context.idle_fraction
    if w.energy_source == "model" and w.model_watts_per_thread is not None and w.cpus_visible:
        out.checks.append(Check(
            f"{at}.cpu_energy_joules", w.cpu_energy_joules,
            formulas.cpu_thread_model_energy_joules(w.model_watts_per_thread, int(w.cpus_visible), w.window_s or 0.0,
                                                    w.machine_cpu_seconds, f_idle),
            f"E = W_thread x (f_idle x threads x window_s + (1 - f_idle) x busy_cpu_s) = "
            f"{_num(w.model_watts_per_thread)} x ({f_idle:g} x {w.cpus_visible} x {_num(w.window_s)} + "
            f"{1 - f_idle:g} x {_num(w.machine_cpu_seconds)})"))
    if w.idle_source == "model" and w.model_watts_per_thread is not None and w.cpus_visible:
        out.checks.append(Check(
            f"{at}.idle_watts", w.idle_watts,
            formulas.cpu_thread_model_power_watts(w.model_watts_per_thread, int(w.cpus_visible), 0.0, f_idle),
            f"P_idle = W_thread x f_idle x threads = {_num(w.model_watts_per_thread)} x {f_idle:g} x "
            f"{w.cpus_visible}"))
    elif w.idle_source in MEASURED_IDLE:
        accepted = [c.watts for c in (context.idle.checks if context.idle else None) or []
                    if c.accepted and c.origin == w.idle_source and formulas.agree(c.watts, w.idle_watts)]
        out.checks.append(Check(f"{at}.idle_watts", w.idle_watts, accepted[0] if accepted else None,
                                f"an idle {w.idle_source} the header's idle.checks accepted"))


def _own(out: ScenarioAudit, at: str, w: EnergyInputs, context: _Context) -> float | None:
    """The scenario's own energy over the window, by the rule the window records."""
    if w.attribution == "exclusive":
        return w.machine_energy_joules
    gpus = [(g.energy_joules, g.scenario_utilisation, g.all_utilisation) for g in w.gpus or ()]
    own = formulas.attributed_energy_joules(
        w.cpu_energy_joules, gpus, gpu_joules=w.gpu_energy_joules, idle_watts=w.idle_watts,
        window_seconds=w.window_s, scenario_cpu_seconds=w.cpu_seconds, machine_cpu_seconds=w.machine_cpu_seconds,
        cpus_visible=int(w.cpus_visible or 0))
    encodes = int(w.encodes or 1)
    out.worked.append((f"{at}: the scenario's own energy over the window = {_num(own)} J ({w.attribution}); "
                       f"per encode {_num(own)} / {encodes} = {_num(formulas.per_encode(own, encodes))} J",
                       _own_formula(w)))
    return own


def _own_formula(w: EnergyInputs) -> str:
    """The attribution of one window, worked with its numbers (`--explain`)."""
    lines = []
    if w.cpu_energy_joules is not None and w.idle_watts is not None and w.window_s:
        idle = min(w.idle_watts * w.window_s, w.cpu_energy_joules)
        share = min(1.0, (w.cpu_seconds or 0.0) / w.machine_cpu_seconds) if w.machine_cpu_seconds else None
        held = min(float(w.cpus_visible or 0), (w.cpu_seconds or 0.0) / w.window_s)
        lines += [f"E_idle   = min(P_idle x window_s, E_cpu) = min({_num(w.idle_watts)} x {_num(w.window_s)}, "
                  f"{_num(w.cpu_energy_joules)}) = {_num(idle)} J",
                  f"E_active = E_cpu - E_idle = {_num(w.cpu_energy_joules - idle)} J",
                  f"share    = min(1, cpu_s / machine_cpu_s) = min(1, {_num(w.cpu_seconds)} / "
                  f"{_num(w.machine_cpu_seconds)}) = {_num(share)}",
                  f"held     = min(cpus, cpu_s / window_s) = min({w.cpus_visible}, {_num(w.cpu_seconds)} / "
                  f"{_num(w.window_s)}) = {_num(held)}",
                  f"E_cpu_own = E_active x share + E_idle x held / cpus = {_num(w.cpu_energy_joules - idle)} x "
                  f"{_num(share)} + {_num(idle)} x {_num(held)} / {w.cpus_visible}"]
    for g in w.gpus or ():
        lines.append(f"GPU {g.uuid}: E_gpu x min(1, mine / all) = {_num(g.energy_joules)} x min(1, "
                     f"{_num(g.scenario_utilisation)} / {_num(g.all_utilisation)})")
    if not w.gpus and w.gpu_energy_joules is not None:
        lines.append(f"GPU part charged whole: {_num(w.gpu_energy_joules)} J")
    return "\n".join(lines)


def _baseline(out: ScenarioAudit, entry: ScenarioEntry, windows: Sequence[EnergyInputs], context: _Context) -> None:
    """An idle baseline's windows: accepted exactly when measured and under the header's threshold."""
    threshold = context.idle.threshold if context.idle and context.idle.threshold is not None else None
    for i, w in enumerate(windows):
        if w.idle_accepted is None or threshold is None:
            continue
        share = formulas.busy_share(w.machine_cpu_seconds, w.cpus_visible, w.window_s)
        idle = share is not None and share < threshold and w.energy_source not in ("model", "none", None) \
            and w.cpu_energy_joules is not None
        out.checks.append(Check(f"energy_inputs[{i}].idle_accepted", float(w.idle_accepted), float(idle),
                                f"busy share {_num(share)} < threshold {threshold:g}, energy measured"))


def _derive(out: ScenarioAudit, energy: float | None, cpu_seconds: float | None, prices: Prices) -> None:
    """Cost and carbon of the (recomputed) figures at `prices`."""
    energy_cost = formulas.energy_cost(energy, prices.energy_price)
    compute_cost = formulas.compute_cost(cpu_seconds, prices.core_hour_price)
    out.derived = {"energy_cost": energy_cost, "compute_cost": compute_cost,
                   "total_cost": formulas.total_cost(energy_cost, compute_cost),
                   "emissions_grams": formulas.emissions_grams(energy, prices.carbon_intensity, prices.pue)}


# ---------------------------------------------------------------- the header


def _audit_header(out: ScenarioAudit, context: _Context, sweeps: Sequence[Sweep | None],
                  scenarios: Sequence[ScenarioAudit]) -> None:
    """The header's idle checks and the sweeps' step energies (against their scenarios' recomputed ones)."""
    idle = context.idle
    for i, c in enumerate((idle.checks if idle else None) or []):
        at = f"idle.checks[{i}]"
        if c.watts is not None:
            out.checks.append(Check(f"{at}.watts", c.watts, formulas.mean_power_over(c.cpu_energy_joules, c.window_s),
                                    f"P = E_cpu / window_s = {_num(c.cpu_energy_joules)} / {_num(c.window_s)}"))
        share = formulas.busy_share(c.machine_cpu_seconds, c.cpus_visible, c.window_s)
        if c.busy_share is not None:
            out.checks.append(Check(f"{at}.busy_share", c.busy_share, share,
                                    f"u = {_num(c.machine_cpu_seconds)} / ({c.cpus_visible} x {_num(c.window_s)})"))
        if idle is not None and idle.threshold is not None:
            verdict = c.watts is not None and share is not None and share < idle.threshold
            out.checks.append(Check(f"{at}.accepted", float(c.accepted), float(verdict),
                                    f"busy share {_num(share)} < threshold {idle.threshold:g}, power measured"))
    energies = {s.name: c.recomputed for s in scenarios for c in s.checks if c.where == "energy_joules"}
    for k, sweep in enumerate(sweeps):
        for j, step in enumerate(sweep.steps if sweep is not None else ()):
            at = f"sweeps[{k}].steps[{j}].energy_joules"
            if step.scenario in energies:
                out.checks.append(Check(at, step.energy_joules, energies[step.scenario],
                                        f"the recomputed energy_joules of {step.scenario!r}"))
            elif step.energy_joules is not None:
                out.notes.append(f"{at} cannot be recomputed: the energy of its scenario {step.scenario!r} cannot")


def _mean(values: Sequence[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"
