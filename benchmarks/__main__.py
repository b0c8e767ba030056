"""
``python -m benchmarks``: run the benchmarks, print the table, write the JSON results.

    python -m benchmarks                       # full size, 20 ms latency (what `make bench` runs)
    python -m benchmarks --size tiny           # seconds: what the test suite smoke-runs
    python -m benchmarks --scale 0.1 --only send,upsert
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    DEFAULT_LATENCY,
    FULL,
    ROOT,
    TINY,
    Settings,
    machine,
    prepare_environment,
    print_table,
    temporary_workdir,
)

#: Run order: the cheap, process-isolated ones first; the long upsert (its naive baseline) last.
BENCHMARKS = ("parse", "iter_contacts", "triggers", "watchers", "send", "upsert")
#: Benchmarks that are a function of another module (``module:function``); the others are ``<name>:run``.
ENTRY_POINTS = {"watchers": "triggers:run_watchers"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("full", "tiny"), default="full", help="workload size (default full)")
    parser.add_argument("--scale", type=float, help="multiply the full-size counts by this factor instead")
    parser.add_argument(
        "--latency", type=float, default=DEFAULT_LATENCY, help="seconds the simulator adds per request (0.02)"
    )
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results.json", help="where to write the JSON results"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    selected = BENCHMARKS
    if args.only:
        selected = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = sorted(set(selected) - set(BENCHMARKS))
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    sizes = FULL.scaled(args.scale) if args.scale else (TINY if args.size == "tiny" else FULL)
    workdir = temporary_workdir()
    prepare_environment(workdir)
    settings = Settings(sizes=sizes, latency=args.latency, workdir=workdir)
    size_name = f"scale {args.scale}" if args.scale else args.size
    print(f"WapiFlow provider benchmarks: size {size_name}, latency {args.latency * 1000:g} ms, "
          f"concurrency {settings.concurrency}", flush=True)  # fmt: skip

    started = time.perf_counter()
    results: dict[str, Any] = {
        "size": size_name,
        "latency_ms": args.latency * 1000,
        "concurrency": settings.concurrency,
        "simulator": "own process; answers each request `latency` after it arrived, processing included",
        "command": " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "sizes": sizes.__dict__,
    }
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        for name in BENCHMARKS:
            if name not in selected:
                continue
            print(f"running {name}...", flush=True)
            module_name, _, function = ENTRY_POINTS.get(name, f"{name}:run").partition(":")
            module = importlib.import_module(f"benchmarks.{module_name}")
            began = time.perf_counter()
            outcome = getattr(module, function)(settings)
            results.update(outcome.results)
            results[f"{name}_benchmark_seconds"] = round(time.perf_counter() - began, 1)
            rows.extend((name, *row) for row in outcome.rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    print()
    print_table(rows)
    print(f"\ntotal {results['total_seconds']} s; results in {args.output}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
