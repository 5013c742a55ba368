"""Everything a Grafana + VictoriaMetrics deployment of ffwatt needs, generated from the catalog:
dashboards, datasources, scrape configs, alert rules, target lists, the compose files.

`ffwatt dashboards --out DIR` writes the tree from an installed package (`deploy.tree`); `make
dashboards` (`python -m scripts.generate`) writes the repository's committed copies with the same
code, and a test fails when a copy is stale. The jinja2 templates and the default hosts.yml are
package data. Modules: `hosts` (the lab's hosts.yml), `scrape` (scrape configs and targets),
`alerts` (vmalert rules), `stack` (Grafana provisioning, compose), `templating`, `tree`.
"""
