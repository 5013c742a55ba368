"""Credentials on an encoder's command line: found, and replaced by a short stable hash.

Stream keys and passwords reach a command line in many places: URL user info (`user:pass@`),
query values (`?key=...`, SRT's `streamid=` and `passphrase=`), the stream name of an RTMP URL
(`rtmp://host/app/KEY`: the key, unless names are `plain`), another URL's path (hashed mode),
and the values of options that carry them (`-headers`, `-passphrase`, `-rtmp_playpath`,
`-hls_enc_key`..., gst's and librtmp's `name=value` alike). `find_credentials` lists them all
(4 characters or more: shorter ones cannot be told from ordinary text); `redact` replaces each
by `key_hash` of it. A command line with more than `MAX_URLS` URLs or `MAX_SECRETS` credentials
raises `TooStrangeError`: no encoder needs them, and the work stays bounded.

`key_hash`: `key-` and the first 8 hex digits of BLAKE2b (4 bytes, personalised
`ffwatt-stream`) of the text, control characters first replaced by U+FFFD (as the label they
end up in). Standard library only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from ffwatt.common.errors import FfwattError
from ffwatt.readers.streams.urls import Url, query_values, rtmp_app_and_name, split_url

__all__ = ["RTMP_SCHEMES", "SECRET_OPTIONS", "TooStrangeError", "find_credentials", "key_hash", "normalise", "redact",
           "digest"]

HASHED, PLAIN = "hashed", "plain"  # `--stream-names`: is a stream's name a credential?
MIN_SECRET_LENGTH = 4
MAX_URLS = 128  # URLs found on one command line; more, and it names nothing (bounded work)
MAX_SECRETS = 256  # credentials found on one command line; likewise
RTMP_SCHEMES = frozenset({"rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts"})
# Options (ffmpeg's, its protocols', gst elements' and librtmp's) whose values are credentials.
SECRET_OPTIONS = frozenset({
    "headers", "cookies", "passphrase", "srt_streamid", "streamid", "rtmp_playpath", "playpath", "rtmp_conn",
    "password", "pass", "auth", "token", "encryption_key", "decryption_key", "hls_enc_key", "hls_enc_iv",
    "srtp_in_params", "srtp_out_params", "key",
})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def digest(text: str, size: int) -> str:
    """`size` bytes of BLAKE2b of `text`, in hex, personalised so that no other use collides."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size,
                           person=b"ffwatt-stream").hexdigest()


def key_hash(secret: str) -> str:
    """`key-` and 8 hex digits: the same for the same key on every host and every run."""
    return "key-" + digest(normalise(secret), 4)


def normalise(text: str) -> str:
    return _CONTROL.sub("\ufffd", text)


def _urls_in(text: str) -> Iterable[Url]:
    """The argument as one URL, and every `scheme://...` inside it (tee slaves, librtmp options,
    headers)."""
    whole = split_url(text)
    if whole is not None:
        yield whole
    for piece in re.split(r"[\s|\[\]]+", text):
        at = piece.find("://")
        while at > 0:
            start = at
            while start > 0 and piece[start - 1] in _SCHEME_CHARS:
                start -= 1
            url = split_url(piece[start:])
            if url is not None:
                yield url
            at = piece.find("://", at + 3)


def _name_part(url: Url) -> str:
    """The part of a URL that names the stream: RTMP's name, SRT's stream id, another's path."""
    if url.scheme in RTMP_SCHEMES:
        return rtmp_app_and_name(url.path)[1]
    if url.scheme == "srt":
        return query_values(url.query).get("streamid", "")
    return url.path_only if url.path_only.strip("/") else ""


def _url_secrets(url: Url, names: str) -> set[str]:
    """User info and query values always; the stream's name only when names are hashed."""
    found = set()
    if url.userinfo:
        found.add(url.userinfo)
        found.update(url.userinfo.split(":", 1))
    if url.query:
        found.add(url.query)
        found.update(query_values(url.query).values())
    name = _name_part(url)
    if names == HASHED:
        found.add(name)
    else:
        found.discard(name)
    return found


def _is_secret_option(key: str, names: str) -> bool:
    return key in SECRET_OPTIONS and not (names == PLAIN and key in ("playpath", "rtmp_playpath", "srt_streamid"))


class TooStrangeError(FfwattError):
    """A command line with more URLs or credentials than any encoder needs: named by its pid."""


def find_credentials(argv: Sequence[str], names: str) -> list[str]:
    """Every credential on the command line, longest first; `TooStrangeError` over the bounds."""
    found: set[str] = set()
    urls = 0
    for i, arg in enumerate(argv):
        for url in _urls_in(arg):
            urls += 1
            if urls > MAX_URLS:
                raise TooStrangeError
            found.update(_url_secrets(url, names))
        if arg.startswith("-") and _is_secret_option(arg[1:].split(":", 1)[0], names) and i + 1 < len(argv):
            found.add(argv[i + 1])
        for piece in arg.split():  # gst properties and librtmp options: `passphrase=...`, `playpath=...`
            key, eq, value = piece.partition("=")
            if eq and _is_secret_option(key, names):
                found.add(value)
    secrets = sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    if len(secrets) > MAX_SECRETS:
        raise TooStrangeError
    return secrets


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, key_hash(secret))
    return text
