"""Every metric ffwatt emits. The one place a metric name is written.

Exporters import these constants to build their families; dashboards take units,
descriptions and label names from them; docs/metrics.md is generated from them.
"""

from __future__ import annotations

from catalog.model import Metric

# Label sets shared by many metrics.
SCENARIO = ("scenario", "encoder", "bitrate", "resolution")
MONEY = SCENARIO + ("currency",)
ZONE = ("socket", "zone")
GPU_LABELS = ("gpu",)
CONTAINER = ("container", "id")
STREAM = ("stream",)
TARGET = ("target",)

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
    "Scenario metadata from the results file.",
    "info", SCENARIO + ("preset",), exporter="results")
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
    "Cost of the energy the scenario drew: joules / 3.6e6 x price per kWh.",
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
    "Energy the scenario drew: trapezoid over its power samples, or the TSDB's joules counters.",
    "joules", SCENARIO, exporter="cost", replaces="benchmark_energy_joules")
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
    "Emissions of the scenario's energy in grams of CO2e: joules / 3.6e6 x carbon intensity x PUE.",
    "grams", SCENARIO, exporter="cost")
COST_EMISSIONS_PER_VIEWER_HOUR = Metric(
    "ffwatt_cost_scenario_emissions_grams_per_viewer_hour", "gauge",
    "Grams of CO2e per viewer-hour (duration in hours x viewers; viewers default to streams).",
    "grams", SCENARIO, exporter="cost")
COST_EMISSIONS_PER_STREAM_HOUR = Metric(
    "ffwatt_cost_scenario_emissions_grams_per_stream_hour", "gauge",
    "Grams of CO2e per stream-hour (duration in hours x streams).",
    "grams", SCENARIO, exporter="cost")
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
GPU_INFO = Metric(
    "ffwatt_gpu_info", "info",
    "GPU identity.",
    "info", ("gpu", "name", "uuid", "pci_bus_id", "driver_version"), exporter="gpu")
GPU_COUNT = Metric(
    "ffwatt_gpu_devices", "gauge",
    "NVIDIA GPUs NVML reports (0 when there is no GPU or no driver).",
    "count", exporter="gpu")
GPU_POWER = Metric(
    "ffwatt_gpu_power_watts", "gauge",
    "GPU power draw.",
    "watts", GPU_LABELS, exporter="gpu", replaces="nvidia_gpu_power_watts")
GPU_POWER_LIMIT = Metric(
    "ffwatt_gpu_power_limit_watts", "gauge",
    "GPU enforced power limit.",
    "watts", GPU_LABELS, exporter="gpu")
GPU_ENERGY = Metric(
    "ffwatt_gpu_energy_joules_total", "counter",
    "Energy the GPU consumed since the driver loaded.",
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
    "NVENC encoder utilization.",
    "ratio", GPU_LABELS, exporter="gpu", replaces="nvidia_encoder_utilization")
GPU_DECODER_UTILIZATION = Metric(
    "ffwatt_gpu_decoder_utilization_ratio", "gauge",
    "NVDEC decoder utilization.",
    "ratio", GPU_LABELS, exporter="gpu", replaces="nvidia_decoder_utilization")
GPU_ENCODER_SESSIONS = Metric(
    "ffwatt_gpu_encoder_sessions", "gauge",
    "Active NVENC sessions.",
    "count", GPU_LABELS, exporter="gpu")
GPU_ENCODER_FPS = Metric(
    "ffwatt_gpu_encoder_average_fps", "gauge",
    "Average frames per second across active NVENC sessions.",
    "frames_per_second", GPU_LABELS, exporter="gpu")
GPU_MEMORY_USED = Metric(
    "ffwatt_gpu_memory_used_bytes", "gauge",
    "GPU memory in use.",
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
    "ratio", STREAM, exporter="ffmpeg", replaces="ffmpeg_speed")
FFMPEG_BITRATE = Metric(
    "ffwatt_ffmpeg_stream_bitrate_bits_per_second", "gauge",
    "Current output bitrate.",
    "bits_per_second", STREAM, exporter="ffmpeg", replaces="ffmpeg_bitrate_kbps")
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
