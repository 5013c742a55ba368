"""python -m bench [--quick] [--only SECTION ...] [--out DIR]

Runs every benchmark in one go and writes DIR/bench.json (every figure) and
DIR/bench.md (the tables and the targets, met or missed and by how much), then prints
bench.md. Sections: scrape (latency, CPU, memory of every exporter beside
node-exporter), health (checker cycle time), freshness (file -> VictoriaMetrics),
docker (refresh with 1/10/30 containers), scale (results files of 10/1,000/10,000
scenarios), runner (what measuring an encode costs, the quality pass per frame), agent
(the per-host exporters in one process against separate ones), tsdb (VictoriaMetrics
and Prometheus scraping everything every second for 5 minutes: jitter, dropped
samples, bytes per sample, scrape duration), websec (one exporter with and without a web
config, TLS + basic auth: scrape latency side by side, 200 concurrent scrapers), vmagent (what
one lab host's vmagent sends; samples per second one VictoriaMetrics ingests from 4 vmagents),
report (`ffwatt report` on 200 scenarios), streams (the streams collector's CPU with 50 ffmpeg process
trees, the agent's memory with it). Every load loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.procs import REPO

SECTIONS = ("scrape", "health", "freshness", "docker", "scale", "runner", "agent", "tsdb", "websec", "fleet",
            "vmagent", "report", "streams")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run(sections: tuple[str, ...], quick: bool, out_dir: Path, command: str) -> dict:
    from bench import (
        agent_tsdb,
        docker_refresh,
        fleet,
        freshness,
        health_cycle,
        lab_fleet,
        report_timing,
        runner_cost,
        scale,
        scrape,
        streams_cost,
        vmagent_ingest,
        websec,
    )

    results: dict = {"meta": {"command": command, "machine": _machine(), "commit": _commit(),
                              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "quick": quick},
                     "skipped": {}, "errors": {}}
    began = time.monotonic()
    engine = None
    with tempfile.TemporaryDirectory(prefix="ffwatt-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        if {"scrape", "docker"} & set(sections):
            why = fleet.docker_available()
            if why is None:
                log("starting a private Docker Engine")
                try:
                    engine = fleet.start_docker_engine()
                    stack.callback(engine.close)
                except Exception as exc:  # the rest of the bench still runs
                    why = f"Docker Engine did not start: {exc}"[:500]
            if why is not None:
                results["skipped"]["docker"] = why

        def section(name: str, fn):
            if name not in sections:
                return
            log(f"== {name}")
            t0 = time.monotonic()
            try:
                results[name] = fn()
            except Exception:
                results["errors"][name] = traceback.format_exc()[-3000:]
                log(results["errors"][name])
            log(f"== {name} done in {time.monotonic() - t0:.0f} s")

        if {"scrape", "health"} & set(sections):
            log("== starting the exporter fleet")
            with fleet.Fleet(work, engine, log=log, gpu_without_nvml=True) as running:
                results["notes"] = dict(running.notes)
                if quick:
                    section("scrape", lambda: scrape.scrape_section(running.targets, idle_seconds=5, paced_count=10,
                                                                    burst_threads=10, burst_per_thread=10, log=log))
                else:
                    section("scrape", lambda: scrape.scrape_section(running.targets, log=log))
                section("health", lambda: health_cycle.health_section(running.targets, work, log=log))
                alive = {n: p.alive for n, p in running.targets.items()}
                if not all(alive.values()):
                    results["errors"]["fleet"] = f"exporter processes died: {alive}"
        section("freshness", lambda: freshness.freshness_section(work, trials=3 if quick else 5, log=log))
        if engine is not None:
            section("docker", lambda: docker_refresh.docker_section(
                engine, counts=(1, 3) if quick else docker_refresh.COUNTS, log=log))
        section("scale", lambda: scale.scale_section(work, cases=(10, 1_000) if quick else scale.CASES, log=log))
        section("runner", lambda: runner_cost.runner_section(work, quick=quick, log=log))
        section("agent", lambda: agent_tsdb.agent_section(work, seconds=15 if quick else 60, log=log))
        section("tsdb", lambda: agent_tsdb.tsdb_section(work, seconds=30 if quick else 300, log=log))
        section("websec", lambda: websec.websec_section(work, paced_count=20 if quick else websec.PACED_COUNT,
                                                        fresh_count=10 if quick else websec.FRESH_COUNT,
                                                        load_seconds=5 if quick else websec.LOAD_SECONDS, log=log))
        section("fleet", lambda: lab_fleet.fleet_section(work, quick, log=log))
        section("vmagent", lambda: vmagent_ingest.vmagent_section(work, seconds=15 if quick else 60,
                                                                  host_seconds=10 if quick else 30, log=log))
        section("report", lambda: report_timing.report_section(work, repeats=3 if quick else 5, log=log))
        section("streams", lambda: streams_cost.streams_section(work, windows=3 if quick else 5,
                                                                seconds=10 if quick else 30, log=log))
    results["meta"]["total_seconds"] = time.monotonic() - began
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short windows and small cases (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run just these sections")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where bench.json and bench.md go")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: judge the targets again and rewrite bench.md from bench.json")
    args = parser.parse_args(argv)
    sections = tuple(args.only or SECTIONS)
    command = "python -m bench" + (" --quick" if args.quick else "") + (
        f" --only {' '.join(args.only)}" if args.only else "")

    from bench.report import evaluate, render_markdown

    if args.render:
        results = json.loads((args.out / "bench.json").read_text())
    else:
        results = run(sections, args.quick, args.out, command)
    targets = evaluate(results)
    results["targets"] = [{"target": t.name, "measured": t.measured, "verdict": t.verdict.strip("*"),
                           "margin": t.margin} for t in targets]
    markdown = render_markdown(results, targets)
    if results["errors"]:
        markdown += "\n## Errors\n\n" + "\n".join(f"- {k}:\n\n```\n{v}\n```" for k, v in results["errors"].items())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (args.out / "bench.md").write_text(markdown + "\n")
    print(markdown)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
