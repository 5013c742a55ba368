"""The rendered stack configuration: fresh, derived from the catalog, internally consistent.

Scrape configs, target lists, alert rules, Grafana provisioning and the compose file all
come from ffwatt/deploy/; these tests read the committed copies.
"""

from __future__ import annotations

import re
from pathlib import Path

import promql_parser
import pytest
import yaml

from ffwatt.catalog import EXPORTERS, METRICS
from ffwatt.deploy import alerts, hosts, scrape, stack, templating, tree
from ffwatt.deploy.recording_rules import recording_rules
from ffwatt.exporters.health import load_targets_file

ROOT = Path(__file__).resolve().parents[2]


def _load(path: str):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


# --- staleness ---------------------------------------------------------------------------------


def test_committed_files_match_the_renderer() -> None:
    stale = [path for path, text in tree.render_repository(ROOT).items()
             if not (ROOT / path).exists() or (ROOT / path).read_text(encoding="utf-8") != text]
    assert not stale, f"stale generated files (run `python -m scripts.generate`): {stale}"


def test_renderer_is_registered_with_generate() -> None:
    from scripts.generate import GENERATORS

    assert "ffwatt.deploy.tree" in GENERATORS


def test_render_is_deterministic() -> None:
    assert tree.render_repository(ROOT) == tree.render_repository(ROOT)


# --- scrape configs ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["victoriametrics/scrape.yml", "victoriametrics/prometheus.yml"])
def test_every_exporter_has_a_job_with_its_interval_and_targets_file(path: str) -> None:
    jobs = {j["job_name"]: j for j in _load(path)["scrape_configs"]}
    assert set(jobs) == {e.job for e in EXPORTERS.values()} | set(scrape.THIRD_PARTY_SERVICES)
    for e in EXPORTERS.values():
        job = jobs[e.job]
        assert job["scrape_interval"] == f"{e.scrape_interval_seconds}s"
        assert templating.seconds(job["scrape_timeout"]) <= e.scrape_interval_seconds
        assert job["metrics_path"] == "/metrics"
        (sd,) = job["file_sd_configs"]
        assert sd["files"] == [f"targets/{e.name}.yml"]
        # relative to the config file, as VictoriaMetrics and Prometheus resolve it
        assert (ROOT / "victoriametrics" / sd["files"][0]).is_file()


def test_targets_files_use_catalog_ports() -> None:
    for e in EXPORTERS.values():
        doc = _load(f"victoriametrics/targets/{e.name}.yml")
        targets = [t for group in doc for t in group["targets"]]
        assert all(t.rsplit(":", 1)[1] == str(e.port) for t in targets), (e.name, targets)
        if e.name not in hosts.PER_HOST:
            assert targets == [f"ffwatt-{e.name}:{e.port}"]  # central, once, the compose service


def test_default_lab_is_the_compose_host_without_gpu() -> None:
    lab = hosts.load_hosts()
    assert lab.central == "ffwatt-{name}"
    (host,) = lab.hosts
    assert host.exporters == ("cpu", "docker", "ffmpeg", "streams")  # gpu only with --profile nvidia
    assert _load("victoriametrics/targets/gpu.yml") == []


def test_static_render_for_loopback_tests() -> None:
    text = scrape.render_scrape_config({"qoe": ["127.0.0.1:4001"], "results": ["127.0.0.1:4000", "127.0.0.1:4002"]},
                                   scrape_interval_override="1s")
    doc = yaml.safe_load(text)
    jobs = [(j["job_name"], j["scrape_interval"], j["static_configs"]) for j in doc["scrape_configs"]]
    assert jobs == [  # catalog order, only the exporters asked for
        ("ffwatt-results", "1s", [{"targets": ["127.0.0.1:4000", "127.0.0.1:4002"]}]),
        ("ffwatt-qoe", "1s", [{"targets": ["127.0.0.1:4001"]}]),
    ]
    assert all(j["scrape_timeout"] == "1s" for j in doc["scrape_configs"])


def test_static_render_keeps_catalog_intervals_without_override() -> None:
    doc = yaml.safe_load(scrape.render_scrape_config({e: [f"127.0.0.1:{i + 5000}"] for i, e in enumerate(EXPORTERS)}))
    assert {j["job_name"]: j["scrape_interval"] for j in doc["scrape_configs"]} == {
        e.job: f"{e.scrape_interval_seconds}s" for e in EXPORTERS.values()}


@pytest.mark.parametrize("override, expected", [(0.5, "500ms"), (2, "2s"), (60, "1m"), ("250ms", "250ms")])
def test_interval_override_forms(override, expected) -> None:
    doc = yaml.safe_load(scrape.render_scrape_config({"cpu": ["127.0.0.1:1"]}, scrape_interval_override=override))
    assert doc["scrape_configs"][0]["scrape_interval"] == expected


def test_static_render_rejects_bad_input() -> None:
    with pytest.raises(KeyError, match="nope"):
        scrape.render_scrape_config({"nope": ["127.0.0.1:1"]})
    with pytest.raises(TypeError):
        scrape.render_scrape_config({"cpu": "127.0.0.1:1"})
    with pytest.raises(ValueError):
        scrape.render_scrape_config({"cpu": ["127.0.0.1:1"]}, scrape_interval_override="fast")
    with pytest.raises(ValueError):
        scrape.render_scrape_config(flavor="thanos")


# --- lab hosts ---------------------------------------------------------------------------------


def test_a_plain_host_runs_every_per_host_exporter() -> None:
    lab = hosts.parse_hosts({"central": "metrics.lab", "hosts": ["lab1.example.net", "10.0.0.12", "fd00::7"]})
    assert [(h.name, h.address, h.exporters) for h in lab.hosts] == [
        ("lab1", "lab1.example.net", hosts.PER_HOST),
        ("10.0.0.12", "10.0.0.12", hosts.PER_HOST),
        ("fd00__7", "fd00::7", hosts.PER_HOST),
    ]
    targets = scrape.lab_targets(lab)
    assert targets["cpu"] == [("lab1-cpu", "lab1.example.net:9500"), ("10.0.0.12-cpu", "10.0.0.12:9500"),
                              ("fd00__7-cpu", "[fd00::7]:9500")]
    assert targets["results"] == [("results", "metrics.lab:9502")]


def test_rendered_targets_for_a_lab(tmp_path) -> None:
    lab = hosts.parse_hosts({"central": "ffwatt-{name}", "hosts": [
        {"name": "local", "address": "ffwatt-{name}", "exporters": ["cpu", "docker"]},
        {"address": "enc1.lab", "exporters": ["gpu", "cpu"]},
    ]})
    files = scrape.render_targets(lab)
    cpu = yaml.safe_load(files["victoriametrics/targets/cpu.yml"])
    assert cpu == [{"targets": ["ffwatt-cpu:9500", "enc1.lab:9500"]}]
    assert yaml.safe_load(files["victoriametrics/targets/gpu.yml"]) == [{"targets": ["enc1.lab:9505"]}]
    assert yaml.safe_load(files["victoriametrics/targets/ffmpeg.yml"]) == []
    # the health checker reads its file with its own loader
    path = tmp_path / "health-targets.yml"
    path.write_text(files[scrape.HEALTH_TARGETS])
    got = {(t.name, t.url, t.kind) for t in load_targets_file(path)}
    assert got == {
        ("local-cpu", "http://ffwatt-cpu:9500/metrics", "ffwatt"),
        ("local-docker", "http://ffwatt-docker:9501/metrics", "ffwatt"),
        ("enc1-cpu", "http://enc1.lab:9500/metrics", "ffwatt"),
        ("enc1-gpu", "http://enc1.lab:9505/metrics", "ffwatt"),
        ("results", "http://ffwatt-results:9502/metrics", "ffwatt"),
        ("qoe", "http://ffwatt-qoe:9503/metrics", "ffwatt"),
        ("cost", "http://ffwatt-cost:9504/metrics", "ffwatt"),
        ("rtmp", "http://ffwatt-rtmp:9728/metrics", "ffwatt"),  # central: one RTMP server per stack
        # the compose stack's third-party exporters
        ("node-exporter", "http://node-exporter:9100/metrics", "prometheus"),
        ("cadvisor", "http://cadvisor:8080/metrics", "prometheus"),
    }


def test_committed_health_targets_load_in_the_health_checker() -> None:
    targets = load_targets_file(ROOT / scrape.HEALTH_TARGETS)
    scraped = {t for e in EXPORTERS.values() if e.name != "health"
               for group in _load(f"victoriametrics/targets/{e.name}.yml") for t in group["targets"]}
    third_party = {f"{name}:{port}" for name, port in scrape.third_party_ports().items()}
    assert {t.url.removeprefix("http://").removesuffix("/metrics") for t in targets} == scraped | third_party


@pytest.mark.parametrize("doc, message", [
    ([], "expected a mapping"),
    ({"hosts": [], "extra": 1}, "unknown key"),
    ({"hosts": "lab1"}, "must be a list"),
    ({"hosts": [{"address": "lab1", "port": 1}]}, "unknown key"),
    ({"hosts": [{"address": "lab1", "exporters": ["results"]}]}, "not a per-host exporter"),
    ({"hosts": [{"address": "lab1", "exporters": ["nvml"]}]}, "not a per-host exporter"),
    ({"hosts": [{"address": "lab1", "exporters": ["cpu", "cpu"]}]}, "twice"),
    ({"hosts": [{"address": "lab1", "exporters": "cpu"}]}, "must be a list"),
    ({"hosts": ["lab1.a", "lab1.b"]}, "name lab1 appears twice"),
    ({"hosts": ["lab1", {"name": "other", "address": "lab1"}]}, "address lab1 appears twice"),
    ({"hosts": ["lab1:9500"]}, "no port"),
    ({"hosts": [{"address": ""}]}, "address must be"),
    ({"hosts": [{"address": "lab1", "name": "bad name"}]}, "name 'bad name'"),
    ({"central": "x/y"}, "not a host name"),
])
def test_bad_hosts_files_say_what_is_wrong(doc, message) -> None:
    with pytest.raises(hosts.HostsError, match=message):
        hosts.parse_hosts(doc)


def test_missing_hosts_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(hosts.HostsError, match="cannot read"):
        hosts.load_hosts(tmp_path / "hosts.yml")
    (tmp_path / "hosts.yml").write_text("hosts: [\n")
    with pytest.raises(hosts.HostsError, match="not valid YAML"):
        hosts.load_hosts(tmp_path / "hosts.yml")


# --- alert rules -------------------------------------------------------------------------------

SCRAPE_LABELS = {"job", "instance"}


def _rules(kind: str = "alert") -> list[dict]:
    """The alerting rules (kind "alert") or the recording rules ("record") of alerts.yml."""
    return [dict(r, group=g["name"]) for g in _load("victoriametrics/alerts.yml")["groups"] for r in g["rules"]
            if kind in r]


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def test_alert_expressions_select_only_catalog_metrics_or_up() -> None:
    jobs = {e.job for e in EXPORTERS.values()}
    for rule in _rules():
        selectors = _selectors(rule["expr"])
        assert selectors, rule["alert"]
        for sel in selectors:
            matchers = {mt.name: mt for mt in sel.matchers.matchers}
            if sel.name == "up":
                # only ffwatt's own jobs: a third-party `up` is not ours to page on
                job = matchers["job"]
                assert set(job.value.split("|")) == jobs, rule["alert"]
                continue
            assert sel.name in METRICS, f"{rule['alert']}: {sel.name} is not in the catalog"
            allowed = set(METRICS[sel.name].labels) | SCRAPE_LABELS
            assert set(matchers) <= allowed, (rule["alert"], sel.name, set(matchers) - allowed)


def test_recording_rules_select_only_catalog_metrics() -> None:
    records = _rules("record")
    assert [r["record"] for r in records] == [r.record for r in recording_rules()]
    for rule in records:
        selectors = _selectors(rule["expr"])
        assert selectors, rule["record"]
        for sel in selectors:
            assert sel.name in METRICS, f"{rule['record']}: {sel.name} is not in the catalog"


def test_every_alert_has_for_severity_and_annotations() -> None:
    rules = _rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert re.fullmatch(r"Ffwatt[A-Z][A-Za-z]+", rule["alert"])
        assert templating.seconds(rule["for"]) > 0, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert set(rule["annotations"]) == {"summary", "description"}
        assert all(len(text) > 20 for text in rule["annotations"].values())


def test_annotations_only_use_labels_the_expression_has() -> None:
    for rule in _rules():
        have = set(SCRAPE_LABELS)
        for sel in _selectors(rule["expr"]):
            if sel.name in METRICS:
                have |= set(METRICS[sel.name].labels)
        used = set(re.findall(r"\$labels\.([A-Za-z_]+)", " ".join(rule["annotations"].values())))
        assert used, rule["alert"]
        assert used <= have, (rule["alert"], used - have)


def test_expected_alerts_exist() -> None:
    exprs = {r["alert"]: r["expr"] for r in _rules()}
    assert exprs["FfwattGpuOverTemperature"] == "ffwatt_gpu_temperature_celsius > 85"
    assert exprs["FfwattDropRatioHigh"] == "ffwatt_qoe_drop_ratio > 0.01"
    assert exprs["FfwattTargetUnhealthy"] == "ffwatt_health_target_healthy == 0"
    assert exprs["FfwattExporterRefreshFailing"] == "ffwatt_exporter_up == 0"
    assert exprs["FfwattLiveStreamDroppingFrames"].startswith("rate(ffwatt_ffmpeg_stream_dropped_frames_total[")
    assert "FfwattExporterDown" in exprs


def test_for_override_and_thresholds() -> None:
    doc = yaml.safe_load(alerts.render_alert_rules(for_override="0s", thresholds={"gpu_temperature_celsius": 70,
                                                                               "drop_ratio": 0.05}))
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert {r["for"] for r in rules.values()} == {"0s"}
    assert rules["FfwattGpuOverTemperature"]["expr"].endswith("> 70")
    assert rules["FfwattDropRatioHigh"]["expr"].endswith("> 0.05")
    assert "5.00%" in rules["FfwattDropRatioHigh"]["annotations"]["description"]
    with pytest.raises(KeyError, match="cpu_temperature"):
        alerts.render_alert_rules(thresholds={"cpu_temperature": 1})
    with pytest.raises(ValueError):
        alerts.render_alert_rules(for_override="soon")


def test_no_metric_name_is_typed_outside_the_catalog() -> None:
    """Metric names reach the rules through catalog constants, never string literals."""
    sources = [*sorted((ROOT / "ffwatt" / "deploy").glob("*.py")), *sorted((ROOT / "ffwatt" / "deploy" / "templates").iterdir())]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        typed = set(re.findall(r"ffwatt_[a-z0-9_]+", text)) & set(METRICS)
        assert not typed, f"{path.name} spells catalog metric names: {sorted(typed)}"


# --- Grafana provisioning ----------------------------------------------------------------------


def test_datasources() -> None:
    doc = _load("provisioning/datasources/datasources.yml")
    by_uid = {d["uid"]: d for d in doc["datasources"]}
    vm, prom = by_uid["victoriametrics"], by_uid["prometheus"]
    assert vm["type"] == prom["type"] == "prometheus"
    assert vm["url"] == "http://victoriametrics:8428" and vm["isDefault"] is True
    assert prom["url"] == "http://prometheus:9090" and prom["isDefault"] is False
    fastest = min(e.scrape_interval_seconds for e in EXPORTERS.values())
    for ds in (vm, prom):
        assert ds["jsonData"]["timeInterval"] == f"{fastest}s"
        assert ds["jsonData"]["prometheusType"] == "Prometheus"
    # VictoriaMetrics' Grafana guidance: version 2.24 or later; the pinned Prometheus is 2.54.
    assert vm["jsonData"]["prometheusVersion"] == "2.24.0"
    assert prom["jsonData"]["prometheusVersion"] == "2.50.0"
    assert sum(d.get("isDefault", False) for d in doc["datasources"]) == 1


def test_dashboard_provider_points_at_the_compose_mount() -> None:
    (provider,) = _load("provisioning/dashboards/provider.yml")["providers"]
    assert provider["folder"] == "ffwatt" and provider["type"] == "file"
    assert provider["allowUiUpdates"] is False and provider["updateIntervalSeconds"] > 0
    grafana = _load("docker-compose.yml")["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith("./"))
    assert provider["options"]["path"] == mounts["./provisioning"] + "/dashboards"


# --- compose -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load("docker-compose.yml")


def test_every_exporter_is_a_compose_service(compose) -> None:
    services = compose["services"]
    for e in EXPORTERS.values():
        s = services[f"ffwatt-{e.name}"]
        assert s["command"] == [e.name]
        assert s["build"] == "." and s["image"] == stack.IMAGES["ffwatt"]
        assert s["environment"]["FFWATT_PORT"] == str(e.port)
        assert s["ports"] == [f"${{FFWATT_BIND_ADDRESS:-127.0.0.1}}:{e.port}:{e.port}"]
        assert f"127.0.0.1:{e.port}/health" in " ".join(s["healthcheck"]["test"])
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in s["security_opt"]


def test_least_privilege_for_host_readers(compose) -> None:
    services = compose["services"]
    cpu = services["ffwatt-cpu"]
    assert cpu["cap_add"] == ["DAC_READ_SEARCH"]
    assert "/sys/class/powercap:/host/sys/class/powercap:ro" in cpu["volumes"]
    assert all(v.endswith(":ro") for v in cpu["volumes"])
    assert cpu["environment"]["FFWATT_POWERCAP_ROOT"] == "/host/sys/class/powercap"
    docker = services["ffwatt-docker"]
    assert docker["volumes"] == ["${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock:ro"]
    assert "cap_add" not in docker
    for name in ("results", "qoe", "cost", "gpu", "ffmpeg", "health"):
        assert "cap_add" not in services[f"ffwatt-{name}"] and "user" not in services[f"ffwatt-{name}"]
    for name in ("results", "qoe", "cost"):
        assert services[f"ffwatt-{name}"]["volumes"] == ["${RESULTS_DIR:-./test_results}:/data/results:ro"]


def test_profiles(compose) -> None:
    services = compose["services"]
    gpu = services["ffwatt-gpu"]
    assert gpu["profiles"] == ["nvidia"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu", "utility"]}
    assert services["prometheus"]["profiles"] == ["comparison"]
    assert [n for n, s in services.items() if "profiles" in s] == ["prometheus", "ffwatt-gpu"]


def test_stack_services(compose) -> None:
    services = compose["services"]
    for name, s in services.items():
        assert "healthcheck" in s, name
        assert s["restart"] == "unless-stopped", name
    for name in ("victoriametrics", "vmalert", "grafana", "prometheus"):
        image = services[name]["image"]
        assert re.fullmatch(r"[a-z0-9/_-]+:v?\d+\.\d+\.\d+", image), image  # pinned, never :latest
    vm = services["victoriametrics"]["command"]
    assert "-retentionPeriod=${VM_RETENTION:-30d}" in vm
    assert "-search.latencyOffset=1s" in vm
    assert "-promscrape.config=/etc/victoriametrics/scrape.yml" in vm
    alert = services["vmalert"]["command"]
    assert "-rule=/etc/victoriametrics/alerts.yml" in alert and "-notifier.blackhole" in alert
    assert "-datasource.url=http://victoriametrics:8428" in alert
    assert "-remoteWrite.url=http://victoriametrics:8428" in alert
    env = services["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "./provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    assert services["ffwatt-health"]["environment"]["FFWATT_TARGETS_FILE"] == "/etc/victoriametrics/health-targets.yml"
    assert services["ffwatt-cost"]["environment"]["FFWATT_TSDB_URL"] == "http://victoriametrics:8428"


def test_third_party_services(compose) -> None:
    """The older stack's node-exporter, cAdvisor and nginx-rtmp: pinned (or built here),
    health-checked, scraped and probed under their service names."""
    services = compose["services"]
    assert services["node-exporter"]["image"] == "prom/node-exporter:v1.8.2"
    assert services["cadvisor"]["image"] == "gcr.io/cadvisor/cadvisor:v0.49.1"
    nginx = services["nginx-rtmp"]
    assert nginx["build"] == {"context": ".", "dockerfile": "Dockerfile.nginx-rtmp"}
    assert nginx["read_only"] is True and nginx["cap_drop"] == ["ALL"]
    assert services["ffwatt-rtmp"]["environment"]["FFWATT_STAT_URL"] == "${RTMP_STAT_URL:-http://nginx-rtmp:8080/stat}"
    node = services["node-exporter"]
    assert node["read_only"] is True and node["cap_drop"] == ["ALL"] and "user" not in node
    for name in ("node-exporter", "cadvisor", "nginx-rtmp"):
        assert "wget" in services[name]["healthcheck"]["test"], name
    jobs = {j["job_name"]: j for j in _load("victoriametrics/scrape.yml")["scrape_configs"]}
    for name, port in scrape.third_party_ports().items():
        assert jobs[name]["static_configs"] == [{"targets": [f"{name}:{port}"]}]


def test_compose_mounts_what_the_configs_reference(compose) -> None:
    for name in ("victoriametrics", "vmalert", "prometheus", "ffwatt-health"):
        assert "./victoriametrics:/etc/victoriametrics:ro" in compose["services"][name]["volumes"], name


# --- image -------------------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # python:3.11-slim pinned by digest unless a build passes another base (scripts/images.py: offline)
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}$", text, re.M)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert '\nENTRYPOINT ["ffwatt", "exporter"]\n' in text
    assert re.search(r"^HEALTHCHECK .*\n(.*\n)*.*/health", text, re.M)
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ignore[ignore.index("*") + 1:][:3] == ["!pyproject.toml", "!README.md", "!ffwatt/"]
    for package in ("catalog", "contract", "common", "readers", "exporters", "cli"):  # what `pip install /src` needs
        assert f"COPY ffwatt/{package} /src/ffwatt/{package}" in text, package
    for package in ("runner", "report", "testing", "dashboards_src"):  # not in the exporter image
        assert f"COPY ffwatt/{package} " not in text, package


def test_agent_compose_publishes_on_loopback_unless_an_address_is_set() -> None:
    text = stack.render_agent_compose()
    ports = [line.strip() for line in text.splitlines() if line.strip().startswith('- "${FFWATT_BIND_ADDRESS')]
    assert len(ports) == 5 and all(p.startswith('- "${FFWATT_BIND_ADDRESS:-127.0.0.1}:') for p in ports), ports
    assert "0.0.0.0:" not in text  # no port published on every interface by default
    assert text == (ROOT / "docker-compose.agent.yml").read_text(encoding="utf-8")  # the checked-in copy is this


def test_agent_compose_for_lab_hosts() -> None:
    import shutil
    import subprocess

    from ffwatt.catalog import EXPORTERS

    agent_file = _load("docker-compose.agent.yml")
    agent = agent_file["services"]["ffwatt-agent"]
    per_host = [e for e in EXPORTERS.values() if e.per_host and e.name != "gpu"]
    assert agent["command"] == ["agent", "--exporters", ",".join(e.name for e in per_host)]
    assert sorted(p.rsplit(":", 1)[1] for p in agent["ports"]) == sorted(str(e.port) for e in per_host)
    assert agent["cap_drop"] == ["ALL"] and agent["cap_add"] == ["DAC_READ_SEARCH"] and agent["read_only"] is True
    assert agent_file["services"]["ffwatt-gpu"]["profiles"] == ["nvidia"]  # the GPU reservation stays apart
    if shutil.which("docker-compose"):
        done = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.agent.yml"), "config", "-q"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_every_pulled_base_image_is_pinned_by_digest() -> None:
    # A tag moves under a rebuild; a digest names one image. Local images (built here) are exempt.
    for name in ("Dockerfile", "Dockerfile.nginx-rtmp", "Dockerfile.runner"):
        text = (ROOT / name).read_text(encoding="utf-8")
        defaults = re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, re.M)
        assert defaults, name
        for arg, image in defaults:
            assert image.endswith(":local") or re.search(r"@sha256:[0-9a-f]{64}$", image), (name, arg, image)
        for base in re.findall(r"^FROM (\S+)", text, re.M):
            assert base.startswith("${") and base.split()[0].endswith("}"), (name, base)  # every FROM is an ARG


# --- a lab host's vmagent (issue 25) -----------------------------------------------------------


def _flags(command: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for arg in command:
        name, _, value = arg.lstrip("-").partition("=")
        out.setdefault(name, []).append(value)
    return out


def test_agent_vmagent_remote_writes_with_a_host_label_through_a_disk_buffer() -> None:
    agent_file = _load("docker-compose.agent.yml")
    vmagent = agent_file["services"]["vmagent"]
    assert vmagent["profiles"] == ["fleet"]  # a single host scraped centrally needs none
    flags = _flags(vmagent["command"])
    assert flags["remoteWrite.url"] == ["${FFWATT_REMOTE_WRITE_URL:-http://ffwatt-central:8428/api/v1/write}"]
    assert flags["remoteWrite.label"] == ["host=${FFWATT_HOST:-unnamed}"]
    assert flags["remoteWrite.maxDiskUsagePerURL"] == ["${FFWATT_VMAGENT_BUFFER:-1GB}"]
    buffer = flags["remoteWrite.tmpDataPath"][0]
    volumes = {v.split(":")[1]: v.split(":")[0] for v in vmagent["volumes"]}
    assert volumes[buffer] in agent_file["volumes"], "the buffer is on a named volume: it outlives the container"
    config = flags["promscrape.config"][0]
    mount, _, name = config.rpartition("/")
    assert name == "${FFWATT_VMAGENT_CONFIG:-scrape.yml}"
    assert volumes[mount] == f"./{scrape.VMAGENT_DIR}"
    assert (ROOT / scrape.VMAGENT_DIR / "scrape.yml").is_file() and (ROOT / scrape.VMAGENT_DIR / "scrape-nvidia.yml").is_file()
    assert vmagent["read_only"] is True and vmagent["cap_drop"] == ["ALL"] and "ports" not in vmagent


@pytest.mark.parametrize(("name", "gpu"), [("scrape.yml", False), ("scrape-nvidia.yml", True)])
def test_vmagent_scrapes_the_agent_services_in_the_central_jobs(name: str, gpu: bool) -> None:
    config = _load(f"{scrape.VMAGENT_DIR}/{name}")
    central = {job["job_name"]: job for job in _load("victoriametrics/scrape.yml")["scrape_configs"]}
    services = _load("docker-compose.agent.yml")["services"]
    expected = {e.job: e for e in EXPORTERS.values() if e.per_host and (gpu or e.name != "gpu")}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(expected)
    for job_name, job in jobs.items():
        e = expected[job_name]
        assert job["scrape_interval"] == central[job_name]["scrape_interval"]  # same rate() windows as the central
        (target,) = job["static_configs"][0]["targets"]
        service, port = target.rsplit(":", 1)
        assert service in services and int(port) == e.port, target


def test_vmagent_config_for_loopback_targets() -> None:
    text = scrape.render_vmagent_config({"results": ["127.0.0.1:41234"]}, scrape_interval_override="1s")
    doc = yaml.safe_load(text)
    assert [j["job_name"] for j in doc["scrape_configs"]] == [EXPORTERS["results"].job]
    assert doc["scrape_configs"][0]["scrape_interval"] == "1s"
    assert doc["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:41234"]}]
    assert "do not edit" not in text  # only the committed renders say they are generated
    with pytest.raises(KeyError, match="nosuch"):
        scrape.render_vmagent_config({"nosuch": ["127.0.0.1:1"]})


def test_central_compose_says_where_remote_writes_go() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "/api/v1/write" in text and "vmauth" in text
