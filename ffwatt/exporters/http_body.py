"""A streamed HTTP answer's body (requests, `stream=True`), read by a deadline and a size limit.

`read_body` reads one socket read at a time, each bounded by the time left, so a server that
trickles bytes cannot keep the caller past its deadline (requests' own timeout bounds each read,
not the answer). Past the deadline it raises `BodyDeadlineError` (a `TimeoutError`), past `max_bytes`
`BodyTooLargeError`; a failing read raises what requests/urllib3 raise. Callers turn these into their
own errors (the health probe's reasons, an exporter's `SourceError`).
"""

from __future__ import annotations

import time

import requests

from ffwatt.common.errors import FfwattError

__all__ = ["BodyDeadlineError", "BodyTooLargeError", "read_body"]


class BodyDeadlineError(FfwattError, TimeoutError):
    """The deadline passed before the body was complete."""


class BodyTooLargeError(FfwattError, ValueError):
    """The body is longer than the limit."""


def read_body(response: requests.Response, deadline: float, max_bytes: int, read_size: int = 64 * 1024) -> bytes:
    """The body of `response`, complete by `deadline` (`time.monotonic()`) and at most `max_bytes` long."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BodyDeadlineError("the body was not complete by the deadline")
        if sock is not None:
            sock.settimeout(remaining)
        chunk = raw.read1(read_size, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError(f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
