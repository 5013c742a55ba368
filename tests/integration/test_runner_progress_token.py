"""`ffwatt run --progress-token-file`: the runner's progress pushes carry the token the ffmpeg
exporter wants, over https to an exporter behind TLS, never in clear to it (real runner, real
static ffmpeg, real exporter on loopback)."""

from __future__ import annotations

from pathlib import Path

import requests

from ffwatt.catalog import metrics as m
from ffwatt.cli.main import main
from tests.harness import parse_samples, running_exporter

ONE = "scenarios:\n  - {name: tok, encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, duration: 1, " \
      "bitrate: 100k}\n"


def _run(tmp_path: Path, ffmpeg: str, url: str, *extra: str) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario_file = tmp_path / "one.yml"
    scenario_file.write_text(ONE)
    return main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
                 "--no-quality", "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", url, *extra])


def _frames(exp) -> dict[str, float]:
    return {lbl["stream"]: v for lbl, v in exp.samples().get(m.FFMPEG_FRAMES.name, [])}


def test_the_runner_sends_the_token_and_without_it_is_refused(tmp_path, ffmpeg):
    token = tmp_path / "push.token"
    token.write_text("run-token-77\n")
    with running_exporter("ffmpeg", "--refresh-interval", "0.2", "--ended-grace", "60",
                          "--push-token-file", str(token)) as exp:
        assert _run(tmp_path / "with", ffmpeg, exp.url, "--progress-token-file", str(token)) == 0
        exp.wait_for(lambda e: _frames(e).get("tok-1") == 30, what="the authorised run's frames")
        assert exp.value(m.FFMPEG_REJECTED.name, reason="unauthorized") == 0

        # Without the token the encode is measured all the same; its pushes are refused.
        assert _run(tmp_path / "without", ffmpeg, exp.url) == 0
        exp.wait_for(lambda e: e.value(m.FFMPEG_REJECTED.name, reason="unauthorized") >= 1,
                     what="the unauthorised push refused")
        assert exp.value(m.FFMPEG_FRAMES.name, stream="tok-1") == 30  # still the first run's
        assert len(list((tmp_path / "without" / "results").glob("test_results_*.json"))) == 1


def test_an_unreadable_token_file_is_a_clear_error(tmp_path, ffmpeg, capsys):
    with running_exporter("ffmpeg", "--refresh-interval", "0.2") as exp:
        assert _run(tmp_path, ffmpeg, exp.url, "--progress-token-file", str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert "--progress-token-file" in err and "nowhere" in err and "Traceback" not in err


def _tls_exporter_config(tmp_path: Path) -> tuple[Path, Path]:
    from bench.websec import make_pki

    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n")
    return web, pki / "ca.crt"


def _tls_frames(exp, ca: Path) -> dict[str, float]:
    text = requests.get(f"https://127.0.0.1:{exp.runtime.port}/metrics", verify=str(ca), timeout=10).text
    return {lbl["stream"]: v for lbl, v in parse_samples(text).get(m.FFMPEG_FRAMES.name, [])}


def test_pushes_reach_a_tls_exporter_over_https_verified_against_the_ca_file(tmp_path, ffmpeg):
    web, ca = _tls_exporter_config(tmp_path)
    token = tmp_path / "push.token"
    token.write_text("tls-token-9\n")
    with running_exporter("ffmpeg", "--refresh-interval", "0.2", "--ended-grace", "60", "--push-token-file",
                          str(token), "--web-config-file", str(web)) as exp:
        url = f"https://127.0.0.1:{exp.runtime.port}"
        assert _run(tmp_path, ffmpeg, url, "--progress-token-file", str(token), "--exporter-ca-file", str(ca)) == 0
        exp.wait_for(lambda e: _tls_frames(e, ca).get("tok-1") == 30, what="the frames pushed over https")
        assert exp.runtime.server.stats.rejected["plain_http"] == 0


def test_over_plain_http_to_a_tls_exporter_the_token_is_never_sent(tmp_path, ffmpeg, caplog):
    web, ca = _tls_exporter_config(tmp_path)
    token = tmp_path / "push.token"
    token.write_text("tls-token-9\n")
    with running_exporter("ffmpeg", "--refresh-interval", "0.2", "--push-token-file", str(token),
                          "--web-config-file", str(web)) as exp:
        url = f"http://127.0.0.1:{exp.runtime.port}"
        assert _run(tmp_path, ffmpeg, url, "--progress-token-file", str(token)) == 0
        # the runner's probe (a GET without the token) met the TLS listener's 400 and stopped there:
        # no push, no token in clear (each push would be one more plain-http refusal)
        assert exp.runtime.server.stats.rejected["plain_http"] == 1
    assert f"serves https: use --progress-url https://127.0.0.1:{exp.runtime.port}" in caplog.text
    assert "tls-token-9" not in caplog.text
