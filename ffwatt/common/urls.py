"""Reading an HTTP(S) URL the way a user writes it: `https://user:password@host:port/path`.

urllib takes no user info in a URL, so `open_url` moves it into an `Authorization: Basic`
header, verifies https against the system's CAs or a given CA file, and never follows a
redirect (a 3xx is an `HTTPError`): the header would otherwise go wherever the server points.
`redact` shows a URL without its password (`user:xxxxx@`, as Prometheus shows it) and
`scrub` takes a URL's password out of a message (a library's error may quote it in any form).

Both parse with `urlsplit`, the parser `open_url` sends with, never a pattern: a password
holding `'`, `"`, `@` or a space is still the password. Standard library only: the runner's
meter and the TSDB client read through it (the exporters' web config on the other side is
ffwatt/exporters/webconfig.py).
"""

from __future__ import annotations

import base64
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["open_request", "open_url", "redact", "scrub"]

HIDDEN = "xxxxx"


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


def open_url(url: str, timeout: float, *, headers: Mapping[str, str] | None = None,
             ca_file: str | None = None) -> Any:
    """`urlopen` of `url`, its user info sent as basic auth, https verified against `ca_file`
    (else the system's CAs), no redirect followed (a 3xx raises `HTTPError`). Raises what
    urlopen raises; the caller scrubs messages (`scrub(message, url)`)."""
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
    opener = _opener(ca_file, parts.scheme == "https")
    return opener.open(urllib.request.Request(url, headers=sent), timeout=timeout)
