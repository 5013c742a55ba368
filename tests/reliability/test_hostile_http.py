"""Hostile HTTP against an exporter (the results exporter, its own process): slow clients
sending a byte a second, a 1 MB request line or header, a thousand idle connections held
open, 256 tricklers (slowloris, and half a TLS ClientHello) from one address or from 128.
While each happens, a well-behaved scraper keeps getting complete answers.

The runtime's server (ffwatt/exporters/http_server.py) gives each connection a thread, up to a cap
(--max-connections, 256; half of them from one peer, half in a request head or TLS handshake); at a
cap a newcomer takes the place of the connection idle longest, else of the slowest head, so
neither idle floods nor tricklers grow the threads or lock scrapers out.
"""

from __future__ import annotations

import base64
import contextlib
import resource
import socket
import ssl
import threading
import time

import pytest
import requests

from bench import attacks
from bench.procs import ExporterProcess
from bench.sources import write_results
from bench.websec import make_pki, write_web_config
from tests.reliability.helpers import check_scrape

pytestmark = pytest.mark.reliability

HOLD_SECONDS = 6.0  # under the handler's 15 s idle timeout
IDLE_CONNECTIONS = 1_000


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    write_results(work / "results", 110, 20)  # ~1,000 series
    with ExporterProcess("results", "--results-dir", str(work / "results"), workdir=work) as proc:
        yield proc


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """The same exporter behind TLS and basic auth (a certificate made by openssl)."""
    work = tmp_path_factory.mktemp("hostile-tls")
    pki = make_pki(work / "pki")
    config = write_web_config(work / "web.yml", pki, {"prometheus": "pw"}, rounds=4)
    write_results(work / "results", 110, 20)
    proc = ExporterProcess("results", "--results-dir", str(work / "results"), "--web-config-file", str(config),
                           workdir=work)
    proc.scheme = "https"
    proc.ssl_context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    proc.ready_headers = {"Authorization": "Basic " + base64.b64encode(b"prometheus:pw").decode()}
    with proc:
        proc.ca = str(pki / "ca.crt")
        yield proc


class GoodScraper:
    """Scrapes every `interval` seconds on a keep-alive session and, every third time, on
    a fresh connection (a new scraper arriving must get in too)."""

    def __init__(self, url: str, interval: float = 0.2):
        self.url = url
        self.interval = interval
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        n = 0
        while not self._stop.is_set():
            n += 1
            if n % 3 == 0:
                with requests.Session() as fresh:
                    problem = check_scrape(fresh, self.url, timeout=10)
            else:
                problem = check_scrape(session, self.url, timeout=10)
            if problem:
                self.failures.append(problem)
            else:
                self.ok += 1
            self._stop.wait(self.interval)
        session.close()

    def __enter__(self) -> GoodScraper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def assert_served(self, at_least: int = 5) -> None:
        assert not self.failures, f"{len(self.failures)} failed scrapes, first: {self.failures[:3]}"
        assert self.ok >= at_least, f"only {self.ok} scrapes completed"


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def test_slow_clients_sending_a_byte_a_second_block_nobody(exporter):
    request = b"GET /metrics HTTP/1.1\r\nHost: slow\r\n\r\n"
    slow = [_connect(exporter.port) for _ in range(20)]
    try:
        with GoodScraper(exporter.url) as good:
            for i in range(int(HOLD_SECONDS)):  # one byte a second from each slow client
                for s in slow:
                    with contextlib.suppress(OSError):  # cut off after 2 s: under --min-head-rate
                        s.sendall(request[i:i + 1])
                time.sleep(1.0)
        good.assert_served()
        assert exporter.alive
    finally:
        for s in slow:
            s.close()


@pytest.mark.parametrize("where", ["request line", "header"])
def test_a_1_mb_request_line_or_header_is_refused_and_blocks_nobody(exporter, where):
    big = b"a" * 1_000_000
    if where == "request line":
        request = b"GET /" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    else:
        request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n"
    with GoodScraper(exporter.url) as good:
        answers = []
        for _ in range(3):
            s = _connect(exporter.port)
            try:
                with contextlib.suppress(OSError):  # the server may close before we finish sending
                    s.sendall(request)
                with contextlib.suppress(OSError):
                    answers.append(s.recv(200))  # the answer, or b"" when it just closed
            finally:
                s.close()
        time.sleep(1.0)
    good.assert_served(at_least=3)
    assert exporter.alive
    # refused with an HTTP error (414 / 431 / 400), or the connection closed: never a 200 or a hang
    for answer in answers:
        assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"414", b"431"), answer[:100]


def test_a_thousand_idle_connections_block_nobody(exporter, record_property):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = IDLE_CONNECTIONS + 100
    if soft < need:  # our side of the sockets needs the fds too (the exporter has its own limit)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            idle.append(_connect(exporter.port, timeout=30))
        with GoodScraper(exporter.url) as good:
            time.sleep(HOLD_SECONDS)
            threads = exporter.stat().threads
        record_property("exporter_threads_with_idle_connections", threads)
        record_property("exporter_rss_mb_with_idle_connections", round(exporter.stat().rss_bytes / 1e6, 1))
        good.assert_served()
        assert exporter.alive
        # the cap holds: a thousand idle connections do not make a thousand threads
        assert threads <= 256 + 16 + 10
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    # and the threads go away with the connections
    deadline = time.monotonic() + 20
    while exporter.stat().threads > 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert exporter.stat().threads <= 10


@pytest.mark.parametrize("addresses", [1, 128], ids=["from one address", "from 128 addresses"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "TLS half ClientHello"])
def test_256_tricklers_leave_at_least_90_percent_of_30_new_scrapers_served(exporter, secured, tls, addresses):
    # 256 connections, each sending a byte every 2 s (against TLS: half a ClientHello first), opened
    # again when closed; 30 scrapers arrive meanwhile, each on a new connection (and handshake)
    target = secured if tls else exporter
    with attacks.Trickle(target.port, 256, tls=tls, addresses=addresses) as attack:
        held = attack.held()
        got = attacks.scrapes(target.url + "/metrics", 30, interval=0.1, timeout=5,
                              auth=("prometheus", "pw") if tls else None, verify=secured.ca if tls else True)
    assert held >= 200  # the attack was on: (nearly) every trickler got its connection
    assert attacks.success_rate(got) >= 0.9, f"{len(got.latencies)}/30 served; {got.failures[:3]}"
    assert target.alive
