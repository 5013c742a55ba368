"""Health checker: target configuration (defaults, flag, env, YAML, third-party) and the
classification of answers, without real servers (a refused loopback port at most)."""

from __future__ import annotations

import os

import pytest
import requests
import urllib3

from ffwatt.catalog import EXPORTERS, HEALTH_REASONS, metrics_of
from ffwatt.catalog import metrics as m
from ffwatt.exporters.health import (
    THIRD_PARTY,
    HealthExporter,
    Target,
    TargetConfigError,
    classify_exposition,
    classify_health,
    configured_targets,
    default_targets,
    error_reason,
    expected_for,
    load_targets_file,
    metrics_url,
    parse_targets_setting,
    third_party_targets,
)
from ffwatt.exporters.runtime import build
from ffwatt.exporters.samples import Samples
from tests.fake_targets import catalog_exposition, health_json
from tests.servers import free_port

FFWATT = [name for name in EXPORTERS if name != "health"]


def make(*argv: str, env: dict[str, str] | None = None) -> HealthExporter:
    return build(HealthExporter, ["--listen-address", "127.0.0.1", "--port", "0", *argv],
                 environ=env or {}).exporter


@pytest.fixture
def built():
    """build() binds a server socket; close them after the test."""
    made = []

    def _make(*argv, env=None):
        rt = build(HealthExporter, ["--listen-address", "127.0.0.1", "--port", "0", *argv], environ=env or {})
        made.append(rt)
        return rt.exporter

    yield _make
    for rt in made:
        rt.server.server_close()


# --- targets ---------------------------------------------------------------------------------


def test_defaults_are_every_ffwatt_exporter_but_health_at_its_port(built):
    exp = built()
    assert [t.name for t in exp.targets] == FFWATT
    for t in exp.targets:
        assert t.url == f"http://localhost:{EXPORTERS[t.name].port}/metrics"
        assert t.health_url == f"http://localhost:{EXPORTERS[t.name].port}/health"
        assert t.kind == "ffwatt"
        assert set(t.expect) == {x.name for x in metrics_of(t.name)}
    assert exp.source == "catalog defaults"
    assert exp.timeout == 5.0
    assert exp.config.refresh_interval == EXPORTERS["health"].scrape_interval_seconds


def test_target_host_flag_env_and_name_template(built):
    assert {t.url for t in built("--target-host", "10.0.0.7").targets} == {
        f"http://10.0.0.7:{EXPORTERS[n].port}/metrics" for n in FFWATT}
    assert built(env={"FFWATT_TARGET_HOST": "box"}).targets[0].url.startswith("http://box:")
    assert built("--target-host", "h", env={"FFWATT_TARGET_HOST": "box"}).targets[0].url.startswith("http://h:")
    by_name = {t.name: t.url for t in default_targets("ffwatt-{name}")}
    assert by_name["cost"] == f"http://ffwatt-cost:{EXPORTERS['cost'].port}/metrics"
    assert default_targets("::1")[0].url.startswith("http://[::1]:")


def test_third_party_adds_known_exporters(built):
    exp = built("--third-party", "node-exporter, cadvisor", "--target-host", "h")
    extra = {t.name: t for t in exp.targets if t.name not in EXPORTERS}
    assert extra == {
        "node-exporter": Target("node-exporter", "http://h:9100/metrics", "prometheus", ("node_cpu_seconds_total",)),
        "cadvisor": Target("cadvisor", "http://h:8080/metrics", "prometheus",
                           ("container_cpu_usage_seconds_total",)),
    }
    assert len(exp.targets) == len(FFWATT) + 2
    assert exp.source == "catalog defaults + --third-party"
    assert [t.name for t in built(env={"FFWATT_THIRD_PARTY": "cadvisor"}).targets][-1] == "cadvisor"
    assert third_party_targets("") == []


def test_nginx_rtmp_is_the_catalog_rtmp_exporter_not_a_third_party():
    # the older stack's third-party nginx-rtmp exporter on 9728 is replaced by ffwatt's own
    assert "nginx-rtmp" not in THIRD_PARTY
    (rtmp,) = [t for t in default_targets("h") if t.name == "rtmp"]
    assert rtmp.url == "http://h:9728/metrics" and rtmp.kind == "ffwatt"
    with pytest.raises(TargetConfigError, match="unknown exporter 'nginx-rtmp'"):
        third_party_targets("nginx-rtmp")


def test_unknown_third_party_is_an_error_naming_it():
    with pytest.raises(TargetConfigError, match=r"--third-party: unknown exporter 'node'.*node-exporter"):
        third_party_targets("node")
    with pytest.raises(TargetConfigError, match="unknown exporter 'nope'"):
        make("--third-party", "nope")


def test_targets_flag_replaces_defaults(built):
    exp = built("--targets", "results=http://a:1, app = b:2/custom ,node-exporter=http://c:9100/")
    assert exp.targets == [
        Target("results", "http://a:1/metrics", "ffwatt", expected_for("results", "ffwatt")),
        Target("app", "http://b:2/custom", "prometheus", ()),
        Target("node-exporter", "http://c:9100/metrics", "prometheus", THIRD_PARTY["node-exporter"].expect),
    ]
    assert exp.source == "--targets"


def test_targets_env_and_flag_precedence(built):
    env = {"FFWATT_TARGETS": "qoe=http://q:9503", "FFWATT_TIMEOUT": "2.5"}
    exp = built(env=env)
    assert [(t.name, t.url) for t in exp.targets] == [("qoe", "http://q:9503/metrics")]
    assert exp.timeout == 2.5
    exp = built("--targets", "cost=http://c:9504", "--timeout", "0.5", env=env)
    assert [t.name for t in exp.targets] == ["cost"]
    assert exp.timeout == 0.5


@pytest.mark.parametrize("text, message", [
    ("results", r"'results' is not name=url"),
    ("bad name=http://x", r"target name 'bad name'"),
    ("a=ftp://x", r"scheme must be http or https"),
    ("a=http://:80", r"has no host"),
    ("a=http://x:99999", r"'a=http://x:99999'.*Port out of range"),
    ("a=", r"empty URL"),
    ("a=http://x,a=http://y", r"target name 'a' appears twice"),
])
def test_bad_targets_setting_names_the_item(text, message):
    with pytest.raises(TargetConfigError, match=message):
        configured_targets(targets=text)


def test_bad_settings_exit_with_a_message():
    with pytest.raises(TargetConfigError, match="--targets: 'x' is not name=url"):
        make("--targets", "x")
    with pytest.raises(TargetConfigError, match="not both"):
        make("--targets", "a=http://x", "--targets-file", "t.yaml")
    with pytest.raises(SystemExit):
        make("--timeout", "0")
    with pytest.raises(SystemExit):
        make(env={"FFWATT_TIMEOUT": "-1"})


def test_metrics_url_normalisation():
    assert metrics_url("host:9100") == "http://host:9100/metrics"
    assert metrics_url("https://host/") == "https://host/metrics"
    assert metrics_url("http://host:1/federate?match[]=up") == "http://host:1/federate?match[]=up"
    assert Target("x", "http://h:1/a/b?c=d").health_url == "http://h:1/health"
    assert Target("x", "http://h:1/metrics").health_url == "http://h:1/health"
    assert Target("x", "https://proxy/ffwatt/gpu/metrics?x=1").health_url == "https://proxy/ffwatt/gpu/health"


def test_a_name_only_ffwatt_when_it_is_a_catalog_exporter():
    assert parse_targets_setting("gpu=http://g:9505")[0].kind == "ffwatt"
    assert parse_targets_setting("gpu2=http://g:9505")[0].kind == "prometheus"


# --- YAML file -------------------------------------------------------------------------------

GOOD_YAML = """\
# every ffwatt exporter on its own compose service, plus node_exporter
- name: results
  url: http://results:9502
- name: results-b
  url: http://results-b:9502/metrics
  kind: ffwatt
  exporter: results
- name: node
  url: http://node:9100
  kind: prometheus
  expect: [node_cpu_seconds_total, node_memory_MemAvailable_bytes]
- name: app
  url: app:8000
"""


def test_yaml_file_list_form(tmp_path, built):
    path = tmp_path / "targets.yaml"
    path.write_text(GOOD_YAML)
    targets = load_targets_file(path)
    assert targets == [
        Target("results", "http://results:9502/metrics", "ffwatt", expected_for("results", "ffwatt")),
        Target("results-b", "http://results-b:9502/metrics", "ffwatt", expected_for("results", "ffwatt")),
        Target("node", "http://node:9100/metrics", "prometheus",
               ("node_cpu_seconds_total", "node_memory_MemAvailable_bytes")),
        Target("app", "http://app:8000/metrics", "prometheus", ()),
    ]
    exp = built("--targets-file", str(path), "--third-party", "cadvisor")
    assert [t.name for t in exp.targets] == ["results", "results-b", "node", "app", "cadvisor"]
    assert exp.source == f"file {path} + --third-party"
    assert [t.name for t in built(env={"FFWATT_TARGETS_FILE": str(path)}).targets][0] == "results"


def test_yaml_file_mapping_form_and_ffwatt_extra_expect(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text("targets:\n  - {name: qoe, url: 'http://q:9503', expect: [extra_metric]}\n  - {name: x, url: x:1}\n")
    qoe, x = load_targets_file(path)
    assert qoe.kind == "ffwatt" and qoe.expect[-1] == "extra_metric"
    assert set(qoe.expect) == {t.name for t in metrics_of("qoe")} | {"extra_metric"}
    assert x.kind == "prometheus"
    path.write_text("targets: []\n")
    assert load_targets_file(path) == []


@pytest.mark.parametrize("body, message", [
    ("- name: a\n", r"entry 0 \(a\): missing 'url'"),
    ("- url: http://x\n", r"entry 0: missing 'name'"),
    ("- {name: a, url: http://x}\n- {name: b, url: http://y, kind: grpc}\n",
     r"entry 1 \(b\): kind must be one of ffwatt, prometheus, got 'grpc'"),
    ("- {name: a, url: http://x, kind: ffwatt}\n", r"entry 0 \(a\): kind ffwatt needs a catalog exporter name"),
    ("- {name: a, url: http://x, kind: ffwatt, exporter: gpus}\n", r"entry 0 \(a\):.*got 'gpus'"),
    ("- {name: a, url: http://x, exporter: cpu}\n", r"entry 0 \(a\): `exporter` only applies to kind ffwatt"),
    ("- {name: a, url: http://x, expects: [up]}\n", r"entry 0 \(a\): unknown key\(s\) expects"),
    ("- {name: a, url: http://x, expect: up}\n", r"entry 0 \(a\): expect must be a list"),
    ("- {name: a, url: http://x, expect: ['not a name']}\n", r"entry 0 \(a\): expect: 'not a name'"),
    ("- {name: a, url: 7}\n", r"entry 0 \(a\): url must be a string"),
    ("- just-a-string\n", r"entry 0: expected a mapping"),
    ("- {name: a, url: 'http://x'}\n- {name: a, url: 'http://y'}\n", r"'a' appears twice"),
    ("name: a\nurl: http://x\n", r"expected a list of targets"),
    ("- {name: a, url: [\n", r"not valid YAML"),
])
def test_yaml_errors_name_the_file_and_the_entry(tmp_path, body, message):
    path = tmp_path / "targets.yaml"
    path.write_text(body)
    with pytest.raises(TargetConfigError, match=message) as info:
        configured_targets(targets_file=str(path))
    assert str(path) in str(info.value)


def test_missing_yaml_file(tmp_path):
    with pytest.raises(TargetConfigError, match=r"targets file .*nope.yaml: cannot read"):
        make("--targets-file", str(tmp_path / "nope.yaml"))


# --- classification --------------------------------------------------------------------------

NODE = b"""# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1234.5
# HELP node_exporter_build_info Build info.
# TYPE node_exporter_build_info gauge
node_exporter_build_info{version="1.7.0"} 1
"""


@pytest.mark.parametrize("status, content_type, body, expect, reason, detail", [
    (500, "text/plain", b"boom", (), "http_status", "HTTP 500"),
    (404, "text/plain", NODE, (), "http_status", "HTTP 404"),
    (200, "text/plain", b"", (), "empty_body", "HTTP 200 with an empty body"),
    (200, "text/plain", b" \n\n", (), "empty_body", "HTTP 200 with an empty body"),
    (200, "text/plain", b"# just a comment\n", (), "empty_body", "the exposition holds no metrics"),
    (200, "text/html", b"<html><body>It works!</body></html>", (), "invalid_exposition", None),
    (200, "text/plain", b"hello world\n", (), "invalid_exposition", None),
    (200, "text/plain", b'{"status": "ok"}', (), "invalid_exposition", None),
    (200, "text/plain", b"up \xff\xfe 1\n", (), "invalid_exposition", None),
    (200, "application/openmetrics-text; version=1.0.0", NODE, (), "invalid_exposition", None),  # no # EOF
    (200, "text/plain", NODE, (), "ok", "2 metric families"),
    (200, "text/plain", NODE, ("node_cpu_seconds_total", "node_exporter_build_info"), "ok", None),
    (200, "text/plain", NODE, ("node_cpu_seconds_total", "node_load1", "node_load5"), "missing_metrics",
     "missing 2 metrics: node_load1, node_load5"),
    (200, "text/plain", NODE, ("node_load1",), "missing_metrics", "missing 1 metric: node_load1"),
])
def test_classify_exposition(status, content_type, body, expect, reason, detail):
    got_reason, got_detail = classify_exposition(status, content_type, body, expect)
    assert got_reason == reason, got_detail
    if detail is not None:
        assert got_detail == detail
    assert got_reason in HEALTH_REASONS


@pytest.mark.parametrize("exporter", FFWATT + ["health"])
@pytest.mark.parametrize("openmetrics", [False, True])
def test_every_ffwatt_exporter_exposition_meets_its_own_expectation(exporter, openmetrics):
    # Families declared without samples (e.g. a gpu exporter with 0 GPUs) still count: HELP/TYPE are there.
    body = catalog_exposition(exporter, openmetrics=openmetrics)
    content_type = "application/openmetrics-text; version=1.0.0" if openmetrics else "text/plain; version=0.0.4"
    assert classify_exposition(200, content_type, body, expected_for(exporter, "ffwatt"))[0] == "ok"


def test_another_exporters_exposition_misses_metrics_and_the_detail_names_them():
    reason, detail = classify_exposition(200, "text/plain", catalog_exposition("cpu"), expected_for("gpu", "ffwatt"))
    own = [x.name for x in metrics_of("gpu") if x.exporter == "gpu"]
    assert reason == "missing_metrics"
    assert detail.startswith(f"missing {len(own)} metrics: {', '.join(own[:5])}, ...")


def test_a_counter_is_matched_with_its_total_suffix():
    body = catalog_exposition("cpu")
    assert b"# TYPE ffwatt_cpu_energy_joules_total counter" in body
    assert classify_exposition(200, "text/plain", body, (m.CPU_ENERGY.name,))[0] == "ok"
    assert classify_exposition(200, "text/plain", body, (m.CPU_ENERGY.family_name,))[0] == "ok"


@pytest.mark.parametrize("status, body, reason, state, detail", [
    (200, health_json("ok"), "ok", "ok", "/health: ok"),
    (200, health_json("degraded", "zone dram unreadable"), "ok", "degraded", "/health: degraded: zone dram unreadable"),
    (503, health_json("failing", "no refresh has completed yet"), "health_failing", "failing",
     "/health: failing: no refresh has completed yet"),
    (404, b"not found", "http_status", None, "/health: HTTP 404"),
    (200, b"<html>", "health_failing", None, "/health: answer is not JSON"),
    (200, b'{"state": "fine"}', "health_failing", None, "/health: no ok/degraded/failing status"),
    (200, b"[1, 2]", "health_failing", None, None),
])
def test_classify_health(status, body, reason, state, detail):
    got = classify_health(status, body)
    assert got[0] == reason
    assert got[2] == state
    if detail is not None:
        assert got[1] == detail


def test_error_reasons_from_real_exceptions():
    port = free_port()
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    assert error_reason(refused.value, 1) == ("refused", "connection refused")
    assert error_reason(requests.ReadTimeout("read timed out"), 1.5) == ("timeout", "no complete answer within 1.5s")
    assert error_reason(requests.ConnectTimeout("x"), 1)[0] == "timeout"
    assert error_reason(TimeoutError("timed out"), 1)[0] == "timeout"
    assert error_reason(urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), 1)[0] == "timeout"
    assert error_reason(requests.ConnectionError("Connection reset by peer"), 1)[0] == "connection_error"
    assert error_reason(urllib3.exceptions.ProtocolError("Connection broken"), 1)[0] == "connection_error"


# --- refresh ---------------------------------------------------------------------------------


def samples_of(exp: HealthExporter) -> Samples:
    out = Samples("health")
    exp.refresh(out)
    return out


def test_refresh_with_targets_down_succeeds_and_reports_every_reason_once(built):
    port = free_port()
    exp = built("--targets", f"down=http://127.0.0.1:{port},other=http://127.0.0.1:{port}/x", "--timeout", "1")
    out = samples_of(exp)
    assert out.value(m.HEALTH_TARGETS) == 2
    assert out.value(m.HEALTH_TARGETS_HEALTHY) == 0
    for target in ("down", "other"):
        assert out.value(m.HEALTH_TARGET_HEALTHY, target=target) == 0
        assert out.value(m.HEALTH_TARGET_REACHABLE, target=target) == 0
        assert out.value(m.HEALTH_TARGET_FAILURES, target=target) == 1
        values = {r: out.value(m.HEALTH_TARGET_REASON, target=target, reason=r) for r in HEALTH_REASONS}
        assert values == {r: float(r == "refused") for r in HEALTH_REASONS}
    assert samples_of(exp).value(m.HEALTH_TARGET_FAILURES, target="down") == 2
    details = exp.health_details()
    assert details["per_target"]["down"]["status"] == "unhealthy"
    assert details["per_target"]["down"]["detail"] == "connection refused"
    assert details["per_target"]["down"]["consecutive_failures"] == 2
    assert details["unhealthy"] == ["down", "other"]
    assert out.warnings == []  # down targets are data: the checker's own /health stays ok


def test_no_targets_is_a_valid_state(tmp_path, built):
    path = tmp_path / "t.yaml"
    path.write_text("[]\n")
    exp = built("--targets-file", str(path))
    out = samples_of(exp)
    assert (out.value(m.HEALTH_TARGETS), out.value(m.HEALTH_TARGETS_HEALTHY)) == (0, 0)


def test_health_details_before_the_first_cycle(built):
    details = built("--targets", "a=http://127.0.0.1:1").health_details()
    assert details["per_target"]["a"]["status"] == "not_checked"
    assert details["targets"] == 1 and details["healthy"] == 0


def test_targets_file_is_reread_when_it_changes_and_a_bad_edit_keeps_the_old_list(tmp_path, built):
    port = free_port()
    path = tmp_path / "targets.yaml"
    path.write_text(f"- {{name: a, url: 'http://127.0.0.1:{port}'}}\n")
    exp = built("--targets-file", str(path), "--timeout", "1")
    assert samples_of(exp).value(m.HEALTH_TARGETS) == 1

    path.write_text(f"- {{name: a, url: 'http://127.0.0.1:{port}'}}\n- {{name: b, url: 'http://127.0.0.1:{port}'}}\n")
    os.utime(path, ns=(1, 1))  # a new mtime even on coarse-grained file systems
    out = samples_of(exp)
    assert out.value(m.HEALTH_TARGETS) == 2
    assert out.value(m.HEALTH_TARGET_FAILURES, target="b") == 1
    assert out.value(m.HEALTH_TARGET_FAILURES, target="a") == 2  # the state of a kept target carries on

    path.write_text("- {name: a}\n")
    out = samples_of(exp)
    assert out.value(m.HEALTH_TARGETS) == 2
    assert len(out.warnings) == 1 and "entry 0 (a): missing 'url'" in out.warnings[0]
    assert "still probing the previous 2 target(s)" in exp.health_details()["targets_file_error"]

    path.write_text(f"- {{name: b, url: 'http://127.0.0.1:{port}'}}\n")
    out = samples_of(exp)
    assert out.warnings == []
    assert out.value(m.HEALTH_TARGETS) == 1
    assert out.value(m.HEALTH_TARGET_HEALTHY, target="a") is None  # removed targets leave with their series
    assert exp.health_details()["targets_file_error"] is None
