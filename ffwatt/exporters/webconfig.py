"""Web configuration in Prometheus exporter-toolkit's format (`--web-config-file`).

The same YAML a node_exporter user already has (exporter-toolkit docs/web-configuration.md):

    tls_server_config:        # absent: plain HTTP
      cert_file: server.crt   # or `cert:` inline PEM
      key_file: server.key    # or `key:` inline PEM
      min_version: TLS12      # TLS10..TLS13, default TLS12
      max_version: TLS13
      client_ca_file: ca.crt  # or `client_ca:`; mutual TLS
      client_auth_type: RequireAndVerifyClientCert
    http_server_config:
      headers: {X-Content-Type-Options: nosniff, ...}
    basic_auth_users:
      prometheus: $2y$10$...  # bcrypt hash

Invariants: a config is checked whole when read (every problem named by its key, e.g.
`tls_server_config.min_version`), and the TLS context is built then too, so a file that
loads is a file that serves. `WebConfigFile` re-reads the file when its mtime or size
changes; a changed file that is bad keeps the last good config in force (logged once).
The outcomes of password checks are cached by a digest of (user, hash, password), as
exporter-toolkit does, bounded and expiring, per loaded config (a reload forgets every success);
checks of credentials not in the cache are throttled per peer (`AuthThrottle`), so wrong
passwords cannot keep the CPU busy in bcrypt.

Differences from the Go toolkit, each refused with a clear error rather than ignored:
`cipher_suites` and `curve_preferences` (Go names), `client_allowed_sans`, `rate_limit`,
and the client_auth_types that ask for a certificate without verifying it (Python's ssl
verifies whatever certificate it asks for). `http2` is accepted and ignored (HTTP/1.1 only).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from ffwatt.common.errors import FfwattError
from ffwatt.common.yaml_file import load_yaml
from ffwatt.exporters.rate_limit import AuthThrottle

log = logging.getLogger("ffwatt.web")

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert")
_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
_TLS_KEYS = ("cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file", "client_auth_type",
             "min_version", "max_version", "prefer_server_cipher_suites")
_TLS_UNSUPPORTED = ("cipher_suites", "curve_preferences", "client_allowed_sans")
_HTTP_KEYS = ("http2", "headers")
# The headers exporter-toolkit lets a config set (and no others).
SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                    "X-XSS-Protection", "Strict-Transport-Security")
_HEADER_VALUES = {"X-Frame-Options": ("deny", "sameorigin"), "X-Content-Type-Options": ("nosniff",)}
# Checked against an unknown user so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = b"$2b$10$QOauhQNbBCuQDKes6eFzPeZ0hqpF.bwZNC7pnBoMXBtqD.rc0dfWW"
# How long the outcome of a password check is kept, and how many of each kind.
VERDICT_SECONDS = 300.0
MAX_VERDICTS = 1024


class WebConfigError(FfwattError, ValueError):
    """A web config that cannot be used; the message names the file and the key."""


class Verdicts:
    """Outcomes of password checks, by a digest of (user, hash, password): successes and failures
    kept apart (failures cannot push successes out), each bounded (the one used longest ago goes
    first) and expiring `ttl` seconds after the check (a success: after its last use, so a
    scraper is not checked again while it scrapes). One per loaded config: a reload forgets them all."""

    def __init__(self, *, ttl: float = VERDICT_SECONDS, max_entries: int = MAX_VERDICTS, clock=time.monotonic):
        self._ttl, self._max, self._clock = ttl, max_entries, clock
        self._kept: dict[bool, OrderedDict[bytes, float]] = {True: OrderedDict(), False: OrderedDict()}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> bool | None:
        now = self._clock()
        with self._lock:
            for ok, kept in self._kept.items():
                expires = kept.get(key)
                if expires is None:
                    continue
                if expires <= now:
                    del kept[key]
                    return None
                kept.move_to_end(key)
                if ok:
                    kept[key] = now + self._ttl
                return ok
        return None

    def put(self, key: bytes, ok: bool) -> None:
        with self._lock:
            kept = self._kept[ok]
            kept[key] = self._clock() + self._ttl
            kept.move_to_end(key)
            while len(kept) > self._max:
                kept.popitem(last=False)


@dataclass(frozen=True)
class WebConfig:
    """One loaded, checked web config. `tls` is None for plain HTTP."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    _verdicts: Verdicts = field(default_factory=Verdicts, compare=False, repr=False)

    @property
    def needs_auth(self) -> bool:
        return bool(self.users)

    def authorized(self, header: str | None, throttle: AuthThrottle | None = None, peer: str = "") -> bool | None:
        """True when basic auth is off, or `header` (Authorization) holds a listed user and its
        password; False when not; None when the answer needs a bcrypt check that `throttle`
        refuses `peer` (too many failures). Outcomes are cached (`Verdicts`), so a scraper pays
        one bcrypt per `VERDICT_SECONDS`, and a repeated wrong password none."""
        if not self.users:
            return True
        user, password = _basic_credentials(header)
        if user is None:
            return False
        hashed = self.users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), hashed or b"", password.encode()))).digest()
        cached = self._verdicts.get(key)
        if cached is not None:
            return cached
        ticket = throttle.take(peer) if throttle is not None else None
        if throttle is not None and ticket is None:
            return None
        import bcrypt  # only with basic auth configured

        try:
            ok = bcrypt.checkpw(password.encode(), hashed or _DUMMY_HASH) and hashed is not None
        except ValueError:  # a hash bcrypt cannot read (checked at load, so unexpected)
            ok = False
        if throttle is not None and ticket is not None:
            throttle.settle(peer, ticket, ok)  # only failures count against a peer
        self._verdicts.put(key, ok)
        return ok


def _basic_credentials(header: str | None) -> tuple[str | None, str]:
    if not header:
        return None, ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, "")


def load(path: str | os.PathLike) -> WebConfig:
    """Read and check a web config file; raises WebConfigError naming the key at fault."""
    doc = load_yaml(path, WebConfigError, "web config")
    try:
        return parse(doc, base_dir=os.path.dirname(os.path.abspath(path)))
    except WebConfigError as exc:
        raise WebConfigError(f"web config {path}: {exc}") from None


def parse(doc: object, base_dir: str = ".") -> WebConfig:
    """Check a parsed web config document (relative file names are taken from `base_dir`)."""
    if doc is None:
        return WebConfig()
    if not isinstance(doc, Mapping):
        raise WebConfigError(f"expected a mapping with {', '.join(_TOP_KEYS)}, got {type(doc).__name__}")
    _known(doc, _TOP_KEYS, "", unsupported=("rate_limit",))
    return WebConfig(tls=_tls(doc.get("tls_server_config"), base_dir),
                     users=_users(doc.get("basic_auth_users")),
                     headers=_headers(doc.get("http_server_config")))


def _known(section: Mapping, allowed: tuple[str, ...], where: str, unsupported: tuple[str, ...] = ()) -> None:
    for key in section:
        name = f"{where}{key}"
        if key in unsupported:
            raise WebConfigError(f"{name}: not supported by ffwatt's server; remove it")
        if key not in allowed:
            raise WebConfigError(f"{name}: unknown key; allowed: {', '.join(allowed)}")


def _string(section: Mapping, key: str, where: str) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise WebConfigError(f"{where}{key}: expected a string, got {type(value).__name__}")
    return value


def _tls(section: object, base_dir: str) -> ssl.SSLContext | None:
    where = "tls_server_config."
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise WebConfigError(f"tls_server_config: expected a mapping, got {type(section).__name__}")
    _known(section, _TLS_KEYS, where, unsupported=_TLS_UNSUPPORTED)
    s = {key: _string(section, key, where) for key in _TLS_KEYS if key != "prefer_server_cipher_suites"}
    for inline, file in (("cert", "cert_file"), ("key", "key_file"), ("client_ca", "client_ca_file")):
        if s[inline] and s[file]:
            raise WebConfigError(f"{where}{inline} and {where}{file}: give one, not both")
    if not (s["cert"] or s["cert_file"]):
        raise WebConfigError(f"{where}cert_file: missing (a TLS server needs a certificate)")
    if not (s["key"] or s["key_file"]):
        raise WebConfigError(f"{where}key_file: missing (a TLS server needs the certificate's key)")
    versions = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        text = s[key] or default
        if text not in _TLS_VERSIONS:
            raise WebConfigError(f"{where}{key}: {text!r} is not one of {', '.join(_TLS_VERSIONS)}")
        versions[key] = _TLS_VERSIONS[text]
    if versions["min_version"] > versions["max_version"]:
        raise WebConfigError(f"{where}min_version: {s['min_version']} is above max_version {s['max_version']}")
    has_ca = bool(s["client_ca"] or s["client_ca_file"])
    auth = s["client_auth_type"] or ("RequireAndVerifyClientCert" if has_ca else "NoClientCert")
    if auth in _CLIENT_AUTH_UNSUPPORTED:
        raise WebConfigError(f"{where}client_auth_type: {auth} asks for a certificate without verifying it, "
                             f"which ffwatt does not offer; use {' or '.join(_CLIENT_AUTH)}")
    if auth not in _CLIENT_AUTH:
        raise WebConfigError(f"{where}client_auth_type: {auth!r} is not one of {', '.join(_CLIENT_AUTH)}")
    if auth != "NoClientCert" and not has_ca:
        raise WebConfigError(f"{where}client_ca_file: missing; client_auth_type {auth} needs the CA that "
                             "signs client certificates")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = versions["min_version"]
    context.maximum_version = versions["max_version"]
    context.verify_mode = _CLIENT_AUTH[auth]
    try:
        if s["cert"] or s["key"]:
            _load_inline_chain(context, s, base_dir)
        else:
            context.load_cert_chain(_path(s["cert_file"], base_dir), _path(s["key_file"], base_dir))
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"{where}cert_file/key_file: cannot load the certificate and key: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    if has_ca:
        try:
            if s["client_ca"]:
                context.load_verify_locations(cadata=s["client_ca"])
            else:
                context.load_verify_locations(cafile=_path(s["client_ca_file"], base_dir))
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"{where}client_ca_file: cannot load: {getattr(exc, 'strerror', None) or exc}") \
                from None
    return context


def _path(name: str | None, base_dir: str) -> str:
    assert name is not None
    return name if os.path.isabs(name) else os.path.join(base_dir, name)


def _load_inline_chain(context: ssl.SSLContext, s: Mapping[str, str | None], base_dir: str) -> None:
    """ssl loads a chain from files only: inline PEM goes through a private temp file."""
    cert = s["cert"] or open(_path(s["cert_file"], base_dir), encoding="utf-8").read()
    key = s["key"] or open(_path(s["key_file"], base_dir), encoding="utf-8").read()
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:  # mode 0600
        f.write(cert.rstrip() + "\n" + key.rstrip() + "\n")
        f.flush()
        context.load_cert_chain(f.name)


def _users(section: object) -> dict[str, bytes]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise WebConfigError(f"basic_auth_users: expected a mapping of user: bcrypt hash, got {type(section).__name__}")
    users = {}
    for user, hashed in section.items():
        where = f"basic_auth_users.{user}"
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(f"{where}: a user name is a non-empty string without ':'")
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
            raise WebConfigError(f"{where}: expected a bcrypt hash ($2y$10$... , 60 characters), e.g. from "
                                 "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`; never a plain password")
        users[user] = hashed.encode()
    return users


def _headers(section: object) -> tuple[tuple[str, str], ...]:
    where = "http_server_config."
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise WebConfigError(f"http_server_config: expected a mapping, got {type(section).__name__}")
    _known(section, _HTTP_KEYS, where)
    if "http2" in section and not isinstance(section["http2"], bool):
        raise WebConfigError(f"{where}http2: expected true or false")
    headers = section.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise WebConfigError(f"{where}headers: expected a mapping of header: value")
    out = []
    for name, value in headers.items():
        key = f"{where}headers.{name}"
        if name not in SECURITY_HEADERS:
            raise WebConfigError(f"{key}: not a settable header; allowed: {', '.join(SECURITY_HEADERS)}")
        if value in (None, ""):
            continue
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise WebConfigError(f"{key}: expected a one-line string")
        allowed = _HEADER_VALUES.get(name)
        if allowed and value.lower() not in allowed:
            raise WebConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
        out.append((name, value))
    return tuple(out)


class WebConfigFile:
    """The web config in force, re-read when the file changes (checked at most once a second)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = str(path) if path else ""
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp = self._read_stamp()
        self.current = load(self.path) if self.path else WebConfig()  # a bad file fails here, at startup
        self.error: str | None = None

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def get(self, now: float) -> WebConfig:
        if not self.path or now - self._checked < 1.0:
            return self.current
        with self._lock:
            if now - self._checked < 1.0:
                return self.current
            self._checked = now
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return self.current
            self._stamp = stamp
            try:
                config = load(self.path)
            except WebConfigError as exc:
                if str(exc) != self.error:
                    log.error("%s; keeping the previous web config", exc)
                self.error = str(exc)
                return self.current
            self.error = None
            self.current = config
            log.info("web config %s re-read", self.path)
            return config
