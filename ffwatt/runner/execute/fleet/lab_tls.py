"""Mutual TLS for the lab, and the rule that keeps a lab without it on loopback.

Whoever can reach a Dask scheduler or worker can run code on every host of the lab
(`Client(address).run(f)`, `run_on_scheduler`). So:

* a lab off loopback runs on mutual TLS: every scheduler, worker and client presents a
  certificate signed by the lab's CA (`ffwatt fleet certs DIR`, ffwatt/runner/execute/fleet/certs.py)
  and accepts only peers whose certificate that CA signed. `lab_security(role, files)` builds
  Dask's `Security(require_encryption=True, ...)` for one role from `--tls-dir DIR` (`ca.pem`,
  `ROLE.pem`, `ROLE-key.pem`) or `--tls-ca/--tls-cert/--tls-key`, after checking the files here
  (readable, a private key no one else can read, a certificate the CA signed);
* without TLS, every address (`--cluster`, the worker's scheduler and `--listen-host`, the
  scheduler's `--host`) must be loopback; anything else is refused with the fix (`lab_address`,
  `check_listen_host`). A `tls://` address without certificates, or `tcp://` with them, is
  refused the same way (before: a `TypeError` traceback from Dask).

Dask checks the peer's certificate against the CA and not its host name (`check_hostname` is
off in `distributed.security`): the CA is the lab's own, so holding any of its certificates is
what admits a peer. Keep `ca-key.pem` off the lab hosts.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from ffwatt.runner.errors import RunnerError

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["ROLES", "TlsFiles", "TlsSettings", "check_listen_host", "is_loopback", "lab_address", "lab_security",
           "tls_files"]

ROLES = ("scheduler", "worker", "client")
_FIX = ("make the lab's certificates once (`ffwatt fleet certs DIR`), give each host ca.pem and its role's "
        "ROLE.pem and ROLE-key.pem, and pass --tls-dir DIR to `ffwatt scheduler`, `ffwatt worker` and `ffwatt run "
        "--cluster` (docs/fleet.md)")


class TlsSettings(Protocol):
    """The TLS flags an options struct carries (`runner.settings`: run, worker, scheduler)."""

    tls_dir: Path | None
    tls_ca: Path | None
    tls_cert: Path | None
    tls_key: Path | None


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def tls_files(role: str, opts: TlsSettings) -> TlsFiles | None:
    """The CA, certificate and key of `role` from the flags (each given one wins over `--tls-dir`'s file);
    None when no TLS flag is given; `RunnerError` when some are and a file is missing from them."""
    given = {"ca": opts.tls_ca, "cert": opts.tls_cert, "key": opts.tls_key}
    if opts.tls_dir is None and not any(given.values()):
        return None
    defaults = {"ca": "ca.pem", "cert": f"{role}.pem", "key": f"{role}-key.pem"}
    found = {k: v if v is not None else (Path(opts.tls_dir) / defaults[k] if opts.tls_dir else None)
             for k, v in given.items()}
    missing = [f"--tls-{k}" for k, v in found.items() if v is None]
    if missing:
        raise RunnerError(f"{', '.join(missing)} missing: give --tls-dir DIR (with ca.pem, {role}.pem, {role}-key.pem) "
                          "or all of --tls-ca, --tls-cert and --tls-key")
    return TlsFiles(Path(found["ca"]), Path(found["cert"]), Path(found["key"]))


def _check_readable(path: Path, flag: str) -> None:
    if not path.is_file():
        raise RunnerError(f"{flag} {path}: no such file")
    if not os.access(path, os.R_OK):
        raise RunnerError(f"{flag} {path}: not readable by this user")


def _check_private(key: Path) -> None:
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        raise RunnerError(f"--tls-key {key}: the private key is readable by others (mode {mode:04o}): chmod 600 {key}")


def _check_signed(files: TlsFiles) -> None:
    """The certificate is signed by the CA (a certificate of another lab is refused here, not at the peer)."""
    try:
        from cryptography import x509
    except ImportError:  # the handshake checks it anyway; this only says so earlier
        return
    try:
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError) as exc:
        raise RunnerError(f"--tls-cert {files.cert}: not a certificate signed by --tls-ca {files.ca}: {exc}") from None
    except Exception as exc:  # InvalidSignature carries no message
        raise RunnerError(f"--tls-cert {files.cert}: not signed by --tls-ca {files.ca} "
                          f"({type(exc).__name__}): give the lab's own pair") from None


def lab_security(role: str, files: TlsFiles | None) -> Security | None:
    """Dask's `Security` for `role` on mutual TLS (module docstring), or None without TLS files."""
    if files is None:
        return None
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    for path, flag in ((files.ca, "--tls-ca"), (files.cert, "--tls-cert"), (files.key, "--tls-key")):
        _check_readable(path, flag)
    _check_private(files.key)
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
        context.load_cert_chain(str(files.cert), str(files.key))
    except (ssl.SSLError, ValueError) as exc:
        raise RunnerError(f"cannot use the TLS files --tls-ca {files.ca}, --tls-cert {files.cert}, --tls-key "
                          f"{files.key}: {exc}") from None
    _check_signed(files)
    from distributed.security import Security

    return Security(require_encryption=True, tls_ca_file=str(files.ca),
                    **{f"tls_{role}_cert": str(files.cert), f"tls_{role}_key": str(files.key)})


def is_loopback(host: str | None) -> bool:
    """Whether `host` names this machine's loopback only (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False  # "" and None mean every interface to Dask
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def lab_address(address: str, *, secure: bool, flag: str) -> str:
    """`address` (`HOST:PORT`, `tcp://...` or `tls://...`) as Dask takes it: `tls://` with TLS, `tcp://`
    without; `RunnerError` with the fix when the scheme and the TLS flags disagree, or when a lab without
    TLS would leave loopback."""
    scheme, sep, rest = address.strip().partition("://")
    if not sep:
        scheme, rest = ("tls" if secure else "tcp"), address.strip()
    if scheme not in ("tcp", "tls") or not rest:
        raise RunnerError(f"{flag} {address}: expected HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT")
    try:
        host = urlsplit(f"//{rest}").hostname
    except ValueError as exc:
        raise RunnerError(f"{flag} {address}: {exc}") from None
    if secure and scheme == "tcp":
        raise RunnerError(f"{flag} {address}: this lab runs on mutual TLS (--tls-dir): write tls://{rest}")
    if not secure and scheme == "tls":
        raise RunnerError(f"{flag} {address}: tls:// needs the lab's certificates: {_FIX}")
    if not secure and not is_loopback(host):
        raise RunnerError(f"{flag} {address}: refused: {host or 'every interface'} is not loopback and the lab has no "
                          f"TLS; whoever reaches a Dask scheduler or worker can run code on every lab host: {_FIX}")
    return f"{scheme}://{rest}"


def check_listen_host(host: str | None, *, secure: bool, flag: str) -> None:
    """`RunnerError` with the fix when a lab without TLS would listen beyond loopback."""
    if not secure and not is_loopback(host):
        raise RunnerError(f"{flag} {host or '(every interface)'}: refused: not loopback and the lab has no TLS; "
                          f"whoever reaches a Dask scheduler or worker can run code on every lab host: {_FIX}")
