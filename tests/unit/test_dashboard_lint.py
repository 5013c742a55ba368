"""The dashboard lint's rules on what panels show (ffwatt/dashboards_src/lint_rules.py): each passes
on the generated dashboards and fails on the fault the dashboards before issue 33 had (reproduced
here on a copy of today's JSON: "Publishing streams" as a percentage, bitrates in bytes/s, speed as
a percentage with another threshold, no headline, the rate-distortion chart without encoder
colours, $zone not honoured, energy without its source).

Also the unit algebra the lint derives units with (hand-checked), and the label emission and
catalog coverage the rules depend on (clip, preset, the GPU's source, every energy metric's
provenance)."""

from __future__ import annotations

import copy

import pytest

from ffwatt.catalog import METRICS
from ffwatt.dashboards_src import palette, units
from ffwatt.dashboards_src.lint import lint
from ffwatt.dashboards_src.lint_units import derive
from ffwatt.dashboards_src.provenance import NOT_ESTIMATES, PROVENANCE
from ffwatt.dashboards_src.queries import dashboards, expand, iter_panels

BOARDS = {board["uid"]: board for board in dashboards()}


def _copy(uid: str, title: str) -> tuple[dict, dict]:
    board = copy.deepcopy(BOARDS[uid])
    return board, next(p for p in iter_panels(board) if p.get("title") == title and p["type"] != "row")


def _problems(board: dict, title: str) -> list[str]:
    return [p for p in lint(board) if f" / {title} / " in p or p.startswith(f"{board['uid']}: ")]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_generated_dashboard_passes_every_rule(uid):
    assert lint(BOARDS[uid]) == []


# --- headline ------------------------------------------------------------------------------------


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_a_dashboard_opening_with_a_row_header_has_no_headline(uid):
    board = copy.deepcopy(BOARDS[uid])
    for panel in board["panels"]:  # as before: a row header first, every panel one line lower
        panel["gridPos"]["y"] += 1
    board["panels"].insert(0, {"type": "row", "id": 999, "title": "Row", "collapsed": False, "panels": [],
                               "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}})
    assert f"{uid}: no headline: the first question's panels belong at y=0, above the first row header" in lint(board)


# --- units ---------------------------------------------------------------------------------------


def test_a_count_of_publishing_streams_shown_as_a_percentage_fails():
    # sum(ffwatt_rtmp_stream_publishing) of 3 streams read "300 %"
    board, panel = _copy("live-encoding", "Publishing streams")
    panel["fieldConfig"]["defaults"]["unit"] = "percentunit"
    assert any("unit 'percentunit', but count is shown as 'none'" in p for p in _problems(board, panel["title"]))


@pytest.mark.parametrize("uid, title", [("live-encoding", "Total output bitrate"),
                                        ("live-encoding", "Ingest per stream"),
                                        ("containers", "Network receive and transmit")])
def test_a_byte_rate_shown_in_bytes_per_second_fails(uid, title):
    board, panel = _copy(uid, title)
    target = panel["targets"][0]
    assert " * 8" in target["expr"]
    target["expr"] = target["expr"].replace(" * 8", "")
    panel["fieldConfig"]["defaults"]["unit"] = "Bps"
    assert any("multiply by 8, bitrates are shown in bits/s" in p for p in _problems(board, title))


def test_speed_as_a_percentage_fails():
    board, panel = _copy("live-encoding", "Speed per stream")
    panel["fieldConfig"]["defaults"]["unit"] = "percentunit"
    assert any("unit 'percentunit', but factor is shown as 'suffix:x'" in p for p in _problems(board, panel["title"]))


@pytest.mark.parametrize("uid, title", [("live-encoding", "Speed per stream"),
                                        ("results-overview", "Lowest sustained speed")])
def test_a_speed_with_another_threshold_fails(uid, title):
    # 0.995x was red on one dashboard (threshold 1) and "held real time" on another (0.99)
    board, panel = _copy(uid, title)
    panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = 1
    assert any("a speed without the one speed threshold" in p for p in _problems(board, title))


def test_a_speed_column_without_the_threshold_fails():
    board, panel = _copy("results-overview", "Scenarios")
    overrides = panel["fieldConfig"]["overrides"]
    overrides[:] = [o for o in overrides if o["matcher"] != {"id": "byName", "options": "Speed"}]
    assert any("a speed without the one speed threshold" in p for p in _problems(board, "Scenarios"))


def test_a_count_of_streams_behind_real_time_is_a_count_not_a_speed():
    # sum(speed < bool 0.99): how many streams are behind; 0 is green, not "red below 0.99x"
    _, panel = _copy("live-encoding", "Streams behind real time")
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["unit"] == "none"
    assert [(s["color"], s.get("value")) for s in defaults["thresholds"]["steps"]] == [("green", None), ("red", 1)]


def test_every_speed_panel_uses_the_runners_threshold():
    from ffwatt.runner.measure.live_encode import REAL_TIME_SPEED

    assert units.REAL_TIME_SPEED == REAL_TIME_SPEED


# --- colours -------------------------------------------------------------------------------------


def test_series_per_encoder_without_the_palette_fail():
    board, panel = _copy("qoe-metrics", "Rate-distortion")
    panel["fieldConfig"]["overrides"] = [o for o in panel["fieldConfig"]["overrides"]
                                         if o["matcher"]["id"] != "byRegexp"]
    assert any("series per encoder without the palette's colours" in p for p in _problems(board, "Rate-distortion"))


def test_an_encoder_in_another_colour_fails():
    board, panel = _copy("cost-analysis", "What a viewer-hour costs")
    pattern = palette.encoder_pattern("libx264")
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"]["options"] == pattern:
            override["properties"][0]["value"]["fixedColor"] = "red"
    assert any("libx264 in 'red', not the palette's 'blue'" in p for p in _problems(board, panel["title"]))


def test_an_encoder_column_without_the_palette_fails():
    board, panel = _copy("cost-analysis", "Cost breakdown")
    panel["fieldConfig"]["overrides"] = [o for o in panel["fieldConfig"]["overrides"]
                                         if o["matcher"] != {"id": "byName", "options": "encoder"}]
    assert any("an encoder column not in the palette's colours" in p for p in _problems(board, panel["title"]))


def test_an_encoder_pattern_matches_its_encoder_as_a_word_only():
    import re

    x264 = re.compile(palette.encoder_pattern("libx264"))
    assert x264.search("libx264 · 2 streams") and x264.search("2 streams (libx264)")
    assert not x264.search("libx264rgb") and not x264.search("h264_nvenc")
    assert re.compile(palette.encoder_pattern("libaom-av1")).search("libaom-av1 medium")
    assert not re.compile(palette.encoder_pattern("av1_nvenc")).search("libaom-av1")


# --- variables -----------------------------------------------------------------------------------


def test_a_query_ignoring_a_filter_fails():
    board, panel = _copy("results-overview", "Encoder leaderboard")
    panel["targets"][1]["expr"] = panel["targets"][1]["expr"].replace('clip=~"$clip",', "")
    assert any("ffwatt_qoe_vmaf_score ignores $clip" in p for p in _problems(board, panel["title"]))


def test_the_host_total_ignoring_the_zone_filter_fails():
    # the CPU's packages + DRAM ignored $zone
    board, panel = _copy("host-power", "CPU power (packages + DRAM)")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace('zone=~"$zone",', "")
    assert any("ffwatt_cpu_energy_joules_total ignores $zone" in p for p in _problems(board, panel["title"]))


@pytest.mark.parametrize("uid", ["results-overview", "qoe-metrics", "cost-analysis"])
def test_a_benchmark_dashboard_without_clip_host_and_preset_filters_fails(uid):
    board = copy.deepcopy(BOARDS[uid])
    board["templating"]["list"] = [v for v in board["templating"]["list"]
                                   if v["name"] not in ("clip", "host", "preset")]
    problems = lint(board)
    for label in ("clip", "host", "preset"):
        assert f"{uid}: no ${label} filter for its scenarios" in problems


def test_an_unchained_filter_fails():
    board = copy.deepcopy(BOARDS["qoe-metrics"])
    encoder = next(v for v in board["templating"]["list"] if v["name"] == "encoder")
    encoder["query"] = "label_values(ffwatt_results_scenario_info, encoder)"
    assert "qoe-metrics: $encoder is not chained to the filters before it" in lint(board)


def test_filters_are_chained_in_order():
    names = [v["name"] for v in BOARDS["cost-analysis"]["templating"]["list"]]
    assert names[1:7] == ["host", "clip", "encoder", "preset", "resolution", "scenario"]
    scenario = BOARDS["cost-analysis"]["templating"]["list"][6]["query"]
    assert scenario == ('label_values(ffwatt_results_scenario_info{host=~"$host",clip=~"$clip",encoder=~"$encoder",'
                        'preset=~"$preset",resolution=~"$resolution"}, scenario)')


# --- provenance ----------------------------------------------------------------------------------


def test_energy_bars_without_their_source_fail():
    board, panel = _copy("qoe-metrics", "Quality per watt")
    panel["targets"][0]["legendFormat"] = "{{scenario}}"
    assert any("shows ffwatt_qoe_vmaf_per_watt without where it came from" in p
               for p in _problems(board, panel["title"]))


def test_host_watts_without_the_rapl_source_fail():
    board, panel = _copy("host-power", "CPU power per zone (from the joules counter)")
    panel["targets"][0]["legendFormat"] = "socket {{socket}} {{zone}} {{host}}"
    assert any("without where it came from (the source of ffwatt_cpu_rapl_source_info)" in p
               for p in _problems(board, panel["title"]))


def test_simulated_figures_not_marked_fail():
    board, panel = _copy("cost-analysis", "Emissions per scenario")
    panel["fieldConfig"]["overrides"] = [o for o in panel["fieldConfig"]["overrides"]
                                         if "simulated" not in str(o["matcher"]["options"])]
    assert any("simulated figures are not marked" in p for p in _problems(board, panel["title"]))


def test_a_source_column_with_simulated_in_green_fails():
    # "simulated" RAPL showed as green text
    board, panel = _copy("cost-analysis", "Energy source per scenario")
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"] == {"id": "byName", "options": "source"}:
            override["properties"][0]["value"][0]["options"]["simulated"]["color"] = "green"
    assert any("does not show simulated in the warning colour 'orange'" in p
               for p in _problems(board, panel["title"]))


def test_the_models_figures_not_called_estimated_fail():
    board, panel = _copy("cost-analysis", "Energy per scenario")
    for target in panel["targets"]:
        target["expr"] = target["expr"].replace(palette.ESTIMATED, "model")
    assert any("the model's figures are not called 'estimated (model)'" in p for p in _problems(board, panel["title"]))


def test_every_energy_metric_says_where_it_came_from():
    energy = {"joules", "watts", "currency", "grams", "score_per_watt", "pixels_per_joule"}
    for name, metric in METRICS.items():
        if metric.unit in energy:
            assert name in PROVENANCE or name in NOT_ESTIMATES, name
    for name, info in PROVENANCE.items():
        assert "source" in METRICS[info].labels, (name, info)


# --- the unit algebra ----------------------------------------------------------------------------


SC = '{scenario="a"}'
ON = "on (scenario, encoder, bitrate, resolution, host, preset, clip)"


@pytest.mark.parametrize("expr, quantity", [
    ("rate(ffwatt_cpu_energy_joules_total[5m])", "watts"),  # J/s = W
    ("increase(ffwatt_cpu_energy_joules_total[1h])", "joules"),
    ("sum(ffwatt_rtmp_stream_publishing)", "count"),  # 0/1 states summed: how many are 1
    ("sum(ffwatt_ffmpeg_stream_speed_ratio < bool 0.99)", "count"),
    ("ffwatt_ffmpeg_stream_bitrate_bytes_per_second * 8", "bits_per_second"),  # 8 bits a byte
    ("rate(ffwatt_docker_container_block_read_bytes_total[5m])", "storage_bytes_per_second"),
    ("rate(ffwatt_docker_container_cpu_seconds_total[5m])", "cores"),  # CPU s per s
    (f"ffwatt_cost_scenario_energy_joules{SC} / {ON} ffwatt_results_scenario_frames{SC}", "joules_per_frame"),
    (f"ffwatt_cost_scenario_energy_joules / {ON} (ffwatt_results_scenario_duration_seconds "
     "* ffwatt_results_scenario_streams)", "joules_per_video_second"),  # J / (s x streams)
    ("time() - ffwatt_results_file_timestamp_seconds", "seconds"),
    ("ffwatt_results_scenario_start_timestamp_seconds * 1000", "timestamp_ms"),
    ("ffwatt_docker_container_memory_working_set_bytes / ffwatt_docker_container_memory_limit_bytes", "ratio"),
    ("ffwatt_cost_scenario_cost_per_pixel", "currency_per_pixel"),
    ("min(ffwatt_ffmpeg_stream_speed_ratio)", "factor"),
])
def test_the_lint_derives_each_querys_quantity(expr, quantity):
    result = derive(expand(expr))
    assert (result.quantity, result.unit_error, result.problems) == (quantity, None, [])


def test_a_join_keeps_the_value_and_adds_the_label():
    result = derive(f"ffwatt_cost_scenario_energy_joules * {ON} group_left (source) "
                    "(ffwatt_cost_scenario_energy_source == 1)")
    assert result.quantity == "joules" and "source" in result.labels
    grouped = derive("group by (sweep, source) (ffwatt_cost_sweep_step_energy_joules * on (scenario) "
                     "group_left (source) (ffwatt_cost_scenario_energy_source == 1))")
    assert grouped.quantity == "one" and grouped.labels == {"sweep", "source"}


@pytest.mark.parametrize("expr, why", [
    ("ffwatt_cpu_power_watts + ffwatt_gpu_temperature_celsius", "no rule for watts + celsius"),
    ("ffwatt_cpu_power_watts * ffwatt_gpu_power_watts", "no rule for watts * watts"),
    ("ffwatt_results_scenario_frames / ffwatt_cpu_power_watts", "no rule for frames / watts"),
])
def test_a_combination_without_a_rule_has_no_quantity(expr, why):
    result = derive(expr)
    assert result.quantity is None and why in result.unit_error


def test_a_byte_rate_is_never_shown_as_it_is():
    with pytest.raises(units.UnitError, match="multiply by 8"):
        units.display_unit(derive("rate(ffwatt_rtmp_stream_received_bytes_total[1m])").quantity)


def test_one_grafana_unit_per_quantity_across_every_dashboard():
    # (quantity -> the units it is shown in) over every shown value of every panel
    seen: dict[str, set[str]] = {}
    for board in BOARDS.values():
        for panel in iter_panels(board):
            if panel["type"] in ("timeseries", "stat", "bargauge"):
                for target in panel["targets"]:
                    quantity = derive(expand(target["expr"])).quantity
                    seen.setdefault(quantity, set()).add(panel["fieldConfig"]["defaults"]["unit"])
    assert seen["bits_per_second"] == {"bps"} and seen["factor"] == {"suffix:x"}
    assert seen["count"] == {"none"}
