"""A private Docker Engine (root only) with its own data and exec roots and socket, and a
scratch busybox image to run containers from (images cannot be pulled here).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import struct
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ffwatt.common import process
from ffwatt.common.server import (
    LIVE,
    SBIN,
    START_TIMEOUT,
    STOP_TIMEOUT,
    LoggedProcess,
    ServerStartError,
    ServerUnavailableError,
    find_binary,
    remove_dir,
    require_root,
)
from ffwatt.readers.proc import read_stat

BUSYBOX_IMAGE = "ffwatt-busybox:test"


def wait_reaped(pid_file: Path, timeout: float = 15.0) -> None:
    """After a SIGKILL, dockerd's containerd lingers as a zombie until PID 1 reaps it; a
    dockerd started meanwhile takes the zombie for a live containerd ("containerd is still
    running"), waits on its socket and gives up ("timeout waiting for containerd to
    start"). Wait for the reaping, so start() after kill() works at once."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = read_stat(pid)
        if stat is None:
            return
        if stat.state not in ("Z", "X"):
            return  # a live process (the PID reused): nothing of ours to wait for
        time.sleep(0.1)



def is_static_elf(path: str) -> bool:
    """True when the ELF file has no PT_INTERP (no dynamic loader)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            return False
        is64 = head[4] == 2
        endian = "<" if head[5] == 1 else ">"
        if is64:
            (phoff,) = struct.unpack_from(endian + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x36)
        else:
            (phoff,) = struct.unpack_from(endian + "I", head, 0x1C)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x2A)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt.startswith(prefix):
                found.append(mnt)
    return found




class DockerEngine(LoggedProcess):
    """A private dockerd (root only) with its own data/exec roots and socket.

    No networking set-up (`--bridge=none`, no iptables), so containers must
    run with `network_mode="none"`. Images cannot be pulled; use
    `busybox_image()` for a scratch image built from static busybox.
    """

    def __init__(
        self,
        *,
        extra_args: Sequence[str] = (),
        storage_driver: str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        require_root("a private Docker Engine")
        self.dockerd = find_binary("dockerd")
        # dockerd runs these from PATH (packages containerd and runc)
        for helper in ("containerd", "containerd-shim-runc-v2", "runc"):
            find_binary(helper)
        try:
            import docker  # noqa: F401
        except ImportError:  # pragma: no cover - docker is a project dependency
            raise ServerUnavailableError("python package 'docker' is not installed") from None
        # Unix socket paths must stay under ~100 chars: short dir in /tmp.
        self.root = Path(tempfile.mkdtemp(prefix="ffw-", dir="/tmp"))
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.pidfile = self.root / "dockerd.pid"
        self.socket = self.root / "docker.sock"
        self.log_path = self.root / "dockerd.log"
        self.extra_args = list(extra_args)
        # overlay2 works on this project's ext4 test machines; pass
        # storage_driver="vfs" where overlay mounts are not allowed (e.g.
        # inside an unprivileged container or on overlayfs-on-overlayfs).
        self.storage_driver = storage_driver or os.environ.get("FFWATT_DOCKER_STORAGE_DRIVER")
        self.start_timeout = start_timeout
        self.containerd_namespace = "ffwatt-" + uuid.uuid4().hex[:12]
        self.proc: subprocess.Popen | None = None
        self._client = None
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"


    @property
    def client(self):
        """docker.DockerClient connected to this daemon."""
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.base_url, timeout=60)
        return self._client

    def _command(self) -> list[str]:
        # unique namespace keeps us apart should a shared containerd be used;
        # containerd allows only [A-Za-z0-9] runs joined by . _ -
        ns = self.containerd_namespace
        cmd = [
            self.dockerd,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--host={self.base_url}",
            f"--containerd-namespace={ns}",
            f"--containerd-plugins-namespace={ns}-plugins",
            # our containers' cgroups live under /<ns>, so a crashed daemon's
            # orphaned container processes can be found and killed
            f"--cgroup-parent=/{ns}",
            # bound the daemon's own shutdown wait (default 15 s); containers'
            # per-container stop timeout still applies (run_busy uses SIGKILL)
            "--shutdown-timeout=2",
        ]
        if self.storage_driver:
            cmd.append(f"--storage-driver={self.storage_driver}")
        return cmd + self.extra_args

    def start(self) -> DockerEngine:
        if self.running:
            return self
        t0 = time.monotonic()
        self.proc = process.spawn_logged(self._command(), self.log_path)
        LIVE.add(self)
        deadline = time.monotonic() + self.start_timeout
        last = "socket not created"
        while True:
            if self.proc.poll() is not None:
                last = f"dockerd exited with code {self.proc.returncode}"
                break
            if self.socket.exists():
                try:
                    if self.client.ping():
                        self.startup_seconds = time.monotonic() - t0
                        return self
                except Exception as e:  # requests/docker errors while starting
                    last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                last = f"not answering after {self.start_timeout:.0f}s ({last})"
                break
            time.sleep(0.1)
        tail = self.log_tail()
        self.kill()
        raise ServerStartError(f"dockerd on {self.base_url}: {last}\n--- tail of {self.log_path} ---\n{tail}")

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None

    def remove_all_containers(self) -> None:
        if not self.running:
            return
        try:
            for c in self.client.containers.list(all=True):
                try:
                    c.remove(force=True)
                except Exception:
                    pass
        except Exception:
            pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the daemon and wait (containers keep their state on disk)."""
        self._drop_client()
        if self.proc is None:
            return
        # SIGTERM to dockerd alone: it stops its containerd itself, in order
        process.terminate(self.proc, timeout)
        self.proc = None
        LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL dockerd, its containerd, and any shim left for our dirs."""
        self._drop_client()
        if self.proc is not None:
            process.kill(self.proc)
        self.proc = None
        LIVE.discard(self)
        self._kill_strays()
        wait_reaped(self.exec_root / "containerd" / "containerd.pid")

    def _cgroup_dirs(self) -> list[Path]:
        """Our cgroup dirs in every hierarchy, deepest first."""
        found: list[Path] = []
        base = Path("/sys/fs/cgroup")
        tops = [base / self.containerd_namespace]
        if base.is_dir():
            tops += [h / self.containerd_namespace for h in base.iterdir() if h.is_dir()]
        for top in tops:
            if top.is_dir():
                found += [Path(d) for d, _, _ in os.walk(top)]
        return sorted(set(found), key=lambda p: len(p.parts), reverse=True)

    def _kill_strays(self) -> None:
        """After a crash: kill shims and container processes, drop cgroups."""
        # containerd-shim daemonizes out of our process group; its command
        # line names our exec root, which is unique to this engine.
        pids = set(process.pids_mentioning(str(self.root) + "/"))
        cgroups = self._cgroup_dirs()
        for d in cgroups:
            try:
                pids.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5
        for d in cgroups:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until its killed processes are gone
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)

    def close(self) -> None:
        """Remove containers, stop the daemon, unmount leftovers, rm dirs."""
        # each step runs even when an earlier one failed: dockerd bind-mounts
        # its data root (also after a failed start) and rm cannot pass a mount
        try:
            self.remove_all_containers()
            self.stop()
        finally:
            try:
                self._kill_strays()
            finally:
                try:
                    umount = shutil.which("umount") or shutil.which("umount", path="/usr/bin:/bin:" + SBIN)
                    for mnt in sorted(mounts_under(self.root), key=len, reverse=True):
                        if umount:
                            subprocess.run([umount, "-l", mnt], capture_output=True)
                finally:
                    remove_dir(self.root)

    def busybox_image(self, tag: str = BUSYBOX_IMAGE) -> str:
        """Import a scratch image holding static busybox (once); returns tag.

        Layout: /bin/busybox plus symlinks sh, sleep, yes, cat.
        """
        if self.client.images.list(name=tag):
            return tag
        busybox = find_binary("busybox")
        if not is_static_elf(busybox):
            raise ServerUnavailableError(f"{busybox} is dynamically linked; install busybox-static")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            d = tarfile.TarInfo("bin")
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(d)
            tar.add(busybox, arcname="bin/busybox")
            for applet in ("sh", "sleep", "yes", "cat"):
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        repository, _, version = tag.partition(":")
        self.client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=version or "latest")
        if not self.client.images.list(name=tag):
            raise RuntimeError(f"image {tag} missing after import\n{self.log_tail()}")
        return tag

    def run_busy(
        self,
        name: str | None = None,
        command: str = "yes >/dev/null",
        **kwargs: Any,
    ):
        """Start a detached container burning a CPU; returns the Container."""
        image = self.busybox_image()
        kwargs.setdefault("network_mode", "none")
        # sh as PID 1 ignores SIGTERM: without this, every `docker stop` and
        # daemon shutdown waits the 10 s stop timeout per container.
        kwargs.setdefault("stop_signal", "SIGKILL")
        return self.client.containers.run(image, ["/bin/sh", "-c", command], name=name, detach=True, **kwargs)

    def __repr__(self) -> str:
        return f"<DockerEngine {self.base_url} running={self.running}>"
