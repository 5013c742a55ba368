"""`victoriametrics/hosts.yml`: the one hand-edited list of lab machines (which host runs which
per-host exporter, and how the scrapers reach exporters behind a web config).

Per-host exporters (cpu, docker, gpu, ffmpeg) run on every lab machine; the others (results, qoe,
cost, health) run once, centrally:

    central: ffwatt-{name}                 # where the central exporters run
    hosts:
      - name: local                        # compose's own services: ffwatt-cpu:9500, ...
        address: ffwatt-{name}
        exporters: [cpu, docker, ffmpeg]
      - lab1.example.net                   # every per-host exporter at its catalog port
      - {name: lab2, address: 10.0.0.12, exporters: [cpu, gpu]}
    web: {scheme: https, ca_file: ..., basic_auth: {username: ..., password_file: ...}}

`{name}` in an address is replaced by the exporter's name. `DEFAULT_HOSTS_FILE` (this package's
copy) is the compose stack's own list: `ffwatt dashboards --out DIR` starts DIR's from it and
reads DIR's afterwards. Every problem is a `HostsError` naming the entry.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ffwatt.catalog import EXPORTERS
from ffwatt.common.errors import FfwattError
from ffwatt.common.yaml_file import load_yaml

__all__ = ["DEFAULT_HOSTS_FILE", "PER_HOST", "Host", "HostsError", "Lab", "ScrapeWeb", "load_hosts", "parse_hosts"]

DEFAULT_HOSTS_FILE = Path(__file__).resolve().parent / "hosts.yml"

# Exporters that read the machine they run on: one per lab host. The rest run once.
PER_HOST = tuple(e.name for e in EXPORTERS.values() if e.per_host)

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.{}-]*[A-Za-z0-9}])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")


class HostsError(FfwattError, ValueError):
    """hosts.yml cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class ScrapeWeb:
    """How the scrapers reach exporters behind a web config (docs/security.md): https with a CA,
    basic auth with a password file. Applied to every ffwatt exporter job, not the third-party ones."""

    scheme: str = "http"
    ca_file: str | None = None
    username: str | None = None
    password_file: str | None = None


@dataclass(frozen=True)
class Host:
    name: str  # short name: the health checker's target label is <name>-<exporter>
    address: str  # host name or IP; {name} is replaced by the exporter name
    exporters: tuple[str, ...]


@dataclass(frozen=True)
class Lab:
    central: str  # address of the central exporters ({name} replaced)
    hosts: tuple[Host, ...]
    web: ScrapeWeb = ScrapeWeb()


def load_hosts(path: str | os.PathLike = DEFAULT_HOSTS_FILE) -> Lab:
    return parse_hosts(load_yaml(path, HostsError), str(path))


def parse_hosts(doc: object, source: str = "hosts.yml") -> Lab:
    """Validate the hosts.yml document (already YAML-parsed); messages start with `source`."""
    if not isinstance(doc, Mapping):
        raise HostsError(f"{source}: expected a mapping with `central` and `hosts`")
    unknown = sorted(set(doc) - {"central", "hosts", "web"})
    if unknown:
        raise HostsError(f"{source}: unknown key(s) {', '.join(map(str, unknown))}; allowed: central, hosts, web")
    central = _address(doc.get("central", "localhost"), f"{source}: central")
    entries = doc.get("hosts") or []
    if not isinstance(entries, list):
        raise HostsError(f"{source}: `hosts` must be a list")
    hosts = [_host(entry, f"{source}: hosts[{index}]") for index, entry in enumerate(entries)]
    for kind, values in (("name", [h.name for h in hosts]), ("address", [h.address for h in hosts])):
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise HostsError(f"{source}: {kind} {', '.join(dupes)} appears twice")
    return Lab(central, tuple(hosts), _scrape_web(doc.get("web"), source))


def _address(text: object, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise HostsError(f"{where}: address must be a host name or IP, got {text!r}")
    text = text.strip()
    if not _HOST.match(text) or ("{" in text and "{name}" not in text):
        raise HostsError(f"{where}: {text!r} is not a host name or IP (no port: each exporter has its own, "
                         "from the catalog; `{name}` stands for the exporter name)")
    return text


def _host(entry: object, where: str) -> Host:
    if isinstance(entry, str):
        entry = {"address": entry}
    if not isinstance(entry, Mapping):
        raise HostsError(f"{where}: expected a host name or a mapping with address, got {entry!r}")
    bad = sorted(set(entry) - {"name", "address", "exporters"})
    if bad:
        raise HostsError(f"{where}: unknown key(s) {', '.join(map(str, bad))}; allowed: name, address, exporters")
    address = _address(entry.get("address"), where)
    name = entry.get("name")
    if name is None:
        bare = address.strip("[]")
        name = bare if re.fullmatch(r"[0-9.]+", bare) else bare.split(".")[0]
        name = name.replace(":", "_").replace("{name}", "").strip("-_.") or "host"
    if not isinstance(name, str) or not _HOST_NAME.match(name):
        raise HostsError(f"{where}: name {name!r} must be 1-41 letters, digits, '_', '.' or '-'")
    exporters = entry.get("exporters", list(PER_HOST))
    if not isinstance(exporters, list) or not all(isinstance(x, str) for x in exporters):
        raise HostsError(f"{where}: exporters must be a list of names, got {exporters!r}")
    for x in exporters:
        if x not in PER_HOST:
            raise HostsError(f"{where}: {x!r} is not a per-host exporter ({', '.join(PER_HOST)}); "
                             "central exporters run once, at `central`")
    if len(set(exporters)) != len(exporters):
        raise HostsError(f"{where}: an exporter is listed twice")
    return Host(name, address, tuple(x for x in PER_HOST if x in exporters))


def _scrape_web(doc: object, source: str) -> ScrapeWeb:
    """hosts.yml `web:` {scheme, ca_file, basic_auth: {username, password_file}}; absent: plain http."""
    if doc is None:
        return ScrapeWeb()
    if not isinstance(doc, Mapping):
        raise HostsError(f"{source}: web: expected a mapping with scheme, ca_file, basic_auth")
    bad = sorted(set(doc) - {"scheme", "ca_file", "basic_auth"})
    if bad:
        raise HostsError(f"{source}: web: unknown key(s) {', '.join(map(str, bad))}; allowed: scheme, ca_file, "
                         "basic_auth")
    scheme = doc.get("scheme", "http")
    if scheme not in ("http", "https"):
        raise HostsError(f"{source}: web.scheme: expected http or https, got {str(scheme)[:40]!r}")
    ca_file = doc.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not ca_file.strip()):
        raise HostsError(f"{source}: web.ca_file: expected a file path")
    if ca_file is not None and scheme != "https":
        raise HostsError(f"{source}: web.ca_file: only with scheme: https")
    auth = doc.get("basic_auth")
    username = password_file = None
    if auth is not None:
        if not isinstance(auth, Mapping) or set(auth) != {"username", "password_file"}:
            raise HostsError(f"{source}: web.basic_auth: expected {{username, password_file}} (a password is never "
                             "written into the generated configs)")
        username, password_file = auth["username"], auth["password_file"]
        if not isinstance(username, str) or not username or not isinstance(password_file, str) or not password_file:
            raise HostsError(f"{source}: web.basic_auth: username and password_file must be non-empty strings")
        if scheme != "https":
            raise HostsError(f"{source}: web.basic_auth: only with scheme: https (a password over plain http is "
                             "readable on the network)")
    return ScrapeWeb(scheme, ca_file, username, password_file)
