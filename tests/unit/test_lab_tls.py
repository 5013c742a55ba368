"""The lab's mutual TLS and its loopback rule (ffwatt/runner/execute/fleet/lab_tls.py, certs.py): the
certificates `ffwatt fleet certs` writes verify with openssl against their CA, keys are 0600, nothing is
overwritten; every address off loopback without TLS is refused with the fix, through the CLI too.
The handshakes themselves are tested against real Dask processes in tests/integration/test_fleet_lab.py."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from ffwatt.cli.main import main
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.execute.fleet.certs import FILES
from ffwatt.runner.execute.fleet.lab_tls import TlsFiles, is_loopback, lab_address, lab_security, tls_files

FIX = "ffwatt fleet certs DIR"


@pytest.fixture(scope="module")
def labs(tmp_path_factory) -> tuple[Path, Path]:
    """Two labs' certificates, each from its own CA, written by the CLI."""
    root = tmp_path_factory.mktemp("labs")
    for lab in ("a", "b"):
        assert main(["fleet", "certs", str(root / lab)]) == 0
    return root / "a", root / "b"


def test_certs_writes_a_ca_and_a_pair_per_role_keys_private(labs):
    lab, _ = labs
    assert sorted(p.name for p in lab.iterdir()) == sorted(FILES)
    for name in FILES:
        mode = stat.S_IMODE((lab / name).stat().st_mode)
        assert (mode & 0o077 == 0) if name.endswith("-key.pem") else (mode & 0o022 == 0), (name, oct(mode))
    assert stat.S_IMODE(lab.stat().st_mode) == 0o700


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_each_role_certificate_verifies_with_openssl_against_its_own_ca_only(labs):
    lab, other = labs
    roles = [str(lab / f"{role}.pem") for role in ("scheduler", "worker", "client")]
    ok = subprocess.run(["openssl", "verify", "-CAfile", str(lab / "ca.pem"), *roles], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.count(": OK") == 3, ok.stdout + ok.stderr
    bad = subprocess.run(["openssl", "verify", "-CAfile", str(other / "ca.pem"), roles[0]], capture_output=True)
    assert bad.returncode != 0


def test_certs_never_overwrites_a_lab(labs, capsys):
    lab, _ = labs
    before = (lab / "ca.pem").read_bytes()
    assert main(["fleet", "certs", str(lab)]) == 2
    assert "already holds ca.pem, ca-key.pem" in capsys.readouterr().err
    assert (lab / "ca.pem").read_bytes() == before


def _flags(**given) -> SimpleNamespace:
    return SimpleNamespace(**{"tls_dir": None, "tls_ca": None, "tls_cert": None, "tls_key": None, **given})


def test_tls_files_come_from_the_dir_by_role_and_each_flag_wins(labs, tmp_path):
    lab, other = labs
    assert tls_files("worker", _flags()) is None
    assert tls_files("worker", _flags(tls_dir=lab)) == TlsFiles(lab / "ca.pem", lab / "worker.pem", lab / "worker-key.pem")
    assert tls_files("client", _flags(tls_dir=lab, tls_ca=other / "ca.pem")).ca == other / "ca.pem"
    with pytest.raises(RunnerError, match="--tls-cert, --tls-key missing"):
        tls_files("client", _flags(tls_ca=lab / "ca.pem"))


def test_lab_security_requires_encryption_with_the_roles_pair(labs):
    lab, _ = labs
    security = lab_security("worker", tls_files("worker", _flags(tls_dir=lab)))
    assert security.require_encryption is True
    assert (security.tls_worker_cert, security.tls_ca_file) == (str(lab / "worker.pem"), str(lab / "ca.pem"))


def test_a_key_others_can_read_and_a_certificate_of_another_lab_are_refused(labs, tmp_path):
    lab, other = labs
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("ca.pem", "client.pem", "client-key.pem"):
        shutil.copy(lab / name, mixed / name)
    (mixed / "client-key.pem").chmod(0o644)
    with pytest.raises(RunnerError, match=r"readable by others \(mode 0644\): chmod 600"):
        lab_security("client", tls_files("client", _flags(tls_dir=mixed)))
    with pytest.raises(RunnerError, match="not signed by --tls-ca"):
        lab_security("client", TlsFiles(lab / "ca.pem", other / "client.pem", other / "client-key.pem"))


@pytest.mark.parametrize(("address", "secure", "expected"), [
    ("tcp://127.0.0.1:8786", False, "tcp://127.0.0.1:8786"), ("127.0.0.1:8786", False, "tcp://127.0.0.1:8786"),
    ("localhost:8786", False, "tcp://localhost:8786"), ("tcp://[::1]:8786", False, "tcp://[::1]:8786"),
    ("10.0.0.5:8786", True, "tls://10.0.0.5:8786"), ("tls://lab.example:8786", True, "tls://lab.example:8786"),
])
def test_lab_addresses_as_dask_takes_them(address, secure, expected):
    assert lab_address(address, secure=secure, flag="--cluster") == expected


@pytest.mark.parametrize(("address", "secure", "why"), [
    ("tcp://10.0.0.5:8786", False, "10.0.0.5 is not loopback and the lab has no TLS"),
    ("lab.example:8786", False, "lab.example is not loopback"),
    ("tcp://0.0.0.0:8786", False, "0.0.0.0 is not loopback"),
    ("tls://127.0.0.1:8786", False, "tls:// needs the lab's certificates"),
    ("tcp://10.0.0.5:8786", True, "this lab runs on mutual TLS (--tls-dir): write tls://10.0.0.5:8786"),
    ("udp://127.0.0.1:8786", False, "expected HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"),
])
def test_lab_addresses_refused_with_the_fix(address, secure, why):
    with pytest.raises(RunnerError) as info:
        lab_address(address, secure=secure, flag="--cluster")
    assert why in str(info.value)
    if not secure and "expected" not in why:
        assert FIX in str(info.value)


def test_loopback_is_127_8_and_1_and_localhost_only():
    assert all(map(is_loopback, ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["", None, "0.0.0.0", "::", "10.0.0.5", "lab-host", "127.0.0.1.nip.io"]))


def test_the_cli_refuses_a_lab_off_loopback_without_tls_and_tls_without_certificates(tmp_path, capsys):
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text("scenarios:\n  - {name: idle, idle: true, duration: 1}\n")
    assert main(["scheduler", "--host", "0.0.0.0"]) == 2
    assert main(["scheduler", "--dashboard", "0.0.0.0:8787"]) == 2
    assert main(["worker", "tcp://10.0.0.5:8786"]) == 2
    assert main(["worker", "tcp://127.0.0.1:8786", "--listen-host", "10.0.0.7"]) == 2
    # before: `tls://` gave a TypeError traceback from Dask in run and worker
    assert main(["run", str(scenario_file), "--cluster", "tls://127.0.0.1:8786"]) == 2
    assert main(["worker", "tls://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 6 and "Traceback" not in err, err
    assert "error: --host 0.0.0.0: refused: not loopback and the lab has no TLS" in err
    assert "error: --dashboard 0.0.0.0:8787: refused: Dask's dashboard has no authentication" in err
    assert "error: --listen-host 10.0.0.7: refused" in err
    assert err.count("tls:// needs the lab's certificates") == 2
    assert all(FIX in line for line in lines if "dashboard" not in line)
