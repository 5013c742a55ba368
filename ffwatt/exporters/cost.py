"""cost exporter (9504): energy, compute and total cost per scenario.

Energy comes from the scenario's power samples; a scenario without samples asks the
TSDB for the increase of the CPU and GPU joules counters over its window
("load-aware"), and says so in /health and ffwatt_cost_scenario_energy_source when it
cannot.

Every figure (cost, emissions, net energy) uses the scenario's own, attributed energy
(`energy_joules`); the whole machine's energy over its window (`machine_energy_joules`) is
served beside it with the rule that split it, and is absent, never 0, when the file does not
record it. The TSDB's joules counters are the machine's: a scenario whose energy came from
them is charged the whole machine (`whole-machine`).
"""

from __future__ import annotations

import time

from ffwatt.catalog import ENERGY_ATTRIBUTIONS, ENERGY_SOURCES
from ffwatt.catalog import metrics as m
from ffwatt.contract import formulas
from ffwatt.contract.model import ResultsRun, Scenario
from ffwatt.exporters.config import Setting, non_negative_float, positive_float
from ffwatt.exporters.results_source import RESULTS_SETTINGS, ResultsFileExporter, add_sweeps, scenario_labels
from ffwatt.exporters.samples import Samples
from ffwatt.readers.tsdb import TsdbError, host_selector, scenario_energy_joules


def _pue(text: str) -> float:
    value = float(text)
    if not 1.0 <= value < 10.0:
        raise ValueError(f"PUE must be from 1.0 (the machine alone) to below 10, got {text}")
    return value


class CostExporter(ResultsFileExporter):
    name = "cost"
    settings = RESULTS_SETTINGS + (
        Setting("energy-price", 0.30, "Energy price per kWh, in --currency.", non_negative_float),
        Setting("core-hour-price", 0.04, "Compute price per CPU core-hour, in --currency.", non_negative_float),
        Setting("currency", "EUR", "Currency label of every cost series (ISO 4217 code)."),
        Setting("carbon-intensity", formulas.DEFAULT_CARBON_INTENSITY,
                "Grid carbon intensity in gCO2e per kWh (default: the world average CodeCarbon falls back to; "
                "set your grid's).", non_negative_float),
        Setting("pue", 1.0, "Power usage effectiveness: facility energy per unit of machine energy "
                "(1.0 = the machine alone).", _pue),
        Setting("tsdb-url", "http://localhost:8428",
                "VictoriaMetrics/Prometheus URL for scenarios without power samples ('' disables)."),
        Setting("tsdb-selector", "", 'Extra label matchers for the joules counters, e.g. instance="lab1:9500".'),
        Setting("tsdb-timeout", 5.0, "Seconds to wait for the TSDB.", positive_float),
        Setting("tsdb-retry-interval", 30.0, "Seconds between retries of a failed TSDB energy query.",
                positive_float),
    )

    def __init__(self, config):
        super().__init__(config)
        if config.energy_price == 0:
            self.log.warning("energy price is 0: every energy cost will be 0 (set --energy-price)")
        self.tsdb_errors = 0
        # (file, scenario) -> joules, for windows that are over and fully recorded.
        self._tsdb_energy: dict[tuple[str, str], float] = {}
        self._tsdb_failed_at: dict[tuple[str, str], float] = {}
        self._tsdb_problem: str | None = None
        self._run_of_cache: str | None = None

    def always_rebuild(self) -> bool:
        # While some scenario still waits for the TSDB, rebuild so a retry can land.
        return bool(self._tsdb_failed_at)

    def publish(self, run: ResultsRun, out: Samples) -> None:
        cfg = self.config
        currency = cfg.currency
        if self._run_of_cache != str(run.path):
            self._tsdb_energy.clear()
            self._tsdb_failed_at.clear()
            self._run_of_cache = str(run.path)
        out.add(m.COST_ENERGY_PRICE, cfg.energy_price, currency=currency)
        out.add(m.COST_CORE_HOUR_PRICE, cfg.core_hour_price, currency=currency)
        out.add(m.COST_CARBON_INTENSITY, cfg.carbon_intensity)
        add_sweeps(out, run, m.COST_SWEEP_MARGINAL_ENERGY, lambda sweep: sweep.marginal_joules_per_stream,
                   m.COST_SWEEP_STEP_ENERGY, lambda step: step.energy_joules)
        out.add(m.COST_PUE, cfg.pue)

        baseline = run.baseline
        baseline_watts = baseline.mean_power_watts if baseline else None
        problems = []
        for s in run.scenarios:
            labels = scenario_labels(s)
            energy, source, problem = self._energy(run, s)
            if problem:
                problems.append(problem)
            for name in ENERGY_SOURCES:
                out.add(m.COST_ENERGY_SOURCE, 1 if name == source else 0, source=name, **labels)
            mean_watts = s.mean_power_watts
            if mean_watts is None:  # energy from the TSDB, over [start_time, end_time]
                mean_watts = formulas.mean_power_over(energy, s.measured_seconds)
            energy_cost = formulas.energy_cost(energy, cfg.energy_price)
            compute_cost = formulas.compute_cost(s.cpu_core_seconds, cfg.core_hour_price)
            total = formulas.total_cost(energy_cost, compute_cost)
            money = dict(labels, currency=currency)
            out.add(m.COST_ENERGY_JOULES, energy, **labels)
            machine, attribution = s.machine_energy_joules, s.energy_attribution
            if source == "tsdb" and s.energy_joules is None:  # the TSDB's counters are the whole machine's
                machine, attribution = energy, "whole-machine"
            out.add(m.COST_MACHINE_ENERGY_JOULES, machine, **labels)
            if attribution is not None:
                out.add(m.COST_ENERGY_ATTRIBUTION, 1, attribution=attribution_label(attribution), **labels)
            out.add(m.COST_MEAN_POWER, mean_watts, **labels)
            out.add(m.COST_CORE_SECONDS, s.cpu_core_seconds, **labels)
            if s is not baseline:
                out.add(m.COST_NET_POWER, formulas.net_power(mean_watts, baseline_watts), **labels)
                out.add(m.COST_NET_ENERGY_JOULES,
                        formulas.net_energy(energy, baseline_watts, s.measured_seconds), **labels)
            out.add(m.COST_ENERGY, energy_cost, **money)
            out.add(m.COST_COMPUTE, compute_cost, **money)
            out.add(m.COST_TOTAL, total, **money)
            out.add(m.COST_PER_PIXEL, formulas.cost_per_pixel(total, s.pixels_processed), **money)
            out.add(m.COST_PER_VIEWER_HOUR,
                    formulas.cost_per_viewer_hour(total, s.duration_seconds, s.viewer_count), **money)
            out.add(m.COST_ENERGY_CI95, s.energy_ci95, **labels)
            grams = formulas.emissions_grams(energy, cfg.carbon_intensity, cfg.pue)
            out.add(m.COST_EMISSIONS, grams, **labels)
            out.add(m.COST_EMISSIONS_PER_VIEWER_HOUR,
                    formulas.per_viewer_hour(grams, s.duration_seconds, s.viewer_count), **labels)
            out.add(m.COST_EMISSIONS_PER_STREAM_HOUR,
                    formulas.per_stream_hour(grams, s.duration_seconds, s.streams), **labels)
        out.add(m.COST_TSDB_ERRORS, self.tsdb_errors)
        self._tsdb_problem = None
        if problems:
            self._tsdb_problem = f"{len(problems)} scenario(s) without energy: {problems[0]}"
            out.warn(self._tsdb_problem)

    def _energy(self, run: ResultsRun, s: Scenario) -> tuple[float | None, str, str | None]:
        """(joules, source label, problem) for one scenario."""
        if s.energy_joules is not None:
            return s.energy_joules, s.energy_source or "samples", None
        if s.energy_source not in (None, "none"):
            # The file names a source but carries no figure: nothing to ask the TSDB about.
            return None, "unavailable", f"{s.name!r}: energy_source {s.energy_source!r} without energy"
        key = (str(run.path), s.name)
        if key in self._tsdb_energy:
            return self._tsdb_energy[key], "tsdb", None
        url = self.config.tsdb_url
        if not url:
            return None, "unavailable", f"{s.name!r} has no power samples and no --tsdb-url is set"
        if s.start_time is None or s.end_time is None or s.end_time <= s.start_time:
            return None, "unavailable", f"{s.name!r} has no power samples and no start/end time to ask the TSDB"
        now = time.time()
        failed_at = self._tsdb_failed_at.get(key)
        if failed_at is not None and now - failed_at < self.config.tsdb_retry_interval:
            return None, "unavailable", f"{s.name!r}: TSDB energy query failed; retrying"
        try:
            # on a fleet, only the host the scenario ran on (its vmagent's `host` label)
            selector = host_selector(s.host, self.config.tsdb_selector)
            joules = scenario_energy_joules(url, s.start_time, s.end_time, selector=selector,
                                            timeout=self.config.tsdb_timeout)
        except TsdbError as exc:
            self.tsdb_errors += 1
            self._tsdb_failed_at[key] = now
            return None, "unavailable", f"{s.name!r}: {exc}"
        self._tsdb_failed_at.pop(key, None)
        if s.end_time < now - 60:  # the window is over and scraped: the answer is final
            self._tsdb_energy[key] = joules
        return joules, "tsdb", None

    def health_details(self) -> dict:
        details = super().health_details()
        details.update(
            currency=self.config.currency,
            energy_price_per_kwh=self.config.energy_price,
            core_hour_price=self.config.core_hour_price,
            carbon_intensity_g_per_kwh=self.config.carbon_intensity,
            pue=self.config.pue,
            tsdb_url=self.config.tsdb_url or None,
            tsdb_errors=self.tsdb_errors,
            tsdb_problem=self._tsdb_problem,
        )
        return details


def attribution_label(rule: str) -> str:
    """A results file's `energy_attribution` as a bounded label value: each "+"-joined part one
    of the catalog's rules (`other` for any part ffwatt does not know)."""
    parts = [part.strip() for part in rule.split("+")]
    if not all(part in ENERGY_ATTRIBUTIONS for part in parts) or len(set(parts)) != len(parts):
        return "other"
    return "+".join(parts)
