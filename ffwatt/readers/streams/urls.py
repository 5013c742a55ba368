"""Output URLs split the way ffmpeg splits them (libavformat `av_url_split`, rtmpproto.c).

Not `urllib.parse.urlsplit`: the name nginx-rtmp registers is what ffmpeg sends, and the two
disagree on hostile input (urlsplit takes `#` as a fragment and drops tabs and newlines;
ffmpeg keeps both in the stream name). The authority ends at the first `/`, `?` or `#`; the
user info is everything up to its last `@` and is only ever dropped, never returned.

Standard library only; pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["Url", "split_url", "rtmp_app_and_name", "query_values"]


@dataclass(frozen=True)
class Url:
    """A `scheme://[userinfo@]host[:port]/path?query` URL without its user info."""

    scheme: str  # lower case
    host: str  # as written, `[::1]` kept in brackets
    port: str  # digits as written, or ""
    path: str  # from the first `/`, `?` or `#` after the authority, query included: what ffmpeg sends
    userinfo: str  # kept only so that callers can treat it as a secret; never put it in a label

    @property
    def where(self) -> str:
        """`scheme://host[:port]`: where the stream goes, nothing that names or opens it."""
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")

    @property
    def path_only(self) -> str:
        """The path without its query (`?`...) and fragment."""
        return self.path.split("?", 1)[0].split("#", 1)[0]

    @property
    def query(self) -> str:
        _, sep, query = self.path.partition("?")
        return query if sep else ""


def split_url(text: str) -> Url | None:
    """The parts of `text`, or None when it is not `scheme://...` (a file name, `pipe:1`)."""
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme or not (scheme[0].isalpha() and all(c.isalnum() or c in "+.-" for c in scheme)):
        return None
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo = ""
    host, port = _host_port(hostport)
    return Url(scheme.lower(), host, port, path, userinfo)


def _host_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):  # [v6]:port
        close = hostport.find("]")
        if close > 0:
            rest = hostport[close + 1:]
            return hostport[: close + 1], rest[1:] if rest.startswith(":") else ""
    host, colon, port = hostport.partition(":")
    return host, (port if colon else "")


def rtmp_app_and_name(path: str) -> tuple[str, str]:
    """(application, stream name) from an RTMP URL's path, as ffmpeg's rtmpproto.c and
    nginx-rtmp read it:

    - the application is the first path part, or the first two when there are three or more
      (`/app/instance/name`), `/ondemand/...` aside; nginx-rtmp cuts `?args` off it;
    - the name is the rest; nginx-rtmp cuts it at its first `?` (the args: `?key=...` are
      credentials, never part of the name);
    - ffmpeg drops a `.flv` suffix and prefixes `mp4:` to a `.mp4`/`.f4v` name without `:`.
    """
    path = path[1:] if path.startswith("/") else path
    if path.startswith("ondemand/"):
        app, name = "ondemand", path[len("ondemand/"):]
    else:
        first, slash, rest = path.partition("/")
        if not slash:
            app, name = "", first
        else:
            second, slash2, tail = rest.partition("/")
            colon = rest.find(":")
            if not slash2 or (0 <= colon < len(second)):
                app, name = first, rest  # `app/name`, or a `:` in the name before any `/`
            else:
                app, name = f"{first}/{second}", tail
    return app.split("?", 1)[0], _ffmpeg_playpath(name).split("?", 1)[0]


def _ffmpeg_playpath(name: str) -> str:
    if ":" not in name and len(name) > 4 and name[-4:] in (".f4v", ".mp4"):
        return "mp4:" + name
    if len(name) > 4 and name.endswith(".flv"):
        return name[:-4]
    return name


def query_values(query: str) -> dict[str, str]:
    """`a=1&b=%20x` -> {"a": "1", "b": " x"} (percent-decoded, as ffmpeg's SRT and HTTP
    protocols read them; a repeated key keeps its last value)."""
    out: dict[str, str] = {}
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key:
            out[unquote(key)] = unquote(value)
    return out
