"""Small helpers the reliability tests share."""

from __future__ import annotations

import time

import requests

from ffwatt.catalog import metrics as m
from tests.harness import parse_samples

UP = m.EXPORTER_UP.name.encode()


def check_scrape(session: requests.Session, url: str, timeout: float = 30.0) -> str | None:
    """One scrape of `url`/metrics; None when it is a complete, valid answer, else what
    went wrong (a failed scrape as Prometheus would count it)."""
    try:
        r = session.get(url + "/metrics", timeout=timeout)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    if r.status_code != 200:
        return f"HTTP {r.status_code}"
    declared = r.headers.get("Content-Length")
    if declared is not None and int(declared) != len(r.content):
        return f"body of {len(r.content)} bytes, Content-Length {declared}"
    if UP not in r.content:
        return f"no {UP.decode()} in a {len(r.content)}-byte body"
    return None


def value(url: str, name: str, **labels: str) -> float | None:
    text = requests.get(url + "/metrics", timeout=10).text
    found = [v for lbl, v in parse_samples(text).get(name, []) if all(lbl.get(k) == x for k, x in labels.items())]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def health(url: str) -> dict:
    return requests.get(url + "/health", timeout=10).json()


def wait_until(predicate, timeout: float = 20.0, what: str = "condition", interval: float = 0.05):
    """Poll until predicate() is truthy (returns it); AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except (requests.RequestException, ValueError) as exc:  # a server restarting answers nothing for a while
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
