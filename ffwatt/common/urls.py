"""ffwatt's one HTTP client: reading a URL the way a user writes it, `https://user:password@host:port/path`.

The style chosen is the standard library's urllib, behind two functions: every reader below
the exporters (the TSDB client, the runner's meter and energy sources, the test servers, the
demo) goes through it. Why urllib rather than requests or raw http.client:

* it costs no dependency on the floors below the exporters (common, readers, the energy
  sources the runner and the agent share) and nothing resident in the agent, where requests
  adds ~6 MB RSS;
* one place holds the rules every caller needs: the URL's user info sent as `Authorization:
  Basic` (urllib takes none in a URL), https verified against the system's CAs or a given CA
  file, a timeout on every call, redirects never followed (a 3xx is the answer: the header would
  otherwise go wherever the server points), and no password in any message;
* raw http.client (the runner's progress push) repeats the URL, TLS and auth handling by hand.

requests remains where a library brings it (the docker SDK) and in the two exporters that poll
servers every few seconds with a keep-alive session and size-capped streamed reads (the health
checker, the rtmp exporter); both follow no redirect either.

    open_url(url, timeout, ...)  -> the open response (for streaming reads); an HTTP error status
                                    (a 3xx included) raises urllib's HTTPError, as urlopen does
    open_request(request, ...)   -> the same for a caller with its own headers and TLS context
    fetch(url, timeout, ...)     -> Answer(status_code, content, headers): an HTTP error status is
                                    an answer (`.ok()` makes it an `HttpError`); no answer at all
                                    is `HttpError` naming the URL
    redact(url)                  -> the URL without its password (`user:xxxxx@`, as Prometheus shows it)
    scrub(text, *urls)           -> a message with those URLs' passwords nowhere in it (a library's
                                    error may quote it as written, percent-encoded or decoded)

Both redactions parse with `urlsplit`, the parser `open_url` sends with, never a pattern: a
password holding `'`, `"`, `@` or a space is still the password.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ffwatt.common.errors import FfwattError

__all__ = ["Answer", "HttpError", "fetch", "open_request", "open_url", "redact", "scrub"]

HIDDEN = "xxxxx"


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
            raise HttpError(scrub(f"{redact(self.url)}: HTTP {self.status_code}: {self.text[:300]}", self.url))
        return self


def _userinfo(url: str) -> tuple[urllib.parse.SplitResult, str, str] | None:
    """(parts, user info, the rest of the URL after its `@`) when `url` carries user info, else None.

    A password holding `/`, `?` or `#` ends the authority early for `urlsplit` (and for every
    client), leaving an `@` in the path: everything before the last `@` is then taken as user
    info too, so such a password is not shown either."""
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:
        info, _, _ = parts.netloc.rpartition("@")
        return parts, info, ""
    after_authority = url.partition("://")[2] if "://" in url else ""
    if "@" in after_authority:
        info, _, rest = after_authority.rpartition("@")
        return parts, info, rest
    return None


def redact(url: str) -> str:
    """`url` with the password of its user info replaced by xxxxx, the user name kept.
    A URL that does not parse is not shown."""
    try:
        found = _userinfo(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return "(a URL that does not parse)"
    if found is None:
        return url
    parts, info, rest = found
    user, colon, _ = info.partition(":")
    shown = f"{user}:{HIDDEN}" if colon else user
    if rest:
        return f"{parts.scheme}://{HIDDEN}@{rest}"
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def scrub(text: str, *urls: str | None) -> str:
    """`text` with each of `urls` shown redacted and its password (as written, percent-decoded or
    percent-encoded) nowhere in it: for messages that quote a URL, or that a library wrote about one."""
    for url in filter(None, urls):
        shown = redact(url)
        if shown == url:
            continue
        text = text.replace(url, shown)
        for secret in sorted(_secrets(url), key=len, reverse=True):
            text = text.replace(secret, HIDDEN)
    return text


def _secrets(url: str) -> set[str]:
    try:
        found = _userinfo(url)
    except ValueError:
        return {url.partition("://")[2] or url}
    if found is None:
        return set()
    _, info, rest = found
    password = info if rest else info.partition(":")[2]  # a cut authority: the whole user info
    forms = {password, urllib.parse.unquote(password)}
    return (forms | {urllib.parse.quote(form, safe="") for form in forms}) - {""}


@lru_cache(maxsize=8)
def _context(ca_file: str | None) -> ssl.SSLContext:
    # one context per CA file: building one reads the file and the system store (~ms), a meter samples each second
    return ssl.create_default_context(cafile=ca_file)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is the answer: the request's headers (basic auth) never reach the place it points to."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _no_redirects(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


@lru_cache(maxsize=8)
def _opener(ca_file: str | None, https: bool) -> urllib.request.OpenerDirector:
    return _no_redirects(_context(ca_file) if https else None)


def open_request(request: urllib.request.Request, timeout: float, context: ssl.SSLContext | None = None) -> Any:
    """`urlopen(request)` that follows no redirect (a 3xx raises `HTTPError`), for a caller with its
    own headers (basic auth) and TLS context."""
    return _no_redirects(context).open(request, timeout=timeout)


def open_url(url: str, timeout: float, *, method: str = "GET", data: bytes | None = None,
             headers: Mapping[str, str] | None = None, ca_file: str | None = None,
             context: ssl.SSLContext | None = None) -> Any:
    """The open response of `url`, its user info sent as basic auth, https verified against
    `context`, else `ca_file`, else the system's CAs, no redirect followed. Raises what urlopen
    raises (HTTPError for an error status or a redirect, URLError/OSError for no answer); the
    caller scrubs messages (`scrub(message, url)`)."""
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
    opener = _no_redirects(context) if context is not None else _opener(ca_file, parts.scheme == "https")
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
        raise HttpError(scrub(f"{method} {redact(url)}: {reason}", url)) from exc
