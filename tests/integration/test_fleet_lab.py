"""A lab on mutual TLS, with real processes on loopback: `ffwatt fleet certs`, `ffwatt scheduler --tls-dir`
and `ffwatt worker tls://... --tls-dir`.

* Whoever lacks the lab's certificate cannot run code on its worker or scheduler: a plain TCP client,
  a client with a certificate from another CA (trusting that CA, or the lab's), and a raw TLS client
  with no certificate are all refused, and the function they would have run never ran; the lab's own
  client, the control, does run it.
* `ffwatt run --cluster tls://... --tls-dir` measures a scenario on the lab end to end, emits its
  progress events, and records the host as richly as a local run records its machine.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import pytest

from ffwatt.cli.main import main
from ffwatt.common.process import free_port, terminate
from tests.integration import fleet_procs as fp

distributed = pytest.importorskip("distributed", reason="the fleet extra (distributed) is not installed")
pytest.importorskip("cryptography", reason="ffwatt fleet certs needs cryptography (the fleet extra)")

ATTACK_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab's certificates (A), another lab's (B), and a scheduler and one worker on TLS with A."""
    root = tmp_path_factory.mktemp("lab")
    for name in ("A", "B"):
        assert main(["fleet", "certs", str(root / name)]) == 0
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    procs = [fp.ffwatt(["scheduler", "--port", str(port), "--tls-dir", str(root / "A")], root / "scheduler.log"),
             fp.ffwatt(["worker", address, "--tls-dir", str(root / "A"), "--name", "tw1"], root / "tw1.log")]
    try:
        fp.wait_joined(root / "tw1.log", "tw1")
        yield root, address
    finally:
        for proc in procs:
            terminate(proc, 10, group=True)


def _security(ca: Path, pair: Path):
    return distributed.security.Security(require_encryption=True, tls_ca_file=str(ca / "ca.pem"),
                                         tls_client_cert=str(pair / "client.pem"),
                                         tls_client_key=str(pair / "client-key.pem"))


def _dask_attempt(address: str, security) -> str:
    """What a Dask client gets when it asks `address` (a scheduler or a worker) who it is."""
    async def ask() -> str:
        comm = await distributed.comm.connect(address, timeout=ATTACK_TIMEOUT,
                                              **security.get_connection_args("client"))
        await comm.write({"op": "identity"})
        return repr(await comm.read())

    try:
        return f"ANSWERED {asyncio.run(ask())}"
    except Exception as exc:  # the refusal: a handshake error or a closed comm
        return f"refused: {type(exc).__name__}"


def _raw_tls_without_certificate(ca: Path, address: str) -> str:
    host, port = address.split("//")[1].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca / "ca.pem"))
    context.check_hostname = False  # the lab's certificates name roles, not hosts
    try:
        with context.wrap_socket(socket.create_connection((host, int(port)), timeout=ATTACK_TIMEOUT)) as sock:
            sock.sendall(b"\0" * 16)
            return f"ANSWERED {sock.recv(64)!r}"
    except (OSError, ssl.SSLError) as exc:
        return f"refused: {type(exc).__name__}"


def test_a_client_without_the_labs_certificate_cannot_run_code_on_a_worker(lab, tmp_path):
    root, scheduler = lab
    a, b = root / "A", root / "B"
    mark = tmp_path / "ran-by-the-lab"
    with distributed.Client(scheduler, security=_security(a, a), timeout=30) as client:  # the control
        (worker,) = client.scheduler_info()["workers"]
        assert list(client.run(mark.write_text, "ran").values()) == [3] and mark.read_text() == "ran"
    assert worker.startswith("tls://")
    intruders = {"another lab's client": _security(b, b), "another lab's client trusting ours": _security(a, b)}
    outcomes = {}
    for target in (scheduler, worker):
        for who, security in intruders.items():
            outcomes[(who, target)] = _dask_attempt(target, security)
        outcomes[("a plain TCP client", target)] = _dask_attempt(target.replace("tls://", "tcp://"),
                                                                 distributed.security.Security())
        outcomes[("TLS without a certificate", target)] = _raw_tls_without_certificate(a, target)
    assert all(o.startswith("refused") for o in outcomes.values()), outcomes
    # and through Dask's own client, which is what `Client(address).run(f)` used to do
    stolen = tmp_path / "ran-by-an-intruder"
    with pytest.raises((OSError, TimeoutError)):
        with distributed.Client(scheduler, security=_security(a, b), timeout=ATTACK_TIMEOUT) as client:
            client.run(stolen.write_text, "ran")
    assert not stolen.exists()


def test_a_run_over_tls_measures_on_the_lab_with_progress_and_a_full_host_record(lab, tmp_path):
    root, scheduler = lab
    scenario_file = tmp_path / "tls.yml"
    scenario_file.write_text("defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, "
                             "duration: 2, crf: 30, source: testsrc2}\nscenarios:\n  - {name: over tls}\n")
    events = tmp_path / "events.ndjson"
    run = fp.ffwatt(["run", str(scenario_file), "--cluster", scheduler, "--tls-dir", str(root / "A"), "--no-quality",
                     "--results-dir", str(tmp_path / "results"), "--events", str(events), "--min-window", "0",
                     *fp.NO_EXPORTERS], tmp_path / "run.log")
    assert run.wait(timeout=120) == 0, (tmp_path / "run.log").read_text()[-3000:]
    doc = fp.results(tmp_path / "results")
    (entry,) = doc["scenarios"]
    assert entry["name"] == "over tls" and entry["host"] == "tw1" and entry["total_frames"] == 60
    progress = [e for e in fp.events(events) if e["event"] == "progress"]
    assert progress and progress[-1]["frames"] == 60 and {e["host"] for e in progress} == {"tw1"}
    host = doc["hosts"]["tw1"]
    local = doc["environment"]  # what a local run records of its machine: the host block has the same keys
    for key in ("kernel", "ffwatt_version", "ffmpeg_version", "cpu_model", "cpu_cores"):
        assert host.get(key) == local.get(key) and host.get(key), key
    assert host["encoder_versions"]["libx264"].startswith("core ")
    assert json.dumps(host).count("nvenc") == 0 and "h264_vulkan" not in host["encoders"]  # no device here


def test_only_encoders_that_open_a_frame_here_are_advertised(ffmpeg, tmp_path):
    """ffmpeg lists the Vulkan encoders on a machine without a Vulkan device; before, the worker advertised
    them and every scenario sent there failed. Each is tried here with ffmpeg directly, independently."""
    import subprocess

    from ffwatt.runner.execute.fleet.capabilities import detect
    from ffwatt.runner.measure.ffmpeg_probe import probe

    listed = {e for e in probe(ffmpeg).encoders if e.endswith("_vulkan")}
    assert listed, "this ffmpeg lists no Vulkan encoder"
    caps = detect("here", ffmpeg, tmp_path / "no-powercap")
    for encoder in sorted(listed):
        opens = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                                "testsrc2=size=256x144:rate=30", "-frames:v", "1", "-c:v", encoder, "-f", "null", "-"],
                               capture_output=True, timeout=60).returncode == 0
        assert (encoder in caps.encoders) == opens, encoder
    assert "libx264" in caps.encoders and caps.resources()["encoder:libx264"] == 1.0
