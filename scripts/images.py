"""Build ffwatt's images without pulling anything: a Debian base standing in for
`python:3.11-slim`, a wheelhouse for the image's pip, the exporter image from the
project's Dockerfile, the runner image, and the stack's servers (VictoriaMetrics, vmalert,
Prometheus, node-exporter, nginx-rtmp) from Debian packages.

    python -m scripts.images base [--arch arm64]   the base: mmdebstrap | docker import (cached)
    python -m scripts.images wheelhouse [--arch ...] [--runner]
    python -m scripts.images exporter [--arch ...]  base + wheelhouse + docker build --network none
    python -m scripts.images runner                 Dockerfile.runner on top of the exporter image
    python -m scripts.images stack                  the server images (STACK_IMAGES)
    python -m scripts.images all                    exporter, runner and stack (`make images`)

Docker is the `docker` CLI, at `DOCKER_HOST` like any docker command. The integration
tests (tests/integration/test_containers.py) call the same functions against a private
Docker Engine, so `make images` and the tests build the same thing.

Why each piece exists:

- **Base.** Registries cannot be reached from every build host (nor from the test
  machines). `mmdebstrap --variant=minbase` of Debian bookworm with python3, pip and
  ca-certificates, streamed into `docker import`, gives Python 3.11 as `python:3.11-slim`
  does (at /usr/bin rather than /usr/local/bin; `python`, `pip` and `useradd` all on
  PATH). Debian marks its Python externally managed (PEP 668); the base drops that
  marker, since the image's Python belongs to the image as in python:3.11-slim. The
  tarball is cached in `~/.cache/ffwatt/images/` (`XDG_CACHE_HOME`, or
  `FFWATT_IMAGE_CACHE`), outside the checkout so fresh clones reuse it, named by a hash
  of the recipe below: made once per recipe and architecture (one to three minutes on
  two cores), then imported in seconds.
- **Wheelhouse.** pip inside `docker build --network none` reaches no index. The wheels
  of the dependencies (for the image's platform: CPython 3.11, manylinux, the target
  architecture; `pip download --platform`, so arm64 wheels come from an amd64 host) go
  to `wheelhouse/`, which the Dockerfile copies and pip reads with `PIP_FIND_LINKS`;
  `--build-arg PIP_NO_INDEX=1` then keeps pip off the network. The folder is empty in a
  fresh clone, so a normal `docker build .` uses the index as before.
- **Server images.** The stack's servers come from Debian packages. victoria-metrics
  and vmalert (1.79), prometheus (2.42) and prometheus-node-exporter (1.5) are this
  host's packaged binaries (`STACK_IMAGES`) copied onto the base with a static busybox
  for the compose healthchecks' `wget`; they run as nobody and are tagged
  `ffwatt-local/<name>:<Debian version>`, never as the upstream images the compose file
  pins. The RTMP server is the project's Dockerfile.nginx-rtmp (the compose service's
  own build), on a second mmdebstrap base of the same suite holding nginx and
  libnginx-mod-rtmp instead of Python, so its apt step is skipped offline.
- **arm64.** `--arch arm64` on an amd64 host makes the base under QEMU user emulation
  (qemu-user-static, binfmt-support, arch-test) and builds the exporter and runner images
  from it. Docker 20.10 records amd64 as the images' architecture whatever their files
  are; for a correctly labelled multi-platform image use `make images-multiarch` (buildx).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ffwatt.common.errors import FfwattError

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / "wheelhouse"
EXPORTER_IMAGE = "ffwatt/exporters:local"
RUNNER_IMAGE = "ffwatt/runner:local"
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"

# The base image recipe; its hash names the cached tarball and the image tag, so any
# change here makes a new base.
BASE_RECIPE: dict[str, object] = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-pip", "python-is-python3", "ca-certificates"],
    # like the slim images: no manuals, no translations, no docs but the copyrights
    "dpkgopt": [
        "path-exclude=/usr/share/man/*",
        "path-exclude=/usr/share/locale/*",
        "path-include=/usr/share/locale/locale.alias",
        "path-exclude=/usr/share/doc/*",
        "path-include=/usr/share/doc/*/copyright",
        "path-exclude=/usr/share/info/*",
    ],
    "customize": [
        # the image's Python belongs to the image (as in python:3.11-slim): let pip install
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        # nothing cached in the image
        'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/root/.cache',
    ],
    "changes": ["ENV LANG=C.UTF-8", 'CMD ["python3"]'],
}
# The nginx-rtmp server's base: the same suite and variant with nginx and its RTMP module
# instead of Python (Dockerfile.nginx-rtmp installs them with apt when the base lacks them).
NGINX_RTMP_RECIPE: dict[str, object] = {
    **BASE_RECIPE,
    "include": ["nginx", "libnginx-mod-rtmp", "busybox-static", "ca-certificates"],
    "customize": ['rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*'],
    "changes": [],
}
RECIPES = {"python": BASE_RECIPE, "nginx-rtmp": NGINX_RTMP_RECIPE}
NGINX_RTMP_IMAGE = "ffwatt/nginx-rtmp:local"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Debian architecture -> manylinux machine name, for `pip download --platform`.
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
PYTHON_VERSION = "3.11"  # bookworm's python3


class ImageError(FfwattError, RuntimeError):
    """A build step failed; the message names the command and carries its output tail."""


# --------------------------------------------------------------------------
# helpers


def host_arch() -> str:
    machine = platform.machine()
    for arch, name in MACHINES.items():
        if name == machine:
            return arch
    raise ImageError(f"unsupported host machine {machine!r}; expected one of {sorted(MACHINES.values())}")


def cache_dir() -> Path:
    """Where base tarballs are kept: outside the checkout, so fresh clones (CI) reuse them."""
    if os.environ.get("FFWATT_IMAGE_CACHE"):
        return Path(os.environ["FFWATT_IMAGE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "ffwatt" / "images"


def which(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=_SBIN)
    if path is None:
        raise ImageError(f"{name} not found on PATH (scripts/install-system-deps.sh installs it)")
    return path


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def run(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 900,
        stdin=None, log: Path | None = None) -> str:
    """Run `cmd` (bounded), print it as a pasteable line, return its output; ImageError
    with the output tail when it fails. Output also goes to `log` when given."""
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(list(cmd), env=full_env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        raise ImageError(f"{shlex.join(cmd)} did not finish in {timeout:.0f}s:\n{out[-4000:]}") from None
    out = proc.stdout.decode("utf-8", "replace")
    if log is not None:
        log.write_text(out)
    if proc.returncode != 0:
        raise ImageError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{out[-4000:]}")
    return out


def docker_env(docker_host: str | None) -> dict[str, str]:
    """Environment for the docker CLI: the classic builder (it honours --network none and
    needs no buildx plugin) and the engine to talk to."""
    env = {"DOCKER_BUILDKIT": "0"}
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return env


def _platform(arch: str) -> list[str]:
    """`--platform` for a foreign architecture only (older engines want no flag otherwise).
    `docker import` only: the classic builder follows the base image's architecture, and
    with `--platform` (Docker 20.10) it commits its steps as the host's and fails."""
    return [] if arch == host_arch() else ["--platform", f"linux/{arch}"]


def image_exists(tag: str, docker_host: str | None = None) -> bool:
    proc = subprocess.run([which("docker"), "image", "inspect", tag], env={**os.environ, **docker_env(docker_host)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return proc.returncode == 0


# --------------------------------------------------------------------------
# base image


def base_key(arch: str, mirror: str = DEFAULT_MIRROR, flavor: str = "python") -> str:
    return _key(RECIPES[flavor], arch, mirror)


def base_tag(arch: str | None = None, mirror: str = DEFAULT_MIRROR, flavor: str = "python") -> str:
    arch = arch or host_arch()
    key = base_key(arch, mirror, flavor)
    if flavor == "python":
        return f"ffwatt-local/python:3.11-bookworm-{arch}-{key}"
    return f"ffwatt-local/{flavor}-base:bookworm-{arch}-{key}"


def base_tarball_path(arch: str, mirror: str = DEFAULT_MIRROR, flavor: str = "python") -> Path:
    prefix = "base" if flavor == "python" else flavor
    return cache_dir() / f"{prefix}-{arch}-{base_key(arch, mirror, flavor)}.tar"


def mmdebstrap_command(arch: str, output: Path, mirror: str = DEFAULT_MIRROR, flavor: str = "python") -> list[str]:
    """The mmdebstrap argv making a base tarball (pure, so tests can read it)."""
    recipe = RECIPES[flavor]
    cmd = [
        "mmdebstrap",
        f"--variant={recipe['variant']}",
        "--format=tar",
        f"--architectures={arch}",
        "--include=" + ",".join(recipe["include"]),  # type: ignore[arg-type]
        # without fsync dpkg unpacks several times faster; the result is a tarball anyway
        *(["--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata"]
          if Path("/usr/share/mmdebstrap/hooks/eatmydata").is_dir() and shutil.which("eatmydata") else []),
        *(f"--dpkgopt={opt}" for opt in recipe["dpkgopt"]),  # type: ignore[attr-defined]
        *(f"--customize-hook={hook}" for hook in recipe["customize"]),  # type: ignore[attr-defined]
        "--aptopt=Acquire::Retries \"3\"",
        str(recipe["suite"]),
        str(output),
        mirror,
    ]
    return cmd


def base_tarball(arch: str | None = None, mirror: str = DEFAULT_MIRROR, flavor: str = "python") -> Path:
    """The cached base tarball for `arch`, made with mmdebstrap when missing."""
    arch = arch or host_arch()
    out = base_tarball_path(arch, mirror, flavor)
    if out.exists():
        return out
    which("mmdebstrap")
    if arch != host_arch():
        _require_emulation(arch)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".partial.tar")
    t0 = time.monotonic()
    try:
        cmd = mmdebstrap_command(arch, partial, mirror, flavor)
        cmd[0] = which("mmdebstrap")
        run(cmd, timeout=1800, log=out.with_suffix(".log"))
        partial.rename(out)
    finally:
        if partial.is_dir():
            shutil.rmtree(partial)
        partial.unlink(missing_ok=True)
    print(f"base tarball {out.name}: {time.monotonic() - t0:.0f}s, {out.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return out


def _require_emulation(arch: str) -> None:
    machine = MACHINES[arch]
    if not Path(f"/proc/sys/fs/binfmt_misc/qemu-{machine}").exists():
        raise ImageError(
            f"building {arch} on {host_arch()} needs qemu user emulation registered with binfmt_misc "
            f"(/proc/sys/fs/binfmt_misc/qemu-{machine} is missing): install qemu-user-static and binfmt-support"
        )


def import_base(arch: str | None = None, docker_host: str | None = None, mirror: str = DEFAULT_MIRROR,
                flavor: str = "python") -> str:
    """Import the base tarball into Docker (once); returns its tag."""
    arch = arch or host_arch()
    tag = base_tag(arch, mirror, flavor)
    if image_exists(tag, docker_host):
        return tag
    tarball = base_tarball(arch, mirror, flavor)
    changes = [arg for change in RECIPES[flavor]["changes"] for arg in ("--change", change)]  # type: ignore[attr-defined]
    with open(tarball, "rb") as f:
        run([which("docker"), "import", *_platform(arch), *changes, "-", tag],
            env=docker_env(docker_host), stdin=f, timeout=600)
    return tag


# --------------------------------------------------------------------------
# wheelhouse


def requirements(extras: Sequence[str] = ()) -> list[str]:
    """Dependencies from pyproject.toml (plus `extras`, not the self-references), and the
    build backend pip needs to build ffwatt itself from /src."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(project["project"]["dependencies"])
    for extra in extras:
        reqs += [r for r in project["project"]["optional-dependencies"][extra] if not r.startswith("ffwatt")]
    return [*project["build-system"]["requires"], "wheel", *reqs]


def pip_platforms(arch: str) -> list[str]:
    """Wheel platform tags bookworm (glibc 2.36) runs: pip does not widen them itself."""
    machine = MACHINES[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(36, 16, -1)] + [f"manylinux2014_{machine}"]
    if arch == "amd64":
        tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return tags


def wheelhouse_command(arch: str, dest: Path, extras: Sequence[str] = ()) -> list[str]:
    return [
        sys.executable, "-m", "pip", "download", "--quiet",
        "--dest", str(dest),
        # binary wheels only, for the image's interpreter and platform, not the host's
        "--only-binary=:all:",
        "--python-version", PYTHON_VERSION,
        "--implementation", "cp",
        *(arg for tag in pip_platforms(arch) for arg in ("--platform", tag)),
        *requirements(extras),
    ]


def wheelhouse(arch: str | None = None, extras: Sequence[str] = ()) -> Path:
    """Fill wheelhouse/ with the wheels for `arch` (skipped when its stamp matches)."""
    arch = arch or host_arch()
    key = _key(requirements(extras), pip_platforms(arch), PYTHON_VERSION)
    stamp = WHEELHOUSE / f".stamp-{arch}-{'-'.join(extras) or 'base'}"
    if stamp.exists() and stamp.read_text().strip() == key:
        return WHEELHOUSE
    WHEELHOUSE.mkdir(exist_ok=True)
    run(wheelhouse_command(arch, WHEELHOUSE, extras), timeout=900)
    stamp.write_text(key + "\n")
    return WHEELHOUSE


# --------------------------------------------------------------------------
# images


def build_exporter(arch: str | None = None, docker_host: str | None = None, tag: str = EXPORTER_IMAGE) -> str:
    """The exporter image from the project's Dockerfile, offline; returns its tag."""
    arch = arch or host_arch()
    base = import_base(arch, docker_host)
    wheelhouse(arch)
    run([which("docker"), "build", "--network", "none",
         "--build-arg", f"BASE_IMAGE={base}", "--build-arg", "PIP_NO_INDEX=1",
         "-t", tag, str(ROOT)], env=docker_env(docker_host), timeout=900)
    return tag


def build_runner(arch: str | None = None, docker_host: str | None = None, tag: str = RUNNER_IMAGE,
                 exporter_tag: str = EXPORTER_IMAGE) -> str:
    """The runner image (Dockerfile.runner: the exporter image plus `ffwatt run`)."""
    arch = arch or host_arch()
    if not image_exists(exporter_tag, docker_host):
        build_exporter(arch, docker_host, exporter_tag)
    wheelhouse(arch, ("runner",))
    run([which("docker"), "build", "--network", "none",
         "-f", str(ROOT / "Dockerfile.runner"),
         "--build-arg", f"EXPORTER_IMAGE={exporter_tag}", "--build-arg", "PIP_NO_INDEX=1",
         "-t", tag, str(ROOT)], env=docker_env(docker_host), timeout=900)
    return tag


@dataclass(frozen=True)
class ServerImage:
    """A server image made of files of this host's Debian packages, on the base."""

    package: str  # its Debian version tags the image
    files: tuple[str, ...]  # copied to the same path in the image
    entrypoint: tuple[str, ...]


STACK_IMAGES = {
    "victoria-metrics": ServerImage("victoria-metrics", ("/usr/bin/victoria-metrics",), ("/usr/bin/victoria-metrics",)),
    "vmalert": ServerImage("victoria-metrics", ("/usr/bin/vmalert",), ("/usr/bin/vmalert",)),
    "prometheus": ServerImage("prometheus", ("/usr/bin/prometheus", "/usr/bin/promtool"), ("/usr/bin/prometheus",)),
    "node-exporter": ServerImage("prometheus-node-exporter", ("/usr/bin/prometheus-node-exporter",),
                                 ("/usr/bin/prometheus-node-exporter",)),
}

_STACK_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
COPY root/ /
# static busybox: the compose healthchecks run `wget`, as in the upstream images
RUN ln -s busybox /usr/bin/wget && mkdir -p /storage /prometheus && chown 65534:65534 /storage /prometheus
USER 65534:65534
ENTRYPOINT {entrypoint}
"""


def debian_version(package: str) -> str:
    out = run(["dpkg-query", "-W", "-f=${Version}", package])
    # 1.79.12+ds1-1 -> 1.79.12; 1:1.2.2+dfsg-3 -> 1.2.2
    return out.strip().split(":")[-1].split("+")[0].split("-")[0]


def stack_tag(name: str) -> str:
    return f"ffwatt-local/{name}:{debian_version(STACK_IMAGES[name].package)}"


def build_stack_image(name: str, docker_host: str | None = None, arch: str | None = None) -> str:
    """An image of one of Debian's servers on the base; returns its tag."""
    spec = STACK_IMAGES[name]
    base = import_base(arch, docker_host)
    tag = stack_tag(name)
    with tempfile.TemporaryDirectory(prefix="ffwatt-image-") as tmp:
        ctx = Path(tmp)
        root = ctx / "root"
        for path in (*spec.files, which("busybox")):
            if not Path(path).is_file():
                raise ImageError(f"{path} missing: install the Debian package {spec.package}")
            dest = root / Path(path).relative_to("/")
            if path == which("busybox"):
                dest = root / "usr/bin/busybox"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        (ctx / "Dockerfile").write_text(_STACK_DOCKERFILE.format(
            entrypoint=json.dumps(list(spec.entrypoint))))
        run([which("docker"), "build", "--network", "none", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(ctx)],
            env=docker_env(docker_host), timeout=600)
    return tag


def build_nginx_rtmp(docker_host: str | None = None, arch: str | None = None, tag: str = NGINX_RTMP_IMAGE) -> str:
    """The RTMP server from Dockerfile.nginx-rtmp, offline, on the nginx-rtmp base."""
    base = import_base(arch, docker_host, flavor="nginx-rtmp")
    run([which("docker"), "build", "--network", "none", "-f", str(ROOT / "Dockerfile.nginx-rtmp"),
         "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(ROOT)], env=docker_env(docker_host), timeout=600)
    return tag


def build_stack(docker_host: str | None = None) -> list[str]:
    return [*(build_stack_image(name, docker_host) for name in STACK_IMAGES), build_nginx_rtmp(docker_host)]


# --------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.images", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("base", "wheelhouse", "exporter", "runner", "stack", "all"))
    parser.add_argument("--arch", choices=sorted(MACHINES), default=None, help="target architecture (default: the host's)")
    parser.add_argument("--runner", action="store_true", help="wheelhouse: add the runner extra's wheels")
    args = parser.parse_args(argv)
    host = os.environ.get("DOCKER_HOST")
    try:
        if args.what == "base":
            print(import_base(args.arch, host))
        elif args.what == "wheelhouse":
            print(wheelhouse(args.arch, ("runner",) if args.runner else ()))
        elif args.what == "exporter":
            print(build_exporter(args.arch, host))
        elif args.what == "runner":
            print(build_runner(args.arch, host))
        elif args.what == "stack":
            if args.arch not in (None, host_arch()):
                raise ImageError("the server images copy this host's binaries: build them for its own architecture")
            print("\n".join(build_stack(host)))
        else:
            built = [build_exporter(args.arch, host), build_runner(args.arch, host)]
            # the server images copy this host's binaries: only for its own architecture
            if args.arch in (None, host_arch()):
                built += build_stack(host)
            print("\n".join(built))
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
