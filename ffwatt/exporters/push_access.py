"""Who may push progress: an address allow-list and an optional bearer token.

Standard library only; used by the ffmpeg exporter's push endpoint (exporters.ffmpeg_progress).

* Peers on loopback (127.0.0.0/8, ::1) are always allowed; `--push-allow CIDR,...` adds
  networks (`0.0.0.0/0,::/0` opens it to all). An IPv4 peer seen on a dual-stack socket
  as `::ffff:a.b.c.d` is judged as `a.b.c.d`.
* `--push-token-file FILE`: every push must carry `Authorization: Bearer <token>`, the token
  being the file's content without surrounding whitespace. The comparison takes constant time
  (hmac.compare_digest). The file is read again when it changes (size, mtime or inode), so a
  token can be rotated without a restart; a file that cannot be read any more keeps the last
  good token (and /health says why), a file that never could be read stops the exporter at start.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from pathlib import Path

from ffwatt.common.errors import FfwattError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
MAX_TOKEN_BYTES = 4096


def networks(text: str) -> tuple[Network, ...]:
    """Parse `--push-allow`: comma-separated CIDRs or addresses ('' is none). A bad entry names itself."""
    found = []
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item[:60]!r} is not an IP network (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)") from None
    return tuple(found)


def peer_allowed(address: str, allowed: tuple[Network, ...]) -> bool:
    """True when the peer `address` is on loopback or in one of the `allowed` networks."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of the address
    except ValueError:
        return False  # not an IP peer (a Unix socket): refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in LOOPBACK + allowed)


class TokenError(FfwattError, ValueError):
    """The token file cannot be used; the message names the file and why."""


def _read_token(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise TokenError(f"cannot read the push token file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TOKEN_BYTES:
        raise TokenError(f"push token file {path} is over {MAX_TOKEN_BYTES} bytes; a token is one short line")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenError(f"push token file {path} is not ASCII text") from None
    if not token:
        raise TokenError(f"push token file {path} is empty")
    if any(c.isspace() for c in token):
        raise TokenError(f"push token file {path} holds more than one word; a token has no spaces")
    return token


class TokenFile:
    """The expected bearer token, read from a file and again whenever the file changes."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._token = _read_token(self.path).encode()  # TokenError at start: refuse to run unprotected
        self.error: str | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _current(self) -> bytes:
        stamp = self._stat()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._token = _read_token(self.path).encode()
                    self.error = None
                except TokenError as exc:
                    self.error = f"{exc}; the previous token stays in force"
            return self._token

    def accepts(self, authorization: str | None) -> bool:
        """True when the `Authorization` header value is `Bearer <the token>`."""
        expected = self._current()
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            given = ""
        # compare_digest takes time independent of where the strings differ (not of their lengths)
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected)
