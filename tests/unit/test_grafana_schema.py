"""Every generated dashboard is JSON Grafana's own typed model accepts, key for key.

Grafana's typed SDK (`grafana-foundation-sdk`, the release line of the Grafana that
docker-compose.yml pins, 11.2) decodes each dashboard with no error, and encoding the
decoded model gives back every key it was given: a key the typed model does not know
is dropped by that round trip, and the test names the dashboard, the panel and the key
path. A second test fails on a `null` or a grafanalib legacy key anywhere.

What the round trip cannot prove: values are not type-checked (the SDK assigns them as
given), and a few places are opaque to it (panel `links`, `transformations`,
fieldConfig override values, target fields of an unknown datasource type): keys inside
them pass whatever they are. Those are covered by the linter and the e2e test.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ffwatt.dashboards_src import build
from ffwatt.dashboards_src.dashboard import EDITABLE
from ffwatt.dashboards_src.normalise import (
    GRAFANA_VERSION,
    LEGACY_DASHBOARD_KEYS,
    LEGACY_PANEL_KEYS,
    LEGACY_TABLE_KEYS,
    LEGACY_VARIABLE_KEYS,
    ROW_KEYS,
)
from ffwatt.dashboards_src.queries import dashboards

try:
    import grafana_foundation_sdk  # noqa: F401
except ImportError:  # a missing test dependency skips, or fails under CI (as tests/servers.py does)
    if os.environ.get("CI"):
        raise
    pytest.skip("grafana-foundation-sdk (the test extra) is not installed", allow_module_level=True)
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402
from grafana_foundation_sdk.cog.plugins import register_default_plugins  # noqa: E402
from grafana_foundation_sdk.models.dashboard import Dashboard  # noqa: E402

register_default_plugins()

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {board["uid"]: board for board in dashboards()}

# Keys Grafana 11.2 reads that the SDK's 11.2 model lacks, each with the evidence.
# - xychart `options.mapping`: Grafana 11.1 replaced the XY chart's options (seriesMapping,
#   dims) with `mapping` and matcher-based `series` (public/app/plugins/panel/xychart/
#   migrations.ts migrates anything below pluginVersion 11.1); the SDK's 11.2 xychart
#   model is still the pre-11.1 schema.
SDK_GAPS = {("xychart", "options.mapping")}


def _raw_grafanalib(uid: str) -> dict:
    """What grafanalib writes before normalise(): the form the tests must reject."""
    from grafanalib._gen import DashboardEncoder

    spec = next(s for s in build.specs() if s.uid == uid)
    return json.loads(json.dumps(spec.build().to_json_data(), cls=DashboardEncoder))


def _lost(given, encoded, path: str) -> list[str]:
    """Key paths of `given` missing from `encoded` (recursively)."""
    if isinstance(given, dict):
        if not isinstance(encoded, dict):
            return [f"{path} (now {type(encoded).__name__})"]
        out = []
        for key, value in given.items():
            where = f"{path}.{key}" if path else key
            if key not in encoded:
                out.append(where)
            else:
                out += _lost(value, encoded[key], where)
        return out
    if isinstance(given, list):
        if not isinstance(encoded, list) or len(encoded) != len(given):
            return [f"{path} (a list of {len(given)} came back otherwise)"]
        return [p for i, (a, b) in enumerate(zip(given, encoded, strict=True)) for p in _lost(a, b, f"{path}[{i}]")]
    return []


def _panel_name(board: dict, path: str) -> str:
    match = re.match(r"panels\[(\d+)\](?:\.panels\[(\d+)\])?", path)
    if not match:
        return "dashboard"
    panel = board["panels"][int(match.group(1))]
    if match.group(2) is not None:
        panel = panel["panels"][int(match.group(2))]
    return f"panel {panel.get('title')!r} ({panel.get('type')})"


def schema_problems(board: dict) -> list[str]:
    """'<uid> / <panel> / <key path>: ...' for a decode error or each key the SDK drops."""
    uid = board.get("uid")
    try:
        model = Dashboard.from_json(board)
        encoded = json.loads(json.dumps(model, cls=JSONEncoder))
    except Exception as exc:  # the SDK raises whatever a bad value provokes
        return [f"{uid}: the typed model cannot decode it: {type(exc).__name__}: {exc}"]
    problems = []
    for path in _lost(board, encoded, ""):
        name = _panel_name(board, path)
        panel_type = name.rsplit("(", 1)[-1].rstrip(")") if name != "dashboard" else ""
        relative = re.sub(r"^panels\[\d+\](\.panels\[\d+\])?\.?", "", path)
        if (panel_type, relative) in SDK_GAPS:
            continue
        problems.append(f"{uid} / {name} / {path}: unknown to Grafana's typed model")
    return problems


def null_and_legacy_problems(board: dict) -> list[str]:
    """'<uid>: <path>: ...' for each null and each grafanalib legacy key, where it was."""
    uid = board.get("uid")
    problems = []

    def nulls(value, path):
        if value is None:
            problems.append(f"{uid}: {path}: null")
        elif isinstance(value, dict):
            for key, item in value.items():
                nulls(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                nulls(item, f"{path}[{i}]")

    def legacy(obj, keys, path):
        problems.extend(f"{uid}: {path}{key}: grafanalib legacy key" for key in keys if key in obj)

    nulls(board, "")
    legacy(board, LEGACY_DASHBOARD_KEYS, "")
    for i, variable in enumerate(board.get("templating", {}).get("list", [])):
        legacy(variable, LEGACY_VARIABLE_KEYS, f"templating.list[{i}] (${variable.get('name')}).")
    for i, panel in enumerate(board.get("panels", [])):
        where = f"panels[{i}] ({panel.get('type')} {panel.get('title')!r})."
        if panel.get("type") == "row":
            legacy(panel, sorted(set(panel) - set(ROW_KEYS)), where)
            continue
        legacy(panel, LEGACY_PANEL_KEYS, where)
        if panel.get("type") == "table":
            legacy(panel, LEGACY_TABLE_KEYS, where)
    return problems


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_dashboard_decodes_with_grafanas_typed_model_and_round_trips_every_key(uid):
    assert schema_problems(BOARDS[uid]) == []


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_dashboard_has_no_null_and_no_legacy_key(uid):
    assert null_and_legacy_problems(BOARDS[uid]) == []


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_the_checks_reject_grafanalibs_raw_output(uid):
    raw = _raw_grafanalib(uid)
    assert any("cannot decode" in p for p in schema_problems(raw)), "nulls make the typed model fail"
    nulls_stripped = json.loads(json.dumps(raw), object_hook=lambda d: {k: v for k, v in d.items() if v is not None})
    lost = schema_problems(nulls_stripped)
    assert any(p.endswith(".editable: unknown to Grafana's typed model") for p in lost), lost
    assert any(".hideControls" in p or "/ hideControls" in p for p in lost), lost
    problems = null_and_legacy_problems(raw)
    assert any(p.endswith(": null") for p in problems)
    assert any("sharedCrosshair: grafanalib legacy key" in p for p in problems)


def test_a_key_unknown_to_the_typed_model_is_named_with_its_dashboard_and_panel():
    board = json.loads(json.dumps(BOARDS["qoe-metrics"]))
    panel = next(p for p in board["panels"] if p["type"] == "bargauge")
    panel["fieldConfig"]["defaults"]["custom"] = {"displayMode": "lcd"}
    panel["bogus"] = 1
    problems = schema_problems(board)
    assert any(f"qoe-metrics / panel {panel['title']!r} (bargauge) /" in p and p.split(" / ")[-1].startswith(
        f"panels[{board['panels'].index(panel)}].bogus") for p in problems), problems


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_panel_names_the_grafana_version_it_is_written_for(uid):
    for panel in BOARDS[uid]["panels"]:
        if panel["type"] != "row":
            assert panel["pluginVersion"] == GRAFANA_VERSION, panel["title"]


def test_the_grafana_version_is_the_one_compose_pins_and_the_sdk_pin_follows_it():
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert f"grafana/grafana-oss:{GRAFANA_VERSION}" in compose
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pin = re.search(r'"grafana-foundation-sdk==(\d+)!([\d.]+)"', pyproject)
    assert pin and pin.group(2) == GRAFANA_VERSION


def test_editable_agrees_with_the_provider():
    provider = (ROOT / "provisioning/dashboards/provider.yml").read_text(encoding="utf-8")
    allow = re.search(r"allowUiUpdates:\s*(true|false)", provider).group(1) == "true"
    assert EDITABLE is allow
    assert all(board["editable"] is allow for board in BOARDS.values())


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_tables_use_cell_options_not_display_mode(uid):
    for panel in BOARDS[uid]["panels"]:
        if panel["type"] != "table":
            continue
        custom = panel["fieldConfig"]["defaults"].get("custom", {})
        assert "displayMode" not in custom and "cellOptions" in custom, panel["title"]
        for override in panel["fieldConfig"]["overrides"]:
            assert all(p["id"] != "custom.displayMode" for p in override["properties"]), panel["title"]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_units_render_without_a_double_space_and_states_are_not_percentages(uid):
    for panel in BOARDS[uid]["panels"]:
        if panel["type"] == "row":
            continue
        defaults = panel["fieldConfig"]["defaults"]
        units = [defaults.get("unit", "")] + [p["value"] for o in panel["fieldConfig"].get("overrides", [])
                                              for p in o["properties"] if p["id"] == "unit"]
        assert not [u for u in units if re.match(r"(suffix|prefix): ", u)], panel["title"]
        mapped = {key for m in defaults.get("mappings", []) if m.get("type") == "value" for key in m["options"]}
        if {"0", "1"} <= mapped:
            assert defaults["unit"] != "percentunit", panel["title"]
