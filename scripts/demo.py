"""`make demo`: the exporters on the sample results, scraped by a local VictoriaMetrics,
every dashboard panel checked for data; then keeps running until interrupted.

    python -m scripts.demo            # run until Ctrl-C
    python -m scripts.demo --once     # check and exit (status 1 if a panel has no data)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from scripts.stack import ROOT, LocalStack, TargetResult


def check_until_complete(stack: LocalStack, tsdb, timeout: float) -> list[TargetResult]:
    """Re-check until every panel has data or the timeout passes (new series take a scrape
    or two to appear)."""
    deadline = time.monotonic() + timeout
    while True:
        results = stack.check_panels(tsdb)
        if all(r.has_data for r in results) or time.monotonic() > deadline:
            return results
        time.sleep(2)


def report(results: list[TargetResult], tsdb_name: str) -> str:
    panels: dict[tuple[str, str], bool] = {}
    for r in results:
        key = (r.dashboard, r.panel)
        panels[key] = panels.get(key, True) and r.has_data
    by_dashboard: dict[str, list[bool]] = defaultdict(list)
    for (dashboard, _), ok in panels.items():
        by_dashboard[dashboard].append(ok)
    lines = [f"Panels with data on {tsdb_name}:", "",
             f"{'dashboard':<20} {'panels':>6} {'with data':>10} {'without':>8}"]
    for dashboard, oks in sorted(by_dashboard.items()):
        lines.append(f"{dashboard:<20} {len(oks):>6} {sum(oks):>10} {len(oks) - sum(oks):>8}")
    total = list(panels.values())
    lines.append(f"{'total':<20} {len(total):>6} {sum(total):>10} {len(total) - sum(total):>8}")
    missing = [r for r in results if not r.has_data]
    if missing:
        lines += ["", "Targets without data:"]
        lines += [f"  {r.dashboard} / {r.panel} [{r.ref_id}]: {r.error or 'empty result'}\n      {r.expr}"
                  for r in missing]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="check the panels, print the table and exit")
    parser.add_argument("--results-dir", default=str(ROOT / "test_results"), help="results files to serve")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for every panel to have data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    (ROOT / ".demo").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=ROOT / ".demo"))
    print("Starting ffwatt: 8 exporters and VictoriaMetrics on 127.0.0.1 ...", flush=True)
    with LocalStack(workdir, results_dir=Path(args.results_dir)) as stack:
        print("\nExporters and what they read here:")
        for name, rt in stack.exporters.items():
            print(f"  {name:<8} http://127.0.0.1:{rt.port}/metrics  {stack.sources.get(name, '')}")
        print(f"  VictoriaMetrics {stack.vm.url} (scrape config: {_rel(workdir / 'scrape.yml')})", flush=True)
        stack.wait_until_scraped()
        results = check_until_complete(stack, stack.vm, args.timeout)
        print()
        print(report(results, "VictoriaMetrics"))
        health = stack.health()
        print("\nExporter /health: " + ", ".join(f"{n} {s}" for n, s in health.items()))
        complete = all(r.has_data for r in results)
        if args.once:
            return 0 if complete else 1
        print(f"""
To see the dashboards in Grafana: `make up` where Docker can pull images (Grafana at
http://localhost:3000, dashboards provisioned from provisioning/), or point a Grafana
of yours at {stack.vm.url} as a Prometheus datasource with uid "victoriametrics" and
import provisioning/dashboards/*.json.

Query it yourself meanwhile, e.g.:
  curl -s '{stack.vm.url}/api/v1/query?query=ffwatt_cost_scenario_overall_cost'

Running until interrupted (Ctrl-C).""", flush=True)
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        try:
            while not stop:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print("\nStopping.")
    return 0


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
