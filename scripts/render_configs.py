"""The stack's configuration moved into the package (ffwatt/deploy/, so an installed ffwatt writes
it: `ffwatt dashboards --out DIR`); this name stays for scripts and tests that import it.
`python -m scripts.render_configs [--check]` is `python -m scripts.generate [--check]`."""

from __future__ import annotations

import sys

from ffwatt.deploy.alerts import DEFAULT_THRESHOLDS, AlertRule, alert_rules, render_alert_rules  # noqa: F401
from ffwatt.deploy.hosts import PER_HOST, Host, HostsError, Lab, ScrapeWeb, load_hosts, parse_hosts  # noqa: F401
from ffwatt.deploy.scrape import (  # noqa: F401
    lab_targets,
    render_scrape_config,
    render_targets,
    render_vmagent_config,
    third_party_ports,
)
from ffwatt.deploy.stack import (  # noqa: F401
    IMAGES,
    render_agent_compose,
    render_compose,
    render_dashboard_provider,
    render_datasources,
)
from ffwatt.deploy.templating import duration, yaml_quote  # noqa: F401
from scripts.generate import main

if __name__ == "__main__":
    sys.exit(main())
