"""`ffwatt run --progress-token-file`: the runner's progress pushes carry the token the ffmpeg
exporter wants (real runner, real static ffmpeg, real exporter on loopback)."""

from __future__ import annotations

from pathlib import Path

from ffwatt.catalog import metrics as m
from ffwatt.cli.main import main
from tests.harness import running_exporter

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
