"""Attacks on an exporter's server, on loopback, for the websec bench and the hostile-HTTP tests.

- `Trickle`: slowloris. `connections` sockets, each opening with the first byte of a request
  (or, against TLS, the first half of a real ClientHello) and then sending one more byte every
  `interval` seconds, never finishing; a socket the server closed is opened again at the next
  tick, as slowloris.py does. Sources are loopback addresses (127.0.0.2, ...), so one attacking
  host (one address) or many (one address per few sockets) can be played.
- `AuthFlood`: `clients` threads sending basic auth with a new wrong password each time, as fast
  as the server answers.
- `scrapes`: what a scraper arriving meanwhile gets: `count` scrapes, each on a fresh connection
  (a new scraper must get in, through a TLS handshake when there is one), every `interval` s.
"""

from __future__ import annotations

import base64
import itertools
import socket
import ssl
import threading
import time
from collections import Counter

import requests

from bench.scrape import Sampled

PLAIN_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60_000


def client_hello(server_name: str = "localhost") -> bytes:
    """The bytes of a real TLS ClientHello, as Python's client would send it first."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def sources(addresses: int) -> tuple[str, ...]:
    """`addresses` loopback addresses from 127.0.0.2 on (never the scrapers' 127.0.0.1)."""
    return tuple(f"127.0.{k // 250}.{2 + k % 250}" for k in range(addresses))


class Trickle:
    """Slowloris against 127.0.0.1:`port` (see the module docstring); a context manager."""

    def __init__(self, port: int, connections: int = 256, *, tls: bool = False, interval: float = 2.0,
                 addresses: int = 1):
        self.port = port
        self.interval = interval
        stream = client_hello() if tls else PLAIN_REQUEST
        # TLS: half the ClientHello at once; plain: the first byte. Then a byte per tick.
        self.opening = stream[: len(stream) // 2] if tls else stream[:1]
        self.rest = stream[len(self.opening):]
        self.slots: list[tuple[str, socket.socket | None, int]] = \
            [(src, None, 0) for src, _ in zip(itertools.cycle(sources(addresses)), range(connections), strict=False)]
        self.opened = 0  # connections opened, reconnections included
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def _open(self, source: str) -> socket.socket | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2, source_address=(source, 0))
            s.sendall(self.opening)
        except OSError:
            return None
        s.setblocking(False)
        self.opened += 1
        return s

    def _tick(self) -> None:
        for k, (source, s, sent) in enumerate(self.slots):
            if s is not None and _closed(s):
                s.close()
                s = None
            if s is None:
                self.slots[k] = (source, self._open(source), 0)
                continue
            try:
                s.send(self.rest[sent % len(self.rest): sent % len(self.rest) + 1])
                self.slots[k] = (source, s, sent + 1)
            except OSError:
                s.close()
                self.slots[k] = (source, None, 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self._tick()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def held(self) -> int:
        """Connections the attacker holds open now (as far as it knows)."""
        return sum(s is not None for _, s, _ in self.slots)

    def __enter__(self) -> Trickle:
        self._tick()  # every connection opened before the scrapers start
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
        for _, s, _ in self.slots:
            if s is not None:
                s.close()


def _closed(s: socket.socket) -> bool:
    """True when the server closed (or answered and will close) the connection."""
    try:
        s.recv(4096, socket.MSG_DONTWAIT | socket.MSG_PEEK)  # b"" (closed) or an answer (a 400, a 408)
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


class AuthFlood:
    """`clients` threads (each from its own loopback address) sending a new wrong password per
    request to `url` as fast as answered; answers counted by status. A context manager."""

    def __init__(self, url: str, clients: int = 8, *, user: str = "prometheus", verify: str | bool = True):
        self.url, self.user, self.verify = url, user, verify
        self.statuses: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(src,), daemon=True) for src in sources(clients)]

    def _run(self, source: str) -> None:
        with requests.Session() as session:
            session.trust_env = False
            session.get_adapter("https://").init_poolmanager(1, 1, source_address=(source, 0))
            session.get_adapter("http://").init_poolmanager(1, 1, source_address=(source, 0))
            for n in itertools.count():
                if self._stop.is_set():
                    return
                secret = base64.b64encode(f"{self.user}:wrong-{source}-{n}".encode()).decode()
                try:
                    r = session.get(self.url, headers={"Authorization": f"Basic {secret}"}, verify=self.verify,
                                    timeout=10)
                    self.statuses[str(r.status_code)] += 1
                except requests.RequestException as exc:
                    self.statuses[type(exc).__name__] += 1
                    self._stop.wait(0.05)

    def __enter__(self) -> AuthFlood:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def scrapes(url: str, count: int = 30, *, interval: float = 0.2, timeout: float = 5.0,
            auth: tuple[str, str] | None = None, verify: str | bool = True) -> Sampled:
    """`count` scrapes of `url`, each on a new connection: latencies of the complete 200
    answers, the rest as failures."""
    out = Sampled()
    for _ in range(count):
        began = time.perf_counter()
        try:
            with requests.Session() as session:
                session.trust_env = False
                r = session.get(url, auth=auth, verify=verify, timeout=timeout)
                body = r.content
            if r.status_code == 200 and body:
                out.latencies.append(time.perf_counter() - began)
            else:
                out.failures.append(f"HTTP {r.status_code}")
        except requests.RequestException as exc:
            out.failures.append(f"{type(exc).__name__}: {exc}"[:300])
        time.sleep(interval)
    return out


def success_rate(sampled: Sampled) -> float:
    total = len(sampled.latencies) + len(sampled.failures)
    return len(sampled.latencies) / total if total else 0.0


def rates(summary: Sampled, seconds: float) -> dict:
    return {"scrapes": len(summary.latencies) + len(summary.failures), "ok": len(summary.latencies),
            "success_rate": round(success_rate(summary), 3), **{k: v for k, v in summary.summary().items()
                                                                 if k in ("p50_ms", "p99_ms", "first_failure")},
            "seconds": round(seconds, 1)}

