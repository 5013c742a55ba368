"""Every metric ffwatt emits. The one place a metric name is written.

Exporters import these constants to build their families; dashboards take units,
descriptions and label names from them; docs/metrics.md is generated from them.
"""

from __future__ import annotations

from ffwatt.catalog.model import Metric

# Label sets shared by many metrics.
# `host`: the lab host the scenario ran on (issue 25); `preset`: the encoder preset; `clip`: the
# source clip's name as the results file records it (issue 23: a file's or a lavfi source's name,
# so curves and leaderboards can be per clip). Each is "unknown" where the file does not say (a
# file from before sources were recorded, a local run, an idle baseline): never a made-up value.
# Values are bounded: one per scenario of the results file at most (--max-scenarios).
SCENARIO = ("scenario", "encoder", "bitrate", "resolution", "host", "preset", "clip")
MONEY = SCENARIO + ("currency",)
ZONE = ("socket", "zone")
GPU_LABELS = ("gpu", "uuid")
CONTAINER = ("container", "id")
STREAM = ("stream",)
TARGET = ("target",)
RTMP_STREAM = ("app", "stream")

# --- runtime self-metrics: every exporter emits these, labelled by its own name ---------
EXPORTER_UP = Metric(
    "ffwatt_exporter_up", "gauge",
    "1 when the exporter's last refresh of its source succeeded, 0 when it failed.",
    "ratio", ("exporter",), replaces="exporter_up")
EXPORTER_LAST_SUCCESS = Metric(
    "ffwatt_exporter_last_refresh_success_timestamp_seconds", "gauge",
    "Unix time of the exporter's last successful refresh.",
    "timestamp", ("exporter",))
EXPORTER_REFRESH_DURATION = Metric(
    "ffwatt_exporter_refresh_duration_seconds", "gauge",
    "Seconds the exporter's last refresh of its source took.",
    "seconds", ("exporter",))
EXPORTER_REFRESH_ERRORS = Metric(
    "ffwatt_exporter_refresh_errors_total", "counter",
    "Refreshes of the exporter's source that failed.",
    "count", ("exporter",), replaces="exporter_errors")
EXPORTER_BUILD = Metric(
    "ffwatt_exporter_build_info", "info",
    "Exporter name and ffwatt version.",
    "info", ("exporter", "version"), dashboarded=False,
    why_not_dashboarded="Metadata for joins and inventory; no reading to plot.")
EXPORTER_HTTP_CONNECTIONS = Metric(
    "ffwatt_exporter_http_connections", "gauge",
    "HTTP connections the exporter's server holds open now (capped by --max-connections).",
    "count", ("exporter",), dashboarded=False,
    why_not_dashboarded="Server self-protection, read during an incident; the refusals counter tells when it bites.")
EXPORTER_HTTP_REJECTED = Metric(
    "ffwatt_exporter_http_rejected_total", "counter",
    "Connections or requests the exporter's server refused, by reason (over_capacity, per_peer, idle_evicted, "
    "head_evicted, head_timeout, head_too_slow, body_too_slow, tls_handshake, plain_http, unauthorized, "
    "auth_throttled).",
    "count", ("exporter", "reason"), dashboarded=False,
    why_not_dashboarded="Security and load events, alerted on or read from /metrics; no panel planned yet.")

# --- results (9502) ------------------------------------------------------------------------
RESULTS_SCENARIOS = Metric(
    "ffwatt_results_scenarios", "gauge",
    "Scenarios in the current results file.",
    "count", exporter="results", replaces="benchmark_scenarios_total")
RESULTS_FILE_TIMESTAMP = Metric(
    "ffwatt_results_file_timestamp_seconds", "gauge",
    "Modification time of the results file being served.",
    "timestamp", exporter="results", replaces="benchmark_last_run_timestamp")
RESULTS_SCENARIO_INFO = Metric(
    "ffwatt_results_scenario_info", "info",
    "Scenario metadata from the results file (always 1): every scenario, idle baselines included.",
    "info", SCENARIO, exporter="results")
RESULTS_DURATION = Metric(
    "ffwatt_results_scenario_duration_seconds", "gauge",
    "Planned duration of the scenario.",
    "seconds", SCENARIO, exporter="results", replaces="benchmark_duration_seconds")
RESULTS_START = Metric(
    "ffwatt_results_scenario_start_timestamp_seconds", "gauge",
    "Unix time the scenario started.",
    "timestamp", SCENARIO, exporter="results")
RESULTS_END = Metric(
    "ffwatt_results_scenario_end_timestamp_seconds", "gauge",
    "Unix time the scenario ended.",
    "timestamp", SCENARIO, exporter="results")
RESULTS_AVERAGE_FPS = Metric(
    "ffwatt_results_scenario_average_fps", "gauge",
    "Average encoding frames per second measured over the scenario (configured fps when not measured).",
    "frames_per_second", SCENARIO, exporter="results", replaces="benchmark_avg_fps")
RESULTS_FRAMES = Metric(
    "ffwatt_results_scenario_frames", "gauge",
    "Frames encoded over the scenario, all streams (fps x duration x streams when not measured).",
    "frames", SCENARIO, exporter="results", replaces="benchmark_total_frames")
RESULTS_DROPPED_FRAMES = Metric(
    "ffwatt_results_scenario_dropped_frames", "gauge",
    "Frames dropped over the scenario, all streams.",
    "frames", SCENARIO, exporter="results", replaces="benchmark_dropped_frames")
RESULTS_STREAMS = Metric(
    "ffwatt_results_scenario_streams", "gauge",
    "Concurrent streams the scenario encodes.",
    "count", SCENARIO, exporter="results")
RESULTS_PIXELS = Metric(
    "ffwatt_results_scenario_pixels", "gauge",
    "Pixels processed over the scenario: width x height x frames x streams, summed over the output ladder.",
    "pixels", SCENARIO, exporter="results", replaces="benchmark_pixels_processed")

RESULTS_SKIPPED = Metric(
    "ffwatt_results_skipped_scenarios", "gauge",
    "Scenarios of the current results file left out because they failed validation (/health names each).",
    "count", exporter="results")
RESULTS_REPETITIONS = Metric(
    "ffwatt_results_scenario_repetitions", "gauge",
    "Times the scenario ran (its figures are the means over them).",
    "count", SCENARIO, exporter="results")
RESULTS_FPS_CI95 = Metric(
    "ffwatt_results_scenario_average_fps_ci95_half_width", "gauge",
    "Half-width of the 95 % confidence interval (Student t) of the average fps over the repetitions.",
    "frames_per_second", SCENARIO, exporter="results")
RESULTS_MEASURED_BITRATE = Metric(
    "ffwatt_results_scenario_measured_bitrate_bytes_per_second", "gauge",
    "Real bitrate of one stream in bytes/s (Prometheus base unit; x 8 for bits/s): output bytes / encoded media "
    "seconds / streams.",
    "bytes_per_second", SCENARIO, exporter="results")
RESULTS_SPEED = Metric(
    "ffwatt_results_scenario_speed_ratio", "gauge",
    "Encoded media seconds per wall-clock second, per stream (1 = real time).",
    "factor", SCENARIO, exporter="results")
RESULTS_OUTPUT_BYTES = Metric(
    "ffwatt_results_scenario_output_bytes", "gauge",
    "Bytes the scenario's encodes wrote, all streams and outputs.",
    "bytes", SCENARIO, exporter="results")

RESULTS_PLANNED = Metric(
    "ffwatt_results_planned_scenarios", "gauge",
    "Scenarios the run of the current results file will have when complete (with the ones done: n of N).",
    "count", exporter="results")
RESULTS_DUPLICATED_FRAMES = Metric(
    "ffwatt_results_scenario_duplicated_frames", "gauge",
    "Frames ffmpeg duplicated to keep a live stream's frame rate, all streams.",
    "frames", SCENARIO, exporter="results")
RESULTS_STREAMS_BEHIND = Metric(
    "ffwatt_results_scenario_streams_behind_real_time", "gauge",
    "Live streams of the scenario that fell behind real time (sustained speed below 0.99 after the warm-up).",
    "count", SCENARIO, exporter="results")
RESULTS_MIN_SPEED = Metric(
    "ffwatt_results_scenario_min_sustained_speed_ratio", "gauge",
    "Lowest speed a live stream of the scenario sustained after the warm-up (1 = real time).",
    "factor", SCENARIO, exporter="results")
RESULTS_SWEEP_STEP_SPEED = Metric(
    "ffwatt_results_sweep_step_min_sustained_speed_ratio", "gauge",
    "Capacity sweep step (its scenario): the lowest speed its live streams sustained (1 = real time).",
    "factor", ("sweep", "scenario"), exporter="results")
RESULTS_SWEEP_KNEE = Metric(
    "ffwatt_results_sweep_knee_streams", "gauge",
    "Capacity sweep: the largest count of live streams that all held real time (absent when none did).",
    "count", ("sweep",), exporter="results")

# --- qoe (9503) ----------------------------------------------------------------------------
QOE_VMAF = Metric(
    "ffwatt_qoe_vmaf_score", "gauge",
    "VMAF of the scenario's output, 0 to 100.",
    "score", SCENARIO, exporter="qoe", replaces="qoe_vmaf_score")
QOE_VMAF_HARMONIC_MEAN = Metric(
    "ffwatt_qoe_vmaf_harmonic_mean_score", "gauge",
    "Harmonic mean of the per-frame VMAF, 0 to 100 (pulled down by bad frames more than the mean).",
    "score", SCENARIO, exporter="qoe")
QOE_VMAF_MIN = Metric(
    "ffwatt_qoe_vmaf_min_score", "gauge",
    "Lowest per-frame VMAF of the scenario's output, 0 to 100.",
    "score", SCENARIO, exporter="qoe")
QOE_VMAF_P1 = Metric(
    "ffwatt_qoe_vmaf_p1_score", "gauge",
    "1st percentile of the per-frame VMAF (the worst 1 % of frames), 0 to 100.",
    "score", SCENARIO, exporter="qoe")
QOE_PSNR = Metric(
    "ffwatt_qoe_psnr_decibels", "gauge",
    "PSNR of the scenario's output.",
    "decibels", SCENARIO, exporter="qoe", replaces="qoe_psnr_score")
QOE_SSIM = Metric(
    "ffwatt_qoe_ssim_score", "gauge",
    "SSIM of the scenario's output, 0 to 1.",
    "score", SCENARIO, exporter="qoe", replaces="qoe_ssim_score")
QOE_QUALITY_PER_WATT = Metric(
    "ffwatt_qoe_vmaf_per_watt", "gauge",
    "VMAF divided by the scenario's mean power draw.",
    "score_per_watt", SCENARIO, exporter="qoe", replaces="qoe_quality_per_watt")
QOE_EFFICIENCY = Metric(
    "ffwatt_qoe_efficiency_pixels_per_joule", "gauge",
    "Quality-weighted pixels per joule: pixels x VMAF/100 / energy.",
    "pixels_per_joule", SCENARIO, exporter="qoe", replaces="qoe_efficiency_score")
QOE_DROP_RATIO = Metric(
    "ffwatt_qoe_drop_ratio", "gauge",
    "Dropped frames over total frames, 0 to 1.",
    "ratio", SCENARIO, exporter="qoe", replaces="qoe_frame_drop_rate")

# --- cost (9504) ---------------------------------------------------------------------------
COST_TOTAL = Metric(
    "ffwatt_cost_scenario_overall_cost", "gauge",
    "Total cost of the scenario: energy cost plus compute cost.",
    "currency", MONEY, exporter="cost", replaces="cost_total")
COST_ENERGY = Metric(
    "ffwatt_cost_scenario_energy_cost", "gauge",
    "Cost of the energy the scenario drew: its attributed joules (ffwatt_cost_scenario_energy_joules, not the "
    "machine's) / 3.6e6 x price per kWh.",
    "currency", MONEY, exporter="cost", replaces="cost_energy")
COST_COMPUTE = Metric(
    "ffwatt_cost_scenario_compute_cost", "gauge",
    "Cost of the CPU the scenario used: core-seconds / 3600 x price per core-hour.",
    "currency", MONEY, exporter="cost", replaces="cost_compute")
COST_PER_PIXEL = Metric(
    "ffwatt_cost_scenario_cost_per_pixel", "gauge",
    "Total cost divided by pixels processed.",
    "currency", MONEY, exporter="cost", replaces="cost_per_pixel")
COST_PER_VIEWER_HOUR = Metric(
    "ffwatt_cost_scenario_cost_per_viewer_hour", "gauge",
    "Total cost divided by viewer-hours (duration in hours x viewers; viewers default to streams).",
    "currency", MONEY, exporter="cost", replaces="cost_per_viewer_hour")
COST_ENERGY_JOULES = Metric(
    "ffwatt_cost_scenario_energy_joules", "gauge",
    "The scenario's own energy, its attributed share of the machine's (rule: "
    "ffwatt_cost_scenario_energy_attribution_info): the results file's figure, the trapezoid over its power "
    "samples, or the TSDB's joules counters. Cost, emissions and efficiency use this figure.",
    "joules", SCENARIO, exporter="cost", replaces="benchmark_energy_joules")
COST_MACHINE_ENERGY_JOULES = Metric(
    "ffwatt_cost_scenario_machine_energy_joules", "gauge",
    "The whole machine's energy over the scenario's window, every process on it included: shown beside the "
    "scenario's attributed energy, never used for its cost or emissions. Absent when the run did not record it.",
    "joules", SCENARIO, exporter="cost")
COST_ENERGY_ATTRIBUTION = Metric(
    "ffwatt_cost_scenario_energy_attribution_info", "info",
    "The rule that gave the scenario its share of the machine's energy (attribution: cpu-time-share, exclusive, "
    "gpu-process-utilisation, gpu-whole, whole-machine, several joined by +, or other). Absent when unknown.",
    "info", SCENARIO + ("attribution",), exporter="cost")
COST_NET_ENERGY_JOULES = Metric(
    "ffwatt_cost_scenario_net_energy_joules", "gauge",
    "Energy above the idle baseline: scenario energy minus baseline power x duration.",
    "joules", SCENARIO, exporter="cost")
COST_MEAN_POWER = Metric(
    "ffwatt_cost_scenario_mean_power_watts", "gauge",
    "Mean power draw over the scenario.",
    "watts", SCENARIO, exporter="cost", replaces="benchmark_avg_power_watts")
COST_NET_POWER = Metric(
    "ffwatt_cost_scenario_net_power_watts", "gauge",
    "Mean power above the idle baseline scenario.",
    "watts", SCENARIO, exporter="cost")
COST_CORE_SECONDS = Metric(
    "ffwatt_cost_scenario_cpu_core_seconds", "gauge",
    "CPU core-seconds the scenario used.",
    "seconds", SCENARIO, exporter="cost")
COST_ENERGY_SOURCE = Metric(
    "ffwatt_cost_scenario_energy_source", "gauge",
    "1 for where the scenario's energy came from: measured joules counters (rapl, nvml, rapl+nvml), power samples "
    "in the results file, the TSDB's counters, the CPU power model (model: an estimate), a simulator "
    "(simulated), or unavailable.",
    "info", SCENARIO + ("source",), exporter="cost")
COST_ENERGY_CI95 = Metric(
    "ffwatt_cost_scenario_energy_ci95_half_width_joules", "gauge",
    "Half-width of the 95 % confidence interval (Student t) of the scenario's energy over its repetitions.",
    "joules", SCENARIO, exporter="cost")
COST_EMISSIONS = Metric(
    "ffwatt_cost_scenario_emissions_grams", "gauge",
    "Emissions of the scenario's energy in grams of CO2e: its attributed joules (not the machine's) / 3.6e6 x "
    "carbon intensity x PUE.",
    "grams", SCENARIO, exporter="cost")
COST_EMISSIONS_PER_VIEWER_HOUR = Metric(
    "ffwatt_cost_scenario_emissions_grams_per_viewer_hour", "gauge",
    "Grams of CO2e per viewer-hour (duration in hours x viewers; viewers default to streams).",
    "grams", SCENARIO, exporter="cost")
COST_EMISSIONS_PER_STREAM_HOUR = Metric(
    "ffwatt_cost_scenario_emissions_grams_per_stream_hour", "gauge",
    "Grams of CO2e per stream-hour (duration in hours x streams).",
    "grams", SCENARIO, exporter="cost")
COST_SWEEP_STEP_ENERGY = Metric(
    "ffwatt_cost_sweep_step_energy_joules", "gauge",
    "Capacity sweep step (its scenario): the energy it drew at its stream count.",
    "joules", ("sweep", "scenario"), exporter="cost")
COST_SWEEP_MARGINAL_ENERGY = Metric(
    "ffwatt_cost_sweep_marginal_energy_joules_per_stream", "gauge",
    "Capacity sweep: joules one more live stream adds, the least-squares slope of energy over the stream counts.",
    "joules", ("sweep",), exporter="cost")
COST_CARBON_INTENSITY = Metric(
    "ffwatt_cost_carbon_intensity_grams_per_kilowatt_hour", "gauge",
    "Configured grid carbon intensity, grams of CO2e per kilowatt-hour.",
    "grams_per_kilowatt_hour", exporter="cost")
COST_PUE = Metric(
    "ffwatt_cost_power_usage_effectiveness", "gauge",
    "Configured PUE: the facility's energy per unit of machine energy (1 for the machine alone).",
    "factor", exporter="cost")
COST_ENERGY_PRICE = Metric(
    "ffwatt_cost_energy_price_per_kilowatt_hour", "gauge",
    "Configured energy price per kilowatt-hour.",
    "currency", ("currency",), exporter="cost", replaces="cost_energy_price_kwh")
COST_CORE_HOUR_PRICE = Metric(
    "ffwatt_cost_compute_price_per_core_hour", "gauge",
    "Configured compute price per CPU core-hour.",
    "currency", ("currency",), exporter="cost", replaces="cost_cpu_price_hour")
COST_TSDB_ERRORS = Metric(
    "ffwatt_cost_tsdb_query_errors_total", "counter",
    "Queries to the TSDB for a scenario's energy that failed.",
    "count", exporter="cost")

# --- cpu (9500): RAPL powercap ---------------------------------------------------------------
CPU_SOURCE = Metric(
    "ffwatt_cpu_rapl_source_info", "info",
    "Where the RAPL counters are read (source): powercap (the kernel's sysfs tree), hwmon (amd_energy), or "
    "simulated (a tree ffwatt's demo advances: its joules are not measured).",
    "info", ("source",), exporter="cpu")
CPU_ENERGY = Metric(
    "ffwatt_cpu_energy_joules_total", "counter",
    "Energy a RAPL zone consumed, wrap-around compensated.",
    "joules", ZONE, exporter="cpu", replaces="rapl_energy_joules")
CPU_POWER = Metric(
    "ffwatt_cpu_power_watts", "gauge",
    "Power a RAPL zone draws, sampled on a fixed cadence.",
    "watts", ZONE, exporter="cpu", replaces="rapl_power_watts")
CPU_ZONES = Metric(
    "ffwatt_cpu_zones", "gauge",
    "RAPL zones being read: each exported once, intel-rapl-mmio duplicates of a package dropped.",
    "count", exporter="cpu")
CPU_WRAPS = Metric(
    "ffwatt_cpu_energy_wraps_total", "counter",
    "Times a zone's energy_uj wrapped around max_energy_range_uj.",
    "count", ZONE, exporter="cpu", dashboarded=False,
    why_not_dashboarded="Diagnostic for the wrap compensation; the joules counter already accounts for it.")

# --- gpu (9505): NVML ------------------------------------------------------------------------
# Every per-GPU series carries the GPU's UUID beside its NVML index: nvml.h does not promise
# the index order, so another physical GPU can end up behind gpu="0" (other --gpus, a
# reboot). With the UUID a GPU keeps its own series and a counter never jumps or resets
# because its index moved.
GPU_INFO = Metric(
    "ffwatt_gpu_info", "info",
    "GPU identity.",
    "info", ("gpu", "name", "uuid", "pci_bus_id", "driver_version"), exporter="gpu")
GPU_SOURCE = Metric(
    "ffwatt_gpu_source_info", "info",
    "Where the GPU readings come from (source): nvml (the NVIDIA driver) or simulated (a fake NVML such as "
    "ffwatt's demo uses: its watts and joules are not measured). Absent while no GPU is served.",
    "info", ("source",), exporter="gpu")
GPU_COUNT = Metric(
    "ffwatt_gpu_devices", "gauge",
    "NVIDIA GPUs whose readings the exporter serves (0 when there is no GPU or no driver); GPUs NVML lists "
    "but this process may not open, and lost GPUs, are left out and named in /health.",
    "count", exporter="gpu")
GPU_POWER = Metric(
    "ffwatt_gpu_power_watts", "gauge",
    "GPU power draw; under MIG, the whole GPU's.",
    "watts", GPU_LABELS, exporter="gpu", replaces="nvidia_gpu_power_watts")
GPU_POWER_LIMIT = Metric(
    "ffwatt_gpu_power_limit_watts", "gauge",
    "GPU enforced power limit.",
    "watts", GPU_LABELS, exporter="gpu")
GPU_ENERGY = Metric(
    "ffwatt_gpu_energy_joules_total", "counter",
    "Energy the GPU consumed since the driver loaded (NVML's counter, Volta and newer); under MIG, the whole "
    "GPU's. GPUs without the counter have ffwatt_gpu_power_integrated_joules_total instead.",
    "joules", GPU_LABELS, exporter="gpu")
GPU_NVML_ENERGY_SUPPORTED = Metric(
    "ffwatt_gpu_nvml_energy_supported", "gauge",
    "1 when NVML has an energy counter for the GPU, 0 when it answers NOT_SUPPORTED (before Volta, vGPU, "
    "Jetson): its energy is then the integrated power gauge.",
    "ratio", GPU_LABELS, exporter="gpu")
GPU_POWER_INTEGRATED = Metric(
    "ffwatt_gpu_power_integrated_joules_total", "counter",
    "Energy of a GPU without an NVML energy counter, integrated by the exporter from its power gauge (trapezoid "
    "between refreshes, from 0 at exporter start): an estimate, only for GPUs whose counter is not supported.",
    "joules", GPU_LABELS, exporter="gpu")
GPU_TEMPERATURE = Metric(
    "ffwatt_gpu_temperature_celsius", "gauge",
    "GPU core temperature.",
    "celsius", GPU_LABELS, exporter="gpu", replaces="nvidia_gpu_temperature")
GPU_UTILIZATION = Metric(
    "ffwatt_gpu_utilization_ratio", "gauge",
    "Fraction of time the GPU was busy over the driver's sample period.",
    "ratio", GPU_LABELS, exporter="gpu", replaces="nvidia_gpu_utilization")
GPU_MEMORY_UTILIZATION = Metric(
    "ffwatt_gpu_memory_utilization_ratio", "gauge",
    "Fraction of time GPU memory was read or written.",
    "ratio", GPU_LABELS, exporter="gpu")
GPU_ENCODER_UTILIZATION = Metric(
    "ffwatt_gpu_encoder_utilization_ratio", "gauge",
    "NVENC encoder utilization; on GPUs with several NVENC engines, the average over all of them.",
    "ratio", GPU_LABELS, exporter="gpu", replaces="nvidia_encoder_utilization")
GPU_DECODER_UTILIZATION = Metric(
    "ffwatt_gpu_decoder_utilization_ratio", "gauge",
    "NVDEC decoder utilization; on GPUs with several NVDEC engines, the average over all of them.",
    "ratio", GPU_LABELS, exporter="gpu", replaces="nvidia_decoder_utilization")
GPU_ENCODER_SESSIONS = Metric(
    "ffwatt_gpu_encoder_sessions", "gauge",
    "Active NVENC sessions.",
    "count", GPU_LABELS, exporter="gpu")
GPU_ENCODER_FPS = Metric(
    "ffwatt_gpu_encoder_average_fps", "gauge",
    "Average frames per second across active NVENC sessions.",
    "frames_per_second", GPU_LABELS, exporter="gpu")
GPU_ENCODER_LATENCY = Metric(
    "ffwatt_gpu_encoder_average_latency_seconds", "gauge",
    "Average NVENC encode latency across active sessions (left out while no session is active).",
    "seconds", GPU_LABELS, exporter="gpu")
GPU_MEMORY_USED = Metric(
    "ffwatt_gpu_memory_used_bytes", "gauge",
    "GPU memory allocated, without the memory the driver reserves (ffwatt_gpu_memory_reserved_bytes); on "
    "drivers without NVML's memory v2, reserved memory included (/health details.memory_api says which).",
    "bytes", GPU_LABELS, exporter="gpu")
GPU_MEMORY_RESERVED = Metric(
    "ffwatt_gpu_memory_reserved_bytes", "gauge",
    "GPU memory the driver and firmware reserve (NVML memory v2); left out where only v1 is available.",
    "bytes", GPU_LABELS, exporter="gpu")
GPU_MEMORY_TOTAL = Metric(
    "ffwatt_gpu_memory_total_bytes", "gauge",
    "GPU memory installed.",
    "bytes", GPU_LABELS, exporter="gpu")
GPU_GRAPHICS_CLOCK = Metric(
    "ffwatt_gpu_graphics_clock_hertz", "gauge",
    "Graphics clock.",
    "hertz", GPU_LABELS, exporter="gpu")
GPU_SM_CLOCK = Metric(
    "ffwatt_gpu_sm_clock_hertz", "gauge",
    "Streaming multiprocessor clock.",
    "hertz", GPU_LABELS, exporter="gpu")
GPU_MEMORY_CLOCK = Metric(
    "ffwatt_gpu_memory_clock_hertz", "gauge",
    "Memory clock.",
    "hertz", GPU_LABELS, exporter="gpu")
GPU_CLOCK_EVENT = Metric(
    "ffwatt_gpu_clock_event_active", "gauge",
    "1 while the clock-event (throttle) reason holds the GPU's clocks down, 0 when not; one series per reason "
    "NVML supports on the GPU (gpu_idle, applications_clocks_setting, sw_power_cap, hw_slowdown, sync_boost, "
    "sw_thermal_slowdown, hw_thermal_slowdown, hw_power_brake_slowdown, display_clock_setting).",
    "ratio", GPU_LABELS + ("reason",), exporter="gpu")

# --- docker (9501) -----------------------------------------------------------------------------
DOCKER_ENGINE_UP = Metric(
    "ffwatt_docker_engine_up", "gauge",
    "1 when the Docker Engine answered the last collection, 0 otherwise.",
    "ratio", exporter="docker")
DOCKER_CONTAINERS = Metric(
    "ffwatt_docker_containers", "gauge",
    "Running containers.",
    "count", exporter="docker", replaces="container_count")
DOCKER_CONTAINER_INFO = Metric(
    "ffwatt_docker_container_info", "info",
    "Container identity.",
    "info", CONTAINER + ("image",), exporter="docker")
DOCKER_CPU = Metric(
    "ffwatt_docker_container_cpu_seconds_total", "counter",
    "CPU time the container consumed.",
    "seconds", CONTAINER, exporter="docker", replaces="container_cpu_usage_percent")
DOCKER_MEMORY_WORKING_SET = Metric(
    "ffwatt_docker_container_memory_working_set_bytes", "gauge",
    "Container memory usage minus inactive file cache.",
    "bytes", CONTAINER, exporter="docker", replaces="container_memory_usage_bytes")
DOCKER_MEMORY_LIMIT = Metric(
    "ffwatt_docker_container_memory_limit_bytes", "gauge",
    "Container memory limit (the host's memory when unlimited).",
    "bytes", CONTAINER, exporter="docker")
DOCKER_NETWORK_RECEIVE = Metric(
    "ffwatt_docker_container_network_receive_bytes_total", "counter",
    "Bytes the container received over all its interfaces.",
    "bytes", CONTAINER, exporter="docker")
DOCKER_NETWORK_TRANSMIT = Metric(
    "ffwatt_docker_container_network_transmit_bytes_total", "counter",
    "Bytes the container sent over all its interfaces.",
    "bytes", CONTAINER, exporter="docker")
DOCKER_BLOCK_READ = Metric(
    "ffwatt_docker_container_block_read_bytes_total", "counter",
    "Bytes the container read from block devices.",
    "bytes", CONTAINER, exporter="docker")
DOCKER_BLOCK_WRITE = Metric(
    "ffwatt_docker_container_block_write_bytes_total", "counter",
    "Bytes the container wrote to block devices.",
    "bytes", CONTAINER, exporter="docker")

# --- ffmpeg (9506): live progress ----------------------------------------------------------------
FFMPEG_STREAMS = Metric(
    "ffwatt_ffmpeg_streams", "gauge",
    "ffmpeg streams currently pushing progress.",
    "count", exporter="ffmpeg")
FFMPEG_FRAMES = Metric(
    "ffwatt_ffmpeg_stream_frames_total", "counter",
    "Frames the stream's ffmpeg has encoded.",
    "frames", STREAM, exporter="ffmpeg")
FFMPEG_DROPPED = Metric(
    "ffwatt_ffmpeg_stream_dropped_frames_total", "counter",
    "Frames the stream's ffmpeg dropped.",
    "frames", STREAM, exporter="ffmpeg", replaces="ffmpeg_dropped_frames")
FFMPEG_DUPLICATED = Metric(
    "ffwatt_ffmpeg_stream_duplicated_frames_total", "counter",
    "Frames the stream's ffmpeg duplicated.",
    "frames", STREAM, exporter="ffmpeg")
FFMPEG_OUTPUT_BYTES = Metric(
    "ffwatt_ffmpeg_stream_output_bytes_total", "counter",
    "Bytes the stream's ffmpeg has written to its output.",
    "bytes", STREAM, exporter="ffmpeg")
FFMPEG_FPS = Metric(
    "ffwatt_ffmpeg_stream_fps", "gauge",
    "Current encoding frames per second.",
    "frames_per_second", STREAM, exporter="ffmpeg", replaces="ffmpeg_fps")
FFMPEG_SPEED = Metric(
    "ffwatt_ffmpeg_stream_speed_ratio", "gauge",
    "Encoding speed relative to real time (1 = real time).",
    "factor", STREAM, exporter="ffmpeg", replaces="ffmpeg_speed")
FFMPEG_BITRATE = Metric(
    "ffwatt_ffmpeg_stream_bitrate_bytes_per_second", "gauge",
    "Current output bitrate in bytes/s (Prometheus base unit; x 8 for bits/s).",
    "bytes_per_second", STREAM, exporter="ffmpeg", replaces="ffmpeg_bitrate_kbps")
FFMPEG_OUTPUT_TIME = Metric(
    "ffwatt_ffmpeg_stream_output_time_seconds", "gauge",
    "Media time written to the output so far.",
    "seconds", STREAM, exporter="ffmpeg")
FFMPEG_ACTIVE = Metric(
    "ffwatt_ffmpeg_stream_active", "gauge",
    "1 while the stream pushes progress; the series leaves when it ends or goes silent.",
    "ratio", STREAM, exporter="ffmpeg")
FFMPEG_REJECTED = Metric(
    "ffwatt_ffmpeg_progress_rejected_total", "counter",
    "Progress pushes or lines rejected, by reason.",
    "count", ("reason",), exporter="ffmpeg")
FFMPEG_ENDED = Metric(
    "ffwatt_ffmpeg_streams_ended_total", "counter",
    "Streams that ended, by reason (end: ffmpeg said progress=end; silent: timed out).",
    "count", ("reason",), exporter="ffmpeg")

# --- rtmp (9728): nginx-rtmp /stat -----------------------------------------------------------------
RTMP_UPTIME = Metric(
    "ffwatt_rtmp_server_uptime_seconds", "gauge",
    "Seconds since the nginx-rtmp server started (its /stat uptime).",
    "seconds", exporter="rtmp")
RTMP_ACCEPTED = Metric(
    "ffwatt_rtmp_server_accepted_connections_total", "counter",
    "RTMP connections the server has accepted since it started.",
    "count", exporter="rtmp")
RTMP_SERVER_RECEIVED = Metric(
    "ffwatt_rtmp_server_received_bytes_total", "counter",
    "Bytes the RTMP server has received over all its connections.",
    "bytes", exporter="rtmp")
RTMP_SERVER_SENT = Metric(
    "ffwatt_rtmp_server_sent_bytes_total", "counter",
    "Bytes the RTMP server has sent over all its connections.",
    "bytes", exporter="rtmp")
RTMP_STREAMS = Metric(
    "ffwatt_rtmp_streams", "gauge",
    "Streams the RTMP application lists (with a publisher or waiting players).",
    "count", ("app",), exporter="rtmp")
RTMP_STREAM_PUBLISHING = Metric(
    "ffwatt_rtmp_stream_publishing", "gauge",
    "1 while the stream has a publisher, 0 while only players wait for one; the series leaves when the stream ends.",
    "ratio", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_RECEIVED = Metric(
    "ffwatt_rtmp_stream_received_bytes_total", "counter",
    "Bytes the server has received for the stream (ingest from its publisher).",
    "bytes", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_SENT = Metric(
    "ffwatt_rtmp_stream_sent_bytes_total", "counter",
    "Bytes the server has sent for the stream (egress to its players).",
    "bytes", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_AUDIO_RATE = Metric(
    "ffwatt_rtmp_stream_audio_received_bytes_per_second", "gauge",
    "Audio ingest rate of the stream: nginx-rtmp's own 10 s average (bw_audio / 8); "
    "rate() of the byte counters is the exact total.",
    "bytes_per_second", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_VIDEO_RATE = Metric(
    "ffwatt_rtmp_stream_video_received_bytes_per_second", "gauge",
    "Video ingest rate of the stream: nginx-rtmp's own 10 s average (bw_video / 8); "
    "rate() of the byte counters is the exact total.",
    "bytes_per_second", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_CLIENTS = Metric(
    "ffwatt_rtmp_stream_clients", "gauge",
    "Clients connected to the stream: its publisher plus its players.",
    "count", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_AGE = Metric(
    "ffwatt_rtmp_stream_publishing_seconds", "gauge",
    "Seconds since the stream appeared on the server (nginx-rtmp's stream time).",
    "seconds", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_AVSYNC = Metric(
    "ffwatt_rtmp_stream_av_sync_seconds", "gauge",
    "Audio minus video timestamp of the stream's publisher as the server sees it (nginx-rtmp's avsync); "
    "absent without a publisher.",
    "seconds", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_DROPPED = Metric(
    "ffwatt_rtmp_stream_dropped_messages_total", "counter",
    "Messages the server dropped for the stream's clients (slow players), summed over every client "
    "seen while the stream existed.",
    "count", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_WIDTH = Metric(
    "ffwatt_rtmp_stream_video_width_pixels", "gauge",
    "Video width the stream's publisher announced in its metadata.",
    "pixels", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_HEIGHT = Metric(
    "ffwatt_rtmp_stream_video_height_pixels", "gauge",
    "Video height the stream's publisher announced in its metadata.",
    "pixels", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_FPS = Metric(
    "ffwatt_rtmp_stream_video_fps", "gauge",
    "Video frame rate the stream's publisher announced in its metadata.",
    "frames_per_second", RTMP_STREAM, exporter="rtmp")
RTMP_STREAM_VIDEO = Metric(
    "ffwatt_rtmp_stream_video_info", "info",
    "Video codec the stream's publisher announced (H264, ...); always 1.",
    "info", RTMP_STREAM + ("codec",), exporter="rtmp")

# --- health (9600) -------------------------------------------------------------------------------
HEALTH_TARGETS = Metric(
    "ffwatt_health_targets", "gauge",
    "Targets the health checker probes.",
    "count", exporter="health")
HEALTH_TARGETS_HEALTHY = Metric(
    "ffwatt_health_targets_healthy", "gauge",
    "Targets that passed their last probe.",
    "count", exporter="health", replaces="exporter_health_healthy_count")
HEALTH_TARGET_HEALTHY = Metric(
    "ffwatt_health_target_healthy", "gauge",
    "1 when the target answered with a valid exposition holding the metrics it should emit.",
    "ratio", TARGET, exporter="health", replaces="exporter_health_status")
HEALTH_TARGET_REACHABLE = Metric(
    "ffwatt_health_target_reachable", "gauge",
    "1 when the target answered HTTP at all.",
    "ratio", TARGET, exporter="health")
HEALTH_TARGET_RESPONSE = Metric(
    "ffwatt_health_target_response_seconds", "gauge",
    "Seconds the last probe of the target took: to the complete /metrics answer, or until it failed.",
    "seconds", TARGET, exporter="health", replaces="exporter_health_response_time_ms")
HEALTH_TARGET_LAST_CHECK = Metric(
    "ffwatt_health_target_last_check_timestamp_seconds", "gauge",
    "Unix time of the target's last probe.",
    "timestamp", TARGET, exporter="health")
HEALTH_TARGET_FAILURES = Metric(
    "ffwatt_health_target_consecutive_failures", "gauge",
    "Probes of the target that failed in a row.",
    "count", TARGET, exporter="health")
HEALTH_TARGET_REASON = Metric(
    "ffwatt_health_target_failure_reason", "gauge",
    "One series per reason: 1 for the reason of the target's last probe (ok when healthy), 0 for the others.",
    "ratio", TARGET + ("reason",), exporter="health")
HEALTH_TARGET_DEGRADED = Metric(
    "ffwatt_health_target_degraded", "gauge",
    "1 when an ffwatt target is healthy but its own /health says degraded.",
    "ratio", TARGET, exporter="health")

# --- streams (9507): live encoder processes ffwatt did not start (issue 32) ------------------------
# Each interval's machine energy split by the runner's rule: streams + other + idle = the machine.
STREAM_ENERGY = Metric(
    "ffwatt_stream_energy_joules_total", "counter",
    "Energy attributed to the live stream's encoder process tree: its share of the machine's energy by the rule "
    "ffwatt_streams_energy_source_info names.",
    "joules", STREAM, exporter="streams")
STREAM_POWER = Metric(
    "ffwatt_stream_power_watts", "gauge",
    "Mean power attributed to the live stream over the collector's last interval.",
    "watts", STREAM, exporter="streams")
STREAM_CPU = Metric(
    "ffwatt_stream_cpu_seconds_total", "counter",
    "CPU seconds (user + system) the live stream's encoder process tree has used since it started, helpers that "
    "ended inside the tree included.",
    "seconds", STREAM, exporter="streams")
STREAM_INFO = Metric(
    "ffwatt_stream_info", "info",
    "The live stream's video encoder, resolution and bitrate as its command line gives them (unknown: not given).",
    "info", STREAM + ("encoder", "resolution", "bitrate"), exporter="streams")
HOST_OTHER_ENERGY = Metric(
    "ffwatt_host_other_energy_joules_total", "counter",
    "The machine's energy charged to everything that is not a live stream (every other process, by the same rule: "
    "its CPU time share of the active part, the CPUs it held of the idle part); streams + other + idle is the "
    "machine's energy.",
    "joules", exporter="streams")
HOST_IDLE_ENERGY = Metric(
    "ffwatt_host_idle_energy_joules_total", "counter",
    "The idle part of the machine's energy no process held: idle power x time x the share of the CPUs nobody used.",
    "joules", exporter="streams")
STREAMS_ENERGY_SOURCE = Metric(
    "ffwatt_streams_energy_source_info", "info",
    "Where the streams collector's machine energy comes from (source: rapl, nvml, rapl+nvml, model, simulated) and "
    "the rule that splits it between streams (attribution).",
    "info", ("source", "attribution"), exporter="streams")
STREAMS_DISCOVERED = Metric(
    "ffwatt_streams_discovered", "gauge",
    "Encoder process trees ffwatt did not start, found on the host at the last refresh (before the --max-streams "
    "cap).",
    "count", exporter="streams")
STREAMS_DROPPED = Metric(
    "ffwatt_streams_dropped_total", "counter",
    "Encoder process trees left out because of --max-streams, each counted once.",
    "count", exporter="streams")
