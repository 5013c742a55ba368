"""`ffwatt report`: a benchmark report from results files (HTML, PNG/SVG charts, CSV, Markdown).

    ffwatt report RESULTS.json [MORE.json ...] --out DIR [--baseline-run OLD.json] [--tsdb-url URL]

Contract:

* Input: results files only (`contract.loading`); the TSDB is optional (power
  traces, and energy for scenarios that have none). Every figure comes from
  `contract.formulas`; unknown is shown as unknown, never 0; modelled or simulated
  energy is never labelled as measured.
* Output: `OUT/report.html` (self-contained: charts embedded, no script, no network),
  each chart as PNG and SVG, `OUT/scenarios.csv`, `OUT/summary.md`.
* Dependencies: matplotlib, numpy/scipy and `bjontegaard` live in the optional extra
  `ffwatt[report]` and are imported only by `report.charts` and `report.bd` (lazily);
  the exporters never import this package (a unit test checks it).

Layout: `data` (rows of figures, stdlib), `bd` (BD-rate and BD-energy), `compare`
(two runs, Welch), `tsdb` (power traces), `charts` (matplotlib), `model` (`Report`, what
`build` fills and `render` reads), `render` (HTML/CSV/MD), `build` (`make_report`), `cli`
(the subcommand's flags).
"""
