"""`ffwatt fleet certs DIR`: the lab's own CA and one certificate per Dask role.

Writes, in `DIR` (created mode 0700 when missing):

    ca.pem, ca-key.pem                  the lab's CA (keep ca-key.pem off the lab hosts)
    scheduler.pem, scheduler-key.pem    for `ffwatt scheduler --tls-dir`
    worker.pem, worker-key.pem          for every `ffwatt worker --tls-dir`
    client.pem, client-key.pem          for `ffwatt run --cluster --tls-dir`

Keys are ECDSA P-256, written 0600 (created so: never readable by others, not even for an instant);
certificates 0644. The scheduler's and worker's certificates serve and connect (serverAuth and
clientAuth), the client's only connects. Each names its role (CN and a DNS SAN): Dask checks the CA,
not host names (ffwatt/runner/execute/fleet/lab_tls.py). Nothing is overwritten: a `DIR` that already
holds any of these files is refused, naming them, so a lab's CA is never replaced by accident.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.execute.fleet.lab_tls import ROLES

__all__ = ["FILES", "make_lab_certs"]

FILES = ("ca.pem", "ca-key.pem", *(f"{role}{suffix}.pem" for role in ROLES for suffix in ("", "-key")))


def _write(path: Path, data: bytes, mode: int) -> None:
    """`data` to a new file created with `mode` (O_EXCL: an existing file is never replaced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_lab_certs(folder: Path, days: int = 825) -> list[Path]:
    """The CA and the three roles' pairs in `folder` (module docstring); the paths written."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise RunnerError("ffwatt fleet certs needs the cryptography package: pip install 'ffwatt[fleet]'") from None
    existing = [name for name in FILES if (folder / name).exists()]
    if existing:
        raise RunnerError(f"{folder} already holds {', '.join(existing)}: a lab's CA is not replaced by accident; "
                          "remove them first or choose another folder")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise RunnerError(f"cannot create {folder}: {exc.strerror or exc}") from None
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)  # a little slack for clock skew
    until = now + datetime.timedelta(days=days)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ffwatt lab"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("ffwatt lab CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    out = {"ca.pem": (ca.public_bytes(serialization.Encoding.PEM), 0o644), "ca-key.pem": (key_pem(ca_key), 0o600)}
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if role != "client" else [])
        cert = (x509.CertificateBuilder().subject_name(name(f"ffwatt lab {role}")).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(until)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"ffwatt-{role}")]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        out[f"{role}.pem"] = (cert.public_bytes(serialization.Encoding.PEM), 0o644)
        out[f"{role}-key.pem"] = (key_pem(key), 0o600)
    written = []
    for file_name in FILES:
        data, mode = out[file_name]
        try:
            _write(folder / file_name, data, mode)
        except OSError as exc:
            raise RunnerError(f"cannot write {folder / file_name}: {exc.strerror or exc}") from None
        written.append(folder / file_name)
    return written
