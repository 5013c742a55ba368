"""`ffwatt audit RESULTS.json [--explain NAME]`: every energy figure recomputed from the file's own inputs
(`contract.audit`), printed with its inputs; exit 0 when every figure agrees within 1e-6 relative, 1
naming each scenario that does not (a hand-edited figure, a file from a buggy version), 2 when the
file cannot be read (the CLI prints the loader's `ResultsError`).

A figure that cannot be recomputed (a file written before issue 30 records no inputs; a window whose
energy is unknown) is said, with why, and does not fail the audit by itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ffwatt.common.errors import FfwattError
from ffwatt.common.settings import non_negative_float, option
from ffwatt.contract import formulas
from ffwatt.contract.audit import Audit, Check, Prices, ScenarioAudit, audit_file

__all__ = ["AuditOptions", "print_audit", "run"]


def _pue(text: str) -> float:
    value = float(text)
    if not 1.0 <= value < 10.0:
        raise ValueError(f"PUE must be from 1.0 (the machine alone) to below 10, got {text}")
    return value


@dataclass(frozen=True)
class AuditOptions:
    """`ffwatt audit RESULTS.json`."""

    results: Path = option(help="the results file to audit", type=Path, positional=True)
    explain: str | None = option(None, "Show the worked formula of every figure of the scenario called NAME.",
                                 env=False, metavar="NAME")
    energy_price: float = option(formulas.DEFAULT_ENERGY_PRICE_PER_KWH, "Energy price per kWh, in --currency "
                                 "(for the cost shown beside each energy).", non_negative_float)
    core_hour_price: float = option(formulas.DEFAULT_CORE_HOUR_PRICE, "Compute price per CPU core-hour.",
                                    non_negative_float)
    carbon_intensity: float = option(formulas.DEFAULT_CARBON_INTENSITY, "Grid carbon intensity, gCO2e per kWh.",
                                     non_negative_float)
    pue: float = option(1.0, "Power usage effectiveness (1.0: the machine alone).", _pue)
    currency: str = option("EUR", "Currency label of the costs.")


def run(opts: AuditOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    audit = audit_file(opts.results, Prices(opts.energy_price, opts.core_hour_price, opts.carbon_intensity, opts.pue,
                                            opts.currency))
    if opts.explain is not None:
        found = [s for s in audit.scenarios if s.name == opts.explain]
        if not found:
            raise FfwattError(f"{opts.results}: no scenario named {opts.explain!r} (it has: "
                              f"{', '.join(repr(s.name) for s in audit.scenarios) or 'none'})")
        explain(found[0], audit, out)
        return 0 if found[0].agrees else 1
    print_audit(audit, out)
    return 0 if not audit.disagreeing else 1


def print_audit(audit: Audit, out: TextIO) -> None:
    """Each scenario's figure with its inputs, what disagrees, and what cannot be recomputed."""
    checks = sum(len(s.checks) for s in [*audit.scenarios, audit.header])
    print(f"{audit.path.name}: {len(audit.scenarios)} scenario(s), {checks} figure(s) recomputed from the file's "
          "inputs (agreement: 1e-6 relative)", file=out)
    for s in [*audit.scenarios, audit.header]:
        if s is audit.header and not s.checks and not s.notes:
            continue
        status = "DIFFERS" if not s.agrees else "ok" if s.checks else "unchecked"
        print(f"{status:9} {s.name}: {_headline(s, audit.prices)}", file=out)
        for check in s.checks:
            if not check.agrees:
                print(f"{'':9}   {_disagreement(check)}", file=out)
        for note in s.notes:
            print(f"{'':9}   note: {note}", file=out)
    bad = audit.disagreeing
    unchecked = [s.name for s in audit.scenarios if not s.checks]
    print(f"{len(bad)} scenario(s) disagree: {', '.join(bad)}" if bad else "every recomputed figure agrees", file=out)
    if unchecked:
        print(f"{len(unchecked)} scenario(s) could not be recomputed (see their notes): {', '.join(unchecked)}",
              file=out)


def explain(s: ScenarioAudit, audit: Audit, out: TextIO) -> None:
    """Every figure of one scenario as a worked formula with its numbers."""
    print(f"{s.name} ({audit.path.name})", file=out)
    for what, formula in s.worked:
        print(f"  {what}", file=out)
        for line in formula.splitlines():
            print(f"    {line}", file=out)
    for check in s.checks:
        verdict = "agrees" if check.agrees else "DIFFERS"
        print(f"  {check.where} = {_num(check.recomputed)} (file: {_num(check.recorded)}): {verdict}", file=out)
        print(f"    {check.formula}", file=out)
    for note in s.notes:
        print(f"  note: {note}", file=out)
    print(f"  {_costs(s, audit.prices)}", file=out)


def _headline(s: ScenarioAudit, prices: Prices) -> str:
    energy = next((c for c in s.checks if c.where == "energy_joules"), None)
    if energy is None:
        return f"{len(s.checks)} figure(s) checked" if s.checks else "nothing recomputed"
    return (f"energy_joules {_num(energy.recomputed)} J from {s.windows} window(s), "
            f"{len(s.checks)} figure(s) checked; {_costs(s, prices)}")


def _costs(s: ScenarioAudit, prices: Prices) -> str:
    d = s.derived
    return (f"cost {_num(d.get('energy_cost'))} {prices.currency} energy + {_num(d.get('compute_cost'))} "
            f"{prices.currency} compute = {_num(d.get('total_cost'))} {prices.currency}, "
            f"{_num(d.get('emissions_grams'))} g CO2e (at {prices.energy_price:g}/kWh, {prices.core_hour_price:g}/"
            f"core-hour, {prices.carbon_intensity:g} g/kWh, PUE {prices.pue:g})")


def _disagreement(check: Check) -> str:
    if check.recorded is not None and check.recomputed:
        change = f" ({(check.recorded - check.recomputed) / check.recomputed:+.3%})"
    else:
        change = ""
    return (f"{check.where}: the file has {_num(check.recorded)}, its inputs give {_num(check.recomputed)}{change}"
            f" [{check.formula.splitlines()[0]}]")


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"
