"""`ffwatt scheduler`: Dask's scheduler for the lab, closed by default.

* listens on 127.0.0.1:8786 unless `--host`/`--port` say otherwise; an address beyond loopback
  needs the lab's mutual TLS (`--tls-dir`, ffwatt/runner/execute/fleet/lab_tls.py), else it is
  refused with the fix;
* serves no dashboard unless `--dashboard 127.0.0.1:8787` asks (Dask's dashboard and its
  /metrics and /info pages have no authentication: loopback only, reach it through an SSH
  tunnel); without it the scheduler's HTTP server only answers /health, on a loopback port of its
  choosing;
* runs until SIGINT or SIGTERM, then closes (its workers then lose it and reconnect for a while,
  docs/fleet.md), exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.execute.fleet.lab_tls import check_listen_host, is_loopback, lab_security, tls_files
from ffwatt.runner.settings import SchedulerOptions

__all__ = ["serve"]

log = logging.getLogger("ffwatt.scheduler")

HEALTH_ONLY = ["distributed.http.health"]  # the HTTP routes served without --dashboard


def serve(opts: SchedulerOptions) -> int:
    security = lab_security("scheduler", tls_files("scheduler", opts))
    check_listen_host(opts.host, secure=security is not None, flag="--host")
    if opts.dashboard is not None:
        host = opts.dashboard.rpartition(":")[0].strip("[]")
        if not is_loopback(host):
            raise RunnerError(f"--dashboard {opts.dashboard}: refused: Dask's dashboard has no authentication; serve it "
                              "on loopback (127.0.0.1:8787) and reach it through an SSH tunnel "
                              "(ssh -L 8787:127.0.0.1:8787 SCHEDULER_HOST)")
    asyncio.run(_scheduler(opts, security))
    return 0


async def _scheduler(opts: SchedulerOptions, security) -> None:
    import dask
    from distributed import Scheduler

    routes = {} if opts.dashboard else {"distributed.scheduler.http.routes": HEALTH_ONLY}
    with dask.config.set(routes):
        scheduler = Scheduler(host=opts.host, port=opts.port, security=security,
                              protocol="tls" if security else "tcp", dashboard=opts.dashboard is not None,
                              dashboard_address=opts.dashboard or "127.0.0.1:0")
    try:
        await scheduler
    except OSError as exc:
        raise RunnerError(f"cannot listen on {opts.host}:{opts.port}: {exc}") from None
    log.info("scheduler at %s (%s)%s", scheduler.address, "mutual TLS" if security else "loopback, no TLS",
             f", dashboard at http://{opts.dashboard}/status" if opts.dashboard else "")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    closed = asyncio.ensure_future(scheduler.finished())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([closed, stopping], return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        log.info("scheduler: stopping (signal)")
    await scheduler.close()
    stopping.cancel()
