"""The provisioning tree, rendered and written: `ffwatt dashboards --out DIR` (from an installed
package) and `make dashboards` (the repository's committed copies) are this one code.

    DIR/provisioning/dashboards/*.json, provider.yml     Grafana dashboards and their provider
    DIR/provisioning/datasources/datasources.yml         VictoriaMetrics (and Prometheus) datasources
    DIR/victoriametrics/scrape.yml, prometheus.yml       scrape configs (file_sd lists in targets/)
    DIR/victoriametrics/alerts.yml                       vmalert rules
    DIR/victoriametrics/health-targets.yml               the health checker's targets
    DIR/victoriametrics/vmagent/*.yml                    a lab host's vmagent
    DIR/victoriametrics/hosts.yml                        the lab's hosts: the input, edit and rerun

`DIR/victoriametrics/hosts.yml` is read when it exists and started from the bundled default
(the compose stack's own services) when it does not. The repository also gets the compose files
(they build images from a checkout) and the generated docs. A file is written only when its text
changed; `check` writes nothing and lists the files that differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ffwatt.common.settings import REQUIRED, boolean, option
from ffwatt.deploy.alerts import render_alert_rules
from ffwatt.deploy.hosts import DEFAULT_HOSTS_FILE, load_hosts
from ffwatt.deploy.scrape import VM_DIR, VMAGENT_DIR, render_scrape_config, render_targets, render_vmagent_config
from ffwatt.deploy.stack import (
    REPO_ONLY,
    render_agent_compose,
    render_compose,
    render_dashboard_provider,
    render_datasources,
)

__all__ = ["HOSTS", "DashboardsOptions", "render_repository", "render_tree", "write_tree"]

HOSTS = f"{VM_DIR}/hosts.yml"


@dataclass(frozen=True)
class DashboardsOptions:
    """`ffwatt dashboards --out DIR`."""

    out: Path = option(REQUIRED, "Directory to write the provisioning tree into (created; files whose text "
                       "is unchanged are left alone).", Path, metavar="DIR", env=False)
    check: bool = option(False, "Write nothing: list the files of the tree that are missing or differ in "
                         "--out, and exit 1 if any.", boolean, switch=True, env=False)


def render_tree(out: Path) -> dict[str, str]:
    """{path relative to `out`: text} of the deployment tree, from `out`'s hosts.yml (else the default)."""
    hosts_file = out / HOSTS if (out / HOSTS).is_file() else DEFAULT_HOSTS_FILE
    files = {path: text for path, text in _configs(hosts_file).items() if path not in REPO_ONLY}
    files.update(_dashboards(docs=False))
    return files


def render_repository(root: Path) -> dict[str, str]:
    """What `make dashboards` writes into a checkout: the tree, the compose files and the docs."""
    from ffwatt.catalog import docs

    files = _configs(root / HOSTS)
    files.update(_dashboards(docs=True))
    for path, text in docs.render().items():
        if path in files:
            raise ValueError(f"two generators write {path}")
        files[path] = text
    return files


def write_tree(files: dict[str, str], out: Path, *, check: bool = False) -> list[str]:
    """Write the files that differ (`check`: none); the paths that differed, sorted."""
    differ = []
    for path, text in sorted(files.items()):
        target = out / path
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        differ.append(path)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)  # a reader (Grafana, vmalert) never sees half a file
    return differ


def _configs(hosts_file: Path) -> dict[str, str]:
    lab = load_hosts(hosts_file)
    files = {
        HOSTS: hosts_file.read_text(encoding="utf-8"),
        f"{VM_DIR}/scrape.yml": render_scrape_config(web=lab.web),
        f"{VM_DIR}/prometheus.yml": render_scrape_config(flavor="prometheus", web=lab.web),
        f"{VM_DIR}/alerts.yml": render_alert_rules(),
        "provisioning/datasources/datasources.yml": render_datasources(),
        "provisioning/dashboards/provider.yml": render_dashboard_provider(),
        "docker-compose.yml": render_compose(),
        "docker-compose.agent.yml": render_agent_compose(),
        f"{VMAGENT_DIR}/scrape.yml": render_vmagent_config(),
        f"{VMAGENT_DIR}/scrape-nvidia.yml": render_vmagent_config(gpu=True),
    }
    files.update(render_targets(lab))
    return files


def _dashboards(*, docs: bool) -> dict[str, str]:
    """The dashboards' JSON (and, with `docs`, their walkthrough under docs/)."""
    from ffwatt.dashboards_src import build

    return {path: text for path, text in build.render().items() if docs or not path.startswith("docs/")}
