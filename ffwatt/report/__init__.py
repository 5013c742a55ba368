"""`ffwatt report`: a benchmark report from results files (HTML, PNG/SVG charts, CSV, Markdown).

    ffwatt report RESULTS.json [MORE.json ...] --out DIR [--baseline-run OLD.json] [--tsdb-url URL]

Contract:

* Input: results files only (`contract.loading`); the TSDB is optional (power
  traces, and energy for scenarios that have none). Every figure comes from
  `contract.formulas`; unknown is shown as unknown, never 0; modelled or simulated
  energy is never labelled as measured.
* Output: `OUT/report.html` (self-contained: charts embedded, no script, no network),
  each chart as PNG and SVG, `OUT/scenarios.csv`, `OUT/bd.csv`, `OUT/operating_points.csv`,
  `OUT/summary.md`; every file written through `report.files` (exclusive temporary files).
* Every figure is a function of the *set* of scenarios, never of their order in a file: the
  default anchor is the scenario file's first encoder, recorded in the results header.
* Dependencies: matplotlib, numpy/scipy and `bjontegaard` live in the optional extra
  `ffwatt[report]` and are imported only by `report.charts`, `report.energy_charts`,
  `report.bd` and `report.operating` (lazily); the exporters never import this package (a
  unit test checks it).

Layout: `data` (rows of figures, stdlib), `curve` (points, curves, figures), `bd` (BD-rate and
BD-energy of two curves), `hull` (convex hulls over sizes), `corpus` (which curves compare, the
anchor, averages over clips and classes), `operating` (what a target quality costs),
`provenance` (measured, estimated, simulated; the model in words), `compare` (two runs, Welch),
`charts`/`energy_charts` (matplotlib), `model` (`Report`), `cells`/`render` (CSV, Markdown),
`page_parts`/`page` (HTML), `files` (safe writes), `build` (`make_report`), `cli` (the flags).
"""
