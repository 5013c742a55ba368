"""The options of `ffwatt run`, `ffwatt worker` and `ffwatt score`, each declared once.

Each struct IS the declaration: every field is an `option(...)` (`common.settings`) carrying its
help, parser and environment variable `FFWATT_<FLAG>`; the CLI builds its parser from the struct
(`add_options`) and the struct from the parsed args (`options_from`). The flag wins, then the
variable, then the default. Code that runs without the CLI (tests, the fleet) builds the struct
directly and gets the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ffwatt.common.settings import (
    boolean,
    non_negative_float,
    non_negative_int,
    option,
    port_number,
    positive_float,
    positive_int,
    settings_of,
)
from ffwatt.contract import formulas
from ffwatt.energy import rapl_source
from ffwatt.energy.idle import DEFAULT_PROBE_SECONDS
from ffwatt.scenarios import bundled, resolve

__all__ = ["CertsOptions", "DEFAULT_MAX_NAME_LENGTH", "DEFAULT_MAX_SCENARIOS", "DEFAULT_POWERCAP_ROOT", "RUN_SETTINGS",
           "RunOptions", "SchedulerOptions", "ScoreOptions", "WorkerOptions"]

DEFAULT_MAX_SCENARIOS = 10_000  # after matrix expansion; `ffwatt run --max-scenarios`
DEFAULT_MAX_NAME_LENGTH = 256  # characters of a scenario's name: a label value of every series of it
MAX_NAME_LENGTH_CAP = 4096  # --max-name-length itself is bounded: it also bounds a name template's widths

DEFAULT_POWERCAP_ROOT = Path(rapl_source.DEFAULT_POWERCAP_ROOT)


def _url(text: str) -> str | None:
    return text.strip() or None  # '' disables


def _rtmp_url(text: str) -> str | None:
    value = text.strip().rstrip("/")
    if not value:
        return None  # '' means: start our own server
    if not value.startswith(("rtmp://", "rtmps://")) or value.count("/") < 3:
        raise ValueError(f"expected an RTMP application URL like rtmp://host:1935/live, got {text!r}")
    return value


def _order(text: str) -> str:
    value = text.strip()
    if value not in ("shuffled", "sequential"):
        raise ValueError(f"expected 'shuffled' or 'sequential', got {text!r}")
    return value


def _name_length(text: str) -> int:
    value = positive_int(text)
    if value > MAX_NAME_LENGTH_CAP:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH_CAP}, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"expected a share of the CPUs from 0 (excluded) to 1, got {text!r}")
    return value


def _scenario_file(text: str) -> Path:
    return resolve(text)


_FFMPEG_HELP = "ffmpeg binary (default: the static ffmpeg of imageio-ffmpeg, which has libvmaf, else PATH)."


def _tls(which: str, role: str):
    """One of the lab's mutual-TLS flags of `role` (docs/fleet.md; ffwatt/runner/execute/fleet/lab_tls.py)."""
    helps = {"dir": f"Folder of the lab's certificates (`ffwatt fleet certs DIR`): ca.pem, {role}.pem and "
                    f"{role}-key.pem; turns on mutual TLS (tls:// addresses), needed off loopback.",
             "ca": "The lab's CA certificate (default: ca.pem in --tls-dir).",
             "cert": f"This {role}'s certificate (default: {role}.pem in --tls-dir).",
             "key": f"This {role}'s private key, mode 0600 (default: {role}-key.pem in --tls-dir)."}
    return option(None, helps[which], Path)


@dataclass(frozen=True)
class RunOptions:
    """`ffwatt run SCENARIOS`."""

    scenario_file: Path = option(help="scenario file, or the name of a bundled one: "
                                 f"{', '.join(bundled())} (e.g. `ffwatt run quick`)",
                                 type=_scenario_file, positional=True)
    results_dir: Path = option(Path("test_results"), "Directory the results file is written to.", Path)
    ffmpeg: str | None = option(None, _FFMPEG_HELP)
    resume: bool = option(False, "Continue the newest results file of this scenario file, skipping completed "
                          "scenarios.", boolean, switch=True)
    dry_run: bool = option(False, "Print the expanded scenarios and the exact ffmpeg commands; run nothing.",
                           boolean, switch=True)
    events: Path | None = option(None, "Append NDJSON events (scenario-start, progress, scenario-done, ...) to "
                                 "this file.", Path)
    # None, like the meter URLs: a plain run pushes to no exporter nobody started.
    progress_url: str | None = option(None, "Base URL of an ffmpeg exporter to push live progress to, http:// "
                                      "or https://, e.g. http://127.0.0.1:9506 (default: none).", _url)
    progress_token_file: Path | None = option(None, "File with the token the ffmpeg exporter wants (its "
                                              "--push-token-file); sent as 'Authorization: Bearer <token>' with "
                                              "every progress push.", Path)
    # Energy (docs/energy.md): with none of the three URLs the runner measures in process.
    cpu_metrics_url: str | None = option(None, "Read the joules counters from this cpu (RAPL) exporter's /metrics "
                                         "instead of in process (another host, a running stack); unreachable: "
                                         "the energy is unknown.", _url)
    gpu_metrics_url: str | None = option(None, "Read the joules counters from this gpu (NVML) exporter's /metrics "
                                         "instead of in process.", _url)
    tsdb_url: str | None = option(None, "VictoriaMetrics base URL: read the joules increase from it instead.", _url)
    exporter_ca_file: Path | None = option(None, "CA file to verify https exporter, progress and TSDB URLs against "
                                           "(exporters behind a web config, docs/security.md); credentials go in "
                                           "the URL (https://user:password@host:9500/metrics) and are never "
                                           "logged.", Path)
    sample_interval: float = option(1.0, "Seconds between power and CPU samples.", positive_float)
    tdp_watts: float | None = option(None, "The CPU package's TDP in watts, for the model used without "
                                     "RAPL/NVML: divided by the package's hardware threads (--package-threads, "
                                     "else the CPU name's core count or, on bare metal, /proc/cpuinfo); refused "
                                     "under a hypervisor without --package-threads (default: the CPU model's TDP "
                                     "from ffwatt/energy/data/cpu_power.csv).", positive_float)
    package_threads: int | None = option(None, "Hardware threads of the CPU package the TDP is the package's "
                                         "(the host's, under a hypervisor): what --tdp-watts or the table's TDP "
                                         "is divided by.", positive_int)
    watts_per_thread: float | None = option(None, "The model's watts per hardware thread at full load, given "
                                            "directly (instead of --tdp-watts / --package-threads).",
                                            positive_float)
    proc_stat: str = option("/proc/stat", "The machine's CPU time, read by the meter (in a container, the "
                            "host's: e.g. /host/proc/stat).", str.strip)
    idle_threshold: float = option(formulas.DEFAULT_IDLE_BUSY_SHARE, "A window is idle (an idle baseline, the "
                                   "idle probe) only while the machine keeps under this share of its CPUs busy "
                                   "(0..1); a busier baseline is flagged idle_rejected and not used.", _share)
    idle_probe: bool = option(True, "Do not take the idle probe (the idle power is then an accepted idle "
                              "baseline's, else the CPU model's idle term).", boolean, flag="no-idle-probe",
                              switch=True)
    idle_probe_seconds: float = option(DEFAULT_PROBE_SECONDS, "Seconds of the idle probe the runner takes before "
                                       "the first encode when energy is counted and no idle baseline was "
                                       "accepted yet.", positive_float)
    powercap_root: str = option(str(DEFAULT_POWERCAP_ROOT), "The in-process meter's RAPL powercap root (a tree "
                                "marked simulated, as the demo's, is recorded as 'simulated').", str.strip)
    exclusive: bool = option(False, "Nothing else runs on this machine: a scenario's energy is the machine's "
                             "(no attribution by CPU time).", boolean, switch=True)
    seed: int | None = option(None, "Seed of the shuffled order of each round (default: drawn at random, "
                              "recorded).", non_negative_int)
    order: str = option("shuffled", "'shuffled': repeat N is N rounds over the whole matrix, each in a shuffled "
                        "order; 'sequential': the file's order, repetitions back to back.", _order)
    min_window: float = option(2.0, "Encode a short scenario again, back to back, until its measurement window "
                               "is this many seconds (every figure per single encode).", non_negative_float)
    cool_down: float = option(0.0, "Seconds to wait after each measurement.", non_negative_float)
    work_dir: Path | None = option(None, "Where encoded outputs go (default: a temp dir, removed at the end).",
                                   Path)
    keep_outputs: bool = option(False, "Keep the encoded files in the work dir.", boolean, switch=True)
    quality: bool = option(True, "Skip the VMAF/PSNR/SSIM pass.", boolean, flag="no-quality", switch=True)
    rtmp_url: str | None = option(None, "Live mode: publish to this existing RTMP application "
                                  "(rtmp://host:1935/live) instead of starting the runner's own nginx-rtmp ('' "
                                  "starts our own).", _rtmp_url)
    rtmp_stat_url: str | None = option(None, "The /stat URL of the --rtmp-url server (to wait for a stream to "
                                       "close).", _url)
    rtmp_record_dir: Path | None = option(None, "Where the --rtmp-url server records streams (<dir>/<stream>.flv):"
                                          " live quality is scored on those recordings (without it, live quality"
                                          " is not measured).", Path)
    nginx: str = option("nginx", "nginx binary for the runner's own RTMP server (needs the Debian packages nginx "
                        "libnginx-mod-rtmp).")
    max_scenarios: int = option(DEFAULT_MAX_SCENARIOS, "Refuse a scenario file that expands to more scenarios "
                                "(matrix bombs).", positive_int)
    max_name_length: int = option(DEFAULT_MAX_NAME_LENGTH, "Refuse a scenario name (a name template's result, a "
                                  "sweep step's name) longer than this many characters (at most 4096).", _name_length)
    cluster: str | None = option(None, "Run the scenarios on the workers of this Dask scheduler instead of here: "
                                 "tls://host:8786 with the lab's --tls-dir, or a loopback tcp://127.0.0.1:8786 "
                                 "(start `ffwatt scheduler` and one `ffwatt worker SCHEDULER` per lab host, "
                                 "docs/fleet.md).", _url)
    pin_host: bool = option(False, "With --cluster: run every repetition of a scenario on the same host (energy "
                            "compares within one host).", boolean, switch=True)
    tls_dir: Path | None = _tls("dir", "client")
    tls_ca: Path | None = _tls("ca", "client")
    tls_cert: Path | None = _tls("cert", "client")
    tls_key: Path | None = _tls("key", "client")


RUN_SETTINGS = settings_of(RunOptions)


@dataclass(frozen=True)
class WorkerOptions:
    """`ffwatt worker SCHEDULER`: this lab host as a fleet worker (docs/fleet.md)."""

    scheduler: str = option(help="the Dask scheduler's address: tls://10.0.0.5:8786 with --tls-dir, else a loopback "
                            "tcp://127.0.0.1:8786", positional=True)
    name: str | None = option(None, "This host's name in results files (default: the hostname).",
                              env=False)
    listen_host: str = option("127.0.0.1", "Address the worker listens on; a scheduler on another host needs "
                              "this host's address (and the lab's TLS: --tls-dir).")
    listen_port: int = option(0, "Port the worker listens on (default 0: one of the system's choosing; give one to "
                              "open in a firewall).", port_number)
    reconnect_timeout: float = option(60.0, "Seconds to keep trying to rejoin a lost scheduler before exiting "
                                      "with status 1 (a service manager then restarts the worker).",
                                      non_negative_float)
    ffmpeg: str | None = option(None, _FFMPEG_HELP)
    work_dir: Path | None = option(None, "Where encodes are written (default: a temp dir, removed at exit).", Path)
    powercap_root: Path = option(DEFAULT_POWERCAP_ROOT, "Powercap tree to check RAPL on.", Path)
    tls_dir: Path | None = _tls("dir", "worker")
    tls_ca: Path | None = _tls("ca", "worker")
    tls_cert: Path | None = _tls("cert", "worker")
    tls_key: Path | None = _tls("key", "worker")
    connect_timeout: float = field(default=30.0)  # not a flag: seconds to reach the scheduler at start


@dataclass(frozen=True)
class SchedulerOptions:
    """`ffwatt scheduler`: the lab's Dask scheduler (docs/fleet.md)."""

    # no variables for these: FFWATT_HOST is the lab host's name for vmagent (docs/fleet.md)
    host: str = option("127.0.0.1", "Address to listen on; beyond loopback only with the lab's TLS (--tls-dir).",
                       env=False)
    port: int = option(8786, "Port to listen on.", port_number, env=False)
    dashboard: str | None = option(None, "Serve Dask's dashboard (no authentication) at this loopback HOST:PORT, "
                                   "e.g. 127.0.0.1:8787 (default: none).", _url, env=False)
    tls_dir: Path | None = _tls("dir", "scheduler")
    tls_ca: Path | None = _tls("ca", "scheduler")
    tls_cert: Path | None = _tls("cert", "scheduler")
    tls_key: Path | None = _tls("key", "scheduler")


@dataclass(frozen=True)
class CertsOptions:
    """`ffwatt fleet certs DIR`: the lab's CA and a certificate per role (docs/fleet.md)."""

    folder: Path = option(help="folder to write ca.pem, ca-key.pem and scheduler/worker/client .pem and -key.pem to",
                          type=Path, positional=True, metavar="DIR")
    days: int = option(825, "Days the CA and the certificates are valid.", positive_int, env=False)


@dataclass(frozen=True)
class ScoreOptions:
    """`ffwatt score DISTORTED REFERENCE` (docs/quality.md)."""

    distorted: Path = option(help="the encoded file", type=Path, positional=True)
    reference: Path = option(help="the file it was encoded from", type=Path, positional=True)
    ffmpeg: str | None = option(None, _FFMPEG_HELP)
    resolution: str = option("source", "Where to score: source (the reference's size; the distorted upscaled "
                             "with bicubic), encode (the distorted's size) or WxH.", env=False)
    model: str | None = option(None, "VMAF model (default: vmaf_4k_v0.6.1 when scored at 2160p or above, else "
                               "vmaf_v0.6.1).", env=False)
    json: bool = option(False, "Print the figures as JSON.", boolean, switch=True, env=False)
    frames_csv: Path | None = option(None, "Write per-frame scores to FILE.", Path, env=False, metavar="FILE")
    force: bool = option(False, "Frame rates that differ: resample the distorted to the reference's rate (and say "
                         "so) instead of refusing the pair.", boolean, switch=True, env=False)
