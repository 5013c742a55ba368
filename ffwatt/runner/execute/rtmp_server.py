"""A private nginx with the RTMP module on loopback: the live mode's RTMP server.

`RtmpServer(work_dir)` writes its own `nginx.conf` into `work_dir` (a temp dir of its own,
removed by `close()`, when None) and runs
`nginx -p work_dir -c nginx.conf -e error.log` in the foreground (`daemon off;`), in
its own session, with every path nginx writes (pid file, error and access logs, the
HTTP temp dirs) inside `work_dir`, so it needs no privileges and touches nothing
outside. It listens on 127.0.0.1 only:

* RTMP on `rtmp_url` (`rtmp://127.0.0.1:PORT/live`): application `live` with
  `live on;`; with `record_dir` set, every published stream is also recorded to
  `record_dir/<stream>.flv` (`record all; record_unique off;`), so a caller can score
  what the server received;
* HTTP on `stat_url` (`http://127.0.0.1:PORT/stat`): `rtmp_stat all;`, the XML the
  `rtmp` exporter reads.

One worker process: nginx-rtmp's live streams and its `/stat` are per worker, so with
several workers a player could miss a publisher and `/stat` would show a fraction.

Ports are picked free at the first `start()` (the kernel's choice for port 0) and kept
across restarts; a picked port taken by someone else in between is replaced by another
(three tries); a port the caller fixed that is taken is an `RtmpServerError`.
`start()` waits, bounded, until `/stat` answers; any failure raises `RtmpServerError` (a
`ServerStartError`) with the tail of nginx's error log. `stop()` sends SIGTERM to nginx's master (its own
PID, never a name), waits, then SIGKILLs its process group.

nginx or its RTMP module missing is an `RtmpUnavailableError` (an `RtmpServerError` and a
`ServerUnavailableError`) naming the Debian packages
(`nginx libnginx-mod-rtmp`). The module is loaded with `load_module` from the first of
a few known paths, unless nginx was built with it (`nginx -V` lists an rtmp
`--add-module`).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ffwatt.common import process
from ffwatt.common.server import LIVE, SBIN, LoggedProcess, ServerStartError, ServerUnavailableError

log = logging.getLogger("ffwatt.rtmp_server")

PACKAGES = "nginx libnginx-mod-rtmp"
APPLICATION = "live"
MODULE_FILE = "ngx_rtmp_module.so"
# Where distributions put nginx's dynamic modules (Debian/Ubuntu first).
MODULE_DIRS = (
    "/usr/lib/nginx/modules",
    "/usr/lib64/nginx/modules",
    "/usr/share/nginx/modules",
    "/usr/local/lib/nginx/modules",
    "/usr/local/nginx/modules",
    "/etc/nginx/modules",
)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
_PORT_TRIES = 3


class RtmpServerError(ServerStartError):
    """nginx-rtmp could not be found, configured or started; the message says why."""


class RtmpUnavailableError(RtmpServerError, ServerUnavailableError):
    """nginx or its RTMP module is not installed; the message names the packages."""


def find_nginx(nginx: str = "nginx") -> str:
    """Absolute path of the nginx binary (`nginx` may be a name on PATH or a path)."""
    path = shutil.which(nginx) or shutil.which(nginx, path=SBIN)
    if path is None:
        raise RtmpUnavailableError(f"nginx not found (looked for {nginx!r} on PATH and in {SBIN}); "
                              f"install the Debian packages: {PACKAGES}")
    return path


def _built_in_rtmp(nginx_path: str) -> bool:
    """True when `nginx -V` shows the RTMP module compiled in (a static --add-module)."""
    try:
        out = subprocess.run([nginx_path, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    configure = out.stdout + out.stderr
    return any("rtmp" in arg for arg in configure.split() if arg.startswith("--add-module="))


def find_rtmp_module(nginx_path: str, candidates: tuple[str, ...] = MODULE_DIRS) -> Path | None:
    """The RTMP module file to `load_module`, or None when nginx has it built in.

    Raises `RtmpServerError` naming the package when neither is the case.
    """
    for d in candidates:
        p = Path(d) / MODULE_FILE
        if p.is_file():
            return p
    if _built_in_rtmp(nginx_path):
        return None
    raise RtmpUnavailableError(f"nginx RTMP module {MODULE_FILE} not found in {', '.join(candidates)} and not built "
                          f"into {nginx_path}; install the Debian package libnginx-mod-rtmp "
                          f"(with nginx: {PACKAGES})")


def _worker_user() -> str | None:
    """The `user` directive's argument when running as root (workers would otherwise drop to
    `nobody`, who cannot write our work and record dirs); None otherwise (nginx ignores it)."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"{user} {group}"


def render_config(
    work_dir: Path,
    *,
    rtmp_port: int,
    http_port: int,
    module: Path | None,
    record_dir: Path | None = None,
    user: str | None = None,
) -> str:
    """The nginx.conf text (pure). Every path nginx writes lives under `work_dir`."""
    w = Path(work_dir).resolve()
    lines: list[str] = []
    if module is not None:
        lines.append(f"load_module {module};")
    if user:
        lines.append(f"user {user};")
    lines += [
        "daemon off;",  # the caller owns the process: foreground, stopped by its PID
        "master_process on;",
        "worker_processes 1;",  # live streams and /stat are per worker
        f"pid {w / 'nginx.pid'};",
        f"error_log {w / 'error.log'} info;",
        "events { worker_connections 256; }",
        "",
        "rtmp {",
        "    server {",
        f"        listen 127.0.0.1:{rtmp_port};",
        "        chunk_size 4096;",
        f"        application {APPLICATION} {{",
        "            live on;",
    ]
    if record_dir is not None:
        lines += [
            "            record all;",  # audio and video of every published stream
            f"            record_path {Path(record_dir).resolve()};",
            "            record_unique off;",  # <stream>.flv, predictable for the caller
        ]
    lines += [
        "        }",
        "    }",
        "}",
        "",
        "http {",
        f"    access_log {w / 'access.log'};",
        f"    client_body_temp_path {w / 'tmp' / 'body'};",
        f"    proxy_temp_path {w / 'tmp' / 'proxy'};",
        f"    fastcgi_temp_path {w / 'tmp' / 'fastcgi'};",
        f"    uwsgi_temp_path {w / 'tmp' / 'uwsgi'};",
        f"    scgi_temp_path {w / 'tmp' / 'scgi'};",
        "    server {",
        f"        listen 127.0.0.1:{http_port};",
        "        location /stat { rtmp_stat all; }",
        "        location / { return 404; }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def command(nginx_path: str, work_dir: Path) -> list[str]:
    """The argv that runs nginx on `work_dir/nginx.conf` (pure)."""
    w = Path(work_dir).resolve()
    # -p: prefix for relative paths; -e: the error log before the config is read
    # (the built-in default may be unwritable); -c: our config only.
    return [nginx_path, "-p", f"{w}/", "-e", str(w / "error.log"), "-c", str(w / "nginx.conf")]


class RtmpServer(LoggedProcess):
    """A private nginx-rtmp on loopback; see the module docstring.

    `rtmp_port`/`http_port` fix the ports (default: free ones); `module` overrides where
    the RTMP module is loaded from (tests use a wrong path to see the error);
    `start_timeout` bounds `start()`'s wait unless it is given one.
    """

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        record_dir: Path | str | None = None,
        nginx: str = "nginx",
        rtmp_port: int | None = None,
        http_port: int | None = None,
        module: Path | str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        own = work_dir is None
        if work_dir is None:
            work_dir = tempfile.mkdtemp(prefix="ffw-nginx-rtmp-")
        self.work_dir = Path(work_dir).resolve()
        self.own_dir = self.work_dir if own else None  # removed at close
        self.start_timeout = start_timeout
        self.record_dir = Path(record_dir).resolve() if record_dir is not None else None
        self.nginx = nginx
        self._fixed_ports = (rtmp_port is not None, http_port is not None)
        self.rtmp_port = rtmp_port or 0
        self.http_port = http_port or 0
        self._module_override = Path(module) if module is not None else None
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    # ---------------------------------------------------------------- addresses

    @property
    def rtmp_url(self) -> str:
        """`rtmp://127.0.0.1:PORT/live`; a stream publishes to `<rtmp_url>/<name>`."""
        return f"rtmp://127.0.0.1:{self.rtmp_port}/{APPLICATION}"

    @property
    def stat_url(self) -> str:
        """`http://127.0.0.1:PORT/stat`: nginx-rtmp's statistics XML."""
        return f"{self.url}/stat"

    @property
    def url(self) -> str:
        """The HTTP base URL (`/stat` lives under it)."""
        return f"http://127.0.0.1:{self.http_port}"

    def recording(self, stream: str) -> Path:
        """Where the server records `stream` (`record_dir/<stream>.flv`); `RtmpServerError`
        when the server was made without `record_dir`. A new publish of the same name
        overwrites it (`record_unique off;`)."""
        if self.record_dir is None:
            raise RtmpServerError("this nginx-rtmp records nothing: create RtmpServer with record_dir=")
        return self.record_dir / f"{stream}.flv"

    @property
    def pid(self) -> int | None:
        """nginx master's PID while it runs, else None."""
        return self.proc.pid if self.running else None

    @property
    def error_log(self) -> Path:
        return self.work_dir / "error.log"

    @property
    def conf_path(self) -> Path:
        return self.work_dir / "nginx.conf"

    def log_tail(self, nbytes: int = process.LOG_TAIL_BYTES) -> str:
        """The tail of nginx's error log (its stdout/stderr go to `nginx.out` beside it)."""
        err = process.log_tail(self.error_log, nbytes)
        out = process.log_tail(self.work_dir / "nginx.out", 1000)
        return err if not out else f"{err}\n--- nginx.out ---\n{out}"

    # ---------------------------------------------------------------- lifecycle

    def _module(self, nginx_path: str) -> Path | None:
        if self._module_override is None:
            return find_rtmp_module(nginx_path)
        if not self._module_override.is_file():
            raise RtmpUnavailableError(f"nginx RTMP module not found at {self._module_override}; install the Debian "
                                  f"package libnginx-mod-rtmp (with nginx: {PACKAGES})")
        return self._module_override

    def _pick_ports(self, fresh: bool) -> None:
        fixed_rtmp, fixed_http = self._fixed_ports
        for attr, fixed in (("rtmp_port", fixed_rtmp), ("http_port", fixed_http)):
            port = getattr(self, attr)
            if fixed:
                if not process.port_is_free(port):
                    raise RtmpServerError(f"nginx-rtmp: port 127.0.0.1:{port} ({attr.split('_')[0]}) is taken "
                                          "by another process; choose another port or stop that process")
            elif port == 0 or fresh:
                setattr(self, attr, process.free_port())
        if self.rtmp_port == self.http_port:
            raise RtmpServerError(f"nginx-rtmp: RTMP and HTTP ports are both {self.rtmp_port}")

    def start(self, timeout: float | None = None) -> RtmpServer:
        """Write the config, start nginx and wait (at most `timeout` s, default
        `start_timeout`) for `/stat` to answer."""
        if self.running:
            return self
        timeout = self.start_timeout if timeout is None else timeout
        nginx_path = find_nginx(self.nginx)
        module = self._module(nginx_path)
        for d in (self.work_dir, self.work_dir / "tmp", self.record_dir):
            if d is not None:
                d.mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_TRIES):
            self._pick_ports(fresh=attempt > 0)
            self.conf_path.write_text(render_config(self.work_dir, rtmp_port=self.rtmp_port,
                                                    http_port=self.http_port, module=module,
                                                    record_dir=self.record_dir, user=_worker_user()))
            t0 = time.monotonic()
            argv = command(nginx_path, self.work_dir)
            log.info("starting nginx-rtmp (RTMP %s, stat %s): %s", self.rtmp_url, self.stat_url, shlex.join(argv))
            try:
                self.proc = process.spawn_logged(argv, self.work_dir / "nginx.out", cwd=self.work_dir)
            except OSError as exc:
                raise RtmpServerError(f"cannot run {nginx_path}: {exc}") from None
            LIVE.add(self)
            why = self._wait_ready(timeout)
            if why is None:
                self.startup_seconds = time.monotonic() - t0
                log.info("nginx-rtmp pid %d ready in %.2f s", self.proc.pid, self.startup_seconds)
                return self
            tail = self.log_tail()
            self.kill()
            if "Address already in use" in tail:
                if attempt + 1 < _PORT_TRIES and not any(self._fixed_ports):
                    continue  # a picked port went to someone else meanwhile: pick again
                raise RtmpServerError(f"nginx-rtmp: a port is taken (RTMP {self.rtmp_port}, HTTP "
                                      f"{self.http_port}): {why}\n--- tail of {self.error_log} ---\n{tail}")
            raise RtmpServerError(f"nginx-rtmp did not start ({why}); config {self.conf_path}\n"
                                  f"--- tail of {self.error_log} ---\n{tail}")
        raise AssertionError("unreachable")

    def _wait_ready(self, timeout: float) -> str | None:
        """None once `/stat` answers 200 with XML; else why not (exited, timed out)."""
        try:
            process.wait_http(self.stat_url, timeout, check=lambda r: b"<rtmp>" in r.content, proc=self.proc)
        except process.ProcessStartError:
            assert self.proc is not None
            return f"nginx exited with code {self.proc.returncode}"
        except TimeoutError as exc:
            return str(exc)
        return None

    def stat(self) -> str:
        """The `/stat` XML now."""
        answer = process.http_get(self.stat_url, timeout=10)
        if answer.status_code != 200:
            raise RtmpServerError(f"{self.stat_url}: HTTP {answer.status_code}: {answer.text[:200]!r}")
        return answer.text

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to nginx's master, wait up to `timeout` s, then SIGKILL its group."""
        proc, self.proc = self.proc, None
        LIVE.discard(self)
        if proc is not None:
            process.terminate(proc, timeout)

    def kill(self) -> None:
        """SIGKILL nginx's process group: a crash, for fault tests."""
        proc, self.proc = self.proc, None
        LIVE.discard(self)
        if proc is not None:
            process.kill(proc)

    def restart(self) -> RtmpServer:
        """Stop, then start again on the same ports."""
        self.stop()
        return self.start()

    def __repr__(self) -> str:
        return f"<RtmpServer {self.rtmp_url} stat={self.stat_url} running={self.running}>"
