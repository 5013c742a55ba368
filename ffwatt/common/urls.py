"""ffwatt's one HTTP client: reading a URL the way a user writes it, `https://user:password@host:port/path`.

The style chosen is the standard library's urllib, behind two functions: every reader below
the exporters (the TSDB client, the runner's meter and energy sources, the test servers, the
demo) goes through it. Why urllib rather than requests or raw http.client:

* it costs no dependency on the floors below the exporters (common, readers, the energy
  sources the runner and the agent share) and nothing resident in the agent, where requests
  adds ~6 MB RSS;
* one place holds the rules every caller needs: the URL's user info sent as `Authorization:
  Basic` (urllib takes none in a URL), https verified against the system's CAs or a given CA
  file, a timeout on every call, redirects never followed (a credential would cross to another
  origin), and `redact` keeping the password out of every message (`user:xxxxx@`, as
  Prometheus shows it);
* raw http.client (the runner's progress push) repeats the URL, TLS and auth handling by hand.

requests remains where a library brings it (the docker SDK) and, for now, in the two exporters
that poll servers every few seconds with a keep-alive session and size-capped streamed reads
(the health checker, the rtmp exporter).

    open_url(url, timeout, ...)  -> the open response (for streaming reads); an HTTP error status
                                    (a 3xx included) raises urllib's HTTPError, as urlopen does
    fetch(url, timeout, ...)     -> Answer(status_code, content, headers): an HTTP error status is
                                    an answer (`.ok()` makes it an `HttpError`); no answer at all
                                    is `HttpError` naming the URL
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ffwatt.common.errors import FfwattError

__all__ = ["Answer", "HttpError", "fetch", "open_url", "redact"]

# `scheme://user:password@` -> `scheme://user:xxxxx@`
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:'\"]*)(?::[^/@\s'\"]*)?@")


class HttpError(FfwattError, OSError):
    """No answer came from a URL (refused, timed out, TLS failed, not a URL); names the URL, redacted."""


@dataclass(frozen=True)
class Answer:
    """What a server answered: the status (a 3xx, 4xx or 5xx included), the body and headers."""

    url: str
    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def ok(self) -> Answer:
        """This answer when its status is 2xx, else `HttpError` naming the URL, the status and the body's start."""
        if not 200 <= self.status_code < 300:
            raise HttpError(redact(f"{self.url}: HTTP {self.status_code}: {self.text[:300]}"))
        return self


def redact(text: str) -> str:
    """Every URL's password in `text` replaced by xxxxx (the user name kept)."""
    return _USERINFO.sub(lambda mt: f"{mt['scheme']}{mt['user']}:xxxxx@", text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx: the caller sees it, nothing is re-sent


@lru_cache(maxsize=8)
def _context(ca_file: str | None) -> ssl.SSLContext:
    # one context per CA file: building one reads the file and the system store (~ms), a meter samples each second
    return ssl.create_default_context(cafile=ca_file)


def open_url(url: str, timeout: float, *, method: str = "GET", data: bytes | None = None,
             headers: Mapping[str, str] | None = None, ca_file: str | None = None,
             context: ssl.SSLContext | None = None) -> Any:
    """The open response of `url`, its user info sent as basic auth, https verified against
    `context`, else `ca_file`, else the system's CAs. Raises what urlopen raises (HTTPError for an
    error status or a redirect, URLError/OSError for no answer); the caller redacts messages."""
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
    if parts.scheme == "https" and context is None:
        context = _context(ca_file)
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    return opener.open(urllib.request.Request(url, data=data, headers=sent, method=method), timeout=timeout)


def fetch(url: str, timeout: float = 2.0, *, method: str = "GET", data: bytes | None = None,
          params: Mapping[str, Any] | list[tuple[str, Any]] | None = None, headers: Mapping[str, str] | None = None,
          ca_file: str | None = None, context: ssl.SSLContext | None = None) -> Answer:
    """One request; every HTTP status is an `Answer`. `params` are URL-encoded into the query."""
    if params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
    try:
        with open_url(url, timeout, method=method, data=data, headers=headers, ca_file=ca_file,
                      context=context) as response:
            return Answer(url, response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(url, exc.code, exc.read(), dict(exc.headers or {}))
    except (OSError, ValueError) as exc:  # refused, reset, timed out, TLS; ValueError: not a URL
        reason = getattr(exc, "reason", None) or exc
        raise HttpError(redact(f"{method} {url}: {reason}")) from exc
