"""Render docs/metrics.md from the catalog: the reference table and the migration table."""

from __future__ import annotations

from ffwatt.catalog import EXPORTERS, METRICS


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> dict[str, str]:
    lines = [
        "# ffwatt metric reference",
        "",
        "Generated from `ffwatt/catalog/` by `make dashboards`; do not edit by hand.",
        "",
        "## Exporters",
        "",
        "| exporter | port | scrape interval | job | runs | what it reads |",
        "|---|---|---|---|---|---|",
    ]
    for e in EXPORTERS.values():
        runs = "on every lab host" if e.per_host else "once, centrally"
        lines.append(f"| {e.name} | {e.port} | {e.scrape_interval_seconds}s | {e.job} | {runs} | {_cell(e.description)} |")
    lines += [
        "",
        "## Metrics",
        "",
        "Every exporter also emits the `ffwatt_exporter_*` self-metrics (exporter \"all\").",
        "",
        "| name | type | unit | labels | exporter | help | replaces |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in sorted(METRICS.values(), key=lambda m: (m.exporter or "", m.name)):
        labels = ", ".join(f"`{label}`" for label in m.labels) or "-"
        lines.append(
            f"| `{m.name}` | {m.kind} | {m.unit} | {labels} | {m.exporter or 'all'} | {_cell(m.help)} "
            f"| {f'`{m.replaces}`' if m.replaces else '-'} |"
        )
    lines += [
        "",
        "## Migration from the older stack",
        "",
        "| old name | new name | note |",
        "|---|---|---|",
    ]
    for m in sorted((m for m in METRICS.values() if m.replaces), key=lambda m: m.replaces):
        note = "now a counter: use rate()/increase()" if m.kind == "counter" else ""
        if m.unit in ("ratio",) and m.replaces.endswith(("percent", "rate")):
            note = "now a 0-1 ratio, not a percentage"
        if m.replaces.endswith(("_ms", "_kbps")):
            note = "now in base units (seconds, bits per second)"
        lines.append(f"| `{m.replaces}` | `{m.name}` | {note} |")
    not_dashboarded = [m for m in METRICS.values() if not m.dashboarded]
    if not_dashboarded:
        lines += ["", "## Not on any dashboard, on purpose", ""]
        lines += [f"- `{m.name}`: {m.why_not_dashboarded}" for m in not_dashboarded]
    return {"docs/metrics.md": "\n".join(lines) + "\n"}
