"""The energy floor: where a machine's joules come from, and how a share of them is attributed.

One floor above the readers (it imports `readers`, `contract`, `common` and `catalog`), below the
runner and the exporters: the runner's meter (ffwatt/runner/meter) and a live per-stream collector
use the same sources and the same rule.

* `source`: the `EnergySource` protocols every source implements; `counters`: the arithmetic of
  joules counters (increase, resets, which series count);
* one module per source: `rapl_source` and `nvml_source` (read in process with the exporters'
  readers), `exporter_source` (an exporter's /metrics), `tsdb_source` (a TSDB's increase of the
  same counters) and `model_source` (the per-thread CPU power model, an estimate);
* `cpu_power_model`: the CPU model's TDP table and the watts per hardware thread;
* `reading`: what a meter measured over a window (`EnergyReading`, `GpuWindow`);
* `attribution`: a scenario's (or a stream's) own share of the machine's energy;
* `process_cpu_time`: per-process CPU time, the share's key.

The formulas themselves live in `contract.formulas` only; docs/energy.md has the rules.
"""
