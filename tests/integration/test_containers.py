"""The exporter image and the compose stack, built and run on a private Docker Engine.

Nothing is pulled: scripts/images.py (the code `make images` runs) makes the Debian base
standing in for python:3.11-slim (mmdebstrap, cached under .cache/images/), the
wheelhouse, the exporter image from the project's Dockerfile (`docker build --network
none`), and VictoriaMetrics, vmalert and Prometheus images from Debian's binaries.

The engine runs with `--bridge=none` and no iptables (tests/servers.py): containers go
on user-defined networks, whose bridge the host reaches directly, so each exporter is
scraped at its container address. The engine's address pool is a random /24 in
10.213.0.0/16 that no host route uses, so engines of parallel runs do not collide.

Checked for every exporter of the catalog: /metrics is promtool clean and emits only
catalog metrics, /health answers, the image's HEALTHCHECK goes healthy (and unhealthy
when the results directory is missing), and the process runs as a non-root user with no
capabilities on a read-only root filesystem. Then the compose stack minus Grafana (no
image, no package) with a test override: every exporter job `up == 1` in VictoriaMetrics
and Prometheus, vmalert's rules loaded, every container healthy, and a complete teardown.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from ffwatt.catalog import EXPORTERS
from ffwatt.catalog import metrics as m
from ffwatt.testing.servers.docker import mounts_under
from ffwatt.testing.simulated.powercap import FakePowercap
from scripts import images
from tests.harness import catalog_mismatch, parse_samples, promtool_findings
from tests.servers import DockerEngine, require_binary, wait_http

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test_results"
UID = 10001  # the image's user (Dockerfile)
S = 1_000_000_000  # docker healthcheck durations are nanoseconds


def _host_networks() -> list[tuple[int, int]]:
    """(network, mask) of every IPv4 route on the host."""
    routes = []
    with open("/proc/net/route") as f:
        next(f)
        for line in f:
            fields = line.split()
            dest, mask = (struct.unpack("<I", bytes.fromhex(x))[0] for x in (fields[1], fields[7]))
            routes.append((dest, mask))
    return routes


def _free_pool() -> str:
    """A 10.213.X.0/24 that overlaps no host route."""
    used = _host_networks()
    for _ in range(100):
        x = random.randrange(1, 255)
        net = struct.unpack("<I", socket.inet_aton(f"10.213.{x}.0"))[0]
        if not any((net & mask) == (dest & mask) and mask for dest, mask in used):
            return f"10.213.{x}.0/24"
    raise RuntimeError("no free /24 in 10.213.0.0/16")


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    """A private engine for this module, with its own address pool (/26 networks)."""
    require_binary("docker")
    with DockerEngine(extra_args=["--default-address-pool", f"base={_free_pool()},size=26"]) as eng:
        root = eng.root
        yield eng
    leftover = mounts_under(root)
    assert not leftover, f"mounts left after the engine closed: {leftover}"


@pytest.fixture(scope="module")
def exporter_image(engine: DockerEngine) -> str:
    """The exporter image, built as `make images` builds it; timings printed (-s)."""
    if not Path(images.cache_dir(), f"base-{images.host_arch()}-{images.base_key(images.host_arch())}.tar").exists():
        require_binary("mmdebstrap")
    t0 = time.monotonic()
    base = images.import_base(docker_host=engine.base_url)
    t1 = time.monotonic()
    tag = images.build_exporter(docker_host=engine.base_url)
    t2 = time.monotonic()
    print(f"\nbase image {base}: {t1 - t0:.1f}s; exporter image: {t2 - t1:.1f}s")
    return tag


@pytest.fixture(scope="module")
def network(engine: DockerEngine):
    net = engine.client.networks.create("ffwatt-test", driver="bridge")
    yield net
    for c in engine.client.containers.list(all=True, filters={"network": net.id}):
        c.remove(force=True)
    net.remove()


@pytest.fixture(scope="module")
def powercap_dir() -> Iterator[Path]:
    """A fake RAPL tree in the kernel's layout, world-readable (the container user is 10001)."""
    base = Path(tempfile.mkdtemp(prefix="ffw-powercap-"))
    tree = FakePowercap(base, layout="kernel")
    tree.package(0, subzones=("core", "dram"), energy_uj=1_000_000)
    for d, _, _ in os.walk(base):
        os.chmod(d, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------
# one container per exporter


def _container_kwargs(name: str, engine: DockerEngine, powercap: Path, network=None) -> dict:
    """How each exporter is run here: its source mounted read-only, the image's user."""
    results = {"volumes": {str(RESULTS): {"bind": "/data/results", "mode": "ro"}},
               "environment": {"FFWATT_RESULTS_DIR": "/data/results"}}
    if name == "cpu":
        return {
            "volumes": {
                str(powercap / "class" / "powercap"): {"bind": "/host/sys/class/powercap", "mode": "ro"},
                str(powercap / "devices" / "virtual" / "powercap"):
                    {"bind": "/host/sys/devices/virtual/powercap", "mode": "ro"},
            },
            "environment": {"FFWATT_POWERCAP_ROOT": "/host/sys/class/powercap"},
        }
    if name == "docker":
        # the socket's group, not root, opens the Engine API
        return {
            "volumes": {str(engine.socket): {"bind": "/var/run/docker.sock", "mode": "ro"}},
            "environment": {"FFWATT_DOCKER_HOST": "unix:///var/run/docker.sock"},
            "group_add": [str(os.stat(engine.socket).st_gid)],
        }
    if name in ("results", "qoe", "cost"):
        return results
    if name == "rtmp":
        return {"environment": {"FFWATT_STAT_URL": "http://ffw-nginx-rtmp:8080/stat"}}
    if name == "ffmpeg" and network is not None:
        # pushes come from the runner's container on this network, never from loopback: open its subnet,
        # as the compose files open Docker's address pools
        network.reload()
        subnets = [c["Subnet"] for c in network.attrs["IPAM"]["Config"] if "Subnet" in c]
        return {"environment": {"FFWATT_PUSH_ALLOW": ",".join(subnets)}}
    if name == "health":
        targets = ",".join(f"{n}=http://ffw-{n}:{EXPORTERS[n].port}/metrics" for n in EXPORTERS if n != "health")
        return {"environment": {"FFWATT_TARGETS": targets}}
    return {}


def _run(engine: DockerEngine, image: str, network, name: str, command: list[str] | None, **kwargs):
    kwargs.setdefault("environment", {})
    return engine.client.containers.run(
        image, command, name=f"ffw-{name}", detach=True, network=network.name,
        read_only=True, tmpfs={"/tmp": "size=16m"}, cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
        # the image's HEALTHCHECK command, checked more often than its 15 s so the test is quick
        healthcheck={"interval": 2 * S, "timeout": 5 * S, "retries": 2, "start_period": 1 * S},
        **kwargs,
    )


def _address(container) -> str:
    container.reload()
    nets = container.attrs["NetworkSettings"]["Networks"]
    return next(iter(nets.values()))["IPAddress"]


def _wait_health_status(container, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == wanted:
            return
        if container.status == "exited":
            break
        time.sleep(0.5)
    log = container.logs(tail=30).decode("utf-8", "replace")
    health = json.dumps(container.attrs["State"].get("Health"), indent=1)[-1500:]
    raise AssertionError(f"{container.name}: health {status!r}, wanted {wanted!r}\n{health}\n--- log ---\n{log}")


def _proc_status(container) -> dict[str, str]:
    code, out = container.exec_run(["cat", "/proc/1/status"])
    assert code == 0, out
    return dict(line.split(":\t", 1) for line in out.decode().splitlines() if ":\t" in line)


@pytest.fixture(scope="module")
def nginx_rtmp(engine, network):
    """The stack's RTMP server from Dockerfile.nginx-rtmp, run like the exporters."""
    t0 = time.monotonic()
    tag = images.build_nginx_rtmp(docker_host=engine.base_url)
    print(f"\nnginx-rtmp image: {time.monotonic() - t0:.1f}s")
    c = _run(engine, tag, network, "nginx-rtmp", None)
    yield c
    c.remove(force=True)


@pytest.fixture(scope="module")
def exporter_containers(engine, exporter_image, network, powercap_dir, nginx_rtmp) -> dict:
    t0 = time.monotonic()
    started = {}
    for name in EXPORTERS:
        kwargs = _container_kwargs(name, engine, powercap_dir, network)
        started[name] = _run(engine, exporter_image, network, name, [name], **kwargs)
    for name, c in started.items():
        wait_http(f"http://{_address(c)}:{EXPORTERS[name].port}/metrics", timeout=60)
    t1 = time.monotonic()
    for c in started.values():
        _wait_health_status(c, "healthy")
    print(f"\n{len(started)} exporter containers answering /metrics: {t1 - t0:.1f}s, "
          f"healthy: {time.monotonic() - t0:.1f}s")
    yield started
    for c in started.values():
        c.remove(force=True)


@pytest.mark.parametrize("name", list(EXPORTERS))
def test_exporter_container_serves_clean_metrics(exporter_containers, name):
    c = exporter_containers[name]
    url = f"http://{_address(c)}:{EXPORTERS[name].port}"
    text = requests.get(url + "/metrics", timeout=10).text
    extra, _missing = catalog_mismatch(name, text)
    assert not extra, f"{name} emits metrics not in the catalog: {sorted(extra)}"
    assert promtool_findings(text) == "", f"promtool check metrics on {name}"
    health = requests.get(url + "/health", timeout=10).json()
    deadline = time.monotonic() + 30
    while health["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.5)
        health = requests.get(url + "/health", timeout=10).json()
    assert health["status"] == "ok", f"{name}: {health}"
    _wait_health_status(c, "healthy")


@pytest.mark.parametrize("name", list(EXPORTERS))
def test_exporter_container_is_unprivileged(exporter_containers, name):
    c = exporter_containers[name]
    c.reload()
    assert c.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert c.attrs["HostConfig"]["Privileged"] is False
    assert c.attrs["Config"]["User"] == str(UID)
    status = _proc_status(c)
    assert {int(x) for x in status["Uid"].split()} == {UID}, status["Uid"]
    for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, f"{field} {status[field]}"
    code, out = c.exec_run(["sh", "-c", "touch /usr/local/x"])
    assert code != 0 and b"Read-only file system" in out, out


def test_cpu_container_reads_the_powercap_tree(exporter_containers):
    c = exporter_containers["cpu"]
    text = requests.get(f"http://{_address(c)}:{EXPORTERS['cpu'].port}/metrics", timeout=10).text
    zones = {(lbl["socket"], lbl["zone"]) for lbl, _ in parse_samples(text)[m.CPU_ENERGY.name]}
    assert zones == {("0", "package"), ("0", "core"), ("0", "dram")}, text[:2000]


def test_health_container_reaches_every_other_exporter_by_name(exporter_containers):
    c = exporter_containers["health"]
    url = f"http://{_address(c)}:{EXPORTERS['health'].port}/metrics"

    def healthy_targets() -> set[str]:
        samples = parse_samples(requests.get(url, timeout=10).text)
        return {lbl["target"] for lbl, v in samples.get(m.HEALTH_TARGET_REACHABLE.name, []) if v == 1}

    want = {n for n in EXPORTERS if n != "health"}
    deadline = time.monotonic() + 40
    while (got := healthy_targets()) != want and time.monotonic() < deadline:
        time.sleep(1)
    assert got == want


def test_nginx_rtmp_container_takes_a_stream_the_rtmp_exporter_sees(nginx_rtmp, exporter_containers):
    ffmpeg = require_binary("ffmpeg")
    _wait_health_status(nginx_rtmp, "healthy")
    status = _proc_status(nginx_rtmp)
    assert "0" not in status["Uid"].split(), status["Uid"]  # www-data
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    rtmp = f"http://{_address(exporter_containers['rtmp'])}:{EXPORTERS['rtmp'].port}/metrics"

    def received() -> float:
        samples = parse_samples(requests.get(rtmp, timeout=10).text)
        return sum(v for _, v in samples.get(m.RTMP_SERVER_RECEIVED.name, []))

    before = received()
    # 2 s of a test pattern published as the runner's live mode does (FLV over RTMP)
    proc = subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
         "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-f", "flv",
         f"rtmp://{_address(nginx_rtmp)}:1935/live/ffwatt-test"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    deadline = time.monotonic() + 15
    while received() <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert received() > before


def test_healthcheck_goes_unhealthy_without_the_results_dir(engine, exporter_image, network):
    c = _run(engine, exporter_image, network, "results-broken", ["results"],
             environment={"FFWATT_RESULTS_DIR": "/data/missing"})
    try:
        hc = engine.client.images.get(exporter_image).attrs["Config"]["Healthcheck"]
        assert hc["Interval"] == 15 * S and hc["Retries"] == 3 and "/health" in " ".join(hc["Test"])
        _wait_health_status(c, "unhealthy")
        r = requests.get(f"http://{_address(c)}:{EXPORTERS['results'].port}/health", timeout=10)
        assert r.status_code == 503 and r.json()["status"] == "failing", r.text
    finally:
        c.remove(force=True)


# --------------------------------------------------------------------------
# the compose stack


COMPOSE_FILE = ROOT / "docker-compose.yml"


def _compose(project: str, files: list[Path], env: dict[str, str], *args: str, timeout: float = 300) -> str:
    cmd = [require_binary("docker-compose"), "-p", project, *(a for f in files for a in ("-f", str(f))),
           "--profile", "comparison", *args]
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


# Services no image can be made for here: no registry, and no Debian package.
NOT_STARTABLE = {"grafana": "no image, no package", "cadvisor": "no image, no package"}


def _override(compose: dict, powercap: Path, tags: dict[str, str]) -> dict:
    """Local images for the stack's servers; vmalert 1.79 without -notifier.blackhole
    (it has no such flag) and a notifier nobody answers; the cpu and streams exporters
    on the fake powercap tree; node-exporter's host root without `rslave` (this host's /
    is a private mount)."""
    services = compose["services"]
    vmalert_cmd = [a for a in services["vmalert"]["command"] if a != "-notifier.blackhole"]
    override = {
        "victoriametrics": {"image": tags["victoria-metrics"]},
        "vmalert": {"image": tags["vmalert"], "command": [*vmalert_cmd, "-notifier.url=http://127.0.0.1:9093"]},
        "prometheus": {"image": tags["prometheus"]},
    }
    # every service that reads the host's powercap tree (cpu, streams) reads the fake one:
    # this host has no /sys/devices/virtual/powercap, and Docker cannot create it
    for name, service in services.items():
        volumes = service.get("volumes", [])
        if any(str(v).startswith("/sys/devices/virtual/powercap:") for v in volumes):
            override[name] = {"volumes": [_fake_powercap(str(v), powercap) for v in volumes]}
    if "node-exporter" in services:
        volumes = [v.replace(":ro,rslave", ":ro") for v in services["node-exporter"].get("volumes", [])]
        override["node-exporter"] = {"image": tags["node-exporter"], "volumes": volumes}
    return {"services": override}


def _fake_powercap(volume: str, powercap: Path) -> str:
    """A compose volume with the host's /sys powercap paths swapped for the fake tree's."""
    for host in ("/sys/class/powercap", "/sys/devices/virtual/powercap"):
        if volume.startswith(host + ":"):
            return f"{powercap}{host.removeprefix('/sys')}{volume[len(host):]}"
    return volume


def _scraped_jobs(started: set[str]) -> set[str]:
    """Jobs of the generated scrape config that have targets among the started services."""
    scrape = yaml.safe_load((ROOT / "victoriametrics" / "scrape.yml").read_text())
    jobs = set()
    for job in scrape["scrape_configs"]:
        targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
        for sd in job.get("file_sd_configs", []):
            for f in sd["files"]:
                for group in yaml.safe_load((ROOT / "victoriametrics" / f).read_text()) or []:
                    targets += group.get("targets", [])
        if any(t.split(":")[0] in started for t in targets):
            jobs.add(job["job_name"])
    return jobs


def _wait_up(url: str, jobs: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    up: dict[str, float] = {}
    while time.monotonic() < deadline:
        try:
            r = requests.get(url + "/api/v1/query", params={"query": "up"}, timeout=5).json()
            up = {s["metric"]["job"]: float(s["value"][1]) for s in r["data"]["result"]}
            if all(up.get(j) == 1 for j in jobs):
                return up
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(1)
    raise AssertionError(f"{url}: up after {timeout:.0f}s: {up}; wanted 1 for {sorted(jobs)}")


def test_compose_stack_scrapes_every_exporter(engine, exporter_image, powercap_dir, tmp_path):
    t0 = time.monotonic()
    tags = {name: images.build_stack_image(name, docker_host=engine.base_url) for name in images.STACK_IMAGES}
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    if "nginx-rtmp" in compose["services"]:
        assert compose["services"]["nginx-rtmp"]["image"] == images.build_nginx_rtmp(docker_host=engine.base_url)
    override = tmp_path / "docker-compose.test.yml"
    override.write_text(yaml.safe_dump(_override(compose, powercap_dir, tags)))
    bind = f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"
    env = {"DOCKER_HOST": engine.base_url, "DOCKER_SOCKET": str(engine.socket), "FFWATT_BIND_ADDRESS": bind,
           "GRAFANA_ADMIN_PASSWORD": "unused-grafana-is-not-started", "RESULTS_DIR": str(RESULTS)}
    project = "ffwtest" + os.urandom(3).hex()
    files = [COMPOSE_FILE, override]
    config = yaml.safe_load(_compose(project, files, env, "config"))
    # the gpu exporter's profile needs NVIDIA's runtime
    services = [s for s, spec in config["services"].items()
                if s not in NOT_STARTABLE and set(spec.get("profiles", [])) <= {"comparison"}]
    # without an RTMP server in the stack, the rtmp exporter has nothing to read
    not_ok = set() if "nginx-rtmp" in services else {"ffwatt-rtmp"}
    t1 = time.monotonic()
    try:
        _compose(project, files, env, "up", "-d", "--no-build", *services)
        jobs = _scraped_jobs(set(services))
        assert {f"ffwatt-{n}" for n in EXPORTERS if n != "gpu"} <= jobs, jobs
        vm, prom = f"http://{bind}:8428", f"http://{bind}:9090"
        _wait_up(vm, jobs, timeout=90)
        _wait_up(prom, jobs, timeout=60)
        t2 = time.monotonic()

        alerts = yaml.safe_load((ROOT / "victoriametrics" / "alerts.yml").read_text())
        n_rules = sum(len(g["rules"]) for g in alerts["groups"])
        for rules_url in (f"http://{bind}:8880/api/v1/rules", vm + "/api/v1/rules"):  # vmalert, and via VM's proxy
            groups = requests.get(rules_url, timeout=10).json()["data"]["groups"]
            assert sum(len(g["rules"]) for g in groups) == n_rules, rules_url

        containers = {c.labels["com.docker.compose.service"]: c
                      for c in engine.client.containers.list(filters={"label": f"com.docker.compose.project={project}"})}
        assert set(containers) == set(services)
        for name, c in containers.items():
            if name not in not_ok:
                _wait_health_status(c, "healthy", timeout=90)
        if "nginx-rtmp" in containers:  # built from the project's Dockerfile: held to the exporters' rules
            status = _proc_status(containers["nginx-rtmp"])
            assert "0" not in status["Uid"].split() and int(status["CapEff"], 16) == 0, status
        print(f"\ncompose: server images {t1 - t0:.1f}s, every job up {t2 - t1:.1f}s after `up`, "
              f"all healthy {time.monotonic() - t1:.1f}s")
    finally:
        networks = [n.id for n in engine.client.networks.list(filters={"label": f"com.docker.compose.project={project}"})]
        _compose(project, files, env, "down", "-v", "--remove-orphans", "--timeout", "5")
    assert not engine.client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    assert not engine.client.networks.list(filters={"label": f"com.docker.compose.project={project}"})
    assert networks, "compose made no network"
    for net_id in networks:
        assert not Path(f"/sys/class/net/br-{net_id[:12]}").exists(), f"bridge br-{net_id[:12]} left behind"


# --------------------------------------------------------------------------
# the runner image against the exporter containers

RUNNER_SCENARIOS = """\
defaults: {preset: veryfast, resolution: 320x180, fps: 25, duration: 2, source: testsrc2}
scenarios:
  - {name: container libx264 @ 300k, encoder: libx264, bitrate: 300k}
"""


def test_runner_image_runs_a_benchmark_against_the_exporters(engine, exporter_containers, network, tmp_path):
    t0 = time.monotonic()
    tag = images.build_runner(docker_host=engine.base_url)
    t1 = time.monotonic()
    (tmp_path / "scenarios.yml").write_text(RUNNER_SCENARIOS)
    out = tmp_path / "results"
    out.mkdir()
    os.chmod(out, 0o777)  # the image's user writes here
    ended_before = _ffmpeg_streams_ended(exporter_containers["ffmpeg"])
    c = engine.client.containers.run(
        tag, ["run", "/scenarios.yml", "--no-quality", "--work-dir", "/tmp/work",
              "--progress-url", f"http://ffw-ffmpeg:{EXPORTERS['ffmpeg'].port}",
              "--cpu-metrics-url", "", "--gpu-metrics-url", ""],
        detach=True, network=network.name, read_only=True, tmpfs={"/tmp": "size=256m"}, cap_drop=["ALL"],
        volumes={str(tmp_path / "scenarios.yml"): {"bind": "/scenarios.yml", "mode": "ro"},
                 str(out): {"bind": "/data/results", "mode": "rw"}},
    )
    try:
        code = c.wait(timeout=240)["StatusCode"]
        log = c.logs().decode("utf-8", "replace")
    finally:
        c.remove(force=True)
    assert code == 0, log[-3000:]
    files = list(out.glob("test_results_*.json"))
    assert len(files) == 1, (files, log[-2000:])
    doc = json.loads(files[0].read_text())
    assert [s["name"] for s in doc["scenarios"]] == ["container libx264 @ 300k"]
    # the live progress reached the ffmpeg exporter container, and the stream ended there
    assert _ffmpeg_streams_ended(exporter_containers["ffmpeg"]) > ended_before, log[-2000:]
    print(f"\nrunner image: {t1 - t0:.1f}s; benchmark in a container: {time.monotonic() - t1:.1f}s")


def _ffmpeg_streams_ended(container) -> float:
    text = requests.get(f"http://{_address(container)}:{EXPORTERS['ffmpeg'].port}/metrics", timeout=10).text
    return sum(v for _, v in parse_samples(text).get(m.FFMPEG_ENDED.name, []))


# --------------------------------------------------------------------------
# arm64 under QEMU user emulation: minutes, so only when asked for


@pytest.mark.arm64  # deselected by default (pyproject addopts): `pytest -m arm64` runs it
def test_arm64_exporter_image_serves_metrics_under_emulation(engine, network):
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.fail("no qemu-aarch64 binfmt handler: install qemu-user-static binfmt-support arch-test")
    t0 = time.monotonic()
    tag = images.build_exporter("arm64", docker_host=engine.base_url, tag="ffwatt/exporters:arm64")
    t1 = time.monotonic()
    base = engine.client.images.get(images.base_tag("arm64")).attrs["Architecture"]
    # Docker 20.10's classic builder records the host's architecture on the steps it
    # commits, whatever the base: the files are arm64 (checked below), the label is not
    print(f"\narm64 base image architecture: {base}; "
          f"exporter image: {engine.client.images.get(tag).attrs['Architecture']}")
    c = engine.client.containers.run(
        tag, ["results"], name="ffw-results-arm64", detach=True, network=network.name, read_only=True,
        tmpfs={"/tmp": ""}, cap_drop=["ALL"], environment={"FFWATT_RESULTS_DIR": "/data/results"},
        volumes={str(RESULTS): {"bind": "/data/results", "mode": "ro"}})
    try:
        code, out = c.exec_run(["python", "-c", "import platform; print(platform.machine())"])
        assert (code, out.decode().strip()) == (0, "aarch64")
        url = f"http://{_address(c)}:{EXPORTERS['results'].port}"
        wait_http(url + "/metrics", timeout=180)
        text = requests.get(url + "/metrics", timeout=30).text
        assert not catalog_mismatch("results", text)[0]
        assert promtool_findings(text) == ""
    finally:
        c.remove(force=True)
    print(f"\narm64 exporter image: {t1 - t0:.1f}s (base tarball cached: "
          f"{images.cache_dir()}); /metrics under emulation after {time.monotonic() - t1:.1f}s")


def test_agent_container_serves_every_per_host_exporter(engine, exporter_image, network, powercap_dir):
    # The lab-host deployment (docker-compose.agent.yml): one container, one process, each exporter on
    # its own catalog port, unprivileged like the separate ones.
    names = ("cpu", "docker", "ffmpeg")
    kwargs: dict = {"volumes": {}, "environment": {}}
    for name in names:
        one = _container_kwargs(name, engine, powercap_dir)
        kwargs["volumes"].update(one.get("volumes", {}))
        kwargs["environment"].update(one.get("environment", {}))
        kwargs.setdefault("group_add", []).extend(one.get("group_add", []))
    agent = _run(engine, exporter_image, network, "agent", ["agent", "--exporters", ",".join(names)], **kwargs)
    try:
        address = _address(agent)
        deadline = time.monotonic() + 60
        for name in names:
            url = f"http://{address}:{EXPORTERS[name].port}"
            while True:
                try:
                    health = requests.get(url + "/health", timeout=5).json()
                    if health["status"] == "ok":
                        break
                except requests.RequestException:
                    health = None
                assert time.monotonic() < deadline, f"agent's {name}: {health}\n{agent.logs(tail=30).decode()}"
                time.sleep(0.5)
            text = requests.get(url + "/metrics", timeout=10).text
            assert promtool_findings(text) == "", f"promtool check metrics on the agent's {name}"
            assert not catalog_mismatch(name, text)[0]
        status = _proc_status(agent)
        assert {int(x) for x in status["Uid"].split()} == {UID}
        assert int(status["CapEff"], 16) == 0
    finally:
        agent.remove(force=True)
