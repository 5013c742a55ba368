"""Web config and bounded servers on real exporters over loopback: TLS with a certificate
made by `openssl` here, bcrypt basic auth, mutual TLS, header tricklers cut off while
scrapes go on, the connection cap, and a health checker that shows no password."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import select
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import pytest
import requests

from bench import attacks
from bench.websec import make_pki
from ffwatt.catalog import metrics as m
from ffwatt.exporters.agent import build_agent
from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import build
from ffwatt.exporters.webconfig import WebConfigError
from tests.harness import have, parse_samples, running_exporter

RESULTS_DIR = Path(__file__).resolve().parents[2] / "test_results"
PASSWORD = "Sup3rSecret"


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all from openssl."""
    if not have("openssl"):
        if os.environ.get("CI"):
            pytest.fail("openssl is not on PATH")
        pytest.skip("openssl is not on PATH")
    return make_pki(tmp_path_factory.mktemp("pki"))


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def _web_config(path: Path, pki: Path, *, users: dict[str, str] | None = None, mutual: bool = False) -> Path:
    lines = ["tls_server_config:", f"  cert_file: {pki / 'server.crt'}", f"  key_file: {pki / 'server.key'}",
             "  min_version: TLS12"]
    if mutual:
        lines += [f"  client_ca_file: {pki / 'ca.crt'}", "  client_auth_type: RequireAndVerifyClientCert"]
    lines += ["http_server_config:", "  headers:", "    X-Content-Type-Options: nosniff",
              "    X-Frame-Options: deny"]
    if users:
        lines.append("basic_auth_users:")
        lines += [f"  {user}: '{_hash(pw)}'" for user, pw in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def results_dir() -> Path:
    if not any(RESULTS_DIR.glob("test_results_*.json")):
        pytest.skip(f"no sample results in {RESULTS_DIR}")
    return RESULTS_DIR


def _rejected(text: str, reason: str) -> float:
    found = [v for lbl, v in parse_samples(text).get("ffwatt_exporter_http_rejected_total", [])
             if lbl.get("reason") == reason]
    return found[0] if found else 0.0


# --- TLS and basic auth ------------------------------------------------------------------------


def test_tls_and_basic_auth_right_password_200_wrong_401_plain_http_refused(pki, tmp_path, results_dir):
    config = _web_config(tmp_path / "web.yml", pki, users={"prometheus": "right-one"})
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as exp:
        base = f"https://127.0.0.1:{exp.runtime.port}"
        ca = str(pki / "ca.crt")

        ok = requests.get(base + "/metrics", auth=("prometheus", "right-one"), verify=ca, timeout=10)
        assert ok.status_code == 200
        assert "ffwatt_results_scenarios" in ok.text
        assert ok.headers["X-Content-Type-Options"] == "nosniff"
        assert ok.headers["X-Frame-Options"] == "deny"
        # OpenMetrics negotiation still works behind TLS and auth.
        om = requests.get(base + "/metrics", auth=("prometheus", "right-one"), verify=ca, timeout=10,
                          headers={"Accept": "application/openmetrics-text;version=1.0.0"})
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.text.endswith("# EOF\n")

        wrong = requests.get(base + "/metrics", auth=("prometheus", "wrong"), verify=ca, timeout=10)
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"].startswith("Basic")
        assert "ffwatt_" not in wrong.text
        assert requests.get(base + "/health", verify=ca, timeout=10).status_code == 401
        assert requests.get(base + "/metrics", auth=("nobody", "right-one"), verify=ca, timeout=10).status_code == 401
        assert requests.get(base + "/health", auth=("prometheus", "right-one"), verify=ca,
                            timeout=10).json()["exporter"] == "results"

        plain = requests.get(f"http://127.0.0.1:{exp.runtime.port}/metrics", auth=("prometheus", "right-one"),
                             timeout=10)
        assert plain.status_code == 400
        assert "HTTPS" in plain.text and "ffwatt_" not in plain.text

        # An unknown CA is refused by the client: the server really presents the generated certificate.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(base + "/metrics", auth=("prometheus", "right-one"), timeout=10)

        text = requests.get(base + "/metrics", auth=("prometheus", "right-one"), verify=ca, timeout=10).text
        assert _rejected(text, "unauthorized") >= 3
        assert _rejected(text, "plain_http") >= 1


def test_web_config_is_re_read_when_it_changes(pki, tmp_path, results_dir):
    config = _web_config(tmp_path / "web.yml", pki, users={"prometheus": "first"})
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as exp:
        url = f"https://127.0.0.1:{exp.runtime.port}/metrics"
        ca = str(pki / "ca.crt")
        assert requests.get(url, auth=("prometheus", "first"), verify=ca, timeout=10).status_code == 200
        _web_config(config, pki, users={"prometheus": "second"})
        deadline = time.monotonic() + 5
        while requests.get(url, auth=("prometheus", "second"), verify=ca, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the changed web config was not picked up within 5 s"
            time.sleep(0.2)
        assert requests.get(url, auth=("prometheus", "first"), verify=ca, timeout=10).status_code == 401
        # A broken edit keeps the last good config in force.
        config.write_text("basic_auth_users:\n  prometheus: plain-password\n")
        time.sleep(1.2)
        assert requests.get(url, auth=("prometheus", "second"), verify=ca, timeout=10).status_code == 200


def test_mutual_tls_needs_a_client_certificate_signed_by_the_ca(pki, tmp_path, results_dir):
    config = _web_config(tmp_path / "web.yml", pki, mutual=True)
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as exp:
        url = f"https://127.0.0.1:{exp.runtime.port}/metrics"
        ca = str(pki / "ca.crt")
        good = requests.get(url, verify=ca, cert=(str(pki / "client.crt"), str(pki / "client.key")), timeout=10)
        assert good.status_code == 200 and "ffwatt_results_scenarios" in good.text
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, verify=ca, timeout=10)
        # The server's own certificate is not signed for client use... but is signed by the CA:
        # what matters is the CA, so a self-made certificate from another CA is refused.
        other = tmp_path / "other"
        other.mkdir()
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", "o.key", "-out", "o.crt", "-days", "1", "-subj", "/CN=intruder", cwd=other)
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, verify=ca, cert=(str(other / "o.crt"), str(other / "o.key")), timeout=10)


@pytest.mark.parametrize(("doc", "key"), [
    ("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS9\n", "tls_server_config.min_version"),
    ("basic_auth_users:\n  admin: hunter2\n", "basic_auth_users.admin"),
    ("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n", "cert_file"),
    ("http_server_config:\n  headers:\n    X-Powered-By: me\n", "http_server_config.headers.X-Powered-By"),
    ("tls_server_config:\n  key_file: k\n", "tls_server_config.cert_file"),
    ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
])
def test_a_bad_web_config_stops_the_exporter_at_startup_naming_the_key(tmp_path, doc, key):
    config = tmp_path / "web.yml"
    config.write_text(doc)
    with pytest.raises(WebConfigError) as stopped:  # `ffwatt exporter` prints it as `error: ...`, exit 2
        build(load("results"), ["--port", "0", "--listen-address", "127.0.0.1", "--results-dir", str(tmp_path),
                                "--web-config-file", str(config)], environ={})
    assert key in str(stopped.value) and str(config) in str(stopped.value)


def test_the_agent_serves_every_exporter_with_its_web_config(pki, tmp_path):
    config = _web_config(tmp_path / "web.yml", pki, users={"prometheus": "pw"})
    runtimes = build_agent(["--exporters", "ffmpeg", "--listen-address", "127.0.0.1", "--ffmpeg.port", "0"],
                           environ={"FFWATT_WEB_CONFIG_FILE": str(config)})
    try:
        (rt,) = runtimes
        rt.start()
        url = f"https://127.0.0.1:{rt.port}/metrics"
        assert requests.get(url, auth=("prometheus", "pw"), verify=str(pki / "ca.crt"), timeout=10).status_code == 200
        assert requests.get(url, verify=str(pki / "ca.crt"), timeout=10).status_code == 401
    finally:
        for rt in runtimes:
            rt.stop()


# --- bounded servers ---------------------------------------------------------------------------


def _trickle_header(port: int, closed_after: list[float], stop: threading.Event) -> None:
    """Open a connection and send a request head one byte a second, never finishing it."""
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    begin = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for byte in head:
            if stop.is_set():
                return
            try:
                s.sendall(bytes([byte]))
                ready, _, _ = select.select([s], [], [], 1.0)
                if ready and not s.recv(4096):
                    closed_after.append(time.monotonic() - begin)
                    return
            except OSError:
                closed_after.append(time.monotonic() - begin)
                return


def test_fifty_header_tricklers_are_cut_off_within_30s_while_scrapes_go_on(results_dir):
    with running_exporter("results", "--results-dir", str(results_dir)) as exp:
        closed_after: list[float] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_trickle_header, args=(exp.runtime.port, closed_after, stop), daemon=True)
                   for _ in range(50)]
        for t in threads:
            t.start()
        scrapes, failures = 0, []
        begin = time.monotonic()
        try:
            while len(closed_after) < 50 and time.monotonic() - begin < 30:
                try:
                    r = requests.get(exp.url + "/metrics", timeout=5)
                    scrapes += 1
                    if r.status_code != 200:
                        failures.append(r.status_code)
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                time.sleep(0.5)
        finally:
            stop.set()
        for t in threads:
            t.join(timeout=5)
        assert len(closed_after) == 50, f"only {len(closed_after)} of 50 tricklers were cut off within 30 s"
        assert max(closed_after) < 30
        assert scrapes >= 3 and not failures, f"scrapes failed while tricklers held connections: {failures[:3]}"
        text = exp.scrape()  # cut off by a deadline (or made room for a newcomer)
        assert sum(_rejected(text, r) for r in ("head_timeout", "head_too_slow", "head_evicted", "idle_evicted")) >= 50


def test_over_the_connection_cap_with_every_connection_busy_a_scrape_gets_503_and_is_counted():
    # Busy connections: progress pushes streaming their bodies (idle ones, and heads, make room for newcomers).
    with running_exporter("ffmpeg", "--refresh-interval", "0.2", "--max-connections", "4") as exp:
        held = [socket.create_connection(("127.0.0.1", exp.runtime.port), timeout=5) for _ in range(4)]
        for k, s in enumerate(held):
            block = b"frame=1\nfps=25.0\nprogress=continue\n"
            s.sendall(b"POST /progress/held%d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % k
                      + b"%x\r\n%s\r\n" % (len(block), block))
        try:
            server = exp.runtime.server
            deadline = time.monotonic() + 5
            while server.stats.open < 4 or server.admission.waiting or server.admission.in_head:
                assert time.monotonic() < deadline, "the four pushes were not accepted and read"
                time.sleep(0.05)
            refused = requests.get(exp.url + "/metrics", timeout=10)
            assert refused.status_code == 503
            assert "ffwatt_" not in refused.text
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5
        while True:
            try:
                r = requests.get(exp.url + "/metrics", timeout=10)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "slots were not freed after the held connections closed"
            time.sleep(0.1)
        assert _rejected(r.text, "over_capacity") >= 1
        assert "ffwatt_exporter_http_connections" in r.text


# --- the health checker ------------------------------------------------------------------------


class _Redirect(BaseHTTPRequestHandler):
    location = ""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002
        pass


@contextlib.contextmanager
def _redirecting_to(location: str):
    handler = type("Redirect", (_Redirect,), {"location": location})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_at_the_cap_idle_connections_make_room_for_scrapers(results_dir):
    with running_exporter("results", "--results-dir", str(results_dir), "--max-connections", "4") as exp:
        idle = [socket.create_connection(("127.0.0.1", exp.runtime.port), timeout=5) for _ in range(20)]
        try:
            for _ in range(5):
                assert requests.get(exp.url + "/metrics", timeout=10).status_code == 200
            assert exp.runtime.server.stats.open <= 4 + 16  # never a thread per idle connection
        finally:
            for s in idle:
                s.close()
        assert _rejected(exp.scrape(), "idle_evicted") >= 5


def test_health_checker_reaches_tls_targets_and_shows_no_password(pki, tmp_path, results_dir, caplog):
    config = _web_config(tmp_path / "web.yml", pki, users={"admin": PASSWORD})
    caplog.set_level(logging.DEBUG)
    with contextlib.ExitStack() as stack:
        secured = stack.enter_context(running_exporter("results", "--results-dir", str(results_dir),
                                                       "--web-config-file", str(config)))
        plain = stack.enter_context(running_exporter("qoe", "--results-dir", str(results_dir)))
        redirect = stack.enter_context(_redirecting_to(plain.url + "/metrics"))
        port = secured.runtime.port
        targets = (f"results=https://admin:{PASSWORD}@127.0.0.1:{port}/metrics,"
                   f"wrongpw=https://admin:{PASSWORD}x@127.0.0.1:{port}/metrics,"
                   f"down=http://admin:{PASSWORD}@127.0.0.1:1/metrics,"
                   f"qoe={redirect}/metrics")
        health = stack.enter_context(running_exporter(
            "health", "--targets", targets, "--ca-file", str(pki / "ca.crt"), "--timeout", "3"))
        details = health.health()["details"]["per_target"]
        metrics = health.scrape()

    assert details["results"]["reason"] == "ok", details["results"]
    assert details["wrongpw"]["reason"] == "http_status" and "401" in details["wrongpw"]["detail"]
    assert details["down"]["reason"] == "refused"
    # The redirect to a healthy exporter is not followed.
    assert details["qoe"]["reason"] == "http_status" and "302" in details["qoe"]["detail"]
    assert details["results"]["url"] == f"https://admin:xxxxx@127.0.0.1:{port}/metrics"
    shown = str(details) + metrics + caplog.text
    assert PASSWORD not in shown
    assert "admin:xxxxx@" in caplog.text  # the targets are logged, redacted


def test_health_checker_never_repeats_a_body_it_read():
    from ffwatt.exporters.health import classify_exposition

    reason, detail = classify_exposition(200, "text/plain", b"secret-token-abc123 is not a metric line\n", ())
    assert reason == "invalid_exposition"
    assert "secret-token" not in detail


def test_health_checker_basic_auth_flags_for_urls_without_user_info(pki, tmp_path, results_dir):
    config = _web_config(tmp_path / "web.yml", pki, users={"prometheus": PASSWORD})
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as secured:
        with running_exporter("health", "--targets", f"results=https://localhost:{secured.runtime.port}",
                              "--ca-file", str(pki / "ca.crt"), "--basic-auth-user", "prometheus",
                              "--basic-auth-password-file", str(password_file)) as health:
            assert health.health()["details"]["per_target"]["results"]["reason"] == "ok"


def test_ssl_context_refuses_tls_below_the_minimum(pki, tmp_path, results_dir):
    config = tmp_path / "web.yml"
    config.write_text(f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
                      "  min_version: TLS13\n")
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as exp:
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", exp.runtime.port), timeout=5) as raw:
            with pytest.raises(ssl.SSLError):
                context.wrap_socket(raw, server_hostname="127.0.0.1")


# --- the scrapers behind a web config (hosts.yml `web:`) ---------------------------------------


def test_rendered_scrape_configs_reach_an_exporter_behind_tls_and_basic_auth(pki, results_dir, tmp_path):
    from ffwatt.deploy import hosts, scrape
    from tests.servers import Prometheus, VictoriaMetrics

    password_file = tmp_path / "scrape.password"
    password_file.write_text(PASSWORD + "\n")
    web = hosts.parse_hosts({"central": "localhost", "hosts": [], "web": {
        "scheme": "https", "ca_file": str(pki / "ca.crt"),
        "basic_auth": {"username": "scraper", "password_file": str(password_file)}}}).web
    config = _web_config(tmp_path / "web.yml", pki, users={"scraper": PASSWORD})
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as exp:
        targets = {"results": [f"127.0.0.1:{exp.runtime.port}"]}
        vm_config = scrape.render_scrape_config(targets, scrape_interval_override="1s", web=web)
        assert "scheme: https" in vm_config and "password_file:" in vm_config and PASSWORD not in vm_config
        prom_config = scrape.render_scrape_config(targets, scrape_interval_override="1s", flavor="prometheus", web=web)
        with VictoriaMetrics(scrape_config_text=vm_config) as vm, Prometheus(config_text=prom_config) as prom:
            for tsdb in (vm, prom):
                up = tsdb.wait_query('up{job="ffwatt-results"} == 1')
                assert up and up[0]["metric"]["instance"] == targets["results"][0]
                assert tsdb.wait_query(m.RESULTS_SCENARIOS.name)  # data, not just a handshake
        # the same config without the password is refused by the exporter: the test above proves the auth path
        plain = requests.get(f"https://127.0.0.1:{exp.runtime.port}/metrics", verify=str(pki / "ca.crt"), timeout=10)
        assert plain.status_code == 401


def test_hosts_web_settings_are_checked():
    from ffwatt.deploy import hosts

    base = {"central": "localhost", "hosts": []}
    assert hosts.parse_hosts(base).web == hosts.ScrapeWeb()  # absent: plain http, the same generated files
    for web, words in (({"scheme": "ftp"}, "http or https"),
                       ({"scheme": "http", "ca_file": "/ca.crt"}, "only with scheme: https"),
                       ({"scheme": "http", "basic_auth": {"username": "u", "password_file": "/p"}}, "plain http"),
                       ({"scheme": "https", "basic_auth": {"username": "u", "password": "x"}}, "never written"),
                       ({"scheme": "https", "tls": {}}, "unknown key")):
        with pytest.raises(hosts.HostsError, match=words):
            hosts.parse_hosts({**base, "web": web})


# --- authentication failures, redirects and redaction (issue 31) --------------------------------


def _counting_bcrypt(monkeypatch) -> list:
    calls: list = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: calls.append(1) or real(*a))
    return calls


def test_a_wrong_password_flood_costs_a_bounded_number_of_bcrypt_checks_while_scrapes_succeed(
        pki, tmp_path, results_dir, monkeypatch):
    config = _web_config(tmp_path / "web.yml", pki, users={"prometheus": "right-one", "late": "new-one"})
    with running_exporter("results", "--results-dir", str(results_dir), "--web-config-file", str(config)) as exp:
        url, ca = f"https://127.0.0.1:{exp.runtime.port}/metrics", str(pki / "ca.crt")
        assert requests.get(url, auth=("prometheus", "right-one"), verify=ca, timeout=10).status_code == 200
        calls = _counting_bcrypt(monkeypatch)
        began = time.monotonic()
        with attacks.AuthFlood(url, 8, verify=ca) as flood:
            got = attacks.scrapes(url, 10, interval=0.25, auth=("prometheus", "right-one"), verify=ca)
            # a scraper whose password was never checked gets its check within seconds: the attackers,
            # once they failed, draw on the other half of the checks
            late_tries = []
            for _ in range(10):
                late = requests.get(url, auth=("late", "new-one"), verify=ca, timeout=10)
                late_tries.append(late.status_code)
                if late.status_code == 200:
                    break
                time.sleep(0.5)
        elapsed = time.monotonic() - began
        text = requests.get(url, auth=("prometheus", "right-one"), verify=ca, timeout=10).text
    # two bursts of 4 (peers with and without recent failures), then 2 checks a second in all
    # (rounds=4 hashes: without a bound, thousands of checks in 3 s)
    assert len(calls) <= 8 + 2 * elapsed + 1, f"{len(calls)} bcrypt checks in {elapsed:.1f} s"
    assert flood.statuses["429"] > 10 * flood.statuses["401"] > 0, flood.statuses
    assert attacks.success_rate(got) == 1.0, got.failures[:3]  # a verified scraper: no check needed
    assert late.status_code == 200 and set(late_tries[:-1]) <= {429}, late_tries
    assert _rejected(text, "auth_throttled") == flood.statuses["429"] + len(late_tries) - 1


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 and keeps every request's path and headers (the redirect's target)."""

    seen: list

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002
        pass


@contextlib.contextmanager
def _serving(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _meter_reads(url: str) -> None:
    from ffwatt.runner.meter.energy_meter import EnergyMeter

    meter = EnergyMeter(cpu_metrics_url=url, gpu_metrics_url=None, tsdb_url=None, step_seconds=0.2, timeout=2)
    meter.start()
    time.sleep(0.5)
    assert meter.stop().joules is None


def _tsdb_reads(url: str) -> None:
    from ffwatt.readers.tsdb import TsdbError, scenario_energy_joules

    with pytest.raises(TsdbError, match="302") as refused:
        scenario_energy_joules(url.removesuffix("/metrics"), 1000.0, 1010.0, timeout=2)
    assert "Redirect-Pw" not in str(refused.value)


def _health_probes(url: str) -> None:
    from ffwatt.exporters.health import make_target, probe

    result = probe(make_target("x", url), 2.0)
    assert result.reason == "http_status" and "302" in result.detail and "Redirect-Pw" not in result.detail


def _rtmp_reads(url: str) -> None:
    from ffwatt.exporters.rtmp import fetch
    from ffwatt.exporters.runtime import SourceError

    with pytest.raises(SourceError, match="302") as refused:
        fetch(url, timeout=2, max_bytes=1 << 16)
    assert "Redirect-Pw" not in str(refused.value)


def _launcher_polls(url: str) -> None:
    from ffwatt.common.process import http_get

    parts = url.split("@", 1)
    auth = "Basic " + base64.b64encode(b"meter:Redirect-Pw").decode()
    assert http_get("http://" + parts[1], headers={"Authorization": auth}).status_code == 302


@pytest.mark.parametrize("client", [_meter_reads, _tsdb_reads, _health_probes, _rtmp_reads, _launcher_polls],
                         ids=["runner meter", "tsdb reader", "health checker", "rtmp exporter", "process.http_get"])
def test_no_client_follows_a_redirect_with_the_credentials(client):
    seen: list = []
    recorder = type("Recorder", (_Recorder,), {"seen": seen})
    with _serving(recorder) as target_port:
        with _redirecting_to(f"http://127.0.0.1:{target_port}/metrics") as redirect:
            client(redirect.replace("http://", "http://meter:Redirect-Pw@") + "/metrics")
    assert seen == [], f"the redirect was followed to another origin: {seen}"


QUOTED_PASSWORD = "Quote'Run\"PW@x y"


def test_a_quoted_password_is_shown_nowhere_log_health_results_file(tmp_path, ffmpeg, results_dir, caplog):
    """The runner's meter and the health checker both reach a cpu exporter with a password holding
    a quote, a double quote, an @ and a space; it appears in no log line, /health answer, metric
    or results file, and the results file that names the URL is 0600."""
    from ffwatt.cli.main import main
    from tests.integration.test_runner_energy import AdvancingTree

    caplog.set_level(logging.DEBUG)
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  meter: '{_hash(QUOTED_PASSWORD)}'\n")
    userinfo = "meter:" + QUOTED_PASSWORD
    scenario = tmp_path / "one.yml"
    scenario.write_text("scenarios:\n  - {name: q, encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, "
                        "duration: 1, bitrate: 100k}\n")
    with AdvancingTree(tmp_path / "sys") as tree, running_exporter(
            "cpu", "--powercap-root", str(tree.tree.root), "--hwmon-root", "", "--sample-interval", "0.05",
            "--refresh-interval", "0.05", "--web-config-file", str(web)) as cpu:
        url = f"http://{userinfo}@127.0.0.1:{cpu.runtime.port}/metrics"
        down = f"http://{userinfo}@127.0.0.1:1/metrics"
        with running_exporter("health", "--targets", f"cpu={url},down={down}", "--timeout", "2") as health:
            details = health.health()["details"]["per_target"]
            metrics = health.scrape()
        assert details["cpu"]["reason"] == "ok", details["cpu"]  # the password worked: urlsplit read it whole
        assert details["cpu"]["url"] == f"http://meter:xxxxx@127.0.0.1:{cpu.runtime.port}/metrics"
        rc = main(["run", str(scenario), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
                   "--no-quality", "--cpu-metrics-url", url, "--gpu-metrics-url", "", "--progress-url", "",
                   "--events", str(tmp_path / "events.ndjson")])
    assert rc == 0
    (results,) = (tmp_path / "results").glob("test_results_*.json")
    written = results.read_text()
    assert '"cpu_metrics_url": "http://meter:xxxxx@127.0.0.1:' in written
    assert '"energy_source": "rapl"' in written  # measured through the exporter, with the password
    assert results.stat().st_mode & 0o777 == 0o600
    shown = str(details) + metrics + caplog.text + written + (tmp_path / "events.ndjson").read_text()
    for part in (QUOTED_PASSWORD, "Quote'Run", 'Run"PW', "PW@x"):
        assert part not in shown
