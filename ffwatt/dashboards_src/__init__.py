"""Grafana dashboards as code, built with grafanalib from the metric catalog.

    dashboards_src.promql      PromQL from catalog Metric entries (Q carries metrics, labels, quantity)
    dashboards_src.units       one unit per quantity: the rules the builder and the lint share
    dashboards_src.palette     one colour per encoder and per energy source
    dashboards_src.provenance  where each energy figure came from, joined onto it as `source`
    dashboards_src.panels      panels (and tables, xychart) with the conventions applied
    dashboards_src.dashboard   dashboard skeleton: headline, rows, chained variables, links, JSON
    dashboards_src.scenario    what the benchmark dashboards share: filters, leaderboard, drill-down
    dashboards_src.<name>      one module per dashboard (its `dashboard()`)
    dashboards_src.build       render() for scripts.generate: the JSON and docs/dashboards.md
    dashboards_src.queries     iter_targets() / iter_variables() for tests against real TSDBs
    dashboards_src.lint        the checks a dashboard must pass (lint_ast, lint_units, lint_rules)

Imports catalog (and readers.powercap's zone rule), never exporters.
"""
