"""Reading an HTTP(S) URL the way a user writes it: `https://user:password@host:port/path`.

urllib takes no user info in a URL, so `open_url` moves it into an `Authorization: Basic`
header, verifies https against the system's CAs or a given CA file, and `redact` keeps the
password out of every message (`user:xxxxx@`, as Prometheus shows it). Standard library only:
the runner's meter and the TSDB client read through it (the exporters' web config on the
other side is ffwatt/exporters/webconfig.py).
"""

from __future__ import annotations

import base64
import re
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["open_url", "redact"]

# `scheme://user:password@` -> `scheme://user:xxxxx@`
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:'\"]*)(?::[^/@\s'\"]*)?@")


def redact(text: str) -> str:
    """Every URL's password in `text` replaced by xxxxx (the user name kept)."""
    return _USERINFO.sub(lambda mt: f"{mt['scheme']}{mt['user']}:xxxxx@", text)


@lru_cache(maxsize=8)
def _context(ca_file: str | None) -> ssl.SSLContext:
    # one context per CA file: building one reads the file and the system store (~ms), a meter samples each second
    return ssl.create_default_context(cafile=ca_file)


def open_url(url: str, timeout: float, *, headers: Mapping[str, str] | None = None,
             ca_file: str | None = None) -> Any:
    """`urllib.request.urlopen` of `url`, its user info sent as basic auth, https verified against
    `ca_file` (else the system's CAs). Raises what urlopen raises; the caller redacts messages."""
    parts = urllib.parse.urlsplit(url)
    sent = dict(headers or {})
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        sent["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"  # an IPv6 literal
        if parts.port is not None:
            netloc += f":{parts.port}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    context = _context(ca_file) if parts.scheme == "https" else None
    return urllib.request.urlopen(urllib.request.Request(url, headers=sent), timeout=timeout, context=context)
