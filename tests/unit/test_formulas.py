"""contract.formulas against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ffwatt.contract import formulas
from ffwatt.contract.formulas import (
    Rendition,
    compute_cost,
    core_seconds,
    cost_per_pixel,
    cost_per_viewer_hour,
    drop_ratio,
    energy_cost,
    mean_power,
    net_energy,
    net_power,
    parse_bitrate,
    parse_resolution,
    pixels_processed,
    qoe_efficiency,
    quality_per_watt,
    stream_count,
    total_cost,
    trapezoid_energy_joules,
)

# ---------------------------------------------------------------- energy


def test_trapezoid_three_samples():
    # 5 s x (100/2 + 200 + 300/2) = 5 x 400 = 2000 J
    assert trapezoid_energy_joules([100, 200, 300], 5.0) == pytest.approx(2000.0)


def test_trapezoid_two_samples_is_one_interval():
    # 2 s x (10/2 + 20/2) = 2 x 15 = 30 J
    assert trapezoid_energy_joules([10.0, 20.0], 2.0) == pytest.approx(30.0)


def test_trapezoid_is_not_a_plain_sum():
    # a plain sum x step would give 5 x 600 = 3000; the trapezoid gives 2000
    assert trapezoid_energy_joules([100, 200, 300], 5.0) != pytest.approx(3000.0)


def test_trapezoid_constant_power_over_the_scenario():
    # 61 samples every 5 s span 300 s; 100 W x 300 s = 30000 J
    assert trapezoid_energy_joules([100.0] * 61, 5.0) == pytest.approx(30000.0)


def test_trapezoid_uses_the_real_step():
    # same samples, step 2.5 s instead of 5 s: half the energy (1000 J)
    assert trapezoid_energy_joules([100, 200, 300], 2.5) == pytest.approx(1000.0)


@pytest.mark.parametrize("samples", [[], [150.0]])
def test_trapezoid_fewer_than_two_samples_is_unknown(samples):
    assert trapezoid_energy_joules(samples, 5.0) is None


@pytest.mark.parametrize("step", [0, -5.0, math.nan, math.inf, True, "5"])
def test_trapezoid_rejects_bad_steps(step):
    with pytest.raises(ValueError, match="step_seconds"):
        trapezoid_energy_joules([1.0, 2.0], step)


def test_trapezoid_rejects_non_finite_samples():
    with pytest.raises(ValueError):
        trapezoid_energy_joules([1.0, math.nan, 2.0], 1.0)
    with pytest.raises(ValueError):
        trapezoid_energy_joules([1e308, 1e308, 1e308], 1.0)  # overflows


def test_core_seconds():
    # 10 s x (2/2 + 4 + 6 + 4/2) = 10 x 13 = 130 core-seconds
    assert core_seconds([2.0, 4.0, 6.0, 4.0], 10.0) == pytest.approx(130.0)
    assert core_seconds([3.0], 10.0) is None
    assert core_seconds([], 10.0) is None


def test_mean_power_is_time_weighted():
    # (0/2 + 100 + 100/2) / 2 = 75 W (a plain mean would be 66.7 W)
    assert mean_power([0.0, 100.0, 100.0]) == pytest.approx(75.0)


def test_mean_power_edge_cases():
    assert mean_power([]) is None
    assert mean_power([42.5]) == 42.5
    # (100/2 + 200 + 300/2) / 2 = 200
    assert mean_power([100, 200, 300]) == pytest.approx(200.0)


@given(
    st.lists(st.floats(min_value=0, max_value=1e4), min_size=2, max_size=80),
    st.floats(min_value=0.01, max_value=60),
)
def test_mean_power_times_span_is_the_energy(samples, step):
    span = (len(samples) - 1) * step
    assert mean_power(samples) * span == pytest.approx(trapezoid_energy_joules(samples, step), rel=1e-9, abs=1e-6)


@given(st.floats(min_value=0, max_value=1e4), st.integers(min_value=2, max_value=500), st.floats(0.01, 60))
def test_constant_power_integrates_to_power_times_span(watts, count, step):
    assert trapezoid_energy_joules([watts] * count, step) == pytest.approx(watts * (count - 1) * step, rel=1e-9)


# ---------------------------------------------------------------- cost


def test_energy_cost():
    # 3.6e6 J = 1 kWh; x 0.25/kWh = 0.25
    assert energy_cost(3.6e6, 0.25) == pytest.approx(0.25)
    # 30000 J = 0.0083333 kWh; x 0.20 = 0.0016667
    assert energy_cost(30000.0, 0.20) == pytest.approx(0.0016666667)
    assert energy_cost(0.0, 0.25) == 0.0
    assert energy_cost(None, 0.25) is None


def test_compute_cost():
    # 7200 core-s = 2 core-hours; x 0.05 = 0.10
    assert compute_cost(7200.0, 0.05) == pytest.approx(0.10)
    # 930.775 core-s / 3600 x 0.04 = 0.010342
    assert compute_cost(930.775, 0.04) == pytest.approx(0.0103419444)
    assert compute_cost(None, 0.05) is None


@pytest.mark.parametrize("price", [-0.1, math.nan, math.inf, None, True])
def test_prices_must_be_valid(price):
    with pytest.raises(ValueError):
        energy_cost(1.0, price)
    with pytest.raises(ValueError):
        compute_cost(1.0, price)


def test_total_cost():
    # 0.25 + 0.10 = 0.35
    assert total_cost(0.25, 0.10) == pytest.approx(0.35)
    assert total_cost(None, 0.10) is None
    assert total_cost(0.25, None) is None


def test_cost_per_pixel():
    # 1.0 / 4 = 0.25
    assert cost_per_pixel(1.0, 4) == pytest.approx(0.25)
    # 0.35 / 16_588_800_000 = 2.1098e-11
    assert cost_per_pixel(0.35, 16_588_800_000) == pytest.approx(2.10985725e-11)
    assert cost_per_pixel(1.0, 0) is None  # idle baseline: no pixels
    assert cost_per_pixel(None, 4) is None
    assert cost_per_pixel(1.0, None) is None


def test_cost_per_viewer_hour():
    # 0.5 / (1800 s / 3600 x 10 viewers) = 0.5 / 5 = 0.1
    assert cost_per_viewer_hour(0.5, 1800.0, 10) == pytest.approx(0.1)
    # 0.36 / (300/3600 x 40) = 0.36 / 3.3333 = 0.108
    assert cost_per_viewer_hour(0.36, 300.0, 40) == pytest.approx(0.108)
    assert cost_per_viewer_hour(0.5, 0.0, 10) is None
    assert cost_per_viewer_hour(0.5, 1800.0, 0) is None
    assert cost_per_viewer_hour(None, 1800.0, 10) is None


# ---------------------------------------------------------------- pixels


def test_pixels_single_output_from_fps_and_duration():
    # 1280 x 720 = 921_600 px; x 30 fps x 300 s = 8_294_400_000; x 2 streams
    assert pixels_processed([Rendition(1280, 720, 30.0)], 300.0, 2) == 16_588_800_000


def test_pixels_single_output_prefers_measured_frames():
    # measured 17_964 frames over both streams: 921_600 x 17_964 = 16_555_622_400
    assert pixels_processed([Rendition(1280, 720, 30.0)], 300.0, 2, 17_964) == 16_555_622_400


def test_pixels_measured_frames_without_fps():
    # no fps known, but frames were measured: 854 x 480 x 8994 = 3_686_820_480
    assert pixels_processed([Rendition(854, 480)], 300.0, 1, 8994) == 3_686_820_480


def test_pixels_zero_frames():
    assert pixels_processed([Rendition(1280, 720, 30.0)], 300.0, 2, 0) == 0
    assert pixels_processed([Rendition(1280, 720, 30.0)], 0.0, 2) == 0


def test_pixels_over_an_output_ladder():
    # (1920x1080 + 1280x720 + 854x480) = 2_073_600 + 921_600 + 409_920 = 3_405_120 px/frame
    # x 30 fps x 300 s = 30_646_080_000 per stream; x 4 streams = 122_584_320_000
    ladder = [Rendition(1920, 1080, 30.0), Rendition(1280, 720, 30.0), Rendition(854, 480, 30.0)]
    assert pixels_processed(ladder, 300.0, 4) == 122_584_320_000
    # measured frames count input frames: ignored for a ladder
    assert pixels_processed(ladder, 300.0, 4, 35_892) == 122_584_320_000


def test_pixels_ladder_with_mixed_frame_rates():
    # 1280x720@60 + 640x360@30 over 10 s, 1 stream:
    # 921_600 x 600 + 230_400 x 300 = 552_960_000 + 69_120_000 = 622_080_000
    ladder = [Rendition(1280, 720, 60.0), Rendition(640, 360, 30.0)]
    assert pixels_processed(ladder, 10.0, 1) == 622_080_000


def test_pixels_unknown():
    assert pixels_processed([], 300.0, 1) is None
    assert pixels_processed([Rendition(1280, 720, None)], 300.0, 1) is None
    assert pixels_processed([Rendition(1280, 720, 30.0), Rendition(640, 360, None)], 300.0, 1) is None


def test_pixels_rounds_fractional_frame_rates():
    # 1 x 1 x 29.97 x 10 = 299.7 -> 300
    assert pixels_processed([Rendition(1, 1, 29.97)], 10.0, 1) == 300


def test_pixels_rejects_bad_arguments():
    with pytest.raises(ValueError):
        pixels_processed([Rendition(1, 1, 30.0)], -1.0, 1)
    with pytest.raises(ValueError):
        pixels_processed([Rendition(1, 1, 30.0)], 1.0, -1)
    with pytest.raises(ValueError):
        pixels_processed([Rendition(1, 1, 1e300)], 1e300, 1)  # overflows to infinity


# ---------------------------------------------------------------- quality


def test_quality_per_watt():
    # 90 VMAF / 45 W = 2.0 VMAF/W
    assert quality_per_watt(90.0, 45.0) == pytest.approx(2.0)
    assert quality_per_watt(None, 45.0) is None
    assert quality_per_watt(90.0, None) is None
    assert quality_per_watt(90.0, 0.0) is None


def test_qoe_efficiency():
    # 1000 px x 80/100 / 400 J = 2.0 px/J
    assert qoe_efficiency(1000, 80.0, 400.0) == pytest.approx(2.0)
    # 16_555_622_400 x 0.934 = 15_462_951_321.6; / 33_021 J = 468_276.29 px/J
    assert qoe_efficiency(16_555_622_400, 93.4, 33_021.0) == pytest.approx(468_276.29, rel=1e-6)
    assert qoe_efficiency(1000, 80.0, 0.0) is None
    assert qoe_efficiency(1000, 80.0, None) is None
    assert qoe_efficiency(None, 80.0, 400.0) is None
    assert qoe_efficiency(1000, None, 400.0) is None


def test_drop_ratio():
    # 3 / 12 = 0.25
    assert drop_ratio(3, 12) == pytest.approx(0.25)
    # 6 / 17_964 = 0.000334001
    assert drop_ratio(6, 17_964) == pytest.approx(0.000334001336)
    assert drop_ratio(0, 0) is None  # zero frames
    assert drop_ratio(None, 10) is None
    assert drop_ratio(1, None) is None


# ---------------------------------------------------------------- net


def test_net_power():
    # 110 W - 45 W idle = 65 W
    assert net_power(110.0, 45.0) == pytest.approx(65.0)
    # below the baseline: negative, not clamped to 0
    assert net_power(40.0, 45.0) == pytest.approx(-5.0)
    assert net_power(110.0, None) is None  # no baseline
    assert net_power(None, 45.0) is None


def test_net_energy():
    # 33_000 J - 45 W x 300 s = 33_000 - 13_500 = 19_500 J
    assert net_energy(33_000.0, 45.0, 300.0) == pytest.approx(19_500.0)
    # 10_000 J - 13_500 J = -3_500 J, kept negative
    assert net_energy(10_000.0, 45.0, 300.0) == pytest.approx(-3_500.0)
    assert net_energy(33_000.0, None, 300.0) is None  # no baseline
    assert net_energy(None, 45.0, 300.0) is None


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("2500k", 2_500_000),
        ("2500K", 2_500_000),
        ("5M", 5_000_000),
        ("5m", 5_000_000),
        ("1.5M", 1_500_000),
        ("1G", 1_000_000_000),
        ("2500", 2_500),
        ("0", 0),
        (" 1500k ", 1_500_000),
        ("2500kbps", 2_500_000),
        ("800 k", 800_000),
        (2_500_000, 2_500_000),
    ],
)
def test_parse_bitrate(text, bps):
    assert parse_bitrate(text) == bps


@pytest.mark.parametrize("text", ["", "k", "abc", "-5k", "2500x", "1e3k", "2,500k", "5T", True, None, 2.5, -1])
def test_parse_bitrate_rejects(text):
    with pytest.raises(ValueError, match="bitrate"):
        parse_bitrate(text)


def test_parse_resolution():
    assert parse_resolution("1280x720") == (1280, 720)
    assert parse_resolution("1920X1080") == (1920, 1080)
    assert parse_resolution(" 854 x 480 ") == (854, 480)


@pytest.mark.parametrize("text", ["1280", "0x720", "1280x0", "x", "1280x720x3", "-1x5", "1280 by 720", "", 1280, None])
def test_parse_resolution_rejects(text):
    with pytest.raises(ValueError, match="resolution"):
        parse_resolution(text)


@pytest.mark.parametrize(
    ("name", "field", "count"),
    [
        ("4 streams @ 5000k", None, 4),
        ("2 streams @ 2500k", None, 2),
        ("single stream @ 1500k", None, 1),
        ("Single Stream @ 1500k", None, 1),
        ("1 stream @ 800k", None, 1),
        ("12 Streams", None, 12),
        ("baseline idle", None, 1),
        ("5000k ladder", None, 1),
        ("anything", 3, 3),
        ("4 streams @ 5000k", 2, 2),  # the field wins over the name
    ],
)
def test_stream_count(name, field, count):
    assert stream_count(name, field) == count


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("0 streams @ 1k", None),
        ("x", 0),
        ("x", -2),
        ("x", True),
        ("x", 2.0),
        ("x", formulas.MAX_STREAMS + 1),
        ("99999999999 streams", None),
    ],
)
def test_stream_count_rejects(name, field):
    with pytest.raises(ValueError, match="stream"):
        stream_count(name, field)


# --------------------------------------------------------------------------
# emissions, repetitions, the CPU power model (results files v2)


def test_emissions_of_one_kilowatt_hour_at_the_default_intensity():
    # 3.6e6 J = 1 kWh; x 475 g/kWh x PUE 1.0 = 475 g
    assert formulas.emissions_grams(3.6e6, 475.0) == pytest.approx(475.0)


def test_emissions_scale_with_pue():
    # 7200 J = 0.002 kWh; x 300 g/kWh = 0.6 g; x PUE 1.5 = 0.9 g
    assert formulas.emissions_grams(7200.0, 300.0, 1.5) == pytest.approx(0.9)


def test_emissions_of_unknown_energy_are_unknown_not_zero():
    assert formulas.emissions_grams(None, 475.0) is None


@pytest.mark.parametrize(("intensity", "pue"), [(-1.0, 1.0), (475.0, 0.0), (475.0, math.nan), (True, 1.0)])
def test_emissions_reject_bad_settings(intensity, pue):
    with pytest.raises(ValueError):
        formulas.emissions_grams(1.0, intensity, pue)


def test_emissions_per_viewer_and_stream_hour():
    # 90 g over 1800 s (0.5 h): 10 viewers -> 90 / (0.5 x 10) = 18 g; 3 streams -> 90 / (0.5 x 3) = 60 g
    assert formulas.per_viewer_hour(90.0, 1800.0, 10) == pytest.approx(18.0)
    assert formulas.per_stream_hour(90.0, 1800.0, 3) == pytest.approx(60.0)
    assert formulas.per_stream_hour(90.0, 0.0, 3) is None
    assert formulas.per_viewer_hour(None, 1800.0, 3) is None


def test_student_t_quantiles():
    # published two-sided 95 % values
    assert formulas.student_t_975(1) == pytest.approx(12.706205, abs=1e-6)
    assert formulas.student_t_975(2) == pytest.approx(4.302653, abs=1e-6)
    assert formulas.student_t_975(30) == pytest.approx(2.042272, abs=1e-6)
    assert formulas.student_t_975(40) == pytest.approx(2.021075, abs=1e-5)
    assert formulas.student_t_975(120) == pytest.approx(1.979930, abs=1e-5)
    with pytest.raises(ValueError):
        formulas.student_t_975(0)


def test_mean_and_ci95_by_hand():
    # 10, 12, 14: mean 12, s = 2, half-width = t(0.975, 2) x 2 / sqrt(3) = 4.302653 x 1.154701 = 4.968276
    mean, half = formulas.mean_and_ci95([10.0, 12.0, 14.0])
    assert mean == pytest.approx(12.0)
    assert half == pytest.approx(4.968276, abs=1e-6)


def test_mean_and_ci95_needs_two_values_for_a_spread():
    assert formulas.mean_and_ci95([]) == (None, None)
    assert formulas.mean_and_ci95([7.0]) == (7.0, None)
    assert formulas.mean_and_ci95([5.0, 5.0]) == (5.0, 0.0)


def test_cpu_model_power_by_hand():
    # CodeCarbon's machine formula P = TDP x (0.1 + 0.9 x load^3)
    assert formulas.cpu_model_power_watts(85.0, 0.0) == pytest.approx(8.5)  # idle: 10 % of TDP
    assert formulas.cpu_model_power_watts(85.0, 1.0) == pytest.approx(85.0)  # full load: TDP
    assert formulas.cpu_model_power_watts(100.0, 0.5) == pytest.approx(21.25)  # 100 x (0.1 + 0.9 x 0.125)
    with pytest.raises(ValueError):
        formulas.cpu_model_power_watts(85.0, 1.5)


def test_mean_power_over_a_measured_energy():
    assert formulas.mean_power_over(412.5, 8.0) == pytest.approx(51.5625)
    assert formulas.mean_power_over(412.5, 0.0) is None
    assert formulas.mean_power_over(None, 8.0) is None


def test_parse_bitrates_one_per_stream():
    assert formulas.parse_bitrates("2500k") == (2_500_000,)
    assert formulas.parse_bitrates("1000k,2500k,5000k") == (1_000_000, 2_500_000, 5_000_000)
    assert formulas.parse_bitrates(5) == (5,)
    with pytest.raises(ValueError, match="'x'"):
        formulas.parse_bitrates("1000k,x")


def test_names_stream_count():
    assert formulas.names_stream_count("3 Streams (Mixed)")
    assert formulas.names_stream_count("single stream @ 1500k")
    assert not formulas.names_stream_count("1 Mbps Stream")
    assert not formulas.names_stream_count("Mixed @ 1000k,2500k")


@given(st.lists(st.floats(0, 1e6), min_size=0, max_size=50), st.floats(0.01, 100))
def test_energy_and_mean_power_equal_the_two_formulas(samples, step):
    energy, mean = formulas.energy_and_mean_power(samples, step)
    assert energy == formulas.trapezoid_energy_joules(samples, step)
    assert mean == formulas.mean_power(samples)


def test_marginal_energy_per_stream_by_hand():
    # 1, 2, 4 streams at 100, 150, 250 J: exactly 50 J per extra stream
    assert formulas.marginal_energy_per_stream([1, 2, 4], [100.0, 150.0, 250.0]) == pytest.approx(50.0)
    # least squares over noisy steps: n = 1, 2, 3, E = 10, 30, 35 -> slope = (-1 x -15 + 0 + 1 x 10) / 2 = 12.5
    assert formulas.marginal_energy_per_stream([1, 2, 3], [10.0, 30.0, 35.0]) == pytest.approx(12.5)
    assert formulas.marginal_energy_per_stream([1, 2], [10.0, None]) is None
    assert formulas.marginal_energy_per_stream([2, 2], [10.0, 12.0]) is None


def test_capacity_knee():
    assert formulas.capacity_knee([1, 2, 4, 8], [True, True, True, False]) == 4
    assert formulas.capacity_knee([8, 1, 4, 2], [False, True, True, True]) == 4  # order of the steps does not matter
    assert formulas.capacity_knee([1, 2, 4], [True, False, True]) == 1  # a pass after a failure is noise
    assert formulas.capacity_knee([1, 2], [False, False]) is None


def test_welch_difference_ci95_by_hand():
    # before 10, 12, 14 (mean 12, s^2 4), after 14, 16, 18 (mean 16, s^2 4):
    # diff = 4; se = sqrt(4/3 + 4/3) = 1.632993; df = (8/3)^2 / ((4/3)^2/2 + (4/3)^2/2) = 4;
    # half-width = t(0.975, 4) x se = 2.776445 x 1.632993 = 4.533916 > 4: not significant
    diff, half, df = formulas.welch_difference_ci95([10.0, 12.0, 14.0], [14.0, 16.0, 18.0])
    assert diff == pytest.approx(4.0)
    assert df == pytest.approx(4.0)
    assert half == pytest.approx(4.533916, rel=1e-6)
    # unequal sizes and spreads: before 1, 2, 3, 4 (s^2 5/3, /4 = 0.416667), after 2, 4 (s^2 2, /2 = 1):
    # se^2 = 1.416667; df = 1.416667^2 / (0.416667^2/3 + 1^2/1) = 1.897155 -> floor 1, t = 12.706205;
    # half-width = 12.706205 x sqrt(1.416667) = 15.123409
    diff, half, df = formulas.welch_difference_ci95([1.0, 2.0, 3.0, 4.0], [2.0, 4.0])
    assert diff == pytest.approx(0.5)
    assert df == pytest.approx(1.897155, rel=1e-6)
    assert half == pytest.approx(15.123409, rel=1e-6)


def test_welch_difference_ci95_unknown_spread():
    assert formulas.welch_difference_ci95([], [1.0]) == (None, None, None)
    assert formulas.welch_difference_ci95([1.0], [2.0, 3.0]) == (1.5, None, None)  # one value: spread unknown
    assert formulas.welch_difference_ci95([2.0, 2.0], [3.0, 3.0]) == (1.0, 0.0, None)


# ---- the machine's share (issue 22)


def test_watts_per_thread_is_the_tdp_over_the_package_threads():
    assert formulas.watts_per_thread(280.0, 128) == pytest.approx(2.1875)  # EPYC 7763: 280 W / (64 x 2)
    with pytest.raises(ValueError):
        formulas.watts_per_thread(280.0, 0)


def test_thread_model_power_by_hand():
    # 5 W/thread x 2 threads x (0.1 + 0.9 x 0.5) = 10 x 0.55 = 5.5 W
    assert formulas.cpu_thread_model_power_watts(5.0, 2, 0.5) == pytest.approx(5.5)
    assert formulas.cpu_thread_model_power_watts(5.0, 2, 0.0) == pytest.approx(1.0)  # the idle term
    with pytest.raises(ValueError):
        formulas.cpu_thread_model_power_watts(5.0, 2, 1.5)


def test_thread_model_energy_by_hand():
    # 5 W/thread, 2 threads, 10 s, 6 busy CPU-seconds: 5 x (0.1 x 2 x 10 + 0.9 x 6) = 5 x (2 + 5.4) = 37 J
    assert formulas.cpu_thread_model_energy_joules(5.0, 2, 10.0, 6.0) == pytest.approx(37.0)
    assert formulas.cpu_thread_model_energy_joules(5.0, 2, 10.0, None) is None


def test_thread_model_energy_is_the_integral_of_its_power():
    # constant utilisation u over the window: busy = u x threads x window
    u, threads, window = 0.3, 4, 7.0
    power = formulas.cpu_thread_model_power_watts(3.0, threads, u)
    assert formulas.cpu_thread_model_energy_joules(3.0, threads, window, u * threads * window) == pytest.approx(
        power * window)


def test_attributed_cpu_energy_by_hand():
    # E = 100 J over 10 s, idle 4 W -> idle 40 J, active 60 J
    # scenario 3 CPU-s of 12 CPU-s on the machine: share 0.25 -> 15 J active
    # held 3 / 10 = 0.3 of 2 CPUs -> 40 x 0.15 = 6 J idle; own 21 J
    assert formulas.attributed_cpu_energy_joules(100.0, 4.0, 10.0, 3.0, 12.0, 2) == pytest.approx(21.0)


def test_attributed_cpu_energy_of_the_only_process_is_the_active_part_and_its_idle_share():
    # alone on 2 CPUs, both busy for 10 s (20 CPU-s): share 1 -> active 60 J; held 2 of 2 -> idle 40 J
    assert formulas.attributed_cpu_energy_joules(100.0, 4.0, 10.0, 20.0, 20.0, 2) == pytest.approx(100.0)


def test_attributed_cpu_energy_bounds_the_idle_part_and_the_share():
    # measured 30 J below the idle estimate 40 J: all of it idle; held 0.5 of 2 CPUs -> 30 x 0.25 = 7.5 J
    assert formulas.attributed_cpu_energy_joules(30.0, 4.0, 10.0, 5.0, 4.0, 2) == pytest.approx(7.5)
    # unknowns and an empty window are unknown, never 0
    assert formulas.attributed_cpu_energy_joules(None, 4.0, 10.0, 3.0, 12.0, 2) is None
    assert formulas.attributed_cpu_energy_joules(100.0, 4.0, 10.0, 3.0, 0.0, 2) is None


def test_attribution_under_the_thread_model_is_watts_per_thread_times_cpu_seconds():
    # whatever else ran: 5 W/thread, 2 threads, 10 s; scenario 3 CPU-s, machine 3, 12 or 19.5 CPU-s
    for machine_cpu in (3.0, 12.0, 19.5):
        energy = formulas.cpu_thread_model_energy_joules(5.0, 2, 10.0, machine_cpu)
        idle = formulas.cpu_thread_model_power_watts(5.0, 2, 0.0)
        own = formulas.attributed_cpu_energy_joules(energy, idle, 10.0, 3.0, machine_cpu, 2)
        assert own == pytest.approx(15.0)  # 5 W x 3 CPU-s


def test_attributed_gpu_energy_by_hand():
    assert formulas.attributed_gpu_energy_joules(200.0, 30.0, 60.0) == pytest.approx(100.0)  # half the use
    assert formulas.attributed_gpu_energy_joules(200.0, None, 60.0) == 200.0  # no per-process figure: whole
    assert formulas.attributed_gpu_energy_joules(None, 30.0, 60.0) is None


def test_per_encode_divides_by_the_count():
    assert formulas.per_encode(12.0, 4) == 3.0
    assert formulas.per_encode(None, 4) is None
    with pytest.raises(ValueError):
        formulas.per_encode(1.0, 0)


def test_gpu_process_utilisation_adds_the_engines_an_encode_uses_but_not_memory():
    assert formulas.gpu_process_utilisation(sm=15, encoder=60, decoder=10) == 85
    assert formulas.gpu_process_utilisation(0, 60, 0) == 60


def test_gpu_utilisation_share_by_hand():
    # the scenario's pid at 60 % encoder, another at 20 %: 60 of 80, 75 % of the GPU's energy
    mine, everyone = formulas.gpu_utilisation_share([(4242, 60.0), (5151, 20.0)], {4242})
    assert (mine, everyone) == (60.0, 80.0)
    assert formulas.attributed_gpu_energy_joules(312.5, mine, everyone) == pytest.approx(234.375)
    # two samples of the scenario (ffmpeg and a child), two of another: (30 + 10 + 20) / (60 + 40) = 0.6
    samples = [(1, 30.0), (2, 10.0), (9, 25.0), (1, 20.0), (9, 15.0)]
    mine, everyone = formulas.gpu_utilisation_share(samples, {1, 2})
    assert (mine, everyone) == (60.0, 100.0)
    assert formulas.attributed_gpu_energy_joules(50.0, mine, everyone) == pytest.approx(30.0)


def test_gpu_utilisation_share_with_no_samples_charges_whole():
    mine, everyone = formulas.gpu_utilisation_share([], {1})
    assert (mine, everyone) == (0.0, 0.0)
    assert formulas.attributed_gpu_energy_joules(50.0, mine, everyone) == 50.0  # nobody used it: whole


def test_gpu_utilisation_share_rejects_a_negative_utilisation():
    with pytest.raises(ValueError, match="pid 7"):
        formulas.gpu_utilisation_share([(7, -1.0)], {7})
