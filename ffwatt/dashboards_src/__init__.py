"""Grafana dashboards as code, built with grafanalib from the metric catalog.

    dashboards_src.panels     query and panel helpers that take catalog Metric entries
    dashboards_src.dashboard  dashboard skeleton: variables, links, layout, JSON
    dashboards_src.<name>     one module per dashboard (its `dashboard()`)
    dashboards_src.build      render() for scripts.generate: the JSON and docs/dashboards.md
    dashboards_src.queries    iter_targets() / iter_variables() for tests against real TSDBs
    dashboards_src.lint       the checks a dashboard must pass (PromQL parsed against the catalog)

Imports catalog, never exporters.
"""
