"""Web config cost: the same results exporter with and without TLS + basic auth, same run.

Two exporter processes serve the same results file: `plain` (no web config) and
`secured` (a web config with tls_server_config from an openssl-made CA and
basic_auth_users with a bcrypt hash at cost 10, exporter-toolkit's usual). Then:

1. paced: PACED_COUNT scrapes of each, alternating, one every PACED_INTERVAL seconds, on a
   keep-alive session as Prometheus scrapes (the TLS handshake once, bcrypt once: the
   server caches a verified password); latency p50/p99 and the ratio secured/plain;
2. fresh: FRESH_COUNT scrapes of each on a new connection every time (a handshake each);
3. load: LOAD_SCRAPERS concurrent keep-alive scrapers (asyncio, one thread), each from its own
   loopback address, against each in turn for LOAD_SECONDS: scrapes done and failures (the
   target: none);
4. attacks (bench/attacks.py), each while ATTACK_SCRAPES scrapes arrive on fresh connections:
   TRICKLERS slowloris connections (a byte every 2 s) from one address and from 128, against
   plain HTTP, and against TLS with half a ClientHello; then AUTH_CLIENTS clients sending wrong
   passwords for AUTH_SECONDS. Scrape success rate and p99 under each; for the flood, the
   exporter's CPU (cores) and its answers (401, 429). With FFWATT_BENCH_BASELINE_TREE=DIR (a
   checkout of the code before a change), the same attacks hit that code too, in the same run.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench import attacks
from bench.procs import ExporterProcess
from bench.scrape import ACCEPT, HEADERS, Sampled
from bench.sources import write_results

PACED_COUNT = 60
PACED_INTERVAL = 0.25
FRESH_COUNT = 30
LOAD_SCRAPERS = 200
LOAD_SECONDS = 15.0
USER, PASSWORD = "prometheus", "bench-password"
TRICKLERS = 256
ATTACK_SCRAPES = 30
AUTH_CLIENTS = 8
AUTH_SECONDS = 10.0


def make_pki(directory: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (all
    ECDSA P-256, two days), made with the openssl command line. Returns `directory`."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        done = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {done.stderr[-2000:]}")

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ffwatt test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=ffwatt {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return d


def write_web_config(path: Path, pki: Path, users: dict[str, str], *, rounds: int = 10) -> Path:
    import bcrypt

    lines = ["tls_server_config:", f"  cert_file: {pki / 'server.crt'}", f"  key_file: {pki / 'server.key'}",
             "basic_auth_users:"]
    lines += [f"  {u}: '{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=rounds)).decode()}'" for u, p in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _scrape(session: requests.Session, url: str, into: Sampled) -> None:
    began = time.perf_counter()
    try:
        r = session.get(url, headers=HEADERS, timeout=10)
        body = r.content
    except requests.RequestException as exc:
        into.failures.append(f"{type(exc).__name__}: {exc}"[:300])
        return
    if r.status_code != 200 or not body:
        into.failures.append(f"HTTP {r.status_code}")
        return
    into.latencies.append(time.perf_counter() - began)


def _session(secured: bool, ca: Path) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    if secured:
        s.auth = (USER, PASSWORD)
        s.verify = str(ca)
    return s


async def _scraper(port: int, context: ssl.SSLContext | None, stop_at: float, out: dict, source: str) -> None:
    auth = "" if context is None else \
        f"Authorization: Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}\r\n"
    request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {ACCEPT}\r\n{auth}\r\n".encode()
    loop = asyncio.get_running_loop()
    reader = writer = None
    while loop.time() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1" if context else None,
                    local_addr=(source, 0)), 30)
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status = head.split(b" ", 2)[1]
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await asyncio.wait_for(reader.readexactly(length), 30)
            if status != b"200":
                raise ValueError(f"HTTP {status.decode()}")
            out["scrapes"] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                StopIteration, IndexError) as exc:
            out["failures"].append(f"{type(exc).__name__}: {exc}"[:300])
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def _load(port: int, context: ssl.SSLContext | None, scrapers: int, seconds: float) -> dict:
    out: dict = {"scrapes": 0, "failures": []}

    async def run() -> None:
        stop_at = asyncio.get_running_loop().time() + seconds
        # each scraper from its own loopback address, as 200 Prometheus servers would be: from one
        # address they would be one peer over its cap (--max-connections-per-peer), a flood
        await asyncio.gather(*(_scraper(port, context, stop_at, out, source)
                               for source in attacks.sources(scrapers)))

    began = time.monotonic()
    asyncio.run(asyncio.wait_for(run(), seconds + 120))
    return {"scrapers": scrapers, "seconds": round(time.monotonic() - began, 1), "scrapes": out["scrapes"],
            "failures": len(out["failures"]), "first_failure": out["failures"][0] if out["failures"] else None}


def websec_section(work: Path, *, paced_count: int = PACED_COUNT, fresh_count: int = FRESH_COUNT,
                   load_scrapers: int = LOAD_SCRAPERS, load_seconds: float = LOAD_SECONDS,
                   log: Callable[[str], None] = print, attack: bool = True) -> dict:
    work = Path(work) / "websec"
    pki = make_pki(work / "pki")
    config = write_web_config(work / "web.yml", pki, {USER: PASSWORD})
    results = work / "results"
    write_results(results, 110, 20)  # ~1,000 series, as the hostile-HTTP test
    secured = ExporterProcess("results", "--results-dir", str(results), "--web-config-file", str(config),
                              workdir=work, label="secured")
    secured.scheme = "https"
    secured.ssl_context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    secured.ready_headers = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    with ExporterProcess("results", "--results-dir", str(results), workdir=work, label="plain") as plain, secured:
        urls = {"plain": f"http://127.0.0.1:{plain.port}/metrics",
                "secured": f"https://127.0.0.1:{secured.port}/metrics"}
        ca = pki / "ca.crt"
        log(f"  paced: {paced_count} keep-alive scrapes of each, alternating")
        paced = {name: Sampled() for name in urls}
        sessions = {name: _session(name == "secured", ca) for name in urls}
        for name, s in sessions.items():  # connect (and for secured: handshake, bcrypt) before the clock
            _scrape(s, urls[name], Sampled())
        for _ in range(paced_count):
            for name, s in sessions.items():
                _scrape(s, urls[name], paced[name])
                time.sleep(PACED_INTERVAL / 2)
        for s in sessions.values():
            s.close()
        log(f"  fresh: {fresh_count} scrapes of each on a new connection")
        fresh = {name: Sampled() for name in urls}
        for _ in range(fresh_count):
            for name in urls:
                with _session(name == "secured", ca) as s:
                    _scrape(s, urls[name], fresh[name])
        rows: dict = {}
        for name in urls:
            rows[name] = {"paced": paced[name].summary(), "fresh": fresh[name].summary()}
        context = ssl.create_default_context(cafile=str(ca))
        for name, proc in (("plain", plain), ("secured", secured)):
            log(f"  load: {load_scrapers} concurrent keep-alive scrapers of {name} for {load_seconds:g} s")
            rows[name]["load"] = _load(proc.port, context if name == "secured" else None, load_scrapers, load_seconds)
            rows[name]["threads_after_load"] = proc.stat().threads

    def ratio(kind: str) -> float | None:
        a, b = rows["secured"][kind]["p50_ms"], rows["plain"][kind]["p50_ms"]
        return round(a / b, 2) if a and b else None

    rows_attacks = attack_section(work, log=log) if attack else None
    return {"attacks": rows_attacks,
            "method": {"exporter": "results, 110 scenarios", "web_config": "TLS (ECDSA P-256) + basic auth "
                       "(bcrypt cost 10)", "paced_scrapes": paced_count, "fresh_scrapes": fresh_count,
                       "load_scrapers": load_scrapers, "load_seconds": load_seconds},
            "targets": rows, "p50_ratio_secured_over_plain": {"paced": ratio("paced"), "fresh": ratio("fresh")}}


def _exporter(tree: str | None, label: str, *flags: str, work: Path, pki: Path | None = None) -> ExporterProcess:
    """The results exporter from this checkout, or from `tree`; behind TLS + basic auth with `pki`."""
    module = ["bench.in_tree", tree, "ffwatt.exporters", "results"] if tree else None
    proc = ExporterProcess("results", *flags, workdir=work, label=label, module=module)
    if pki is not None:
        proc.scheme = "https"
        proc.ssl_context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        proc.ready_headers = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    return proc


def _under_trickle(proc: ExporterProcess, tls: bool, addresses: int, ca: Path, scrapes: int) -> dict:
    with attacks.Trickle(proc.port, TRICKLERS, tls=tls, addresses=addresses) as attack:
        began = time.monotonic()
        got = attacks.scrapes(proc.url + "/metrics", scrapes, auth=(USER, PASSWORD) if tls else None,
                              verify=str(ca) if tls else True)
        row = attacks.rates(got, time.monotonic() - began)
        row["attacker_connections_opened"] = attack.opened
    return row


def _under_auth_flood(proc: ExporterProcess, ca: Path, scrapes: int, seconds: float) -> dict:
    """A scraper verified before the flood (as Prometheus, scraping all along) keeps scraping."""
    attacks.scrapes(proc.url + "/metrics", 1, interval=0, auth=(USER, PASSWORD), verify=str(ca))
    cpu = proc.stat().cpu_seconds
    began = time.monotonic()
    with attacks.AuthFlood(proc.url + "/metrics", AUTH_CLIENTS, user=USER, verify=str(ca)) as flood:
        got = attacks.scrapes(proc.url + "/metrics", scrapes, interval=max(0.0, seconds / scrapes - 0.05),
                              auth=(USER, PASSWORD), verify=str(ca))
        while time.monotonic() - began < seconds:
            time.sleep(0.1)
    took = time.monotonic() - began
    row = attacks.rates(got, took)
    row["exporter_cpu_cores"] = round((proc.stat().cpu_seconds - cpu) / took, 3)
    row["flood_answers"] = dict(flood.statuses)
    return row


def attack_section(work: Path, *, scrapes: int = ATTACK_SCRAPES, auth_seconds: float = AUTH_SECONDS,
                   log: Callable[[str], None] = print) -> dict:
    """The attacks of item 4 of the module docstring, on this code and on FFWATT_BENCH_BASELINE_TREE's."""
    work = Path(work) / "websec-attacks"
    pki = make_pki(work / "pki")
    config = write_web_config(work / "web.yml", pki, {USER: PASSWORD})
    results = work / "results"
    write_results(results, 110, 20)
    ca = pki / "ca.crt"
    trees = {"after": None}
    if os.environ.get("FFWATT_BENCH_BASELINE_TREE"):
        trees = {"before": os.environ["FFWATT_BENCH_BASELINE_TREE"], **trees}
    out: dict = {}
    for when, tree in trees.items():
        rows = out[when] = {}
        plain = _exporter(tree, f"{when}-plain", "--results-dir", str(results), work=work)
        secured = _exporter(tree, f"{when}-secured", "--results-dir", str(results), "--web-config-file", str(config),
                            work=work, pki=pki)
        with plain, secured:
            for name, proc, tls in (("plain", plain, False), ("tls_half_client_hello", secured, True)):
                for addresses in (1, 128):
                    key = f"trickle_{name}_from_{addresses}_address{'es' if addresses > 1 else ''}"
                    log(f"  {when}: {TRICKLERS} tricklers ({name}, {addresses} source address(es)), "
                        f"{scrapes} scrapes")
                    rows[key] = _under_trickle(proc, tls, addresses, ca, scrapes)
            log(f"  {when}: {AUTH_CLIENTS} clients sending wrong passwords for {auth_seconds:g} s")
            rows["auth_flood"] = _under_auth_flood(secured, ca, scrapes, auth_seconds)
    return {"method": {"tricklers": TRICKLERS, "trickle_interval_seconds": 2.0, "scrapes": scrapes,
                       "auth_clients": AUTH_CLIENTS, "auth_seconds": auth_seconds,
                       "baseline_tree": trees.get("before")}, "runs": out}
